"""offline_1000: 1,000 replies and notes written offline, then delivered on reconnect.

An engine syncs, the server goes down, the agent writes 1,000 messages (alternating public
replies and internal notes over 20 tickets; each is one local transaction with its outbox
row).  The server comes back on the same port; timed: ``engine.start()`` until the outbox is
empty, i.e. every mutation acknowledged.  Then the store is checked: all 1,000 are there.
"""

from __future__ import annotations

import asyncio
import os
import time
from pathlib import Path

from sqlalchemy import func, select

from app.models.tables import T_MESSAGES
from app.sync import cache
from app.sync.engine import SyncEngine
from app.sync.observer import ConnectionState, ConnectionStatus, SyncObserver
from bench.common import Result, temp_dir
from bench.procs import ServerProcess, profile
from bench.world import build_world, mint_tokens

MUTATIONS = 1000
TICKETS = 20
TARGET_S = 2.0
TIMEOUT_S = 30.0


class OutboxWatcher(SyncObserver):
    """Wakes the bench when the engine reports an empty outbox while online."""

    def __init__(self) -> None:
        self.empty = asyncio.Event()

    def connection_changed(self, status: ConnectionStatus) -> None:
        if status.state == ConnectionState.ONLINE and status.outbox == 0:
            self.empty.set()


async def run() -> list[Result]:
    with temp_dir("offline") as tmp:
        world = build_world(tmp, agents=1, tickets=TICKETS)
        agent = world.agent_ids[0]
        token = mint_tokens(world, [agent])[agent]
        watcher = OutboxWatcher()
        engine = SyncEngine(Path(tmp) / "client.cache.db", "", token=token, observer=watcher)
        await engine.open()
        try:
            async with ServerProcess(world.url, tmp, label="server-1") as first:
                engine.server_url = first.url
                engine.start()
                await engine.wait_online(TIMEOUT_S)
                await engine.stop()
            with world.engine.connect() as conn:
                messages_before = conn.execute(select(func.count()).select_from(T_MESSAGES))
                before = int(messages_before.scalar_one())
            written_at = time.perf_counter()
            for i in range(MUTATIONS):
                ticket = world.ticket_ids[i % TICKETS]
                kind = "reply" if i % 2 == 0 else "note"
                await engine.reply(ticket, f"Offline {kind} {i}: we are on it.", kind=kind)
            write_s = time.perf_counter() - written_at
            queued = await engine.read(cache.outbox_count)
            watcher.empty.clear()
            async with ServerProcess(world.url, tmp, port=first.port, label="server-2") as server:
                async with (
                    profile(server.pid, "offline_1000-server"),
                    profile(os.getpid(), "offline_1000-client"),
                ):
                    started = time.perf_counter()
                    engine.start()
                    try:
                        await asyncio.wait_for(watcher.empty.wait(), TIMEOUT_S)
                        drained = True
                    except TimeoutError:
                        drained = False
                    elapsed = time.perf_counter() - started
                left = await engine.read(cache.outbox_count)
                refusals = len(await engine.refusals())
                await engine.stop()
            with world.engine.connect() as conn:
                after = int(conn.execute(select(func.count()).select_from(T_MESSAGES)).scalar_one())
        finally:
            await engine.close()
            world.engine.dispose()
    verified = drained and left == 0 and refusals == 0 and after - before == MUTATIONS
    return [
        Result(
            "offline_1000",
            elapsed,
            "s",
            TARGET_S,
            detail={
                "queued": queued,
                "outbox_left": left,
                "refusals": refusals,
                "stored_on_server": after - before,
                "acks_per_s": round(MUTATIONS / elapsed),
                "offline_write_s": round(write_s, 2),
                "verified": verified,
            },
            extra_ok=verified,
        )
    ]
