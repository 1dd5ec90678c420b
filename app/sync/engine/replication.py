"""Replication: the server's changes into the cache — catch-up and live pages, bootstrap,
caught-up, and the threads of tickets the agent gained access to."""

from __future__ import annotations

import logging
from typing import Any

from app.sync import cache
from app.sync.engine.context import EngineContext
from app.sync.engine.errors import RequestFailed
from app.sync.engine.requests import Requests
from app.sync.notice import Touched
from app.sync.observer import ConnectionState

log = logging.getLogger(__name__)


class Replication:
    """Applies what the server sends, page by page, each page with its cursor."""

    def __init__(self, ctx: EngineContext, requests: Requests) -> None:
        self._ctx = ctx
        self._requests = requests
        self._access_version = 0
        # While a bootstrap runs: every row it sent (by entity, with their tickets); the rows
        # it did not mention are no longer visible and go when it is done.
        self._bootstrap: Touched | None = None

    async def welcome(self, frame: dict[str, Any]) -> None:
        await self._ctx.remember_agent(str(frame["agent_id"]))
        self._access_version = int(frame["access_version"])
        self._bootstrap = Touched() if frame.get("bootstrap") else None
        applied = int(frame.get("last_mutation_id", 0))
        await self._ctx.db(lambda c: cache.set_state(c, "server_applied_through", applied))

    async def caught_up(self, cursor: int) -> None:
        ctx = self._ctx
        # The server's cursor also covers rows this agent may not see: store it, so the next
        # catch-up does not scan them again.
        await ctx.db(lambda c: cache.advance_cursor(c, cursor), refetchable=True)
        outbox = await ctx.read(cache.changes_waiting)
        ctx.set_status(ConnectionState.ONLINE, outbox=outbox)
        ctx.online.set()
        for ticket_id in await ctx.read(cache.pending_fetches):
            ctx.spawn(self._fetch_gained(ticket_id))

    async def bootstrap_done(self, frame: dict[str, Any]) -> None:
        seen = self._bootstrap or Touched()
        cursor, access_version = int(frame["cursor"]), self._access_version
        dropped = await self._ctx.db(
            lambda c: cache.finish_bootstrap(c, seen.entities, cursor, access_version),
            refetchable=True,
        )
        self._bootstrap = None
        seen.merge(dropped)
        self._ctx.observer.entities_changed(seen.notice())

    async def apply_changes(self, pages: list[dict[str, Any]]) -> None:
        """Apply consecutive pages (all bootstrap, or all with a cursor) in one transaction."""
        ctx = self._ctx
        changes = [ch for page in pages for ch in page["changes"]]
        if pages[0].get("bootstrap"):
            if self._bootstrap is None:
                self._bootstrap = Touched()
            touched = await ctx.db(
                lambda c: cache.apply_changes(c, changes, None), refetchable=True
            )
            self._bootstrap.merge(touched)
        else:
            cursor = max(int(page["cursor"]) for page in pages)
            touched = await ctx.db(
                lambda c: cache.apply_changes(c, changes, cursor), refetchable=True
            )
            if ctx.status.state == ConnectionState.ONLINE:
                for ch in changes:
                    if ch.get("gained"):
                        ctx.spawn(self._fetch_gained(ch["id"]))
        if touched:
            ctx.observer.entities_changed(touched)

    async def _fetch_gained(self, ticket_id: str) -> None:
        try:
            await self._requests.fetch_ticket(ticket_id=ticket_id)
        except (RequestFailed, ConnectionError, TimeoutError) as exc:
            log.info("could not fetch the thread of ticket %s yet: %s", ticket_id, exc)
