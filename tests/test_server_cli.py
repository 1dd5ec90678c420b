"""`switchboard-server` as an operator runs it: a real process, its output, signals and the
account commands, against an SQLite file under tmp_path."""

from __future__ import annotations

import asyncio
import http.client
import json
import signal
import socket
import time
from pathlib import Path

import pytest
from sqlalchemy import create_engine, func, select
from websockets.asyncio.client import ClientConnection
from websockets.exceptions import ConnectionClosed

from app.models.tables import T_AGENTS, T_LOG
from app.server.store import create_store_engine, schema_is_current
from app.sync import queries
from app.sync.engine import RequestFailed, SyncEngine
from app.sync.observer import ConnectionState
from app.sync.protocol import CloseCode
from tests.server_process import (
    LISTENING,
    health,
    open_synced,
    run_server_command,
    server_process,
    sign_in,
)
from tests.world import PASSWORD, eventually, make_store

NEW_PASSWORD = "a long enough password"


def _seeded(tmp_path: Path) -> str:
    url = f"sqlite:///{tmp_path / 'server.db'}"
    make_store(url).dispose()
    return url


def test_prints_one_listening_line_and_serves_healthz(tmp_path: Path) -> None:
    db = f"sqlite:///{tmp_path / 'fresh' / 'server.db'}"
    with server_process(["--port", "0", "--db", db], tmp_path) as server:
        match = LISTENING.match(f"listening on {server.url}")
        assert match is not None
        assert match["scheme"] == "ws"
        assert match["host"] == "127.0.0.1"
        assert server.port != 0
        status, content_type, body = health(server.url)
        assert status == 200
        assert content_type == "application/json"
        assert body["status"] == "ok"
        assert body["seq"] == 0  # a new, empty store
        assert server.stop(signal.SIGTERM) == 0
        assert server.further_stdout() == []  # the listening line was the only one


def test_healthz_reports_the_change_log_head(tmp_path: Path) -> None:
    db = _seeded(tmp_path)
    added = run_server_command(
        ["--db", db, "agent", "add", "new@example.com", "--name", "New"], stdin=NEW_PASSWORD
    )
    assert added.returncode == 0, added.stderr
    store = create_engine(db)
    with store.connect() as conn:
        head = conn.execute(select(func.max(T_LOG.c.seq))).scalar()
    store.dispose()
    assert head  # agent.create went through the change log
    with server_process(["--port", "0", "--db", db], tmp_path) as server:
        assert health(server.url)[2]["seq"] == head
        assert server.stop() == 0


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
def test_signal_stops_the_server_cleanly_with_a_workstation_connected(
    tmp_path: Path, sig: signal.Signals
) -> None:
    db = _seeded(tmp_path)

    async def scenario() -> None:
        with server_process(["--port", "0", "--db", db], tmp_path) as server:
            engine = SyncEngine(tmp_path / "ada.cache.db", server.url)
            await engine.open()
            await engine.login("ada@example.com", PASSWORD)
            engine.start()
            await engine.wait_online(20)
            started = time.monotonic()
            code = await asyncio.to_thread(server.stop, sig, 10.0)
            took = time.monotonic() - started
            assert code == 0, server.stderr()
            assert took < 5, f"took {took:.1f} s to stop"
            assert "Traceback" not in server.stderr()

            async def noticed() -> bool:
                return engine.status.state != ConnectionState.ONLINE

            await eventually(noticed)
            await engine.close()

    asyncio.run(scenario())


def test_init_creates_the_store_and_a_first_admin_who_can_sign_in(tmp_path: Path) -> None:
    path = tmp_path / "new" / "server.db"
    db = f"sqlite:///{path}"
    # As the usage line has it: `switchboard-server init [--db URL] --admin-email E` (the
    # other tests put --db before the command; both work).
    argv = ["init", "--db", db, "--admin-email", "Boss@Example.com"]
    done = run_server_command(argv, stdin=NEW_PASSWORD + "\n")
    assert done.returncode == 0, done.stderr
    assert "created admin" in done.stdout
    assert path.exists()
    store = create_store_engine(db)
    assert schema_is_current(store)
    with store.connect() as conn:
        agents = conn.execute(select(T_AGENTS.c.email, T_AGENTS.c.role, T_AGENTS.c.active)).all()
    store.dispose()
    assert [tuple(a) for a in agents] == [("boss@example.com", "admin", True)]

    again = run_server_command(argv, stdin=NEW_PASSWORD + "\n")
    assert again.returncode == 0, again.stderr
    assert "already exists" in again.stdout

    async def sign_in_as_boss() -> None:
        with server_process(["--port", "0", "--db", db], tmp_path) as server:
            token = await sign_in(server.url, "boss@example.com", NEW_PASSWORD)
            assert token
            server.stop()

    asyncio.run(sign_in_as_boss())


def test_agent_add_refuses_a_short_password_and_an_unknown_group(tmp_path: Path) -> None:
    db = _seeded(tmp_path)
    short = run_server_command(
        ["--db", db, "agent", "add", "x@example.com", "--name", "X"], stdin="short\n"
    )
    assert short.returncode != 0
    # The operator learns what to change, not just that something was invalid.
    assert "cannot create x@example.com: password:" in short.stderr
    assert "at least 8 characters" in short.stderr
    no_group = run_server_command(
        ["--db", db, "agent", "add", "x@example.com", "--name", "X", "--group", "Nope"],
        stdin=NEW_PASSWORD + "\n",
    )
    assert no_group.returncode != 0
    assert "no group named 'Nope'" in no_group.stderr
    store = create_engine(db)
    with store.connect() as conn:
        count = conn.execute(
            select(func.count()).select_from(T_AGENTS).where(T_AGENTS.c.email == "x@example.com")
        ).scalar()
    store.dispose()
    assert count == 0


async def _closed_with(ws: ClientConnection) -> int | None:
    try:
        async for _ in ws:
            pass  # presence and other live frames until the server closes
    except ConnectionClosed:
        pass
    return ws.close_code


def test_agent_add_then_disable_ends_the_live_session(tmp_path: Path) -> None:
    db = _seeded(tmp_path)

    async def scenario() -> None:
        with server_process(["--port", "0", "--db", db], tmp_path) as server:
            added = await asyncio.to_thread(
                run_server_command,
                ["--db", db, "agent", "add", "Kim@Example.com", "--name", "Kim", "--group", "Care"],
                stdin=NEW_PASSWORD + "\n",
            )
            assert added.returncode == 0, added.stderr
            # The running server knows the new agent at once (same store): Kim works the
            # Care queue like any other member.
            kim = SyncEngine(tmp_path / "kim.cache.db", server.url)
            await kim.open()
            await kim.login("kim@example.com", NEW_PASSWORD)
            kim.start()
            await kim.wait_online(20)
            assert {t["number"] for t in await kim.read(queries.ticket_list)} == {1, 2, 5}

            token = await sign_in(server.url, "kim@example.com", NEW_PASSWORD)
            ws = await open_synced(server.url, token, "kim-device-2")
            closed = asyncio.create_task(_closed_with(ws))

            disabled = await asyncio.to_thread(
                run_server_command, ["--db", db, "agent", "disable", "kim@example.com"]
            )
            assert disabled.returncode == 0, disabled.stderr
            assert "disabled kim@example.com" in disabled.stdout
            # The protocol promises 4001 to a disabled agent's live connections.
            assert await asyncio.wait_for(closed, 10) == CloseCode.SESSION_ENDED
            assert ws.close_reason == "account disabled"

            async def kim_signed_out() -> bool:
                return kim.status.state == ConnectionState.SIGNED_OUT

            await eventually(kim_signed_out)
            with pytest.raises(RequestFailed) as refused:
                await kim.login("kim@example.com", NEW_PASSWORD)
            assert refused.value.code == "agent_disabled"
            await kim.close()
            assert await asyncio.to_thread(server.stop) == 0

    asyncio.run(scenario())


def test_agent_disable_of_an_unknown_email_fails(tmp_path: Path) -> None:
    db = _seeded(tmp_path)
    done = run_server_command(["--db", db, "agent", "disable", "nobody@example.com"])
    assert done.returncode != 0
    assert "no agent nobody@example.com" in done.stderr


def test_demo_seeds_the_demo_accounts_once(tmp_path: Path) -> None:
    db = f"sqlite:///{tmp_path / 'demo.db'}"

    async def scenario() -> None:
        with server_process(["--port", "0", "--db", db, "--demo"], tmp_path) as server:
            for name in ("ada", "lin", "sam", "admin"):
                assert await sign_in(server.url, f"{name}@example.com", "demo")
            assert await asyncio.to_thread(server.stop) == 0

    asyncio.run(scenario())
    store = create_engine(db)
    with store.connect() as conn:
        emails = set(conn.execute(select(T_AGENTS.c.email)).scalars())
    assert {f"{n}@example.com" for n in ("ada", "lin", "sam", "admin")} <= emails
    # A second start with --demo finds the store seeded and leaves it alone.
    with server_process(["--port", "0", "--db", db, "--demo"], tmp_path) as server:
        assert server.stop() == 0
    with store.connect() as conn:
        assert conn.execute(select(func.count()).select_from(T_AGENTS)).scalar() == len(emails)
    store.dispose()


def test_healthz_body_is_json_and_unknown_paths_are_404(tmp_path: Path) -> None:
    db = f"sqlite:///{tmp_path / 'server.db'}"
    with server_process(["--port", "0", "--db", db], tmp_path) as server:
        conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=10)
        conn.request("GET", "/nowhere")
        response = conn.getresponse()
        body = json.loads(response.read())
        conn.close()
        assert response.status == 404
        assert body["code"] == "not_found"
        assert server.stop() == 0


@pytest.mark.parametrize(
    "mistake", ["tls-files-missing", "tls-key-missing", "port-taken", "store-unreachable"]
)
def test_operator_mistakes_are_said_in_plain_words(tmp_path: Path, mistake: str) -> None:
    db = f"sqlite:///{tmp_path / 'server.db'}"
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        argv, expected = {
            "tls-files-missing": (
                ["--db", db, "--port", "0", "--tls-cert", "/nope.pem", "--tls-key", "/nope.key"],
                "cannot load the TLS certificate /nope.pem with key /nope.key",
            ),
            "tls-key-missing": (
                ["--db", db, "--port", "0", "--tls-cert", "/nope.pem"],
                "--tls-cert and --tls-key go together",
            ),
            "port-taken": (
                ["--db", db, "--port", str(taken.getsockname()[1])],
                f"cannot listen on 127.0.0.1:{taken.getsockname()[1]}: Address already in use",
            ),
            "store-unreachable": (
                ["--db", "postgresql+psycopg://switchboard:secret@127.0.0.1:1/desk", "--port", "0"],
                "cannot open the store at postgresql+psycopg://switchboard:***@127.0.0.1:1/desk",
            ),
        }[mistake]
        done = run_server_command(argv, timeout=30)
    assert done.returncode == 1
    assert done.stdout == ""  # no listening line
    assert expected in done.stderr
    assert "Traceback" not in done.stderr
    assert "secret" not in done.stderr
