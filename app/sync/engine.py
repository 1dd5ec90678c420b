"""The workstation's sync engine: keeps the local cache in step with the server.

It owns one WebSocket at a time and reconnects with backoff and jitter for as long as it
runs.  On every (re)connect it says hello with its cursor, applies the catch-up pages
(each page together with the cursor, in one transaction), then flushes the outbox in order.
Local changes are applied to the cache and written to the outbox in one transaction, so they
survive a crash and are delivered exactly once (the server deduplicates by mutation id).

All database work runs on one thread owned by the engine; callers get plain dicts back.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import logging
import random
import ssl
import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from functools import partial
from pathlib import Path
from typing import Any, TypeVar

from sqlalchemy import Connection, Engine, delete, insert, select, update
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed, InvalidHandshake, InvalidStatus

from app.domain.registry import DOMAIN
from app.models.base import new_id, utcnow
from app.models.entities import draft_id
from app.models.tables import T_DRAFTS, T_MESSAGES, T_TICKETS
from app.sync import cache, queries
from app.sync import protocol as p
from app.sync.cache_tables import T_REJECTIONS
from app.sync.frames import FrameReader
from app.sync.observer import ConnectionState, ConnectionStatus, Rejected, SyncObserver

log = logging.getLogger(__name__)
T = TypeVar("T")

BACKOFF_FIRST_S = 0.5
BACKOFF_MAX_S = 30.0
OUTBOX_BATCH = 200


class SignedOut(Exception):
    """The server refused the session (expired, revoked, disabled, unknown)."""


class RequestFailed(Exception):
    """A fetch or search the server answered with an error."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code


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
        self._db_thread = ThreadPoolExecutor(1, thread_name_prefix="cache")
        self._engine: Engine | None = None
        self._task: asyncio.Task[None] | None = None
        self._ws: ClientConnection | None = None
        self._outbox_ready = asyncio.Event()
        self._wake = asyncio.Event()
        self._online = asyncio.Event()
        self._settled = asyncio.Event()  # set whenever the server answers a mutation
        self._requests: dict[str, asyncio.Future[dict[str, Any]]] = {}
        self._bootstrap_seen: dict[str, set[str]] | None = None
        self._stopping = False
        self._background: set[asyncio.Task[Any]] = set()
        # Seconds the server asked us to wait before sending again (a rate_limited refusal).
        self._retry_after = 0.0

    def _spawn(self, coro: Any) -> None:
        task = asyncio.get_running_loop().create_task(coro)
        self._background.add(task)
        task.add_done_callback(self._background.discard)

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

    # ---- lifecycle -----------------------------------------------------------------------

    def start(self) -> None:
        """Connect and stay connected (in the background) until ``stop()``."""
        if self._task is None or self._task.done():
            self._stopping = False
            self._task = asyncio.get_running_loop().create_task(self._run(), name="sync")

    async def stop(self) -> None:
        self._stopping = True
        self._wake.set()
        if self._ws is not None:
            await self._ws.close()
        tasks = [*self._background, *([self._task] if self._task else [])]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        self._task = None
        self._set_status(ConnectionState.OFFLINE)

    async def close(self) -> None:
        await self.stop()
        if self._engine is not None:
            engine, self._engine = self._engine, None
            await asyncio.get_running_loop().run_in_executor(self._db_thread, engine.dispose)
        self._db_thread.shutdown(wait=True)

    async def wait_online(self, timeout: float = 30.0) -> None:
        """Wait until connected and caught up."""
        await asyncio.wait_for(self._online.wait(), timeout)

    async def wait_drained(self, timeout: float = 30.0) -> None:
        """Wait until the server has answered everything in the outbox."""
        async with asyncio.timeout(timeout):
            while await self.read(cache.outbox_count):
                self._settled.clear()
                if not await self.read(cache.outbox_count):
                    break
                await self._settled.wait()

    def retry_now(self) -> None:
        """Skip the rest of the reconnect delay."""
        self._wake.set()

    async def login(self, email: str, password: str) -> str:
        """Exchange credentials for a session token (kept in ``self.token``)."""
        async with connect(
            self.server_url + p.SYNC_PATH,
            ssl=self.ssl_context,
            max_size=p.MAX_SERVER_FRAME_BYTES,
            compression=None,
            open_timeout=15,
        ) as ws:
            await ws.send(p.encode({"type": "login", "email": email, "password": password}))
            answer = json.loads(await ws.recv())
        if answer.get("type") != "login_ok":
            raise RequestFailed(
                answer.get("code", "error"), answer.get("message", "sign-in failed")
            )
        self.token = str(answer["token"])
        agent_id = str(answer["agent_id"])
        self.agent_id = agent_id
        await self.db(lambda c: self._remember_agent(c, agent_id))
        return self.token

    @staticmethod
    def _remember_agent(conn: Connection, agent_id: str) -> None:
        previous = cache.get_state(conn, "agent_id")
        if previous is not None and previous != agent_id:
            raise RuntimeError("this cache belongs to another agent; use another cache file")
        cache.set_state(conn, "agent_id", agent_id)

    # ---- connection loop -----------------------------------------------------------------

    def _set_status(
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
            self._online.clear()
        self.observer.connection_changed(self.status)

    async def _run(self) -> None:
        attempt = 0
        while not self._stopping:
            if self.token is None:
                self._set_status(ConnectionState.SIGNED_OUT, "sign in to connect")
                return
            self._set_status(ConnectionState.CONNECTING)
            caught_up = False
            try:
                caught_up = await self._connect_once()
            except SignedOut as exc:
                self._set_status(ConnectionState.SIGNED_OUT, str(exc))
                return
            except _Incompatible as exc:
                self._set_status(ConnectionState.INCOMPATIBLE, str(exc))
                return
            except (OSError, InvalidHandshake, ConnectionClosed, TimeoutError) as exc:
                log.info("connection to %s failed: %s", self.server_url, exc)
                detail = str(exc) or type(exc).__name__
            except Exception as exc:
                # A bug (or a cache that cannot be written): never die silently with the status
                # still saying "online". Report it, and try again after the backoff.
                log.exception("sync failed")
                self.observer.error(f"sync stopped by an unexpected error: {exc}")
                detail = f"unexpected error: {type(exc).__name__}"
            else:
                detail = "connection closed"
            finally:
                self._ws = None
                self._fail_requests()
            attempt = 0 if caught_up else attempt + 1
            if self._stopping:
                return
            delay = min(BACKOFF_MAX_S, BACKOFF_FIRST_S * 2 ** max(0, attempt - 1))
            delay *= random.uniform(0.5, 1.0)  # jitter: a server restart must not be stampeded
            delay, self._retry_after = max(delay, self._retry_after), 0.0
            outbox = await self.read(cache.outbox_count)
            self._set_status(ConnectionState.RECONNECTING, detail, retry_in=delay, outbox=outbox)
            self._wake.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), delay)

    async def _connect_once(self) -> bool:
        """One connection, from handshake to close; returns whether it got caught up."""
        headers = {"Authorization": f"Bearer {self.token}"}
        try:
            ws = await connect(
                self.server_url + p.SYNC_PATH,
                additional_headers=headers,
                ssl=self.ssl_context,
                max_size=p.MAX_SERVER_FRAME_BYTES,
                compression=None,
                open_timeout=15,
                ping_interval=20,
            )
        except InvalidStatus as exc:
            if exc.response.status_code == 401:
                raise SignedOut(_error_text(bytes(exc.response.body or b""))) from exc
            raise
        self._ws = ws
        sender: asyncio.Task[None] | None = None
        caught_up = False
        frames = FrameReader(ws)
        try:
            self._set_status(ConnectionState.SYNCING)
            state = await self.read(
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
                    sender = asyncio.get_running_loop().create_task(self._send_outbox(ws))
                    await self._welcome(frame)
                elif kind == "caught_up":
                    caught_up = True
                    await self._caught_up(int(frame["cursor"]))
                elif kind == "changes":
                    await self._apply_changes(run)
                elif kind in ("ack", "reject"):
                    await self._settle(ws, run)
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
            raise _Incompatible(ws.close_reason or "protocol version unsupported")
        return caught_up

    async def _welcome(self, frame: dict[str, Any]) -> None:
        agent_id = str(frame["agent_id"])
        self.agent_id = agent_id
        await self.db(lambda c: self._remember_agent(c, agent_id))
        self._access_version = int(frame["access_version"])
        self._bootstrap_seen = {} if frame.get("bootstrap") else None
        applied = int(frame.get("last_mutation_id", 0))
        await self.db(lambda c: cache.set_state(c, "server_applied_through", applied))

    async def _caught_up(self, cursor: int) -> None:
        # The server's cursor also covers rows this agent may not see: store it, so the next
        # catch-up does not scan them again.
        await self.db(lambda c: cache.advance_cursor(c, cursor), refetchable=True)
        outbox = await self.read(cache.outbox_count)
        self._set_status(ConnectionState.ONLINE, outbox=outbox)
        self._online.set()
        for ticket_id in await self.read(cache.pending_fetches):
            self._spawn(self._fetch_gained(ticket_id))

    _access_version = 0

    async def _dispatch(self, frame: dict[str, Any]) -> None:
        kind = frame.get("type")
        if kind == "bootstrap_done":
            seen = self._bootstrap_seen or {}
            cursor, access_version = int(frame["cursor"]), self._access_version
            await self.db(
                lambda c: cache.finish_bootstrap(c, seen, cursor, access_version),
                refetchable=True,
            )
            self._bootstrap_seen = None
            self.observer.entities_changed({k: set(v) for k, v in seen.items()})
        elif kind in ("ticket", "search_results"):
            future = self._requests.pop(str(frame.get("request_id")), None)
            if future is not None and not future.done():
                future.set_result(frame)
        elif kind == "error":
            future = self._requests.pop(str(frame.get("request_id")), None)
            if future is not None and not future.done():
                future.set_exception(RequestFailed(frame.get("code", ""), frame.get("message", "")))
            else:
                log.warning("server error: %s", frame)
                self.observer.error(str(frame.get("message", "server error")))
        elif kind == "presence":
            self.observer.presence_changed(frame["agent_id"], frame["status"])
        elif kind == "presence_snapshot":
            for agent in frame.get("agents", []):
                self.observer.presence_changed(agent["agent_id"], agent["status"])
                if agent.get("ticket_id"):
                    self.observer.viewing_changed(
                        agent["agent_id"], agent["ticket_id"], bool(agent.get("typing"))
                    )
        elif kind == "viewing":
            self.observer.viewing_changed(
                frame["agent_id"], frame.get("ticket_id"), bool(frame.get("typing"))
            )
        else:
            log.warning("ignoring unknown frame type %r", kind)

    async def _apply_changes(self, pages: list[dict[str, Any]]) -> None:
        """Apply consecutive pages (all bootstrap, or all with a cursor) in one transaction."""
        changes = [ch for page in pages for ch in page["changes"]]
        if pages[0].get("bootstrap"):
            if self._bootstrap_seen is None:
                self._bootstrap_seen = {}
            for ch in changes:
                self._bootstrap_seen.setdefault(ch["entity"], set()).add(ch["id"])
            touched = await self.db(
                lambda c: cache.apply_changes(c, changes, None), refetchable=True
            )
        else:
            cursor = max(int(page["cursor"]) for page in pages)
            touched = await self.db(
                lambda c: cache.apply_changes(c, changes, cursor), refetchable=True
            )
            if self.status.state == ConnectionState.ONLINE:
                for ch in changes:
                    if ch.get("gained"):
                        self._spawn(self._fetch_gained(ch["id"]))
        if touched:
            self.observer.entities_changed(touched)

    async def _fetch_gained(self, ticket_id: str) -> None:
        try:
            await self.fetch_ticket(ticket_id=ticket_id)
        except (RequestFailed, ConnectionError, TimeoutError) as exc:
            log.info("could not fetch the thread of ticket %s yet: %s", ticket_id, exc)

    async def _send_outbox(self, ws: ClientConnection) -> None:
        """Send every outbox row in order, then each new one as it is written."""
        last_sent = 0
        while True:
            self._outbox_ready.clear()
            batch = await self.db(partial(cache.outbox_batch, after=last_sent, limit=OUTBOX_BATCH))
            if not batch:
                await self._outbox_ready.wait()
                continue
            for row in batch:
                await ws.send(p.encode({"type": "mutation", **row}))
            last_sent = batch[-1]["mutation_id"]

    async def _settle(self, ws: ClientConnection, answers: list[dict[str, Any]]) -> None:
        """Settle consecutive acks and rejects in one transaction (one fsync for all)."""
        if answers[0]["type"] == "reject" and answers[0].get("transient"):
            # Not stored by the server: reconnecting resends it under the same id.  (A
            # transient reject always comes alone: see frames.run_key.)
            # Over our rate (rate_limited): reconnect no sooner than the server asked.
            details = answers[0].get("details")
            if isinstance(details, dict) and isinstance(details.get("retry_after"), int | float):
                self._retry_after = float(details["retry_after"])
            log.warning(
                "server could not store mutation %s; reconnecting", answers[0]["mutation_id"]
            )
            await ws.close()
            return

        def work(conn: Connection) -> tuple[list[dict[str, Any] | None], int]:
            return self._settle_in_cache(conn, answers), cache.outbox_count(conn)

        entries, outbox = await self.db(work)
        self._settled.set()
        changed: dict[str, set[str]] = {}
        rejected: list[Rejected] = []
        for frame, entry in zip(answers, entries, strict=True):
            if entry is None:
                continue  # answered before (a replay)
            changed.setdefault(entry["entity"], set()).add(entry["entity_id"])
            if entry["name"] == "message.add":
                changed.setdefault("message", set()).add(entry["args"]["message"]["id"])
            if frame["type"] == "reject":
                rejected.append(
                    Rejected(
                        frame["mutation_id"],
                        entry["name"],
                        frame.get("code", ""),
                        frame.get("message", ""),
                        entry["args"],
                        frame.get("current"),
                    )
                )
        if not changed:
            return
        self.observer.entities_changed(changed)
        for rejection in rejected:
            self.observer.mutation_rejected(rejection)
        if self.status.state == ConnectionState.ONLINE:
            self._set_status(ConnectionState.ONLINE, outbox=outbox)

    def _settle_in_cache(
        self, conn: Connection, answers: list[dict[str, Any]]
    ) -> list[dict[str, Any] | None]:
        """Settle answers in order: each run of acks at once, each reject on its own."""
        entries: list[dict[str, Any] | None] = []
        for is_ack, run in itertools.groupby(answers, key=lambda a: a["type"] == "ack"):
            frames = list(run)
            if not is_ack:
                entries.extend(cache.settle(conn, frame) for frame in frames)
                continue
            entries.extend(cache.settle_acks(conn, [frame["mutation_id"] for frame in frames]))
        return entries

    def _fail_requests(self) -> None:
        for future in self._requests.values():
            if not future.done():
                future.set_exception(ConnectionError("connection lost"))
        self._requests.clear()

    # ---- local changes -------------------------------------------------------------------

    def _enqueue(
        self,
        conn: Connection,
        name: str,
        args: dict[str, Any],
        entity: str,
        entity_id: str,
        **extra: Any,
    ) -> int:
        DOMAIN.parse(name, args)  # never queue what the server must refuse as invalid
        mutation_id = cache.enqueue(
            conn, name, args, entity, entity_id, extra.get("patch"), extra.get("base")
        )
        return mutation_id

    async def _local(self, fn: Callable[[Connection], T], changed: dict[str, set[str]]) -> T:
        result = await self.db(fn)
        self._outbox_ready.set()
        self.observer.entities_changed(changed)
        if self.status.state != ConnectionState.ONLINE:
            outbox = await self.read(cache.outbox_count)
            self._set_status(self.status.state, self.status.detail, self.status.retry_in, outbox)
        return result

    def _require_agent(self) -> str:
        if self.agent_id is None:
            raise RuntimeError("not signed in: the cache does not know its agent yet")
        return self.agent_id

    async def reply(
        self,
        ticket_id: str,
        body: str,
        *,
        kind: str = "reply",
        seen_version: int | None = None,
        clears_draft: bool = True,
    ) -> str:
        """Queue a public reply or internal note; returns the message id."""
        agent_id = self._require_agent()
        message_id = new_id()

        def work(conn: Connection) -> None:
            version = conn.execute(
                select(T_TICKETS.c.version).where(T_TICKETS.c.id == ticket_id)
            ).scalar()
            if version is None:
                raise KeyError(f"ticket {ticket_id} is not in the cache")
            args: dict[str, Any] = {
                "message": {"id": message_id, "ticket_id": ticket_id, "kind": kind, "body": body}
            }
            if kind == "reply":
                args["seen_version"] = version if seen_version is None else seen_version
            self._enqueue(conn, "message.add", args, "message", message_id)
            conn.execute(
                insert(T_MESSAGES).values(
                    id=message_id,
                    ticket_id=ticket_id,
                    kind=kind,
                    author_type="agent",
                    author_agent_id=agent_id,
                    body=body,
                    created_at=utcnow(),
                    delivery_state="queued",
                )
            )
            if clears_draft:
                # The draft goes with the send, after it in the outbox: the text lives on in
                # the queued message (kept, marked failed, if the server refuses it), and
                # whatever the agent types next is a new draft.
                self._discard_draft(conn, agent_id, ticket_id, only_if_any=True)

        changed = {"message": {message_id}, "ticket": {ticket_id}}
        if clears_draft:
            changed["draft"] = {draft_id(agent_id, ticket_id)}
        await self._local(work, changed)
        return message_id

    async def update_ticket(
        self, ticket_id: str, changes: dict[str, Any], seen_version: int | None = None
    ) -> int:
        """Queue a change of ticket fields, applied to the cache at once."""
        normalised = p.validated_changes(p.TicketChanges, changes)

        def work(conn: Connection) -> int:
            row = (
                conn.execute(select(T_TICKETS).where(T_TICKETS.c.id == ticket_id))
                .mappings()
                .first()
            )
            if row is None:
                raise KeyError(f"ticket {ticket_id} is not in the cache")
            base = {k: row[k] for k in normalised}
            args = {
                "ticket_id": ticket_id,
                "changes": normalised,
                "seen_version": row["version"] if seen_version is None else seen_version,
            }
            mutation_id = self._enqueue(
                conn, "ticket.update", args, "ticket", ticket_id, patch=normalised, base=base
            )
            conn.execute(update(T_TICKETS).where(T_TICKETS.c.id == ticket_id).values(**normalised))
            return mutation_id

        return await self._local(work, {"ticket": {ticket_id}})

    async def add_tag(self, ticket_id: str, tag: str) -> int | None:
        """Add ``tag`` to the ticket's tags as the cache has them *now* (read in the same
        transaction as the change), for bulk tagging: a list row not loaded yet, or loaded
        before a colleague's tag arrived, must not decide the other tags.  None if the
        ticket already has it.  (Tags are last-writer-wins on the server: see
        docs/protocol.md 11.7.)"""
        normalised = p.validated_changes(p.TicketChanges, {"tags": [tag]})
        tag = normalised["tags"][0]

        def work(conn: Connection) -> int | None:
            row = (
                conn.execute(
                    select(T_TICKETS.c.tags, T_TICKETS.c.version).where(T_TICKETS.c.id == ticket_id)
                )
                .mappings()
                .first()
            )
            if row is None:
                raise KeyError(f"ticket {ticket_id} is not in the cache")
            tags = list(row["tags"] or [])
            if tag in tags:
                return None
            changes = {"tags": [*tags, tag]}
            args = {"ticket_id": ticket_id, "changes": changes, "seen_version": row["version"]}
            mutation_id = self._enqueue(
                conn, "ticket.update", args, "ticket", ticket_id, patch=changes, base={"tags": tags}
            )
            conn.execute(update(T_TICKETS).where(T_TICKETS.c.id == ticket_id).values(**changes))
            return mutation_id

        return await self._local(work, {"ticket": {ticket_id}})

    async def save_draft(self, ticket_id: str, body: str, kind: str = "reply") -> None:
        """Keep the agent's unsent text (call it debounced while typing)."""
        agent_id = self._require_agent()
        did = draft_id(agent_id, ticket_id)

        def work(conn: Connection) -> None:
            now = utcnow()
            done = conn.execute(
                update(T_DRAFTS)
                .where(T_DRAFTS.c.id == did)
                .values(body=body, kind=kind, updated_at=now)
            )
            if done.rowcount == 0:
                conn.execute(
                    insert(T_DRAFTS).values(
                        id=did,
                        agent_id=agent_id,
                        ticket_id=ticket_id,
                        kind=kind,
                        body=body,
                        updated_at=now,
                    )
                )
            args = {"ticket_id": ticket_id, "kind": kind, "body": body}
            if not cache.coalesce_draft(conn, ticket_id, args):
                self._enqueue(conn, "draft.save", args, "draft", ticket_id)

        await self._local(work, {"draft": {did}})

    async def discard_draft(self, ticket_id: str) -> None:
        agent_id = self._require_agent()
        did = draft_id(agent_id, ticket_id)

        await self._local(
            lambda conn: self._discard_draft(conn, agent_id, ticket_id), {"draft": {did}}
        )

    def _discard_draft(
        self, conn: Connection, agent_id: str, ticket_id: str, *, only_if_any: bool = False
    ) -> None:
        """Delete the draft here and queue its deletion on the server.

        ``only_if_any``: skip the server round trip when this workstation knows of no draft
        (a reply typed without one, the usual case).
        """
        done = conn.execute(delete(T_DRAFTS).where(T_DRAFTS.c.id == draft_id(agent_id, ticket_id)))
        if only_if_any and not done.rowcount and not cache.draft_work_queued(conn, ticket_id):
            return
        self._enqueue(conn, "draft.delete", {"ticket_id": ticket_id}, "draft", ticket_id)

    async def create_ticket(
        self,
        subject: str,
        channel: str,
        *,
        group_id: str | None,
        customer_id: str | None = None,
        assignee_id: str | None = None,
        priority: str = "normal",
        first_message: str | None = None,
        message_kind: str = "reply",
    ) -> str:
        """Open a ticket (works offline; the server numbers it when it arrives)."""
        agent_id = self._require_agent()
        ticket_id = new_id()
        ticket: dict[str, Any] = {
            "id": ticket_id,
            "subject": subject,
            "channel": channel,
            "priority": priority,
            "customer_id": customer_id,
            "group_id": group_id,
            "assignee_id": assignee_id,
            "tags": [],
        }
        args: dict[str, Any] = {"ticket": ticket}
        message_id = new_id() if first_message else None
        if first_message:
            args["message"] = {
                "id": message_id,
                "ticket_id": ticket_id,
                "kind": message_kind,
                "body": first_message,
            }

        def work(conn: Connection) -> None:
            self._enqueue(conn, "ticket.create", args, "ticket", ticket_id)
            now = utcnow()
            conn.execute(
                insert(T_TICKETS).values(
                    id=ticket_id,
                    number=None,
                    subject=subject,
                    status="new",
                    priority=priority,
                    channel=channel,
                    customer_id=customer_id,
                    assignee_id=assignee_id,
                    group_id=group_id,
                    tags=[],
                    created_at=now,
                    updated_at=now,
                    version=0,
                )
            )
            if message_id:
                conn.execute(
                    insert(T_MESSAGES).values(
                        id=message_id,
                        ticket_id=ticket_id,
                        kind=message_kind,
                        author_type="agent",
                        author_agent_id=agent_id,
                        body=first_message,
                        created_at=now,
                        delivery_state="queued",
                    )
                )

        await self._local(work, {"ticket": {ticket_id}})
        return ticket_id

    async def mutate(self, name: str, args: dict[str, Any], entity: str, entity_id: str) -> int:
        """Queue any other mutation (customers, canned responses, accounts) without an
        optimistic change; the cache updates when the server's change arrives."""
        return await self._local(lambda c: self._enqueue(c, name, args, entity, entity_id), {})

    async def rejections(self) -> list[dict[str, Any]]:
        return await self.read(queries.rejections)

    async def dismiss_rejection(self, mutation_id: int) -> None:
        await self.db(lambda c: queries.dismiss_rejection(c, mutation_id))

    async def resend_rejected(self, mutation_id: int) -> int:
        """Queue a refused change again ("send anyway" after a conflict), now against the
        ticket's current cached version: the agent has reviewed what changed meanwhile.

        A ``message.add``: the failed local message is removed and the same text queued as a
        new message (a new id: the server has already answered the old one).  A
        ``ticket.update``: the same changes, applied to the cache again.  The rejection goes
        too, all in one local transaction.  Returns the new mutation id.  Raises ``KeyError``
        if there is no such rejection or its ticket left the cache, ``ValueError`` for other
        kinds of change.  Observers hear of the message, the ticket and the ``rejection``.
        """
        agent_id = self._require_agent()
        changed: dict[str, set[str]] = {"rejection": {str(mutation_id)}}

        def work(conn: Connection) -> int:
            name, args = self._rejection(conn, mutation_id)
            if name == "message.add":
                message = dict(args["message"])
                ticket_id = str(message["ticket_id"])
                version = conn.execute(
                    select(T_TICKETS.c.version).where(T_TICKETS.c.id == ticket_id)
                ).scalar()
                if version is None:
                    raise KeyError(f"ticket {ticket_id} is not in the cache")
                old_id = str(message["id"])
                conn.execute(
                    delete(T_MESSAGES).where(
                        T_MESSAGES.c.id == old_id, T_MESSAGES.c.delivery_state == "failed"
                    )
                )
                message["id"] = new_id()
                new_args: dict[str, Any] = {"message": message}
                if "seen_version" in args:  # replies are guarded, notes are not
                    new_args["seen_version"] = version
                resent = self._enqueue(conn, "message.add", new_args, "message", message["id"])
                conn.execute(
                    insert(T_MESSAGES).values(
                        id=message["id"],
                        ticket_id=ticket_id,
                        kind=message.get("kind", "reply"),
                        author_type="agent",
                        author_agent_id=agent_id,
                        body=message["body"],
                        created_at=utcnow(),
                        delivery_state="queued",
                    )
                )
                changed["message"] = {old_id, message["id"]}
            elif name == "ticket.update":
                ticket_id = str(args["ticket_id"])
                changes = dict(args["changes"])
                row = (
                    conn.execute(select(T_TICKETS).where(T_TICKETS.c.id == ticket_id))
                    .mappings()
                    .first()
                )
                if row is None:
                    raise KeyError(f"ticket {ticket_id} is not in the cache")
                base = {k: row[k] for k in changes if k in row}
                new_args = {
                    "ticket_id": ticket_id,
                    "changes": changes,
                    "seen_version": row["version"],
                }
                resent = self._enqueue(
                    conn, "ticket.update", new_args, "ticket", ticket_id, patch=changes, base=base
                )
                conn.execute(update(T_TICKETS).where(T_TICKETS.c.id == ticket_id).values(**changes))
            else:
                raise ValueError(f"a refused {name} cannot be sent again; copy its text instead")
            changed["ticket"] = {ticket_id}
            conn.execute(delete(T_REJECTIONS).where(T_REJECTIONS.c.mutation_id == mutation_id))
            return resent

        # ``changed`` is filled in by ``work`` before ``_local`` reports it.
        return await self._local(work, changed)

    async def discard_rejected(self, mutation_id: int) -> None:
        """Forget a refused change ("discard"): the rejection and, for a ``message.add``, the
        failed message it left in the thread.  Nothing happens if it is already gone."""
        changed: dict[str, set[str]] = {"rejection": {str(mutation_id)}}

        def work(conn: Connection) -> None:
            try:
                name, args = self._rejection(conn, mutation_id)
            except KeyError:
                return
            if name == "message.add":
                message = args["message"]
                conn.execute(
                    delete(T_MESSAGES).where(
                        T_MESSAGES.c.id == message["id"], T_MESSAGES.c.delivery_state == "failed"
                    )
                )
                changed["message"] = {str(message["id"])}
                changed["ticket"] = {str(message["ticket_id"])}
            conn.execute(delete(T_REJECTIONS).where(T_REJECTIONS.c.mutation_id == mutation_id))

        await self.db(work)
        self.observer.entities_changed(changed)

    @staticmethod
    def _rejection(conn: Connection, mutation_id: int) -> tuple[str, dict[str, Any]]:
        row = conn.execute(
            select(T_REJECTIONS.c.name, T_REJECTIONS.c.args).where(
                T_REJECTIONS.c.mutation_id == mutation_id
            )
        ).first()
        if row is None:
            raise KeyError(f"no refused change {mutation_id}")
        return str(row.name), dict(row.args)

    async def end_session(self, timeout: float = 8.0) -> bool:
        """Sign out on the server, then stop syncing (the engine ends SIGNED_OUT, tokenless).

        Over the live connection when there is one, else over a connection of its own (as
        ``switchboard logout`` does).  Returns whether the server confirmed: it closed with
        1000 "signed out", or refused the token as already over (HTTP 401).  False when it
        could not be reached: the session then ends on the server when it expires.
        """
        token = self.token
        confirmed = False
        self._stopping = True  # the server's close must not start a reconnect
        ws = self._ws
        if ws is not None:
            try:
                await ws.send(p.encode({"type": "logout"}))
                async with asyncio.timeout(timeout):
                    await ws.wait_closed()
                confirmed = ws.close_code == 1000
            except (ConnectionClosed, TimeoutError):
                confirmed = ws.close_code == 1000
        if not confirmed and token is not None:
            confirmed = await self._end_session_standalone(token, timeout)
        await self.stop()
        self.token = None
        self._set_status(ConnectionState.SIGNED_OUT, "signed out")
        return confirmed

    async def _end_session_standalone(self, token: str, timeout: float) -> bool:
        ws: ClientConnection | None = None
        try:
            async with connect(
                self.server_url + p.SYNC_PATH,
                additional_headers={"Authorization": f"Bearer {token}"},
                ssl=self.ssl_context,
                max_size=p.MAX_SERVER_FRAME_BYTES,
                compression=None,
                open_timeout=timeout,
            ) as ws:
                await ws.send(p.encode({"type": "logout"}))
                async with asyncio.timeout(timeout):
                    async for _ in ws:
                        pass  # the server answers by closing with 1000 "signed out"
        except InvalidStatus as exc:
            return exc.response.status_code == 401  # already over (expired, revoked)
        except (OSError, InvalidHandshake, TimeoutError, ConnectionClosed):
            pass
        return ws is not None and ws.close_code == 1000

    # ---- requests and presence -----------------------------------------------------------

    async def _request(self, frame: dict[str, Any], timeout: float) -> dict[str, Any]:
        ws = self._ws
        if ws is None or self.status.state != ConnectionState.ONLINE:
            raise ConnectionError("not connected to the server")
        request_id = uuid.uuid4().hex
        future: asyncio.Future[dict[str, Any]] = asyncio.get_running_loop().create_future()
        self._requests[request_id] = future
        try:
            await ws.send(p.encode({**frame, "request_id": request_id}))
            return await asyncio.wait_for(future, timeout)
        finally:
            self._requests.pop(request_id, None)

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
        await self.db(lambda c: cache.fetched(c, bundle), refetchable=True)
        self.observer.entities_changed(
            {"ticket": {bundle["ticket"]["id"]}, "message": {m["id"] for m in bundle["messages"]}}
        )
        return bundle

    async def search_remote(self, query: str, limit: int = 50) -> list[dict[str, Any]]:
        answer = await self._request({"type": "search", "query": query, "limit": limit}, 15.0)
        return list(answer["tickets"])

    async def set_presence(self, status: str) -> None:
        if self._ws is not None and self.status.state == ConnectionState.ONLINE:
            await self._ws.send(p.encode({"type": "presence", "status": status}))

    async def set_viewing(self, ticket_id: str | None, typing: bool = False) -> None:
        if self._ws is not None and self.status.state == ConnectionState.ONLINE:
            await self._ws.send(
                p.encode({"type": "viewing", "ticket_id": ticket_id, "typing": typing})
            )


class _Incompatible(Exception):
    pass


def _error_text(body: bytes) -> str:
    try:
        data = json.loads(body or b"{}")
        return str(data.get("message") or data.get("code") or "session refused")
    except ValueError:
        return "session refused"
