"""flood_fairness and signin_flood: a colleague's service while someone abuses the server.

``flood_fairness``: one agent (a child process, ``bench.flood``) sends ``message.add`` notes
as fast as the server lets it, ignoring refusals; meanwhile a colleague on their own
connection adds a note every 50 ms and waits for nothing but its answer.  Figure: p99 of the
colleague's ack latency; the server's RSS (sampled every 200 ms) must stay under 300 MB and
every colleague note must be acknowledged.

``signin_flood``: 16 anonymous connections (a child process) sign in with wrong passwords,
from rotating source addresses 127.0.0.2-254; meanwhile a signed-in colleague sends a
``search`` every 20 ms, one at a time.  Figure: p99 of the search round trip.  A real sign-in
during the flood is timed too (``real_signin_s``, retried while the server says it is busy).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from websockets.asyncio.client import ClientConnection, connect

from app.sync.protocol import SYNC_PATH
from bench.client import note_mutation, open_agent
from bench.common import Result, summarise, temp_dir
from bench.procs import ServerProcess, Swarm, cpu_seconds, profile, rss_kib
from bench.world import PASSWORD, World, build_world, create_shared_ticket, mint_tokens

WARMUP_S = 2.0
MEASURE_S = 10.0
ANSWER_WAIT_S = 30.0  # after the window, how long unanswered colleague notes are waited for
NOTE_EVERY_S = 0.05
SEARCH_EVERY_S = 0.02
FLOOD_FRAMES = 2_000_000
ACK_TARGET_MS = 100.0
RSS_LIMIT_MB = 300.0
SEARCH_TARGET_MS = 50.0
SIGNIN_PARALLEL = 16


@dataclass
class Colleague:
    """A signed-in agent whose requests are timed; answers are matched by id."""

    ws: ClientConnection
    waiting: dict[str, asyncio.Future[dict[str, Any]]] = field(default_factory=dict)

    async def receive_forever(self) -> None:
        async for raw in self.ws:
            if isinstance(raw, str) and '"changes"' in raw[:20]:
                continue  # the flooder's notes, fanned out to the team
            frame = json.loads(raw)
            key = frame.get("request_id") or str(frame.get("mutation_id", ""))
            future = self.waiting.pop(key, None)
            if future is not None and not future.done():
                future.set_result(frame)

    async def ask(self, key: str, frame: str) -> tuple[float, dict[str, Any] | None]:
        """Send ``frame``; (milliseconds until its answer, the answer or None if none came)."""
        future: asyncio.Future[dict[str, Any]] = asyncio.get_running_loop().create_future()
        self.waiting[key] = future
        started = time.perf_counter()
        await self.ws.send(frame)
        try:
            answer = await asyncio.wait_for(future, ANSWER_WAIT_S)
        except TimeoutError:
            answer = None
        return (time.perf_counter() - started) * 1000, answer


async def _sample_rss(pid: int, peak: list[int]) -> None:
    while True:
        peak[0] = max(peak[0], rss_kib(pid))
        await asyncio.sleep(0.2)


async def _paced(every_s: float, window_s: float, job: Any) -> list[Any]:
    """Start ``job(n)`` every ``every_s`` for ``window_s``; their results."""
    tasks = []
    started = time.perf_counter()
    n = 0
    while time.perf_counter() - started < window_s:
        n += 1
        tasks.append(asyncio.create_task(job(n)))
        await asyncio.sleep(every_s)
    return list(await asyncio.gather(*tasks))


def _two_agents(tmp: Path, tickets: int) -> tuple[World, dict[str, str], int]:
    """A store with two agents in one group and ``tickets`` tickets; their tokens and the
    log's head (the store's engine is disposed: the server process owns the store)."""
    world = build_world(tmp, agents=2, tickets=tickets)
    create_shared_ticket(world)
    tokens = mint_tokens(world, world.agent_ids)
    head = world.head()
    world.engine.dispose()
    return world, tokens, head


async def run_flood_fairness() -> list[Result]:
    with temp_dir("flood") as tmp:
        world, tokens, head = _two_agents(tmp, tickets=2)
        flooder_id, colleague_id = world.agent_ids
        async with ServerProcess(world.url, tmp) as server:
            config = {
                "kind": "mutations",
                "url": server.url,
                "token": tokens[flooder_id],
                "head": head,
                "ticket": world.ticket_ids[0],
                "max_frames": FLOOD_FRAMES,
            }
            flood = Swarm(tmp, config, label="flood", module="bench.flood")
            colleague = Colleague(await open_agent(server.url, tokens[colleague_id], head))
            receiver = asyncio.create_task(colleague.receive_forever())
            peak = [rss_kib(server.pid)]
            sampler = asyncio.create_task(_sample_rss(server.pid, peak))
            try:
                await flood.start(timeout=30)
                await asyncio.sleep(WARMUP_S)
                cpu0 = cpu_seconds(server.pid)

                async def note(n: int) -> tuple[float, dict[str, Any] | None]:
                    frame = note_mutation(n, world.ticket_ids[1], f"colleague {n}")
                    return await colleague.ask(str(n), frame)

                async with profile(server.pid, "flood_fairness-server"):
                    answers = await _paced(NOTE_EVERY_S, MEASURE_S, note)
                cpu1 = cpu_seconds(server.pid)
                flooded = await flood.command("stop", timeout=60)
            finally:
                sampler.cancel()
                receiver.cancel()
                for task in (sampler, receiver):
                    with contextlib.suppress(BaseException):
                        await task
                await flood.stop()
                await colleague.ws.close()
    latencies = [ms for ms, _ in answers]
    acked = sum(1 for _, a in answers if a is not None and a["type"] == "ack")
    p99 = summarise(latencies)["p99"]
    peak_mb = peak[0] / 1024
    return [
        Result(
            "flood_fairness",
            p99,
            "ms (p99 colleague ack)",
            ACK_TARGET_MS,
            detail={
                "colleague_ack_ms": summarise(latencies),
                "colleague_notes": len(answers),
                "colleague_acked": acked,
                "server_peak_rss_mb": round(peak_mb, 1),
                "rss_limit_mb": RSS_LIMIT_MB,
                "flooder": flooded,
                "server_cpu_pct": round(100 * (cpu1 - cpu0) / MEASURE_S, 1),
            },
            extra_ok=peak_mb <= RSS_LIMIT_MB and acked == len(answers),
        )
    ]


async def _real_sign_in(url: str) -> tuple[float, int]:
    """Seconds until a correct sign-in succeeds, and how often the server said busy."""
    started = time.perf_counter()
    busy = 0
    async with connect(url + SYNC_PATH, compression=None, open_timeout=30) as ws:
        while True:
            login = {"type": "login", "email": "agent1@bench.test", "password": PASSWORD}
            await ws.send(json.dumps(login))
            answer = json.loads(await asyncio.wait_for(ws.recv(), ANSWER_WAIT_S))
            if answer["type"] == "login_ok":
                return time.perf_counter() - started, busy
            if answer.get("code") != "server_busy":
                raise RuntimeError(f"sign-in refused: {answer}")
            busy += 1
            await asyncio.sleep(float(answer.get("details", {}).get("retry_after", 0.1)))


async def run_signin_flood() -> list[Result]:
    with temp_dir("signin") as tmp:
        world, tokens, head = _two_agents(tmp, tickets=200)
        async with ServerProcess(world.url, tmp) as server:
            config = {
                "kind": "signins",
                "url": server.url,
                "parallel": SIGNIN_PARALLEL,
                "max_frames": FLOOD_FRAMES,
            }
            flood = Swarm(tmp, config, label="signin-flood", module="bench.flood")
            colleague = Colleague(await open_agent(server.url, tokens[world.agent_ids[0]], head))
            receiver = asyncio.create_task(colleague.receive_forever())
            try:
                await flood.start(timeout=30)
                await asyncio.sleep(WARMUP_S)
                cpu0 = cpu_seconds(server.pid)
                real = asyncio.create_task(_real_sign_in(server.url))
                latencies: list[float] = []
                async with profile(server.pid, "signin_flood-server"):
                    started = time.perf_counter()
                    n = 0
                    while time.perf_counter() - started < MEASURE_S:
                        n += 1
                        query = {"type": "search", "request_id": f"s{n}", "query": "Ticket 1"}
                        ms, answer = await colleague.ask(f"s{n}", json.dumps(query))
                        if answer is None or answer["type"] != "search_results":
                            raise RuntimeError(f"search {n} not answered: {answer}")
                        latencies.append(ms)
                        await asyncio.sleep(SEARCH_EVERY_S)
                real_s, real_busy = await real
                cpu1 = cpu_seconds(server.pid)
                flooded = await flood.command("stop", timeout=60)
            finally:
                receiver.cancel()
                with contextlib.suppress(BaseException):
                    await receiver
                await flood.stop()
                await colleague.ws.close()
    return [
        Result(
            "signin_flood",
            summarise(latencies)["p99"],
            "ms (p99 colleague search)",
            SEARCH_TARGET_MS,
            detail={
                "search_ms": summarise(latencies),
                "real_signin_s": round(real_s, 3),
                "real_signin_busy_answers": real_busy,
                "flood": flooded,
                "server_cpu_pct": round(100 * (cpu1 - cpu0) / MEASURE_S, 1),
            },
        )
    ]
