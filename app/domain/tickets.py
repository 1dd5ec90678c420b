"""Tickets and their threads: the ticket and message kinds, and opening and changing tickets.

A ticket is seen by supervisors, the members of its group and its assignee; its messages by
whoever sees it.  A workstation keeps the tickets still being worked on and those updated
within its window, with their whole threads.  Every change to a ticket or its thread bumps
its ``version``; a guarded change names the version the agent saw, and is refused if someone
else changed what it depends on since (`fields_changed_by_others`): a field change when a
colleague changed *that field*, a public reply when something the customer-facing answer
depends on changed (`REPLY_DEPENDS_ON`).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Connection, func, insert, select, update

from app.domain.accounts import check_agent, check_group
from app.domain.kinds import KeepRecent, KeepWithParent, Kind
from app.domain.mentions import record_mentions
from app.domain.mutation import CacheTx, Mutation, NotInCache, Refused, StoreTx, id_taken
from app.domain.sight import AsParent, Audience, Staff, Viewer
from app.domain.tombstones import refuse_if_ticket_merged, surviving_customer
from app.domain.trail import change_events
from app.domain.wire import delete_many, load, to_wire
from app.models.enums import ACTIVE_STATUSES, AuthorType, MessageKind, TicketStatus
from app.models.tables import T_COUNTERS, T_CUSTOMERS, T_LOG, T_MESSAGES, T_TICKETS
from app.sync import protocol as p
from app.sync.protocol import ErrorCode

TICKET = Kind(
    "ticket",
    T_TICKETS,
    Staff(group="group_id", agent="assignee_id"),
    bootstrap=50,
    keep=KeepRecent("status", frozenset(ACTIVE_STATUSES)),
    # Opened on this workstation and not yet numbered by the server.
    unsent=lambda table: table.c.number.is_(None),
    on_ticket="id",
)
MESSAGE = Kind(
    "message",
    T_MESSAGES,
    AsParent("ticket", "ticket_id"),
    bootstrap=60,
    keep=KeepWithParent("ticket", "ticket_id"),
    # Sent from this workstation and not yet accepted (or refused, kept for review).
    unsent=lambda table: table.c.delivery_state.in_(("queued", "failed")),
    on_ticket="ticket_id",
)
SOLVED = (TicketStatus.SOLVED, TicketStatus.CLOSED)
Row = dict[str, Any]


def visible_ticket(tx: StoreTx, ticket_id: str, *, lock: bool = True) -> Row:
    """The ticket row, if the actor may see it; refused as not found otherwise."""
    q = select(T_TICKETS).where(T_TICKETS.c.id == ticket_id)
    if lock:
        q = q.with_for_update()  # PostgreSQL: serialise guarded checks on one ticket
    row = tx.conn.execute(q).mappings().first()
    if row is None or not TICKET.sight.allows(tx.viewer, row):
        raise Refused(ErrorCode.NOT_FOUND, f"ticket {ticket_id} does not exist or is not visible")
    return dict(row)


# The change-log field a thread growth lists when the customer can see what was added: a
# customer's message, an agent's public reply, a logged call (the customer said something).
PUBLIC_THREAD = "public_thread"
# What a public reply depends on.  An agent must not answer a customer without having seen:
# what the customer said since (a message, a call), a colleague's public answer (two answers
# to one question), a change of status (a colleague solved it, or put it on hold for a
# reason) or owner (a colleague took it over and will answer), or of the customer it is for.
# Not internal notes, system trail events, priority, tags, group or subject: the agents'
# own bookkeeping, which changes nothing the customer is told, and refusing a reply for it
# only makes the agent send the same words again.  "*" is a whole-row change (a new ticket,
# a merge): anything may have changed.
REPLY_DEPENDS_ON = frozenset({PUBLIC_THREAD, "status", "assignee_id", "customer_id", "*"})


def stale_by_others(
    tx: StoreTx, ticket: Row, seen: int, depends_on: frozenset[str] = REPLY_DEPENDS_ON
) -> bool:
    """Whether someone else changed, after version ``seen``, a field that ``depends_on``."""
    if seen >= ticket["version"]:
        return False
    return bool(
        fields_changed_by_others(tx.conn, ticket["id"], seen, tx.workstation_id) & depends_on
    )


def fields_changed_by_others(
    conn: Connection, ticket_id: str, seen: int, workstation_id: str | None
) -> set[str]:
    """The ticket fields the log holds changes of after version ``seen`` from another
    workstation (or the server itself).  The agent's own queued changes bump the version
    too; they never count as a collision."""
    found = conn.execute(
        select(T_LOG.c.fields).where(
            T_LOG.c.entity == "ticket",
            T_LOG.c.entity_id == ticket_id,
            T_LOG.c.ticket_version > seen,
            (T_LOG.c.workstation_id != workstation_id) | T_LOG.c.workstation_id.is_(None),
        )
    ).scalars()
    return {name for fields in found for name in (fields or ["*"])}


def conflicting_fields(changed: set[str], wanted: set[str]) -> set[str]:
    """Which of the fields an agent is changing a colleague changed first."""
    return set(wanted) if "*" in changed else changed & wanted


def changed_since(ticket: Row, seen: int) -> str:
    """How a conflict is worded: which ticket, which version was seen, which it is now."""
    return (
        f"ticket #{ticket['number']} changed since you saw it "
        f"(version {seen}, now {ticket['version']})"
    )


def log_ticket(tx: StoreTx, ticket_id: str, fields: list[str], prev: Audience | None = None) -> Row:
    """Log the ticket as it now is; returns its wire form."""
    data = load(tx.conn, "ticket", ticket_id)
    assert data is not None  # we changed it in this very transaction
    tx.log(
        "ticket",
        ticket_id,
        data=data,
        fields=fields,
        audience=TICKET.sight.audience(data),
        prev=prev,
        ticket_version=data["version"],
    )
    return data


def next_number(tx: StoreTx) -> int:
    # UPDATE ... RETURNING holds the row lock to commit, so numbers are unique across servers.
    value = tx.conn.execute(
        update(T_COUNTERS)
        .where(T_COUNTERS.c.name == "ticket_number")
        .values(value=T_COUNTERS.c.value + 1)
        .returning(T_COUNTERS.c.value)
    ).scalar()
    if value is None:
        highest = tx.conn.execute(select(func.max(T_TICKETS.c.number))).scalar() or 0
        value = highest + 1
        tx.conn.execute(insert(T_COUNTERS).values(name="ticket_number", value=value))
    return int(value)


def find_ticket(conn: Connection, *, ticket_id: str | None, number: int | None) -> Row | None:
    """A ticket row by id or by number (whoever may see it: the caller checks)."""
    q = select(T_TICKETS)
    q = q.where(T_TICKETS.c.id == ticket_id) if ticket_id else q.where(T_TICKETS.c.number == number)
    row = conn.execute(q).mappings().first()
    return None if row is None else dict(row)


def ticket_bundle(conn: Connection, row: Row) -> Row:
    """A ticket in wire form with its whole thread (oldest first) and its customer: what
    ``fetch_ticket`` answers, and what the workstation shows of a cached ticket."""
    messages = conn.execute(
        select(T_MESSAGES)
        .where(T_MESSAGES.c.ticket_id == row["id"])
        .order_by(T_MESSAGES.c.created_at, T_MESSAGES.c.id)
    ).mappings()
    customer = load(conn, "customer", row["customer_id"]) if row["customer_id"] else None
    return {
        "ticket": to_wire("ticket", row),
        "messages": [to_wire("message", m) for m in messages],
        "customer": customer,
        "kept": kept_with_ticket(conn, row["id"]),
    }


def kept_with_ticket(conn: Connection, ticket_id: str) -> dict[str, list[Row]]:
    """The rows of the other kinds kept with a ticket (its time entries), by kind: a ticket
    fetched because it came into sight brings them, as a bootstrap would."""
    from app.domain.registry import DOMAIN  # filled once every area is declared

    kept: dict[str, list[Row]] = {}
    for kind in DOMAIN.kinds.values():
        if kind.parent != "ticket" or kind is MESSAGE:
            continue
        column = kind.table.c[kind.on_ticket or "ticket_id"]
        rows = conn.execute(select(kind.table).where(column == ticket_id).order_by(kind.table.c.id))
        kept[kind.name] = [to_wire(kind.name, r) for r in rows.mappings()]
    return kept


def new_ticket_row(t: p.NewTicket, now: datetime, *, number: int | None) -> Row:
    """The tickets row a new ticket becomes: in the store numbered, at version 1; in a
    workstation's cache unnumbered (the server numbers it) and at version 0 until it does."""
    return {
        "id": t.id,
        "number": number,
        "subject": t.subject,
        "status": t.status.value,
        "priority": t.priority.value,
        "channel": t.channel.value,
        "customer_id": t.customer_id,
        "group_id": t.group_id,
        "assignee_id": t.assignee_id,
        "tags": list(t.tags),
        "created_at": now,
        "updated_at": now,
        "solved_at": now if t.status in SOLVED else None,
        "version": 0 if number is None else 1,
    }


# ---- the thread --------------------------------------------------------------------------


def message_verdict(
    viewer: Viewer, ticket: Row | None, args: p.MessageAddArgs, *, taken: bool, stale: bool
) -> Refused | None:
    """Whether an agent's ``message.add`` is refused, and why: the one verdict, for the
    writer's batched path (`app.server.message_batch`) and the one-by-one path alike.

    ``stale``: someone else changed what a reply depends on (`REPLY_DEPENDS_ON`) after
    ``seen_version``.  A conflict's ``current`` is left for the caller to fill in (it needs
    the latest messages).
    """
    msg = args.message
    if ticket is None or not TICKET.sight.allows(viewer, ticket):
        return Refused(
            ErrorCode.NOT_FOUND, f"ticket {msg.ticket_id} does not exist or is not visible"
        )
    if msg.kind == MessageKind.REPLY:
        if args.seen_version is None:
            return Refused(ErrorCode.INVALID_MUTATION, "a public reply needs seen_version")
        if stale:
            return Refused(ErrorCode.CONFLICT, changed_since(ticket, args.seen_version))
    if taken:
        return id_taken(msg.id)
    if msg.kind == MessageKind.EVENT:
        return Refused(ErrorCode.INVALID_MUTATION, "system events are written by the server only")
    return None


def new_message_row(msg: p.NewMessage, author_id: str, now: datetime) -> Row:
    """Every column of the messages row an agent's new message becomes."""
    return {
        "id": msg.id,
        "ticket_id": msg.ticket_id,
        "kind": msg.kind.value,
        "author_type": AuthorType.AGENT.value,
        "author_agent_id": author_id,
        "author_customer_id": None,
        "body": msg.body,
        "created_at": now,
        "delivery_state": "sent",
    }


def message_taken(tx: StoreTx, message_id: str) -> bool:
    return (
        tx.conn.execute(select(T_MESSAGES.c.id).where(T_MESSAGES.c.id == message_id)).first()
        is not None
    )


def insert_message(tx: StoreTx, row: Row, ticket: Row) -> None:
    """Write and log a message row on ``ticket`` (checked by the caller)."""
    tx.conn.execute(insert(T_MESSAGES), row)
    data = to_wire("message", row)  # exactly what was written: no need to read it back
    tx.log("message", row["id"], data=data, fields=[], audience=TICKET.sight.audience(ticket))


def thread_grew(ticket: Row, kind: MessageKind, now: datetime) -> tuple[Row, list[str]]:
    """The ticket columns an agent's new message changes, and the field names its log lists."""
    values: Row = {"version": ticket["version"] + 1, "updated_at": now}
    fields = ["thread"]
    if kind in (MessageKind.REPLY, MessageKind.CALL):
        fields.append(PUBLIC_THREAD)
    if kind == MessageKind.REPLY:
        if ticket["first_response_at"] is None:
            values["first_response_at"] = now
            fields.append("first_response_at")
        if ticket["status"] == TicketStatus.NEW:
            values["status"] = TicketStatus.OPEN.value
            fields.append("status")
    return values, fields


def log_thread_grew(tx: StoreTx, ticket: Row, values: Row, fields: list[str]) -> None:
    """Write the ticket columns a new message changed and log the ticket as just written."""
    tx.conn.execute(update(T_TICKETS).where(T_TICKETS.c.id == ticket["id"]).values(**values))
    tx.log(
        "ticket",
        ticket["id"],
        data=to_wire("ticket", {**ticket, **values}),
        fields=fields,
        audience=TICKET.sight.audience(ticket),
        ticket_version=values["version"],
    )


# ---- mutations ---------------------------------------------------------------------------


def ticket_create(tx: StoreTx, args: p.TicketCreateArgs) -> Row:
    t = args.ticket
    if t.customer_id is not None:  # a customer merged since: the ticket is the survivor's
        t = t.model_copy(update={"customer_id": surviving_customer(tx, t.customer_id)})
    check_group(tx, t.group_id)
    check_agent(tx, t.assignee_id)
    viewer = tx.viewer
    may = (
        viewer.sees_everything
        or (t.group_id is not None and t.group_id in viewer.group_ids)
        or t.assignee_id == viewer.id
    )
    if not may:
        raise Refused(ErrorCode.FORBIDDEN, "a ticket must go to one of your groups or to you")
    if tx.conn.execute(select(T_TICKETS.c.id).where(T_TICKETS.c.id == t.id)).first():
        raise id_taken(t.id)
    if (
        t.customer_id is not None
        and not tx.conn.execute(
            select(T_CUSTOMERS.c.id).where(T_CUSTOMERS.c.id == t.customer_id)
        ).first()
    ):
        raise Refused(ErrorCode.INVALID_MUTATION, f"customer {t.customer_id} does not exist")
    number = next_number(tx)
    tx.conn.execute(insert(T_TICKETS).values(new_ticket_row(t, tx.now, number=number)))
    ticket = log_ticket(tx, t.id, ["*"])
    if args.message is not None:
        msg = args.message
        if msg.ticket_id != t.id:
            raise Refused(ErrorCode.INVALID_MUTATION, "the first message must be on the new ticket")
        if message_taken(tx, msg.id):
            raise id_taken(msg.id)
        if msg.kind == MessageKind.EVENT:
            raise Refused(
                ErrorCode.INVALID_MUTATION, "system events are written by the server only"
            )
        written = new_message_row(msg, viewer.id, tx.now)
        insert_message(tx, written, ticket)
        record_mentions(tx, written)  # a first note's @mentions, as on any note
    return {"ticket_id": t.id, "number": number, "version": 1}


def ticket_update(tx: StoreTx, args: p.TicketUpdateArgs) -> Row:
    ticket = visible_ticket(tx, args.ticket_id)
    refuse_if_ticket_merged(tx, ticket)
    changes = p.validated_changes(p.TicketChanges, args.changes)
    if not changes:
        raise Refused(ErrorCode.INVALID_MUTATION, "no changes given")
    guarded: list[str] = []
    wanted = p.GUARDED_TICKET_FIELDS & changes.keys()
    if wanted and args.seen_version < ticket["version"]:
        # Field by field: a colleague's change of another field is no conflict (it is kept,
        # and so is this one); a change of the same field since the agent saw it is.
        others = fields_changed_by_others(
            tx.conn, ticket["id"], args.seen_version, tx.workstation_id
        )
        guarded = sorted(conflicting_fields(others, set(wanted)))
    if guarded:
        current = to_wire("ticket", ticket)
        raise Refused(
            ErrorCode.CONFLICT,
            changed_since(ticket, args.seen_version),
            {"ticket": current, "fields": {f: current[f] for f in guarded}},
        )
    if "assignee_id" in changes:
        check_agent(tx, changes["assignee_id"])
    if "group_id" in changes:
        check_group(tx, changes["group_id"])
    if changes.get("subject") is None:
        changes.pop("subject", None)
    for name in ("status", "priority", "tags"):
        if name in changes and changes[name] is None:
            raise Refused(ErrorCode.INVALID_MUTATION, f"{name} cannot be cleared")
    values: Row = {k: v for k, v in changes.items() if ticket.get(k) != v}
    if not values:  # nothing actually differs: acknowledge without a new version
        return {"ticket_id": ticket["id"], "version": ticket["version"], "changed": []}
    if "status" in values:
        solved_at = (ticket["solved_at"] or tx.now) if values["status"] in SOLVED else None
        if solved_at != ticket["solved_at"]:
            values["solved_at"] = solved_at
    values["version"] = ticket["version"] + 1
    values["updated_at"] = tx.now
    tx.conn.execute(update(T_TICKETS).where(T_TICKETS.c.id == ticket["id"]).values(**values))
    fields = sorted(k for k in values if k not in ("version", "updated_at"))
    logged = log_ticket(tx, ticket["id"], fields, prev=TICKET.sight.audience(ticket))
    for event in change_events(tx, ticket, values):
        insert_message(tx, event, logged)
    return {"ticket_id": ticket["id"], "version": values["version"], "changed": fields}


# ---- on the workstation: what the agent sees before the server answers -------------------


def queued_message(tx: CacheTx, msg: p.NewMessage) -> None:
    """The agent's new message in the cache's thread, waiting to be sent."""
    row = new_message_row(msg, tx.agent_id, tx.now)
    tx.conn.execute(insert(T_MESSAGES).values({**row, "delivery_state": "queued"}))
    tx.touch("message", msg.id, msg.ticket_id)
    tx.touch("ticket", msg.ticket_id, msg.ticket_id)


def ticket_create_locally(tx: CacheTx, args: p.TicketCreateArgs) -> None:
    """The new ticket at once, unnumbered (the server numbers it) and at version 0."""
    t = args.ticket
    tx.conn.execute(insert(T_TICKETS).values(new_ticket_row(t, tx.now, number=None)))
    tx.touch("ticket", t.id, t.id)
    if args.message is not None:
        queued_message(tx, args.message)


def ticket_update_locally(tx: CacheTx, args: p.TicketUpdateArgs) -> None:
    """The changed fields at once; the values they replaced are kept to restore on refusal."""
    changes = p.validated_changes(p.TicketChanges, args.changes)
    found = tx.conn.execute(select(T_TICKETS).where(T_TICKETS.c.id == args.ticket_id))
    current = found.mappings().first()
    if current is None:
        raise NotInCache("ticket", args.ticket_id)
    tx.base = {k: current[k] for k in changes}
    tx.patch = changes
    tx.conn.execute(update(T_TICKETS).where(T_TICKETS.c.id == args.ticket_id).values(**changes))
    tx.touch("ticket", args.ticket_id, args.ticket_id)


def ticket_create_refused(tx: CacheTx, args: p.TicketCreateArgs) -> None:
    """Refused: the server never had the ticket, so neither may the cache (its thread goes
    with it); what the agent wrote stays in the refusal for them to copy."""
    delete_many(tx.conn, "ticket", [args.ticket.id])
    tx.touch("ticket", args.ticket.id, args.ticket.id)


KINDS = (TICKET, MESSAGE)
MUTATIONS = (
    Mutation(
        "ticket.create",
        p.TicketCreateArgs,
        ticket_create,
        kind="ticket",
        refusal="New ticket",
        subject=lambda a: a.ticket.id,
        optimistic=ticket_create_locally,
        undo=ticket_create_refused,
    ),
    Mutation(
        "ticket.update",
        p.TicketUpdateArgs,
        ticket_update,
        kind="ticket",
        refusal="Ticket change",
        changes=p.TicketChanges,
        subject=lambda a: a.ticket_id,
        optimistic=ticket_update_locally,
    ),
)
