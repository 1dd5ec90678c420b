"""The connection loop: one WebSocket at a time, reconnected with backoff and jitter for as
long as the engine runs.

On every (re)connect it says hello with the cursor, hands catch-up pages to replication and
answers to the outbox, in the order they arrive, and starts the outbox sender on ``welcome``.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
from typing import Any

from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed, InvalidHandshake, InvalidStatus

from app.sync import cache
from app.sync import protocol as p
from app.sync.engine.attachments import Attachments
from app.sync.engine.context import EngineContext
from app.sync.engine.errors import Incompatible, SignedOut, error_text
from app.sync.engine.outbox import OutboxSender
from app.sync.engine.replication import Replication
from app.sync.engine.requests import Requests
from app.sync.frames import FrameReader
from app.sync.observer import ConnectionState

log = logging.getLogger(__name__)

BACKOFF_FIRST_S = 0.5
BACKOFF_MAX_S = 30.0


class ConnectionLoop:
    """Connects, reconnects and routes each run of frames to the part that handles it."""

    def __init__(
        self,
        ctx: EngineContext,
        replication: Replication,
        outbox: OutboxSender,
        requests: Requests,
        attachments: Attachments | None = None,
    ) -> None:
        self._ctx = ctx
        self._attachments = attachments
        self._replication = replication
        self._outbox = outbox
        self._requests = requests
        self._task: asyncio.Task[None] | None = None
        self._wake = asyncio.Event()
        self.stopping = False  # set before a close the engine means: no reconnect after it

    def start(self) -> None:
        """Connect and stay connected (in the background) until ``stop()``."""
        if self._task is None or self._task.done():
            self.stopping = False
            self._task = asyncio.get_running_loop().create_task(self._run(), name="sync")

    async def stop(self) -> None:
        ctx = self._ctx
        self.stopping = True
        self._wake.set()
        if ctx.ws is not None:
            await ctx.ws.close()
        tasks = [*ctx.background, *([self._task] if self._task else [])]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        self._task = None
        ctx.set_status(ConnectionState.OFFLINE)

    async def wait_online(self, timeout: float = 30.0) -> None:
        """Wait until connected and caught up."""
        await asyncio.wait_for(self._ctx.online.wait(), timeout)

    def retry_now(self) -> None:
        """Skip the rest of the reconnect delay."""
        self._wake.set()

    async def _run(self) -> None:
        ctx = self._ctx
        attempt = 0
        while not self.stopping:
            if ctx.token is None:
                ctx.set_status(ConnectionState.SIGNED_OUT, "sign in to connect")
                return
            ctx.set_status(ConnectionState.CONNECTING)
            caught_up = False
            # Cleared as an attempt starts, not as the wait after it starts: a "retry now"
            # that comes while an attempt is failing cuts the wait after it, instead of being
            # lost (a convergence run waited out a 30 s backoff that way).
            self._wake.clear()
            try:
                caught_up = await self._connect_once()
            except SignedOut as exc:
                ctx.set_status(ConnectionState.SIGNED_OUT, str(exc))
                return
            except Incompatible as exc:
                ctx.set_status(ConnectionState.INCOMPATIBLE, str(exc))
                return
            except (OSError, InvalidHandshake, ConnectionClosed, TimeoutError) as exc:
                log.info("connection to %s failed: %s", ctx.server_url, exc)
                detail = str(exc) or type(exc).__name__
            except Exception as exc:
                # A bug (or a cache that cannot be written): never die silently with the status
                # still saying "online". Report it, and try again after the backoff.
                log.exception("sync failed")
                ctx.observer.error(f"sync stopped by an unexpected error: {exc}")
                detail = f"unexpected error: {type(exc).__name__}"
            else:
                detail = "connection closed"
            finally:
                ctx.ws = None
                self._requests.fail_all()
                if self._attachments is not None:
                    self._attachments.fail_all()
            attempt = 0 if caught_up else attempt + 1
            if self.stopping:
                return
            delay = min(BACKOFF_MAX_S, BACKOFF_FIRST_S * 2 ** max(0, attempt - 1))
            delay *= random.uniform(0.5, 1.0)  # jitter: a server restart must not be stampeded
            delay, ctx.retry_after = max(delay, ctx.retry_after), 0.0
            outbox = await ctx.read(cache.changes_waiting)
            ctx.set_status(ConnectionState.RECONNECTING, detail, retry_in=delay, outbox=outbox)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), delay)

    async def _connect_once(self) -> bool:
        """One connection, from handshake to close; returns whether it got caught up."""
        ctx = self._ctx
        headers = {"Authorization": f"Bearer {ctx.token}"}
        try:
            ws = await connect(
                ctx.server_url + p.SYNC_PATH,
                additional_headers=headers,
                ssl=ctx.ssl_context,
                max_size=p.MAX_SERVER_FRAME_BYTES,
                compression=None,
                open_timeout=15,
                ping_interval=20,
            )
        except InvalidStatus as exc:
            if exc.response.status_code == 401:
                raise SignedOut(error_text(bytes(exc.response.body or b""))) from exc
            raise
        ctx.ws = ws
        sender: asyncio.Task[None] | None = None
        caught_up = False
        frames = FrameReader(ws)
        try:
            ctx.set_status(ConnectionState.SYNCING)
            state = await ctx.read(
                lambda c: {
                    "cursor": cache.get_state(c, "cursor", 0),
                    "device_id": cache.get_state(c, "device_id"),
                    "access_version": cache.get_state(c, "access_version", 0),
                    "acked_through": cache.acked_through(c),
                }
            )
            await ws.send(
                p.encode(
                    {
                        "type": "hello",
                        "protocol": {"min": p.PROTOCOL_MIN, "max": p.PROTOCOL_MAX},
                        "client": "switchboard/0.1",
                        **state,
                    }
                )
            )
            while run := await frames.next_run():
                frame = run[0]
                kind = frame.get("type")
                if kind == "welcome":
                    sender = asyncio.get_running_loop().create_task(self._outbox.send(ws))
                    await self._replication.welcome(frame)
                    if self._attachments is not None:
                        await self._attachments.welcome(frame)
                elif kind == "caught_up":
                    caught_up = True
                    await self._replication.caught_up(int(frame["cursor"]))
                elif kind == "changes":
                    await self._replication.apply_changes(run)
                elif kind in ("ack", "reject"):
                    await self._outbox.settle(ws, run)
                else:
                    await self._dispatch(frame)
        except ConnectionClosed:
            pass
        finally:
            # Cancel both before the first await: a stop() may cancel us right there, and a
            # task whose exception nobody retrieves is logged as an error.
            helpers = [frames.task, *([sender] if sender is not None else [])]
            for task in helpers:
                task.cancel()
            await asyncio.gather(*helpers, return_exceptions=True)
            await ws.close()
        code = ws.close_code
        if code == p.CloseCode.SESSION_ENDED:
            raise SignedOut(ws.close_reason or "session ended")
        if code == p.CloseCode.PROTOCOL_UNSUPPORTED:
            raise Incompatible(ws.close_reason or "protocol version unsupported")
        return caught_up

    async def _dispatch(self, frame: dict[str, Any]) -> None:
        kind = frame.get("type")
        if kind == "bootstrap_done":
            await self._replication.bootstrap_done(frame)
        elif kind in ("blob_state", "blob_data", "error") and self._attachments_answer(frame):
            pass
        elif kind in ("ticket", "search_results", "error"):
            self._requests.answer(frame)
        elif kind in ("presence", "presence_snapshot", "viewing"):
            self._requests.presence(frame)
        else:
            log.warning("ignoring unknown frame type %r", kind)

    def _attachments_answer(self, frame: dict[str, Any]) -> bool:
        """Whether ``frame`` answered a transfer of attachments' bytes (and was handled)."""
        return self._attachments is not None and self._attachments.answer(frame)
