"""``seed_demo``: build the demo office and insert it into an empty store."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import sqlalchemy
from sqlalchemy import Table, func, insert, select, update

from app.models.base import utcnow
from app.models.tables import (
    T_AGENTS,
    T_CANNED,
    T_COUNTERS,
    T_CREDENTIALS,
    T_CUSTOMERS,
    T_DISPOSITIONS,
    T_GROUPS,
    T_IDENTITIES,
    T_MEMBERS,
    T_MESSAGES,
    T_ORGS,
    T_TICKETS,
)
from app.server.demo.attachments import add_attachments
from app.server.demo.canned import add_canned_responses
from app.server.demo.customers import add_customers
from app.server.demo.dispositions import demo_dispositions
from app.server.demo.office import DemoOffice
from app.server.demo.staff import DEMO_PASSWORD, add_staff
from app.server.demo.tickets import add_tickets


@dataclass(frozen=True)
class DemoSummary:
    """How many rows of each kind ``seed_demo`` inserted."""

    agents: int
    groups: int
    organizations: int
    customers: int
    customer_identities: int
    tickets: int
    messages: int
    canned_responses: int


def seed_demo(
    conn: sqlalchemy.Connection,
    *,
    password_hash: Callable[[str], str],
    now: datetime | None = None,
    seed: int = 7,
) -> DemoSummary:
    """Insert the demo into an empty store through ``conn``; the caller owns the transaction.

    Every demo agent (``DEMO_AGENTS``) signs in with ``DEMO_PASSWORD``.  Timestamps fall in the
    180 days before ``now`` (an aware datetime; the current time by default).  Nothing goes
    into the change log: workstations bootstrap from the tables themselves.
    """
    if now is None:
        now = utcnow()
    elif now.tzinfo is None:
        raise ValueError("seed_demo needs a timezone-aware datetime as now, not a naive one")
    if conn.execute(select(func.count()).select_from(T_TICKETS)).scalar_one():
        raise ValueError("the demo numbers tickets from 1, so it needs a store without tickets")

    office = DemoOffice(seed=seed, now=now.astimezone(UTC).replace(microsecond=0))
    # Every part draws from the office's one random stream, so this order is part of the seed.
    add_staff(office)
    add_customers(office)
    add_tickets(office)
    add_canned_responses(office)

    # argon2 is deliberately slow and every demo agent shares the one published password, so
    # one hash serves them all.
    shared_hash = password_hash(DEMO_PASSWORD)
    credentials = [
        {"agent_id": row["id"], "password_hash": shared_hash, "updated_at": row["updated_at"]}
        for row in office.agents
    ]
    # Parents before children, so the foreign keys hold at every step.
    batches: list[tuple[Table, list[dict[str, Any]]]] = [
        (T_GROUPS, office.groups),
        (T_AGENTS, office.agents),
        (T_CREDENTIALS, credentials),
        (T_MEMBERS, office.memberships),
        (T_ORGS, office.organizations),
        (T_CUSTOMERS, office.customers),
        (T_IDENTITIES, office.identities),
        (T_TICKETS, office.tickets),
        (T_MESSAGES, office.messages),
        (T_CANNED, office.canned_responses),
    ]
    for table, rows in batches:
        if rows:  # one executemany per table
            conn.execute(insert(table), rows)
    add_attachments(conn, office)  # a photo and a PDF on one of Ada's open tickets
    conn.execute(insert(T_DISPOSITIONS), demo_dispositions(office.now))  # the phone desk

    # The server takes the next ticket number from this counter, so it must start past the demo.
    highest = len(office.tickets)
    moved = conn.execute(
        update(T_COUNTERS).where(T_COUNTERS.c.name == "ticket_number").values(value=highest)
    )
    if moved.rowcount == 0:
        conn.execute(insert(T_COUNTERS).values(name="ticket_number", value=highest))

    return DemoSummary(
        agents=len(office.agents),
        groups=len(office.groups),
        organizations=len(office.organizations),
        customers=len(office.customers),
        customer_identities=len(office.identities),
        tickets=len(office.tickets),
        messages=len(office.messages),
        canned_responses=len(office.canned_responses),
    )
