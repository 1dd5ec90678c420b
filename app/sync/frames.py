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
from typing import Any

from websockets.asyncio.client import ClientConnection

Frame = dict[str, Any]

# Decoded frames waiting to be handled: enough to keep the cache thread busy, few enough to
# bound memory (a page is at most 512 KiB of JSON, several times that once decoded).
READ_AHEAD = 8
# Changes applied in one transaction at most: bounds how long the cache thread stays busy
# (and so how long a read for the UI may wait behind it).
MAX_RUN_CHANGES = 5000


class FrameReader:
    """Decodes a connection's frames in a task; ``next_run`` hands them over in order."""

    def __init__(self, ws: ClientConnection) -> None:
        self._queue: asyncio.Queue[Frame | _End] = asyncio.Queue(READ_AHEAD)
        self._held: Frame | _End | None = None
        self.task = asyncio.get_running_loop().create_task(self._read(ws), name="sync-read")

    async def _read(self, ws: ClientConnection) -> None:
        try:
            async for raw in ws:
                await self._queue.put(json.loads(raw))
        except Exception as exc:  # handed to the engine in order, after the frames before it
            await self._queue.put(_End(exc))
        else:
            await self._queue.put(_End(None))

    async def next_run(self) -> list[Frame]:
        """The next frame and the waiting frames that may share its transaction; [] at the
        end of the connection.  Raises what ended the connection, if it was an error."""
        first = self._held if self._held is not None else await self._queue.get()
        self._held = None
        if isinstance(first, _End):
            self._held = first  # stays the end
            if first.error is not None:
                raise first.error
            return []
        run = [first]
        key = run_key(first)
        size = len(first.get("changes") or ())
        while key is not None and not self._queue.empty():
            frame = self._queue.get_nowait()
            more = 0 if isinstance(frame, _End) else len(frame.get("changes") or ())
            if isinstance(frame, _End) or run_key(frame) != key or size + more > MAX_RUN_CHANGES:
                self._held = frame
                break
            run.append(frame)
            size += more
        return run


def run_key(frame: Frame) -> str | None:
    """Frames with the same key may be handled together; None: only on its own."""
    kind = frame.get("type")
    if kind == "changes":
        return "bootstrap" if frame.get("bootstrap") else "changes"
    if kind == "ack" or (kind == "reject" and not frame.get("transient")):
        return "answer"
    return None


class _End:
    """The connection ended: cleanly (``error`` None) or with an exception."""

    def __init__(self, error: Exception | None) -> None:
        self.error = error
