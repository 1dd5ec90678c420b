"""Abusive clients in a child process (``python -m bench.flood CONFIG``), for bench/abuse.py.

``mutations``: one agent sends ``message.add`` notes on its own ticket as fast as the server
lets it, ignoring every answer but counting it (a hostile client: a transient refusal does not
slow it down); a closed connection is reopened at once.  ``signins``: ``parallel`` anonymous
connections send ``login`` frames with wrong passwords, each connection from the next source
address of 127.0.0.2-127.0.0.254 (so the per-address sign-in throttle never stops it) and
with a new unknown email per attempt (nor the per-account one).

Protocol on stdout (one JSON object per line): ``ready`` once flooding; then, after ``stop``
on stdin, the counts; ``quit`` ends the process.  Bounded: at most ``max_frames`` frames.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Any

from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed, InvalidHandshake

from app.sync.protocol import SYNC_PATH
from bench.client import note_mutation, open_agent

ADDRESSES = [f"127.0.0.{i}" for i in range(2, 255)]
LOGINS_PER_CONNECTION = 10


class Flood:
    def __init__(self, config: dict[str, Any]) -> None:
        self.config = config
        self.counts: Counter[str] = Counter()
        self.sent = 0
        self.max_frames = int(config.get("max_frames", 1_000_000))

    async def mutations(self) -> None:
        cfg = self.config
        mutation_id = 0
        while self.sent < self.max_frames:
            try:
                ws = await open_agent(cfg["url"], cfg["token"], cfg["head"])
            except (OSError, InvalidHandshake, RuntimeError, ConnectionClosed):
                self.counts["connect_failed"] += 1
                await asyncio.sleep(0.05)
                continue
            self.counts["connections"] += 1
            reader = asyncio.create_task(self._count_answers(ws))
            try:
                while self.sent < self.max_frames:
                    mutation_id += 1
                    await ws.send(note_mutation(mutation_id, cfg["ticket"], "flood"))
                    self.sent += 1
            except ConnectionClosed:
                pass
            finally:
                reader.cancel()
                with contextlib.suppress(asyncio.CancelledError, ConnectionClosed):
                    await reader
                await ws.close()

    async def _count_answers(self, ws: Any) -> None:
        async for raw in ws:
            frame = json.loads(raw)
            if frame["type"] in ("ack", "reject", "error"):
                self.counts[frame.get("code", frame["type"])] += 1

    async def signins(self) -> None:
        addresses = itertools.cycle(ADDRESSES)
        emails = itertools.count()
        await asyncio.gather(
            *(self._sign_in_forever(addresses, emails) for _ in range(self.config["parallel"]))
        )

    async def _sign_in_forever(
        self, addresses: itertools.cycle[str], emails: itertools.count[int]
    ) -> None:
        url = self.config["url"] + SYNC_PATH
        while self.sent < self.max_frames:
            try:
                async with connect(
                    url, local_addr=(next(addresses), 0), compression=None, open_timeout=30
                ) as ws:
                    for _ in range(LOGINS_PER_CONNECTION):
                        login = {
                            "type": "login",
                            "email": f"nobody{next(emails)}@bench.test",
                            "password": "wrong password",
                        }
                        await ws.send(json.dumps(login))
                        self.sent += 1
                        answer = json.loads(await ws.recv())
                        self.counts[answer.get("code", answer["type"])] += 1
            except (OSError, InvalidHandshake, ConnectionClosed, TimeoutError):
                self.counts["connection_failed"] += 1


async def main(config: dict[str, Any]) -> None:
    flood = Flood(config)
    job = flood.mutations() if config["kind"] == "mutations" else flood.signins()
    task = asyncio.create_task(job)
    started = time.perf_counter()
    print(json.dumps({"ready": True}), flush=True)
    loop = asyncio.get_running_loop()
    while True:
        line = (await loop.run_in_executor(None, sys.stdin.readline)).strip()
        if line == "stop":
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
            elapsed = time.perf_counter() - started
            report = {"sent": flood.sent, "elapsed_s": round(elapsed, 1), **flood.counts}
            print(json.dumps(report), flush=True)
        elif line in ("quit", ""):
            return


if __name__ == "__main__":
    asyncio.run(main(json.loads(Path(sys.argv[1]).read_text())))
