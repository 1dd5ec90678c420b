"""writer_throughput: 50 writer connections pipelining ``message.add`` notes on SQLite.

Each writer is an agent of ``g-bench`` writing notes on its own ticket, keeping up to
IN_FLIGHT mutations unacknowledged.  Every writer sees every ticket, so each commit is also
fanned out to all 50 connections (a team of 50 in one group: the realistic case).
Acknowledgements are counted over a steady window after a warm-up.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from dataclasses import dataclass, field

from websockets.asyncio.client import ClientConnection
from websockets.exceptions import ConnectionClosed

from bench import bare
from bench.client import note_mutation, open_agent
from bench.common import Bare, Result, summarise, temp_dir
from bench.procs import ServerProcess, cpu_seconds, profile
from bench.world import GROUP, build_world, create_shared_ticket, mint_tokens

WRITERS = 50
IN_FLIGHT = 32
WARMUP_S = 2.0
MEASURE_S = 10.0
TARGET_PER_S = 2000.0


@dataclass
class Writer:
    ws: ClientConnection
    ticket: str
    window: asyncio.Semaphore = field(default_factory=lambda: asyncio.Semaphore(IN_FLIGHT))
    sent: dict[int, float] = field(default_factory=dict)
    acked: list[tuple[float, float]] = field(default_factory=list)  # (time, latency ms)
    rejected: int = 0

    async def send_forever(self) -> None:
        mutation_id = 0
        while True:
            await self.window.acquire()
            mutation_id += 1
            self.sent[mutation_id] = time.perf_counter()
            await self.ws.send(note_mutation(mutation_id, self.ticket, f"throughput {mutation_id}"))

    async def receive_forever(self) -> None:
        while True:
            raw = await self.ws.recv(decode=False)  # bytes: no UTF-8 decoding of big frames
            if raw.startswith(b'{"type":"ack"') or raw.startswith(b'{"type":"reject"'):
                frame = json.loads(raw)
                now = time.perf_counter()
                started = self.sent.pop(int(frame["mutation_id"]), now)
                self.acked.append((now, (now - started) * 1000))
                if frame["type"] == "reject":
                    self.rejected += 1
                self.window.release()


async def run() -> list[Result]:
    with temp_dir("throughput") as tmp:
        world = build_world(tmp, agents=WRITERS, tickets=WRITERS)
        create_shared_ticket(world)
        tokens = mint_tokens(world, world.agent_ids)
        head = world.head()
        world.engine.dispose()
        tasks: list[asyncio.Task[None]] = []
        writers: list[Writer] = []
        async with ServerProcess(world.url, tmp) as server:
            try:
                for aid, tid in zip(world.agent_ids, world.ticket_ids, strict=True):
                    ws = await open_agent(server.url, tokens[aid], head)
                    writers.append(Writer(ws, tid))
                for w in writers:
                    tasks.append(asyncio.create_task(w.receive_forever(), name="recv"))
                    tasks.append(asyncio.create_task(w.send_forever(), name="send"))
                await asyncio.sleep(WARMUP_S)
                start = time.perf_counter()
                cpu0 = cpu_seconds(server.pid)
                async with profile(server.pid, "writer_throughput-server"):
                    await asyncio.sleep(MEASURE_S)
                end = time.perf_counter()
                cpu1 = cpu_seconds(server.pid)
                for task in tasks:
                    if task.done() and task.exception() is not None:
                        raise RuntimeError(f"writer failed: {task.exception()!r}")
            finally:
                for task in tasks:
                    task.cancel()
                for task in tasks:
                    with contextlib.suppress(asyncio.CancelledError, ConnectionClosed):
                        await task
                for w in writers:
                    await w.ws.close()
        # The bare engine: the same rows in batch commits, on the same store, same durability.
        bare_rate = bare.sqlite_batch_commits(
            world.path, world.ticket_ids, world.agent_ids[0], GROUP
        )
    in_window = [lat for w in writers for (t, lat) in w.acked if start <= t < end]
    rate = len(in_window) / (end - start)
    return [
        Result(
            "writer_throughput",
            rate,
            "acked mutations/s",
            TARGET_PER_S,
            kind="min",
            detail={
                "writers": WRITERS,
                "in_flight_per_writer": IN_FLIGHT,
                "window_s": round(end - start, 2),
                "acked_in_window": len(in_window),
                "rejected_total": sum(w.rejected for w in writers),
                "ack_latency_ms": summarise(in_window),
                "server_cpu_pct": round(100 * (cpu1 - cpu0) / (end - start), 1),
            },
            bare=Bare(
                f"sqlite3 batch commits of {bare.WRITER_BATCH} notes (message, ticket version, "
                "two log rows each), WAL, synchronous=FULL",
                bare_rate,
            ),
        )
    ]
