"""Server frames, read ahead of the engine and handed over in runs that share a transaction.

Reading and decoding run in their own task, so the next catch-up page arrives and is parsed
while the cache thread applies the current one.  Frames are still handled strictly in order,
but consecutive frames of one kind that are already waiting are handed over together:
catch-up pages are applied in one transaction with the cursor of the last (so each page
still lands together with a cursor that covers it), and answers to mutations are settled in
one transaction, with one fsync instead of one each.
"""

from __future__ import annotations

import asyncio
import json
from collections import deque
from typing import Any

from websockets.asyncio.client import ClientConnection

Frame = dict[str, Any]

# Frames read but not yet handled, by size of their JSON text: enough for several catch-up
# pages (at most 512 KiB each) or thousands of acks, and a bound on memory either way.
READ_AHEAD_CHARS = 4 * 1024 * 1024
# At most this many changes (or answers) in one transaction: bounds how long the cache
# thread stays busy, and so how long a read for the UI may wait behind it.
MAX_RUN = 5000


class FrameReader:
    """Decodes a connection's frames in a task; ``next_run`` hands them over in order."""

    def __init__(self, ws: ClientConnection) -> None:
        self._waiting: deque[tuple[Frame | _End, int]] = deque()
        self._chars = 0
        self._arrived = asyncio.Event()
        self._taken = asyncio.Event()
        # The engine cancels the task when it is done with the connection.
        self.task = asyncio.get_running_loop().create_task(self._read(ws), name="sync-read")

    async def _read(self, ws: ClientConnection) -> None:
        try:
            async for raw in ws:
                while self._chars >= READ_AHEAD_CHARS:
                    self._taken.clear()
                    await self._taken.wait()
                self._push(json.loads(raw), len(raw))
        except Exception as exc:  # handed to the engine in order, after the frames before it
            self._push(_End(exc), 0)
        else:
            self._push(_End(None), 0)

    def _push(self, item: Frame | _End, chars: int) -> None:
        self._waiting.append((item, chars))
        self._chars += chars
        self._arrived.set()

    def _take(self) -> Frame:
        item, chars = self._waiting.popleft()
        assert not isinstance(item, _End)
        self._chars -= chars
        self._taken.set()
        return item

    async def next_run(self) -> list[Frame]:
        """The next frame and the waiting frames that may share its transaction; [] at the
        end of the connection.  Raises what ended the connection, if it was an error."""
        while not self._waiting:
            self._arrived.clear()
            await self._arrived.wait()
        first = self._waiting[0][0]
        if isinstance(first, _End):  # stays at the head: every later call ends here too
            if first.error is not None:
                raise first.error
            return []
        run = [self._take()]
        key = run_key(first)
        weight = _weight(first)
        while key is not None and self._waiting:
            frame = self._waiting[0][0]
            if isinstance(frame, _End) or run_key(frame) != key:
                break
            weight += _weight(frame)
            if weight > MAX_RUN:
                break
            run.append(self._take())
        return run


def run_key(frame: Frame) -> str | None:
    """Frames with the same key may be handled together; None: only on its own."""
    kind = frame.get("type")
    if kind == "changes":
        return "bootstrap" if frame.get("bootstrap") else "changes"
    if kind == "ack" or (kind == "reject" and not frame.get("transient")):
        return "answer"
    return None


def _weight(frame: Frame) -> int:
    changes = frame.get("changes")
    return len(changes) if isinstance(changes, list) else 1


class _End:
    """The connection ended: cleanly (``error`` None) or with an exception."""

    def __init__(self, error: Exception | None) -> None:
        self.error = error
