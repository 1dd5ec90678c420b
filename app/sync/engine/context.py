"""What every part of one sync engine shares: the cache thread, the observer, the status.

All database work runs on one thread owned by the engine; callers get plain dicts back.
"""

from __future__ import annotations

import asyncio
import ssl
from collections.abc import Callable, Coroutine
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, TypeVar

from sqlalchemy import Connection, Engine
from websockets.asyncio.client import ClientConnection

from app.sync import cache
from app.sync.observer import ConnectionState, ConnectionStatus, SyncObserver

T = TypeVar("T")


class EngineContext:
    """One workstation's link to one server for one agent: settings, session, cache thread,
    connection status and the live socket, shared by the engine's parts."""

    def __init__(
        self,
        cache_path: Path,
        server_url: str,
        *,
        token: str | None,
        observer: SyncObserver | None,
        ssl_context: ssl.SSLContext | None,
    ) -> None:
        self.cache_path = cache_path
        self.server_url = server_url.rstrip("/")
        self.token = token
        self.observer = observer or SyncObserver()
        # wss:// without a context of the caller's: verify against the system's CAs (or the
        # file named by SSL_CERT_FILE), never unverified.
        if ssl_context is None and self.server_url.startswith("wss://"):
            ssl_context = ssl.create_default_context()
        self.ssl_context = ssl_context
        self.status = ConnectionStatus(ConnectionState.OFFLINE)
        self.agent_id: str | None = None
        self.ws: ClientConnection | None = None  # the live connection, while there is one
        self.outbox_ready = asyncio.Event()  # set whenever a local change joins the outbox
        self.online = asyncio.Event()
        self.settled = asyncio.Event()  # set whenever the server answers a mutation
        # Seconds the server asked us to wait before sending again (a rate_limited refusal).
        self.retry_after = 0.0
        self.background: set[asyncio.Task[Any]] = set()
        self._db_thread = ThreadPoolExecutor(1, thread_name_prefix="cache")
        self._engine: Engine | None = None

    def spawn(self, coro: Coroutine[Any, Any, Any]) -> None:
        """Run ``coro`` in the background; ``stop()`` cancels it."""
        task = asyncio.get_running_loop().create_task(coro)
        self.background.add(task)
        task.add_done_callback(self.background.discard)

    # ---- database thread -----------------------------------------------------------------

    async def open(self) -> None:
        """Open (or create, or rebuild) the local cache."""
        loop = asyncio.get_running_loop()
        self._engine = await loop.run_in_executor(
            self._db_thread, cache.open_cache, self.cache_path
        )
        self.agent_id = await self.read(lambda c: cache.get_state(c, "agent_id"))

    async def db(self, fn: Callable[[Connection], T], *, refetchable: bool = False) -> T:
        """Run ``fn`` in one write transaction on the cache thread.

        ``refetchable``: it writes only what the server would send again (see
        ``cache.REFETCHABLE``), so it may commit without waiting for the disk.
        """
        engine = self._engine
        if engine is None:
            raise RuntimeError("open() the engine first")
        if refetchable:
            engine = engine.execution_options(**cache.REFETCHABLE)

        def work() -> T:
            with engine.begin() as conn:
                return fn(conn)

        return await asyncio.get_running_loop().run_in_executor(self._db_thread, work)

    read = db  # one thread, one connection: reads and writes are serialised anyway

    async def close(self) -> None:
        """Close the cache and end its thread."""
        if self._engine is not None:
            engine, self._engine = self._engine, None
            await asyncio.get_running_loop().run_in_executor(self._db_thread, engine.dispose)
        self._db_thread.shutdown(wait=True)

    # ---- the agent and the connection status ---------------------------------------------

    async def remember_agent(self, agent_id: str) -> None:
        """Take ``agent_id`` as the signed-in agent, here and in the cache."""
        self.agent_id = agent_id
        await self.db(lambda c: _remember_agent(c, agent_id))

    def require_agent(self) -> str:
        if self.agent_id is None:
            raise RuntimeError("not signed in: the cache does not know its agent yet")
        return self.agent_id

    def set_status(
        self,
        state: ConnectionState,
        detail: str = "",
        retry_in: float | None = None,
        outbox: int | None = None,
    ) -> None:
        self.status = ConnectionStatus(
            state, detail, retry_in, self.status.outbox if outbox is None else outbox
        )
        if state != ConnectionState.ONLINE:
            self.online.clear()
        self.observer.connection_changed(self.status)


def _remember_agent(conn: Connection, agent_id: str) -> None:
    previous = cache.get_state(conn, "agent_id")
    if previous is not None and previous != agent_id:
        raise RuntimeError("this cache belongs to another agent; use another cache file")
    cache.set_state(conn, "agent_id", agent_id)
