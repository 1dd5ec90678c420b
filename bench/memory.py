"""idle_connection_memory: server RSS per idle, authenticated, caught-up connection.

Server in its own process.  Ten agents connect first (warm-up: every code path has run, the
allocator has its arenas); RSS is read from /proc/PID/status.  Then 1,000 more agents from a
separate process sign in with bearer tokens, say hello at the head and get ``caught_up``; after
the presence traffic settles RSS is read again.  Figure: (RSS after - RSS before) / 1,000.
"""

from __future__ import annotations

import asyncio

from bench.common import Result, temp_dir
from bench.procs import ServerProcess, Swarm, profile, rss_kib
from bench.world import build_world, create_shared_ticket, mint_tokens

WARM = 10
IDLE = 1000
TARGET_KIB = 50.0
SETTLE_S = 3.0


async def _settled_rss(pid: int) -> int:
    """RSS once it stops moving (or after a few seconds)."""
    last = rss_kib(pid)
    for _ in range(10):
        await asyncio.sleep(SETTLE_S / 3)
        now = rss_kib(pid)
        if abs(now - last) < 64:
            return now
        last = now
    return last


async def run() -> list[Result]:
    with temp_dir("memory") as tmp:
        world = build_world(tmp, agents=WARM + IDLE, tickets=10)
        create_shared_ticket(world)
        tokens = mint_tokens(world, world.agent_ids)
        head = world.head()
        world.engine.dispose()
        ids = world.agent_ids
        async with ServerProcess(world.url, tmp) as server:
            warm = Swarm(
                tmp,
                {"url": server.url, "head": head, "tokens": [tokens[a] for a in ids[:WARM]]},
                label="warm",
            )
            idle = Swarm(
                tmp,
                {"url": server.url, "head": head, "tokens": [tokens[a] for a in ids[WARM:]]},
                label="idle",
            )
            try:
                warm_ready = await warm.start(timeout=60)
                rss_before = await _settled_rss(server.pid)
                async with profile(server.pid, "idle_connection_memory-connect"):
                    idle_ready = await idle.start(timeout=150)
                rss_after = await _settled_rss(server.pid)
            finally:
                await idle.stop()
                await warm.stop()
    connected = int(idle_ready["connected"])
    per_conn = (rss_after - rss_before) / max(1, connected)
    return [
        Result(
            "idle_connection_memory",
            per_conn,
            "KiB/connection",
            TARGET_KIB,
            detail={
                "rss_before_kib": rss_before,
                "rss_after_kib": rss_after,
                "warm_connections": warm_ready["connected"],
                "idle_connections": connected,
                "failed": idle_ready["failed"] + warm_ready["failed"],
                "connect_all_s": idle_ready["connect_s"],
            },
            extra_ok=connected == IDLE,
        )
    ]
