"""The desk readers' threads and their read-only connections to the cache.

Every reader (``app/sync/desk/*``) runs its queries through one ``ReaderPool``: two threads,
each with its own connection to the cache file.  The cache is in WAL mode, so a read never
waits behind the sync engine's write transactions (a catch-up page, a local change) and
never holds them up: each ``read`` runs in one read transaction and sees one consistent
snapshot.

The connections are opened with ``PRAGMA query_only=ON``: a reader that tries to write fails
loudly instead of racing the engine's transactions.  The one thing the desk writes, the
search index, is written by ``SearchIndexer`` (``indexer.py``) on a connection of its own.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, TypeVar

from sqlalchemy import Connection, Engine, event

from app.models.sqlite import sqlite_engine

T = TypeVar("T")

# Two readers (WAL lets them read at once, and SQLite runs without the GIL): a list re-reading
# a 50,000-ticket view must not hold up the open tab's thread behind it.
READERS = 2
# Page cache per reader connection (two): the list's indexes and a thread or two.
READER_CACHE_KIB = 32 * 1024
MMAP_BYTES = 256 * 1024 * 1024  # reads of a large cache skip a copy per page


class ReaderPool:
    """The reader threads and their read-only connections, shared by every desk reader.

    ``open()`` before use (after the engine has opened the cache), ``close()`` at the end.
    """

    def __init__(self, cache_path: Path) -> None:
        self.cache_path = cache_path
        self._threads = ThreadPoolExecutor(READERS, thread_name_prefix="desk-reader")
        self._engine: Engine | None = None

    async def open(self) -> None:
        """Open the read-only connections to the cache (the engine must have created it)."""
        loop = asyncio.get_running_loop()
        self._engine = await loop.run_in_executor(self._threads, self._connect)

    def _connect(self) -> Engine:
        engine = sqlite_engine(
            f"sqlite:///{self.cache_path}",
            synchronous="NORMAL",
            foreign_keys=False,
            cache_kib=READER_CACHE_KIB,
        )

        @event.listens_for(engine, "connect")
        def _read_only(dbapi_conn: Any, record: Any) -> None:
            cur = dbapi_conn.cursor()
            # Readers never write: a bug that tries fails loudly instead of racing the
            # engine's transactions.
            cur.execute("PRAGMA query_only=ON")
            cur.execute(f"PRAGMA mmap_size={MMAP_BYTES}")
            cur.close()

        with engine.connect() as conn:  # open it now: a missing file fails here, not later
            conn.exec_driver_sql("SELECT 1").scalar()
        return engine

    async def close(self) -> None:
        engine, self._engine = self._engine, None
        if engine is not None:
            await asyncio.get_running_loop().run_in_executor(self._threads, engine.dispose)
        self._threads.shutdown(wait=True)

    async def read(self, fn: Callable[[Connection], T]) -> T:
        """Run ``fn`` in one read transaction on a reader thread."""
        engine = self._engine
        if engine is None:
            raise RuntimeError("open() the desk readers first")

        def work() -> T:
            with engine.connect() as conn, conn.begin():
                return fn(conn)

        return await asyncio.get_running_loop().run_in_executor(self._threads, work)
