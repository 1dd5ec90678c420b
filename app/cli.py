"""``switchboard``: the workstation, and a scriptable command line over its sync engine.

    switchboard                           the workstation window (sign in, or the saved session)
    switchboard demo [--headless]         embedded server with demo data, the desk signed in as Ada
    switchboard login EMAIL [--server URL] (password prompted, or read from stdin)
    switchboard logout [--forget-cache]
    switchboard sync status
    switchboard tickets list [--status S] [--mine] [--limit N]
    switchboard ticket show NUMBER
    switchboard reply NUMBER TEXT [--note]   (works offline: queued until the server is back)
    switchboard call incoming --from NUMBER [--to LINE]   (a softphone's ring: app/desk_link.py)
    switchboard switchboard://call/incoming?from=…        (the same, as the OS hands a link over)

This module is the composition root: it builds the engine and, for ``demo``, the server.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import getpass
import json
import logging
import os
import sys
import threading
from collections.abc import AsyncIterator, Sequence
from pathlib import Path
from typing import Any

from websockets.exceptions import InvalidHandshake

from app.sync import credentials, queries
from app.sync.engine import RequestFailed, SyncEngine, end_session_on_server
from app.sync.observer import ConnectionState, ConnectionStatus, SyncObserver
from app.sync.profile import (
    DEFAULT_SERVER,
    Profile,
    cache_path,
    data_dir,
    tls_context,
)

log = logging.getLogger("switchboard")
CONNECT_WAIT_S = 8.0
DEMO_EMAIL = "ada@example.com"
DEMO_PASSWORD = "demo"  # noqa: S105 (the published demo password; see app/server/demo/staff.py)


def _token_for(profile: Profile) -> str | None:
    # SWITCHBOARD_TOKEN lets scripts and headless boxes without a keychain pass a session in
    # the environment, never on disk.
    return os.environ.get("SWITCHBOARD_TOKEN") or credentials.load_token(
        profile.server, profile.email
    )


class _FirstOutcome(SyncObserver):
    """Set once connecting has an answer worth showing: online, or a state the engine does
    not leave by itself (signed out, incompatible) — no point waiting out CONNECT_WAIT_S."""

    def __init__(self) -> None:
        self.reached = asyncio.Event()

    def connection_changed(self, status: ConnectionStatus) -> None:
        if status.state in (
            ConnectionState.ONLINE,
            ConnectionState.SIGNED_OUT,
            ConnectionState.INCOMPATIBLE,
        ):
            self.reached.set()


@contextlib.asynccontextmanager
async def _engine(profile: Profile, *, connect: bool = True) -> AsyncIterator[SyncEngine]:
    outcome = _FirstOutcome()
    engine = SyncEngine(
        cache_path(profile.server, profile.email),
        profile.server,
        token=_token_for(profile),
        observer=outcome,
    )
    await engine.open()
    if connect and engine.token:
        engine.start()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(outcome.reached.wait(), CONNECT_WAIT_S)
        if engine.status.state != ConnectionState.ONLINE:
            print(
                f"offline ({engine.status.state.value}: {engine.status.detail or 'no answer'}); "
                "showing the local cache",
                file=sys.stderr,
            )
    try:
        yield engine
    finally:
        await engine.close()


def _require_profile() -> Profile:
    profile = Profile.load()
    if profile is None:
        raise SystemExit("not signed in: run `switchboard login EMAIL --server URL` first")
    return profile


def _read_password(email: str) -> str:
    if sys.stdin.isatty():
        return getpass.getpass(f"Password for {email}: ")
    return sys.stdin.readline().rstrip("\n")


# ---- commands ------------------------------------------------------------------------------


async def cmd_login(args: argparse.Namespace) -> int:
    profile = Profile(args.server, args.email)
    engine = SyncEngine(
        cache_path(profile.server, profile.email),
        profile.server,
    )
    await engine.open()
    try:
        token = await engine.login(args.email, _read_password(args.email))
    except RequestFailed as exc:
        print(f"sign-in refused: {exc}", file=sys.stderr)
        return 1
    except (OSError, InvalidHandshake) as exc:  # refused, TLS not trusted, not a WebSocket
        print(f"cannot reach {profile.server}: {exc}", file=sys.stderr)
        return 1
    finally:
        await engine.close()
    profile.save()
    if credentials.store_token(profile.server, profile.email, token):
        print(f"signed in as {args.email}; the session is kept in the OS keychain")
    else:
        print(
            f"signed in as {args.email}, but this system has no keychain, so the session "
            "cannot be kept: set SWITCHBOARD_TOKEN for scripted use:",
            file=sys.stderr,
        )
        print(token)
    return 0


async def cmd_logout(args: argparse.Namespace) -> int:
    profile = _require_profile()
    token = _token_for(profile)
    ended = token is not None and await end_session_on_server(
        profile.server, token, ssl_context=tls_context(profile.server), timeout=CONNECT_WAIT_S
    )
    credentials.delete_token(profile.server, profile.email)
    if args.forget_cache:
        path = cache_path(profile.server, profile.email)
        for suffix in ("", "-wal", "-shm"):
            await asyncio.to_thread(Path(str(path) + suffix).unlink, missing_ok=True)
    print(f"signed out {profile.email}")
    if token is not None and not ended:
        print(
            f"{profile.server} could not be reached: the session was forgotten here, and ends "
            "on the server when it expires",
            file=sys.stderr,
        )
    return 0


async def cmd_status(args: argparse.Namespace) -> int:
    profile = _require_profile()
    async with _engine(profile) as engine:
        status = await engine.read(queries.sync_status)
        status["connection"] = engine.status.state.value
        status["server"] = profile.server
        status["email"] = profile.email
    print(json.dumps(status, indent=2, default=str))
    return 0


async def cmd_tickets(args: argparse.Namespace) -> int:
    profile = _require_profile()
    async with _engine(profile) as engine:
        mine = engine.agent_id if args.mine else None
        rows = await engine.read(
            lambda c: queries.ticket_list(c, status=args.status, assignee_id=mine, limit=args.limit)
        )
    for t in rows:
        number = f"#{t['number']}" if t["number"] else "(new)"
        print(
            f"{number:>7}  {t['status']:<8} {t['priority']:<7} {t['channel']:<8} "
            f"{(t['customer'] or '-')[:22]:<22}  {t['subject'][:70]}"
        )
    return 0


async def cmd_show(args: argparse.Namespace) -> int:
    profile = _require_profile()
    async with _engine(profile) as engine:
        detail = await engine.read(lambda c: queries.ticket_detail(c, number=args.number))
        if detail is None and engine.status.state == ConnectionState.ONLINE:
            with contextlib.suppress(RequestFailed):
                await engine.fetch_ticket(number=args.number)  # older than the cache window
                detail = await engine.read(lambda c: queries.ticket_detail(c, number=args.number))
    if detail is None:
        print(
            f"ticket #{args.number} is not in the cache and the server has none visible to you",
            file=sys.stderr,
        )
        return 1
    t = detail["ticket"]
    customer = detail["customer"]["name"] if detail["customer"] else "-"
    print(
        f"#{t['number']} {t['subject']}\n  {t['status']} · {t['priority']} · {t['channel']} · "
        f"customer {customer} · version {t['version']}"
    )
    for m in detail["messages"]:
        state = "" if m["delivery_state"] in ("sent", "delivered") else f" [{m['delivery_state']}]"
        print(f"\n--- {m['kind']} by {m['author_type']} at {m['created_at']}{state}\n{m['body']}")
    return 0


async def cmd_reply(args: argparse.Namespace) -> int:
    profile = _require_profile()
    async with _engine(profile) as engine:
        detail = await engine.read(lambda c: queries.ticket_detail(c, number=args.number))
        if detail is None:
            print(f"ticket #{args.number} is not in the cache", file=sys.stderr)
            return 1
        await engine.reply(
            detail["ticket"]["id"],
            args.text,
            kind="note" if args.note else "reply",
            clears_draft=False,
        )
        if engine.status.state == ConnectionState.ONLINE:
            with contextlib.suppress(TimeoutError):
                await engine.wait_drained(CONNECT_WAIT_S)
        waiting = (await engine.read(queries.sync_status))["outbox"]
        rejected = await engine.refusals()
    if rejected:
        last = rejected[-1]
        print(f"refused by the server: {last['message']} ({last['code']})", file=sys.stderr)
        return 2
    print("sent" if waiting == 0 else f"queued ({waiting} change(s) waiting for the server)")
    return 0


class EmbeddedServer:
    """The demo server on a thread of its own, with its own asyncio loop.

    The window's loop stays the workstation's alone: a catch-up the server computes never
    delays a repaint, and the desk behaves as it would against a remote server.
    """

    def __init__(self, port: int) -> None:
        self._port = port
        self._ready = threading.Event()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stop: asyncio.Event | None = None
        self._error: BaseException | None = None
        self.url = ""
        self.seeded = False
        self._thread = threading.Thread(target=self._main, name="demo-server", daemon=True)

    def start(self) -> str:
        self._thread.start()
        self._ready.wait()
        if self._error is not None:
            raise self._error
        return self.url

    def stop(self) -> None:
        """Stop serving and wait for the thread (safe to call twice)."""
        if self._loop is not None and self._stop is not None and self._thread.is_alive():
            with contextlib.suppress(RuntimeError):  # its loop closed meanwhile: it is over
                self._loop.call_soon_threadsafe(self._stop.set)
        if self._thread.is_alive():
            self._thread.join(15)

    def _main(self) -> None:
        try:
            asyncio.run(self._serve())
        except BaseException as exc:  # reported to start(); the thread must not die silently
            self._error = exc
            self._ready.set()

    async def _serve(self) -> None:
        # Imported here: only the demo runs a server inside the workstation's process.
        from app.server.app import SwitchboardServer
        from app.server.cli import seed_demo_if_empty
        from app.server.store import open_store

        store = await asyncio.to_thread(
            open_store, f"sqlite:///{data_dir() / 'demo' / 'server.db'}"
        )
        self.seeded = await asyncio.to_thread(seed_demo_if_empty, store)
        server = SwitchboardServer(store)
        try:
            await server.start("127.0.0.1", self._port)
        except OSError:
            await server.start("127.0.0.1", 0)  # the usual port is taken: any free one will do
        self.url = server.url
        self._loop = asyncio.get_running_loop()
        self._stop = asyncio.Event()
        self._ready.set()
        try:
            await self._stop.wait()
        finally:
            await server.stop()
            store.dispose()


SEEDED_TEXT = (
    "seeded the demo: agents ada, lin (agents), sam (supervisor), admin — "
    "all @example.com with password 'demo'"
)


async def cmd_demo(args: argparse.Namespace) -> int:
    """Without a display (``--headless``, ``--once``): serve and print; else open the desk."""
    server = EmbeddedServer(args.port)
    await asyncio.to_thread(server.start)
    if server.seeded:
        print(SEEDED_TEXT)
    print(f"listening on {server.url}")
    try:
        return await _demo_in_terminal(server.url, once=args.once)
    finally:
        await asyncio.to_thread(server.stop)


def run_demo_desk(port: int) -> int:
    """``switchboard demo``: the embedded server and the window, signed in as Ada."""
    from app.ui.main import run_workstation

    server = EmbeddedServer(port)
    server.start()
    if server.seeded:
        print(SEEDED_TEXT)
    print(f"listening on {server.url}; opening the desk signed in as {DEMO_EMAIL}")
    try:
        return run_workstation(
            server=server.url,
            email=DEMO_EMAIL,
            password=DEMO_PASSWORD,
            cache=data_dir() / "demo" / "ada.cache.db",
        )
    finally:
        server.stop()


async def _demo_in_terminal(url: str, *, once: bool) -> int:
    engine = SyncEngine(data_dir() / "demo" / "ada.cache.db", url)
    await engine.open()
    try:
        await engine.login(DEMO_EMAIL, DEMO_PASSWORD)
        engine.start()
        await engine.wait_online(30)
        status = await engine.read(queries.sync_status)
        print(
            f"signed in as {DEMO_EMAIL}: {status['tickets']} tickets and "
            f"{status['messages']} messages in the local cache"
        )
        for t in await engine.read(
            lambda c: queries.ticket_list(c, assignee_id=engine.agent_id, status="open", limit=5)
        ):
            print(f"  #{t['number']:<5} {t['subject'][:70]}")
        print(
            "The desk opens with `switchboard demo` (no --headless); or, in another "
            f"terminal:\n  switchboard login {DEMO_EMAIL} --server {url}   "
            f"(password: {DEMO_PASSWORD})\n  switchboard tickets list --mine\n"
            "Ctrl+C stops the demo."
        )
        if once:
            return 0
        await asyncio.Event().wait()
    finally:
        await engine.close()
    return 0


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="switchboard", description=__doc__.split("\n")[0])
    parser.add_argument("--server", help="override the server of the saved profile")
    parser.add_argument("--email", help="override the account of the saved profile")
    parser.add_argument("--log-level", default="WARNING")
    sub = parser.add_subparsers(dest="command")

    demo = sub.add_parser("demo", help="run the embedded demo server and sign in as Ada")
    demo.add_argument("--port", type=int, default=8765)
    demo.add_argument("--once", action="store_true", help="sync, print a summary and exit")
    demo.add_argument(
        "--headless", action="store_true", help="no window: serve and print how to connect"
    )

    login = sub.add_parser("login", help="sign in and keep the session in the OS keychain")
    login.add_argument("email")
    login.add_argument("--server", dest="server", default=DEFAULT_SERVER)

    logout = sub.add_parser("logout", help="sign out")
    logout.add_argument(
        "--forget-cache", action="store_true", help="also delete the local cache of this account"
    )

    sync = sub.add_parser("sync", help="sync state")
    sync.add_argument("what", choices=["status"])

    tickets = sub.add_parser("tickets", help="ticket lists")
    tickets.add_argument("what", choices=["list"])
    tickets.add_argument("--status")
    tickets.add_argument("--mine", action="store_true")
    tickets.add_argument("--limit", type=int, default=50)

    show = sub.add_parser("ticket", help="one ticket")
    show.add_argument("what", choices=["show"])
    show.add_argument("number", type=int)

    reply = sub.add_parser("reply", help="reply to a ticket (queued while offline)")
    reply.add_argument("number", type=int)
    reply.add_argument("text")
    reply.add_argument("--note", action="store_true", help="an internal note, not a reply")
    return parser


COMMANDS: dict[str, Any] = {
    "demo": cmd_demo,
    "login": cmd_login,
    "logout": cmd_logout,
    "sync": cmd_status,
    "tickets": cmd_tickets,
    "ticket": cmd_show,
    "reply": cmd_reply,
}


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    logging.basicConfig(
        level=args.log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    if args.command is None:
        from app.ui.main import run_workstation

        return run_workstation(server=args.server, email=args.email)
    if args.command == "demo" and not (args.once or args.headless):
        return run_demo_desk(args.port)
    if args.command != "login" and (args.server or args.email):
        saved = Profile.load()
        server = args.server or (saved.server if saved else DEFAULT_SERVER)
        email = args.email or (saved.email if saved else "")
        if not email:
            raise SystemExit("--email is needed with --server when no profile is saved")
        Profile(server, email).save()
    try:
        return int(asyncio.run(COMMANDS[args.command](args)))
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    raise SystemExit(main())
