"""The Switchboard server: wires store, writer, hub and connections to a WebSocket listener.

One asyncio loop; database work runs on threads (one writer, a few readers) so a slow query
never stalls the fan-out.  ``GET /healthz`` answers without a WebSocket upgrade.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import http
import json
import logging
import ssl
import uuid
from collections.abc import Callable, Collection
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar
from weakref import WeakKeyDictionary

from sqlalchemy import Connection, Engine, select
from websockets.asyncio.server import Server, ServerConnection, serve
from websockets.datastructures import Headers
from websockets.http11 import Request, Response

from app.domain.sight import Audience
from app.domain.tickets import TICKET
from app.files import DEFAULT_ATTACHMENT_LIMIT
from app.models.tables import T_TICKETS
from app.server import auth, notify, replication, store
from app.server.connection import HELLO_TIMEOUT_S, AgentConnection
from app.server.hub import Hub
from app.server.notify import CommitListener
from app.server.passwords import PasswordChecks
from app.server.quotas import AgentQuotas
from app.server.writer import StoreWriter
from app.sync.protocol import HEALTH_PATH, MAX_FRAME_BYTES, SYNC_PATH, ErrorCode

log = logging.getLogger(__name__)
T = TypeVar("T")
HEAD_POLL_S = 1.0


def _json_response(status: http.HTTPStatus, body: dict[str, Any]) -> Response:
    payload = json.dumps(body).encode()
    headers = Headers(
        [
            ("Content-Type", "application/json"),
            ("Content-Length", str(len(payload))),
            ("Cache-Control", "no-store"),
            # websockets closes the TCP connection after any non-upgrade answer: say so, or
            # keep-alive HTTP clients reuse the dead socket and fail their next request.
            ("Connection", "close"),
        ]
    )
    return Response(status.value, status.phrase, headers, payload)


class SwitchboardServer:
    """The central server.  ``async with SwitchboardServer(engine).serving(host, port)``."""

    def __init__(
        self,
        engine: Engine,
        *,
        window_days: int = replication.DEFAULT_WINDOW_DAYS,
        ssl_context: ssl.SSLContext | None = None,
        allowed_origins: Collection[str] = (),
        hello_timeout: float = HELLO_TIMEOUT_S,
        quotas: AgentQuotas | None = None,
        attachment_limit: int = DEFAULT_ATTACHMENT_LIMIT,
    ) -> None:
        self.engine = engine
        # The largest attachment accepted, in bytes (told to workstations in ``welcome``).
        self.attachment_limit = attachment_limit
        self.window_days = window_days
        self.ssl_context = ssl_context
        # Browsers always send Origin, the workstation never does: a page on some other site
        # must not reach the sync endpoint (a password oracle) unless it is allowed here.
        self.allowed_origins = frozenset(allowed_origins)
        self.hello_timeout = hello_timeout
        self._readers = ThreadPoolExecutor(4, thread_name_prefix="store-reader")
        self.hub = Hub(self._read_log_after)
        # Unique per process: a server ignores the commit notifications it sent itself.
        self.origin = f"server-{uuid.uuid4().hex}"
        self.writer = StoreWriter(engine, self.hub.committed, self.origin)
        self._look = asyncio.Event()  # someone else committed: read the log's head now
        self.commit_listener: CommitListener | None = None
        self.throttle = auth.LoginThrottle()
        self.quotas = quotas or AgentQuotas()
        self.passwords = PasswordChecks(engine)
        self.T_SESSIONS: WeakKeyDictionary[ServerConnection, auth.SessionInfo] = WeakKeyDictionary()
        self._server: Server | None = None
        self._poller: asyncio.Task[None] | None = None
        self._checkpointer: asyncio.Task[None] | None = None
        self._listener_task: asyncio.Task[None] | None = None

    async def read(self, fn: Callable[[Connection], T]) -> T:
        """Run ``fn`` in a read transaction on a reader thread."""

        def work() -> T:
            with self.engine.connect() as conn:
                return fn(conn)

        return await asyncio.get_running_loop().run_in_executor(self._readers, work)

    async def _read_log_after(self, seq: int) -> list[dict[str, Any]]:
        return await self.read(lambda c: replication.read_log(c, seq))

    async def load_ticket_audience(self, ticket_id: str) -> Audience | None:
        def load(conn: Connection) -> Audience | None:
            row = (
                conn.execute(
                    select(T_TICKETS.c.group_id, T_TICKETS.c.assignee_id).where(
                        T_TICKETS.c.id == ticket_id
                    )
                )
                .mappings()
                .first()
            )
            return TICKET.sight.audience(row) if row else None

        return await self.read(load)

    # ---- HTTP side -----------------------------------------------------------------------

    async def _process_request(self, ws: ServerConnection, request: Request) -> Response | None:
        path = request.path.split("?", 1)[0]
        if path == HEALTH_PATH:
            return _json_response(
                http.HTTPStatus.OK,
                {"status": "ok", "seq": self.hub.head, "connections": len(self.hub.connections)},
            )
        if path != SYNC_PATH:
            return _json_response(
                http.HTTPStatus.NOT_FOUND,
                {"code": "not_found", "message": f"no endpoint at {path}"},
            )
        refused = [o for o in request.headers.get_all("Origin") if o not in self.allowed_origins]
        if refused:
            return _json_response(
                http.HTTPStatus.FORBIDDEN,
                {
                    "code": ErrorCode.ORIGIN_FORBIDDEN.value,
                    "message": f"origin {refused[0]} is not allowed",
                },
            )
        header = request.headers.get("Authorization")
        if header is None:
            return None  # anonymous: the first frame must be a login
        token = auth.parse_bearer(header)
        if token is None:
            return _json_response(
                http.HTTPStatus.UNAUTHORIZED,
                {"code": "token_invalid", "message": "expected 'Authorization: Bearer <token>'"},
            )
        try:
            info, touch = await self.read(lambda c: auth.resolve_token(c, token))
        except auth.AuthError as exc:
            return _json_response(
                http.HTTPStatus.UNAUTHORIZED, {"code": exc.code.value, "message": exc.message}
            )
        if touch:
            expires_at = await self.writer.run(lambda c: auth.touch_session(c, info.session_id))
            info = dataclasses.replace(info, expires_at=expires_at)
        self.T_SESSIONS[ws] = info
        return None

    async def _handler(self, ws: ServerConnection) -> None:
        conn = AgentConnection(self, ws)
        await conn.run(self.T_SESSIONS.pop(ws, None))

    # ---- lifecycle -----------------------------------------------------------------------

    async def start(self, host: str, port: int) -> None:
        self.hub.head = await self.read(replication.head_seq)
        self.writer.start()
        self._poller = asyncio.create_task(self._poll_head(), name="log-poller")
        if notify.listens(self.engine):
            listener = CommitListener(self.engine, self.origin, self._look.set)
            self.commit_listener = listener
            self._listener_task = asyncio.create_task(listener.run(), name="log-listener")
        if store.is_sqlite(self.engine):
            self._checkpointer = asyncio.create_task(self._checkpoint_wal(), name="checkpointer")
        self._server = await serve(
            self._handler,
            host,
            port,
            process_request=self._process_request,
            max_size=MAX_FRAME_BYTES,
            compression=None,  # 3x the memory per connection for little gain on small frames
            ssl=self.ssl_context,
            ping_interval=20,
            ping_timeout=20,
            max_queue=64,
        )

    @property
    def port(self) -> int:
        assert self._server is not None
        sock = next(iter(self._server.sockets))
        return int(sock.getsockname()[1])

    @property
    def url(self) -> str:
        scheme = "wss" if self.ssl_context else "ws"
        assert self._server is not None
        host = next(iter(self._server.sockets)).getsockname()[0]
        return f"{scheme}://{host}:{self.port}"

    async def _poll_head(self) -> None:
        # Other processes (a second server on the same PostgreSQL, `switchboard-server agent
        # disable`) also append to the log.  On PostgreSQL they say so (notify.py) and we look
        # at once; the timer is the safety net for a lost notification, and on SQLite (no
        # notifications) a cheap look at the head once a second finds them.
        while True:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._look.wait(), HEAD_POLL_S)
            self._look.clear()
            try:
                head = await self.read(replication.head_seq)
            except Exception:
                log.exception("could not read the change-log head")
                continue
            self.hub.notified(head)

    async def _checkpoint_wal(self) -> None:
        # See store.SAFETY_CHECKPOINT_PAGES: checkpoints kept off the writer thread.
        loop = asyncio.get_running_loop()
        while True:
            await asyncio.sleep(store.CHECKPOINT_INTERVAL_S)
            try:
                await loop.run_in_executor(self._readers, store.checkpoint_wal, self.engine)
            except Exception:
                log.exception("WAL checkpoint failed")

    async def stop(self) -> None:
        for task in (self._poller, self._checkpointer, self._listener_task):
            if task is not None:
                task.cancel()
                await asyncio.gather(task, return_exceptions=True)
        if self._server is not None:
            self._server.close(close_connections=True)
            await self._server.wait_closed()
        await self.writer.stop()
        self.hub.close()
        self._readers.shutdown(wait=True)
        self.passwords.shutdown()
