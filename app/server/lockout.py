"""A disabled agent's mutations stop the moment the disable commits.

The writer used to learn of a disable only through the hub, which closes the agent's
connections a loop turn after the commit: mutations in the same batch after the disable, and
the next batch already taken, were applied (647 of them in an attack run), and a disable by
another process (`switchboard-server agent disable`) waited for the next look at the log.
Now each batch reads, inside its own write transaction, which of its agents are disabled
(so another process's committed disable counts at once), and follows the agent rows the
batch itself writes.  A locked-out mutation is answered with a transient ``agent_disabled``:
nothing applied or stored, the workstation keeps it, and is then signed out.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from sqlalchemy import Connection, bindparam, select

from app.models.tables import T_AGENTS
from app.server.submit import Submission
from app.sync.protocol import ErrorCode

_INACTIVE = select(T_AGENTS.c.id).where(
    T_AGENTS.c.id.in_(bindparam("ids", expanding=True)), T_AGENTS.c.active.is_(False)
)


def locked_out(conn: Connection, batch: Iterable[Submission]) -> set[str]:
    """The agents of the batch's workstation submissions who are disabled now."""
    agents = {sub.actor.viewer.id for sub in batch if sub.workstation_id is not None}
    if not agents:
        return set()
    return set(conn.execute(_INACTIVE, {"ids": sorted(agents)}).scalars())


def disabled_by(rows: Iterable[dict[str, Any]]) -> set[str]:
    """The agents these change-log rows disable (or remove)."""
    return {
        row["entity_id"]
        for row in rows
        if row["entity"] == "agent" and (row["data"] is None or not row["data"].get("active"))
    }


def is_locked_out(sub: Submission, agents: set[str]) -> bool:
    return sub.workstation_id is not None and sub.actor.viewer.id in agents


def locked_out_frame(mutation_id: int) -> dict[str, Any]:
    """The transient refusal of a disabled agent's mutation; nothing was recorded."""
    return {
        "type": "reject",
        "mutation_id": mutation_id,
        "code": ErrorCode.AGENT_DISABLED.value,
        "transient": True,
        "message": "this account has been disabled; the change was not applied",
    }
