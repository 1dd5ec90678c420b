"""Live fan-out: committed changes and presence, to every connection allowed to see them.

The hub follows the change log with its own cursor (``head``).  Rows committed by this
process are handed over directly; a gap in seq (another server process on the same PostgreSQL
committed) is filled by reading the log, so a lost notification costs nothing.

A connection is either catching up (it pages through the log itself) or live (the hub pushes
to it).  Live pushes never wait: a connection whose unsent output exceeds its bound is closed
with 4008 and resumes from its cursor after reconnecting.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

from app.domain.sight import Audience, Viewer, can_see
from app.models.enums import Presence
from app.server import replication
from app.server.connection import text_frame
from app.server.presence import PresenceBoard
from app.server.recipients import Recipients
from app.sync.protocol import CloseCode, encode

if TYPE_CHECKING:
    from app.server.connection import AgentConnection

log = logging.getLogger(__name__)


class Hub:
    """Registry of live connections and the fan-out of changes and presence."""

    def __init__(self, read_log: Callable[[int], Awaitable[list[dict[str, Any]]]]) -> None:
        self._read_log = read_log
        self.head = 0
        self._known_head = 0
        self.connections: set[AgentConnection] = set()
        self._pending: list[dict[str, Any]] = []
        self._flush_scheduled = False
        self._draining: asyncio.Task[None] | None = None
        # Who may see a viewed ticket: kept fresh from the ticket rows passing through.
        self._ticket_audience: dict[str, Audience] = {}
        self.presence = PresenceBoard(self.connections, text_frame)
        self.recipients = Recipients(self.connections)

    # ---- changes -------------------------------------------------------------------------

    def committed(self, rows: list[dict[str, Any]]) -> None:
        """Rows this process just committed, in seq order.

        Published on the loop's next turn: after the answers to the mutations that made them
        (already scheduled), so a writer hears of its own change first.
        """
        self._pending.extend(rows)
        if not self._flush_scheduled:
            self._flush_scheduled = True
            asyncio.get_running_loop().call_soon(self._flush)

    def _flush(self) -> None:
        self._flush_scheduled = False
        if self._draining is not None and not self._draining.done():
            return  # the drain under way takes the pending rows too
        pending = [r for r in self._pending if r["seq"] > self.head]
        if pending and pending[0]["seq"] == self.head + 1 and _contiguous(pending):
            # The usual case, without a task: they follow on from what was published.
            self._pending = []
            self._publish(pending)
        if self._pending or self._known_head > self.head:
            self._draining = asyncio.get_running_loop().create_task(self._drain())

    def notified(self, seq: int) -> None:
        """Another process committed up to ``seq``."""
        if seq > self.head:
            self._known_head = max(self._known_head, seq)
            self.committed([])

    async def _drain(self) -> None:
        while True:
            pending, self._pending = self._pending, []
            pending = [r for r in pending if r["seq"] > self.head]
            if pending and pending[0]["seq"] == self.head + 1 and _contiguous(pending):
                self._publish(pending)
            elif pending or self._known_head > self.head:
                # A gap: other processes committed in between; the log has everything.
                try:
                    rows = await self._read_log(self.head)
                    while rows:
                        self._publish(rows)
                        rows = await self._read_log(self.head)
                except Exception:
                    # The store is away; the head poll brings us back here within a second.
                    log.exception("could not read the change log after seq %d", self.head)
                    return
            if not self._pending and self._known_head <= self.head:
                return

    def _publish(self, rows: list[dict[str, Any]]) -> None:
        """Push ``rows`` to every live connection, as each connection's viewer may see them.

        `present` runs once per class of connections that see the same (see recipients.py)
        and row, not once per connection; a class shares one frame, serialised once.
        """
        for row in rows:
            if row["entity"] == "ticket" and row["data"] is not None:
                self._ticket_audience[row["entity_id"]] = replication.audience_of(row)
        first, head = rows[0]["seq"], rows[-1]["seq"]
        for account in {r["entity_id"] for r in rows if r["entity"] == "agent"}:
            for conn in self.recipients.of_agent(account):
                self.access_still_valid(conn, rows)  # closes it if its access ended
        groups = frozenset(g for r in rows for g in (r["group_id"], r["prev_group_id"]) if g)
        agents = frozenset(a for r in rows for a in (r["agent_id"], r["prev_agent_id"]) if a)
        classes = self.recipients.partition(groups, agents)
        self.head = head
        encoded: dict[tuple[int, str, bool, bool], str] = {}
        for conns in classes:
            frame = self._changes_frame(rows, first - 1, conns[0].viewer, encoded)
            for conn in conns:
                if frame is not None and conn.live:
                    conn.push(frame)
                conn.sent_seq = head  # after the push: it releases acks held for these rows
        for conn in list(self.recipients.ahead):
            frame = self._changes_frame(rows, conn.sent_seq, conn.viewer, encoded)
            if frame is not None and conn.live:
                conn.push(frame)
            if conn.sent_seq <= head:
                conn.sent_seq = head
                self.recipients.caught_up(conn)

    def _changes_frame(
        self,
        rows: list[dict[str, Any]],
        after: int,
        viewer: Viewer,
        encoded: dict[tuple[int, str, bool, bool], str],
    ) -> bytes | None:
        """The ``changes`` frame ``viewer`` gets for the rows past ``after`` (None: nothing)."""
        parts: list[str] = []
        for row in rows:
            if row["seq"] <= after:
                continue
            change = replication.present(row, viewer)
            if change is None:
                continue
            # What present() can make of one row differs only in these.
            variant = (row["seq"], change["op"], "data" in change, "gained" in change)
            if variant not in encoded:
                encoded[variant] = replication.encode_change(change)
            parts.append(encoded[variant])
        if not parts:
            return None
        body = ",".join(parts)
        return text_frame('{"type":"changes","cursor":%d,"changes":[%s]}' % (self.head, body))

    def access_still_valid(self, conn: AgentConnection, rows: list[dict[str, Any]]) -> bool:
        """False (and the connection closing) if these rows end what it may see or do."""
        for row in rows:
            if row["entity"] != "agent" or row["entity_id"] != conn.viewer.id:
                continue
            data = row["data"]
            if data is None or not data.get("active", True):
                conn.close_soon(CloseCode.SESSION_ENDED, "account disabled")
                return False
            if "password" in row["fields"]:
                conn.close_soon(CloseCode.SESSION_ENDED, "password changed; sign in again")
                return False
            if data.get("access_version") != conn.viewer.access_version:
                conn.close_soon(CloseCode.ACCESS_CHANGED, "your role or groups changed")
                return False
        return True

    def _push(self, conns: list[AgentConnection], text: str) -> None:
        if not conns:
            return
        frame = text_frame(text)  # serialised once, the same bytes for every recipient
        for conn in conns:
            conn.push(frame)

    # ---- membership and presence ---------------------------------------------------------

    def join(self, conn: AgentConnection) -> None:
        """``conn`` is caught up: from now on the hub pushes to it."""
        conn.live = True
        self.recipients.add(conn, ahead=conn.sent_seq != self.head)
        self.presence.joined(conn)

    def leave(self, conn: AgentConnection) -> bool:
        """``conn`` is gone; False if it had never joined (or already left)."""
        conn.live = False
        if not self.recipients.discard(conn):
            return False
        self.presence.left(conn)
        return True

    def set_presence(self, conn: AgentConnection, status: Presence) -> None:
        self.presence.set_status(conn, status, joined=conn in self.connections)
        self.presence.changed(conn.viewer.id)

    def presence_changed(self, agent_id: str) -> None:
        self.presence.changed(agent_id)

    def presence_snapshot(self, conn: AgentConnection) -> dict[str, Any]:
        return self.presence.snapshot(conn, self._ticket_audience)

    def close(self) -> None:
        self.presence.cancel()
        if self._draining is not None:
            self._draining.cancel()

    async def ticket_audience(
        self, ticket_id: str, load: Callable[[str], Awaitable[Audience | None]]
    ) -> Audience | None:
        if ticket_id not in self._ticket_audience:
            found = await load(ticket_id)
            if found is None:
                return None
            # setdefault: a change published while we loaded is newer than what we read.
            return self._ticket_audience.setdefault(ticket_id, found)
        return self._ticket_audience[ticket_id]

    def viewing_changed(
        self,
        source: AgentConnection,
        old: Audience | None,
        new: Audience | None,
        ticket_id: str | None,
        typing: bool,
    ) -> None:
        """Tell colleagues where ``source``'s agent now is.  Someone who may see only the old
        ticket learns that the agent left it, not where they went."""
        arrived = encode(
            {
                "type": "viewing",
                "agent_id": source.viewer.id,
                "ticket_id": ticket_id,
                "typing": typing,
            }
        )
        left = encode(
            {"type": "viewing", "agent_id": source.viewer.id, "ticket_id": None, "typing": False}
        )
        to_arrived: list[AgentConnection] = []
        to_left: list[AgentConnection] = []
        for conn in self.connections:
            if not conn.live or conn is source:
                continue
            if new is not None and can_see(conn.viewer, new):
                to_arrived.append(conn)
            elif old is not None and can_see(conn.viewer, old):
                to_left.append(conn)
        self._push(to_arrived, arrived)
        self._push(to_left, left)


def _contiguous(rows: list[dict[str, Any]]) -> bool:
    # Gaps also come from rolled-back PostgreSQL sequence values; reading the log settles both.
    return all(b["seq"] == a["seq"] + 1 for a, b in itertools.pairwise(rows))
