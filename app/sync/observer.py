"""What the sync engine tells its host (the Qt bridge, the CLI, tests).

Callbacks run on the engine's asyncio loop and must return quickly.  Override what you need.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from app.sync.desk_types import Refusal
from app.sync.notice import ChangeNotice


class ConnectionState(StrEnum):
    OFFLINE = "offline"  # not started, or stopped
    CONNECTING = "connecting"
    SYNCING = "syncing"  # connected, catching up
    ONLINE = "online"  # caught up; changes arrive live
    RECONNECTING = "reconnecting"  # waiting ``retry_in`` seconds before the next attempt
    SIGNED_OUT = "signed_out"  # the session ended: the agent must sign in again
    INCOMPATIBLE = "incompatible"  # the server speaks no protocol version we do


@dataclass(frozen=True)
class ConnectionStatus:
    state: ConnectionState
    detail: str = ""
    retry_in: float | None = None
    outbox: int = 0  # changes the agent made, not yet answered (`cache.changes_waiting`)


class SyncObserver:
    """Base observer: every notification is a no-op."""

    def connection_changed(self, status: ConnectionStatus) -> None:
        """The connection state (or the outbox size) changed."""

    def entities_changed(self, notice: ChangeNotice) -> None:
        """Rows changed in the cache: by entity name, and the tickets they are on."""

    def change_refused(self, refusal: Refusal) -> None:
        """The server refused a local change (a conflict, a permission, invalid input)."""

    def presence_changed(self, agent_id: str, status: str) -> None:
        """A colleague went available, busy, away or offline."""

    def viewing_changed(self, agent_id: str, ticket_id: str | None, typing: bool) -> None:
        """A colleague opened, left or is typing on a ticket."""

    def error(self, message: str) -> None:
        """Something went wrong that the agent should hear about."""
