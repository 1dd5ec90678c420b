"""Workstation devices: the last mutation each has had applied, and the answers it was given.

This is what makes mutations idempotent.  A device numbers its mutations; one numbered at or
below the device's last applied id is a replay, answered with the stored original answer and
not applied again.  Answers are dropped once the device confirms it has them (``acked_through``
in its hello).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from sqlalchemy import Connection, bindparam, delete, insert, select, update

from app.models.base import utcnow
from app.models.tables import T_DEVICES, T_RESULTS
from app.server.submit import ack_frame

# Built once: building and hashing a statement per batch costs more than running it.
_DEVICES_LAST = select(T_DEVICES.c.id, T_DEVICES.c.last_mutation_id).where(
    T_DEVICES.c.id.in_(bindparam("ids", expanding=True))
)
_RESULTS_INSERT = insert(T_RESULTS)
_DEVICE_UPDATE = update(T_DEVICES).where(T_DEVICES.c.id == bindparam("device"))


class DeviceLedger:
    """The devices of one write batch: last applied ids and answers, inside its transaction.

    Read with one query and written back with two executemany statements when the batch ends,
    instead of a read and two writes per mutation.  Same transaction, so an answer is stored
    exactly when its mutation commits.
    """

    def __init__(self, conn: Connection, device_ids: set[str]) -> None:
        rows = conn.execute(_DEVICES_LAST, {"ids": sorted(device_ids)})
        self._last: dict[str, int] = {device: last for device, last in rows}
        missing = device_ids - self._last.keys()
        if missing:
            raise RuntimeError(f"device {min(missing)} was not registered at hello")
        self._answers: dict[tuple[str, int], dict[str, Any]] = {}
        self._moved: set[str] = set()

    def is_new(self, device_id: str, mutation_id: int) -> bool:
        return mutation_id > self._last[device_id]

    def claim(self, device_id: str, mutation_id: int) -> None:
        """The mutation is being applied: from now on its id counts as seen."""
        self._last[device_id] = mutation_id
        self._moved.add(device_id)

    def record(self, device_id: str, mutation_id: int, frame: dict[str, Any]) -> None:
        self._answers[(device_id, mutation_id)] = frame

    def replayed(
        self,
        conn: Connection,
        device_id: str,
        mutation_id: int,
        unstored: Callable[[], dict[str, Any] | None] = lambda: None,
    ) -> dict[str, Any]:
        """The original answer to a mutation sent again (``unstored``: the answer to give if
        none was stored, when the frame alone decides it)."""
        stored = self._answers.get((device_id, mutation_id))
        if stored is None:
            stored = conn.execute(
                select(T_RESULTS.c.result).where(
                    T_RESULTS.c.device_id == device_id, T_RESULTS.c.mutation_id == mutation_id
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
                    {"device_id": device, "mutation_id": mutation_id, "result": frame}
                    for (device, mutation_id), frame in self._answers.items()
                ],
            )
        if self._moved:
            conn.execute(
                _DEVICE_UPDATE,
                [{"device": d, "last_mutation_id": self._last[d]} for d in sorted(self._moved)],
            )


def device_owner(conn: Connection, device_id: str) -> str | None:
    """The agent a device belongs to (the first to say hello with it), or None if new."""
    owner: str | None = conn.execute(
        select(T_DEVICES.c.agent_id).where(T_DEVICES.c.id == device_id)
    ).scalar()
    return owner


def register_device(conn: Connection, device_id: str, agent_id: str, acked_through: int) -> int:
    """Create or refresh a device at hello and drop results the client has confirmed; returns
    the highest mutation id of the device the server has processed (0 for a new device).

    Raises PermissionError if the device belongs to another agent.
    """
    row = conn.execute(
        select(T_DEVICES.c.agent_id, T_DEVICES.c.last_mutation_id).where(
            T_DEVICES.c.id == device_id
        )
    ).first()
    now = utcnow()
    if row is None:
        conn.execute(
            insert(T_DEVICES).values(
                id=device_id,
                agent_id=agent_id,
                last_mutation_id=0,
                created_at=now,
                last_seen_at=now,
            )
        )
        return 0
    if row.agent_id != agent_id:
        raise PermissionError(device_id)
    conn.execute(update(T_DEVICES).where(T_DEVICES.c.id == device_id).values(last_seen_at=now))
    if acked_through:
        conn.execute(
            delete(T_RESULTS).where(
                T_RESULTS.c.device_id == device_id, T_RESULTS.c.mutation_id <= acked_through
            )
        )
    return int(row.last_mutation_id)
