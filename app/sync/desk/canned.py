"""Canned responses: the ones this agent may use, matching what they type, which of them
they may edit, and whom they may give one to — the domain's rules, never copied by the desk."""

from __future__ import annotations

from sqlalchemy import Connection

from app.domain.canned import CANNED, may_edit
from app.domain.sight import Viewer
from app.models.enums import CannedScope
from app.sync.desk.pool import ReaderPool
from app.sync.desk.sql import folded
from app.sync.desk_types import CannedItem, Directory

# A scope a canned response may have: (scope, group id for a group response, else None).
ScopeChoice = tuple[str, str | None]


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

    def scopes(self, directory: Directory) -> tuple[ScopeChoice, ...]:
        """Whom this agent may give a canned response (personal, shared, one per group), by
        the rule the server checks (`app.domain.canned.may_edit`); the editor offers these.

        From the directory the desk already holds (role, groups): no read needed.
        """
        me = directory.me
        if me is None or me.id != self.agent_id:
            return ((CannedScope.PERSONAL.value, None),)
        viewer = Viewer(me.id, me.role, frozenset(directory.my_group_ids), 0)
        wanted: list[ScopeChoice] = [
            (CannedScope.PERSONAL.value, None),
            (CannedScope.SHARED.value, None),
            *((CannedScope.GROUP.value, team.id) for team in directory.groups),
        ]
        return tuple(
            (scope, group_id)
            for scope, group_id in wanted
            if may_edit(viewer, _as_saved(scope, group_id, me.id))
        )


def _as_saved(scope: str, group_id: str | None, agent_id: str) -> dict[str, str | None]:
    """A response of that scope as the server stores it when this agent saves it."""
    personal = scope == CannedScope.PERSONAL
    return {"scope": scope, "group_id": group_id, "owner_id": agent_id if personal else None}
