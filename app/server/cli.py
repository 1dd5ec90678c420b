"""``switchboard-server``: run the central server and manage its accounts.

switchboard-server [--db URL] [--host H] [--port P] [--demo] [--tls-cert F --tls-key F]
switchboard-server init [--db URL] --admin-email E [--admin-name N]   (password from stdin
                                                                      or prompted)
switchboard-server agent add EMAIL --name N [--role R] [--group NAME ...]
switchboard-server agent disable EMAIL
switchboard-server disposition add NAME | list | remove NAME   (the call wrap-up codes)
switchboard-server settings list
switchboard-server settings set NAME VALUE        (e.g. settings set phone-region GB)
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import getpass
import logging
import os
import signal
import ssl
import sys
from collections.abc import Sequence
from typing import Any

from sqlalchemy import Engine, func, select
from sqlalchemy.engine import make_url
from sqlalchemy.exc import OperationalError

from app.domain.mutation import COMMAND_LINE
from app.files import DEFAULT_ATTACHMENT_LIMIT
from app.models.base import new_id
from app.models.enums import Role
from app.models.tables import T_AGENTS, T_GROUPS
from app.server import auth
from app.server.app import SwitchboardServer
from app.server.dispositions import add_disposition_commands, run_disposition_command
from app.server.settings_cli import run_settings, settings_args
from app.server.store import default_db_url, open_store
from app.server.submit import Submission, submit_now

log = logging.getLogger("switchboard.server")


DB_HELP = "SQLAlchemy URL of the store (default: an SQLite file in the platform data directory)"


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="switchboard-server", description=__doc__.split("\n")[0])
    parser.add_argument("--db", default=None, help=DB_HELP)
    parser.add_argument("--log-level", default="INFO")
    # The usage above puts --db after the command too (`init --db URL ...`); SUPPRESS keeps a
    # subcommand from overwriting a --db given before it.
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--db", default=argparse.SUPPRESS, help=DB_HELP)
    common.add_argument("--log-level", default=argparse.SUPPRESS)
    sub = parser.add_subparsers(dest="command")

    serve = sub.add_parser("serve", help="run the server (the default)", parents=[common])
    _serve_args(serve)
    _serve_args(parser)

    init = sub.add_parser(
        "init", help="create or migrate the store and a first admin", parents=[common]
    )
    init.add_argument("--admin-email", required=True)
    init.add_argument("--admin-name", default="Administrator")

    agent = sub.add_parser("agent", help="manage agent accounts")
    agent_sub = agent.add_subparsers(dest="agent_command", required=True)
    add = agent_sub.add_parser(
        "add", help="create an agent (password from stdin or prompted)", parents=[common]
    )
    add.add_argument("email")
    add.add_argument("--name", required=True)
    add.add_argument("--role", choices=[r.value for r in Role], default=Role.AGENT.value)
    add.add_argument("--group", action="append", default=[], help="group name (repeatable)")
    disable = agent_sub.add_parser(
        "disable", help="disable an agent and end their sessions", parents=[common]
    )
    disable.add_argument("email")
    add_disposition_commands(sub, common)
    settings_args(sub, common)
    return parser


def _serve_args(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8765)
    parser.add_argument("--demo", action="store_true", help="seed demo data into an empty store")
    parser.add_argument("--tls-cert", default=None)
    parser.add_argument("--tls-key", default=None)
    parser.add_argument("--window-days", type=int, default=90)
    parser.add_argument(
        "--allow-origin",
        action="append",
        default=[],
        metavar="ORIGIN",
        help="let WebSocket clients with this Origin header connect, e.g. a web page at "
        "https://desk.example.com (repeatable; without it, any Origin is refused)",
    )
    parser.add_argument(
        "--attachment-limit-mb",
        type=float,
        default=DEFAULT_ATTACHMENT_LIMIT / 1e6,
        metavar="MB",
        help="the largest file an agent may attach, in megabytes (default: %(default)g)",
    )


def _read_password(prompt: str) -> str:
    if sys.stdin.isatty():
        first = getpass.getpass(prompt)
        if getpass.getpass("Repeat: ") != first:
            raise SystemExit("passwords do not match")
        return first
    return sys.stdin.readline().rstrip("\n")


def seed_demo_if_empty(engine: Engine) -> bool:
    """Seed the demo into a store with no agents; returns whether it seeded."""
    from app.server.demo import seed_demo

    with engine.begin() as conn:
        if conn.execute(select(func.count()).select_from(T_AGENTS)).scalar():
            return False
        seed_demo(conn, password_hash=auth.hash_password)
    return True


async def serve_forever(args: argparse.Namespace, engine: Engine) -> None:
    ssl_context = None
    if args.tls_cert or args.tls_key:
        if not (args.tls_cert and args.tls_key):
            raise SystemExit("--tls-cert and --tls-key go together")
        ssl_context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        try:
            ssl_context.load_cert_chain(args.tls_cert, args.tls_key)
        except OSError as exc:  # missing, unreadable, not PEM, key and certificate differ
            raise SystemExit(
                f"cannot load the TLS certificate {args.tls_cert} with key {args.tls_key}: {exc}"
            ) from None
    server = SwitchboardServer(
        engine,
        window_days=args.window_days,
        ssl_context=ssl_context,
        allowed_origins=args.allow_origin,
        attachment_limit=int(args.attachment_limit_mb * 1e6),
    )
    try:
        await server.start(args.host, args.port)
    except OSError as exc:  # the port is taken, or the address is not this machine's
        await server.stop()
        reason = os.strerror(exc.errno) if exc.errno else str(exc)
        raise SystemExit(f"cannot listen on {args.host}:{args.port}: {reason}") from None
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        # Windows has no add_signal_handler; Ctrl+C still raises KeyboardInterrupt there.
        with contextlib.suppress(NotImplementedError):
            loop.add_signal_handler(sig, stop.set)
    print(f"listening on {server.url}", flush=True)
    try:
        await stop.wait()
    finally:
        log.info("shutting down")
        await server.stop()


# Account commands go through the one write path as the command line's actor, so they are
# validated and authorized the same way and land in the change log: running servers pick them
# up (and end the sessions of a disabled agent) within a second.
def _apply(engine: Engine, name: str, args: dict[str, object]) -> dict[str, Any]:
    """Submit a mutation as the command line; its ``ack``, or its ``reject`` frame."""
    return submit_now(engine, Submission(COMMAND_LINE, name, dict(args)))


def _find_agent(engine: Engine, email: str) -> str | None:
    with engine.connect() as conn:
        found = conn.execute(
            select(T_AGENTS.c.id).where(T_AGENTS.c.email == email.lower())
        ).scalar()
    return None if found is None else str(found)


def _group_ids(engine: Engine, names: list[str]) -> list[str]:
    out = []
    with engine.connect() as conn:
        for name in names:
            gid = conn.execute(select(T_GROUPS.c.id).where(T_GROUPS.c.name == name)).scalar()
            if gid is None:
                raise SystemExit(f"no group named {name!r}")
            out.append(str(gid))
    return out


def _add_agent(engine: Engine, email: str, name: str, role: str, groups: list[str]) -> None:
    if _find_agent(engine, email):
        print(f"{email} already exists")
        return
    password = _read_password(f"Password for {email}: ")
    agent = {
        "name": name,
        "email": email,
        "role": role,
        "group_ids": _group_ids(engine, groups),
        "password": password,
    }
    answer = _apply(engine, "agent.create", {"agent_id": new_id(), "agent": agent})
    if answer["type"] == "reject":
        # Say which field is wrong ("password: at least 8 characters"), not just "invalid".
        details = answer.get("details")
        reasons = [
            f"{d.get('loc', '').removeprefix('agent.')}: {d.get('msg', '')}"
            for d in (details if isinstance(details, list) else [])
            if isinstance(d, dict)
        ]
        raise SystemExit(f"cannot create {email}: {'; '.join(reasons) or answer['message']}")
    print(f"created {role} {email}")


def _agent_disable(engine: Engine, email: str) -> None:
    agent_id = _find_agent(engine, email)
    if agent_id is None:
        raise SystemExit(f"no agent {email}")
    answer = _apply(engine, "agent.update", {"agent_id": agent_id, "changes": {"active": False}})
    if answer["type"] == "reject":
        raise SystemExit(f"cannot disable {email}: {answer['message']}")
    print(f"disabled {email}; their sessions are ended")


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    logging.basicConfig(
        level=args.log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    url = args.db or default_db_url()
    try:
        engine = open_store(url)
    except OperationalError as exc:  # unreachable, refused, wrong credentials, unwritable
        shown = make_url(url).render_as_string(hide_password=True)
        raise SystemExit(f"cannot open the store at {shown}: {exc.orig or exc}") from None
    try:
        if args.command == "init":
            _add_agent(engine, args.admin_email, args.admin_name, Role.ADMIN.value, [])
        elif args.command == "disposition":
            run_disposition_command(engine, args)
        elif args.command == "settings":
            run_settings(engine, args)
        elif args.command == "agent":
            if args.agent_command == "add":
                _add_agent(engine, args.email, args.name, args.role, args.group)
            else:
                _agent_disable(engine, args.email)
        else:
            if args.demo and seed_demo_if_empty(engine):
                log.info("seeded the demo data")
            asyncio.run(serve_forever(args, engine))
    finally:
        engine.dispose()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
