"""How a phone system's ring is read before it reaches the desk: strictly (app/desk_link.py)."""

from __future__ import annotations

import os
import subprocess
import sys
import uuid
from pathlib import Path

import pytest

from app import desk_link
from app.desk_link import BadCallEvent, IncomingCall, parse_request, parse_url


@pytest.mark.parametrize(
    ("url", "caller", "line"),
    [
        ("switchboard://call/incoming?from=%2B442079460018", "+442079460018", ""),
        (
            "switchboard://call/incoming?from=+442079460018&to=+442079460000",
            "+442079460018",
            "+442079460000",
        ),  # a "+" pasted as is is the country-code sign, not a space
        ("SWITCHBOARD://call/incoming/?from=(415)%20555-0132", "(415) 555-0132", ""),
        ("switchboard://call/incoming?from=tel:%2B44-20-7946-0018", "tel:+44-20-7946-0018", ""),
    ],
)
def test_a_call_link_is_read(url: str, caller: str, line: str) -> None:
    assert parse_url(url) == IncomingCall(caller, line)


@pytest.mark.parametrize(
    ("url", "why"),
    [
        ("https://call/incoming?from=%2B442079460018", "only switchboard://"),
        ("switchboard://call/hangup?from=1234", "unknown switchboard:// link"),
        ("switchboard://ada:pw@call/incoming?from=1234", "no user"),
        ("switchboard://call:99/incoming?from=1234", "no user, password or port"),
        ("switchboard://call/incoming?from=1234#x", "fragment"),
        ("switchboard://call/incoming?to=1234", "who is calling"),
        ("switchboard://call/incoming?from=1234&from=5678", "twice"),
        ("switchboard://call/incoming?from=1234&line=5", "unknown parameter"),
        ("switchboard://call/incoming?from=%3Cb%3E", "not a phone number"),
        ("switchboard://call/incoming?from=12", "not a phone number"),
        ("switchboard://call/incoming?from=1234&to=x", "our line"),
        ("switchboard://call/incoming?" + "from=1" * 300, "too long"),
    ],
)
def test_anything_else_is_refused_saying_why(url: str, why: str) -> None:
    with pytest.raises(BadCallEvent, match=why):
        parse_url(url)


def test_the_desk_takes_only_call_events_from_its_socket() -> None:
    assert parse_request(b'{"event": "call.incoming", "from": "+44 20 7946 0018", "to": ""}') == (
        IncomingCall("+44 20 7946 0018", "")
    )
    for bad in (
        b"\xff",
        b"[]",
        b'{"event": "desk.quit"}',
        b'{"event": "call.incoming", "from": 442079460018}',
        b'{"event": "call.incoming", "from": "+442079460018", "agent": "x"}',
        b'{"event": "call.incoming", "from": "; rm -rf ~"}',
    ):
        with pytest.raises(BadCallEvent):
            parse_request(bad)


REPO = Path(__file__).resolve().parent.parent


def test_call_commands_and_links_bypass_the_desk_program() -> None:
    assert desk_link.is_call_command(["call", "incoming", "--from", "1234"])
    assert desk_link.is_call_command(["switchboard://call/incoming?from=1234"])
    assert desk_link.is_call_command(["https://example.com"])  # refused there, in words
    assert not desk_link.is_call_command(["demo", "--headless"])
    assert not desk_link.is_call_command([])
    assert desk_link.opens_desk(["switchboard://call/incoming?from=1234"])
    assert not desk_link.opens_desk(["call", "incoming", "--from", "1234"])
    assert not desk_link.opens_desk(["https://example.com"])


def test_a_link_with_no_desk_running_starts_the_desk_but_the_command_does_not(
    tmp_path: Path,
) -> None:
    """The OS runs ``switchboard <link>`` when a link is opened: with no desk, the desk
    starts (here it stops at once, as on a machine without a display); the command form a
    softphone runs on every ring only says that no desk is running."""
    env = {
        k: v
        for k, v in os.environ.items()
        if k not in ("DISPLAY", "WAYLAND_DISPLAY", "QT_QPA_PLATFORM")
    }
    env[desk_link.ENV_NAME] = f"sbd-none-{uuid.uuid4().hex[:8]}"
    env["HOME"] = str(tmp_path)
    env["XDG_CONFIG_HOME"] = str(tmp_path / "config")
    env["XDG_DATA_HOME"] = str(tmp_path / "data")
    run = [sys.executable, "-m", "app.launch"]
    link = subprocess.run(
        [*run, "switchboard://call/incoming?from=+442079460018"],
        capture_output=True,
        text=True,
        timeout=60,
        env=env,
        cwd=REPO,
        check=False,
    )
    assert "not running for this user, starting it" in link.stderr
    assert "needs a desktop session" in link.stderr  # the desk itself got as far as that
    command = subprocess.run(
        [*run, "call", "incoming", "--from", "+442079460018"],
        capture_output=True,
        text=True,
        timeout=60,
        env=env,
        cwd=REPO,
        check=False,
    )
    assert command.returncode == desk_link.EXIT_NO_DESK
    assert "open Switchboard and sign in" in command.stderr
    assert "desktop session" not in command.stderr


@pytest.mark.skipif(sys.platform == "win32", reason="a named pipe, not a folder")
def test_without_a_runtime_folder_the_socket_is_in_a_folder_only_this_user_enters(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Named straight in /tmp, another user could make the socket first and receive every
    ring; so it goes in a 0700 folder of this user's, and a folder open to others is refused."""
    monkeypatch.delenv("XDG_RUNTIME_DIR", raising=False)
    monkeypatch.delenv(desk_link.ENV_NAME, raising=False)
    monkeypatch.setenv("TMPDIR", str(tmp_path))
    name = desk_link.socket_name()
    folder = Path(name).parent
    assert folder == tmp_path / f"switchboard-{os.getuid()}"
    assert folder.stat().st_mode & 0o777 == 0o700
    folder.chmod(0o777)
    with pytest.raises(desk_link.UnsafeFolder, match="open to other users"):
        desk_link.socket_name()
