"""How a phone system reaches the desk already running: local IPC, one JSON line each way.

Softphones and PBX clients (MicroSIP, Zoiper, 3CX, a softphone on Asterisk) run a command
or open a URL when a call rings (docs/softphones.md).  Both arrive here:

    switchboard call incoming --from NUMBER [--to LINE]
    switchboard "switchboard://call/incoming?from=%2B442079460018&to=%2B442079460000"

(the second is what the operating system runs when something opens a ``switchboard://``
URL: the installer registers the scheme).  This module parses either, strictly — anything
else is refused with a plain message and nothing is sent — and hands the event to the desk
over a local socket that only this user can open (a Unix-domain socket in the user's
runtime directory; on Windows a named pipe), which the desk serves with a ``QLocalServer``
(`app.ui.phone.desk_link_server`).  The desk answers one line: the screen-pop is under way,
or why not (a number it cannot read).

It imports only the standard library: a softphone runs the command on every ring, so it
must start in a few tens of milliseconds, without Qt or SQLAlchemy.  With no desk running the
command exits with status 3 and says so; a link starts the desk instead (`app.launch`; see
docs/softphones.md for why the two differ).

``SWITCHBOARD_DESK_IPC`` names the socket (tests give each desk its own); by default it is
``switchboard-desk-<user>``.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import socket
import sys
from collections.abc import Sequence
from typing import Any, NamedTuple
from urllib.parse import parse_qsl, urlsplit

# Kept out on purpose, to start fast: dataclasses, tempfile, getpass (each pulls in much
# more); argparse only for the command form.

ENV_NAME = "SWITCHBOARD_DESK_IPC"
# A switchboard:// link opened with no desk running: the desk is started with the link here,
# and pops the call once it is up (app/launch.py, app/ui/main.py).
PENDING_ENV = "SWITCHBOARD_PENDING_LINK"
SCHEME = "switchboard"
MAX_LINE = 4096  # one request or answer; a call event is under 200 bytes
ANSWER_TIMEOUT_S = 5.0
# Caller ids arrive as "+44 20 7946 0018", "(415) 555-0132", "0044…", "tel:+44…": digits
# and the punctuation people and phone systems put between them, nothing else.
_NUMBER = re.compile(r"^(tel:)?\+?[0-9 ()./-]{3,40}$", re.IGNORECASE)
EXIT_OK = 0
EXIT_REFUSED = 2  # malformed input, or the desk refused the number
EXIT_NO_DESK = 3


class BadCallEvent(ValueError):
    """A command line, URL or request that is not a call event; the message says why."""


class NoDesk(OSError):
    """No desk is running for this user (nothing listens on the socket)."""


class UnsafeFolder(OSError):
    """The folder the desk's socket would be in is not this user's alone."""


class IncomingCall(NamedTuple):
    """A call ringing: the caller's number and our line, as the phone system wrote them."""

    caller: str
    line: str = ""

    def to_json(self) -> dict[str, str]:
        return {"event": "call.incoming", "from": self.caller, "to": self.line}


def checked_number(text: str, what: str) -> str:
    """``text`` if it may be a phone number as phone systems write them; else refused."""
    value = text.strip()
    if not _NUMBER.match(value) or sum(ch.isdigit() for ch in value) < 3:
        shown = value if len(value) <= 40 else value[:40] + "…"
        raise BadCallEvent(f"{what} “{shown}” is not a phone number")
    return value


def parse_url(url: str) -> IncomingCall:
    """A ``switchboard://call/incoming?from=…&to=…`` URL; anything else is refused."""
    if len(url) > 1024:
        raise BadCallEvent("the link is too long to be a call")
    try:
        parts = urlsplit(url.strip())
        port = parts.port
    except ValueError as exc:
        raise BadCallEvent(f"the link is not a valid URL ({exc})") from None
    if parts.scheme.lower() != SCHEME:
        raise BadCallEvent(f"only {SCHEME}:// links are understood, not “{parts.scheme}:”")
    if parts.username or parts.password or port is not None:
        raise BadCallEvent("a switchboard:// link has no user, password or port")
    if parts.hostname != "call" or parts.path.rstrip("/") != "/incoming":
        raise BadCallEvent(
            f"unknown switchboard:// link “{parts.netloc}{parts.path}”: "
            "only switchboard://call/incoming is understood"
        )
    if parts.fragment:
        raise BadCallEvent("a switchboard://call/incoming link has no #fragment")
    try:
        # A "+" is a number's country-code sign, never a space: softphones paste caller ids
        # into URLs unencoded ("from=+44…"), and "%2B" means the same.
        query = parts.query.replace("+", "%2B")
        pairs = parse_qsl(query, keep_blank_values=True, strict_parsing=True)
    except ValueError:
        raise BadCallEvent("the link's ?from=…&to=… part is malformed") from None
    fields: dict[str, str] = {}
    for name, value in pairs:
        if name not in ("from", "to"):
            raise BadCallEvent(f"unknown parameter “{name}” (only from and to)")
        if name in fields:
            raise BadCallEvent(f"“{name}” is given twice")
        fields[name] = value
    if "from" not in fields:
        raise BadCallEvent("the link does not say who is calling (from=…)")
    line = fields.get("to", "")
    return IncomingCall(
        checked_number(fields["from"], "the caller's number"),
        checked_number(line, "our line") if line else "",
    )


def parse_request(data: bytes) -> IncomingCall:
    """What the desk accepts on its socket: one call event, as `IncomingCall.to_json`."""
    try:
        frame = json.loads(data.decode("utf-8"))
    except (UnicodeDecodeError, ValueError):
        raise BadCallEvent("not a call event (not JSON)") from None
    if not isinstance(frame, dict) or frame.get("event") != "call.incoming":
        raise BadCallEvent("not a call event")
    if set(frame) - {"event", "from", "to"}:
        raise BadCallEvent("a call event has only from and to")
    caller, line = frame.get("from"), frame.get("to", "")
    if not isinstance(caller, str) or not isinstance(line, str):
        raise BadCallEvent("a call event's from and to are text")
    return IncomingCall(
        checked_number(caller, "the caller's number"),
        checked_number(line, "our line") if line else "",
    )


def socket_name() -> str:
    """The desk's socket: ``SWITCHBOARD_DESK_IPC``, or one per user.

    On Windows a pipe name (``\\\\.\\pipe\\<name>``); elsewhere a full path (in
    ``$XDG_RUNTIME_DIR``, else the temporary directory), which ``QLocalServer`` uses as is.
    """
    name = os.environ.get(ENV_NAME) or f"switchboard-desk-{_user()}"
    if sys.platform == "win32" or os.path.isabs(name):
        return name
    # $XDG_RUNTIME_DIR is the login session's own (mode 0700).  Without it, a folder of our
    # own in the temporary directory: a socket named straight in /tmp could be made first by
    # another user, who would then receive every ring (and the callers' numbers).
    folder = os.environ.get("XDG_RUNTIME_DIR") or _private_folder()
    return os.path.join(folder, name)


def _private_folder() -> str:
    """``<tmp>/switchboard-<uid>``, made with mode 0700 if missing; refused (`UnsafeFolder`) if it
    is not a folder of this user's that only they may enter."""
    base = os.environ.get("TMPDIR") or "/tmp"  # noqa: S108 (a 0700 folder of our own in it)
    uid = os.getuid()
    folder = os.path.join(base, f"switchboard-{uid}")
    with contextlib.suppress(FileExistsError):
        os.mkdir(folder, 0o700)
    info = os.lstat(folder)
    if not os.path.isdir(folder) or os.path.islink(folder) or info.st_uid != uid:
        raise UnsafeFolder(
            f"{folder} is not this user's folder: remove it, then start the desk again"
        )
    if info.st_mode & 0o077:
        raise UnsafeFolder(f"{folder} is open to other users: remove it, then start the desk again")
    return folder


def _user() -> str:
    """This user's name for the socket (the login name, else the numeric user id)."""
    user = os.environ.get("USER") or os.environ.get("USERNAME") or os.environ.get("LOGNAME")
    if not user:
        user = str(os.getuid()) if hasattr(os, "getuid") else "user"
    return re.sub(r"[^A-Za-z0-9_.-]", "_", user)


def send(event: IncomingCall, name: str | None = None) -> dict[str, Any]:
    """Hand ``event`` to the running desk; its answer (``{"ok": …}``).  Raises `NoDesk`."""
    request = json.dumps(event.to_json()).encode() + b"\n"
    target = name or socket_name()
    if sys.platform == "win32":
        return _send_pipe(target, request)
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    sock.settimeout(ANSWER_TIMEOUT_S)
    try:
        try:
            sock.connect(target)
        except (FileNotFoundError, ConnectionRefusedError) as exc:
            raise NoDesk(str(exc)) from None
        sock.sendall(request)
        answer = b""
        while not answer.endswith(b"\n") and len(answer) < MAX_LINE:
            chunk = sock.recv(MAX_LINE)
            if not chunk:
                break
            answer += chunk
    finally:
        sock.close()
    return _answer(answer)


def _send_pipe(name: str, request: bytes) -> dict[str, Any]:
    path = name if name.startswith("\\\\") else f"\\\\.\\pipe\\{name}"
    try:
        pipe = open(path, "r+b", buffering=0)  # noqa: SIM115 — closed below
    except (FileNotFoundError, PermissionError) as exc:
        raise NoDesk(str(exc)) from None
    with pipe:
        pipe.write(request)
        return _answer(pipe.readline(MAX_LINE))


def _answer(data: bytes) -> dict[str, Any]:
    try:
        answer = json.loads(data.decode("utf-8"))
    except (UnicodeDecodeError, ValueError):
        return {"ok": False, "error": "the desk did not answer"}
    return answer if isinstance(answer, dict) else {"ok": False, "error": "unreadable answer"}


def is_call_command(argv: Sequence[str]) -> bool:
    """Whether ``argv`` (without the program) is for this module, not the desk."""
    if list(argv[:2]) == ["call", "incoming"]:
        return True
    # Any link is taken here, so that one of another scheme is refused in plain words.
    return len(argv) == 1 and ("://" in argv[0] or argv[0].lower().startswith(f"{SCHEME}:"))


def opens_desk(argv: Sequence[str]) -> bool:
    """Whether ``argv`` is a ``switchboard://`` link, which starts the desk if none runs.

    The operating system runs the program with the link when something opens it (a click, a
    softphone's "open URL"): with nothing visible otherwise, starting the desk is the useful
    answer.  The command form never does: a softphone runs it on every ring, and a desk
    appearing by itself mid-call would be a surprise.
    """
    return len(argv) == 1 and argv[0].lower().startswith(f"{SCHEME}:")


def main(argv: Sequence[str]) -> int:
    """``switchboard call incoming …`` or ``switchboard switchboard://…``: the exit status."""
    try:
        if len(argv) == 1:
            event = parse_url(argv[0])
        else:
            import argparse

            parser = argparse.ArgumentParser(
                prog="switchboard call incoming",
                description="Pop the caller's record on the running Switchboard desk.",
            )
            parser.add_argument("--from", dest="caller", required=True, metavar="NUMBER")
            parser.add_argument("--to", dest="line", default="", metavar="LINE")
            args = parser.parse_args(list(argv[2:]))
            event = IncomingCall(
                checked_number(args.caller, "the caller's number"),
                checked_number(args.line, "our line") if args.line else "",
            )
        answer = send(event)
    except BadCallEvent as exc:
        print(f"switchboard: {exc}; nothing was done", file=sys.stderr)
        return EXIT_REFUSED
    except NoDesk:
        then = (
            "starting it; the call pops up once you are signed in"
            if opens_desk(argv)
            else "so the call cannot pop up: open Switchboard and sign in"
        )
        print(
            f"switchboard: the Switchboard desk is not running for this user, {then}",
            file=sys.stderr,
        )
        return EXIT_NO_DESK
    except OSError as exc:  # the desk went away mid-answer, or did not answer in time
        print(f"switchboard: the desk did not answer ({exc})", file=sys.stderr)
        return EXIT_NO_DESK
    if not answer.get("ok"):
        print(f"switchboard: {answer.get('error', 'refused')}; nothing was done", file=sys.stderr)
        return EXIT_REFUSED
    print(answer.get("shown", "shown on the desk"))
    return EXIT_OK
