"""The writer's waiting room: one queue per writer, and a fair share of every batch.

A single FIFO put a colleague's mutation behind everything a flooding agent had sent before
it (59.8 s behind 396,446 of them in an attack run).  Here each writer (an agent across all
their connections; each server actor) has its own bounded queue.  A batch takes submissions
in the order they arrived, but no writer more than an equal share of it while others are
waiting; what the others leave unused goes to whoever has more.  So under ordinary load
nothing changes (arrival order, one batch), and under a flood a colleague's mutation is in
the next batch, whatever the flooder's backlog.

Each queue is bounded: `room` lets a connection wait, without reading further frames, until
its agent's queue has room again (TCP pushes back on the sender), so the server's memory
stays bounded too.
"""

from __future__ import annotations

import asyncio
import heapq
import itertools
import math
from collections import deque

from app.server.submit import Submission


def writer_key(sub: Submission) -> str:
    """Whose share a submission takes: its agent, or the server actor that made it."""
    return sub.actor.viewer.id


class FairQueue:
    """Submissions waiting for the writer, per writer, taken by `take` in fair batches."""

    def __init__(self, per_writer: int) -> None:
        self.per_writer = per_writer
        self._queues: dict[str, deque[tuple[int, Submission]]] = {}
        self._arrivals = itertools.count()
        self._size = 0
        self._arrived = asyncio.Event()
        self._room: dict[str, asyncio.Event] = {}

    def empty(self) -> bool:
        return self._size == 0

    def queued(self, key: str) -> int:
        queue = self._queues.get(key)
        return 0 if queue is None else len(queue)

    def put_nowait(self, sub: Submission) -> None:
        """Queue ``sub`` behind its writer's earlier ones (never refused: `room` bounds it)."""
        queue = self._queues.setdefault(writer_key(sub), deque())
        queue.append((next(self._arrivals), sub))
        self._size += 1
        self._arrived.set()

    def get_nowait(self) -> Submission:
        """Any waiting submission (for draining at shutdown)."""
        if self._size == 0:
            raise asyncio.QueueEmpty
        key = next(iter(self._queues))
        return self._pop(key)

    def _pop(self, key: str) -> Submission:
        queue = self._queues[key]
        _, sub = queue.popleft()
        if not queue:
            del self._queues[key]
        self._size -= 1
        if len(queue) < self.per_writer and (room := self._room.get(key)) is not None:
            room.set()
        return sub

    async def take(self, limit: int) -> list[Submission]:
        """The next batch: at least one submission, at most ``limit``, each writer's in their
        order, in arrival order overall except that no writer gets more than an equal share
        while another's are left waiting."""
        while self._size == 0:
            self._arrived.clear()
            await self._arrived.wait()
        batch: list[Submission] = []
        for share in (max(1, limit // len(self._queues)), math.inf):
            taken: dict[str, int] = {}
            heads = [(queue[0][0], key) for key, queue in self._queues.items()]
            heapq.heapify(heads)
            while heads and len(batch) < limit:
                _, key = heapq.heappop(heads)
                batch.append(self._pop(key))
                taken[key] = taken.get(key, 0) + 1
                queue = self._queues.get(key)
                if queue and taken[key] < share:
                    heapq.heappush(heads, (queue[0][0], key))
        return batch

    async def room(self, key: str) -> None:
        """Return once ``key``'s queue is below its bound."""
        while self.queued(key) >= self.per_writer:
            # One event per writer, kept (as many as there are agents): every waiting
            # connection of theirs wakes and looks again.
            room = self._room.setdefault(key, asyncio.Event())
            room.clear()
            await room.wait()
