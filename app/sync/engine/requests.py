"""Requests to the server over the live connection (fetch a ticket, search), and presence.

A request is a frame with a ``request_id``; its answer (or an ``error`` naming it) resolves
the caller's future.  Only while online: offline, the caller hears so at once.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from typing import Any

from websockets.exceptions import ConnectionClosed

from app.sync import cache
from app.sync import protocol as p
from app.sync.engine.context import EngineContext
from app.sync.engine.errors import NotConnected, RequestFailed
from app.sync.observer import ConnectionState

log = logging.getLogger(__name__)


class Requests:
    """Requests awaiting their answers, and the agent's presence and viewing."""

    def __init__(self, ctx: EngineContext) -> None:
        self._ctx = ctx
        self._waiting: dict[str, asyncio.Future[dict[str, Any]]] = {}

    async def _request(self, frame: dict[str, Any], timeout: float) -> dict[str, Any]:
        ws = self._ctx.ws
        if ws is None or self._ctx.status.state != ConnectionState.ONLINE:
            raise NotConnected("not connected to the server")
        request_id = uuid.uuid4().hex
        future: asyncio.Future[dict[str, Any]] = asyncio.get_running_loop().create_future()
        self._waiting[request_id] = future
        try:
            await ws.send(p.encode({**frame, "request_id": request_id}))
            return await asyncio.wait_for(future, timeout)
        except ConnectionClosed as exc:
            raise NotConnected("the connection to the server was lost") from exc
        finally:
            self._waiting.pop(request_id, None)

    def answer(self, frame: dict[str, Any]) -> None:
        """A ``ticket``, ``search_results`` or ``error`` frame: resolve its request."""
        future = self._waiting.pop(str(frame.get("request_id")), None)
        if frame.get("type") != "error":
            if future is not None and not future.done():
                future.set_result(frame)
        elif future is not None and not future.done():
            future.set_exception(RequestFailed(frame.get("code", ""), frame.get("message", "")))
        else:
            log.warning("server error: %s", frame)
            self._ctx.observer.error(str(frame.get("message", "server error")))

    def fail_all(self) -> None:
        """The connection is gone: no answer will come."""
        for future in self._waiting.values():
            if not future.done():
                future.set_exception(NotConnected("the connection to the server was lost"))
        self._waiting.clear()

    async def fetch_ticket(
        self, *, number: int | None = None, ticket_id: str | None = None, timeout: float = 15.0
    ) -> dict[str, Any]:
        """Fetch a ticket beyond the cache (older than the window) and keep it."""
        frame: dict[str, Any] = {"type": "fetch_ticket"}
        if number is not None:
            frame["number"] = number
        if ticket_id is not None:
            frame["ticket_id"] = ticket_id
        bundle = await self._request(frame, timeout)
        notice = await self._ctx.db(lambda c: cache.fetched(c, bundle), refetchable=True)
        self._ctx.observer.entities_changed(notice)
        return bundle

    async def search_remote(self, query: str, limit: int = 50) -> list[dict[str, Any]]:
        answer = await self._request({"type": "search", "query": query, "limit": limit}, 15.0)
        return list(answer["tickets"])

    # ---- presence --------------------------------------------------------------------------

    async def set_presence(self, status: str) -> None:
        ws = self._ctx.ws
        if ws is not None and self._ctx.status.state == ConnectionState.ONLINE:
            await ws.send(p.encode({"type": "presence", "status": status}))

    async def set_viewing(self, ticket_id: str | None, typing: bool = False) -> None:
        ws = self._ctx.ws
        if ws is not None and self._ctx.status.state == ConnectionState.ONLINE:
            await ws.send(p.encode({"type": "viewing", "ticket_id": ticket_id, "typing": typing}))

    def presence(self, frame: dict[str, Any]) -> None:
        """A ``presence``, ``presence_snapshot`` or ``viewing`` frame: tell the observer."""
        observer = self._ctx.observer
        kind = frame.get("type")
        if kind == "presence":
            observer.presence_changed(frame["agent_id"], frame["status"])
        elif kind == "presence_snapshot":
            for agent in frame.get("agents", []):
                observer.presence_changed(agent["agent_id"], agent["status"])
                if agent.get("ticket_id"):
                    observer.viewing_changed(
                        agent["agent_id"], agent["ticket_id"], bool(agent.get("typing"))
                    )
        else:
            observer.viewing_changed(
                frame["agent_id"], frame.get("ticket_id"), bool(frame.get("typing"))
            )
