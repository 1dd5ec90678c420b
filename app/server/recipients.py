"""Live connections, grouped by what they may see of a page of change-log rows.

What a viewer may see of some rows depends only on whether it sees everything, which of the
groups those rows name it belongs to, and whether it is one of the agents they name
(`app.domain.sight.can_see`).  Connections alike in those three respects form one class and
receive the same frame.  The partition depends on the rows only through the groups and agents
they name, so it is kept per such pair and reused until a connection joins or leaves: a team
working on its tickets publishes page after page naming the same group, and a thousand
connections are then partitioned once, not on every page.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Iterable
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from app.server.connection import AgentConnection

# Distinct (groups, agents) pairs remembered; each holds one list per class.
CACHED_PARTITIONS = 64

Partition = list[list["AgentConnection"]]


class Recipients:
    """The live connections of the hub, indexed for fan-out."""

    def __init__(self, connections: set[AgentConnection]) -> None:
        self._connections = connections  # the hub's live set (shared, not copied)
        # Connections whose catch-up read past the hub's head: until the hub has published
        # that far, each skips rows it already has, so it cannot share a class.
        self.ahead: set[AgentConnection] = set()
        self._by_agent: dict[str, set[AgentConnection]] = {}
        self._partitions: OrderedDict[tuple[frozenset[str], frozenset[str]], Partition] = (
            OrderedDict()
        )

    def add(self, conn: AgentConnection, *, ahead: bool) -> None:
        self._connections.add(conn)
        if ahead:
            self.ahead.add(conn)
        self._by_agent.setdefault(conn.viewer.id, set()).add(conn)
        self._partitions.clear()

    def caught_up(self, conn: AgentConnection) -> None:
        """The hub has published past what ``conn``'s catch-up read: it joins the classes."""
        self.ahead.discard(conn)
        self._partitions.clear()

    def discard(self, conn: AgentConnection) -> bool:
        """Forget ``conn``; False if it was not there."""
        if conn not in self._connections:
            return False
        self._connections.discard(conn)
        self.ahead.discard(conn)
        mine = self._by_agent.get(conn.viewer.id)
        if mine is not None:
            mine.discard(conn)
            if not mine:
                del self._by_agent[conn.viewer.id]
        self._partitions.clear()
        return True

    def of_agent(self, agent_id: str) -> Iterable[AgentConnection]:
        return tuple(self._by_agent.get(agent_id, ()))

    def partition(self, groups: frozenset[str], agents: frozenset[str]) -> Partition:
        """The connections (but those ahead) in classes, for rows naming ``groups`` and
        ``agents``."""
        key = (groups, agents)
        found = self._partitions.get(key)
        if found is not None:
            self._partitions.move_to_end(key)
            return found
        classes: dict[tuple[bool, frozenset[str], str | None], list[AgentConnection]] = {}
        for conn in self._connections:
            if conn in self.ahead:
                continue
            viewer = conn.viewer
            cls = (
                viewer.sees_everything,
                viewer.group_ids & groups,
                viewer.id if viewer.id in agents else None,
            )
            classes.setdefault(cls, []).append(conn)
        found = list(classes.values())
        self._partitions[key] = found
        if len(self._partitions) > CACHED_PARTITIONS:
            self._partitions.popitem(last=False)
        return found
