"""Merging and splitting tickets.

``ticket.merge`` (source into target): every message of the source (replies, notes, call logs,
its activity trail) joins the target's thread, where the thread's order (time) places it;
every agent's draft on the source moves to the target, and where the agent also has a draft
on the target both texts are kept, one after the other (never a word lost; if either was an
internal note the combined draft is a note, so nothing meant for agents alone can go to the
customer by accident).  The source is closed and marked merged into the target
(``merged_into``), with an event on both.  A reply queued offline on the source is redirected
to the target when it arrives (`app.domain.messages.message_add`).

``ticket.split``: the chosen messages move to a new ticket (same customer, group, assignee,
priority and tags; a subject the agent confirms), with an event on both.  Drafts stay where
they are.
"""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import Field
from sqlalchemy import delete, func, insert, select, update

from app.domain.drafts import DRAFT
from app.domain.mentions import MENTION, T_MENTIONS
from app.domain.mutation import Mutation, Refused, StoreTx, id_taken
from app.domain.sight import Audience
from app.domain.tickets import (
    PUBLIC_THREAD,
    SOLVED,
    TICKET,
    insert_message,
    log_ticket,
    next_number,
    visible_ticket,
)
from app.domain.trail import event_row
from app.domain.wire import load, to_wire
from app.models.entities import draft_id
from app.models.enums import MessageKind, TicketStatus
from app.models.tables import T_ATTACHMENTS, T_CALLS, T_DRAFTS, T_MESSAGES, T_TICKETS
from app.models.time_entries import T_TIME_ENTRIES
from app.sync.protocol import ErrorCode, Id, WireModel

Row = dict[str, Any]
MAX_SPLIT_MESSAGES = 1000


class TicketMergeArgs(WireModel):
    """Merge ``source_id`` into ``target_id``: the target is the ticket that is kept."""

    source_id: Id
    target_id: Id


class TicketSplitArgs(WireModel):
    """Move ``message_ids`` of ``ticket_id`` to a new ticket ``new_ticket_id``."""

    ticket_id: Id
    message_ids: Annotated[list[Id], Field(min_length=1, max_length=MAX_SPLIT_MESSAGES)]
    new_ticket_id: Id
    subject: Annotated[str, Field(min_length=1, max_length=500)]


def _number(ticket: Row) -> str:
    return f"#{ticket['number']}" if ticket["number"] is not None else "the ticket"


def _seen(tx: StoreTx, ticket_id: str, role: str) -> Row:
    """A ticket the actor may see, refused in the desk's words otherwise."""
    try:
        return visible_ticket(tx, ticket_id)
    except Refused as refused:
        raise Refused(
            ErrorCode.NOT_FOUND, f"the {role} ticket does not exist or you cannot see it"
        ) from refused


def _move_messages(tx: StoreTx, ids: list[str], ticket: Row, source: Row) -> int:
    """Move the messages ``ids`` from ``source`` to ``ticket`` and log each as it now is.

    Each is first logged as gone from the source, for whoever sees the source: a workstation
    that does not see the target drops its copy, and the source's open thread learns that
    the message left it (a change names the ticket a message is on now)."""
    if not ids:
        return 0
    gone = TICKET.sight.audience(source)
    for message_id in ids:
        tx.log("message", message_id, data=None, fields=[], audience=gone)
    tx.conn.execute(
        update(T_MESSAGES).where(T_MESSAGES.c.id.in_(ids)).values(ticket_id=ticket["id"])
    )
    audience = TICKET.sight.audience(ticket)
    for row in tx.conn.execute(select(T_MESSAGES).where(T_MESSAGES.c.id.in_(ids))).mappings():
        tx.log(
            "message",
            row["id"],
            data=to_wire("message", row),
            fields=["ticket_id"],
            audience=audience,
        )
    _move_followers(tx, ids, ticket, gone)
    return len(ids)


def _move_followers(tx: StoreTx, ids: list[str], ticket: Row, gone: Audience) -> None:
    """What belongs to the moved messages goes with them: a call entry's call log, a
    message's files and its @mentions (so "Open" on a mention opens where the note is now)."""
    audience = TICKET.sight.audience(ticket)
    for kind, table, on_message in (
        ("call", T_CALLS, T_CALLS.c.id),
        ("attachment", T_ATTACHMENTS, T_ATTACHMENTS.c.message_id),
    ):
        moving = list(tx.conn.execute(select(table.c.id).where(on_message.in_(ids))).scalars())
        if not moving:
            continue
        for record_id in moving:  # as for the messages: gone from the source's audience
            tx.log(kind, record_id, data=None, fields=[], audience=gone)
        tx.conn.execute(update(table).where(table.c.id.in_(moving)).values(ticket_id=ticket["id"]))
        for row in tx.conn.execute(select(table).where(table.c.id.in_(moving))).mappings():
            tx.log(
                kind, row["id"], data=to_wire(kind, row), fields=["ticket_id"], audience=audience
            )
    mentioned = T_MENTIONS.c.message_id.in_(ids)
    if tx.conn.execute(update(T_MENTIONS).where(mentioned).values(ticket_id=ticket["id"])).rowcount:
        for row in tx.conn.execute(select(T_MENTIONS).where(mentioned)).mappings():
            tx.log(
                "mention",
                row["id"],
                data=to_wire("mention", row),
                fields=["ticket_id"],
                audience=MENTION.sight.audience(row),
            )


def _move_time_entries(tx: StoreTx, source: Row, target: Row) -> None:
    """The time spent on the source was spent on the customer's request, which the target
    now holds: its entries move with the thread (a split leaves them where they are)."""
    moving = list(
        tx.conn.execute(
            select(T_TIME_ENTRIES.c.id).where(T_TIME_ENTRIES.c.ticket_id == source["id"])
        ).scalars()
    )
    if not moving:
        return
    gone = TICKET.sight.audience(source)
    for entry_id in moving:
        tx.log("time_entry", entry_id, data=None, fields=[], audience=gone)
    tx.conn.execute(
        update(T_TIME_ENTRIES).where(T_TIME_ENTRIES.c.id.in_(moving)).values(ticket_id=target["id"])
    )
    audience = TICKET.sight.audience(target)
    for row in tx.conn.execute(
        select(T_TIME_ENTRIES).where(T_TIME_ENTRIES.c.id.in_(moving))
    ).mappings():
        tx.log(
            "time_entry",
            row["id"],
            data=to_wire("time_entry", row),
            fields=["ticket_id"],
            audience=audience,
        )


def combined_draft(kept: Row, moved: Row, source: Row) -> tuple[str, str]:
    """The text and kind of an agent's two drafts made one: the target's, then the source's."""
    kind = (
        MessageKind.NOTE.value
        if MessageKind.NOTE.value in (kept["kind"], moved["kind"])
        else kept["kind"]
    )
    heading = f"[From {_number(source)}, merged into this ticket]"
    body = f"{kept['body'].rstrip()}\n\n{heading}\n{moved['body']}"
    return body, kind


def _move_drafts(tx: StoreTx, source: Row, target: Row) -> int:
    """Every agent's draft on the source, moved to the target (or added to theirs there)."""
    drafts = [
        dict(r)
        for r in tx.conn.execute(select(T_DRAFTS).where(T_DRAFTS.c.ticket_id == source["id"]))
        .mappings()
        .all()
    ]
    for draft in drafts:
        audience = DRAFT.sight.audience(draft)
        new_id = draft_id(draft["agent_id"], target["id"])
        kept = load(tx.conn, "draft", new_id)
        if kept is None:
            values = {"kind": draft["kind"], "body": draft["body"]}
            tx.conn.execute(
                insert(T_DRAFTS).values(
                    id=new_id,
                    agent_id=draft["agent_id"],
                    ticket_id=target["id"],
                    updated_at=tx.now,
                    **values,
                )
            )
        else:
            body, kind = combined_draft(kept, draft, source)
            tx.conn.execute(
                update(T_DRAFTS)
                .where(T_DRAFTS.c.id == new_id)
                .values(body=body, kind=kind, updated_at=tx.now)
            )
        tx.conn.execute(delete(T_DRAFTS).where(T_DRAFTS.c.id == draft["id"]))
        tx.log("draft", draft["id"], data=None, fields=[], audience=audience)
        tx.log(
            "draft", new_id, data=load(tx.conn, "draft", new_id), fields=["body"], audience=audience
        )
    return len(drafts)


def _bump(tx: StoreTx, ticket: Row, values: Row) -> Row:
    """Write ``values`` and a new version on ``ticket``; log it; its wire form."""
    values = {**values, "version": ticket["version"] + 1, "updated_at": tx.now}
    tx.conn.execute(update(T_TICKETS).where(T_TICKETS.c.id == ticket["id"]).values(**values))
    # Messages came or went: customer messages among them, so a reply drafted before is
    # reviewed (`REPLY_DEPENDS_ON`), as after any change to what the customer said.
    fields = sorted(k for k in values if k not in ("version", "updated_at")) or [
        "thread",
        PUBLIC_THREAD,
    ]
    return log_ticket(tx, ticket["id"], fields, prev=TICKET.sight.audience(ticket))


def ticket_merge(tx: StoreTx, args: TicketMergeArgs) -> Row:
    if args.source_id == args.target_id:
        raise Refused(ErrorCode.INVALID_MUTATION, "a ticket cannot be merged into itself")
    source = _seen(tx, args.source_id, "merged")
    target = _seen(tx, args.target_id, "chosen")
    if source["merged_into"] is not None:
        raise Refused(ErrorCode.INVALID_MUTATION, f"ticket {_number(source)} was already merged")
    if target["merged_into"] is not None:
        raise Refused(
            ErrorCode.INVALID_MUTATION,
            f"ticket {_number(target)} was itself merged into another ticket; "
            "merge into that one instead",
        )
    ids = list(
        tx.conn.execute(
            select(T_MESSAGES.c.id).where(T_MESSAGES.c.ticket_id == source["id"])
        ).scalars()
    )
    moved = _move_messages(tx, ids, target, source)
    _move_time_entries(tx, source, target)
    drafts = _move_drafts(tx, source, target)
    closed: Row = {"merged_into": target["id"], "status": TicketStatus.CLOSED.value}
    if source["status"] not in SOLVED or source["solved_at"] is None:
        closed["solved_at"] = tx.now
    logged_source = _bump(tx, source, closed)
    logged_target = _bump(tx, target, {})
    insert_message(
        tx,
        event_row(
            tx,
            source["id"],
            logged_source["version"],
            "merged_into",
            ticket_id=target["id"],
            number=target["number"],
        ),
        logged_source,
    )
    insert_message(
        tx,
        event_row(
            tx,
            target["id"],
            logged_target["version"],
            "merged_from",
            ticket_id=source["id"],
            number=source["number"],
            messages=moved,
        ),
        logged_target,
    )
    return {
        "ticket_id": target["id"],
        "version": logged_target["version"],
        "messages": moved,
        "drafts": drafts,
    }


def ticket_split(tx: StoreTx, args: TicketSplitArgs) -> Row:
    ticket = _seen(tx, args.ticket_id, "split")
    if ticket["merged_into"] is not None:
        raise Refused(
            ErrorCode.INVALID_MUTATION,
            f"ticket {_number(ticket)} was merged into another ticket; split from that one",
        )
    if tx.conn.execute(select(T_TICKETS.c.id).where(T_TICKETS.c.id == args.new_ticket_id)).first():
        raise id_taken(args.new_ticket_id)
    ids = list(dict.fromkeys(args.message_ids))
    found = set(
        tx.conn.execute(
            select(T_MESSAGES.c.id).where(
                T_MESSAGES.c.id.in_(ids), T_MESSAGES.c.ticket_id == ticket["id"]
            )
        ).scalars()
    )
    if len(found) != len(ids):
        raise Refused(
            ErrorCode.INVALID_MUTATION,
            f"{len(ids) - len(found)} of the chosen messages are not on ticket {_number(ticket)}",
        )
    left = tx.conn.execute(
        select(func.count()).where(
            T_MESSAGES.c.ticket_id == ticket["id"],
            T_MESSAGES.c.id.not_in(ids),
            T_MESSAGES.c.kind != MessageKind.EVENT.value,
        )
    ).scalar()
    if not left:
        raise Refused(
            ErrorCode.INVALID_MUTATION,
            f"at least one message must stay on ticket {_number(ticket)}",
        )
    number = next_number(tx)
    status = ticket["status"] if ticket["status"] not in SOLVED else TicketStatus.OPEN.value
    tx.conn.execute(
        insert(T_TICKETS).values(
            id=args.new_ticket_id,
            number=number,
            subject=args.subject,
            status=status,
            priority=ticket["priority"],
            channel=ticket["channel"],
            customer_id=ticket["customer_id"],
            group_id=ticket["group_id"],
            assignee_id=ticket["assignee_id"],
            tags=list(ticket["tags"] or []),
            created_at=tx.now,
            updated_at=tx.now,
            version=1,
        )
    )
    new = log_ticket(tx, args.new_ticket_id, ["*"])
    moved = _move_messages(tx, ids, new, ticket)
    logged = _bump(tx, ticket, {})
    insert_message(
        tx,
        event_row(
            tx,
            ticket["id"],
            logged["version"],
            "split_into",
            ticket_id=new["id"],
            number=number,
            messages=moved,
        ),
        logged,
    )
    insert_message(
        tx,
        event_row(
            tx,
            new["id"],
            new["version"],
            "split_from",
            ticket_id=ticket["id"],
            number=ticket["number"],
            messages=moved,
        ),
        new,
    )
    return {"ticket_id": new["id"], "number": number, "messages": moved}


KINDS = ()  # merges change tickets, messages and drafts: declared with their areas
MUTATIONS = (
    Mutation(
        "ticket.merge",
        TicketMergeArgs,
        ticket_merge,
        kind="ticket",
        refusal="Ticket merge",
        subject=lambda a: a.source_id,
    ),
    Mutation(
        "ticket.split",
        TicketSplitArgs,
        ticket_split,
        kind="ticket",
        refusal="Ticket split",
        subject=lambda a: a.ticket_id,
    ),
)
