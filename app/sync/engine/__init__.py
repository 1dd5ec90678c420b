"""The workstation's sync engine: keeps the local cache in step with the server.

It owns one WebSocket at a time and reconnects with backoff and jitter for as long as it
runs.  On every (re)connect it says hello with its cursor, applies the catch-up pages
(each page together with the cursor, in one transaction), then flushes the outbox in order.
Local changes are applied to the cache and written to the outbox in one transaction, so they
survive a crash and are delivered exactly once (the server deduplicates by mutation id).

All database work runs on one thread owned by the engine; callers get plain dicts back.
Every change to the cache reaches the observer as one ``ChangeNotice`` (``app/sync/notice.py``):
the changed rows by entity and the tickets they are on.

``SyncEngine`` is the one object callers hold; each responsibility lives in a module of
this package, and the engine only hands calls to them:

=================  ===========================================================================
``context``        what the parts share: cache thread, observer, status, token, live socket
``connection``     connect/reconnect with backoff, hello, routing each run of frames
``replication``    change pages (catch-up, live, bootstrap), caught-up, gained tickets
``outbox``         sending the outbox, settling acks and rejects
``local``          the agent's changes: replies, ticket fields, tags, drafts, new tickets
``refusals``       refused changes: list, resend, dismiss
``requests``       fetch a ticket, search the server, presence and viewing
``signin``         login and end_session
``attachments``    files attached here, their bytes sent before their message, fetched lazily
=================  ===========================================================================
"""

from __future__ import annotations

import ssl
from pathlib import Path
from typing import Any

from app.sync.engine.attachments import Attachments
from app.sync.engine.connection import ConnectionLoop
from app.sync.engine.context import EngineContext
from app.sync.engine.errors import (
    KnownError,
    NotASwitchboardServer,
    NotConnected,
    NotOnThisWorkstation,
    RequestFailed,
    SignedOut,
)
from app.sync.engine.local import LocalChanges
from app.sync.engine.outbox import OutboxSender
from app.sync.engine.refusals import Refusals
from app.sync.engine.replication import Replication
from app.sync.engine.requests import Requests
from app.sync.engine.signin import SignIn, end_session_on_server
from app.sync.observer import ConnectionStatus, SyncObserver

__all__ = [
    "KnownError",
    "NotASwitchboardServer",
    "NotConnected",
    "NotOnThisWorkstation",
    "RequestFailed",
    "SignedOut",
    "SyncEngine",
    "end_session_on_server",
]


class SyncEngine:
    """One workstation's connection to one server, for one agent."""

    def __init__(
        self,
        cache_path: Path,
        server_url: str,
        *,
        token: str | None = None,
        observer: SyncObserver | None = None,
        ssl_context: ssl.SSLContext | None = None,
    ) -> None:
        ctx = EngineContext(
            cache_path, server_url, token=token, observer=observer, ssl_context=ssl_context
        )
        self._ctx = ctx
        self.cache_path = ctx.cache_path
        self.ssl_context = ctx.ssl_context
        # The parts, each given only what it uses.
        self._requests = Requests(ctx)
        self._replication = Replication(ctx, self._requests)
        self.attachments = Attachments(ctx)
        self._outbox = OutboxSender(ctx, self.attachments)
        self._connection = ConnectionLoop(
            ctx, self._replication, self._outbox, self._requests, self.attachments
        )
        self._local = LocalChanges(ctx)
        self._refusals = Refusals(ctx, self._local)
        self._signin = SignIn(ctx, self._connection)
        # The public API: each call goes straight to the part that does it.
        self.open = ctx.open
        self.db = ctx.db
        self.read = ctx.read
        self.start = self._connection.start
        self.stop = self._connection.stop
        self.wait_online = self._connection.wait_online
        self.retry_now = self._connection.retry_now
        self.wait_drained = self._outbox.wait_drained
        self.login = self._signin.login
        self.end_session = self._signin.end_session
        self.reply = self._local.reply
        self.update_ticket = self._local.update_ticket
        self.add_tag = self._local.add_tag
        self.save_draft = self._local.save_draft
        self.discard_draft = self._local.discard_draft
        self.create_ticket = self._local.create_ticket
        self.mutate = self._local.mutate
        self.refusals = self._refusals.refusals
        self.resend_refused = self._refusals.resend_refused
        self.dismiss_refusal = self._refusals.dismiss_refusal
        self.fetch_ticket = self._requests.fetch_ticket
        self.search_remote = self._requests.search_remote
        self.set_presence = self._requests.set_presence
        self.set_viewing = self._requests.set_viewing

    # Shared with the parts (set by callers: the bridge swaps the observer, sign-out drops
    # the token), so they live in the context and are only passed through here.

    @property
    def server_url(self) -> str:
        return self._ctx.server_url

    @server_url.setter
    def server_url(self, url: str) -> None:
        # A caller may point the engine at another address (a server restarted on another
        # port): every part connects through the context, so it must change there.
        self._ctx.server_url = url.rstrip("/")

    @property
    def token(self) -> str | None:
        return self._ctx.token

    @token.setter
    def token(self, token: str | None) -> None:
        self._ctx.token = token

    @property
    def observer(self) -> SyncObserver:
        return self._ctx.observer

    @observer.setter
    def observer(self, observer: SyncObserver) -> None:
        self._ctx.observer = observer

    @property
    def agent_id(self) -> str | None:
        return self._ctx.agent_id

    @property
    def status(self) -> ConnectionStatus:
        return self._ctx.status

    async def close(self) -> None:
        """Stop syncing and close the cache."""
        await self._connection.stop()
        await self._ctx.close()

    async def _apply_changes(self, pages: list[dict[str, Any]]) -> None:
        """What the connection does with a run of ``changes`` frames (bench/desk_probe.py
        feeds the engine such runs without a server)."""
        await self._replication.apply_changes(pages)
