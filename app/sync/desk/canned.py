"""Canned responses: the ones this agent may use, matching what they type, and which of
them they may edit."""

from __future__ import annotations

from sqlalchemy import Connection

from app.models.enums import Role
from app.sync.desk.pool import ReaderPool
from app.sync.desk.sql import folded
from app.sync.desk_types import CannedItem


# TODO(domain): use the domain's rule
def may_edit_canned(scope: str, owner_id: str | None, *, agent_id: str, lead: bool) -> bool:
    """Whether the agent may edit a canned response they can see: their own personal ones,
    and shared or group ones if they ``lead`` (a supervisor or an admin).

    The workstation's own copy of the rule the server enforces (``may_edit`` in
    app/domain/canned.py): while it is a copy, a change there must be made here too.
    """
    if scope == "personal":
        return owner_id == agent_id
    return lead


class CannedReader:
    """Reads the canned responses for the picker and the editor."""

    def __init__(self, pool: ReaderPool, agent_id: str) -> None:
        self._pool = pool
        self.agent_id = agent_id

    async def responses(self, query: str = "") -> list[CannedItem]:
        """Canned responses this agent may use, matching ``query`` (title, shortcut or body,
        ignoring case and accents), most used first, then by title.

        Visible: shared ones, those of the agent's groups (every group's for supervisors and
        admins) and the agent's own personal ones.  Editable: see ``may_edit_canned``.
        """
        needle = folded(query.strip())

        def work(conn: Connection) -> list[CannedItem]:
            role = conn.exec_driver_sql(
                "SELECT role FROM agents WHERE id = ?", (self.agent_id,)
            ).scalar()
            lead = role in (Role.SUPERVISOR, Role.ADMIN)
            groups = set(
                conn.exec_driver_sql(
                    "SELECT group_id FROM group_memberships WHERE agent_id = ?", (self.agent_id,)
                ).scalars()
            )
            out = []
            rows = conn.exec_driver_sql(
                "SELECT id, title, shortcut, body, scope, group_id, owner_id, usage_count "
                "FROM canned_responses"
            )
            for r in rows:
                scope, group_id, owner_id = r[4], r[5], r[6]
                if scope == "personal" and owner_id != self.agent_id:
                    continue
                if scope == "group" and not lead and group_id not in groups:
                    continue
                if needle and not any(needle in folded(r[i] or "") for i in (1, 2, 3)):
                    continue
                editable = may_edit_canned(scope, owner_id, agent_id=self.agent_id, lead=lead)
                out.append(
                    CannedItem(r[0], r[1], r[2], r[3], scope, group_id, owner_id, r[7], editable)
                )
            # Titles sort as people read them ("Ärger" with the A's); SQLite's NOCASE only
            # folds ASCII, and the list is small.
            out.sort(key=lambda i: (-i.usage_count, folded(i.title), i.id))
            return out

        return await self._pool.read(work)
