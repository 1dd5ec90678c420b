"""An agent's mutations are decided with their rights as committed, not as they signed in.

A connection captures its agent's rights (role, groups: its `Viewer`) at hello, and every
mutation it submits carries them.  The writer used to learn of a change to those rights only
through the hub, which closes the agent's connections a loop turn after the commit: mutations
in the same batch after a disable, and the next batch already taken, were applied (647 of
them in an attack run), and so were those of an admin demoted to agent, or of an agent removed
from a group, with the rights they no longer had.  A change by another process
(`switchboard-server agent ...`) waited for the next look at the log.

Now each batch reads, inside its own write transaction, each of its agents' ``active`` flag
and ``access_version`` (bumped by every change of role, groups or ``active``), so another
process's committed change counts at once, and it follows the agent rows the batch itself
writes.  A mutation of a disabled agent is answered with a transient ``agent_disabled``; one
whose rights were captured before their latest change, with a transient ``access_changed``.
Either way nothing is applied or stored and the workstation keeps the mutation.  The reference
client reconnects on a transient reject at once; the hub also closes the agent's connections
when it sees the change (4001 signed out; 4009: the workstation reconnects with its new
rights, rebuilds its cache and sends the mutation again, to be decided with them).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from sqlalchemy import Connection, bindparam, select

from app.models.tables import T_AGENTS
from app.server.submit import Submission, reject_frame
from app.sync.protocol import ErrorCode

_ACCOUNTS = select(T_AGENTS.c.id, T_AGENTS.c.active, T_AGENTS.c.access_version).where(
    T_AGENTS.c.id.in_(bindparam("ids", expanding=True))
)


class Lockout:
    """The batch's agents' accounts as committed in its transaction: who is disabled, and
    the access version of everyone else's rights."""

    def __init__(self, conn: Connection, batch: Iterable[Submission]) -> None:
        agents = {sub.actor.viewer.id for sub in batch if sub.workstation_id is not None}
        self._disabled: set[str] = set()
        self._versions: dict[str, int] = {}
        if agents:
            for agent_id, active, version in conn.execute(_ACCOUNTS, {"ids": sorted(agents)}):
                if active:
                    self._versions[agent_id] = version
                else:
                    self._disabled.add(agent_id)
            # An account that no longer exists has no rights at all.
            self._disabled |= agents - self._versions.keys()

    def follow(self, rows: Iterable[dict[str, Any]]) -> None:
        """Take in the agent rows the batch has just written (a disable, a new role...)."""
        for row in rows:
            if row["entity"] != "agent":
                continue
            agent_id, data = row["entity_id"], row["data"]
            if data is None or not data.get("active"):
                self._disabled.add(agent_id)
            else:
                self._disabled.discard(agent_id)
                self._versions[agent_id] = data["access_version"]

    def refusal(self, sub: Submission) -> dict[str, Any] | None:
        """The transient refusal of a workstation's mutation whose agent is disabled, or whose
        rights changed since its connection captured them; None if it may be decided."""
        if sub.workstation_id is None:
            return None  # the server's own actors are not agents
        viewer = sub.actor.viewer
        if viewer.id in self._disabled:
            return locked_out_frame(sub.mutation_id)
        if self._versions.get(viewer.id, viewer.access_version) != viewer.access_version:
            return access_changed_frame(sub.mutation_id)
        return None


def locked_out_frame(mutation_id: int) -> dict[str, Any]:
    """The transient refusal of a disabled agent's mutation; nothing was recorded."""
    return reject_frame(
        mutation_id,
        ErrorCode.AGENT_DISABLED,
        "this account has been disabled; the change was not applied",
        transient=True,
    )


def access_changed_frame(mutation_id: int) -> dict[str, Any]:
    """The transient refusal of a mutation sent with rights the agent no longer has; nothing
    was recorded, and it is decided again when sent after reconnecting."""
    return reject_frame(
        mutation_id,
        ErrorCode.ACCESS_CHANGED,
        "your role or groups changed; the change is sent again after reconnecting",
        transient=True,
    )
