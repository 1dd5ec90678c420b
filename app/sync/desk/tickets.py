"""The views and the ticket list: built-in views, view counts, and a view's ordered ticket
ids, places and rows (see "The ticket list" in docs/workstation.md)."""

# S608: the SQL here is assembled from constants and runs of "?" placeholders only; every
# value (ids, view filters) is bound as a parameter, never spliced in.
# ruff: noqa: S608

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Connection

from app.models.base import utcnow
from app.models.enums import ACTIVE_STATUSES, Role, TicketStatus
from app.sync.desk.indexer import SearchIndexer
from app.sync.desk.pool import ReaderPool
from app.sync.desk.sql import chunks, dt, dt_required, like, marks, stored, tags
from app.sync.desk_types import (
    Directory,
    TicketColumn,
    TicketRow,
    TicketSort,
    ViewCount,
    ViewSpec,
)

# Statuses in the order an agent reads them (a ticket's life), not alphabetical.
STATUS_ORDER = ("new", "open", "pending", "on_hold", "solved", "closed")
PRIORITY_ORDER = ("low", "normal", "high", "urgent")
ACTIVE = tuple(s.value for s in TicketStatus if s in ACTIVE_STATUSES)
# "My open tickets": active, except pending, which has a view of its own.
MINE_STATUSES = ("new", "open", "on_hold")
SOLVED = ("solved", "closed")
SOLVED_VIEW_DAYS = 7


def _rank(column: str, order: Sequence[str]) -> str:
    """An SQL expression ranking ``column`` by its position in ``order`` (unknown last)."""
    cases = " ".join(f"WHEN '{value}' THEN {i}" for i, value in enumerate(order))
    return f"(CASE {column} {cases} ELSE {len(order)} END)"


# How long the customer has waited for an answer, only where that is true: while the next
# move is the agents' (new, open, on hold — the customer still waits while a third party is
# asked).  A pending ticket waits on the customer; a solved or closed one on no one, even if
# the customer's "thanks!" came after the last reply.
WAITING_STATUSES = ("new", "open", "on_hold")
WAITING_SINCE = (
    f"(CASE WHEN t.status IN ({', '.join(repr(s) for s in WAITING_STATUSES)}) "
    "THEN act.waiting_since END)"
)

# The SQL each column sorts by.  Text sorts ignore case; the statuses and priorities sort by
# meaning.  The list query joins customers as c, agents as a and ticket_activity as act.
SORT_KEYS: dict[TicketColumn, str] = {
    TicketColumn.NUMBER: "t.number",
    TicketColumn.SUBJECT: "t.subject COLLATE NOCASE",
    TicketColumn.CUSTOMER: "c.name COLLATE NOCASE",
    TicketColumn.STATUS: _rank("t.status", STATUS_ORDER),
    TicketColumn.PRIORITY: _rank("t.priority", PRIORITY_ORDER),
    TicketColumn.CHANNEL: "t.channel",
    TicketColumn.ASSIGNEE: "a.name COLLATE NOCASE",
    TicketColumn.UPDATED: "t.updated_at",
    TicketColumn.WAITING: WAITING_SINCE,
}


# Sorts whose key is never NULL, so a row-value comparison places a ticket exactly.
PLACEABLE = frozenset(
    {
        TicketColumn.UPDATED,
        TicketColumn.SUBJECT,
        TicketColumn.STATUS,
        TicketColumn.PRIORITY,
        TicketColumn.CHANNEL,
    }
)


def _pending_tickets(conn: Connection) -> set[str]:
    """Tickets with local work the server has not acknowledged: queued field changes and
    queued messages (drafts do not count: they are saved constantly while typing)."""
    return {
        str(v)
        for v in conn.exec_driver_sql(
            "SELECT entity_id FROM outbox WHERE entity = 'ticket' "
            "UNION SELECT json_extract(args, '$.message.ticket_id') FROM outbox "
            "WHERE name = 'message.add'"
        ).scalars()
        if v is not None
    }


class TicketListReader:
    """Reads the views and the ticket list; ``ticket_ids`` sorted by waiting time and
    ``ticket_rows`` first ask the search indexer for new messages' waiting times."""

    def __init__(self, pool: ReaderPool, indexer: SearchIndexer, agent_id: str) -> None:
        self._pool = pool
        self._indexer = indexer
        self.agent_id = agent_id

    def builtin_views(self, directory: Directory) -> list[ViewSpec]:
        """The views every agent has: their own work, their groups' queues, pending, solved.

        Supervisors and admins get a queue for every group; agents for their own groups.
        """
        views = [
            ViewSpec("mine", "My open tickets", statuses=MINE_STATUSES, assignee="me"),
            ViewSpec(
                "unassigned",
                "Unassigned in my groups",
                statuses=ACTIVE,
                assignee="none",
                group_ids=("mine",),
            ),
        ]
        lead = directory.me is not None and directory.me.role in (Role.SUPERVISOR, Role.ADMIN)
        for group in directory.groups:
            if lead or group.id in directory.my_group_ids:
                views.append(
                    ViewSpec(
                        f"group:{group.id}",
                        f"{group.name} queue",
                        statuses=ACTIVE,
                        group_ids=(group.id,),
                    )
                )
        views.append(ViewSpec("pending", "Pending", statuses=("pending",), assignee="me"))
        views.append(
            ViewSpec(
                "solved",
                "Recently solved",
                statuses=SOLVED,
                assignee="me",
                solved_within_days=SOLVED_VIEW_DAYS,
            )
        )
        return views

    def _view_filter(self, spec: ViewSpec, now: datetime) -> tuple[str, list[Any]]:
        """The WHERE clause (over ``tickets t``) and its parameters for a view."""
        clauses: list[str] = []
        params: list[Any] = []

        def one_of(column: str, values: Sequence[str]) -> None:
            clauses.append(f"{column} IN ({marks(values)})")
            params.extend(values)

        if spec.statuses:
            one_of("t.status", spec.statuses)
        if spec.assignee == "me":
            clauses.append("t.assignee_id = ?")
            params.append(self.agent_id)
        elif spec.assignee == "none":
            clauses.append("t.assignee_id IS NULL")
        elif spec.assignee:
            clauses.append("t.assignee_id = ?")
            params.append(spec.assignee)
        if spec.group_ids:
            explicit = [g for g in spec.group_ids if g != "mine"]
            alternatives = []
            if "mine" in spec.group_ids:
                alternatives.append(
                    "t.group_id IN (SELECT group_id FROM group_memberships WHERE agent_id = ?)"
                )
                params.append(self.agent_id)
            if explicit:
                alternatives.append(f"t.group_id IN ({marks(explicit)})")
                params.extend(explicit)
            clauses.append("(" + " OR ".join(alternatives) + ")")
        if spec.priorities:
            one_of("t.priority", spec.priorities)
        if spec.channels:
            one_of("t.channel", spec.channels)
        if spec.tags:  # any of the tags
            clauses.append(
                f"EXISTS (SELECT 1 FROM json_each(t.tags) j WHERE j.value IN ({marks(spec.tags)}))"
            )
            params.extend(spec.tags)
        text = spec.text.strip()
        if text:
            clauses.append(
                "(t.subject LIKE ? ESCAPE '\\' OR t.customer_id IN "
                "(SELECT id FROM customers WHERE name LIKE ? ESCAPE '\\'))"
            )
            params.extend((like(text), like(text)))
        if spec.solved_within_days is not None:
            clauses.append(
                "t.status IN ('solved', 'closed') AND coalesce(t.solved_at, t.updated_at) >= ?"
            )
            params.append(stored(now - timedelta(days=spec.solved_within_days)))
        return (" AND ".join(clauses) or "1"), params

    async def view_counts(self, specs: Sequence[ViewSpec]) -> list[ViewCount]:
        """How many tickets each view lists, all in one read transaction."""
        specs = list(specs)

        def work(conn: Connection) -> list[ViewCount]:
            now = utcnow()
            out = []
            for spec in specs:
                where, params = self._view_filter(spec, now)
                count = conn.exec_driver_sql(
                    f"SELECT count(*) FROM tickets t WHERE {where}", tuple(params)
                ).scalar()
                out.append(ViewCount(spec, int(count or 0)))
            return out

        return await self._pool.read(work)

    async def ticket_ids(self, spec: ViewSpec, sort: TicketSort) -> list[str]:
        """The whole ordered list of a view's ticket ids, filtered and sorted in SQL.

        Ties are broken by id, so the order is total and the same on every read.  Sorting by
        ``WAITING`` descending puts the longest wait first; tickets nobody waits on come
        last in either direction.
        """

        if sort.column == TicketColumn.WAITING:
            await self._indexer.before_read()  # new messages' times

        def work(conn: Connection) -> list[str]:
            where, params = self._view_filter(spec, utcnow())
            key = SORT_KEYS[sort.column]
            joins = ""
            if sort.column == TicketColumn.CUSTOMER:
                joins = "LEFT JOIN customers c ON c.id = t.customer_id"
            elif sort.column == TicketColumn.ASSIGNEE:
                joins = "LEFT JOIN agents a ON a.id = t.assignee_id"
            elif sort.column == TicketColumn.WAITING:
                joins = "LEFT JOIN ticket_activity act ON act.ticket_id = t.id"
            direction = "DESC" if sort.descending else "ASC"
            if sort.column == TicketColumn.NUMBER or (
                where != "1" and sort.column == TicketColumn.UPDATED
            ):
                # Sorting the rows found is cheaper than walking an ordering index with one
                # row lookup per ticket, which the planner prefers to skip the sort: 50,000
                # by number 19 ms instead of 46, a filtered view 2 ms instead of 28.  (The
                # default order of an unfiltered list has a covering index: no lookups.)
                key = f"+{key}"
            if sort.column == TicketColumn.WAITING:
                # Longest wait = earliest waiting_since; not waiting at all = last.
                direction = "ASC" if sort.descending else "DESC"
                order = f"({key} IS NULL), {key} {direction}, t.id"
            else:
                order = f"{key} {direction}, t.id {direction}"
            sql = f"SELECT t.id FROM tickets t {joins} WHERE {where} ORDER BY {order}"
            # Straight from the driver's cursor: for 50,000 ids SQLAlchemy's result rows
            # cost about as much as the query itself.
            cursor = conn.connection.driver_connection.cursor()  # type: ignore[union-attr]
            try:
                return [row[0] for row in cursor.execute(sql, tuple(params))]
            finally:
                cursor.close()

        return await self._pool.read(work)

    async def changed_rows(
        self, spec: ViewSpec, sort: TicketSort, ids: Sequence[str]
    ) -> tuple[int, dict[str, int | None], dict[str, TicketRow]] | None:
        """Where these tickets now stand in the view, and their rows: (how many tickets the
        view lists, ticket id -> its row or None if it left the view, the `ticket_rows` of
        those in it).  None if the sort cannot be placed this way (its key may be NULL):
        then re-read ``ticket_ids``.

        For a live change of a few tickets: the others keep their order, so the list only
        needs these places — one counting query each, instead of all 50,000 ids again — and
        it needs them in one trip to a reader thread, since the agent is waiting to see it.
        """
        if sort.column not in PLACEABLE:
            return None
        now = utcnow()
        await self._indexer.before_read()  # new messages' waiting times

        def work(conn: Connection) -> tuple[int, dict[str, int | None], dict[str, TicketRow]]:
            total, places = self._places(conn, spec, sort, ids, now)
            return total, places, _rows(conn, [t for t, p in places.items() if p is not None])

        return await self._pool.read(work)

    def _places(
        self, conn: Connection, spec: ViewSpec, sort: TicketSort, ids: Sequence[str], now: datetime
    ) -> tuple[int, dict[str, int | None]]:
        where, params = self._view_filter(spec, now)
        key = SORT_KEYS[sort.column]
        total = int(
            conn.exec_driver_sql(
                f"SELECT count(*) FROM tickets t WHERE {where}", tuple(params)
            ).scalar_one()
        )
        # (key, id) sorts both ways in the same direction (see ticket_ids): a row-value
        # comparison counts exactly the tickets listed before this one.
        before = ">" if sort.descending else "<"
        if where != "1" and sort.column == TicketColumn.UPDATED:
            # As in ticket_ids: count the view's rows, not a walk of the whole index.
            key = f"+{key}"
        places: dict[str, int | None] = {}
        for tid in dict.fromkeys(ids):
            mine = conn.exec_driver_sql(
                f"SELECT {key}, t.id FROM tickets t WHERE ({where}) AND t.id = ?",
                (*params, tid),
            ).first()
            if mine is None:
                places[tid] = None
                continue
            places[tid] = int(
                conn.exec_driver_sql(
                    f"SELECT count(*) FROM tickets t WHERE ({where}) "
                    f"AND ({key}, t.id) {before} (?, ?)",
                    (*params, mine[0], mine[1]),
                ).scalar_one()
            )
        return total, places

    async def ticket_rows(self, ids: Sequence[str]) -> dict[str, TicketRow]:
        """The list rows of these tickets (a page of the list); missing ids are left out."""
        id_list = list(dict.fromkeys(ids))
        await self._indexer.before_read()  # new messages' waiting times
        return await self._pool.read(lambda conn: _rows(conn, id_list))

    async def ticket_by_number(self, number: int) -> str | None:
        def work(conn: Connection) -> str | None:
            value = conn.exec_driver_sql(
                "SELECT id FROM tickets WHERE number = ?", (number,)
            ).scalar()
            return None if value is None else str(value)

        return await self._pool.read(work)


def _rows(conn: Connection, ids: Sequence[str]) -> dict[str, TicketRow]:
    """The list rows of these tickets; missing ids are left out."""
    id_list = list(dict.fromkeys(ids))
    if not id_list:
        return {}
    pending = _pending_tickets(conn)
    out: dict[str, TicketRow] = {}
    for chunk in chunks(id_list):
        rows = conn.exec_driver_sql(
            f"""
            SELECT t.id, t.number, t.subject, t.customer_id, c.name, t.status,
                   t.priority, t.channel, t.assignee_id, a.name, t.group_id,
                   t.updated_at, {WAITING_SINCE}, t.version, t.tags
            FROM tickets t
            LEFT JOIN customers c ON c.id = t.customer_id
            LEFT JOIN agents a ON a.id = t.assignee_id
            LEFT JOIN ticket_activity act ON act.ticket_id = t.id
            WHERE t.id IN ({marks(chunk)})
            """,
            tuple(chunk),
        )
        for r in rows:
            out[r[0]] = TicketRow(
                id=r[0],
                number=r[1],
                subject=r[2],
                customer_id=r[3],
                customer_name=r[4] or "",
                status=r[5],
                priority=r[6],
                channel=r[7],
                assignee_id=r[8],
                assignee_name=r[9] or "",
                group_id=r[10],
                updated_at=dt_required(r[11]),
                waiting_since=dt(r[12]),
                version=r[13],
                tags=tags(r[14]),
                pending=r[0] in pending,
            )
    return out
