"""The search index's writer: the one part of the desk that writes to the cache.

The sync engine's triggers only queue new rows (see ``app/sync/search_index.py``); a
``SearchIndexer`` indexes those queues in short batches on a thread and a connection of its
own — every second in the background, and before a search or a read of waiting times
(``index_pending``), which the readers ask for.  It never waits long for the engine's write
lock: if a catch-up holds it, the read answers from what is indexed so far.  While idle it
merges the index's segments in bounded steps (inserts never merge on their own).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from sqlalchemy import Engine
from sqlalchemy.exc import OperationalError

from app.models.sqlite import WRITE, sqlite_engine
from app.sync.search_index import index_pending, merge_step, pending_count

log = logging.getLogger(__name__)

# The search index catches up in batches this large (per FTS table): ~10-20 ms of holding
# the cache's write lock, which the sync engine may be waiting for.
INDEX_BATCH = 2000
INDEX_IDLE_S = 1.0  # how often to look for rows to index when there were none
INDEX_BUSY_MS = 250  # give up a batch (and retry later) if the engine writes that long
INDEX_READ_WAIT_MS = 30  # the same, in the background and before a search or waiting times
INDEX_RETRY_S = 0.2  # after giving up on a busy engine, try again this soon
MERGE_BUDGET_S = 0.03  # index merging per idle second, in steps of a few ms
# Pages per merge step: each step holds the cache's write lock, and the sync engine writing a
# live change meanwhile waits for it in SQLite's busy handler, which sleeps 1, 2, 5, 10 ms...
# A small step keeps that wait to the first sleep or two.
MERGE_STEP_PAGES = 32


def _engine_busy(exc: OperationalError) -> bool:
    """Whether SQLite gave up waiting for the engine's write lock (not a real failure)."""
    return "locked" in str(exc) or "busy" in str(exc)


class SearchIndexer:
    """Keeps the cache's search index and waiting times current, on a thread of its own.

    ``open()`` (after the engine has opened the cache) starts indexing in the background;
    ``close()`` stops it.  ``index_pending`` may be awaited from the UI's loop.
    """

    def __init__(self, cache_path: Path, *, idle_s: float = INDEX_IDLE_S) -> None:
        self.cache_path = cache_path
        self.idle_s = idle_s  # how often to look for new rows to index
        # The queues are emptied on a thread and connection of their own, so reads never
        # wait for it.
        self._thread = ThreadPoolExecutor(1, thread_name_prefix="desk-indexer")
        self._engine: Engine | None = None
        self._task: asyncio.Task[None] | None = None
        # Reads waiting for the index right now (a search, the list's waiting times): the
        # background merge stops at its next step for them instead of using its whole budget.
        self._readers_waiting = 0

    async def open(self) -> None:
        """Open the indexer's writing connection and start indexing in the background."""
        loop = asyncio.get_running_loop()
        self._engine = await loop.run_in_executor(self._thread, self._connect)
        self._task = loop.create_task(self._keep_index_current(), name="desk-indexer")

    def _connect(self) -> Engine:
        return sqlite_engine(
            f"sqlite:///{self.cache_path}", synchronous="NORMAL", foreign_keys=False
        )

    async def close(self) -> None:
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        engine, self._engine = self._engine, None
        if engine is not None:
            await asyncio.get_running_loop().run_in_executor(self._thread, engine.dispose)
        self._thread.shutdown(wait=True)

    async def index_pending(self, wait_ms: int = INDEX_BUSY_MS) -> bool:
        """Index every row written since the last time (the sync engine's triggers only
        queue them).  Returns False if the engine held the cache's write lock for longer
        than ``wait_ms``: then a search sees the rows indexed so far, and the rest follow."""
        engine = self._engine
        if engine is None:
            raise RuntimeError("open() the search indexer first")

        def batch() -> int | None:
            with engine.connect() as conn:
                with conn.begin():  # a read: nothing to do must not take the write lock
                    if pending_count(conn) == 0:
                        return 0
                raw = conn.connection.driver_connection
                if raw is not None:
                    raw.execute(f"PRAGMA busy_timeout={int(wait_ms)}")
                try:
                    with conn.execution_options(**WRITE).begin():
                        return index_pending(conn, INDEX_BATCH)
                except OperationalError as exc:
                    if _engine_busy(exc):
                        return None
                    raise

        loop = asyncio.get_running_loop()
        while True:
            done = await loop.run_in_executor(self._thread, batch)
            if done is None:
                return False
            if done == 0:
                return True

    async def before_read(self) -> None:
        """Index what is queued before a read that shows it (a search, waiting times),
        waiting only briefly for the engine: the agent is waiting too."""
        self._readers_waiting += 1
        try:
            await self.index_pending(wait_ms=INDEX_READ_WAIT_MS)
        finally:
            self._readers_waiting -= 1

    async def _keep_index_current(self) -> None:
        """Index new rows as they arrive, so a search rarely has any left to do."""
        delay = self.idle_s
        while True:
            try:
                # A short wait for the engine's write lock, as a search's: the indexer has one
                # thread, and a read asking for the index waits behind whatever it is doing.
                done = await self.index_pending(wait_ms=INDEX_READ_WAIT_MS)
                if done:
                    await self._merge_some()
                delay = self.idle_s if done else INDEX_RETRY_S
            except Exception:
                # A bug, or a disk that cannot be written: searches still work on what is
                # indexed.  Say so, and keep trying, less often while it keeps failing.
                log.exception("indexing the cache for search failed")
                delay = min(60.0, max(delay, self.idle_s) * 2)
            await asyncio.sleep(delay)

    async def _merge_some(self, budget_s: float = MERGE_BUDGET_S) -> None:
        """Merge the index's segments for up to ``budget_s`` (in steps of a few ms), only
        while idle: an insert no longer merges on its own (see create_search_schema)."""
        engine = self._engine
        if engine is None:
            return

        def steps() -> None:
            deadline = time.monotonic() + budget_s
            with engine.connect() as conn:
                raw = conn.connection.driver_connection
                if raw is not None:
                    raw.execute(f"PRAGMA busy_timeout={INDEX_READ_WAIT_MS}")
                try:
                    # (The count is read from this thread as the loop changes it: a stale
                    # value costs one step more or less, never a wrong index.)
                    while time.monotonic() < deadline and not self._readers_waiting:
                        with conn.execution_options(**WRITE).begin():
                            if not merge_step(conn, MERGE_STEP_PAGES):
                                return
                except OperationalError as exc:
                    if not _engine_busy(exc):
                        raise
                    # The engine is writing: merge another time.

        await asyncio.get_running_loop().run_in_executor(self._thread, steps)
