"""``switchboard-server disposition add NAME | list | remove NAME``: the call wrap-up codes.

The admin keeps the list of dispositions agents pick from when a call ends.  Adding and
removing go through the one write path as the command line's actor (`disposition.add`,
`disposition.remove`), so running servers fan the change out to every desk at once.
"""

from __future__ import annotations

import argparse
from typing import Any

from sqlalchemy import Engine, func, select

from app.domain.mutation import COMMAND_LINE
from app.models.base import new_id
from app.models.tables import T_DISPOSITIONS
from app.server.submit import Submission, submit_now


def add_disposition_commands(sub: Any, common: argparse.ArgumentParser) -> None:
    """The ``disposition`` command and its ``add``, ``list`` and ``remove``."""
    disposition = sub.add_parser("disposition", help="manage the call dispositions (wrap-up)")
    commands = disposition.add_subparsers(dest="disposition_command", required=True)
    add = commands.add_parser("add", help="offer a new disposition", parents=[common])
    add.add_argument("name")
    commands.add_parser("list", help="the dispositions, in wrap-up order", parents=[common])
    remove = commands.add_parser(
        "remove", help="stop offering a disposition (calls keep it)", parents=[common]
    )
    remove.add_argument("name")


def _by_name(engine: Engine, name: str) -> dict[str, Any] | None:
    with engine.connect() as conn:
        row = (
            conn.execute(
                select(T_DISPOSITIONS).where(
                    func.lower(T_DISPOSITIONS.c.name) == " ".join(name.split()).lower()
                )
            )
            .mappings()
            .first()
        )
    return None if row is None else dict(row)


def _submit(engine: Engine, name: str, args: dict[str, object]) -> dict[str, Any]:
    return submit_now(engine, Submission(COMMAND_LINE, name, dict(args)))


def run_disposition_command(engine: Engine, args: argparse.Namespace) -> None:
    """Run ``disposition add|list|remove``; a refusal exits with its reason."""
    if args.disposition_command == "list":
        with engine.connect() as conn:
            rows = conn.execute(
                select(T_DISPOSITIONS.c.name, T_DISPOSITIONS.c.active).order_by(
                    T_DISPOSITIONS.c.position, T_DISPOSITIONS.c.name
                )
            ).all()
        if not any(active for _name, active in rows):
            print("no dispositions: add one with `switchboard-server disposition add NAME`")
        for name, active in rows:
            print(name if active else f"{name}  (removed)")
        return
    if args.disposition_command == "add":
        answer = _submit(engine, "disposition.add", {"disposition_id": new_id(), "name": args.name})
        if answer["type"] == "reject":
            raise SystemExit(f"cannot add “{args.name}”: {answer['message']}")
        print(f"added “{' '.join(args.name.split())}”")
        return
    found = _by_name(engine, args.name)
    if found is None or not found["active"]:
        raise SystemExit(f"no disposition named “{args.name}” is offered")
    answer = _submit(engine, "disposition.remove", {"disposition_id": found["id"]})
    if answer["type"] == "reject":
        raise SystemExit(f"cannot remove “{args.name}”: {answer['message']}")
    print(f"removed “{found['name']}”; calls already logged with it keep it")
