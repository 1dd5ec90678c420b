"""Reading the store for replication: change-log pages, bootstraps, tickets on demand, search.

All functions are synchronous and take a `Connection`; the server runs them on its reader
threads.  What a viewer receives is decided by `present`, the one place that applies the
access rules to a change-log row, for catch-up and live fan-out alike.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from datetime import timedelta
from typing import Any

from sqlalchemy import Connection, Text, cast, func, select

from app.domain import tickets, wire
from app.domain.kinds import KeepScope, replicated
from app.domain.registry import DOMAIN
from app.domain.sight import Audience, Viewer, can_see
from app.domain.tickets import TICKET
from app.models.base import utcnow
from app.models.tables import T_AGENTS, T_LOG, T_MEMBERS, T_TICKETS
from app.sync.protocol import PAGE_SIZE

DEFAULT_WINDOW_DAYS = 90


def head_seq(conn: Connection) -> int:
    return int(conn.execute(select(func.max(T_LOG.c.seq))).scalar() or 0)


def oldest_seq(conn: Connection) -> int:
    return int(conn.execute(select(func.min(T_LOG.c.seq))).scalar() or 0)


# The log's JSON columns are decoded here rather than by the driver or SQLAlchemy:
# ``raw_decode`` skips ``json.loads``'s whitespace scans, which cost nearly as much as the
# decoding itself on these small documents (our own json.dumps output, never padded).
_JSON = json.JSONDecoder()
_LOG_COLUMNS = [
    cast(c, Text).label(c.name) if c.name in ("data", "fields") else c for c in T_LOG.columns
]


class LoggedData(dict[str, Any]):
    """A change-log ``data`` snapshot that keeps the JSON text it was read from.

    Encoding snapshots was the costliest step of a catch-up; ``encode_change`` splices this
    text instead.  Treat it as read-only: the text would not follow a change to the dict.
    """

    __slots__ = ("json",)

    def __init__(self, value: dict[str, Any], text: str) -> None:
        super().__init__(value)
        self.json = text


def _logged_data(text: str) -> Any:
    # A delete's data may be SQL NULL or JSON null (how SQLAlchemy stores None): both None.
    value = _JSON.raw_decode(text)[0]
    return LoggedData(value, text) if isinstance(value, dict) else value


def read_log(conn: Connection, after: int, limit: int = PAGE_SIZE) -> list[dict[str, Any]]:
    """Change-log rows with seq > ``after``, oldest first; ``data`` is a LoggedData."""
    result = conn.execute(
        select(*_LOG_COLUMNS).where(T_LOG.c.seq > after).order_by(T_LOG.c.seq).limit(limit)
    )
    keys = list(result.keys())
    rows = []
    for values in result.all():
        row = dict(zip(keys, values, strict=True))
        row["fields"] = _JSON.raw_decode(row["fields"])[0]
        if row["data"] is not None:
            row["data"] = _logged_data(row["data"])
        rows.append(row)
    return rows


def load_viewer(conn: Connection, agent_id: str) -> Viewer | None:
    row = conn.execute(select(T_AGENTS).where(T_AGENTS.c.id == agent_id)).mappings().first()
    if row is None:
        return None
    groups = conn.execute(select(T_MEMBERS.c.group_id).where(T_MEMBERS.c.agent_id == agent_id))
    return Viewer(
        id=row["id"],
        role=row["role"],
        group_ids=frozenset(g for (g,) in groups),
        access_version=row["access_version"],
        name=row["name"],
    )


def audience_of(row: Mapping[str, Any]) -> Audience:
    return Audience(row["audience"], row["group_id"], row["agent_id"])


def present(row: Mapping[str, Any], viewer: Viewer) -> dict[str, Any] | None:
    """What ``viewer`` receives for one change-log row, or None if nothing.

    A change that moves an entity out of the viewer's sight arrives as a delete; a ticket that
    comes into sight is flagged ``gained`` so the workstation fetches its thread.
    """
    now = can_see(viewer, audience_of(row))
    before = now
    if row["audience_changed"]:
        prev = Audience(row["prev_audience"], row["prev_group_id"], row["prev_agent_id"])
        before = can_see(viewer, prev)
    if now:
        out: dict[str, Any] = {
            "seq": row["seq"],
            "entity": row["entity"],
            "op": row["op"],
            "id": row["entity_id"],
            "data": row["data"],
        }
        if not before and row["entity"] == "ticket":
            out["gained"] = True
        return out
    if before:
        return {"seq": row["seq"], "entity": row["entity"], "op": "delete", "id": row["entity_id"]}
    return None


def encode_change(change: dict[str, Any]) -> str:
    data = change.get("data")
    if isinstance(data, LoggedData):
        # The stored text is already JSON: splice it in rather than encode the dict again.
        rest = json.dumps(
            {k: v for k, v in change.items() if k != "data"},
            separators=(",", ":"),
            ensure_ascii=False,
        )
        return f'{rest[:-1]},"data":{data.json}}}'
    return json.dumps(change, separators=(",", ":"), ensure_ascii=False)


# --------------------------------------------------------------------------------------------
# Bootstrap: the current state of everything a viewer replicates
# --------------------------------------------------------------------------------------------


def bootstrap(
    conn: Connection, viewer: Viewer, window_days: int = DEFAULT_WINDOW_DAYS
) -> Iterator[list[dict[str, Any]]]:
    """Pages of ``upsert`` changes (without seq) making up the viewer's replicated state:
    every declared kind in its bootstrap order, each in id order, selected by the kind's own
    sight and keep rules (`app.domain.kinds.replicated`).

    The caller reads the head seq *before* starting, and replays the log from it afterwards;
    rows are full snapshots, so anything that changes meanwhile converges.
    """
    scope = KeepScope(viewer, utcnow() - timedelta(days=window_days), DOMAIN.kind)
    for kind in list(DOMAIN.kinds.values()):
        q = select(kind.table).order_by(kind.table.c.id)
        for condition in replicated(kind, scope):
            q = q.where(condition)
        batch: list[dict[str, Any]] = []
        for row in conn.execute(q).mappings():
            batch.append(wire.to_wire(kind.name, row))
            if len(batch) >= PAGE_SIZE:
                yield _as_changes(conn, kind.name, batch)
                batch = []
        if batch:
            yield _as_changes(conn, kind.name, batch)


def _as_changes(conn: Connection, entity: str, rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    wire.attach_aggregates(conn, entity, rows)
    return [{"entity": entity, "op": "upsert", "id": r["id"], "data": r} for r in rows]


# --------------------------------------------------------------------------------------------
# On demand: one ticket with its thread, and search beyond the cache
# --------------------------------------------------------------------------------------------


def ticket_bundle(
    conn: Connection, viewer: Viewer, *, ticket_id: str | None = None, number: int | None = None
) -> dict[str, Any] | None:
    """A visible ticket with its messages and customer, or None."""
    row = tickets.find_ticket(conn, ticket_id=ticket_id, number=number)
    if row is None or not TICKET.sight.allows(viewer, row):
        return None
    return tickets.ticket_bundle(conn, row)


def search_tickets(
    conn: Connection, viewer: Viewer, query: str, limit: int
) -> list[dict[str, Any]]:
    """Visible tickets by number or subject, newest first (the cache's FTS covers the rest)."""
    q = select(T_TICKETS).order_by(T_TICKETS.c.updated_at.desc()).limit(limit)
    text = query.strip().lstrip("#")
    if text.isdigit():
        q = q.where(T_TICKETS.c.number == int(text))
    else:
        escaped = text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
        q = q.where(T_TICKETS.c.subject.ilike(f"%{escaped}%", escape="\\"))
    visible = TICKET.sight.where(viewer, T_TICKETS)
    if visible is not None:
        q = q.where(visible)
    return [wire.to_wire("ticket", r) for r in conn.execute(q).mappings()]
