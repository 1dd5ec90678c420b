"""``switchboard-server settings``: the workspace's settings on the command line.

``settings list`` shows each setting, its value and what it is for; ``settings set NAME
VALUE`` changes one through the one write path (as the command line's actor), so running
servers send it to every workstation at once.
"""

from __future__ import annotations

import argparse
from typing import Any

from sqlalchemy import Engine

from app.domain.mutation import COMMAND_LINE
from app.domain.settings import SPECS, setting
from app.server.submit import Submission, submit_now


def settings_args(sub: Any, common: argparse.ArgumentParser) -> None:
    """Add ``settings list`` and ``settings set`` to the server's command line."""
    settings = sub.add_parser("settings", help="show or change the workspace's settings")
    settings_sub = settings.add_subparsers(dest="settings_command", required=True)
    settings_sub.add_parser("list", help="show every setting and its value", parents=[common])
    change = settings_sub.add_parser(
        "set", help="change a setting (e.g. phone-region GB)", parents=[common]
    )
    change.add_argument("name", help=f"one of: {', '.join(sorted(SPECS))}")
    change.add_argument("value")


def run_settings(engine: Engine, args: argparse.Namespace) -> None:
    if args.settings_command == "list":
        with engine.connect() as conn:
            for name, spec in sorted(SPECS.items()):
                print(f"{name} = {setting(conn, name)}    ({spec.about})")
        return
    answer = submit_now(
        engine,
        Submission(COMMAND_LINE, "setting.set", {"key": args.name, "value": args.value}),
    )
    if answer["type"] == "reject":
        raise SystemExit(f"cannot set {args.name}: {answer['message']}")
    print(f"{args.name} = {answer['result']['value']}")
