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

from websockets.asyncio.server import broadcast

from app.models.enums import Presence
from app.server import access, replication
from app.server.access import Audience
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
        self._draining: asyncio.Task[None] | None = None
        # Who may see a viewed ticket: kept fresh from the ticket rows passing through.
        self._ticket_audience: dict[str, Audience] = {}

    # ---- changes -------------------------------------------------------------------------

    def committed(self, rows: list[dict[str, Any]]) -> None:
        """Rows this process just committed, in seq order."""
        self._pending.extend(rows)
        if self._draining is None or self._draining.done():
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
                rows = await self._read_log(self.head)
                while rows:
                    self._publish(rows)
                    rows = await self._read_log(self.head)
            if not self._pending and self._known_head <= self.head:
                return

    def _publish(self, rows: list[dict[str, Any]]) -> None:
        # Connections that receive the same changes share one encoded frame.
        encoded: dict[tuple[int, str], str] = {}
        groups: dict[tuple[tuple[int, str], ...], list[AgentConnection]] = {}
        for row in rows:
            if row["entity"] == "ticket" and row["data"] is not None:
                self._ticket_audience[row["entity_id"]] = replication.audience_of(row)
        for conn in list(self.connections):
            if not conn.live or not self.access_still_valid(conn, rows):
                continue
            variants: list[tuple[int, str]] = []
            for row in rows:
                if row["seq"] <= conn.sent_seq:
                    continue  # its catch-up already read past this row
                change = replication.present(row, conn.viewer)
                if change is None:
                    continue
                variant = (row["seq"], change["op"] + ("+" if change.get("gained") else ""))
                if variant not in encoded:
                    encoded[variant] = replication.encode_change(change)
                variants.append(variant)
            conn.sent_seq = max(conn.sent_seq, rows[-1]["seq"])
            if variants:
                groups.setdefault(tuple(variants), []).append(conn)
        self.head = rows[-1]["seq"]
        for variants_key, conns in groups.items():
            body = ",".join(encoded[v] for v in variants_key)
            self._push(conns, '{"type":"changes","cursor":%d,"changes":[%s]}' % (self.head, body))

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

    def _push(self, conns: list[AgentConnection], frame: str) -> None:
        ready = [c.ws for c in conns if c.has_room()]
        if ready:
            broadcast(ready, frame)

    # ---- presence ------------------------------------------------------------------------

    def agent_status(self, agent_id: str) -> str:
        statuses = [c.presence for c in self.connections if c.viewer.id == agent_id and c.live]
        for status in (Presence.AVAILABLE, Presence.BUSY, Presence.AWAY):
            if status in statuses:
                return status.value
        return Presence.OFFLINE.value

    def presence_changed(self, agent_id: str) -> None:
        frame = encode(
            {"type": "presence", "agent_id": agent_id, "status": self.agent_status(agent_id)}
        )
        self._push([c for c in self.connections if c.live], frame)

    async def ticket_audience(
        self, ticket_id: str, load: Callable[[str], Awaitable[Audience | None]]
    ) -> Audience | None:
        if ticket_id not in self._ticket_audience:
            found = await load(ticket_id)
            if found is None:
                return None
            self._ticket_audience[ticket_id] = found
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
            if new is not None and access.can_see(conn.viewer, new):
                to_arrived.append(conn)
            elif old is not None and access.can_see(conn.viewer, old):
                to_left.append(conn)
        self._push(to_arrived, arrived)
        self._push(to_left, left)

    def presence_snapshot(self, conn: AgentConnection) -> dict[str, Any]:
        agents: dict[str, dict[str, Any]] = {}
        for other in self.connections:
            if not other.live or other is conn:
                continue
            entry = agents.setdefault(
                other.viewer.id,
                {"agent_id": other.viewer.id, "status": self.agent_status(other.viewer.id)},
            )
            ticket = other.viewing
            audience = self._ticket_audience.get(ticket) if ticket else None
            if ticket and audience and access.can_see(conn.viewer, audience):
                entry["ticket_id"] = ticket
                entry["typing"] = entry.get("typing", False) or other.typing
        return {
            "type": "presence_snapshot",
            "agents": sorted(agents.values(), key=lambda a: a["agent_id"]),
        }


def _contiguous(rows: list[dict[str, Any]]) -> bool:
    # Gaps also come from rolled-back PostgreSQL sequence values; reading the log settles both.
    return all(b["seq"] == a["seq"] + 1 for a, b in itertools.pairwise(rows))
