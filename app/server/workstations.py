"""Workstations: the last mutation each has had applied, and the answers it was given.

This is what makes mutations idempotent.  A workstation numbers its mutations; one numbered at
or below the workstation's last applied id is a replay, answered with the stored original
answer and not applied again.  Answers are dropped once the workstation confirms it has them
(``acked_through`` in its hello).  On the wire a workstation's id is its ``device_id``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from sqlalchemy import Connection, bindparam, delete, insert, select, update

from app.models.base import utcnow
from app.models.tables import T_RESULTS, T_WORKSTATIONS
from app.server.submit import ack_frame

# Built once: building and hashing a statement per batch costs more than running it.
_LAST_APPLIED = select(T_WORKSTATIONS.c.id, T_WORKSTATIONS.c.last_mutation_id).where(
    T_WORKSTATIONS.c.id.in_(bindparam("ids", expanding=True))
)
_RESULTS_INSERT = insert(T_RESULTS)
_WORKSTATION_UPDATE = update(T_WORKSTATIONS).where(T_WORKSTATIONS.c.id == bindparam("device"))


class WorkstationLedger:
    """The devices of one write batch: last applied ids and answers, inside its transaction.

    Read with one query and written back with two executemany statements when the batch ends,
    instead of a read and two writes per mutation.  Same transaction, so an answer is stored
    exactly when its mutation commits.
    """

    def __init__(self, conn: Connection, workstation_ids: set[str]) -> None:
        rows = conn.execute(_LAST_APPLIED, {"ids": sorted(workstation_ids)})
        self._last: dict[str, int] = {device: last for device, last in rows}
        missing = workstation_ids - self._last.keys()
        if missing:
            raise RuntimeError(f"device {min(missing)} was not registered at hello")
        self._answers: dict[tuple[str, int], dict[str, Any]] = {}
        self._moved: set[str] = set()

    def is_new(self, workstation_id: str, mutation_id: int) -> bool:
        return mutation_id > self._last[workstation_id]

    def claim(self, workstation_id: str, mutation_id: int) -> None:
        """The mutation is being applied: from now on its id counts as seen."""
        self._last[workstation_id] = mutation_id
        self._moved.add(workstation_id)

    def record(self, workstation_id: str, mutation_id: int, frame: dict[str, Any]) -> None:
        self._answers[(workstation_id, mutation_id)] = frame

    def replayed(
        self,
        conn: Connection,
        workstation_id: str,
        mutation_id: int,
        unstored: Callable[[], dict[str, Any] | None] = lambda: None,
    ) -> dict[str, Any]:
        """The original answer to a mutation sent again (``unstored``: the answer to give if
        none was stored, when the frame alone decides it)."""
        stored = self._answers.get((workstation_id, mutation_id))
        if stored is None:
            stored = conn.execute(
                select(T_RESULTS.c.result).where(
                    T_RESULTS.c.workstation_id == workstation_id,
                    T_RESULTS.c.mutation_id == mutation_id,
                )
            ).scalar()
        if stored is None:
            stored = unstored()
        if stored is None:
            # Applied long ago and its result pruned after the client confirmed the answer.
            stored = ack_frame(mutation_id, None, {})
        return {**stored, "replayed": True}

    def save(self, conn: Connection) -> None:
        if self._answers:
            conn.execute(
                _RESULTS_INSERT,
                [
                    {"workstation_id": device, "mutation_id": mutation_id, "result": frame}
                    for (device, mutation_id), frame in self._answers.items()
                ],
            )
        if self._moved:
            conn.execute(
                _WORKSTATION_UPDATE,
                [{"device": d, "last_mutation_id": self._last[d]} for d in sorted(self._moved)],
            )


def workstation_owner(conn: Connection, workstation_id: str) -> str | None:
    """The agent a device belongs to (the first to say hello with it), or None if new."""
    owner: str | None = conn.execute(
        select(T_WORKSTATIONS.c.agent_id).where(T_WORKSTATIONS.c.id == workstation_id)
    ).scalar()
    return owner


def register_workstation(
    conn: Connection, workstation_id: str, agent_id: str, acked_through: int
) -> int:
    """Create or refresh a device at hello and drop results the client has confirmed; returns
    the highest mutation id of the device the server has processed (0 for a new device).

    Raises PermissionError if the device belongs to another agent.
    """
    row = conn.execute(
        select(T_WORKSTATIONS.c.agent_id, T_WORKSTATIONS.c.last_mutation_id).where(
            T_WORKSTATIONS.c.id == workstation_id
        )
    ).first()
    now = utcnow()
    if row is None:
        conn.execute(
            insert(T_WORKSTATIONS).values(
                id=workstation_id,
                agent_id=agent_id,
                last_mutation_id=0,
                created_at=now,
                last_seen_at=now,
            )
        )
        return 0
    if row.agent_id != agent_id:
        raise PermissionError(workstation_id)
    conn.execute(
        update(T_WORKSTATIONS).where(T_WORKSTATIONS.c.id == workstation_id).values(last_seen_at=now)
    )
    if acked_through:
        conn.execute(
            delete(T_RESULTS).where(
                T_RESULTS.c.workstation_id == workstation_id,
                T_RESULTS.c.mutation_id <= acked_through,
            )
        )
    return int(row.last_mutation_id)
