"""Merging two customers: one person who reached support twice, as two records.

``customer.merge`` moves everything of the *source* to the *target*: their identities
(email addresses, phone numbers, handles), their tickets and the authorship of the messages
they wrote; the source's notes are appended to the target's (nothing is lost), and an
organization the target lacks is taken from the source.  The source stays as a tombstone
(``merged_into`` names the target): a late change from a workstation that was offline and
still names the source is redirected (a new ticket for them, a customer's message) or
refused in plain words (an edit of the merged record), never lost silently.

The tickets that move keep their version: the customer they belong to becoming the surviving
record is not a change an agent's reply competes with (it would refuse every reply in flight
on that customer's tickets as stale).
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import select, update

from app.domain.mutation import Mutation, Refused, StoreTx
from app.domain.sight import EVERYONE
from app.domain.tickets import TICKET
from app.domain.tombstones import surviving_customer
from app.domain.wire import load, to_wire
from app.models.tables import T_CUSTOMERS, T_IDENTITIES, T_MESSAGES, T_TICKETS
from app.sync.protocol import ErrorCode, Id, WireModel

Row = dict[str, Any]


class CustomerMergeArgs(WireModel):
    """Merge ``source_id`` into ``target_id``: the target is the record that is kept."""

    source_id: Id
    target_id: Id


def _customer(tx: StoreTx, customer_id: str) -> Row:
    row = (
        tx.conn.execute(select(T_CUSTOMERS).where(T_CUSTOMERS.c.id == customer_id))
        .mappings()
        .first()
    )
    if row is None:
        raise Refused(ErrorCode.NOT_FOUND, f"customer {customer_id} does not exist")
    return dict(row)


def _log(tx: StoreTx, customer_id: str, fields: list[str]) -> None:
    data = load(tx.conn, "customer", customer_id)
    tx.log("customer", customer_id, data=data, fields=fields, audience=EVERYONE)


def merged_notes(target: str, source: str, source_name: str) -> str:
    """The target's notes with the source's appended under their name (none dropped)."""
    if not source.strip():
        return target
    added = f"From {source_name} (merged):\n{source.strip()}"
    return f"{target.rstrip()}\n\n{added}" if target.strip() else added


def customer_merge(tx: StoreTx, args: CustomerMergeArgs) -> Row:
    if args.source_id == args.target_id:
        raise Refused(ErrorCode.INVALID_MUTATION, "a customer cannot be merged with themselves")
    source = _customer(tx, args.source_id)
    target = _customer(tx, args.target_id)
    if source["merged_into"] is not None:
        raise Refused(
            ErrorCode.INVALID_MUTATION,
            f"{source['name']} was already merged into another customer",
            {"customer_id": surviving_customer(tx, source["id"])},
        )
    if target["merged_into"] is not None:
        survivor = surviving_customer(tx, target["id"])
        raise Refused(
            ErrorCode.INVALID_MUTATION,
            f"{target['name']} was merged into another customer; merge into that one instead",
            {"customer_id": survivor},
        )
    sid, tid = source["id"], target["id"]
    moved_identities = tx.conn.execute(
        update(T_IDENTITIES).where(T_IDENTITIES.c.customer_id == sid).values(customer_id=tid)
    ).rowcount
    # Tickets: the same version (see the module's docstring), logged as they now are.
    tickets = [
        dict(r)
        for r in tx.conn.execute(select(T_TICKETS).where(T_TICKETS.c.customer_id == sid))
        .mappings()
        .all()
    ]
    if tickets:
        tx.conn.execute(
            update(T_TICKETS).where(T_TICKETS.c.customer_id == sid).values(customer_id=tid)
        )
    for ticket in tickets:
        ticket["customer_id"] = tid
        audience = TICKET.sight.audience(ticket)
        tx.log(
            "ticket",
            ticket["id"],
            data=to_wire("ticket", ticket),
            fields=["customer_id"],
            audience=audience,
            ticket_version=ticket["version"],
        )
    # Messages the source wrote, on any ticket.
    written = [
        dict(r)
        for r in tx.conn.execute(
            select(T_MESSAGES, T_TICKETS.c.group_id, T_TICKETS.c.assignee_id)
            .join(T_TICKETS, T_TICKETS.c.id == T_MESSAGES.c.ticket_id)
            .where(T_MESSAGES.c.author_customer_id == sid)
        )
        .mappings()
        .all()
    ]
    if written:
        tx.conn.execute(
            update(T_MESSAGES)
            .where(T_MESSAGES.c.author_customer_id == sid)
            .values(author_customer_id=tid)
        )
    for message in written:
        message["author_customer_id"] = tid
        tx.log(
            "message",
            message["id"],
            data=to_wire("message", message),
            fields=["author_customer_id"],
            audience=TICKET.sight.audience(message),
        )
    values: Row = {
        "notes": merged_notes(target["notes"], source["notes"], source["name"]),
        "updated_at": tx.now,
    }
    if target["organization_id"] is None and source["organization_id"] is not None:
        values["organization_id"] = source["organization_id"]
    tx.conn.execute(update(T_CUSTOMERS).where(T_CUSTOMERS.c.id == tid).values(**values))
    tx.conn.execute(
        update(T_CUSTOMERS)
        .where(T_CUSTOMERS.c.id == sid)
        .values(merged_into=tid, updated_at=tx.now)
    )
    _log(tx, sid, ["identities", "merged_into"])
    _log(tx, tid, ["identities", *sorted(k for k in values if k != "updated_at")])
    return {
        "customer_id": tid,
        "merged": sid,
        "identities": moved_identities,
        "tickets": len(tickets),
        "messages": len(written),
    }


KINDS = ()  # merges change customers, tickets and messages: declared with their areas
MUTATIONS = (
    Mutation(
        "customer.merge",
        CustomerMergeArgs,
        customer_merge,
        kind="customer",
        refusal="Customer merge",
        subject=lambda a: a.target_id,
    ),
)
