"""Presence: each agent's availability, aggregated over their live connections.

An agent is ``available`` if any of their live connections says so, else ``busy``, else
``away``, else ``offline``.  Counters per agent and status answer that in constant time; the
snapshot a connection gets on going live is one pass over the others.

Changes are broadcast to every live connection, coalesced: an agent's new status is sent at
most PRESENCE_FLUSH_S after it changed, and all statuses that changed meanwhile go to each
connection in one write.  While a thousand agents connect, each one's arrival would otherwise
be its own write to every connection already live (half a million writes).
"""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from app.domain.sight import Audience, can_see
from app.models.enums import Presence
from app.sync.protocol import encode

if TYPE_CHECKING:
    from app.server.connection import AgentConnection

PRESENCE_FLUSH_S = 0.05
_PRECEDENCE = (Presence.AVAILABLE, Presence.BUSY, Presence.AWAY)


class PresenceBoard:
    """Who is there, and the coalesced ``presence`` broadcasts."""

    def __init__(self, connections: set[AgentConnection], text_frame: Callable[[str], bytes]):
        self._connections = connections  # the hub's live connections (shared, not copied)
        self._text_frame = text_frame
        # agent id -> how many of their joined connections are in each status
        self._counts: dict[str, Counter[Presence]] = {}
        self._changed: dict[str, None] = {}  # agents to announce, in order of first change
        self._flush: asyncio.TimerHandle | None = None

    def joined(self, conn: AgentConnection) -> None:
        self._counts.setdefault(conn.viewer.id, Counter())[conn.presence] += 1

    def left(self, conn: AgentConnection) -> None:
        counts = self._counts.get(conn.viewer.id)
        if counts is None:
            return
        counts[conn.presence] -= 1
        if counts.total() <= 0:
            del self._counts[conn.viewer.id]

    def set_status(self, conn: AgentConnection, status: Presence, *, joined: bool) -> None:
        """``conn`` says its agent is now ``status``; ``joined``: it is counted here."""
        if joined:
            self.left(conn)
        conn.presence = status
        if joined:
            self.joined(conn)

    def status(self, agent_id: str) -> str:
        counts = self._counts.get(agent_id)
        if counts:
            for status in _PRECEDENCE:
                if counts[status] > 0:
                    return status.value
        return Presence.OFFLINE.value

    def changed(self, agent_id: str) -> None:
        """Announce the agent's status to everyone, soon."""
        self._changed[agent_id] = None
        if self._flush is None:
            self._flush = asyncio.get_running_loop().call_later(PRESENCE_FLUSH_S, self.flush)

    def flush(self) -> None:
        self._flush = None
        changed, self._changed = self._changed, {}
        frames = b"".join(
            self._text_frame(encode({"type": "presence", "agent_id": a, "status": self.status(a)}))
            for a in changed
        )
        if frames:
            for conn in self._connections:
                if conn.live:
                    conn.push(frames)

    def cancel(self) -> None:
        if self._flush is not None:
            self._flush.cancel()
            self._flush = None

    def snapshot(
        self, conn: AgentConnection, ticket_audience: dict[str, Audience]
    ) -> dict[str, Any]:
        """The ``presence_snapshot`` for ``conn``: everyone else with a live connection."""
        agents: dict[str, dict[str, Any]] = {}
        for other in self._connections:
            if not other.live or other is conn:
                continue
            agent_id = other.viewer.id
            entry = agents.get(agent_id)
            if entry is None:
                entry = agents[agent_id] = {"agent_id": agent_id, "status": self.status(agent_id)}
            ticket = other.viewing
            audience = ticket_audience.get(ticket) if ticket else None
            if ticket and audience and can_see(conn.viewer, audience):
                entry["ticket_id"] = ticket
                entry["typing"] = entry.get("typing", False) or other.typing
        return {
            "type": "presence_snapshot",
            "agents": sorted(agents.values(), key=lambda a: a["agent_id"]),
        }
