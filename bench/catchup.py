"""catchup_100k and bootstrap_100k: a workstation engine meets 100,000 changes.

catchup_100k: an engine syncs a small world, goes away; meanwhile a colleague adds 50,000
notes (each ``message.add`` logs two changes: the message and the ticket's new version, so
100,000 change-log rows).  The first note goes through the server's own mutation handler;
the other 49,999 are bulk-inserted as exactly the rows that handler writes (messages, ticket
versions, change log) -- checked field by field against the real one -- because running 50k
mutations through a server would take most of a minute.  Timed: ``engine.start()`` until
the engine is online (caught up), then the cache is checked against the store.

bootstrap_100k: a fresh engine (cursor 0) joins a store of 10,000 open tickets with 90,000
messages.  Timed the same way.
"""

from __future__ import annotations

import contextlib
import os
import time
import uuid
from datetime import timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, bindparam, func, insert, select, update

from app.domain import wire
from app.domain.tickets import TICKET
from app.models.base import utcnow
from app.models.tables import T_LOG, T_MESSAGES, T_TICKETS
from app.server import replication
from app.server.workstations import register_workstation
from app.sync import queries
from app.sync.engine import SyncEngine
from bench import bare
from bench.common import Bare, Result, temp_dir
from bench.procs import ServerProcess, profile
from bench.world import (
    World,
    build_world,
    create_shared_ticket,
    mint_tokens,
    real_mutation,
)

TARGET_S = 5.0
NOTES = 50_000  # x 2 change rows
CATCHUP_TICKETS = 1000
BOOT_TICKETS = 10_000
BOOT_MESSAGES_PER_TICKET = 9
_BARE = "sqlite3 bulk insert of the same rows, one transaction, the cache's tables without triggers"
ONLINE_TIMEOUT_S = 30.0  # past this, report the time so far and a projection
COLLEAGUE_DEVICE = "bench-colleague-device"


def _shape(value: Any) -> Any:
    """The structure of a change row (keys and value types), to compare real with synthetic."""
    if isinstance(value, dict):
        return {k: _shape(v) for k, v in sorted(value.items()) if k != "seq"}
    if isinstance(value, list):
        return [_shape(v) for v in value[:1]]
    return type(value).__name__


def _add_notes(world: World, actor: str, count: int) -> int:
    """Add ``count`` notes by ``actor`` round-robin over the world's tickets; returns log rows."""
    engine = world.engine
    with engine.begin() as conn:
        register_workstation(conn, COLLEAGUE_DEVICE, actor, 0)
        viewer = replication.load_viewer(conn, actor)
    assert viewer is not None
    # The first note through the real handler: the template every synthetic row must match.
    first = world.ticket_ids[0]
    args = {"message": {"id": str(uuid.uuid4()), "ticket_id": first, "kind": "note", "body": "n0"}}
    real = real_mutation(world, "message.add", args, viewer, COLLEAGUE_DEVICE)
    with engine.connect() as conn:
        tickets = {t["id"]: t for t in wire.load_many(conn, "ticket", world.ticket_ids)}
    messages: list[dict[str, Any]] = []
    log: list[dict[str, Any]] = []
    base = utcnow()
    for k in range(1, count):
        ticket = tickets[world.ticket_ids[k % len(world.ticket_ids)]]
        now = base + timedelta(microseconds=k)
        message = {
            "id": str(uuid.uuid4()),
            "ticket_id": ticket["id"],
            "kind": "note",
            "author_type": "agent",
            "author_agent_id": actor,
            "author_customer_id": None,
            "body": f"Colleague note {k}: customer called again about the parcel.",
            "created_at": now,
            "delivery_state": "sent",
        }
        messages.append(message)
        audience = TICKET.sight.audience(ticket)
        common = {
            "op": "upsert",
            "actor_id": actor,
            "origin": "workstation",
            "workstation_id": COLLEAGUE_DEVICE,
            "created_at": now,
            "audience": audience.kind,
            "group_id": audience.group_id,
            "agent_id": audience.agent_id,
            "audience_changed": False,
            "prev_audience": None,
            "prev_group_id": None,
            "prev_agent_id": None,
        }
        log.append(
            {
                **common,
                "entity": "message",
                "entity_id": message["id"],
                "fields": [],
                "data": wire.to_wire("message", message),
                "ticket_version": None,
            }
        )
        ticket["version"] += 1
        ticket["updated_at"] = now.isoformat()
        log.append(
            {
                **common,
                "entity": "ticket",
                "entity_id": ticket["id"],
                "fields": ["thread"],
                "data": dict(ticket),
                "ticket_version": ticket["version"],
            }
        )
    for synthetic, genuine in zip(log[:2], real, strict=True):
        if _shape(synthetic) != _shape(genuine) or synthetic["entity"] != genuine["entity"]:
            raise AssertionError(f"synthetic change row differs:\n{synthetic}\n{genuine}")
    with engine.begin() as conn:
        for start in range(0, len(messages), 10_000):
            conn.execute(insert(T_MESSAGES), messages[start : start + 10_000])
        conn.execute(
            update(T_TICKETS)
            .where(T_TICKETS.c.id == bindparam("b_id"))
            .values(version=bindparam("b_version"), updated_at=bindparam("b_updated")),
            [
                {
                    "b_id": t["id"],
                    "b_version": t["version"],
                    "b_updated": wire.from_wire("ticket", t)["updated_at"],
                }
                for t in tickets.values()
            ],
        )
        for start in range(0, len(log), 10_000):
            conn.execute(insert(T_LOG), log[start : start + 10_000])
    return len(real) + len(log)


def _store_counts(engine: Engine) -> dict[str, int]:
    with engine.connect() as conn:
        return {
            "head": replication.head_seq(conn),
            "messages": int(
                conn.execute(select(func.count()).select_from(T_MESSAGES)).scalar_one()
            ),
            "ticket_versions": int(
                conn.execute(select(func.sum(T_TICKETS.c.version))).scalar_one() or 0
            ),
        }


async def _cache_counts(engine: SyncEngine) -> dict[str, int]:
    status = await engine.read(queries.sync_status)
    versions = await engine.read(
        lambda c: c.execute(select(func.sum(T_TICKETS.c.version))).scalar_one()
    )
    return {
        "cursor": int(status["cursor"]),
        "tickets": int(status["tickets"]),
        "messages": int(status["messages"]),
        "ticket_versions": int(versions or 0),
    }


async def _time_online(engine: SyncEngine, server_pid: int, name: str) -> tuple[float, bool]:
    """Seconds from ``start()`` until online; and whether it got there in time."""
    async with profile(server_pid, f"{name}-server"), profile(os.getpid(), f"{name}-client"):
        started = time.perf_counter()
        engine.start()
        try:
            await engine.wait_online(ONLINE_TIMEOUT_S)
        except TimeoutError:
            return time.perf_counter() - started, False
        return time.perf_counter() - started, True


async def run_catchup() -> list[Result]:
    with temp_dir("catchup") as tmp:
        world = build_world(tmp, agents=2, tickets=CATCHUP_TICKETS)
        create_shared_ticket(world)  # head > 0, so the engine's cursor is not 0 (= bootstrap)
        agent, colleague = world.agent_ids
        token = mint_tokens(world, [agent])[agent]
        engine = SyncEngine(Path(tmp) / "client.cache.db", "", token=token)
        await engine.open()
        try:
            async with ServerProcess(world.url, tmp, label="server-1") as first:
                engine.server_url = first.url
                engine.start()
                await engine.wait_online(ONLINE_TIMEOUT_S)
                before = await _cache_counts(engine)
                await engine.stop()
            if before["cursor"] == 0:
                raise RuntimeError("the engine has no cursor: it would bootstrap, not catch up")
            generated_at = time.perf_counter()
            produced = _add_notes(world, colleague, NOTES)
            generate_s = time.perf_counter() - generated_at
            store = _store_counts(world.engine)
            async with ServerProcess(world.url, tmp, port=first.port, label="server-2") as server:
                elapsed, online = await _time_online(engine, server.pid, "catchup_100k")
                await engine.stop()
            after = await _cache_counts(engine)
        finally:
            await engine.close()
            world.engine.dispose()
        # The bare engine: the same rows (each note's message and its ticket's new version).
        bare_s = bare.bulk_insert(engine.cache_path, tmp, {"messages": NOTES, "tickets": NOTES})
    applied = after["cursor"] - before["cursor"]
    verified = online and (
        after["cursor"] == store["head"]
        and after["messages"] == store["messages"]
        and after["ticket_versions"] == store["ticket_versions"]
    )
    return [
        Result(
            "catchup_100k",
            elapsed,
            "s",
            TARGET_S,
            detail={
                "changes": produced,
                "changes_per_s": round(applied / elapsed),
                "online": online,
                # If it timed out: how long all of it would take at the rate reached.
                "projected_s": round(elapsed * produced / max(1, applied), 1),
                "verified": verified,
                "cursor_before": before["cursor"],
                "cache_after": after,
                "store": store,
                "generate_s": round(generate_s, 1),
            },
            extra_ok=verified,
            bare=Bare(_BARE, bare_s),
        )
    ]


async def run_bootstrap() -> list[Result]:
    with temp_dir("bootstrap") as tmp:
        world = build_world(
            tmp,
            agents=1,
            tickets=BOOT_TICKETS,
            messages_per_ticket=BOOT_MESSAGES_PER_TICKET,
            customers=100,
        )
        agent = world.agent_ids[0]
        token = mint_tokens(world, [agent])[agent]
        store = _store_counts(world.engine)
        world.engine.dispose()
        engine = SyncEngine(Path(tmp) / "client.cache.db", "", token=token)
        await engine.open()
        try:
            async with ServerProcess(world.url, tmp) as server:
                engine.server_url = server.url
                elapsed, online = await _time_online(engine, server.pid, "bootstrap_100k")
                with contextlib.suppress(Exception):
                    await engine.stop()
            after = await _cache_counts(engine)
        finally:
            await engine.close()
        bare_s = bare.bulk_insert(
            engine.cache_path,
            tmp,
            {"tickets": BOOT_TICKETS, "messages": BOOT_TICKETS * BOOT_MESSAGES_PER_TICKET},
        )
    entities = after["tickets"] + after["messages"]
    verified = (
        online
        and after["tickets"] == BOOT_TICKETS
        and after["messages"] == store["messages"] == BOOT_TICKETS * BOOT_MESSAGES_PER_TICKET
    )
    return [
        Result(
            "bootstrap_100k",
            elapsed,
            "s",
            TARGET_S,
            detail={
                "tickets": after["tickets"],
                "messages": after["messages"],
                "entities_per_s": round(entities / elapsed),
                "online": online,
                "projected_s": round(elapsed * 100_000 / max(1, entities), 1),
                "verified": verified,
            },
            extra_ok=verified,
            bare=Bare(_BARE, bare_s),
        )
    ]
