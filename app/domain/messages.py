"""Adding to a ticket's thread: an agent's reply or note, and a customer's incoming message.

One name per idea, here and on the desk: a *reply* goes to the customer, a *note* stays
among agents, and a *message* is either, or a customer's, in the thread.

``message.add`` is what an agent writes at a workstation.  ``message.receive`` is what a
channel (email, chat, ...) hands the server when a customer writes: only the server's own
actors may submit it, so no workstation can put words in a customer's mouth.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import select, update

from app.domain.attachments import add_attachments, queue_attachments
from app.domain.mentions import record_mentions
from app.domain.mutation import (
    CacheTx,
    Mutation,
    NotInCache,
    Refused,
    StoreTx,
    Writers,
    id_taken,
)
from app.domain.tickets import (
    PUBLIC_THREAD,
    insert_message,
    log_thread_grew,
    message_taken,
    message_verdict,
    new_message_row,
    queued_message,
    stale_by_others,
    thread_grew,
)
from app.domain.tombstones import surviving_customer, surviving_ticket
from app.domain.wire import to_wire
from app.models.enums import AuthorType, MessageKind, TicketStatus
from app.models.tables import T_CUSTOMERS, T_MESSAGES, T_TICKETS
from app.sync import protocol as p
from app.sync.protocol import ErrorCode, Id, WireModel

Row = dict[str, Any]


def message_added(ticket_id: str, message_id: str, version: int) -> Row:
    """The result of a ``message.add`` (or ``message.receive``)."""
    return {"ticket_id": ticket_id, "message_id": message_id, "version": version}


def message_add(tx: StoreTx, args: p.MessageAddArgs) -> Row:
    msg = args.message
    # Written on a ticket merged since (queued offline): it joins the ticket it went into.
    survivor = surviving_ticket(tx, msg.ticket_id)
    redirected = survivor != msg.ticket_id
    if redirected:
        msg = msg.model_copy(update={"ticket_id": survivor})
        args = args.model_copy(update={"message": msg})
    row = (
        tx.conn.execute(select(T_TICKETS).where(T_TICKETS.c.id == msg.ticket_id).with_for_update())
        .mappings()
        .first()
    )
    ticket = dict(row) if row is not None else None
    stale = (
        ticket is not None
        and args.seen_version is not None
        and msg.kind == MessageKind.REPLY
        and not redirected  # the version seen was the merged ticket's
        and stale_by_others(tx, ticket, args.seen_version)
    )
    refused = message_verdict(tx.viewer, ticket, args, taken=message_taken(tx, msg.id), stale=stale)
    if refused is not None:
        if refused.code == ErrorCode.CONFLICT and ticket is not None:
            refused.current = _conflict(tx, ticket)
        raise refused
    assert ticket is not None  # the verdict refuses a missing ticket
    written = new_message_row(msg, tx.viewer.id, tx.now)
    insert_message(tx, written, ticket)
    add_attachments(tx, ticket, msg.id, args.attachments)
    record_mentions(tx, written)  # a note's @mentions, for the agents it names to find
    values, fields = thread_grew(ticket, msg.kind, tx.now)
    log_thread_grew(tx, ticket, values, fields)
    return message_added(ticket["id"], msg.id, values["version"])


def _conflict(tx: StoreTx, ticket: Row) -> Row:
    """What the agent reviews when their reply was refused: the ticket and its latest messages."""
    newer = tx.conn.execute(
        select(T_MESSAGES)
        .where(T_MESSAGES.c.ticket_id == ticket["id"])
        .order_by(T_MESSAGES.c.created_at.desc())
        .limit(5)
    ).mappings()
    return {
        "ticket": to_wire("ticket", ticket),
        "latest_messages": [to_wire("message", m) for m in newer],
    }


class ReceivedMessage(WireModel):
    """A customer's message as a channel received it."""

    id: Id
    ticket_id: Id
    body: p.Text
    # The customer who wrote; the ticket's customer when not given.
    customer_id: Id | None = None


class MessageReceiveArgs(WireModel):
    message: ReceivedMessage


# A customer writing again brings a ticket that was waiting on them, or solved, back to work.
_REOPENED_BY_CUSTOMER = (TicketStatus.PENDING, TicketStatus.SOLVED, TicketStatus.ON_HOLD)


def message_receive(tx: StoreTx, args: MessageReceiveArgs) -> Row:
    msg = args.message
    # A ticket or customer merged since the channel saw them: the survivors.
    msg = msg.model_copy(
        update={
            "ticket_id": surviving_ticket(tx, msg.ticket_id),
            "customer_id": surviving_customer(tx, msg.customer_id),
        }
    )
    row = (
        tx.conn.execute(select(T_TICKETS).where(T_TICKETS.c.id == msg.ticket_id).with_for_update())
        .mappings()
        .first()
    )
    if row is None:
        raise Refused(ErrorCode.NOT_FOUND, f"ticket {msg.ticket_id} does not exist")
    ticket = dict(row)
    if message_taken(tx, msg.id):
        raise id_taken(msg.id)
    customer_id = msg.customer_id or ticket["customer_id"]
    if (
        customer_id is not None
        and not tx.conn.execute(
            select(T_CUSTOMERS.c.id).where(T_CUSTOMERS.c.id == customer_id)
        ).first()
    ):
        raise Refused(ErrorCode.INVALID_MUTATION, f"customer {customer_id} does not exist")
    insert_message(
        tx,
        {
            "id": msg.id,
            "ticket_id": ticket["id"],
            "kind": MessageKind.REPLY.value,
            "author_type": AuthorType.CUSTOMER.value,
            "author_agent_id": None,
            "author_customer_id": customer_id,
            "body": msg.body,
            "created_at": tx.now,
            "delivery_state": "delivered",
        },
        ticket,
    )
    values: Row = {"version": ticket["version"] + 1, "updated_at": tx.now}
    fields = ["thread", PUBLIC_THREAD]  # the customer wrote: a reply must have seen it
    if ticket["status"] in _REOPENED_BY_CUSTOMER:
        values["status"] = TicketStatus.OPEN.value
        values["solved_at"] = None
        fields += ["solved_at", "status"]
    log_thread_grew(tx, ticket, values, fields)
    return message_added(ticket["id"], msg.id, values["version"])


def message_add_locally(tx: CacheTx, args: p.MessageAddArgs) -> None:
    """The agent's message in the thread at once, marked waiting to be sent."""
    ticket_id = args.message.ticket_id
    if tx.conn.execute(select(T_TICKETS.c.id).where(T_TICKETS.c.id == ticket_id)).first() is None:
        raise NotInCache("ticket", ticket_id)
    queued_message(tx, args.message)
    queue_attachments(tx, args.message.id, ticket_id, args.attachments)


def message_not_sent(tx: CacheTx, args: p.MessageAddArgs) -> None:
    """Refused: the message stays in the thread, marked failed, until the agent reviews it
    (sends it anyway, edits it or discards it); its text is never lost."""
    msg = args.message
    tx.conn.execute(
        update(T_MESSAGES).where(T_MESSAGES.c.id == msg.id).values(delivery_state="failed")
    )
    tx.touch("message", msg.id, msg.ticket_id)


# What the desk calls each kind of an agent's message when it is refused: a reply goes to the
# customer, a note stays among agents ("Reply" for a note would make the agent think the
# customer saw, or was meant to see, it).
_REFUSED_MESSAGE = {
    MessageKind.REPLY: "Reply",
    MessageKind.NOTE: "Note",
    MessageKind.CALL: "Call log",
}


def refused_message(args: p.MessageAddArgs) -> str:
    return _REFUSED_MESSAGE.get(args.message.kind, "Message")


MUTATIONS = (
    Mutation(
        "message.add",
        p.MessageAddArgs,
        message_add,
        kind="message",
        refusal="Message",
        refusal_of=refused_message,
        subject=lambda a: a.message.id,
        optimistic=message_add_locally,
        undo=message_not_sent,
    ),
    Mutation(
        "message.receive",
        MessageReceiveArgs,
        message_receive,
        kind="message",
        refusal="Customer message",
        writers=Writers.SERVER,
        subject=lambda a: a.message.id,
    ),
)
KINDS = ()  # the thread's kind, MESSAGE, is declared with tickets
