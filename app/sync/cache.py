"""The workstation's local cache: replicated rows, outbox, cursor — one SQLite file.

Everything here is synchronous and runs on the engine's single database thread.  Server
changes and the cursor are written in one transaction; a local change and its outbox row are
written in one transaction.  Pending local changes are re-applied on top of every server
change to the same record, so the agent never sees their own edit flicker back.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from sqlalchemy import (
    Connection,
    Engine,
    Table,
    column,
    delete,
    func,
    insert,
    select,
    text,
    update,
)
from sqlalchemy import table as table_clause

from app.domain import wire
from app.domain.drafts import replaced_draft
from app.domain.kinds import KeepWithParent, Kind
from app.domain.mutation import CacheTx
from app.domain.registry import DOMAIN
from app.models.base import utcnow
from app.models.entities import draft_id
from app.models.sqlite import SYNCHRONOUS, WRITE, sqlite_engine
from app.models.tables import T_DRAFTS, T_MESSAGES
from app.sync.cache_tables import T_FETCH, T_OUTBOX, T_REFUSALS, T_STATE
from app.sync.notice import ChangeNotice, Touched
from app.sync.protocol import ProtocolError
from app.sync.search_index import create_search_schema, drop_search_schema

log = logging.getLogger(__name__)

# Bump when the cache's tables change; an older cache is rebuilt from the server, keeping
# its outbox and drafts (they hold work the server has not seen yet).
# 2: the outbox lost clears_draft; 3: the desk's search index and ticket_activity
# (app/sync/search_index.py), whose triggers must see every row from the start.
# 5: customers and tickets carry merged_into (merges); attachments (app/domain/attachments.py);
#    calls and dispositions (the phone desk); mentions; workspace
#    settings, shared phone numbers, every customer kept (indexed by name and identity value); time
#    entries (app/domain/time_entries.py).
SCHEMA_VERSION = 5


def cache_tables() -> list[Table]:
    """The cache's tables: every declared kind's with its aggregates', and the cache's own."""
    kinds = list(wire.ENTITIES.values())
    children = [a.table for kind in kinds for a in kind.aggregates]
    return [*(kind.table for kind in kinds), *children, T_OUTBOX, T_REFUSALS, T_STATE, T_FETCH]


# Kept across a rebuild: unsent work.
PRESERVED = (T_OUTBOX, T_DRAFTS, T_REFUSALS)
# Preserved tables that an older schema called otherwise (4: "rejections" became "refusals").
FORMER_NAMES = {"refusals": "rejections"}
# The signed-in agent too: offline work right after an upgrade needs to know who is typing.
PRESERVED_STATE = ("device_id", "next_mutation_id", "agent_id")

# Execution options for transactions that hold only what the server can send again: received
# pages with their cursor, bootstrap pages, fetched tickets.  They commit with
# synchronous=NORMAL, without an fsync each.  A power cut may lose the last of them, but in
# WAL mode never tears one, never corrupts the file and never reorders: a lost page is lost
# together with its cursor, so the next connection receives it again.  The agent's own work
# (local changes, outbox, settling answers) stays FULL, and a FULL commit syncs the whole
# WAL, including every NORMAL transaction before it.
REFETCHABLE = {SYNCHRONOUS: "NORMAL"}


def open_cache(path: Path) -> Engine:
    """Open the cache at ``path``, creating or rebuilding it as its schema version requires."""
    path.parent.mkdir(parents=True, exist_ok=True)
    # FULL: an acknowledged local write (a reply typed offline) must survive a power cut
    # (transactions with REFETCHABLE relax this).
    # A catch-up writes thousands of rows per transaction, into indexes keyed by random ids:
    # with SQLite's default 2 MiB page cache and 4 MiB checkpoints, applying 100k changes
    # spent about a third of its time re-reading index pages and checkpointing.
    engine = sqlite_engine(
        f"sqlite:///{path}",
        synchronous="FULL",
        foreign_keys=False,
        cache_kib=16 * 1024,
        checkpoint_pages=4000,
    )
    engine = engine.execution_options(**WRITE)
    with engine.begin() as conn:
        version = conn.exec_driver_sql("PRAGMA user_version").scalar() or 0
        existing = set(
            conn.exec_driver_sql("SELECT name FROM sqlite_master WHERE type='table'").scalars()
        )
        if version != SCHEMA_VERSION and existing:
            _rebuild(conn, existing, version)
        _create_tables(conn, cache_tables())
        create_search_schema(conn)
        conn.exec_driver_sql(f"PRAGMA user_version={SCHEMA_VERSION}")
        if get_state(conn, "device_id") is None:
            set_state(conn, "device_id", str(uuid.uuid4()))
            set_state(conn, "next_mutation_id", 1)
    return engine


def _rebuild(conn: Connection, existing: set[str], version: int) -> None:
    """Drop a cache of another schema version, keeping unsent work; the next sync refills it."""
    log.warning("cache schema %s != %s: rebuilding from the server", version, SCHEMA_VERSION)
    kept: dict[str, list[dict[str, Any]]] = {}
    for table in PRESERVED:
        name = table.name if table.name in existing else FORMER_NAMES.get(table.name, "")
        if name in existing:
            cols = {
                c["name"] for c in conn.exec_driver_sql(f'PRAGMA table_info("{name}")').mappings()
            }
            # Read under the name it has, with the columns' own types (JSON, datetimes).
            old = table_clause(
                name, *(column(c.name, c.type) for c in table.columns if c.name in cols)
            )
            kept[table.name] = [dict(r) for r in conn.execute(select(old)).mappings()]
    # Each kind's unsent rows too (a reply still queued, a ticket opened here): the outbox
    # sends them again, but the agent must go on seeing them, or they would write them twice.
    tables = {table.name: table for table in PRESERVED}
    for kind in list(wire.ENTITIES.values()):
        table = kind.table
        if kind.unsent is None or table.name in tables or table.name not in existing:
            continue
        cols = {
            c["name"] for c in conn.exec_driver_sql(f'PRAGMA table_info("{table.name}")').mappings()
        }
        wanted = [c for c in table.columns if c.name in cols]
        unsent = conn.execute(select(*wanted).where(kind.unsent(table))).mappings()
        kept[table.name] = [dict(r) for r in unsent]
        tables[table.name] = table
    state = {}
    if "sync_state" in existing:
        for key in PRESERVED_STATE:
            state[key] = conn.execute(select(T_STATE.c.value).where(T_STATE.c.key == key)).scalar()
    # The FTS tables first: dropping one drops its shadow tables, which are in ``existing``
    # too and must not be dropped on their own before it.
    drop_search_schema(conn)
    for name in existing:
        if not name.startswith("sqlite_"):
            conn.exec_driver_sql(f'DROP TABLE IF EXISTS "{name}"')
    _create_tables(conn, cache_tables())
    create_search_schema(conn)
    for name, kept_rows in kept.items():
        if kept_rows:
            conn.execute(insert(tables[name]), kept_rows)
    for key, value in state.items():
        if value is not None:
            set_state(conn, key, value)


def _create_tables(conn: Connection, tables: list[Table]) -> None:
    # A declared kind's table need not be on the shared metadata (a test declares its own).
    for table in tables:
        table.create(conn, checkfirst=True)


# ---- sync state ----------------------------------------------------------------------------


def get_state(conn: Connection, key: str, default: Any = None) -> Any:
    value = conn.execute(select(T_STATE.c.value).where(T_STATE.c.key == key)).scalar()
    return default if value is None else value


def set_state(conn: Connection, key: str, value: Any) -> None:
    done = conn.execute(update(T_STATE).where(T_STATE.c.key == key).values(value=value))
    if done.rowcount == 0:
        conn.execute(insert(T_STATE).values(key=key, value=value))


# ---- applying server changes ---------------------------------------------------------------


def apply_changes(
    conn: Connection, changes: list[dict[str, Any]], cursor: int | None
) -> ChangeNotice:
    """Apply one page of server changes (and the cursor) — the caller's transaction.

    The result is the same as applying the changes one by one, in order, but each entity
    kind costs one DELETE and one UPSERT statement for the whole page.  Returns what changed,
    with the tickets it belongs to, for the observer.
    """
    touched = Touched()
    # Per entity, the last upsert of each id (dict order = order of last change) and every
    # id deleted at some point.  Deletes run first, then upserts: an id deleted and then
    # upserted again ends up with its final row, as it would one change at a time.
    upserts: dict[str, dict[str, dict[str, Any]]] = {kind: {} for kind in wire.ENTITIES}
    deletes: dict[str, set[str]] = {kind: set() for kind in wire.ENTITIES}
    gained: list[str] = []
    for change in changes:
        entity, entity_id = change["entity"], change["id"]
        if entity not in wire.ENTITIES:
            log.warning("ignoring change of unknown entity %r", entity)
            continue
        rows = upserts[entity]
        rows.pop(entity_id, None)
        kind = wire.ENTITIES[entity]
        if change["op"] == "delete":
            deletes[entity].add(entity_id)
            _forget_children_of(upserts, entity, entity_id)
            touched.add(entity, entity_id, entity_id if kind.on_ticket == "id" else None)
        else:
            data = change["data"]
            rows[entity_id] = data
            touched.add(entity, entity_id, _ticket_of_row(kind, data))
        if change.get("gained"):
            gained.append(entity_id)
    for entity, ids in deletes.items():
        if ids and wire.ENTITIES[entity].on_ticket not in (None, "id"):
            # A delete carries no row: ask the cache which ticket it was on while it is there.
            touched_on_tickets(conn, touched, entity, ids)
        wire.delete_many(conn, entity, list(ids))
    for entity, by_id in upserts.items():
        wire.upsert_many(conn, entity, list(by_id.values()))
    if gained:
        conn.execute(insert(T_FETCH).prefix_with("OR IGNORE"), [{"ticket_id": i} for i in gained])
    if touched.entities:
        for entity in _pending_entities(conn) & touched.entities.keys():
            reapply_pending(conn, entity, touched.entities[entity])
    if "draft" in touched.entities:
        reapply_pending_drafts(conn, touched.entities["draft"])
    if cursor is not None:
        advance_cursor(conn, cursor)
    return touched.notice()


def _ticket_of_row(kind: Kind, data: dict[str, Any]) -> str | None:
    """The ticket a replicated row is on (a ticket is its own), if any."""
    ticket_id = data.get(kind.on_ticket) if kind.on_ticket else None
    return ticket_id if isinstance(ticket_id, str) else None


def touched_on_tickets(conn: Connection, touched: Touched, entity: str, ids: Iterable[str]) -> None:
    """Name the tickets that rows ``ids`` of a kind on tickets (messages, drafts) are on now."""
    kind = wire.ENTITIES[entity]
    if kind.on_ticket is None:
        return
    table = kind.table
    for chunk in _chunks(list(ids)):
        for row_id, ticket_id in conn.execute(
            select(table.c.id, table.c[kind.on_ticket]).where(table.c.id.in_(chunk))
        ):
            touched.add(entity, row_id, ticket_id)


def _forget_children_of(
    upserts: dict[str, dict[str, dict[str, Any]]], entity: str, parent: str
) -> None:
    """Drop a page's earlier upserts of rows kept with a row the page then deletes (a ticket's
    messages): one change at a time, deleting the parent would have removed them."""
    for child in wire.ENTITIES.values():
        if child.parent != entity or not isinstance(child.keep, KeepWithParent):
            continue
        rows = upserts[child.name]
        doomed = [i for i, data in rows.items() if data.get(child.keep.column) == parent]
        for child_id in doomed:
            del rows[child_id]


def advance_cursor(conn: Connection, cursor: int) -> None:
    """Move the cursor forward (never back: live pages may trail a catch-up page)."""
    if cursor > int(get_state(conn, "cursor", 0)):
        set_state(conn, "cursor", cursor)


def reapply_pending_drafts(conn: Connection, draft_ids: set[str]) -> None:
    """Lay the agent's unacknowledged draft saves and discards back over server rows.

    The server echoes each draft save to all of the agent's workstations, this one included;
    an echo of an older save must not overwrite newer text still in the outbox (a restart then
    would bring back the older text, and the agent would type on from it).

    Before that, each waiting save's base becomes the server's draft just received: that is
    what a refusal of the save puts back (`app.domain.drafts.draft_save_refused`), also when
    the agent's other workstation saved over the draft this one replaced.
    """
    pending = conn.execute(
        select(T_OUTBOX.c.mutation_id, T_OUTBOX.c.name, T_OUTBOX.c.args, T_OUTBOX.c.created_at)
        .where(T_OUTBOX.c.entity == "draft")
        .order_by(T_OUTBOX.c.mutation_id)
    ).all()
    agent_id = get_state(conn, "agent_id")
    if not pending or agent_id is None:
        return
    for mutation_id, name, args, _at in pending:
        did = draft_id(agent_id, args["ticket_id"])
        if name == "draft.save" and did in draft_ids:
            conn.execute(
                update(T_OUTBOX)
                .where(T_OUTBOX.c.mutation_id == mutation_id)
                .values(base=replaced_draft(conn, did))
            )
    applied = _server_applied(conn)
    latest = {
        draft_id(agent_id, args["ticket_id"]): (name, args, at)
        for mutation_id, name, args, at in pending
        if mutation_id > applied
    }
    for did, (name, args, at) in latest.items():
        if did not in draft_ids:
            continue
        conn.execute(delete(T_DRAFTS).where(T_DRAFTS.c.id == did))
        if name == "draft.save":
            conn.execute(
                insert(T_DRAFTS).values(
                    id=did,
                    agent_id=agent_id,
                    ticket_id=args["ticket_id"],
                    kind=args["kind"],
                    body=args["body"],
                    updated_at=at,
                )
            )


def reapply_pending(conn: Connection, entity: str, record_ids: Iterable[str]) -> None:
    """Lay the agent's unacknowledged field changes of records of one kind (a ticket's
    status, any kind's fields) back over fresh server rows."""
    ids = list(record_ids)
    kind = wire.ENTITIES.get(entity)
    if not ids or kind is None:
        return
    table = kind.table
    applied = _server_applied(conn)
    for chunk in _chunks(ids):
        pending = conn.execute(
            select(T_OUTBOX.c.entity_id, T_OUTBOX.c.patch, T_OUTBOX.c.mutation_id)
            .where(T_OUTBOX.c.entity == entity, T_OUTBOX.c.entity_id.in_(chunk))
            .order_by(T_OUTBOX.c.mutation_id)
        ).all()
        for entity_id, patch, mutation_id in pending:
            if not patch:
                continue
            server_row = (
                conn.execute(select(table).where(table.c.id == entity_id)).mappings().first()
            )
            if server_row is None:
                continue
            # Refresh the base to the server's value: that is what a refusal restores.
            current = wire.to_wire(entity, server_row)
            base = {k: current[k] for k in patch if k in current}
            conn.execute(
                update(T_OUTBOX).where(T_OUTBOX.c.mutation_id == mutation_id).values(base=base)
            )
            if mutation_id > applied:
                values = wire.from_wire(entity, patch)
                conn.execute(update(table).where(table.c.id == entity_id).values(**values))


def _server_applied(conn: Connection) -> int:
    """The highest mutation id the server had processed when this connection began (its
    ``welcome``).  Those mutations' effects are already in the change log: laying them over
    newer server rows again would undo what others did since, until a full resync."""
    return int(get_state(conn, "server_applied_through", 0))


def _pending_entities(conn: Connection) -> set[str]:
    """The kinds with changes in the outbox: usually none, one cheap query per page."""
    return set(conn.execute(select(T_OUTBOX.c.entity).distinct()).scalars())


def finish_bootstrap(
    conn: Connection, seen: dict[str, set[str]], cursor: int, access_version: int
) -> ChangeNotice:
    """Drop cached rows the bootstrap did not mention (no longer visible), then set the cursor.

    Returns what was dropped, with the tickets it was on.
    """
    dropped = Touched()
    for entity, kind in list(wire.ENTITIES.items()):
        keep = seen.get(entity, set())
        table = kind.table
        on_ticket = table.c[kind.on_ticket] if kind.on_ticket else table.c.id
        stale = {i: t for i, t in conn.execute(select(table.c.id, on_ticket)) if i not in keep}
        if kind.unsent is not None and stale:
            # The agent's own work not yet accepted (a queued reply, a draft): never dropped.
            own = set(conn.execute(select(table.c.id).where(kind.unsent(table))).scalars())
            stale = {i: t for i, t in stale.items() if i not in own}
        for entity_id, ticket_id in stale.items():
            dropped.add(entity, entity_id, ticket_id if kind.on_ticket else None)
        wire.delete_many(conn, entity, list(stale))
    set_state(conn, "cursor", cursor)
    set_state(conn, "access_version", access_version)
    return dropped.notice()


# ---- local changes and the outbox ----------------------------------------------------------


def next_mutation_id(conn: Connection) -> int:
    value = int(get_state(conn, "next_mutation_id", 1))
    set_state(conn, "next_mutation_id", value + 1)
    return value


def enqueue(
    conn: Connection,
    name: str,
    args: dict[str, Any],
    entity: str,
    entity_id: str,
    patch: dict[str, Any] | None = None,
    base: dict[str, Any] | None = None,
) -> int:
    mutation_id = next_mutation_id(conn)
    conn.execute(
        insert(T_OUTBOX).values(
            mutation_id=mutation_id,
            name=name,
            args=args,
            entity=entity,
            entity_id=entity_id,
            patch=patch or {},
            base=base or {},
            transmitted=False,
            created_at=utcnow(),
        )
    )
    return mutation_id


def coalesce_draft(conn: Connection, ticket_id: str, args: dict[str, Any]) -> bool:
    """Fold a draft save into an unsent one for the same ticket; False if there is none.

    Only into the ticket's *last* draft operation: folding past a queued discard would
    replay the save before the discard and lose the newer text.
    """
    last = conn.execute(
        select(T_OUTBOX.c.mutation_id, T_OUTBOX.c.name, T_OUTBOX.c.transmitted)
        .where(T_OUTBOX.c.entity == "draft", T_OUTBOX.c.entity_id == ticket_id)
        .order_by(T_OUTBOX.c.mutation_id.desc())
        .limit(1)
    ).first()
    if last is None or last.name != "draft.save" or last.transmitted:
        return False
    # created_at moves too: it is when this text was typed (see reapply_pending_drafts).
    conn.execute(
        update(T_OUTBOX)
        .where(T_OUTBOX.c.mutation_id == last.mutation_id)
        .values(args=args, created_at=utcnow())
    )
    return True


def outbox_batch(conn: Connection, after: int, limit: int = 200) -> list[dict[str, Any]]:
    rows = conn.execute(
        select(T_OUTBOX.c.mutation_id, T_OUTBOX.c.name, T_OUTBOX.c.args)
        .where(T_OUTBOX.c.mutation_id > after)
        .order_by(T_OUTBOX.c.mutation_id)
        .limit(limit)
    ).mappings()
    out = [dict(r) for r in rows]
    if out:
        conn.execute(
            update(T_OUTBOX)
            .where(T_OUTBOX.c.mutation_id.in_([r["mutation_id"] for r in out]))
            .values(transmitted=True)
        )
    return out


def outbox_count(conn: Connection) -> int:
    return int(conn.execute(select(func.count()).select_from(T_OUTBOX)).scalar() or 0)


def changes_waiting(conn: Connection) -> int:
    """The changes the agent made that the server has not answered yet, counted as the agent
    made them: a reply is one change, though its send also queues the discard of its draft,
    and the draft saves that go with typing are no change of the agent's at all.  (What the
    status bar says is waiting; `outbox_count` is what the sender still has to send.)"""
    return int(
        conn.execute(
            select(func.count()).select_from(T_OUTBOX).where(T_OUTBOX.c.entity != "draft")
        ).scalar()
        or 0
    )


def acked_through(conn: Connection) -> int:
    """The highest mutation id below which every answer has been processed."""
    lowest = conn.execute(select(func.min(T_OUTBOX.c.mutation_id))).scalar()
    if lowest is None:
        return int(get_state(conn, "next_mutation_id", 1)) - 1
    return int(lowest) - 1


def settle(conn: Connection, answer: dict[str, Any]) -> dict[str, Any] | None:
    """Process an ``ack`` or ``reject``; returns the outbox row it settled (None if unknown)."""
    mutation_id = answer["mutation_id"]
    if answer["type"] == "ack":
        return settle_acks(conn, [mutation_id])[0]
    row = (
        conn.execute(select(T_OUTBOX).where(T_OUTBOX.c.mutation_id == mutation_id))
        .mappings()
        .first()
    )
    if row is None:
        return None  # answered before (a replay); nothing left to do
    entry = dict(row)
    conn.execute(delete(T_OUTBOX).where(T_OUTBOX.c.mutation_id == mutation_id))
    entry["undone"] = undo_refused(conn, entry)
    conn.execute(
        insert(T_REFUSALS).values(
            mutation_id=mutation_id,
            name=entry["name"],
            args=entry["args"],
            code=answer.get("code", ""),
            message=answer.get("message", ""),
            current=answer.get("current"),
            created_at=utcnow(),
        )
    )
    return entry


def settle_acks(conn: Connection, mutation_ids: list[int]) -> list[dict[str, Any] | None]:
    """Process a run of ``ack``s: for each, the outbox row it settled (None if unknown).

    The same as ``settle`` for each in turn, but in three statements for the whole run.
    """
    entries: dict[int, dict[str, Any]] = {}
    for chunk in _chunks(sorted(set(mutation_ids))):
        rows = conn.execute(select(T_OUTBOX).where(T_OUTBOX.c.mutation_id.in_(chunk)))
        entries.update((r["mutation_id"], dict(r)) for r in rows.mappings())
    for chunk in _chunks(list(entries)):
        conn.execute(delete(T_OUTBOX).where(T_OUTBOX.c.mutation_id.in_(chunk)))
    sent = [m for e in entries.values() if (m := _message_of(e))]
    for chunk in _chunks(sent):
        conn.execute(
            update(T_MESSAGES)
            .where(T_MESSAGES.c.id.in_(chunk), T_MESSAGES.c.delivery_state == "queued")
            .values(delivery_state="sent")
        )
    # An id answered twice (a replay) is settled by its first answer only.
    return [entries.pop(i, None) for i in mutation_ids]


def undo_refused(conn: Connection, entry: dict[str, Any]) -> list[tuple[str, str, str | None]]:
    """Take back what a refused change wrote to the cache, as its declaration says: the
    ``base`` its optimistic apply recorded is restored on its record, whatever the kind,
    later queued changes of that record are laid over it again and take it as their base;
    then its mutation's own ``undo`` runs (a queued message marked failed, a new ticket
    removed).  Returns what it wrote, as ``CacheTx.touched``; the text stays in the refusal
    for the agent to review.

    The undo sees the base too: a mutation filed under another record's id (a draft, under
    its ticket's) records there, in its own form, what its undo puts back; none of its keys
    are the kind's columns, so nothing is restored here on a row of the filing id."""
    entity, entity_id = entry["entity"], entry["entity_id"]
    kind = wire.ENTITIES.get(entity)
    values = wire.from_wire(entity, entry["base"]) if kind is not None and entry["base"] else {}
    if kind is not None and values:
        conn.execute(update(kind.table).where(kind.table.c.id == entity_id).values(**values))
        reapply_pending(conn, entity, [entity_id])
    _hand_on_base(conn, entry)
    tx = CacheTx(
        conn,
        str(get_state(conn, "agent_id", "")),
        utcnow(),
        base=dict(entry["base"] or {}),
        queued_after=_queued(conn, entity, entity_id),
    )
    mutation = DOMAIN.mutations.get(entry["name"])
    if mutation is None or mutation.undo is None:
        return tx.touched
    try:
        args = DOMAIN.parse(entry["name"], entry["args"])
    except ProtocolError:
        # Queued by an older version whose arguments this one no longer reads: the server
        # changed nothing, and the refusal keeps the text; only the cache's copy lingers.
        log.warning("cannot undo refused %s: its arguments are not understood", entry["name"])
        return tx.touched
    mutation.undo(tx, args)
    return tx.touched


def _hand_on_base(conn: Connection, entry: dict[str, Any]) -> None:
    """Give a refused change's base to the changes of its record still waiting: they
    recorded theirs over its optimistic values, which the server never had.  Each key goes
    to the first of them that recorded it (a field changed again; a draft saved again,
    whose base is the whole draft it replaced)."""
    remaining = dict(entry["base"] or {})
    if not remaining:
        return
    later = conn.execute(
        select(T_OUTBOX.c.mutation_id, T_OUTBOX.c.base)
        .where(
            T_OUTBOX.c.entity == entry["entity"],
            T_OUTBOX.c.entity_id == entry["entity_id"],
            T_OUTBOX.c.mutation_id > entry["mutation_id"],
        )
        .order_by(T_OUTBOX.c.mutation_id)
    ).all()
    for mutation_id, base in later:
        shared = remaining.keys() & (base or {}).keys()
        if shared:
            handed = {k: remaining.pop(k) for k in shared}
            conn.execute(
                update(T_OUTBOX)
                .where(T_OUTBOX.c.mutation_id == mutation_id)
                .values(base={**base, **handed})
            )
        if not remaining:
            return


def _queued(conn: Connection, entity: str, entity_id: str) -> bool:
    """Whether changes of that record still wait in the outbox."""
    later = conn.execute(
        select(T_OUTBOX.c.mutation_id)
        .where(T_OUTBOX.c.entity == entity, T_OUTBOX.c.entity_id == entity_id)
        .limit(1)
    ).first()
    return later is not None


def _message_of(entry: dict[str, Any]) -> str | None:
    """The id of the message an outbox entry adds, if it adds one."""
    if entry["name"] not in ("message.add", "ticket.create"):
        return None
    message_id: str | None = entry["args"].get("message", {}).get("id")
    return message_id


def _chunks(values: list[Any], size: int = 500) -> Iterable[list[Any]]:
    for start in range(0, len(values), size):
        yield values[start : start + size]


def draft_work_queued(conn: Connection, ticket_id: str) -> bool:
    """Whether a save or discard of the agent's draft on that ticket waits in the outbox
    (drafts are queued under their ticket's id)."""
    return _queued(conn, "draft", ticket_id)


def pending_fetches(conn: Connection) -> list[str]:
    return list(conn.execute(select(T_FETCH.c.ticket_id)).scalars())


def fetched(conn: Connection, bundle: dict[str, Any]) -> ChangeNotice:
    """Store a ticket fetched on demand (with its thread and customer); returns what changed."""
    ticket_id = bundle["ticket"]["id"]
    touched = Touched()
    if bundle.get("customer"):
        wire.upsert_many(conn, "customer", [bundle["customer"]])
        touched.add("customer", bundle["customer"]["id"])
    wire.upsert_many(conn, "ticket", [bundle["ticket"]])
    wire.upsert_many(conn, "message", bundle["messages"])
    kept = bundle.get("kept")
    for entity, rows in kept.items() if isinstance(kept, dict) else ():
        if entity in wire.ENTITIES and isinstance(rows, list):
            wire.upsert_many(conn, entity, rows)
            touched.add_many(entity, (r["id"] for r in rows), ticket_id)
    reapply_pending(conn, "ticket", [ticket_id])
    conn.execute(delete(T_FETCH).where(T_FETCH.c.ticket_id == ticket_id))
    touched.add("ticket", ticket_id, ticket_id)
    touched.add_many("message", (m["id"] for m in bundle["messages"]), ticket_id)
    return touched.notice()


def checkpoint(conn: Connection) -> None:
    conn.execute(text("PRAGMA wal_checkpoint(PASSIVE)"))
