"""Time tracking: the ``time_entry`` kind, and adding, editing and deleting time entries.

An entry is time one agent spent on one ticket, made by stopping the stopwatch in the
ticket's tab or typed in ("Log time…").  Whoever sees the ticket sees its entries (a
supervisor reads where the time went), and a workstation keeps them with the ticket.  An
agent adds, edits and deletes their own entries; supervisors and admins anyone's (they correct
timesheets).  Every change is optimistic: the agent sees it at once, offline too, and a
refusal puts the cache back.  The limits and their wording are `app.time_tracking`'s, which
the desk checks before sending.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, Literal

from sqlalchemy import Connection, delete, insert, select, update

from app.domain.kinds import KeepWithParent, Kind, queued_here
from app.domain.mutation import Actor, CacheTx, Mutation, NotInCache, Refused, StoreTx, id_taken
from app.domain.sight import AsParent
from app.domain.tickets import TICKET, visible_ticket
from app.domain.tombstones import surviving_ticket
from app.domain.wire import from_wire, load, to_wire, upsert_many
from app.models.tables import T_AGENTS, T_TICKETS
from app.models.time_entries import T_TIME_ENTRIES
from app.sync.protocol import ErrorCode, Id, WireModel
from app.time_tracking import MAX_NOTE_CHARS, entry_problem

Row = dict[str, Any]

TIME_ENTRY = Kind(
    "time_entry",
    T_TIME_ENTRIES,
    AsParent("ticket", "ticket_id"),
    bootstrap=92,  # after the tickets it is on and their files (protocol 8.3)
    keep=KeepWithParent("ticket", "ticket_id"),
    unsent=queued_here("time_entry"),
    on_ticket="ticket_id",
)

Source = Literal["stopwatch", "manual"]
EDITABLE = ("started_at", "duration_s", "note")


class TimeEntryAddArgs(WireModel):
    """A new entry: its id (minted by the workstation), ticket, start (ISO 8601 with a
    zone), duration in whole seconds, note and how it was made."""

    id: Id
    ticket_id: Id
    started_at: str
    duration_s: int
    note: str = ""
    source: Source = "manual"


class TimeEntryEditArgs(WireModel):
    """An entry's new start, duration and note (all three: the edit form shows them all)."""

    id: Id
    started_at: str
    duration_s: int
    note: str = ""


class TimeEntryDeleteArgs(WireModel):
    id: Id


def _started_at(text: str) -> datetime:
    try:
        value = datetime.fromisoformat(text)
    except ValueError:
        raise Refused(ErrorCode.INVALID_MUTATION, f"{text!r} is not a date and time") from None
    if value.tzinfo is None:
        raise Refused(ErrorCode.INVALID_MUTATION, "the start time must name its time zone")
    return value.astimezone(UTC)


def _checked(tx_now: datetime, started_text: str, duration_s: int, note: str) -> datetime:
    """The entry's start as a datetime, once its start, duration and note are acceptable
    (the server's clock decides what "the future" is)."""
    started_at = _started_at(started_text)
    problem = entry_problem(started_at, duration_s, note, tx_now)
    if problem is not None:
        raise Refused(ErrorCode.INVALID_MUTATION, problem)
    return started_at


def _entry(conn: Connection, entry_id: str) -> Row | None:
    found = conn.execute(select(T_TIME_ENTRIES).where(T_TIME_ENTRIES.c.id == entry_id))
    row = found.mappings().first()
    return None if row is None else dict(row)


def _ticket_of(tx: StoreTx, entry_id: str) -> tuple[Row, Row]:
    """The entry and its ticket, if the actor may see the ticket; else ``not_found``."""
    entry = _entry(tx.conn, entry_id)
    if entry is None:
        raise Refused(ErrorCode.NOT_FOUND, "that time entry no longer exists")
    ticket = tx.conn.execute(select(T_TICKETS).where(T_TICKETS.c.id == entry["ticket_id"]))
    row = ticket.mappings().first()
    if row is None or not TICKET.sight.allows(tx.viewer, row):
        raise Refused(ErrorCode.NOT_FOUND, "that time entry no longer exists")
    return entry, dict(row)


def _may_change(tx: StoreTx, entry: Row) -> None:
    if entry["agent_id"] != tx.viewer.id and not tx.viewer.sees_everything:
        raise Refused(
            ErrorCode.FORBIDDEN,
            "you can change only your own time entries; a supervisor can correct a colleague's",
        )


def _log(tx: StoreTx, entry_id: str, ticket: Row, fields: list[str]) -> None:
    data = load(tx.conn, "time_entry", entry_id)
    audience = TICKET.sight.audience(ticket)
    tx.log("time_entry", entry_id, data=data, fields=fields, audience=audience)


def agents_only(actor: Actor) -> bool:
    """Authorization: time is an agent's own; the server's writers log none."""
    return not actor.is_server


# ---- on the server -------------------------------------------------------------------------


def time_entry_add(tx: StoreTx, args: TimeEntryAddArgs) -> Row:
    # Time logged (offline, perhaps) on a ticket merged since was spent on the one kept.
    ticket = visible_ticket(tx, surviving_ticket(tx, args.ticket_id), lock=False)
    started_at = _checked(tx.now, args.started_at, args.duration_s, args.note)
    if _entry(tx.conn, args.id) is not None:
        raise id_taken(args.id)
    if tx.conn.execute(select(T_AGENTS.c.id).where(T_AGENTS.c.id == tx.viewer.id)).first() is None:
        raise Refused(ErrorCode.FORBIDDEN, "time is logged by agents only")
    tx.conn.execute(
        insert(T_TIME_ENTRIES).values(
            id=args.id,
            ticket_id=ticket["id"],
            agent_id=tx.viewer.id,
            started_at=started_at,
            duration_s=args.duration_s,
            note=args.note.strip(),
            source=args.source,
            created_at=tx.now,
            updated_at=tx.now,
        )
    )
    _log(tx, args.id, ticket, ["*"])
    return {"time_entry_id": args.id}


def time_entry_edit(tx: StoreTx, args: TimeEntryEditArgs) -> Row:
    entry, ticket = _ticket_of(tx, args.id)
    _may_change(tx, entry)
    started_at = _checked(tx.now, args.started_at, args.duration_s, args.note)
    values = {"started_at": started_at, "duration_s": args.duration_s, "note": args.note.strip()}
    changed = sorted(k for k, v in values.items() if entry[k] != v)
    if not changed:
        return {"time_entry_id": args.id, "changed": []}
    tx.conn.execute(
        update(T_TIME_ENTRIES)
        .where(T_TIME_ENTRIES.c.id == args.id)
        .values(**values, updated_at=tx.now)
    )
    _log(tx, args.id, ticket, changed)
    return {"time_entry_id": args.id, "changed": changed}


def time_entry_delete(tx: StoreTx, args: TimeEntryDeleteArgs) -> Row:
    entry, ticket = _ticket_of(tx, args.id)
    _may_change(tx, entry)
    tx.conn.execute(delete(T_TIME_ENTRIES).where(T_TIME_ENTRIES.c.id == args.id))
    tx.log("time_entry", args.id, data=None, fields=[], audience=TICKET.sight.audience(ticket))
    return {"time_entry_id": args.id}


# ---- on the workstation: what the agent sees before the server answers -----------------------


def time_entry_add_locally(tx: CacheTx, args: TimeEntryAddArgs) -> None:
    """The new entry at once (offline too); a refusal takes it out again."""
    found = tx.conn.execute(select(T_TICKETS.c.id).where(T_TICKETS.c.id == args.ticket_id))
    if found.first() is None:
        raise NotInCache("ticket", args.ticket_id)
    tx.conn.execute(
        insert(T_TIME_ENTRIES).values(
            id=args.id,
            ticket_id=args.ticket_id,
            agent_id=tx.agent_id,
            started_at=datetime.fromisoformat(args.started_at),
            duration_s=args.duration_s,
            note=args.note.strip(),
            source=args.source,
            created_at=tx.now,
            updated_at=tx.now,
        )
    )
    tx.touch("time_entry", args.id, args.ticket_id)


def time_entry_add_refused(tx: CacheTx, args: TimeEntryAddArgs) -> None:
    """Refused: the server never had the entry, so neither may the cache (the refusal keeps
    what was typed, for the agent to review)."""
    if tx.queued_after:
        return
    tx.conn.execute(delete(T_TIME_ENTRIES).where(T_TIME_ENTRIES.c.id == args.id))
    tx.touch("time_entry", args.id, args.ticket_id)


def time_entry_edit_locally(tx: CacheTx, args: TimeEntryEditArgs) -> None:
    """The new values at once; the ones they replaced are the base a refusal restores."""
    entry = _entry(tx.conn, args.id)
    if entry is None:
        raise NotInCache("time_entry", args.id)
    current = to_wire("time_entry", entry)
    tx.patch = {
        "started_at": datetime.fromisoformat(args.started_at).astimezone(UTC).isoformat(),
        "duration_s": args.duration_s,
        "note": args.note.strip(),
    }
    tx.base = {k: current[k] for k in tx.patch}
    values = from_wire("time_entry", tx.patch)
    tx.conn.execute(update(T_TIME_ENTRIES).where(T_TIME_ENTRIES.c.id == args.id).values(**values))
    tx.touch("time_entry", args.id, entry["ticket_id"])


def time_entry_delete_locally(tx: CacheTx, args: TimeEntryDeleteArgs) -> None:
    """Gone at once; the entry is kept in the base for a refusal to put back: whole, and its
    editable fields on their own too, so that an edit queued before and refused first hands
    on the server's values for them (the cache gives a refused change's base to the later
    changes of the record sharing its keys)."""
    entry = _entry(tx.conn, args.id)
    if entry is None:
        raise NotInCache("time_entry", args.id)
    previous = to_wire("time_entry", entry)
    tx.base = {"previous": previous, **{k: previous[k] for k in EDITABLE}}
    tx.conn.execute(delete(T_TIME_ENTRIES).where(T_TIME_ENTRIES.c.id == args.id))
    tx.touch("time_entry", args.id, entry["ticket_id"])


def time_entry_delete_refused(tx: CacheTx, args: TimeEntryDeleteArgs) -> None:
    """Refused (a colleague's entry, or one the agent may no longer see): the entry comes
    back as it was, unless a later change of it waits (that one decides)."""
    previous = tx.base.get("previous")
    if tx.queued_after or not isinstance(previous, dict):
        return
    ticket_id = previous.get("ticket_id")
    found = tx.conn.execute(select(T_TICKETS.c.id).where(T_TICKETS.c.id == ticket_id)).first()
    if found is None:  # its ticket left the cache meanwhile: nothing to put it back on
        return
    restored = {**previous, **{k: tx.base[k] for k in EDITABLE if k in tx.base}}
    upsert_many(tx.conn, "time_entry", [restored])
    tx.touch("time_entry", args.id, str(ticket_id))


KINDS = (TIME_ENTRY,)
MUTATIONS = (
    Mutation(
        "time_entry.add",
        TimeEntryAddArgs,
        time_entry_add,
        kind="time_entry",
        refusal="Time entry",
        allowed=agents_only,
        denied="time is logged by agents only",
        subject=lambda a: a.id,
        optimistic=time_entry_add_locally,
        undo=time_entry_add_refused,
    ),
    Mutation(
        "time_entry.edit",
        TimeEntryEditArgs,
        time_entry_edit,
        kind="time_entry",
        refusal="Time entry change",
        subject=lambda a: a.id,
        optimistic=time_entry_edit_locally,
    ),
    Mutation(
        "time_entry.delete",
        TimeEntryDeleteArgs,
        time_entry_delete,
        kind="time_entry",
        refusal="Time entry deletion",
        subject=lambda a: a.id,
        optimistic=time_entry_delete_locally,
        undo=time_entry_delete_refused,
    ),
)

__all__ = ["KINDS", "MAX_NOTE_CHARS", "MUTATIONS", "TIME_ENTRY"]
