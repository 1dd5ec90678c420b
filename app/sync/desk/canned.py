"""Canned responses: the ones this agent may use, matching what they type, and which of
them they may edit."""

from __future__ import annotations

from sqlalchemy import Connection

from app.domain.canned import CANNED, may_edit
from app.domain.sight import Viewer
from app.sync.desk.pool import ReaderPool
from app.sync.desk.sql import folded
from app.sync.desk_types import CannedItem


class CannedReader:
    """Reads the canned responses for the picker and the editor."""

    def __init__(self, pool: ReaderPool, agent_id: str) -> None:
        self._pool = pool
        self.agent_id = agent_id

    async def responses(self, query: str = "") -> list[CannedItem]:
        """Canned responses this agent may use, matching ``query`` (title, shortcut or body,
        ignoring case and accents), most used first, then by title.

        Which the agent sees and which they may edit are the domain's rules, the ones the
        server enforces (`app.domain.canned`): shared ones, those of the agent's groups (every
        group's for supervisors and admins) and their own personal ones; editable, their
        personal ones, and the others for supervisors and admins.
        """
        needle = folded(query.strip())

        def work(conn: Connection) -> list[CannedItem]:
            role = conn.exec_driver_sql(
                "SELECT role FROM agents WHERE id = ?", (self.agent_id,)
            ).scalar()
            groups = conn.exec_driver_sql(
                "SELECT group_id FROM group_memberships WHERE agent_id = ?", (self.agent_id,)
            ).scalars()
            viewer = Viewer(self.agent_id, role or "agent", frozenset(groups), 0)
            out = []
            rows = conn.exec_driver_sql(
                "SELECT id, title, shortcut, body, scope, group_id, owner_id, usage_count "
                "FROM canned_responses"
            )
            for r in rows:
                row = {"scope": r[4], "group_id": r[5], "owner_id": r[6]}
                if not CANNED.sight.allows(viewer, row):
                    continue
                if needle and not any(needle in folded(r[i] or "") for i in (1, 2, 3)):
                    continue
                editable = may_edit(viewer, row)
                out.append(CannedItem(r[0], r[1], r[2], r[3], r[4], r[5], r[6], r[7], editable))
            # Titles sort as people read them ("Ärger" with the A's); SQLite's NOCASE only
            # folds ASCII, and the list is small.
            out.sort(key=lambda i: (-i.usage_count, folded(i.title), i.id))
            return out

        return await self._pool.read(work)
