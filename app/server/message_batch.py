"""``message.add`` for a run of mutations at once: the writer's fast path.

Notes and replies are most of what a support team writes.  A run of consecutive
``message.add`` mutations is checked with two IN queries and written with one executemany per
table, instead of about ten statements per mutation.

Only mutations that will certainly succeed are planned here: the writer hands over only those
the declaration's writers and authorization rule permit (`app.server.submit.forbidden`, the
one write path's own check), and the verdict is the domain's own
(`app.domain.tickets.message_verdict`), the same the one-by-one path gives.  A mutation it
would refuse is declined by `plan`; the writer then writes what was planned and hands that
mutation to the one write path, which refuses it with the details the agent reviews.  Rows,
log entries and results are built by the same helpers, so a replica cannot tell which path a
change took.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, bindparam, insert, select, update

from app.domain import wire
from app.domain.messages import message_added
from app.domain.mutation import Actor, log_row
from app.domain.tickets import (
    REPLY_DEPENDS_ON,
    TICKET,
    fields_changed_by_others,
    message_verdict,
    new_message_row,
    thread_grew,
)
from app.models.enums import MessageKind
from app.models.tables import T_LOG, T_MESSAGES, T_TICKETS
from app.sync import protocol as p

# Statements are built once: building and hashing one per run costs more than running it.
_TICKETS = (
    select(T_TICKETS)
    .where(T_TICKETS.c.id.in_(bindparam("ids", expanding=True)))
    .order_by(T_TICKETS.c.id)
    .with_for_update()  # PostgreSQL: as the generic handler, serialise on the ticket
)
_TAKEN = select(T_MESSAGES.c.id).where(T_MESSAGES.c.id.in_(bindparam("ids", expanding=True)))
_MESSAGES_INSERT = insert(T_MESSAGES)
# Executed with the columns a new message may change (see thread_grew) as parameters: those
# become the SET clause, the rest of the row is left as it is.
_TICKET_UPDATE = update(T_TICKETS).where(T_TICKETS.c.id == bindparam("ticket_key"))
# Seqs come back in the order of the rows given, so each mutation learns its own.
_LOG_INSERT_MANY = insert(T_LOG).returning(T_LOG.c.seq, sort_by_parameter_order=True)
_LOG_INSERT = insert(T_LOG)
_LOG_LAST = select(T_LOG.c.seq).order_by(T_LOG.c.seq.desc()).limit(bindparam("n"))


@dataclass
class PlannedMessage:
    """One planned ``message.add``: its change-log rows (seq set by `write`) and result."""

    log: list[dict[str, Any]]
    result: dict[str, Any]


class MessageRun:
    """Consecutive ``message.add`` mutations planned in memory, then written together.

    Built inside the writer's transaction (which holds the write lock on SQLite and the log
    lock plus the tickets' row locks on PostgreSQL), so the state read here stays true until
    the run is written.
    """

    def __init__(self, conn: Connection, upcoming: list[p.MessageAddArgs]) -> None:
        self._conn = conn
        ticket_ids = sorted({a.message.ticket_id for a in upcoming})
        tickets = conn.execute(_TICKETS, {"ids": ticket_ids}).mappings()
        self._tickets = {r["id"]: dict(r) for r in tickets}
        message_ids = [a.message.id for a in upcoming]
        self._taken: set[str] = set(conn.execute(_TAKEN, {"ids": message_ids}).scalars())
        # Ticket versions planned here, with the device that made each and the fields each
        # changed (for the stale check).
        self._versions: dict[str, list[tuple[int, str, list[str]]]] = {}
        self._messages: list[dict[str, Any]] = []
        self._planned: list[PlannedMessage] = []

    def plan(
        self, actor: Actor, workstation_id: str, args: p.MessageAddArgs, now: datetime
    ) -> PlannedMessage | None:
        """Plan one mutation, or None if the one write path must decide it (a refusal, or a
        message with files: their bytes are checked there, app/domain/attachments.py; or a
        note that may @mention colleagues)."""
        if args.attachments:
            return None
        msg = args.message
        ticket = self._tickets.get(msg.ticket_id)
        if ticket is not None and ticket.get("merged_into") is not None:
            return None  # redirected to the ticket it was merged into: the one write path
        stale = (
            ticket is not None
            and msg.kind == MessageKind.REPLY
            and args.seen_version is not None
            and self._stale(ticket, args.seen_version, workstation_id)
        )
        taken = msg.id in self._taken
        if msg.kind == MessageKind.NOTE and "@" in msg.body:
            # It may @mention colleagues: the one write path records them (`record_mentions`).
            return None
        if message_verdict(actor.viewer, ticket, args, taken=taken, stale=stale) is not None:
            return None
        assert ticket is not None  # the verdict refuses a missing ticket
        audience = TICKET.sight.audience(ticket)
        row = new_message_row(msg, actor.viewer.id, now)
        values, fields = thread_grew(ticket, msg.kind, now)
        ticket.update(values)
        self._taken.add(msg.id)
        self._versions.setdefault(ticket["id"], []).append(
            (values["version"], workstation_id, fields)
        )
        self._messages.append(row)
        message_data = wire.to_wire("message", row)
        ticket_data = wire.to_wire("ticket", ticket)  # a snapshot: later plans change `ticket`
        planned = PlannedMessage(
            [
                log_row(
                    actor,
                    workstation_id,
                    now,
                    "message",
                    msg.id,
                    data=message_data,
                    fields=[],
                    audience=audience,
                ),
                log_row(
                    actor,
                    workstation_id,
                    now,
                    "ticket",
                    ticket["id"],
                    data=ticket_data,
                    fields=fields,
                    audience=audience,
                    ticket_version=values["version"],
                ),
            ],
            message_added(ticket["id"], msg.id, values["version"]),
        )
        self._planned.append(planned)
        return planned

    def _stale(self, ticket: dict[str, Any], seen: int, workstation_id: str) -> bool:
        """`tickets.stale_by_others`, counting the versions planned here too."""
        if seen >= ticket["version"]:
            return False
        planned = self._versions.get(ticket["id"], [])
        if any(
            version > seen and device != workstation_id and REPLY_DEPENDS_ON.intersection(fields)
            for version, device, fields in planned
        ):
            return True
        changed = fields_changed_by_others(self._conn, ticket["id"], seen, workstation_id)
        return bool(changed & REPLY_DEPENDS_ON)

    def write(self) -> list[PlannedMessage]:
        """Write what was planned since the last write, and set the seqs of its log rows.

        The caller wraps this in a savepoint and drops the run if it raises.  After a write
        the run may plan on: what it holds in memory is what the store now holds.
        """
        planned, self._planned = self._planned, []
        messages, self._messages = self._messages, []
        if not planned:
            return []
        conn = self._conn
        conn.execute(_MESSAGES_INSERT, messages)
        touched = {m["ticket_id"] for m in messages}
        conn.execute(
            _TICKET_UPDATE,
            [
                {
                    "ticket_key": t["id"],
                    "version": t["version"],
                    "updated_at": t["updated_at"],
                    "first_response_at": t["first_response_at"],
                    "status": t["status"],
                }
                for t in (self._tickets[tid] for tid in sorted(touched))
            ],
        )
        rows = [row for done in planned for row in done.log]
        seqs = _append_to_log(conn, rows)
        if len(seqs) != len(rows):
            raise RuntimeError(f"{len(rows)} change-log rows written, {len(seqs)} seqs returned")
        for row, seq in zip(rows, seqs, strict=True):
            row["seq"] = seq
        return planned


def _append_to_log(conn: Connection, rows: list[dict[str, Any]]) -> list[int]:
    """Insert change-log rows in this order; their seqs, in the same order.

    SQLite cannot return seqs from a batched insert in a known order (SQLAlchemy falls back
    to one statement per row).  But the writer holds SQLite's write lock for the whole
    transaction, and an AUTOINCREMENT key gives each new row a seq above every existing one,
    so the last len(rows) seqs of the log are exactly these rows', in this order.  PostgreSQL
    returns them in parameter order from one batched statement.
    """
    if conn.dialect.name != "sqlite":
        return list(conn.execute(_LOG_INSERT_MANY, rows).scalars())
    conn.execute(_LOG_INSERT, rows)
    return sorted(conn.execute(_LOG_LAST, {"n": len(rows)}).scalars())
