"""Read-only questions asked of the cache; each returns plain dicts, never ORM objects."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Connection, func, select

from app.domain import tickets, wire
from app.models.tables import T_AGENTS, T_CUSTOMERS, T_DRAFTS, T_MESSAGES, T_TICKETS
from app.sync.cache import get_state, outbox_count
from app.sync.cache_tables import T_OUTBOX, T_REFUSALS


def sync_status(conn: Connection) -> dict[str, Any]:
    return {
        "cursor": get_state(conn, "cursor", 0),
        "device_id": get_state(conn, "device_id"),
        "agent_id": get_state(conn, "agent_id"),
        "outbox": outbox_count(conn),
        "refusals": conn.execute(select(func.count()).select_from(T_REFUSALS)).scalar(),
        "tickets": conn.execute(select(func.count()).select_from(T_TICKETS)).scalar(),
        "messages": conn.execute(select(func.count()).select_from(T_MESSAGES)).scalar(),
    }


def ticket_list(
    conn: Connection,
    *,
    status: str | None = None,
    assignee_id: str | None = None,
    limit: int = 50,
    after: tuple[str, str] | None = None,
) -> list[dict[str, Any]]:
    """Tickets newest-updated first, keyset-paged by (updated_at, id)."""
    q = (
        select(
            T_TICKETS.c.id,
            T_TICKETS.c.number,
            T_TICKETS.c.subject,
            T_TICKETS.c.status,
            T_TICKETS.c.priority,
            T_TICKETS.c.channel,
            T_TICKETS.c.updated_at,
            T_TICKETS.c.version,
            T_CUSTOMERS.c.name.label("customer"),
            T_AGENTS.c.name.label("assignee"),
        )
        .select_from(
            T_TICKETS.outerjoin(T_CUSTOMERS, T_CUSTOMERS.c.id == T_TICKETS.c.customer_id).outerjoin(
                T_AGENTS, T_AGENTS.c.id == T_TICKETS.c.assignee_id
            )
        )
        .order_by(T_TICKETS.c.updated_at.desc(), T_TICKETS.c.id.desc())
        .limit(limit)
    )
    if status is not None:
        q = q.where(T_TICKETS.c.status == status)
    if assignee_id is not None:
        q = q.where(T_TICKETS.c.assignee_id == assignee_id)
    return [dict(r) for r in conn.execute(q).mappings()]


def ticket_detail(
    conn: Connection, *, number: int | None = None, ticket_id: str | None = None
) -> dict[str, Any] | None:
    """A ticket with its thread, customer and pending local edits, from the cache."""
    row = tickets.find_ticket(conn, ticket_id=ticket_id, number=number)
    if row is None:
        return None
    pending = conn.execute(
        select(func.count())
        .select_from(T_OUTBOX)
        .where(T_OUTBOX.c.entity == "ticket", T_OUTBOX.c.entity_id == row["id"])
    ).scalar()
    return {**tickets.ticket_bundle(conn, row), "pending_changes": pending}


def draft_for(conn: Connection, draft_id: str) -> dict[str, Any] | None:
    row = conn.execute(select(T_DRAFTS).where(T_DRAFTS.c.id == draft_id)).mappings().first()
    return None if row is None else wire.to_wire("draft", row)


def refusals(conn: Connection) -> list[dict[str, Any]]:
    rows = conn.execute(select(T_REFUSALS).order_by(T_REFUSALS.c.mutation_id)).mappings()
    return [{**dict(r), "created_at": r["created_at"].isoformat()} for r in rows]
