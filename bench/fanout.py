"""fanout_latency: one writer at 20 mutations/s, 1,000 live agents, write-to-screen latency.

Server in its own process; the 1,000 agents in another (``bench.agents``); the writer here.
Each mutation is a ``message.add`` note on a ticket every agent may see, whose body carries the
writer's CLOCK_MONOTONIC send time; every agent stamps the frame's arrival with the same clock.
The latency is therefore writer send -> commit -> fan-out -> bytes at the agent's socket, as the
kernel stamps their arrival there (SO_TIMESTAMPNS).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from websockets.asyncio.client import ClientConnection
from websockets.exceptions import ConnectionClosed

from bench.client import note_mutation, open_agent
from bench.common import Bare, Result, summarise, temp_dir
from bench.procs import ServerProcess, Swarm, cpu_seconds, profile, rss_kib
from bench.world import build_world, create_shared_ticket, mint_tokens

AGENTS = int(os.environ.get("BENCH_FANOUT_AGENTS", "1000"))  # override to diagnose scaling
RATE_PER_S = 20
DURATION_S = 10.0
WARMUP = 10  # mutations before the measured ones (not counted)
P50_TARGET_MS = 10.0
P99_TARGET_MS = 50.0
MARKER = "bench"


async def _write(
    ws: ClientConnection, ticket: str, count: int, first_id: int, prefix: str
) -> list[float]:
    """Send ``count`` notes at RATE_PER_S; returns the ack latencies (ms)."""
    sent: dict[int, int] = {}
    acks: list[float] = []
    done = asyncio.Event()

    async def receive() -> None:
        async for raw in ws:
            if isinstance(raw, str) and raw.startswith('{"type":"ack"'):
                mid = int(json.loads(raw)["mutation_id"])
                if mid in sent:
                    acks.append((time.monotonic_ns() - sent[mid]) / 1e6)
                    if len(acks) == count:
                        done.set()
            elif isinstance(raw, str) and raw.startswith('{"type":"reject"'):
                raise RuntimeError(f"mutation rejected: {raw[:300]}")

    reader = asyncio.create_task(receive())
    try:
        interval = 1.0 / RATE_PER_S
        start = time.monotonic()
        for i in range(count):
            if reader.done():
                break  # it failed: its exception is raised below
            delay = start + i * interval - time.monotonic()
            if delay > 0:
                await asyncio.sleep(delay)
            mid = first_id + i
            now = time.monotonic_ns()
            sent[mid] = now
            await ws.send(note_mutation(mid, ticket, f"{prefix}:{now}:{i}"))
        waiter = asyncio.create_task(done.wait())
        await asyncio.wait({reader, waiter}, timeout=10, return_when=asyncio.FIRST_COMPLETED)
        waiter.cancel()
        if reader.done():
            reader.result()  # raises what ended it (a reject, a closed connection)
        if not done.is_set():
            raise TimeoutError(f"only {len(acks)} of {count} mutations acknowledged")
    finally:
        reader.cancel()
        with contextlib.suppress(asyncio.CancelledError, ConnectionClosed):
            await reader
    return acks


@dataclass
class Run:
    """What one measured run against one server saw."""

    ready: dict[str, Any]
    report: dict[str, Any]
    acks: list[float]
    count: int
    cpu: tuple[float, float]
    rss_connected_kib: int


async def _measure(
    server: ServerProcess, tmp: Path, head: int, writer_token: str, tokens: list[str], ticket: str
) -> Run:
    """One writer and the swarm against ``server``: connect, warm up, measure."""
    swarm = Swarm(
        tmp,
        {"url": "", "head": head, "tokens": tokens, "marker": MARKER, "concurrency": 64},
        label=f"swarm-{server.label}",
    )
    try:
        url = await server.start()
        writer = await open_agent(url, writer_token, head)
        swarm.config["url"] = url
        async with profile(server.pid, f"fanout_latency-{server.label}-connect"):
            ready = await swarm.start(timeout=120)
        rss_connected = rss_kib(server.pid)
        await asyncio.sleep(1.0)  # let the presence storm of the connect phase drain
        await _write(writer, ticket, WARMUP, 1, "warm")
        await asyncio.sleep(0.5)
        await swarm.command("reset")
        count = int(RATE_PER_S * DURATION_S)
        cpu0 = cpu_seconds(server.pid), cpu_seconds(swarm.pid)
        async with profile(server.pid, f"fanout_latency-{server.label}"):
            acks = await _write(writer, ticket, count, WARMUP + 1, MARKER)
            await asyncio.sleep(1.0)  # stragglers
        cpu1 = cpu_seconds(server.pid), cpu_seconds(swarm.pid)
        report = await swarm.command("report")
        await writer.close()
    finally:
        await swarm.stop()
        await server.stop()
    cpu = (cpu1[0] - cpu0[0], cpu1[1] - cpu0[1])
    return Run(ready, report, acks, count, cpu, rss_connected)


async def run() -> list[Result]:
    with temp_dir("fanout") as tmp:
        world = build_world(tmp, agents=AGENTS + 1, tickets=10)
        ticket = create_shared_ticket(world)
        tokens = mint_tokens(world, world.agent_ids)
        head = world.head()
        world.engine.dispose()
        writer_id, *receivers = world.agent_ids
        swarm_tokens = [tokens[a] for a in receivers]
        ours = await _measure(
            ServerProcess(world.url, tmp), tmp, head, tokens[writer_id], swarm_tokens, ticket
        )
        # The same writer and swarm against a bare websockets broadcast (bench.bare_server).
        bare = await _measure(
            ServerProcess("", tmp, label="bare", module="bench.bare_server"),
            tmp,
            head,
            tokens[writer_id],
            swarm_tokens,
            ticket,
        )
    report, ready, acks, count = ours.report, ours.ready, ours.acks, ours.count
    latency = report["latency_ms"]
    expected = count * len(receivers)
    p50 = float(latency.get("p50", float("nan")))
    p99 = float(latency.get("p99", float("nan")))
    complete = latency.get("n", 0) == expected
    bare_latency = bare.report["latency_ms"]
    detail: dict[str, Any] = {
        "p50_ms": p50,
        "p90_ms": latency.get("p90"),
        "p99_ms": p99,
        "max_ms": latency.get("max"),
        "p99_target_ms": P99_TARGET_MS,
        # The same deliveries, counted to when the swarm process read them (see bench.agents).
        "read_latency_ms": report.get("read_latency_ms"),
        "n": latency.get("n", 0),
        "mutations_seen": report.get("mutations_seen"),
        "short_mutations": report.get("short_mutations"),
        "missing_mutations": report.get("missing_mutations"),
        "expected_n": expected,
        "agents_connected": ready["connected"],
        "agents_failed": ready["failed"],
        "connect_all_s": ready["connect_s"],
        "handshake_ms": ready["handshake_ms"],
        "mutations": count,
        "rate_per_s": RATE_PER_S,
        "ack_ms": summarise(acks),
        "server_cpu_pct": round(100 * ours.cpu[0] / (DURATION_S + 1), 1),
        "swarm_cpu_pct": round(100 * ours.cpu[1] / (DURATION_S + 1), 1),
        "server_rss_mib_connected": round(ours.rss_connected_kib / 1024, 1),
        "bare_p99_ms": bare_latency.get("p99"),
        "bare_n": bare_latency.get("n", 0),
        "bare_server_cpu_pct": round(100 * bare.cpu[0] / (DURATION_S + 1), 1),
    }
    if ready["errors"]:
        detail["connect_errors"] = ready["errors"]
    return [
        Result(
            "fanout_latency",
            p50,
            "ms (p50)",
            P50_TARGET_MS,
            detail=detail,
            extra_ok=p99 <= P99_TARGET_MS and complete,
            bare=Bare(
                "websockets.broadcast() of each note to the same 1,000 clients (p50)",
                float(bare_latency.get("p50", float("nan"))),
            ),
        )
    ]
