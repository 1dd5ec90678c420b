"""Every read the desk makes, on a reader thread of its own (see docs/workstation.md).

The reader opens its own connection to the cache file, read-only (``PRAGMA query_only``), on
its own thread.  The cache is in WAL mode, so a read never waits behind the sync engine's
write transactions (a catch-up page, a local change) and never holds them up: each method
runs in one read transaction and sees one consistent snapshot.

Queries are plain SQL over the cache's tables plus the derived tables of
``app/sync/search_index.py`` (``ticket_activity`` for waiting times, the FTS5 tables for
search); answers are the frozen dataclasses of ``app/sync/desk_types.py``.

The one thing the reader writes is that derived data: the engine's triggers only queue new
rows, and a second connection, on a thread of its own, indexes them in short batches in the
background and before a search or a read of waiting times (``index_pending``).  It never
waits long for the engine's write lock: if a catch-up holds it, the read answers from what
is indexed so far.
"""

# S608: the SQL here is assembled from constants and runs of "?" placeholders only; every
# value (ids, search words, view filters) is bound as a parameter, never spliced in.
# ruff: noqa: S608

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import re
import time
import unicodedata
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, TypeVar

from sqlalchemy import Connection, Engine, event
from sqlalchemy.exc import OperationalError

from app.models.base import utcnow
from app.models.entities import draft_id
from app.models.enums import ACTIVE_STATUSES, Role, TicketStatus
from app.models.sqlite import WRITE, sqlite_engine
from app.sync.desk_types import (
    CannedItem,
    Conversation,
    CustomerCard,
    Directory,
    DraftItem,
    MessageItem,
    Person,
    Rejection,
    SearchHit,
    SearchResults,
    Team,
    TicketBrief,
    TicketColumn,
    TicketDetail,
    TicketRow,
    TicketSort,
    ViewCount,
    ViewSpec,
)
from app.sync.search_index import index_pending, match_expression, merge_step, pending_count

T = TypeVar("T")
log = logging.getLogger(__name__)

# Statuses in the order an agent reads them (a ticket's life), not alphabetical.
STATUS_ORDER = ("new", "open", "pending", "on_hold", "solved", "closed")
PRIORITY_ORDER = ("low", "normal", "high", "urgent")
ACTIVE = tuple(s.value for s in TicketStatus if s in ACTIVE_STATUSES)
# "My open tickets": active, except pending, which has a view of its own.
MINE_STATUSES = ("new", "open", "on_hold")
SOLVED = ("solved", "closed")
CUSTOMER_TICKETS_CAP = 50
RECENT_DAYS = 90
SOLVED_VIEW_DAYS = 7
# SQLite's limit on host parameters is 32766; ids are bound in chunks well below it.
CHUNK = 500

# The search index catches up in batches this large (per FTS table): ~10-20 ms of holding
# the cache's write lock, which the sync engine may be waiting for.
INDEX_BATCH = 2000
INDEX_IDLE_S = 1.0  # how often to look for rows to index when there were none
INDEX_BUSY_MS = 250  # give up a batch (and retry later) if the engine writes that long
INDEX_READ_WAIT_MS = 30  # the same, in the background and before a search or waiting times
INDEX_RETRY_S = 0.2  # after giving up on a busy engine, try again this soon
MERGE_BUDGET_S = 0.03  # index merging per idle second, in steps of a few ms

_NUMBER = re.compile(r"^\s*#?\s*(\d{1,9})\s*$")


def _rank(column: str, order: Sequence[str]) -> str:
    """An SQL expression ranking ``column`` by its position in ``order`` (unknown last)."""
    cases = " ".join(f"WHEN '{value}' THEN {i}" for i, value in enumerate(order))
    return f"(CASE {column} {cases} ELSE {len(order)} END)"


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
    TicketColumn.WAITING: "act.waiting_since",
}


def _stored(value: datetime) -> str:
    """A datetime as the cache stores it (naive UTC text, as SQLAlchemy writes it), so
    comparisons happen in SQL on the stored text."""
    return value.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S.%f")


def _dt(value: str | None) -> datetime | None:
    if value is None:
        return None
    return datetime.fromisoformat(value).replace(tzinfo=UTC)


def _dt_required(value: str | None) -> datetime:
    parsed = _dt(value)
    if parsed is None:
        return datetime.fromtimestamp(0, UTC)  # a replica row always has it; never crash a list
    return parsed


def _json(value: Any) -> Any:
    if value is None or not isinstance(value, str | bytes):
        return value
    return json.loads(value)


def _folded(text: str) -> str:
    """``text`` without case or accents, for comparing as a reader would."""
    decomposed = unicodedata.normalize("NFKD", text.casefold())
    return "".join(ch for ch in decomposed if not unicodedata.combining(ch))


def _marks(values: Sequence[Any]) -> str:
    return ", ".join("?" for _ in values)


def _like(text: str) -> str:
    """A LIKE pattern for "contains ``text``" (with ``ESCAPE '\\'``)."""
    escaped = text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


def _chunks(values: Sequence[T], size: int = CHUNK) -> Iterable[Sequence[T]]:
    for start in range(0, len(values), size):
        yield values[start : start + size]


READERS = 2
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


class DeskReader:
    """Every read the desk makes, on reader threads of its own.

    ``open()`` before use (after the engine has opened the cache), ``close()`` at the end.
    Every method may be awaited from the UI's loop; none blocks it.
    """

    def __init__(
        self, cache_path: Path, agent_id: str, *, index_idle_s: float = INDEX_IDLE_S
    ) -> None:
        self.cache_path = cache_path
        self.agent_id = agent_id
        self.index_idle_s = index_idle_s  # how often to look for new rows to index
        # Two readers (WAL lets them read at once, and SQLite runs without the GIL): a list
        # re-reading a 50,000-ticket view must not hold up the open tab's thread behind it.
        self._thread = ThreadPoolExecutor(READERS, thread_name_prefix="desk-reader")
        self._engine: Engine | None = None
        # The search index's queues are emptied on a thread and connection of their own, so
        # reads never wait for it (see search_index: new rows are indexed in batches).
        self._index_thread = ThreadPoolExecutor(1, thread_name_prefix="desk-indexer")
        self._indexer: Engine | None = None
        self._index_task: asyncio.Task[None] | None = None

    # ---- lifecycle ---------------------------------------------------------------------

    async def open(self) -> None:
        """Open a read-only connection to the cache (the engine must have created it)."""
        loop = asyncio.get_running_loop()
        self._engine = await loop.run_in_executor(self._thread, self._connect)
        self._indexer = await loop.run_in_executor(self._index_thread, self._connect_indexer)
        self._index_task = loop.create_task(self._keep_index_current(), name="desk-indexer")

    def _connect(self) -> Engine:
        engine = sqlite_engine(
            f"sqlite:///{self.cache_path}",
            synchronous="NORMAL",
            foreign_keys=False,
            cache_kib=32 * 1024,  # per reader (two): the list's indexes and a thread or two
        )

        @event.listens_for(engine, "connect")
        def _read_only(dbapi_conn: Any, record: Any) -> None:
            cur = dbapi_conn.cursor()
            # The reader never writes: a bug that tries fails loudly instead of racing the
            # engine's transactions.  mmap: reads of a large cache skip a copy per page.
            cur.execute("PRAGMA query_only=ON")
            cur.execute("PRAGMA mmap_size=268435456")
            cur.close()

        with engine.connect() as conn:  # open it now: a missing file fails here, not later
            conn.exec_driver_sql("SELECT 1").scalar()
        return engine

    def _connect_indexer(self) -> Engine:
        return sqlite_engine(
            f"sqlite:///{self.cache_path}", synchronous="NORMAL", foreign_keys=False
        )

    async def close(self) -> None:
        loop = asyncio.get_running_loop()
        task, self._index_task = self._index_task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        indexer, self._indexer = self._indexer, None
        if indexer is not None:
            await loop.run_in_executor(self._index_thread, indexer.dispose)
        self._index_thread.shutdown(wait=True)
        engine, self._engine = self._engine, None
        if engine is not None:
            await loop.run_in_executor(self._thread, engine.dispose)
        self._thread.shutdown(wait=True)

    # ---- the search index ----------------------------------------------------------------

    async def index_pending(self, wait_ms: int = INDEX_BUSY_MS) -> bool:
        """Index every row written since the last time (the sync engine's triggers only
        queue them).  Returns False if the engine held the cache's write lock for longer
        than ``wait_ms``: then a search sees the rows indexed so far, and the rest follow."""
        indexer = self._indexer
        if indexer is None:
            raise RuntimeError("open() the desk reader first")

        def batch() -> int | None:
            with indexer.connect() as conn:
                with conn.begin():  # a read: nothing to do must not take the write lock
                    if pending_count(conn) == 0:
                        return 0
                raw = conn.connection.driver_connection
                if raw is not None:
                    raw.execute(f"PRAGMA busy_timeout={int(wait_ms)}")
                try:
                    with conn.execution_options(**WRITE).begin():
                        return index_pending(conn, INDEX_BATCH)
                except OperationalError as exc:
                    if "locked" in str(exc) or "busy" in str(exc):
                        return None
                    raise

        loop = asyncio.get_running_loop()
        while True:
            done = await loop.run_in_executor(self._index_thread, batch)
            if done is None:
                return False
            if done == 0:
                return True

    async def _keep_index_current(self) -> None:
        """Index new rows as they arrive, so a search rarely has any left to do."""
        delay = self.index_idle_s
        while True:
            try:
                # A short wait for the engine's write lock, as a search's: the indexer has one
                # thread, and a read asking for the index waits behind whatever it is doing.
                done = await self.index_pending(wait_ms=INDEX_READ_WAIT_MS)
                if done:
                    await self._merge_some()
                delay = self.index_idle_s if done else INDEX_RETRY_S
            except Exception:
                # A bug, or a disk that cannot be written: searches still work on what is
                # indexed.  Say so, and keep trying, less often while it keeps failing.
                log.exception("indexing the cache for search failed")
                delay = min(60.0, max(delay, self.index_idle_s) * 2)
            await asyncio.sleep(delay)

    async def _merge_some(self, budget_s: float = MERGE_BUDGET_S) -> None:
        """Merge the index's segments for up to ``budget_s`` (in steps of a few ms), only
        while idle: an insert no longer merges on its own (see create_search_schema)."""
        indexer = self._indexer
        if indexer is None:
            return

        def steps() -> None:
            deadline = time.monotonic() + budget_s
            with indexer.connect() as conn:
                raw = conn.connection.driver_connection
                if raw is not None:
                    raw.execute(f"PRAGMA busy_timeout={INDEX_READ_WAIT_MS}")
                try:
                    while time.monotonic() < deadline:
                        with conn.execution_options(**WRITE).begin():
                            if not merge_step(conn):
                                return
                except OperationalError as exc:
                    if "locked" not in str(exc) and "busy" not in str(exc):
                        raise  # the engine is writing: merge another time

        await asyncio.get_running_loop().run_in_executor(self._index_thread, steps)

    async def _read(self, fn: Callable[[Connection], T]) -> T:
        """Run ``fn`` in one read transaction on the reader thread."""
        engine = self._engine
        if engine is None:
            raise RuntimeError("open() the desk reader first")

        def work() -> T:
            with engine.connect() as conn, conn.begin():
                return fn(conn)

        return await asyncio.get_running_loop().run_in_executor(self._thread, work)

    # ---- who's who -----------------------------------------------------------------------

    async def directory(self) -> Directory:
        return await self._read(self._directory)

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

    # ---- the ticket list -----------------------------------------------------------------

    def _view_filter(self, spec: ViewSpec, now: datetime) -> tuple[str, list[Any]]:
        """The WHERE clause (over ``tickets t``) and its parameters for a view."""
        clauses: list[str] = []
        params: list[Any] = []

        def one_of(column: str, values: Sequence[str]) -> None:
            clauses.append(f"{column} IN ({_marks(values)})")
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
                alternatives.append(f"t.group_id IN ({_marks(explicit)})")
                params.extend(explicit)
            clauses.append("(" + " OR ".join(alternatives) + ")")
        if spec.priorities:
            one_of("t.priority", spec.priorities)
        if spec.channels:
            one_of("t.channel", spec.channels)
        if spec.tags:  # any of the tags
            clauses.append(
                f"EXISTS (SELECT 1 FROM json_each(t.tags) j WHERE j.value IN ({_marks(spec.tags)}))"
            )
            params.extend(spec.tags)
        text = spec.text.strip()
        if text:
            clauses.append(
                "(t.subject LIKE ? ESCAPE '\\' OR t.customer_id IN "
                "(SELECT id FROM customers WHERE name LIKE ? ESCAPE '\\'))"
            )
            params.extend((_like(text), _like(text)))
        if spec.solved_within_days is not None:
            clauses.append(
                "t.status IN ('solved', 'closed') AND coalesce(t.solved_at, t.updated_at) >= ?"
            )
            params.append(_stored(now - timedelta(days=spec.solved_within_days)))
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

        return await self._read(work)

    async def ticket_ids(self, spec: ViewSpec, sort: TicketSort) -> list[str]:
        """The whole ordered list of a view's ticket ids, filtered and sorted in SQL.

        Ties are broken by id, so the order is total and the same on every read.  Sorting by
        ``WAITING`` descending puts the longest wait first; tickets nobody waits on come
        last in either direction.
        """

        if sort.column == TicketColumn.WAITING:
            await self.index_pending(wait_ms=INDEX_READ_WAIT_MS)  # new messages' times

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

        return await self._read(work)

    async def ticket_places(
        self, spec: ViewSpec, sort: TicketSort, ids: Sequence[str]
    ) -> tuple[int, dict[str, int | None]] | None:
        """Where these tickets now stand in the view: (how many tickets the view lists,
        ticket id -> its row, or None if it left the view).  None if the sort cannot be
        placed this way (its key may be NULL): then re-read ``ticket_ids``.

        For a live change of a few tickets: the others keep their order, so the list only
        needs these places — one counting query each, instead of all 50,000 ids again.
        """
        if sort.column not in PLACEABLE:
            return None

        def work(conn: Connection) -> tuple[int, dict[str, int | None]]:
            where, params = self._view_filter(spec, utcnow())
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

        return await self._read(work)

    async def ticket_rows(self, ids: Sequence[str]) -> dict[str, TicketRow]:
        """The list rows of these tickets (a page of the list); missing ids are left out."""
        id_list = list(dict.fromkeys(ids))
        await self.index_pending(wait_ms=INDEX_READ_WAIT_MS)  # new messages' waiting times

        def work(conn: Connection) -> dict[str, TicketRow]:
            pending = _pending_tickets(conn)
            out: dict[str, TicketRow] = {}
            for chunk in _chunks(id_list):
                rows = conn.exec_driver_sql(
                    f"""
                    SELECT t.id, t.number, t.subject, t.customer_id, c.name, t.status,
                           t.priority, t.channel, t.assignee_id, a.name, t.group_id,
                           t.updated_at, act.waiting_since, t.version, t.tags
                    FROM tickets t
                    LEFT JOIN customers c ON c.id = t.customer_id
                    LEFT JOIN agents a ON a.id = t.assignee_id
                    LEFT JOIN ticket_activity act ON act.ticket_id = t.id
                    WHERE t.id IN ({_marks(chunk)})
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
                        updated_at=_dt_required(r[11]),
                        waiting_since=_dt(r[12]),
                        version=r[13],
                        tags=tuple(str(tag) for tag in (_json(r[14]) or ())),
                        pending=r[0] in pending,
                    )
            return out

        return await self._read(work)

    async def ticket_by_number(self, number: int) -> str | None:
        def work(conn: Connection) -> str | None:
            value = conn.exec_driver_sql(
                "SELECT id FROM tickets WHERE number = ?", (number,)
            ).scalar()
            return None if value is None else str(value)

        return await self._read(work)

    # ---- a conversation ------------------------------------------------------------------

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
                "assignee_id, group_id, tags, version, created_at, updated_at "
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
                tags=tuple(str(tag) for tag in (_json(r[9]) or ())),
                version=r[10],
                created_at=_dt_required(r[11]),
                updated_at=_dt_required(r[12]),
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
                    for chunk in _chunks(only)
                    for m in conn.exec_driver_sql(
                        f"{_MESSAGE_SELECT} WHERE m.ticket_id = ? AND m.id IN ({_marks(chunk)}) "
                        "ORDER BY m.created_at, m.id",
                        (ticket_id, *chunk),
                    )
                )
            d = conn.exec_driver_sql(
                "SELECT body, kind, updated_at FROM drafts WHERE id = ?",
                (draft_id(self.agent_id, ticket_id),),
            ).first()
            draft = None if d is None else DraftItem(d[0], d[1], _dt_required(d[2]))
            pending = conn.exec_driver_sql(
                "SELECT count(*) FROM outbox WHERE entity = 'ticket' AND entity_id = ?",
                (ticket_id,),
            ).scalar()
            return Conversation(
                ticket=ticket,
                messages=messages,
                draft=draft,
                pending_changes=int(pending or 0),
                rejections=tuple(_rejections(conn, ticket_id)),
            )

        return await self._read(work)

    async def messages(self, ids: Sequence[str]) -> dict[str, tuple[str, MessageItem]]:
        """Message id -> (ticket id, item), for notifications; missing ids are left out."""
        id_list = list(dict.fromkeys(ids))

        def work(conn: Connection) -> dict[str, tuple[str, MessageItem]]:
            out: dict[str, tuple[str, MessageItem]] = {}
            for chunk in _chunks(id_list):
                rows = conn.exec_driver_sql(
                    f"{_MESSAGE_SELECT} WHERE m.id IN ({_marks(chunk)})", tuple(chunk)
                )
                for m in rows:
                    out[m[0]] = (m[8], _message_item(m))
            return out

        return await self._read(work)

    async def rejections(self, ticket_id: str | None = None) -> list[Rejection]:
        """This agent's refused changes (of one ticket, if given), oldest first."""
        return await self._read(lambda conn: _rejections(conn, ticket_id))

    # ---- customer 360 --------------------------------------------------------------------

    async def customer(self, customer_id: str) -> CustomerCard | None:
        def work(conn: Connection) -> CustomerCard | None:
            r = conn.exec_driver_sql(
                "SELECT c.id, c.name, o.name, c.tier, c.language, c.timezone, c.notes, "
                "c.created_at FROM customers c "
                "LEFT JOIN organizations o ON o.id = c.organization_id WHERE c.id = ?",
                (customer_id,),
            ).first()
            if r is None:
                return None
            identities = tuple(
                (i[0], i[1])
                for i in conn.exec_driver_sql(
                    "SELECT kind, value FROM customer_identities WHERE customer_id = ? "
                    "ORDER BY kind, value",
                    (customer_id,),
                )
            )
            active = _marks(ACTIVE)

            def briefs(where: str) -> tuple[TicketBrief, ...]:
                rows = conn.exec_driver_sql(
                    "SELECT id, number, subject, status, updated_at FROM tickets "
                    f"WHERE customer_id = ? AND {where} "
                    "ORDER BY updated_at DESC, id DESC LIMIT ?",
                    (customer_id, *ACTIVE, CUSTOMER_TICKETS_CAP),
                )
                return tuple(TicketBrief(t[0], t[1], t[2], t[3], _dt_required(t[4])) for t in rows)

            recent = conn.exec_driver_sql(
                "SELECT count(*) FROM tickets WHERE customer_id = ? AND created_at >= ?",
                (customer_id, _stored(utcnow() - timedelta(days=RECENT_DAYS))),
            ).scalar()
            return CustomerCard(
                id=r[0],
                name=r[1],
                identities=identities,
                organization=r[2],
                tier=r[3],
                language=r[4],
                timezone=r[5],
                notes=r[6],
                open_tickets=briefs(f"status IN ({active})"),
                past_tickets=briefs(f"status NOT IN ({active})"),
                tickets_last_90_days=int(recent or 0),
                customer_since=_dt_required(r[7]),
            )

        return await self._read(work)

    # ---- canned responses ----------------------------------------------------------------

    async def canned(self, query: str = "") -> list[CannedItem]:
        """Canned responses this agent may use, matching ``query`` (title, shortcut or body,
        ignoring case and accents), most used first, then by title.

        Visible: shared ones, those of the agent's groups (every group's for supervisors and
        admins) and the agent's own personal ones.  Editable: the agent's personal ones, and
        shared or group ones for supervisors and admins.
        """
        needle = _folded(query.strip())

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
                if scope == "personal":
                    if owner_id != self.agent_id:
                        continue
                    editable = True
                elif scope == "group":
                    if not lead and group_id not in groups:
                        continue
                    editable = lead
                else:
                    editable = lead
                if needle and not any(needle in _folded(r[i] or "") for i in (1, 2, 3)):
                    continue
                out.append(
                    CannedItem(r[0], r[1], r[2], r[3], scope, group_id, owner_id, r[7], editable)
                )
            # Titles sort as people read them ("Ärger" with the A's); SQLite's NOCASE only
            # folds ASCII, and the list is small.
            out.sort(key=lambda i: (-i.usage_count, _folded(i.title), i.id))
            return out

        return await self._read(work)

    # ---- search --------------------------------------------------------------------------

    async def search(self, query: str, limit: int = 50) -> SearchResults:
        """Search everywhere: tickets (by number or subject), customers (name, email, phone)
        and message bodies.

        Ticket hits come first (at most half of ``limit``), then customers (at most a
        quarter), then messages fill what is left, newest first.  Any input is safe: words
        are quoted, so nothing typed is FTS syntax; a query with no word finds nothing.
        """

        started = time.perf_counter()
        # The agent is waiting: if a catch-up is writing, search what is indexed already.
        await self.index_pending(wait_ms=INDEX_READ_WAIT_MS)

        def work(conn: Connection) -> SearchResults:
            hits = _search(conn, query, max(0, limit))
            elapsed = (time.perf_counter() - started) * 1000
            return SearchResults(query, tuple(hits), elapsed)

        return await self._read(work)


# ---- shared pieces -------------------------------------------------------------------------

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
        created_at=_dt_required(m[5]),
        delivery_state=m[6],
        author_id=m[7],
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


# The ticket a refused change was about, whichever mutation it was.
_REJECTION_TICKET = (
    "coalesce(json_extract(args, '$.ticket_id'), json_extract(args, '$.message.ticket_id'), "
    "json_extract(args, '$.ticket.id'))"
)


def _rejections(conn: Connection, ticket_id: str | None) -> list[Rejection]:
    sql = (
        f"SELECT mutation_id, name, code, message, args, current, created_at, "
        f"{_REJECTION_TICKET} FROM rejections"
    )
    params: tuple[Any, ...] = ()
    if ticket_id is not None:
        sql += f" WHERE {_REJECTION_TICKET} = ?"
        params = (ticket_id,)
    sql += " ORDER BY mutation_id"
    out = []
    for r in conn.exec_driver_sql(sql, params):
        args = _json(r[4])
        current = _json(r[5])
        out.append(
            Rejection(
                mutation_id=r[0],
                name=r[1],
                code=r[2],
                message=r[3],
                args=dict(args) if isinstance(args, dict) else {},
                current=dict(current) if isinstance(current, dict) else None,
                created_at=_dt_required(r[6]),
                ticket_id=None if r[7] is None else str(r[7]),
            )
        )
    return out


# Snippets mark the matched words with these control characters (SearchHit.snippet): they
# cannot be typed, so text with brackets ("[EXTERNAL]") is never taken for a match.
MATCH_START = "\x02"
MATCH_END = "\x03"


def _unmarked(text: str) -> str:
    """``text`` without the match marks (a snippet made from it marks only matches)."""
    return text.replace(MATCH_START, "").replace(MATCH_END, "")


def _search(conn: Connection, query: str, limit: int) -> list[SearchHit]:
    hits: list[SearchHit] = []
    if limit <= 0:
        return hits
    seen_tickets: set[str] = set()
    number = _NUMBER.match(query)
    if number:
        r = conn.exec_driver_sql(
            "SELECT id, number, subject FROM tickets WHERE number = ?", (int(number.group(1)),)
        ).first()
        if r is not None:
            subject = _unmarked(r[2])
            hits.append(SearchHit("ticket", f"#{r[1]} {r[2]}", subject, ticket_id=r[0]))
            seen_tickets.add(r[0])
    match = match_expression(query, min_prefix=2)
    if match is None:
        return hits[:limit]
    ticket_cap = max(1, limit // 2)
    # Tickets and customers are small tables: rank by relevance.  Messages are a million
    # rows: newest first, which FTS5 reads in rowid order and stops at the LIMIT, instead
    # of ranking every message that contains a common word.
    for r in conn.exec_driver_sql(
        "SELECT t.id, t.number, t.subject, snippet(fts_tickets, 0, char(2), char(3), '…', 16) "
        "FROM fts_tickets JOIN tickets t ON t.rowid = fts_tickets.rowid "
        "WHERE fts_tickets MATCH ? ORDER BY rank LIMIT ?",
        (match, ticket_cap + 1),
    ):
        if r[0] in seen_tickets or len(hits) >= ticket_cap:
            continue
        seen_tickets.add(r[0])
        title = f"#{r[1]} {r[2]}" if r[1] is not None else r[2]
        hits.append(SearchHit("ticket", title, r[3], ticket_id=r[0]))
    customer_cap = max(1, limit // 4)
    for r in conn.exec_driver_sql(
        "SELECT c.id, c.name, snippet(fts_customers, -1, char(2), char(3), '…', 12) "
        "FROM fts_customers JOIN customers c ON c.rowid = fts_customers.rowid "
        "WHERE fts_customers MATCH ? ORDER BY rank LIMIT ?",
        (match, customer_cap),
    ):
        hits.append(SearchHit("customer", r[1], r[2], customer_id=r[0]))
    room = limit - len(hits)
    message_match = match_expression(query, min_prefix=3)  # see match_expression
    if room > 0 and message_match is not None:
        rows = conn.exec_driver_sql(
            "SELECT m.ticket_id, t.number, t.subject, s.snip FROM ("
            "  SELECT rowid AS rid, snippet(fts_messages, 0, char(2), char(3), '…', 16) AS snip"
            "  FROM fts_messages WHERE fts_messages MATCH ? ORDER BY rowid DESC LIMIT ?"
            ") AS s JOIN messages m ON m.rowid = s.rid "
            "LEFT JOIN tickets t ON t.id = m.ticket_id ORDER BY s.rid DESC",
            (message_match, room),
        )
        for r in rows:
            subject = r[2] or ""
            title = f"#{r[1]} {subject}" if r[1] is not None else subject
            hits.append(SearchHit("message", title, r[3], ticket_id=r[0]))
    return hits[:limit]
