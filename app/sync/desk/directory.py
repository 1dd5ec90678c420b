"""Who's who: the agents, groups and this agent's memberships, as the desk shows them."""

from __future__ import annotations

from sqlalchemy import Connection

from app.sync.desk.pool import ReaderPool
from app.sync.desk_types import Directory, Person, Team


class DirectoryReader:
    """Reads the directory (agents, groups, this agent's groups) for the desk."""

    def __init__(self, pool: ReaderPool, agent_id: str) -> None:
        self._pool = pool
        self.agent_id = agent_id

    async def directory(self) -> Directory:
        return await self._pool.read(self._directory)

    def _directory(self, conn: Connection) -> Directory:
        agents = tuple(
            Person(r[0], r[1], r[2], r[3], r[4])
            for r in conn.exec_driver_sql(
                "SELECT id, name, email, role, timezone FROM agents "
                "ORDER BY name COLLATE NOCASE, id"
            )
        )
        groups = tuple(
            Team(r[0], r[1])
            for r in conn.exec_driver_sql("SELECT id, name FROM groups ORDER BY name, id")
        )
        mine = tuple(
            conn.exec_driver_sql(
                "SELECT group_id FROM group_memberships WHERE agent_id = ? ORDER BY group_id",
                (self.agent_id,),
            ).scalars()
        )
        me = next((a for a in agents if a.id == self.agent_id), None)
        return Directory(me=me, agents=agents, groups=groups, my_group_ids=mine)
