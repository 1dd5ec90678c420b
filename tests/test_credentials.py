"""Where `switchboard login` keeps the session token: the OS keychain, or nowhere on disk."""

from __future__ import annotations

import asyncio
import io
import json
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from app import cli
from app.sync import credentials
from tests.keychains import MemoryKeyring, keyring_backend
from tests.server_process import ServerProcess, run_workstation, server_process, workstation_env
from tests.world import PASSWORD, make_store, running_server


def files_containing(root: Path, secret: str) -> list[Path]:
    """Every file under ``root`` whose bytes contain ``secret`` (SQLite, WAL, JSON alike)."""
    needle = secret.encode()
    return [f for f in root.rglob("*") if f.is_file() and needle in f.read_bytes()]


@pytest.mark.parametrize(
    "backend", ["keyring.backends.fail.Keyring", "keyring.backends.null.Keyring"]
)
def test_without_a_keychain_login_keeps_no_token_on_disk(tmp_path: Path, backend: str) -> None:
    home = tmp_path / "home"
    env = workstation_env(home, PYTHON_KEYRING_BACKEND=backend)

    async def scenario() -> None:
        store = make_store(f"sqlite:///{tmp_path / 'server.db'}")
        async with running_server(store) as server:
            login = await asyncio.to_thread(
                run_workstation,
                ["login", "ada@example.com", "--server", server.url],
                env,
                stdin=PASSWORD + "\n",
            )
            assert login.returncode == 0, login.stderr
            # It says so, and hands the token over once, on stdout, for scripted use.
            assert "no keychain" in login.stderr
            assert "SWITCHBOARD_TOKEN" in login.stderr
            token = login.stdout.strip()
            assert len(token) >= 32
            assert "\n" not in token
            # The printed token is the real session: a script can use it.
            status = await asyncio.to_thread(
                run_workstation, ["sync", "status"], {**env, "SWITCHBOARD_TOKEN": token}
            )
            assert status.returncode == 0, status.stderr
            assert json.loads(status.stdout)["connection"] == "online"
            # Without it, nothing on this machine can sign in again.
            again = await asyncio.to_thread(run_workstation, ["sync", "status"], env)
            assert json.loads(again.stdout)["connection"] != "online"
        store.dispose()
        assert (home / "config").is_dir()  # the profile was saved...
        assert (home / "data").is_dir()  # ...and the cache filled
        assert files_containing(home, token) == []
        assert files_containing(home, "ada@example.com")  # the search does find things

    asyncio.run(scenario())


@pytest.fixture
def memory_keyring() -> Iterator[MemoryKeyring]:
    backend = MemoryKeyring()
    with keyring_backend(backend):
        yield backend


@pytest.fixture
def world_server(tmp_path: Path) -> Iterator[ServerProcess]:
    db = f"sqlite:///{tmp_path / 'server.db'}"
    make_store(db).dispose()
    with server_process(["--db", db, "--port", "0"], tmp_path) as server:
        yield server


def test_with_a_keychain_the_token_lives_there_until_logout(
    tmp_path: Path,
    memory_keyring: MemoryKeyring,
    world_server: ServerProcess,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    home = tmp_path / "home"
    for key, value in workstation_env(home).items():
        if key.startswith("XDG_") or key == "HOME":
            monkeypatch.setenv(key, value)
    monkeypatch.delenv("SWITCHBOARD_TOKEN", raising=False)
    assert credentials.keychain_available()

    monkeypatch.setattr("sys.stdin", io.StringIO(PASSWORD + "\n"))
    assert cli.main(["login", "ada@example.com", "--server", world_server.url]) == 0
    out = capsys.readouterr()
    assert "kept in the OS keychain" in out.out
    [(service, account)] = memory_keyring.entries
    token = memory_keyring.entries[(service, account)]
    assert service == "switchboard"
    assert "ada@example.com" in account
    assert token not in out.out + out.err  # not shown when the keychain keeps it
    assert files_containing(home, token) == []

    # The next command finds the session in the keychain and connects with it.
    assert cli.main(["sync", "status"]) == 0
    assert json.loads(capsys.readouterr().out)["connection"] == "online"

    assert list((home / "data").rglob("*.db"))
    assert cli.main(["logout", "--forget-cache"]) == 0
    out = capsys.readouterr()
    assert "signed out ada@example.com" in out.out
    assert "could not be reached" not in out.err
    assert memory_keyring.entries == {}
    assert [f.name for f in (home / "data").rglob("*") if f.is_file()] == []
    assert cli.main(["sync", "status"]) == 0
    assert json.loads(capsys.readouterr().out)["connection"] == "offline"  # no session here
    # Signing out ends the session on the server too: a copy of the token is worthless.
    monkeypatch.setenv("SWITCHBOARD_TOKEN", token)
    started = time.monotonic()
    assert cli.main(["sync", "status"]) == 0
    # Said at once: a refused session is not a slow network worth waiting out.
    assert time.monotonic() - started < cli.CONNECT_WAIT_S
    out = capsys.readouterr()
    assert json.loads(out.out)["connection"] == "signed_out"
    assert "this session was signed out" in out.err


class PlainTextFileKeyring(MemoryKeyring):
    """Stands for keyrings.alt's PlaintextKeyring: a "keychain" that is a plain file."""

    priority = 0.5  # type: ignore[assignment]


PlainTextFileKeyring.__module__ = "keyrings.alt.file"


def test_a_plain_text_file_backend_is_not_a_keychain() -> None:
    with keyring_backend(PlainTextFileKeyring()):
        assert not credentials.keychain_available()
        assert not credentials.store_token("ws://desk.example", "ada@example.com", "secret")
    with keyring_backend(MemoryKeyring()):
        assert credentials.keychain_available()
