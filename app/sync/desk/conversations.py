"""A conversation: a ticket with its thread, this agent's draft, queued changes and refused
changes; single messages (for notifications); this agent's refusals."""

# S608: the SQL here is assembled from constants and runs of "?" placeholders only; every
# value (ids) is bound as a parameter, never spliced in.
# ruff: noqa: S608

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import Connection

from app.domain.registry import DOMAIN
from app.models.entities import draft_id
from app.sync.desk.pool import ReaderPool
from app.sync.desk.sql import chunks, dt_required, from_json, marks, tags
from app.sync.desk_types import (
    Conversation,
    DraftItem,
    MessageItem,
    Refusal,
    TicketDetail,
)

_MESSAGE_SELECT = """
    SELECT m.id, m.kind, m.author_type,
           CASE m.author_type
               WHEN 'agent' THEN coalesce(a.name, 'Agent')
               WHEN 'customer' THEN coalesce(c.name, 'Customer')
               ELSE 'System' END,
           m.body, m.created_at, m.delivery_state, m.author_agent_id, m.ticket_id
    FROM messages m
    LEFT JOIN agents a ON a.id = m.author_agent_id
    LEFT JOIN customers c ON c.id = m.author_customer_id
"""


def _message_item(m: Any) -> MessageItem:
    return MessageItem(
        id=m[0],
        kind=m[1],
        author_type=m[2],
        author_name=m[3],
        body=m[4],
        created_at=dt_required(m[5]),
        delivery_state=m[6],
        author_id=m[7],
    )


# The ticket a refused change was about, whichever mutation it was.
_REFUSAL_TICKET = (
    "coalesce(json_extract(args, '$.ticket_id'), json_extract(args, '$.message.ticket_id'), "
    "json_extract(args, '$.ticket.id'), json_extract(args, '$.source_id'))"
)


def _refusals(conn: Connection, ticket_id: str | None) -> list[Refusal]:
    sql = (
        f"SELECT mutation_id, name, code, message, args, current, created_at, "
        f"{_REFUSAL_TICKET} FROM refusals"
    )
    params: tuple[Any, ...] = ()
    if ticket_id is not None:
        sql += f" WHERE {_REFUSAL_TICKET} = ?"
        params = (ticket_id,)
    sql += " ORDER BY mutation_id"
    out = []
    for r in conn.exec_driver_sql(sql, params):
        args = from_json(r[4])
        current = from_json(r[5])
        out.append(
            Refusal(
                mutation_id=r[0],
                name=r[1],
                code=r[2],
                message=r[3],
                args=dict(args) if isinstance(args, dict) else {},
                current=dict(current) if isinstance(current, dict) else None,
                created_at=dt_required(r[6]),
                what=DOMAIN.refusal(r[1], args if isinstance(args, dict) else None),
            )
        )
    return out


class ConversationReader:
    """Reads conversations, messages and refusals."""

    def __init__(self, pool: ReaderPool, agent_id: str) -> None:
        self._pool = pool
        self.agent_id = agent_id

    async def conversation(
        self, ticket_id: str, only_messages: Sequence[str] | None = None
    ) -> Conversation | None:
        """A ticket with its whole thread, this agent's draft, queued changes and refusals.

        ``only_messages``: just those of the thread's messages (the ones a live change named;
        ids of other tickets are left out) — for a tab that already shows the rest, so a new
        reply on a 500-message ticket reads one message, not 500.
        """
        only = list(dict.fromkeys(only_messages)) if only_messages is not None else None

        def work(conn: Connection) -> Conversation | None:
            r = conn.exec_driver_sql(
                "SELECT id, number, subject, status, priority, channel, customer_id, "
                "assignee_id, group_id, tags, version, created_at, updated_at, merged_into "
                "FROM tickets WHERE id = ?",
                (ticket_id,),
            ).first()
            if r is None:
                return None
            ticket = TicketDetail(
                id=r[0],
                number=r[1],
                subject=r[2],
                status=r[3],
                priority=r[4],
                channel=r[5],
                customer_id=r[6],
                assignee_id=r[7],
                group_id=r[8],
                tags=tags(r[9]),
                version=r[10],
                created_at=dt_required(r[11]),
                updated_at=dt_required(r[12]),
                merged_into=r[13],
            )
            if only is None:
                messages = tuple(
                    _message_item(m)
                    for m in conn.exec_driver_sql(
                        f"{_MESSAGE_SELECT} WHERE m.ticket_id = ? ORDER BY m.created_at, m.id",
                        (ticket_id,),
                    )
                )
            else:
                messages = tuple(
                    _message_item(m)
                    for chunk in chunks(only)
                    for m in conn.exec_driver_sql(
                        f"{_MESSAGE_SELECT} WHERE m.ticket_id = ? AND m.id IN ({marks(chunk)}) "
                        "ORDER BY m.created_at, m.id",
                        (ticket_id, *chunk),
                    )
                )
            d = conn.exec_driver_sql(
                "SELECT body, kind, updated_at FROM drafts WHERE id = ?",
                (draft_id(self.agent_id, ticket_id),),
            ).first()
            draft = None if d is None else DraftItem(d[0], d[1], dt_required(d[2]))
            pending = conn.exec_driver_sql(
                "SELECT count(*) FROM outbox WHERE entity = 'ticket' AND entity_id = ?",
                (ticket_id,),
            ).scalar()
            return Conversation(
                ticket=ticket,
                messages=messages,
                draft=draft,
                pending_changes=int(pending or 0),
                refusals=tuple(_refusals(conn, ticket_id)),
            )

        return await self._pool.read(work)

    async def messages(self, ids: Sequence[str]) -> dict[str, tuple[str, MessageItem]]:
        """Message id -> (ticket id, item), for notifications; missing ids are left out."""
        id_list = list(dict.fromkeys(ids))

        def work(conn: Connection) -> dict[str, tuple[str, MessageItem]]:
            out: dict[str, tuple[str, MessageItem]] = {}
            for chunk in chunks(id_list):
                rows = conn.exec_driver_sql(
                    f"{_MESSAGE_SELECT} WHERE m.id IN ({marks(chunk)})", tuple(chunk)
                )
                for m in rows:
                    out[m[0]] = (m[8], _message_item(m))
            return out

        return await self._pool.read(work)

    async def refusals(self, ticket_id: str | None = None) -> list[Refusal]:
        """This agent's refused changes (of one ticket, if given), oldest first."""
        return await self._pool.read(lambda conn: _refusals(conn, ticket_id))
