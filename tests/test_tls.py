"""TLS: a throw-away CA (trustme), the server with --tls-cert/--tls-key, a workstation that
trusts the CA and syncs, and workstations that do not, which fail at once with a clear error."""

from __future__ import annotations

import asyncio
import ssl
import time
from dataclasses import dataclass
from pathlib import Path

import pytest
import trustme
from sqlalchemy import create_engine, func, select

from app.models.tables import T_MESSAGES
from app.sync import queries
from app.sync.engine import SyncEngine
from app.sync.observer import ConnectionState
from tests.server_process import health, run_workstation, server_process, workstation_env
from tests.world import PASSWORD, eventually, make_store, running_server

# A refused handshake must be reported within this, not after a connect timeout (15 s).
PROMPT_S = 5.0


@dataclass
class Pki:
    """A throw-away CA and a server certificate it issued, as PEM files."""

    ca_file: Path
    cert_file: Path
    key_file: Path

    def server_context(self) -> ssl.SSLContext:
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(self.cert_file, self.key_file)
        return context

    def client_context(self) -> ssl.SSLContext:
        return ssl.create_default_context(cafile=str(self.ca_file))


def make_pki(folder: Path, *identities: str) -> Pki:
    folder.mkdir(parents=True, exist_ok=True)
    ca = trustme.CA()
    cert = ca.issue_cert(*identities)
    pki = Pki(folder / "ca.pem", folder / "server.pem", folder / "server.key")
    ca.cert_pem.write_to_path(str(pki.ca_file))
    for i, pem in enumerate(cert.cert_chain_pems):
        pem.write_to_path(str(pki.cert_file), append=i > 0)
    cert.private_key_pem.write_to_path(str(pki.key_file))
    return pki


def test_workstation_trusting_the_ca_syncs_with_the_tls_server(tmp_path: Path) -> None:
    pki = make_pki(tmp_path / "pki", "127.0.0.1")
    db = f"sqlite:///{tmp_path / 'server.db'}"
    make_store(db).dispose()
    tls = ["--tls-cert", str(pki.cert_file), "--tls-key", str(pki.key_file)]

    async def scenario() -> str:
        with server_process(["--db", db, "--port", "0", *tls], tmp_path) as server:
            assert server.url.startswith("wss://127.0.0.1:")
            status, _, body = await asyncio.to_thread(health, server.url, pki.client_context())
            assert status == 200
            assert body["status"] == "ok"

            ada = SyncEngine(
                tmp_path / "ada.cache.db", server.url, ssl_context=pki.client_context()
            )
            await ada.open()
            await ada.login("ada@example.com", PASSWORD)
            ada.start()
            await ada.wait_online(20)
            assert {t["number"] for t in await ada.read(queries.ticket_list)} == {1, 2, 5}
            message_id = await ada.reply("t-1", "Sent over TLS.")
            await ada.wait_drained(20)
            assert await ada.refusals() == []
            await ada.close()
            assert await asyncio.to_thread(server.stop) == 0
        return message_id

    message_id = asyncio.run(scenario())
    store = create_engine(db)
    with store.connect() as conn:
        count = conn.execute(
            select(func.count()).select_from(T_MESSAGES).where(T_MESSAGES.c.id == message_id)
        ).scalar()
    store.dispose()
    assert count == 1


@dataclass(frozen=True)
class BadClient:
    """A workstation that must not get through, and what it must say instead."""

    name: str
    scheme: str
    trusts_ca: bool
    expected: str


BAD_CLIENTS = [
    # The system's CAs only: the private CA is unknown.
    BadClient("untrusted-ca", "wss", False, "certificate verify failed"),
    # Trusts the CA, but the certificate names another host.
    BadClient("wrong-host", "wss", True, "certificate verify failed"),
    # Speaks plain WebSocket to a TLS port.
    BadClient("plain-ws", "ws", True, "did not receive a valid HTTP response"),
]


@pytest.mark.parametrize("client", BAD_CLIENTS, ids=lambda c: c.name)
def test_a_client_that_cannot_verify_the_server_fails_fast(
    tmp_path: Path, client: BadClient
) -> None:
    identity = "switchboard.example" if client.name == "wrong-host" else "127.0.0.1"
    pki = make_pki(tmp_path / "pki", identity)

    async def scenario() -> None:
        store = make_store(f"sqlite:///{tmp_path / 'server.db'}")
        async with running_server(store, ssl_context=pki.server_context()) as server:
            url = client.scheme + server.url.removeprefix("wss")
            context = pki.client_context() if client.trusts_ca else ssl.create_default_context()
            engine = SyncEngine(
                tmp_path / "ada.cache.db",
                url,
                token="t" * 43,  # never reaches the server: the handshake fails first
                ssl_context=context if client.scheme == "wss" else None,
            )
            await engine.open()

            started = time.monotonic()
            with pytest.raises(Exception) as refused:  # noqa: PT011 (the type varies by case)
                await asyncio.wait_for(engine.login("ada@example.com", PASSWORD), PROMPT_S)
            assert not isinstance(refused.value, TimeoutError), "sign-in hung"
            assert time.monotonic() - started < PROMPT_S
            assert client.expected in str(refused.value)

            # The background connection reports the same reason instead of hanging in
            # "connecting", and keeps retrying with backoff.
            engine.start()

            async def reported() -> bool:
                status = engine.status
                return status.state == ConnectionState.RECONNECTING and bool(status.detail)

            await eventually(reported, PROMPT_S)
            assert client.expected in engine.status.detail
            await engine.close()
        store.dispose()

    asyncio.run(scenario())


@pytest.mark.parametrize(
    ("scheme", "expected"),
    [("wss", "certificate verify failed"), ("ws", "did not receive a valid HTTP response")],
    ids=["untrusted-ca", "plain-ws"],
)
def test_workstation_command_line_says_why_it_cannot_sign_in(
    tmp_path: Path, scheme: str, expected: str
) -> None:
    pki = make_pki(tmp_path / "pki", "127.0.0.1")

    async def scenario() -> None:
        store = make_store(f"sqlite:///{tmp_path / 'server.db'}")
        async with running_server(store, ssl_context=pki.server_context()) as server:
            url = scheme + server.url.removeprefix("wss")
            done = await asyncio.to_thread(
                run_workstation,
                ["login", "ada@example.com", "--server", url],
                workstation_env(tmp_path / "home"),
                stdin=PASSWORD + "\n",
                timeout=30,
            )
        store.dispose()
        assert "Traceback" not in done.stderr
        assert done.returncode == 1
        assert done.stderr.startswith(f"cannot reach {url}: ")
        assert expected in done.stderr

    asyncio.run(scenario())


def test_workstation_command_line_trusts_a_ca_named_by_ssl_cert_file(tmp_path: Path) -> None:
    pki = make_pki(tmp_path / "pki", "127.0.0.1")

    async def scenario() -> None:
        store = make_store(f"sqlite:///{tmp_path / 'server.db'}")
        async with running_server(store, ssl_context=pki.server_context()) as server:
            env = workstation_env(tmp_path / "home", SSL_CERT_FILE=str(pki.ca_file))
            login = await asyncio.to_thread(
                run_workstation,
                ["login", "ada@example.com", "--server", server.url],
                env,
                stdin=PASSWORD + "\n",
            )
            assert login.returncode == 0, login.stderr
            token = login.stdout.strip().splitlines()[-1]  # no keychain here: printed once
            listed = await asyncio.to_thread(
                run_workstation, ["tickets", "list"], {**env, "SWITCHBOARD_TOKEN": token}
            )
        store.dispose()
        assert listed.returncode == 0, listed.stderr
        assert "offline" not in listed.stderr
        numbers = sorted(line.split()[0] for line in listed.stdout.splitlines())
        assert numbers == ["#1", "#2", "#5"]

    asyncio.run(scenario())
