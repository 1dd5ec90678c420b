"""The agent's @mentions: newest first, with the ticket, who wrote and the note's start, and
how many are still unread (for the Mentions list and its count)."""

from __future__ import annotations

from sqlalchemy import Connection

from app.sync.desk.pool import ReaderPool
from app.sync.desk.sql import dt_required
from app.sync.desk_types import MentionItem

EXCERPT_CHARS = 160
MENTIONS_SHOWN = 200


def excerpt(body: str) -> str:
    flat = " ".join(body.split())
    return flat if len(flat) <= EXCERPT_CHARS else flat[: EXCERPT_CHARS - 1] + "…"


class MentionReader:
    """Reads this agent's mentions (the cache holds no one else's: they are the agent's)."""

    def __init__(self, pool: ReaderPool, agent_id: str) -> None:
        self._pool = pool
        self.agent_id = agent_id

    async def mentions(self, limit: int = MENTIONS_SHOWN) -> list[MentionItem]:
        def work(conn: Connection) -> list[MentionItem]:
            rows = conn.exec_driver_sql(
                """
                SELECT mn.id, mn.ticket_id, t.number, t.subject, mn.message_id,
                       a.name, m.body, mn.created_at, mn.seen_at
                FROM mentions mn
                LEFT JOIN tickets t ON t.id = mn.ticket_id
                LEFT JOIN messages m ON m.id = mn.message_id
                LEFT JOIN agents a ON a.id = mn.by_agent_id
                WHERE mn.agent_id = ?
                ORDER BY mn.created_at DESC, mn.id
                LIMIT ?
                """,
                (self.agent_id, limit),
            )
            return [
                MentionItem(
                    id=r[0],
                    ticket_id=r[1],
                    ticket_number=r[2],
                    ticket_subject=r[3] or "",
                    message_id=r[4],
                    by_name=r[5] or "",
                    excerpt=excerpt(r[6] or ""),
                    created_at=dt_required(r[7]),
                    seen=r[8] is not None,
                )
                for r in rows
            ]

        return await self._pool.read(work)

    async def unread(self) -> int:
        def work(conn: Connection) -> int:
            count = conn.exec_driver_sql(
                "SELECT count(*) FROM mentions WHERE agent_id = ? AND seen_at IS NULL",
                (self.agent_id,),
            ).scalar()
            return int(count or 0)

        return await self._pool.read(work)
