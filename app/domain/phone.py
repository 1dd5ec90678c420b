"""The phone desk: calls logged on tickets, and the dispositions (wrap-up codes) they end with.

A *call* is logged by the agent who took or made it, at the end of the call: which way it
went, the customer's number (E.164) and our line, who the customer is (if known), when it
started and how long it lasted, the agent's notes and a disposition.  It is logged on a
ticket, and appears in that ticket's thread as a call entry (a message of kind ``call``,
with the same id as the call), so whoever sees the ticket sees the call.  A call logged
offline waits in the outbox like any change and is applied once.

*Dispositions* are a list the admin keeps (``disposition.add`` / ``disposition.remove``,
admins only; ``switchboard-server disposition add|list|remove``).  Removing one retires it:
it is no longer offered, but calls already logged with it keep saying what it was, and a
call logged offline with it before it was retired is still accepted.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Annotated, Any, Literal

from pydantic import Field, field_validator
from sqlalchemy import ColumnElement, Table, func, insert, select, update

from app.domain.kinds import KeepWithParent, Kind
from app.domain.mutation import (
    CacheTx,
    Mutation,
    NotInCache,
    Refused,
    StoreTx,
    admins,
    id_taken,
)
from app.domain.sight import EVERYONE, AsParent, Everyone
from app.domain.tickets import TICKET, insert_message, log_thread_grew, thread_grew, visible_ticket
from app.domain.tombstones import surviving_customer, surviving_ticket
from app.domain.wire import load
from app.models.enums import AuthorType, MessageKind
from app.models.tables import T_CALLS, T_CUSTOMERS, T_DISPOSITIONS, T_MESSAGES, T_TICKETS
from app.phones import display, try_e164
from app.sync.protocol import ErrorCode, Id, Text, WireModel

DISPOSITION = Kind("disposition", T_DISPOSITIONS, Everyone(), bootstrap=75)


def _unsent_call(table: Table) -> ColumnElement[bool]:
    """A call whose thread entry still waits to be sent (or was refused, for review)."""
    waiting = select(T_MESSAGES.c.id).where(T_MESSAGES.c.delivery_state.in_(("queued", "failed")))
    return table.c.id.in_(waiting.scalar_subquery())


CALL = Kind(
    "call",
    T_CALLS,
    AsParent("ticket", "ticket_id"),
    bootstrap=65,
    keep=KeepWithParent("ticket", "ticket_id"),
    unsent=_unsent_call,
    on_ticket="ticket_id",
)

Row = dict[str, Any]
DispositionName = Annotated[str, Field(min_length=1, max_length=80)]
PhoneText = Annotated[str, Field(max_length=32)]
MAX_CALL_S = 24 * 3600
# A call's start as the workstation's clock saw it: a little ahead of the server's is fine.
CLOCK_SKEW = timedelta(minutes=10)


class DispositionAddArgs(WireModel):
    disposition_id: Id
    name: DispositionName


class DispositionRemoveArgs(WireModel):
    disposition_id: Id


class LoggedCall(WireModel):
    """A call as the agent wraps it up."""

    id: Id
    ticket_id: Id
    direction: Literal["inbound", "outbound"]
    customer_number: PhoneText  # E.164
    our_line: PhoneText = ""
    customer_id: Id | None = None
    started_at: Annotated[str, Field(min_length=10, max_length=40)]  # ISO 8601, with offset
    duration_s: Annotated[int, Field(ge=0, le=MAX_CALL_S)]
    notes: Text = ""
    disposition_id: Id

    @field_validator("started_at")
    @classmethod
    def _an_aware_iso_time(cls, value: str) -> str:
        try:
            moment = datetime.fromisoformat(value)
        except ValueError:
            raise ValueError("started_at must be an ISO 8601 time") from None
        if moment.tzinfo is None:
            raise ValueError("started_at needs a UTC offset")
        return value


class CallLogArgs(WireModel):
    call: LoggedCall


# ---- dispositions ------------------------------------------------------------------------


def _log_disposition(tx: StoreTx, disposition_id: str, fields: list[str]) -> None:
    data = load(tx.conn, "disposition", disposition_id)
    tx.log("disposition", disposition_id, data=data, fields=fields, audience=EVERYONE)


def disposition_add(tx: StoreTx, args: DispositionAddArgs) -> Row:
    name = " ".join(args.name.split())
    if not name:
        raise Refused(ErrorCode.INVALID_MUTATION, "a disposition needs a name")
    same = (
        tx.conn.execute(
            select(T_DISPOSITIONS).where(func.lower(T_DISPOSITIONS.c.name) == name.lower())
        )
        .mappings()
        .first()
    )
    if same is not None and same["active"]:
        raise Refused(ErrorCode.DUPLICATE, f"the disposition “{same['name']}” already exists")
    last = tx.conn.execute(select(func.max(T_DISPOSITIONS.c.position))).scalar()
    position = int(last or 0) + 1
    if same is not None:  # removed before: offered again, at the end of the list
        tx.conn.execute(
            update(T_DISPOSITIONS)
            .where(T_DISPOSITIONS.c.id == same["id"])
            .values(active=True, name=name, position=position, updated_at=tx.now)
        )
        _log_disposition(tx, same["id"], ["active", "name", "position"])
        return {"disposition_id": same["id"], "restored": True}
    if tx.conn.execute(
        select(T_DISPOSITIONS.c.id).where(T_DISPOSITIONS.c.id == args.disposition_id)
    ).first():
        raise id_taken(args.disposition_id)
    tx.conn.execute(
        insert(T_DISPOSITIONS).values(
            id=args.disposition_id, name=name, position=position, active=True, updated_at=tx.now
        )
    )
    _log_disposition(tx, args.disposition_id, ["*"])
    return {"disposition_id": args.disposition_id, "restored": False}


def disposition_remove(tx: StoreTx, args: DispositionRemoveArgs) -> Row:
    found = (
        tx.conn.execute(select(T_DISPOSITIONS).where(T_DISPOSITIONS.c.id == args.disposition_id))
        .mappings()
        .first()
    )
    if found is None or not found["active"]:
        raise Refused(ErrorCode.NOT_FOUND, f"disposition {args.disposition_id} is not offered")
    tx.conn.execute(
        update(T_DISPOSITIONS)
        .where(T_DISPOSITIONS.c.id == args.disposition_id)
        .values(active=False, updated_at=tx.now)
    )
    _log_disposition(tx, args.disposition_id, ["active"])
    return {"disposition_id": args.disposition_id}


# ---- calls -------------------------------------------------------------------------------


def duration_text(seconds: int) -> str:
    """A call's length as agents read it: "4 min 12 s", "38 s", "1 h 02 min"."""
    if seconds < 60:
        return f"{seconds} s"
    minutes, secs = divmod(seconds, 60)
    if minutes < 60:
        return f"{minutes} min {secs:02d} s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes:02d} min"


def call_summary(call: LoggedCall, disposition: str) -> str:
    """The call's entry in the thread: one line of facts, then the agent's notes."""
    number = display(call.customer_number, region="")  # international: never ambiguous
    way = "Inbound call from" if call.direction == "inbound" else "Outbound call to"
    head = f"{way} {number} · {duration_text(call.duration_s)} · {disposition}"
    notes = call.notes.strip()
    return f"{head}\n\n{notes}" if notes else head


def _started(call: LoggedCall, now: datetime) -> datetime:
    try:
        started = datetime.fromisoformat(call.started_at)
    except ValueError:
        raise Refused(
            ErrorCode.INVALID_MUTATION, f"started_at {call.started_at!r} is not an ISO 8601 time"
        ) from None
    if started.tzinfo is None:
        raise Refused(ErrorCode.INVALID_MUTATION, "started_at needs a UTC offset")
    if started > now + CLOCK_SKEW:
        raise Refused(ErrorCode.INVALID_MUTATION, "started_at is in the future")
    return started


def _check_numbers(call: LoggedCall) -> None:
    if try_e164(call.customer_number) != call.customer_number:
        raise Refused(
            ErrorCode.INVALID_MUTATION,
            f"{call.customer_number!r} is not a phone number in E.164 form (+442079460018)",
        )
    if call.our_line and try_e164(call.our_line) != call.our_line:
        raise Refused(ErrorCode.INVALID_MUTATION, f"our line {call.our_line!r} is not in E.164")


def call_row(call: LoggedCall, agent_id: str, started: datetime, now: datetime) -> Row:
    """Every column of the calls row a logged call becomes."""
    return {
        "id": call.id,
        "ticket_id": call.ticket_id,
        "direction": call.direction,
        "customer_number": call.customer_number,
        "our_line": call.our_line,
        "customer_id": call.customer_id,
        "agent_id": agent_id,
        "started_at": started,
        "duration_s": call.duration_s,
        "notes": call.notes,
        "disposition_id": call.disposition_id,
        "created_at": now,
    }


def _thread_entry(call: LoggedCall, agent_id: str, body: str, now: datetime, state: str) -> Row:
    return {
        "id": call.id,
        "ticket_id": call.ticket_id,
        "kind": MessageKind.CALL.value,
        "author_type": AuthorType.AGENT.value,
        "author_agent_id": agent_id,
        "author_customer_id": None,
        "body": body,
        "created_at": now,
        "delivery_state": state,
    }


def call_log(tx: StoreTx, args: CallLogArgs) -> Row:
    # Logged (offline, perhaps) on a ticket or for a customer merged since: it lands on the
    # ticket and the customer that were kept, as a reply would.
    call = args.call.model_copy(
        update={
            "ticket_id": surviving_ticket(tx, args.call.ticket_id),
            "customer_id": surviving_customer(tx, args.call.customer_id),
        }
    )
    ticket = visible_ticket(tx, call.ticket_id)
    _check_numbers(call)
    started = _started(call, tx.now)
    disposition = tx.conn.execute(
        select(T_DISPOSITIONS.c.name).where(T_DISPOSITIONS.c.id == call.disposition_id)
    ).scalar()
    if disposition is None:
        raise Refused(ErrorCode.INVALID_MUTATION, f"disposition {call.disposition_id} is unknown")
    if (
        call.customer_id is not None
        and not tx.conn.execute(
            select(T_CUSTOMERS.c.id).where(T_CUSTOMERS.c.id == call.customer_id)
        ).first()
    ):
        raise Refused(ErrorCode.INVALID_MUTATION, f"customer {call.customer_id} does not exist")
    taken = tx.conn.execute(select(T_CALLS.c.id).where(T_CALLS.c.id == call.id)).first()
    if taken or tx.conn.execute(select(T_MESSAGES.c.id).where(T_MESSAGES.c.id == call.id)).first():
        raise id_taken(call.id)
    row = call_row(call, tx.viewer.id, started, tx.now)
    tx.conn.execute(insert(T_CALLS).values(row))
    audience = TICKET.sight.audience(ticket)
    tx.log("call", call.id, data=load(tx.conn, "call", call.id), fields=["*"], audience=audience)
    entry = _thread_entry(call, tx.viewer.id, call_summary(call, disposition), tx.now, "sent")
    insert_message(tx, entry, ticket)
    values, fields = thread_grew(ticket, MessageKind.CALL, tx.now)
    log_thread_grew(tx, ticket, values, fields)
    return {"call_id": call.id, "ticket_id": ticket["id"], "version": values["version"]}


def call_log_locally(tx: CacheTx, args: CallLogArgs) -> None:
    """The call and its thread entry at once; the entry waits to be sent like a reply."""
    call = args.call
    found = tx.conn.execute(select(T_TICKETS.c.id).where(T_TICKETS.c.id == call.ticket_id))
    if found.first() is None:
        raise NotInCache("ticket", call.ticket_id)
    name = tx.conn.execute(
        select(T_DISPOSITIONS.c.name).where(T_DISPOSITIONS.c.id == call.disposition_id)
    ).scalar()
    started = datetime.fromisoformat(call.started_at)
    tx.conn.execute(insert(T_CALLS).values(call_row(call, tx.agent_id, started, tx.now)))
    body = call_summary(call, name or "no disposition")
    tx.conn.execute(
        insert(T_MESSAGES).values(_thread_entry(call, tx.agent_id, body, tx.now, "queued"))
    )
    tx.touch("call", call.id, call.ticket_id)
    tx.touch("message", call.id, call.ticket_id)
    tx.touch("ticket", call.ticket_id, call.ticket_id)


def call_not_logged(tx: CacheTx, args: CallLogArgs) -> None:
    """Refused: the thread entry stays, marked failed, so the agent's notes are never lost;
    the call row goes (the server has none)."""
    call = args.call
    tx.conn.execute(T_CALLS.delete().where(T_CALLS.c.id == call.id))
    tx.conn.execute(
        update(T_MESSAGES).where(T_MESSAGES.c.id == call.id).values(delivery_state="failed")
    )
    tx.touch("call", call.id, call.ticket_id)
    tx.touch("message", call.id, call.ticket_id)


_DENIED = "only admins manage the dispositions"

KINDS = (DISPOSITION, CALL)
MUTATIONS = (
    Mutation(
        "disposition.add",
        DispositionAddArgs,
        disposition_add,
        kind="disposition",
        refusal="New disposition",
        subject=lambda a: a.disposition_id,
        allowed=admins,
        denied=_DENIED,
    ),
    Mutation(
        "disposition.remove",
        DispositionRemoveArgs,
        disposition_remove,
        kind="disposition",
        refusal="Disposition removal",
        subject=lambda a: a.disposition_id,
        allowed=admins,
        denied=_DENIED,
    ),
    Mutation(
        "call.log",
        CallLogArgs,
        call_log,
        kind="call",
        refusal="Call log",
        subject=lambda a: a.call.id,
        optimistic=call_log_locally,
        undo=call_not_logged,
    ),
)
