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

from sqlalchemy import Connection, Table, Text, cast, func, or_, select

from app.models import wire
from app.models.base import utcnow
from app.models.enums import ACTIVE_STATUSES
from app.models.tables import (
    T_AGENTS,
    T_CANNED,
    T_CUSTOMERS,
    T_DRAFTS,
    T_GROUPS,
    T_LOG,
    T_MEMBERS,
    T_MESSAGES,
    T_ORGS,
    T_TICKETS,
)
from app.server import access
from app.server.access import Audience, Viewer
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
    now = access.can_see(viewer, audience_of(row))
    before = now
    if row["audience_changed"]:
        prev = Audience(row["prev_audience"], row["prev_group_id"], row["prev_agent_id"])
        before = access.can_see(viewer, prev)
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


def _ticket_filter(viewer: Viewer) -> Any:
    if viewer.sees_everything:
        return None
    return or_(
        T_TICKETS.c.group_id.in_(sorted(viewer.group_ids)), T_TICKETS.c.assignee_id == viewer.id
    )


def bootstrap(
    conn: Connection, viewer: Viewer, window_days: int = DEFAULT_WINDOW_DAYS
) -> Iterator[list[dict[str, Any]]]:
    """Pages of ``upsert`` changes (without seq) making up the viewer's replicated state.

    The caller reads the head seq *before* starting, and replays the log from it afterwards;
    rows are full snapshots, so anything that changes meanwhile converges.
    """
    since = utcnow() - timedelta(days=window_days)
    tickets = select(T_TICKETS.c.id).where(
        or_(T_TICKETS.c.status.in_(sorted(ACTIVE_STATUSES)), T_TICKETS.c.updated_at >= since)
    )
    flt = _ticket_filter(viewer)
    if flt is not None:
        tickets = tickets.where(flt)
    # In id order, so that the chunks below, and the tickets across them, are too (8.3).
    ticket_ids = [t for (t,) in conn.execute(tickets.order_by(T_TICKETS.c.id))]

    def pages(entity: str, table: Table, where: Any = None) -> Iterator[list[dict[str, Any]]]:
        q = select(table).order_by(table.c.id)
        if where is not None:
            q = q.where(where)
        batch: list[dict[str, Any]] = []
        for row in conn.execute(q).mappings():
            batch.append(wire.to_wire(entity, row))
            if len(batch) >= PAGE_SIZE:
                yield _as_changes(conn, entity, batch)
                batch = []
        if batch:
            yield _as_changes(conn, entity, batch)

    yield from pages("group", T_GROUPS)
    yield from pages("agent", T_AGENTS)
    yield from pages("organization", T_ORGS)
    customer_ids = select(T_TICKETS.c.customer_id).where(
        T_TICKETS.c.id.in_(tickets.scalar_subquery())
    )
    yield from pages("customer", T_CUSTOMERS, T_CUSTOMERS.c.id.in_(customer_ids.scalar_subquery()))
    for start in range(0, len(ticket_ids), PAGE_SIZE):
        chunk = ticket_ids[start : start + PAGE_SIZE]
        yield from pages("ticket", T_TICKETS, T_TICKETS.c.id.in_(chunk))
        yield from pages("message", T_MESSAGES, T_MESSAGES.c.ticket_id.in_(chunk))
    canned = [
        wire.to_wire("canned_response", r)
        for r in conn.execute(select(T_CANNED).order_by(T_CANNED.c.id)).mappings()
        if access.can_see(viewer, access.canned_audience(r))
    ]
    if canned:
        yield _as_changes(conn, "canned_response", canned)
    yield from pages("draft", T_DRAFTS, T_DRAFTS.c.agent_id == viewer.id)


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
    q = select(T_TICKETS)
    q = q.where(T_TICKETS.c.id == ticket_id) if ticket_id else q.where(T_TICKETS.c.number == number)
    row = conn.execute(q).mappings().first()
    if row is None or not access.can_see(viewer, access.ticket_audience(row)):
        return None
    messages = conn.execute(
        select(T_MESSAGES)
        .where(T_MESSAGES.c.ticket_id == row["id"])
        .order_by(T_MESSAGES.c.created_at, T_MESSAGES.c.id)
    ).mappings()
    customer = wire.load(conn, "customer", row["customer_id"]) if row["customer_id"] else None
    return {
        "ticket": wire.to_wire("ticket", row),
        "messages": [wire.to_wire("message", m) for m in messages],
        "customer": customer,
    }


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
    flt = _ticket_filter(viewer)
    if flt is not None:
        q = q.where(flt)
    return [wire.to_wire("ticket", r) for r in conn.execute(q).mappings()]
