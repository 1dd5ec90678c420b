"""One workstation's WebSocket: sign-in, hello, catch-up, then mutations and requests.

States: *anonymous* (only ``login``), *signed in* (``hello`` or ``logout``), *synced*
(everything else).  Frames are handled in arrival order; mutations are queued to the writer
in that order and acknowledged asynchronously, so a workstation can pipeline its outbox.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import deque
from functools import partial
from typing import TYPE_CHECKING, Any

from websockets.asyncio.server import ServerConnection
from websockets.exceptions import ConnectionClosed
from websockets.frames import Frame, Opcode
from websockets.protocol import State

from app.domain.mutation import workstation_actor
from app.domain.sight import Viewer, can_see
from app.models.base import utcnow
from app.models.enums import Presence
from app.server import auth, replication
from app.server.blobs import BlobRequests
from app.server.quotas import rate_limited_frame
from app.server.submit import Submission, reject_frame
from app.server.workstations import register_workstation, workstation_owner
from app.server.writer import StoreUnavailable
from app.sync import protocol as p
from app.sync.protocol import CloseCode, ErrorCode, ProtocolError, encode, error_frame

if TYPE_CHECKING:
    from app.server.app import SwitchboardServer

log = logging.getLogger(__name__)

# Unsent bytes a live connection may accumulate before it is judged too slow (4008).
SEND_BUFFER_LIMIT = 4 * 1024 * 1024
# Consecutive bad frames tolerated before the connection is closed.
MAX_BAD_FRAMES = 20
# Seconds a connection may take from opening to its hello (signing in included): one that
# never gets there only holds a socket and a task.
HELLO_TIMEOUT_S = 30.0
# After a mutation over its agent's rate, each later one on the connection is refused and
# the connection is not read for at least this long.
REFUSING_WAIT_S = 1.0


def text_frame(text: str) -> bytes:
    """One complete WebSocket text frame, as the server writes it, for `AgentConnection.push`.

    `websockets.broadcast` frames the message again for every connection; with a thousand
    agents on one change that framing is a good part of the fan-out.  A server's frames are
    never masked, so the bytes are the same for every recipient.  (They are a valid frame
    with or without permessage-deflate, which this server does not negotiate anyway.)
    """
    return Frame(Opcode.TEXT, text.encode()).serialize(mask=False)


def with_details(details: dict[str, Any] | None) -> dict[str, Any]:
    """The ``details`` member of an error frame, if there are any."""
    return {} if details is None else {"details": details}


class AgentConnection:
    """The server's side of one workstation connection."""

    def __init__(self, server: SwitchboardServer, ws: ServerConnection) -> None:
        self.server = server
        self.ws = ws
        self.session: auth.SessionInfo | None = None
        self.viewer: Viewer = Viewer("", "agent", frozenset(), 0)
        self.workstation_id: str | None = None
        self.live = False
        self._sent_seq = 0
        # Acks whose change has not been pushed to this connection yet, in answer order.
        self._held_acks: deque[tuple[int, bytes]] = deque()
        self.presence = Presence.AVAILABLE
        self.viewing: str | None = None
        self.typing = False
        self.address = str(ws.remote_address[0]) if ws.remote_address else "?"
        self._closing = False
        self._bad_frames = 0
        self._said_hello = False
        self._hello_timer: asyncio.TimerHandle | None = None
        self._tasks: set[asyncio.Task[Any]] = set()
        # The answer to the last mutation read: later answers come after it (quotas).
        self._last_answer: asyncio.Future[dict[str, Any]] | None = None
        # The first mutation refused for its agent's rate, until it is sent again.
        self._refused_from: int | None = None
        self.blobs = BlobRequests(self)  # attachments' bytes (app/server/blobs.py)

    # ---- helpers -------------------------------------------------------------------------

    @property
    def sent_seq(self) -> int:
        """The change-log position this connection has been sent everything up to."""
        return self._sent_seq

    @sent_seq.setter
    def sent_seq(self, seq: int) -> None:
        self._sent_seq = seq
        while self._held_acks and self._held_acks[0][0] <= seq:
            self.push(self._held_acks.popleft()[1])

    def push(self, frame: bytes) -> None:
        """Write a pre-serialised frame (see `text_frame`) now, without waiting.

        A connection that is closing gets nothing (it resumes from its cursor); one whose unsent
        output is over SEND_BUFFER_LIMIT is too slow, and is closed with 4008.
        """
        ws = self.ws
        transport = ws.transport
        if self._closing or transport is None or ws.protocol.state is not State.OPEN:
            return
        if ws.send_in_progress is not None:
            # Our bytes would land inside a fragmented message.  The server never sends one,
            # but a frame must never be dropped silently: resuming from the cursor is safe.
            self.close_soon(CloseCode.TOO_SLOW, "send queue busy; resume from your cursor")
            return
        if transport.get_write_buffer_size() > SEND_BUFFER_LIMIT:
            self.close_soon(CloseCode.TOO_SLOW, "send queue full; resume from your cursor")
            return
        transport.write(frame)

    def close_soon(self, code: int, reason: str) -> None:
        if self._closing:
            return
        self._closing = True
        self.live = False
        self._spawn(self.ws.close(code, reason), name="close")

    def _spawn(self, coro: Any, name: str | None = None) -> None:
        task = asyncio.get_running_loop().create_task(coro, name=name)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def send(self, frame: dict[str, Any]) -> None:
        await self.ws.send(encode(frame))

    async def error(self, code: ErrorCode, message: str, **extra: Any) -> None:
        await self.send(error_frame(code, message, **extra))

    # ---- main loop -----------------------------------------------------------------------

    async def run(self, session: auth.SessionInfo | None) -> None:
        self.session = session
        # A timer, not a task: a sleeping task per connection cost about 3 KiB of memory
        # each, for 30 s after every connect (bench: idle_connection_memory).
        timeout = self.server.hello_timeout
        self._hello_timer = asyncio.get_running_loop().call_later(
            timeout, self._hello_overdue, timeout
        )
        try:
            async for raw in self.ws:
                await self._handle(raw)
        except ConnectionClosed:
            pass
        finally:
            self._closing = True  # mutations of ours still queued in the writer are refused
            if self.server.hub.leave(self):
                if self.viewing:
                    await self._announce_viewing(None, False)
                self.server.hub.presence_changed(self.viewer.id)
            if self._hello_timer is not None:
                self._hello_timer.cancel()
            for task in list(self._tasks):
                if task.get_name() != "close":
                    task.cancel()

    def _hello_overdue(self, timeout: float) -> None:
        if not self._said_hello:
            self.close_soon(CloseCode.BAD_REQUEST, f"no hello within {timeout:g} s")

    async def _handle(self, raw: str | bytes) -> None:
        try:
            frame = p.parse_client_frame(raw)
        except ProtocolError as exc:
            self._bad_frames += 1
            await self.error(exc.code, exc.message, details=exc.details)
            if self._bad_frames >= MAX_BAD_FRAMES:
                await self.ws.close(CloseCode.BAD_REQUEST, "too many invalid frames")
            return
        refusal = self._out_of_state(frame)
        if refusal is not None:
            # A well-formed frame at the wrong moment: neither counts as bad nor resets the count
            # (or a client could send bad frames forever, one refusal between every 19).
            await self.error(*refusal)
            return
        self._bad_frames = 0
        if isinstance(frame, p.Login):
            await self._login(frame)
        elif isinstance(frame, p.Logout):
            await self.server.writer.run(lambda c: auth.revoke_session(c, self.session.session_id))  # type: ignore[union-attr]
            await self.ws.close(1000, "signed out")
        elif isinstance(frame, p.Hello):
            await self._hello(frame)
        elif isinstance(frame, p.Mutation):
            await self._admit_mutation(frame, len(raw))
        elif isinstance(frame, p.FetchTicket):
            await self._fetch_ticket(frame)
        elif isinstance(frame, p.Search):
            await self._search(frame)
        elif isinstance(frame, p.SetPresence):
            self.server.hub.set_presence(self, frame.status)
        elif isinstance(frame, p.Viewing):
            await self._announce_viewing(frame.ticket_id, frame.typing)
        elif isinstance(frame, p.BlobOffer | p.BlobChunk | p.BlobFetch):
            await self.blobs.handle(frame)

    def _out_of_state(self, frame: p.ClientFrame) -> tuple[ErrorCode, str] | None:
        """The refusal of a frame this connection's state does not allow, or None."""
        if isinstance(frame, p.Login):
            if self.session is not None:
                return ErrorCode.ALREADY_AUTHENTICATED, "this connection is signed in"
        elif self.session is None:
            return ErrorCode.NOT_AUTHENTICATED, "sign in first (login frame or bearer token)"
        elif isinstance(frame, p.Hello):
            if self.workstation_id is not None:
                return ErrorCode.INVALID_MESSAGE, "hello was already sent"
        elif self.workstation_id is None and not isinstance(frame, p.Logout):
            return ErrorCode.HELLO_REQUIRED, "send hello before anything else"
        return None

    # ---- sign-in -------------------------------------------------------------------------

    async def _login(self, frame: p.Login) -> None:
        throttle = self.server.throttle
        # Key the throttle on the account as check_password finds it (stripped, lower-case):
        # otherwise " ada@example.com", "ada@example.com  "... each got five fresh attempts
        # at ada's password (found by tests/test_bad_input.py).
        account = frame.email.strip().lower()
        wait = throttle.retry_after(account, self.address)
        if wait > 0:
            await self.error(
                ErrorCode.RATE_LIMITED,
                f"too many failed sign-ins; try again in {int(wait) + 1} s",
                details={"retry_after": int(wait) + 1},
            )
            return
        try:
            agent_id = await self.server.passwords.check(frame.email, frame.password)
        except auth.AuthError as exc:
            if exc.code == ErrorCode.INVALID_CREDENTIALS:
                throttle.failed(account, self.address)
            await self.error(exc.code, exc.message, **with_details(exc.details))
            return
        throttle.succeeded(account)
        token, info = await self.server.writer.run(lambda c: auth.create_session(c, agent_id))
        self.session = info
        await self.send(
            {
                "type": "login_ok",
                "token": token,
                "agent_id": agent_id,
                "expires_at": info.expires_at.isoformat(),
            }
        )

    # ---- hello and catch-up --------------------------------------------------------------

    async def _hello(self, frame: p.Hello) -> None:
        assert self.session is not None
        self._said_hello = True
        if self._hello_timer is not None:
            self._hello_timer.cancel()
        version = p.negotiate(frame.protocol)
        if version is None:
            await self.error(
                ErrorCode.PROTOCOL_UNSUPPORTED,
                f"this server speaks protocol {p.PROTOCOL_MIN}..{p.PROTOCOL_MAX}; "
                f"the workstation offers {frame.protocol.min}..{frame.protocol.max}",
                details={"min": p.PROTOCOL_MIN, "max": p.PROTOCOL_MAX},
            )
            await self.ws.close(CloseCode.PROTOCOL_UNSUPPORTED, "protocol version unsupported")
            return
        session = self.session
        viewer = await self.server.read(lambda c: replication.load_viewer(c, session.agent_id))
        if viewer is None:
            await self.ws.close(CloseCode.SESSION_ENDED, "account no longer exists")
            return
        # Whose the device is, before anything is done in its name: another agent's hello must
        # not end the owner's connection.
        owner = await self.server.read(lambda c: workstation_owner(c, frame.device_id))
        if owner not in (None, viewer.id):
            await self._device_mismatch()
            return
        # An older connection of this device may still look alive (its socket died without a
        # close).  End it first: its mutations still queued are then refused, not applied
        # behind the number given below.
        for other in list(self.server.hub.connections):
            same = other.workstation_id == frame.device_id and other.viewer.id == viewer.id
            if same and other is not self:
                other.close_soon(CloseCode.BAD_REQUEST, "replaced by a newer connection")
        try:
            # Through the writer: a batch already holding this device's earlier mutations has
            # committed (or failed) by now, so the number below is final for this connection.
            last_mutation_id = await self.server.writer.run(
                lambda c: register_workstation(c, frame.device_id, viewer.id, frame.acked_through)
            )
        except PermissionError:  # another agent registered it meanwhile
            await self._device_mismatch()
            return
        self.viewer = viewer
        self.workstation_id = frame.device_id
        self.server.writer.unblock(frame.device_id)
        head, oldest = await self.server.read(
            lambda c: (replication.head_seq(c), replication.oldest_seq(c))
        )
        needs_bootstrap = (
            frame.cursor == 0
            or frame.access_version != viewer.access_version
            or frame.cursor > head
            or (oldest > 0 and frame.cursor < oldest - 1)
        )
        self._spawn(self._keep_session(session))
        await self.send(
            {
                "type": "welcome",
                "protocol": version,
                "agent_id": viewer.id,
                "role": viewer.role,
                "access_version": viewer.access_version,
                "session_expires_at": session.expires_at.isoformat(),
                "head": head,
                "bootstrap": needs_bootstrap,
                "last_mutation_id": last_mutation_id,
                "server_time": utcnow().isoformat(),
                "attachment_limit": self.server.attachment_limit,
            }
        )
        self.sent_seq = frame.cursor
        if needs_bootstrap:
            self.sent_seq = head
            await self._send_bootstrap(head)
        await self._catch_up()

    async def _device_mismatch(self) -> None:
        await self.error(ErrorCode.DEVICE_MISMATCH, "this device id belongs to another agent")
        await self.ws.close(CloseCode.BAD_REQUEST, "device id belongs to another agent")

    async def _keep_session(self, session: auth.SessionInfo) -> None:
        """While connected, the agent is active: extend the session every TOUCH_INTERVAL, and
        close with 4001 the moment it has expired or was ended elsewhere."""
        expires_at = session.expires_at
        while True:
            wake = min(expires_at, utcnow() + auth.TOUCH_INTERVAL)
            await asyncio.sleep(max(0.0, (wake - utcnow()).total_seconds()))
            try:
                info = await self.server.writer.run(
                    lambda c: auth.keep_alive(c, session.session_id)
                )
            except auth.AuthError as exc:
                self.close_soon(CloseCode.SESSION_ENDED, exc.message)
                return
            expires_at = info.expires_at

    async def _send_changes(self, changes: list[dict[str, Any]], header: str) -> None:
        """Send changes as ``changes`` frames of at most PAGE_BYTES (one change at least)."""
        parts: list[str] = []
        size = 0
        for change in changes:
            encoded = replication.encode_change(change)
            if parts and size + len(encoded) > p.PAGE_BYTES:
                await self.ws.send(f'{{"type":"changes",{header}"changes":[{",".join(parts)}]}}')
                parts, size = [], 0
            parts.append(encoded)
            size += len(encoded) + 1
        if parts:
            await self.ws.send(f'{{"type":"changes",{header}"changes":[{",".join(parts)}]}}')

    async def _send_bootstrap(self, head: int) -> None:
        viewer = self.viewer
        window = self.server.window_days
        pages = await self.server.read(lambda c: list(replication.bootstrap(c, viewer, window)))
        for page in pages:
            await self._send_changes(page, '"bootstrap":true,')
        await self.send({"type": "bootstrap_done", "cursor": head})

    async def _catch_up(self) -> None:
        hub = self.server.hub
        while True:
            # No await between this check and going live: the hub's next publish continues
            # exactly where this catch-up stopped.
            if self.sent_seq >= hub.head:
                break
            rows = await self.server.read(partial(replication.read_log, after=self.sent_seq))
            if not rows:
                break
            if not hub.access_still_valid(self, rows):
                return  # role, groups or account changed meanwhile: closing
            changes = [ch for r in rows if (ch := replication.present(r, self.viewer))]
            self.sent_seq = rows[-1]["seq"]
            await self._send_changes(changes, f'"cursor":{self.sent_seq},')
        hub.join(self)
        await self.send({"type": "caught_up", "cursor": self.sent_seq})
        await self.send(hub.presence_snapshot(self))
        hub.presence_changed(self.viewer.id)

    # ---- mutations and requests ----------------------------------------------------------

    def _mutation(self, frame: p.Mutation) -> None:
        assert self.workstation_id is not None
        future: asyncio.Future[dict[str, Any]] = asyncio.get_running_loop().create_future()
        req = Submission(
            workstation_actor(self.viewer),
            frame.name,
            frame.args,
            workstation_id=self.workstation_id,
            mutation_id=frame.mutation_id,
            future=future,
            is_live=lambda: not self._closing,
        )
        # Answered from a callback rather than a task per mutation: a pipelining workstation
        # has hundreds in flight, and the answer is written the moment the batch commits.
        future.add_done_callback(partial(self._answer, frame.mutation_id))
        self._last_answer = future
        self.server.writer.enqueue(req)

    def _answer(self, mutation_id: int, future: asyncio.Future[dict[str, Any]]) -> None:
        if future.cancelled():
            return
        exc = future.exception()
        if exc is None:
            answer = future.result()
            frame = text_frame(encode(answer))
            seq = answer.get("seq") or 0
            # An ack never overtakes its own change (nor an earlier answer): a workstation
            # that drops the optimistic overlay on the ack must already hold the server's row,
            # or it would show the older one in between.
            if self._held_acks or seq > self._sent_seq:
                self._held_acks.append((seq, frame))
            else:
                self.push(frame)
        elif isinstance(exc, StoreUnavailable):
            reject = reject_frame(
                mutation_id,
                ErrorCode.SERVER_BUSY,
                "the server could not store this change; reconnect and resend",
                transient=True,
            )
            self.push(text_frame(encode(reject)))
            self.close_soon(1011, "store unavailable; reconnect and resend")
        # Anything else means the server is shutting down, and this connection with it.

    # ---- quotas --------------------------------------------------------------------------

    async def _admit_mutation(self, frame: p.Mutation, size: int) -> None:
        """Queue a mutation within its agent's quotas (quotas.py), or refuse it for now.

        Then, while the agent's queue in the writer is full, read nothing more: the sender
        waits in its socket.  After a refusal, no frame is read for the time the sender was
        told to wait, so a sender that does not wait cannot keep the server busy refusing.
        """
        wait = self._over_rate(frame.mutation_id, size)
        if wait == 0:
            self._mutation(frame)
            await self.server.writer.room_for(self.viewer.id)
            return
        self._answer_in_order(frame.mutation_id, rate_limited_frame(frame.mutation_id, wait))
        if not self._closing:
            with contextlib.suppress(TimeoutError):  # or until the connection closes
                await asyncio.wait_for(self.ws.wait_closed(), wait)

    def _over_rate(self, mutation_id: int, size: int) -> float:
        """0 if the mutation may be queued, else seconds until it may be sent again.

        Once one mutation was refused, every later one on this connection is refused too
        until the refused one comes again: were a later one applied first, the refused one's
        id would count as a replay and the change would be lost.
        """
        quotas = self.server.quotas
        if self._refused_from is not None:
            if mutation_id > self._refused_from:
                return max(REFUSING_WAIT_S, quotas.retry_after(self.viewer.id, size))
            self._refused_from = None
        wait = quotas.admit(self.viewer.id, size)
        if wait > 0:
            self._refused_from = mutation_id
        return wait

    def _answer_in_order(self, mutation_id: int, answer: dict[str, Any]) -> None:
        """Answer a mutation the writer never saw, after the answers of those before it."""
        future: asyncio.Future[dict[str, Any]] = asyncio.get_running_loop().create_future()
        future.add_done_callback(partial(self._answer, mutation_id))
        previous, self._last_answer = self._last_answer, future
        if previous is None or previous.done():
            future.set_result(answer)  # its callback still runs after the previous one's
        else:
            previous.add_done_callback(lambda _: future.set_result(answer))

    async def _fetch_ticket(self, frame: p.FetchTicket) -> None:
        if (frame.number is None) == (frame.ticket_id is None):
            await self.error(
                ErrorCode.INVALID_MESSAGE,
                "give exactly one of number or ticket_id",
                request_id=frame.request_id,
            )
            return
        viewer = self.viewer
        bundle = await self.server.read(
            lambda c: replication.ticket_bundle(
                c, viewer, ticket_id=frame.ticket_id, number=frame.number
            )
        )
        if bundle is None:
            await self.error(
                ErrorCode.NOT_FOUND,
                "no such ticket, or not visible to you",
                request_id=frame.request_id,
            )
            return
        await self.send({"type": "ticket", "request_id": frame.request_id, **bundle})

    async def _search(self, frame: p.Search) -> None:
        viewer = self.viewer
        found = await self.server.read(
            lambda c: replication.search_tickets(c, viewer, frame.query, frame.limit)
        )
        await self.send(
            {"type": "search_results", "request_id": frame.request_id, "tickets": found}
        )

    async def _announce_viewing(self, ticket_id: str | None, typing: bool) -> None:
        hub = self.server.hub
        load = self.server.load_ticket_audience
        new = await hub.ticket_audience(ticket_id, load) if ticket_id else None
        if ticket_id is not None and (new is None or not can_see(self.viewer, new)):
            await self.error(ErrorCode.NOT_FOUND, "no such ticket, or not visible to you")
            return
        old = await hub.ticket_audience(self.viewing, load) if self.viewing else None
        self.viewing, self.typing = ticket_id, typing and ticket_id is not None
        hub.viewing_changed(self, old, new, ticket_id, self.typing)
