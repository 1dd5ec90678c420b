"""Tombstones: records merged into others, and where a late change that names one goes.

A merged customer or ticket is kept, with ``merged_into`` naming the record that survived,
so a change queued on an offline workstation before the merge is redirected to the survivor
(a new ticket for a merged customer, a reply on a merged ticket) or refused in plain words
(an edit of a merged customer), never lost silently.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import Table, select

from app.domain.mutation import Refused, StoreTx
from app.domain.wire import load
from app.models.tables import T_CUSTOMERS, T_TICKETS
from app.sync.protocol import ErrorCode

Row = dict[str, Any]
# A chain of merges (A into B, then B into C) is followed this far, then refused: a loop.
MAX_CHAIN = 20


def _survivor(tx: StoreTx, table: Table, what: str, record_id: str) -> str:
    current = record_id
    for _ in range(MAX_CHAIN):
        merged = tx.conn.execute(select(table.c.merged_into).where(table.c.id == current)).scalar()
        if merged is None:
            return current
        current = str(merged)
    raise Refused(ErrorCode.INVALID_MUTATION, f"{what} {record_id} was merged in a loop")


def surviving_customer(tx: StoreTx, customer_id: str | None) -> str | None:
    """The customer a change naming ``customer_id`` is about: itself, or the customer it was
    merged into (followed along a chain of merges).  Unknown ids are returned as they are
    (the caller checks that a customer exists)."""
    if customer_id is None:
        return None
    return _survivor(tx, T_CUSTOMERS, "customer", customer_id)


def refuse_if_merged(tx: StoreTx, customer_id: str) -> None:
    """Refuse, in plain words, a change of a customer who was merged into another."""
    merged = tx.conn.execute(
        select(T_CUSTOMERS.c.merged_into, T_CUSTOMERS.c.name).where(T_CUSTOMERS.c.id == customer_id)
    ).first()
    if merged is None or merged[0] is None:
        return
    survivor = surviving_customer(tx, customer_id)
    target = load(tx.conn, "customer", survivor) if survivor else None
    name = target["name"] if target else "another customer"
    raise Refused(
        ErrorCode.INVALID_MUTATION,
        f"{merged[1]} was merged into {name}; this change was not made: make it on {name}",
        {"customer": target},
    )


def surviving_ticket(tx: StoreTx, ticket_id: str) -> str:
    """The ticket a change naming ``ticket_id`` lands on: itself, or the ticket it was merged
    into (followed along a chain of merges)."""
    return _survivor(tx, T_TICKETS, "ticket", ticket_id)


def refuse_if_ticket_merged(tx: StoreTx, ticket: Row) -> None:
    """Refuse, in plain words, a change of the fields of a ticket merged into another: its
    conversation goes on in the other one, where the change belongs (a message is
    redirected instead: it is the conversation)."""
    if ticket.get("merged_into") is None:
        return
    survivor = surviving_ticket(tx, ticket["id"])
    number = tx.conn.execute(select(T_TICKETS.c.number).where(T_TICKETS.c.id == survivor)).scalar()
    raise Refused(
        ErrorCode.INVALID_MUTATION,
        f"ticket #{ticket['number']} was merged into #{number}; this change was not made: "
        f"make it on #{number}",
        {"ticket_id": survivor},
    )
