"""Time spent, as the desk shows it: a ticket's time entries with their totals (all of it, and
each agent's), and an agent's own time today and this week across tickets.

Read from the cache on the reader pool into the frozen dataclasses below; entries still
waiting to be sent count at once (the agent logged them), and say so.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Connection

from app.sync.desk.pool import ReaderPool
from app.sync.desk.sql import dt_required, stored

MY_TICKETS_CAP = 200  # "My time" lists at most this many tickets of the week


@dataclass(frozen=True)
class TimeEntryRow:
    """One entry as the ticket's list shows it."""

    id: str
    ticket_id: str
    agent_id: str
    agent_name: str
    started_at: datetime
    duration_s: int
    note: str
    source: str  # "stopwatch" or "manual"
    waiting: bool  # logged here and not yet accepted by the server


@dataclass(frozen=True)
class AgentTime:
    """One agent's total on a ticket."""

    agent_id: str
    agent_name: str
    seconds: int


@dataclass(frozen=True)
class TicketTime:
    """A ticket's time: every entry (newest first), the total and each agent's share."""

    ticket_id: str
    entries: tuple[TimeEntryRow, ...]
    total_s: int
    by_agent: tuple[AgentTime, ...]  # most time first


@dataclass(frozen=True)
class TicketShare:
    """One ticket in an agent's week."""

    ticket_id: str
    number: int | None
    subject: str
    today_s: int
    week_s: int


@dataclass(frozen=True)
class MyTime:
    """An agent's own time: today, this week, and the week's tickets (most time first)."""

    today_s: int
    week_s: int
    tickets: tuple[TicketShare, ...]


class TimeEntriesReader:
    """Reads time entries for the conversation's time panel and the agent's "My time"."""

    def __init__(self, pool: ReaderPool) -> None:
        self._pool = pool

    async def ticket_time(self, ticket_id: str) -> TicketTime:
        """The ticket's entries and totals (none: an empty `TicketTime`)."""

        def work(conn: Connection) -> TicketTime:
            rows = conn.exec_driver_sql(
                "SELECT e.id, e.ticket_id, e.agent_id, coalesce(a.name, ''), e.started_at, "
                "e.duration_s, e.note, e.source, "
                "EXISTS (SELECT 1 FROM outbox o WHERE o.entity = 'time_entry' "
                "AND o.entity_id = e.id) "
                "FROM time_entries e LEFT JOIN agents a ON a.id = e.agent_id "
                "WHERE e.ticket_id = ? ORDER BY e.started_at DESC, e.id DESC",
                (ticket_id,),
            )
            entries = tuple(
                TimeEntryRow(
                    id=r[0],
                    ticket_id=r[1],
                    agent_id=r[2],
                    agent_name=r[3] or "Someone no longer here",
                    started_at=dt_required(r[4]),
                    duration_s=int(r[5]),
                    note=r[6] or "",
                    source=r[7],
                    waiting=bool(r[8]),
                )
                for r in rows
            )
            totals: dict[str, AgentTime] = {}
            for e in entries:
                had = totals.get(e.agent_id)
                seconds = (had.seconds if had else 0) + e.duration_s
                totals[e.agent_id] = AgentTime(e.agent_id, e.agent_name, seconds)
            by_agent = tuple(sorted(totals.values(), key=lambda t: (-t.seconds, t.agent_name)))
            return TicketTime(ticket_id, entries, sum(e.duration_s for e in entries), by_agent)

        return await self._pool.read(work)

    async def my_time(self, agent_id: str, day_start: datetime, week_start: datetime) -> MyTime:
        """``agent_id``'s time from ``day_start`` and from ``week_start`` (the agent's own
        midnight and Monday, worked out by the caller in their time zone)."""

        def work(conn: Connection) -> MyTime:
            day, week = stored(day_start), stored(week_start)
            rows = conn.exec_driver_sql(
                "SELECT e.ticket_id, t.number, coalesce(t.subject, ''), "
                "sum(CASE WHEN e.started_at >= ? THEN e.duration_s ELSE 0 END), "
                "sum(e.duration_s) "
                "FROM time_entries e LEFT JOIN tickets t ON t.id = e.ticket_id "
                "WHERE e.agent_id = ? AND e.started_at >= ? "
                "GROUP BY e.ticket_id ORDER BY sum(e.duration_s) DESC, e.ticket_id LIMIT ?",
                (day, agent_id, week, MY_TICKETS_CAP),
            )
            tickets = tuple(
                TicketShare(r[0], r[1], r[2], int(r[3] or 0), int(r[4] or 0)) for r in rows
            )
            today, total = conn.exec_driver_sql(
                "SELECT coalesce(sum(CASE WHEN started_at >= ? THEN duration_s ELSE 0 END), 0), "
                "coalesce(sum(duration_s), 0) FROM time_entries "
                "WHERE agent_id = ? AND started_at >= ?",
                (day, agent_id, week),
            ).one()
            return MyTime(int(today), int(total), tickets)

        return await self._pool.read(work)
