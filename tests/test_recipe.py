"""The recipes of docs/architecture.md ("Add a kind", "Add a mutation"), proven by following
them here, in this module alone: no core file knows about callbacks.

A *callback* is a promise to phone a customer back, kept for a group (or an agent).  Declared
below, it must replicate end to end (server store -> change log -> a colleague's cache live ->
a catch-up after reconnect -> a newcomer's bootstrap), be seen only by whom its sight rule
names, and its mutation must be authorized and refused like any other.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import (
    Column,
    Connection,
    Engine,
    MetaData,
    String,
    Table,
    Text,
    insert,
    select,
    update,
)

from app.domain import wire
from app.domain.accounts import check_group
from app.domain.kinds import Kind
from app.domain.mutation import CacheTx, Mutation, NotInCache, Refused, StoreTx
from app.domain.registry import DOMAIN
from app.domain.sight import Staff
from app.models.base import UTCDateTime
from app.sync.engine import SyncEngine
from app.sync.protocol import ErrorCode, Id, WireModel
from tests.world import eventually, make_store, running_server, workstation

# 1. The table (a real kind declares it with the data model and gets an Alembic migration;
#    this one lives on its own metadata so it never reaches the real schema).
CALLBACKS = Table(
    "callbacks",
    MetaData(),
    Column("id", String(36), primary_key=True),
    Column("group_id", String(36), nullable=False),
    Column("agent_id", String(36)),
    Column("phone", String(32), nullable=False),
    Column("note", Text, nullable=False),
    Column("due_at", UTCDateTime, nullable=False),
)

# 2. The kind: who sees a callback (its group's members, its agent, supervisors), and where it
#    comes in a bootstrap.  The cache keeps every visible one (the default).
CALLBACK = Kind("callback", CALLBACKS, Staff(group="group_id", agent="agent_id"), bootstrap=900)


# 3. The mutation: its arguments, its rule, its apply.
class ScheduleArgs(WireModel):
    id: Id
    group_id: Id
    phone: str
    note: str = ""
    due_at: str


def schedule(tx: StoreTx, args: ScheduleArgs) -> dict[str, Any]:
    check_group(tx, args.group_id)
    if not (tx.viewer.sees_everything or args.group_id in tx.viewer.group_ids):
        raise Refused(ErrorCode.FORBIDDEN, "you may schedule callbacks for your groups only")
    row = {
        "id": args.id,
        "group_id": args.group_id,
        "agent_id": tx.viewer.id,
        "phone": args.phone,
        "note": args.note,
        "due_at": wire.from_wire("callback", {"due_at": args.due_at})["due_at"],
    }
    tx.conn.execute(insert(CALLBACKS), row)
    data = wire.to_wire("callback", row)
    tx.log("callback", args.id, data=data, fields=["*"], audience=CALLBACK.sight.audience(row))
    return {"callback_id": args.id}


SCHEDULE = Mutation(
    "callback.schedule",
    ScheduleArgs,
    schedule,
    kind="callback",
    refusal="Callback",
    subject=lambda a: a.id,
)


# 4. A mutation the agent sees at once: its optimistic apply records the base it replaced, and
#    nothing else is needed for a refusal to put it back (the cache restores any kind's base).
class RescheduleArgs(WireModel):
    id: Id
    due_at: str


def _callback(conn: Connection, callback_id: str) -> dict[str, Any] | None:
    row = conn.execute(select(CALLBACKS).where(CALLBACKS.c.id == callback_id)).mappings().first()
    return None if row is None else dict(row)


def reschedule(tx: StoreTx, args: RescheduleArgs) -> dict[str, Any]:
    row = _callback(tx.conn, args.id)
    if row is None or not CALLBACK.sight.allows(tx.viewer, row):
        raise Refused(ErrorCode.NOT_FOUND, f"callback {args.id} does not exist")
    due_at = wire.from_wire("callback", {"due_at": args.due_at})["due_at"]
    if due_at <= tx.now:  # the server's clock decides: a workstation's may be wrong
        raise Refused(ErrorCode.INVALID_MUTATION, "that time has passed; pick a later one")
    tx.conn.execute(update(CALLBACKS).where(CALLBACKS.c.id == args.id).values(due_at=due_at))
    data = wire.load(tx.conn, "callback", args.id)
    tx.log("callback", args.id, data=data, fields=["due_at"], audience=CALLBACK.sight.audience(row))
    return {"callback_id": args.id}


def reschedule_locally(tx: CacheTx, args: RescheduleArgs) -> None:
    row = _callback(tx.conn, args.id)
    if row is None:
        raise NotInCache("callback", args.id)
    tx.base = {"due_at": wire.to_wire("callback", row)["due_at"]}
    tx.patch = {"due_at": args.due_at}
    values = wire.from_wire("callback", tx.patch)
    tx.conn.execute(update(CALLBACKS).where(CALLBACKS.c.id == args.id).values(**values))
    tx.touch("callback", args.id)


RESCHEDULE = Mutation(
    "callback.reschedule",
    RescheduleArgs,
    reschedule,
    kind="callback",
    refusal="Callback time",
    subject=lambda a: a.id,
    optimistic=reschedule_locally,
)


@pytest.fixture
def declared() -> Iterator[None]:
    with DOMAIN.extended([CALLBACK], [SCHEDULE, RESCHEDULE]):
        yield


def _args(callback_id: str, group_id: str) -> dict[str, Any]:
    return {
        "id": callback_id,
        "group_id": group_id,
        "phone": "+442071838750",
        "note": "Call back about the refund",
        "due_at": "2026-12-08T09:30:00+00:00",
    }


async def _callbacks(engine: SyncEngine) -> set[str]:
    def ids(conn: Connection) -> set[str]:
        return set(conn.execute(select(CALLBACKS.c.id)).scalars())

    return await engine.read(ids)


def _store(tmp: Path) -> Engine:
    store = make_store(f"sqlite:///{tmp / 'server.db'}")
    CALLBACKS.create(store)
    return store


@pytest.mark.usefixtures("declared")
def test_a_kind_and_mutation_declared_in_a_test_replicate_end_to_end(tmp_path: Path) -> None:
    store = _store(tmp_path)

    async def body() -> None:
        async with running_server(store) as server:
            ada, _ = await workstation(tmp_path, server.url, "ada@example.com")
            lin, _ = await workstation(tmp_path, server.url, "lin@example.com")
            bob, bob_seen = await workstation(tmp_path, server.url, "bob@example.com")
            try:
                # Live: Ada (care) schedules; Lin (care) gets it; Bob (billing) does not.
                await ada.mutate("callback.schedule", _args("cb-1", "g-care"))
                await eventually(lambda: _has(lin, "cb-1"))
                assert await _callbacks(ada) == {"cb-1"}

                # Catch-up: Lin is away while Ada schedules another, then comes back.
                await lin.stop()
                await ada.mutate("callback.schedule", _args("cb-2", "g-care"))
                await ada.wait_drained()
                lin.start()
                await lin.wait_online()
                await eventually(lambda: _has(lin, "cb-2"))

                # Refused: Bob may not schedule for a group he is not in; nothing is stored.
                await bob.mutate("callback.schedule", _args("cb-3", "g-care"))
                await bob.wait_drained()
                assert [(r.name, r.code) for r in bob_seen.refused] == [
                    ("callback.schedule", "forbidden")
                ]
                # Bob also never saw Care's callbacks: sight applied to fan-out and catch-up.
                assert await _callbacks(bob) == set()

                # Bootstrap: a supervisor's first sync brings both.
                sam, _ = await workstation(tmp_path, server.url, "sam@example.com")
                try:
                    assert await _callbacks(sam) == {"cb-1", "cb-2"}
                finally:
                    await sam.close()
            finally:
                for engine in (ada, lin, bob):
                    await engine.close()

    asyncio.run(body())
    with store.connect() as conn:
        assert set(conn.execute(select(CALLBACKS.c.id)).scalars()) == {"cb-1", "cb-2"}


async def _has(engine: SyncEngine, callback_id: str) -> bool:
    return callback_id in await _callbacks(engine)


async def _due(engine: SyncEngine, callback_id: str) -> datetime:
    row = await engine.read(lambda conn: _callback(conn, callback_id))
    assert row is not None
    due_at: datetime = row["due_at"]
    return due_at


@pytest.mark.usefixtures("declared")
def test_a_refused_optimistic_change_of_a_declared_kind_is_taken_back(tmp_path: Path) -> None:
    store = _store(tmp_path)
    now = datetime.now(UTC).replace(microsecond=0)
    planned, past, later = now + timedelta(days=1), now - timedelta(days=1), now + timedelta(days=2)

    async def body() -> None:
        async with running_server(store) as server:
            ada, ada_seen = await workstation(tmp_path, server.url, "ada@example.com")
            lin, _ = await workstation(tmp_path, server.url, "lin@example.com")
            try:
                args = {**_args("cb-1", "g-care"), "due_at": planned.isoformat()}
                await ada.mutate("callback.schedule", args)
                await eventually(lambda: _has(ada, "cb-1"))
                await eventually(lambda: _has(lin, "cb-1"))

                # Ada moves it into the past: she sees it at once; the server refuses it, and
                # her cache is back to the time the server has.
                moved = {"id": "cb-1", "due_at": past.isoformat()}
                await ada.mutate("callback.reschedule", moved)
                assert await _due(ada, "cb-1") == past
                await ada.wait_drained()
                assert [(r.name, r.code) for r in ada_seen.refused] == [
                    ("callback.reschedule", "invalid_mutation")
                ]
                assert await _due(ada, "cb-1") == planned

                # Offline, again; meanwhile Lin moves it to later.  Ada's change is laid over
                # Lin's when it arrives, and its refusal restores Lin's time, not the older one.
                await ada.stop()
                await ada.mutate("callback.reschedule", moved)
                await lin.mutate("callback.reschedule", {"id": "cb-1", "due_at": later.isoformat()})
                await lin.wait_drained()
                ada.start()
                await ada.wait_online()
                await ada.wait_drained()
                assert len(ada_seen.refused) == 2
                assert await _due(ada, "cb-1") == later
            finally:
                await ada.close()
                await lin.close()

    asyncio.run(body())


def test_the_declarations_leave_no_trace_outside_their_block() -> None:
    assert "callback" not in wire.ENTITIES
    with DOMAIN.extended([CALLBACK], [SCHEDULE]):
        assert wire.ENTITIES["callback"] is CALLBACK
        assert DOMAIN.mutations["callback.schedule"] is SCHEDULE
        # The registry keeps bootstrap order: the new kind (900) comes after every other.
        assert list(wire.ENTITIES)[-1] == "callback"
    assert "callback" not in wire.ENTITIES
    assert "callback.schedule" not in DOMAIN.mutations
