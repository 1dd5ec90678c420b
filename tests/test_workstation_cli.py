"""The `switchboard` command line as a script would use it: real processes, a real server,
its own config and data directories, and the session in SWITCHBOARD_TOKEN (no keychain)."""

from __future__ import annotations

import io
import json
import re
import signal
import sqlite3
import subprocess
from collections.abc import Iterator
from pathlib import Path

import keyring
import pytest
from keyring.backends import fail
from sqlalchemy import create_engine, select

from app import cli
from app.models.tables import T_MESSAGES
from tests.server_process import (
    WORKSTATION_SCRIPT,
    ServerProcess,
    run_workstation,
    server_process,
    workstation_env,
)
from tests.world import PASSWORD, make_store


def _seeded(tmp_path: Path) -> str:
    db = f"sqlite:///{tmp_path / 'server.db'}"
    make_store(db).dispose()
    return db


def _signed_in(server: ServerProcess, home: Path) -> dict[str, str]:
    """Log in as Ada; the environment a script then runs the other commands with."""
    env = workstation_env(home)
    login = run_workstation(
        ["login", "ada@example.com", "--server", server.url], env, stdin=PASSWORD + "\n"
    )
    assert login.returncode == 0, login.stderr
    return {**env, "SWITCHBOARD_TOKEN": login.stdout.strip().splitlines()[-1]}


def _bodies_on_server(db: str, ticket_id: str) -> list[str]:
    store = create_engine(db)
    with store.connect() as conn:
        bodies = conn.execute(
            select(T_MESSAGES.c.body).where(T_MESSAGES.c.ticket_id == ticket_id)
        ).scalars()
        found = list(bodies)
    store.dispose()
    return found


def _numbers(listing: str) -> list[str]:
    return sorted(line.split()[0] for line in listing.splitlines())


@pytest.fixture
def no_keychain() -> Iterator[None]:
    """This process's keyring as a headless box has it: none."""
    previous = keyring.get_keyring()
    keyring.set_keyring(fail.Keyring())  # type: ignore[no-untyped-call]
    try:
        yield
    finally:
        keyring.set_keyring(previous)


def test_status_lists_and_ticket_show_against_a_live_server(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    no_keychain: None,
) -> None:
    # In this process (each command costs a second less than a new interpreter); the
    # offline test below runs the same commands as subprocesses.
    db = _seeded(tmp_path)
    for key, value in workstation_env(tmp_path / "home").items():
        if key.startswith("XDG_") or key == "HOME":
            monkeypatch.setenv(key, value)
    monkeypatch.delenv("SWITCHBOARD_TOKEN", raising=False)

    def run(*argv: str) -> tuple[int, str, str]:
        code = cli.main(list(argv))
        out = capsys.readouterr()
        return code, out.out, out.err

    with server_process(["--db", db, "--port", "0"], tmp_path) as server:
        monkeypatch.setattr("sys.stdin", io.StringIO(PASSWORD + "\n"))
        code, out, err = run("login", "ada@example.com", "--server", server.url)
        assert code == 0, err
        monkeypatch.setenv("SWITCHBOARD_TOKEN", out.strip().splitlines()[-1])

        code, out, err = run("sync", "status")
        assert code == 0, err
        state = json.loads(out)
        assert state["connection"] == "online"
        assert state["server"] == server.url
        assert state["email"] == "ada@example.com"
        assert state["agent_id"] == "a-ada"
        assert state["tickets"] == 3  # the Care group's: 1, 2 and 5
        assert state["outbox"] == 0

        code, out, err = run("tickets", "list")
        assert code == 0, err
        assert _numbers(out) == ["#1", "#2", "#5"]
        assert _numbers(run("tickets", "list", "--status", "new")[1]) == ["#2"]
        assert _numbers(run("tickets", "list", "--mine")[1]) == ["#1"]

        code, out, err = run("ticket", "show", "1")
        assert code == 0, err
        assert out.splitlines()[0] == "#1 Ticket 1"
        assert "Help with 1" in out

        code, out, err = run("ticket", "show", "3")  # a Billing ticket
        assert code == 1
        assert "#3 is not in the cache and the server has none visible to you" in err

        code, out, err = run("reply", "2", "We are on it.")
        assert code == 0, err
        assert out.strip() == "sent"
        assert _bodies_on_server(db, "t-2").count("We are on it.") == 1
        assert "We are on it." in run("ticket", "show", "2")[1]
        assert server.stop() == 0


def _cache_file(home: Path) -> Path:
    [cache] = (home / "data").rglob("caches/*.db")
    return cache


def test_reply_offline_is_queued_then_delivered_exactly_once(tmp_path: Path) -> None:
    db = _seeded(tmp_path)
    home = tmp_path / "home"
    with server_process(["--db", db, "--port", "0"], tmp_path) as server:
        env = _signed_in(server, home)
        assert run_workstation(["sync", "status"], env).returncode == 0  # fills the cache
        port = server.port
        assert server.stop() == 0

    offline = run_workstation(["reply", "1", "Typed while the server was down."], env)
    assert offline.returncode == 0, offline.stderr
    assert "offline" in offline.stderr
    assert offline.stdout.strip() == "queued (1 change(s) waiting for the server)"
    with sqlite3.connect(_cache_file(home)) as cache:
        queued = cache.execute(
            "SELECT delivery_state FROM messages WHERE body = 'Typed while the server was down.'"
        ).fetchall()
        outbox = cache.execute("SELECT count(*) FROM outbox").fetchone()
    cache.close()
    assert queued == [("queued",)]
    assert outbox == (1,)
    assert "Typed while the server was down." not in _bodies_on_server(db, "t-1")

    # The server is back on the same address.  Any command that connects sends the outbox
    # (`sync status` may exit before the answer: then it is sent again, under the same id).
    with server_process(["--db", db, "--port", str(port)], tmp_path) as server:
        assert run_workstation(["sync", "status"], env).returncode == 0
        later = run_workstation(["reply", "1", "And one more, online."], env)
        assert later.returncode == 0, later.stderr
        assert later.stdout.strip() == "sent"  # ...and so is everything queued before it
        assert server.stop() == 0

    bodies = _bodies_on_server(db, "t-1")
    assert bodies.count("Typed while the server was down.") == 1
    assert bodies.count("And one more, online.") == 1
    with sqlite3.connect(_cache_file(home)) as cache:
        states = cache.execute(
            "SELECT body, delivery_state FROM messages WHERE author_type = 'agent'"
        ).fetchall()
        left = cache.execute("SELECT count(*) FROM outbox").fetchone()
        rejected = cache.execute("SELECT count(*) FROM refusals").fetchone()
    cache.close()
    assert sorted(states) == [
        ("And one more, online.", "sent"),
        ("Typed while the server was down.", "sent"),
    ]
    assert left == (0,)
    assert rejected == (0,)


DEMO_SUMMARY = re.compile(r"^signed in as ada@example\.com: (\d+) tickets and (\d+) messages")


def test_demo_once_seeds_syncs_and_exits(tmp_path: Path) -> None:
    env = workstation_env(tmp_path / "home")
    first = run_workstation(["demo", "--once", "--port", "0"], env, timeout=120)
    assert first.returncode == 0, first.stderr
    lines = first.stdout.splitlines()
    assert lines[0].startswith("seeded the demo: agents ada, lin")
    assert re.fullmatch(r"listening on ws://127\.0\.0\.1:\d+", lines[1])
    summary = DEMO_SUMMARY.match(lines[2])
    assert summary is not None, first.stdout
    assert int(summary[1]) > 0
    assert int(summary[2]) > 0


@pytest.mark.slow
def test_the_demo_instructions_work_in_another_terminal(tmp_path: Path) -> None:
    env = workstation_env(tmp_path / "home")
    demo = subprocess.Popen(
        [WORKSTATION_SCRIPT, "demo", "--headless", "--port", "0"],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )
    try:
        assert demo.stdout is not None
        printed = []
        for line in demo.stdout:
            printed.append(line.rstrip("\n"))
            if line.startswith("Ctrl+C stops the demo"):
                break
        text = "\n".join(printed)
        login = re.search(r"^  switchboard login (\S+) --server (\S+)", text, re.MULTILINE)
        assert login is not None, text
        other = workstation_env(tmp_path / "other-terminal")
        signed_in = run_workstation(
            ["login", login[1], "--server", login[2]], other, stdin="demo\n"
        )
        assert signed_in.returncode == 0, signed_in.stderr
        token = signed_in.stdout.strip().splitlines()[-1]
        mine = run_workstation(["tickets", "list", "--mine"], {**other, "SWITCHBOARD_TOKEN": token})
        assert mine.returncode == 0, mine.stderr
        assert "offline" not in mine.stderr
        assert mine.stdout.strip()
        demo.send_signal(signal.SIGINT)
        assert demo.wait(15) == 130  # Ctrl+C: the conventional exit code
    finally:
        if demo.poll() is None:
            demo.kill()
            demo.wait()
        for stream in (demo.stdout, demo.stderr):
            if stream is not None:
                stream.close()
