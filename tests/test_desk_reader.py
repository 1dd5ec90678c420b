"""The desk readers on real cache files: views, order, rows, threads, customers, canned
responses, search, and the derived tables its triggers keep."""

from __future__ import annotations

import ast
import asyncio
import itertools
import sqlite3
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, TypeVar

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sqlalchemy import Connection, Engine
from sqlalchemy.exc import OperationalError

from app.domain import wire
from app.models.entities import draft_id
from app.sync import cache, search_index
from app.sync.desk import DeskReaders
from app.sync.desk.tickets import PRIORITY_ORDER, STATUS_ORDER
from app.sync.desk_types import TicketColumn, TicketRow, TicketSort, ViewSpec
from app.sync.search_index import match_expression
from bench.ui_cache import build_cache
from tests.world import eventually

T = TypeVar("T")
NOW = datetime.now(UTC).replace(microsecond=0)
HOSTILE = (
    "",
    "   ",
    '"',
    '""',
    "'",
    "*",
    "**",
    "a*b",
    "NEAR(",
    "NEAR(a b, 2)",
    "AND",
    "OR NOT AND",
    "(((",
    ")",
    "^",
    "-",
    "+",
    ":",
    "subject:printer",
    "col:",
    '"unterminated',
    "\\",
    "%_%",
    "日本語",
    "Ünïcödé",
    "e\u0301",
    "\u200b",
    "🙂",
    "\x00",
    "a" * 5000,
    " ".join(["word"] * 500),
    "#",
    "#-1",
    "#99999999999999999999",
    "{}[]",
)


def _ts(value: datetime) -> str:
    return value.isoformat()


def ticket(tid: str, number: int | None, **fields: Any) -> dict[str, Any]:
    row: dict[str, Any] = {
        "id": tid,
        "number": number,
        "subject": f"Ticket {number}",
        "status": "open",
        "priority": "normal",
        "channel": "email",
        "customer_id": "c-1",
        "assignee_id": None,
        "group_id": "g-1",
        "tags": [],
        "created_at": _ts(NOW - timedelta(days=3)),
        "updated_at": _ts(NOW - timedelta(days=1)),
        "first_response_at": None,
        "solved_at": None,
        "version": 1,
    }
    row.update(fields)
    return row


def message(mid: str, tid: str, author: str, at: datetime, **fields: Any) -> dict[str, Any]:
    row: dict[str, Any] = {
        "id": mid,
        "ticket_id": tid,
        "kind": "reply",
        "author_type": author,
        "author_agent_id": "a-me" if author == "agent" else None,
        "author_customer_id": "c-1" if author == "customer" else None,
        "body": f"message {mid}",
        "created_at": _ts(at),
        "delivery_state": "sent",
    }
    row.update(fields)
    return row


def customer(cid: str, name: str, *identities: tuple[str, str], org: str | None = None) -> Any:
    return {
        "id": cid,
        "name": name,
        "organization_id": org,
        "tier": "gold",
        "language": "en",
        "timezone": "UTC",
        "notes": "",
        "created_at": _ts(NOW - timedelta(days=400)),
        "updated_at": _ts(NOW),
        "identities": [
            {"id": f"{cid}-{i}", "kind": kind, "value": value}
            for i, (kind, value) in enumerate(identities)
        ],
    }


def seed(conn: Connection) -> None:
    """A small desk: me (an agent in g-1), a colleague, two groups, a few tickets."""
    now = _ts(NOW)
    wire.upsert_many(
        conn,
        "group",
        [
            {"id": "g-1", "name": "Care", "description": "", "updated_at": now},
            {"id": "g-2", "name": "Billing", "description": "", "updated_at": now},
        ],
    )
    wire.upsert_many(
        conn,
        "agent",
        [
            {
                "id": aid,
                "name": name,
                "email": f"{aid}@example.com",
                "role": role,
                "active": True,
                "timezone": "UTC",
                "access_version": 1,
                "updated_at": now,
                "group_ids": groups,
            }
            for aid, name, role, groups in (
                ("a-me", "Ada Lovelace", "agent", ["g-1"]),
                ("a-bo", "Bo Zed", "agent", ["g-1", "g-2"]),
            )
        ],
    )
    wire.upsert_many(
        conn,
        "organization",
        [{"id": "o-1", "name": "Acme", "domain": None, "notes": "", "updated_at": now}],
    )
    wire.upsert_many(
        conn,
        "customer",
        [
            customer(
                "c-1", "Zoë Müller", ("email", "zoe@mail.test"), ("phone", "+4930123"), org="o-1"
            ),
            customer("c-2", "Alan Turing", ("email", "alan@mail.test")),
        ],
    )
    day = timedelta(days=1)
    wire.upsert_many(
        conn,
        "ticket",
        [
            ticket("t-1", 1, subject="Printer jams daily", assignee_id="a-me", priority="high"),
            ticket("t-2", 2, subject="Refund please", status="new", customer_id="c-2"),
            ticket("t-3", 3, status="pending", assignee_id="a-me", updated_at=_ts(NOW - 2 * day)),
            ticket("t-4", 4, status="solved", assignee_id="a-me", solved_at=_ts(NOW - 2 * day)),
            ticket("t-5", 5, status="closed", assignee_id="a-me", solved_at=_ts(NOW - 30 * day)),
            ticket("t-6", 6, group_id="g-2", status="open", assignee_id="a-bo"),
            ticket("t-7", None, subject="Made offline", status="new", assignee_id="a-me"),
        ],
    )
    wire.upsert_many(
        conn,
        "message",
        [
            message("m-1", "t-1", "customer", NOW - 3 * day, body="My printer jams every day"),
            message("m-2", "t-1", "agent", NOW - 2 * day, body="Have you tried turning it off?"),
            message("m-3", "t-1", "customer", NOW - 1 * day, body="Yes, still jams"),
            message("m-4", "t-1", "agent", NOW - timedelta(hours=1), kind="note", body="escalate"),
            message("m-5", "t-2", "customer", NOW - 2 * day, body="I want a refund for order 4711"),
            message(
                "m-6", "t-2", "system", NOW - day, author_agent_id=None, kind="event", body="x"
            ),
        ],
    )


async def with_readers(path: Path, body: Callable[[DeskReaders], Awaitable[T]]) -> T:
    readers = await DeskReaders.open(path, "a-me")
    try:
        return await body(readers)
    finally:
        await readers.close()


@pytest.fixture
def desk(tmp_path: Path) -> tuple[Path, Engine]:
    path = tmp_path / "desk.cache.db"
    engine = cache.open_cache(path)
    with engine.begin() as conn:
        seed(conn)
        cache.set_state(conn, "agent_id", "a-me")
    return path, engine


def test_builtin_views_counts_and_ids(desk: tuple[Path, Engine]) -> None:
    path, _ = desk

    async def body(readers: DeskReaders) -> None:
        directory = await readers.directory.directory()
        assert directory.me is not None
        assert directory.me.name == "Ada Lovelace"
        assert directory.my_group_ids == ("g-1",)
        views = readers.tickets.builtin_views(directory)
        assert [v.key for v in views] == ["mine", "unassigned", "group:g-1", "pending", "solved"]
        counts = await readers.tickets.view_counts(views)
        ids = {v.key: await readers.tickets.ticket_ids(v, TicketSort()) for v in views}
        for count in counts:
            assert count.count == len(ids[count.spec.key])
        assert set(ids["mine"]) == {"t-1", "t-7"}
        assert ids["unassigned"] == ["t-2"]
        assert set(ids["group:g-1"]) == {"t-1", "t-2", "t-3", "t-7"}
        assert ids["pending"] == ["t-3"]
        assert ids["solved"] == ["t-4"]  # t-5 was closed a month ago
        # Explicit filters: other assignee, text (subject or customer name), priorities.
        bo = ViewSpec("x", "x", assignee="a-bo")
        assert await readers.tickets.ticket_ids(bo, TicketSort()) == ["t-6"]
        text = ViewSpec("x", "x", text="TURING")
        assert await readers.tickets.ticket_ids(text, TicketSort()) == ["t-2"]
        hostile = ViewSpec("x", "x", text="100%_\\")
        assert await readers.tickets.ticket_ids(hostile, TicketSort()) == []
        high = ViewSpec("x", "x", priorities=("high",), channels=("email",))
        assert await readers.tickets.ticket_ids(high, TicketSort()) == ["t-1"]

    asyncio.run(with_readers(path, body))


def _sort_key(row: TicketRow, column: TicketColumn) -> Any:
    """What the list promises for each column, computed in Python."""
    if column == TicketColumn.NUMBER:
        return (row.number is not None, row.number or 0)
    if column == TicketColumn.SUBJECT:
        return row.subject.lower()
    if column == TicketColumn.CUSTOMER:
        return row.customer_name.lower()
    if column == TicketColumn.STATUS:
        return STATUS_ORDER.index(row.status)
    if column == TicketColumn.PRIORITY:
        return PRIORITY_ORDER.index(row.priority)
    if column == TicketColumn.CHANNEL:
        return row.channel
    if column == TicketColumn.ASSIGNEE:
        return row.assignee_name.lower()
    if column == TicketColumn.UPDATED:
        return row.updated_at
    raise AssertionError(column)


@pytest.mark.parametrize("column", list(TicketColumn))
@pytest.mark.parametrize("descending", [True, False])
def test_every_column_sorts_in_sql_with_a_total_order(
    tmp_path: Path, column: TicketColumn, descending: bool
) -> None:
    built = build_cache(tmp_path / "bench.cache.db", tickets=400, messages=3000)

    async def body(readers: DeskReaders) -> None:
        everything = ViewSpec("all", "All")
        ids = await readers.tickets.ticket_ids(everything, TicketSort(column, descending))
        assert len(ids) == 400
        assert len(set(ids)) == 400
        rows = await readers.tickets.ticket_rows(ids)
        ordered = [rows[i] for i in ids]
        if column == TicketColumn.WAITING:
            waiting = [r.waiting_since for r in ordered]
            count = sum(w is not None for w in waiting)
            assert 0 < count < len(waiting)
            assert all(w is not None for w in waiting[:count])  # the waiting come first
            times = [w for w in waiting[:count] if w is not None]
            # descending = longest wait first = the earliest "waiting since"
            assert times == sorted(times, reverse=not descending)
        else:
            keys = [_sort_key(r, column) for r in ordered]
            assert keys == sorted(keys, reverse=descending)
        # Ties are broken by id: asking again gives the very same order.
        assert await readers.tickets.ticket_ids(everything, TicketSort(column, descending)) == ids
        if column != TicketColumn.WAITING:
            for a, b in itertools.pairwise(ordered):
                if _sort_key(a, column) == _sort_key(b, column):
                    assert (a.id > b.id) if descending else (a.id < b.id)

    asyncio.run(with_readers(built.path, body))


def test_rows_conversation_and_notification_messages(desk: tuple[Path, Engine]) -> None:
    path, engine = desk
    with engine.begin() as conn:
        # A draft of mine, one queued field change and one queued reply on t-1.
        conn.exec_driver_sql(
            "INSERT INTO drafts (id, agent_id, ticket_id, kind, body, updated_at) "
            "VALUES (?, 'a-me', 't-1', 'note', 'half a thought', '2026-11-23 09:00:00.000000')",
            (draft_id("a-me", "t-1"),),
        )
        cache.enqueue(conn, "ticket.update", {"ticket_id": "t-1"}, "ticket", "t-1")
        cache.enqueue(
            conn,
            "message.add",
            {"message": {"id": "m-q", "ticket_id": "t-2", "kind": "reply", "body": "b"}},
            "message",
            "m-q",
        )

    async def body(readers: DeskReaders) -> None:
        rows = await readers.tickets.ticket_rows(["t-1", "t-2", "t-6", "nope"])
        assert set(rows) == {"t-1", "t-2", "t-6"}
        t1 = rows["t-1"]
        assert (t1.customer_name, t1.assignee_name, t1.priority) == (
            "Zoë Müller",
            "Ada Lovelace",
            "high",
        )
        # The customer wrote after the agent's reply; a later internal note is no answer.
        assert t1.waiting_since == NOW - timedelta(days=1)
        assert t1.pending
        assert rows["t-2"].pending
        assert not rows["t-6"].pending
        assert rows["t-2"].waiting_since == NOW - timedelta(days=2)
        assert rows["t-6"].waiting_since is None

        conversation = await readers.conversations.conversation("t-1")
        assert conversation is not None
        assert [m.id for m in conversation.messages] == ["m-1", "m-2", "m-3", "m-4"]
        assert [m.author_name for m in conversation.messages] == [
            "Zoë Müller",
            "Ada Lovelace",
            "Zoë Müller",
            "Ada Lovelace",
        ]
        assert conversation.draft is not None
        assert conversation.draft.body == "half a thought"
        assert conversation.pending_changes == 1
        t2 = await readers.conversations.conversation("t-2")
        assert t2 is not None
        assert t2.messages[-1].author_name == "System"
        assert await readers.conversations.conversation("missing") is None

        found = await readers.conversations.messages(["m-3", "m-6", "missing"])
        assert set(found) == {"m-3", "m-6"}
        assert found["m-3"][0] == "t-1"
        assert found["m-3"][1].body == "Yes, still jams"
        assert await readers.tickets.ticket_by_number(2) == "t-2"
        assert await readers.tickets.ticket_by_number(99) is None

    asyncio.run(with_readers(path, body))


def test_customer_card(desk: tuple[Path, Engine]) -> None:
    path, _ = desk

    async def body(readers: DeskReaders) -> None:
        card = await readers.customers.customer("c-1")
        assert card is not None
        assert card.organization == "Acme"
        assert card.identities == (("email", "zoe@mail.test"), ("phone", "+4930123"))
        # Newest update first; equal times by id, descending like the time.
        assert [t.id for t in card.open_tickets] == ["t-7", "t-6", "t-1", "t-3"]
        assert {t.id for t in card.past_tickets} == {"t-4", "t-5"}
        assert card.tickets_last_90_days == 6
        assert await readers.customers.customer("nobody") is None

    asyncio.run(with_readers(path, body))


def test_canned_visibility_editability_and_filter(desk: tuple[Path, Engine]) -> None:
    path, engine = desk
    now = _ts(NOW)
    rows = [
        ("k-1", "Shared greeting", "/hi", "Hello {{customer.first_name}}", "shared", None, None, 5),
        ("k-2", "Care refund", "/refund", "Refunds take 5 days", "group", "g-1", None, 50),
        ("k-3", "Billing only", "/bill", "Invoices", "group", "g-2", None, 99),
        ("k-4", "My sign-off", "/bye", "Cheers, Ada", "personal", None, "a-me", 1),
        ("k-5", "Bo's sign-off", "/bo", "Cheers, Bo", "personal", None, "a-bo", 100),
        ("k-6", "Ärger", "/sorry", "We are SORRY", "shared", None, None, 5),
    ]
    with engine.begin() as conn:
        wire.upsert_many(
            conn,
            "canned_response",
            [
                dict(
                    zip(
                        ("id", "title", "shortcut", "body", "scope", "group_id", "owner_id"),
                        r[:7],
                        strict=True,
                    ),
                    usage_count=r[7],
                    updated_at=now,
                )
                for r in rows
            ],
        )

    async def body(readers: DeskReaders) -> None:
        items = await readers.canned.responses()
        assert [i.id for i in items] == ["k-2", "k-6", "k-1", "k-4"]  # most used, then title
        editable = {i.id: i.editable for i in items}
        assert editable == {"k-2": False, "k-6": False, "k-1": False, "k-4": True}
        assert [i.id for i in await readers.canned.responses("REFUND")] == ["k-2"]
        assert [i.id for i in await readers.canned.responses("/by")] == ["k-4"]
        assert [i.id for i in await readers.canned.responses("ärger")] == ["k-6"]
        assert [i.id for i in await readers.canned.responses("sorry")] == ["k-6"]

    asyncio.run(with_readers(path, body))


def test_search_snippets_mark_matches_with_control_characters_not_brackets(
    desk: tuple[Path, Engine],
) -> None:
    path, engine = desk
    with engine.begin() as conn:
        wire.upsert_many(
            conn,
            "message",
            [message("m-x", "t-2", "customer", NOW, body="[EXTERNAL] Invoice [2] is overdue")],
        )

    async def body(readers: DeskReaders) -> None:
        hits = [h for h in (await readers.search.everywhere("overdue")).hits if h.kind == "message"]
        assert hits, "the message is found"
        # The brackets are the customer's text; only the matched word is marked.
        assert hits[0].snippet == "[EXTERNAL] Invoice [2] is \x02overdue\x03"

    asyncio.run(with_readers(path, body))


def test_search_finds_tickets_customers_and_messages(desk: tuple[Path, Engine]) -> None:
    path, _ = desk

    async def body(readers: DeskReaders) -> None:
        by_number = await readers.search.everywhere("#2")
        assert by_number.hits[0].kind == "ticket"
        assert by_number.hits[0].ticket_id == "t-2"
        assert (await readers.search.everywhere("2")).hits[0].ticket_id == "t-2"
        jams = await readers.search.everywhere("jams")
        kinds = [h.kind for h in jams.hits]
        assert kinds[0] == "ticket"
        assert jams.hits[0].title == "#1 Printer jams daily"
        assert "\x02jams\x03" in jams.hits[0].snippet.lower()
        assert kinds.count("message") == 2
        assert kinds == sorted(kinds, key=["ticket", "message"].index)
        assert jams.elapsed_ms >= 0
        # Diacritics folded both ways, prefixes of the last word, identities.
        for query in ("muller", "Müll", "zoe@mail", "+4930123", "ZOË"):
            hits = (await readers.search.everywhere(query)).hits
            assert any(h.kind == "customer" and h.customer_id == "c-1" for h in hits), query
        refund = await readers.search.everywhere("refund ord")
        assert [h.ticket_id for h in refund.hits if h.kind == "message"] == ["t-2"]
        assert "\x02order\x03" in refund.hits[-1].snippet
        assert (await readers.search.everywhere("printer", limit=1)).hits[0].kind == "ticket"
        assert len((await readers.search.everywhere("printer", limit=1)).hits) == 1

    asyncio.run(with_readers(path, body))


def test_hostile_search_input_never_raises(desk: tuple[Path, Engine]) -> None:
    path, _ = desk

    async def body(readers: DeskReaders) -> None:
        for query in HOSTILE:
            results = await readers.search.everywhere(query)
            assert results.query == query
        assert (await readers.search.everywhere("")).hits == ()
        assert (await readers.search.everywhere('"*" NEAR(')).hits == ()
        assert (await readers.search.everywhere("jams", limit=0)).hits == ()

    asyncio.run(with_readers(path, body))
    for query in HOSTILE:
        expression = match_expression(query)
        if expression is not None:  # every expression is valid FTS5 syntax
            db = sqlite3.connect(path)
            db.execute(
                "SELECT count(*) FROM fts_messages WHERE fts_messages MATCH ?", (expression,)
            )
            db.close()


def test_triggers_keep_search_and_waiting_current(desk: tuple[Path, Engine]) -> None:
    path, engine = desk
    with engine.begin() as conn:
        # Upserts that change text, identities and thread; then deletes.
        wire.upsert_many(
            conn, "ticket", [ticket("t-1", 1, subject="Scanner broken", assignee_id="a-me")]
        )
        wire.upsert_many(
            conn, "customer", [customer("c-1", "Zoë Müller", ("email", "new@mail.test"))]
        )
        wire.upsert_many(
            conn, "message", [message("m-7", "t-1", "agent", NOW - timedelta(minutes=5))]
        )
        wire.upsert_many(  # a replayed change: same values again
            conn, "message", [message("m-7", "t-1", "agent", NOW - timedelta(minutes=5))]
        )
        wire.upsert_many(
            conn, "message", [message("m-8", "t-6", "customer", NOW - timedelta(hours=2))]
        )
        wire.delete_many(conn, "ticket", ["t-2"])

    async def body(readers: DeskReaders) -> None:
        assert not [
            h for h in (await readers.search.everywhere("printer")).hits if h.kind == "ticket"
        ]
        assert (await readers.search.everywhere("scanner")).hits[0].ticket_id == "t-1"
        customers = [
            h for h in (await readers.search.everywhere("zoe@mail")).hits if h.kind == "customer"
        ]
        assert customers == []
        assert (await readers.search.everywhere("new@mail.test")).hits[0].customer_id == "c-1"
        assert (await readers.search.everywhere("refund")).hits == ()  # t-2 and its thread are gone
        rows = await readers.tickets.ticket_rows(["t-1", "t-6"])
        assert rows["t-1"].waiting_since is None  # answered now
        assert rows["t-6"].waiting_since == NOW - timedelta(hours=2)

    asyncio.run(with_readers(path, body))

    with engine.begin() as conn:
        # The agent's reply is refused: the customer is waiting again.  Then the latest
        # customer message goes: waiting falls back to the one before.
        conn.exec_driver_sql("UPDATE messages SET delivery_state = 'failed' WHERE id = 'm-7'")
        after_fail = conn.exec_driver_sql(
            "SELECT waiting_since FROM ticket_activity WHERE ticket_id = 't-1'"
        ).scalar()
        wire.delete_many(conn, "message", ["m-3"])
        after_delete = conn.exec_driver_sql(
            "SELECT last_customer_at, waiting_since FROM ticket_activity WHERE ticket_id = 't-1'"
        ).first()
        assert (
            conn.exec_driver_sql(
                "SELECT count(*) FROM ticket_activity WHERE ticket_id = 't-2'"
            ).scalar()
            == 0
        )
        for table in ("fts_tickets", "fts_messages"):
            conn.exec_driver_sql(f"INSERT INTO {table} ({table}) VALUES ('integrity-check')")
    assert after_fail is not None
    assert after_fail.startswith((NOW - timedelta(days=1)).strftime("%Y-%m-%d %H:%M"))
    assert after_delete is not None
    assert after_delete[0].startswith((NOW - timedelta(days=3)).strftime("%Y-%m-%d %H:%M"))
    assert after_delete[1] is None  # m-2, the agent's reply, came after m-1


def test_rebuild_recreates_derived_tables(desk: tuple[Path, Engine]) -> None:
    path, engine = desk
    with engine.begin() as conn:
        conn.exec_driver_sql("PRAGMA user_version=2")
    engine.dispose()
    engine = cache.open_cache(path)  # an older schema: rebuilt, emptied, refilled by sync
    with engine.begin() as conn:
        # Only the agent's unsent work stays: here the one ticket the server has not numbered.
        left = conn.exec_driver_sql("SELECT id, number FROM tickets").all()
        assert all(number is None for _, number in left)
        conn.exec_driver_sql("DELETE FROM tickets")
        seed(conn)

    async def body(readers: DeskReaders) -> None:
        assert (await readers.search.everywhere("printer")).hits[0].ticket_id == "t-1"
        rows = await readers.tickets.ticket_rows(["t-1"])
        assert rows["t-1"].waiting_since == NOW - timedelta(days=1)

    asyncio.run(with_readers(path, body))
    engine.dispose()


WRITES = (
    "DELETE FROM tickets",
    "UPDATE tickets SET subject = 'scribbled'",
    "INSERT INTO fts_messages_queue (rid) VALUES (424242)",
    "INSERT INTO fts_messages (fts_messages) VALUES ('optimize')",
    "CREATE TABLE scribbles (x)",
    "DROP TABLE ticket_activity",
    "PRAGMA user_version=99",
)


def test_readers_cannot_write(desk: tuple[Path, Engine]) -> None:
    """Every reader runs on the pool's connections, and those refuse every kind of write,
    on both reader threads; the indexer, beside them, still writes."""
    path, engine = desk
    with engine.connect() as conn:
        before = conn.exec_driver_sql("SELECT count(*), max(subject) FROM tickets").one()
        version = conn.exec_driver_sql("PRAGMA user_version").scalar()

    async def body(readers: DeskReaders) -> None:
        def attempt(statement: str) -> Callable[[Connection], object]:
            return lambda conn: conn.exec_driver_sql(statement)

        # Several at once, so both reader threads' connections are asked.
        tries = [readers.pool.read(attempt(sql)) for sql in WRITES for _ in range(2)]
        refused = await asyncio.gather(*tries, return_exceptions=True)
        for sql, error in zip([sql for sql in WRITES for _ in range(2)], refused, strict=True):
            assert isinstance(error, OperationalError), sql
            assert "readonly" in str(error), sql
        # The indexer writes on a connection of its own.
        with engine.begin() as conn:
            wire.upsert_many(conn, "message", [message("m-new", "t-6", "customer", NOW)])
        assert await readers.indexer.index_pending() is True

    asyncio.run(with_readers(path, body))
    with engine.connect() as conn:
        assert conn.exec_driver_sql("SELECT count(*), max(subject) FROM tickets").one() == before
        assert conn.exec_driver_sql("PRAGMA user_version").scalar() == version
        assert search_index.pending_count(conn) == 0
    engine.dispose()


def test_only_the_indexer_holds_the_tools_to_write() -> None:
    """The readers' modules never import what writes (the write-transaction options, an
    engine of their own, the search index's writers): they read through the pool."""
    writers = {
        "app.models.sqlite.WRITE",
        "app.models.sqlite.sqlite_engine",
        *(
            f"app.sync.search_index.{name}"
            for name in (
                "index_pending",
                "merge_step",
                "rebuild_search",
                "create_search_schema",
                "drop_search_schema",
            )
        ),
    }
    package = Path(__file__).resolve().parent.parent / "app" / "sync" / "desk"
    checked = []
    for module in sorted(package.glob("*.py")):
        if module.name in ("indexer.py", "pool.py"):
            continue  # the writer itself, and the pool that opens the read-only connections
        imported = {
            f"{node.module}.{alias.name}"
            for node in ast.walk(ast.parse(module.read_text("utf-8")))
            if isinstance(node, ast.ImportFrom) and node.module
            for alias in node.names
        }
        assert not imported & writers, module.name
        checked.append(module.name)
    assert {"tickets.py", "conversations.py", "search.py", "canned.py"} <= set(checked)


def test_search_index_catches_up_in_the_background_and_never_waits_long(
    desk: tuple[Path, Engine],
) -> None:
    path, engine = desk

    async def body(readers: DeskReaders) -> None:
        await readers.indexer.index_pending()
        with engine.begin() as conn:
            wire.upsert_many(
                conn,
                "message",
                [message("m-late", "t-6", "customer", NOW, body="Kangaroo invoice attached")],
            )
            # Only queued by the trigger: the engine's write stays cheap.
            assert search_index.pending_count(conn) == 1

        async def indexed() -> bool:
            with engine.connect() as conn:
                return search_index.pending_count(conn) == 0

        await eventually(indexed, timeout=10)  # no search needed: the reader's indexer ran
        assert (await readers.search.everywhere("kangaroo")).hits[0].ticket_id == "t-6"

    asyncio.run(with_readers(path, body))


def test_search_does_not_wait_for_a_long_engine_transaction(desk: tuple[Path, Engine]) -> None:
    path, _ = desk

    async def body() -> None:
        # Readers whose background indexer looks only once: the rows queued below are
        # left for the search to index.
        readers = await DeskReaders.open(path, "a-me", index_idle_s=3600)
        await readers.indexer.index_pending()
        blocker = sqlite3.connect(path, isolation_level=None, timeout=1)
        blocker.execute(
            "INSERT INTO messages (id, ticket_id, kind, author_type, body, created_at, "
            "delivery_state) VALUES ('m-wombat', 't-6', 'note', 'agent', 'wombat', "
            "'2026-11-23 10:00:00.000000', 'sent')"
        )
        blocker.execute("BEGIN IMMEDIATE")  # the engine is busy with a long catch-up
        loop = asyncio.get_running_loop()
        started = loop.time()
        # It answers from what is indexed so far instead of waiting...
        assert (await readers.search.everywhere("wombat")).hits == ()
        assert loop.time() - started < 1
        assert await readers.indexer.index_pending(wait_ms=10) is False
        blocker.execute("COMMIT")
        blocker.close()
        # ...and finds the rest once the lock is free.
        assert (await readers.search.everywhere("wombat")).hits[0].ticket_id == "t-6"
        await readers.close()

    asyncio.run(body())


def test_a_partial_search_schema_is_replaced_whole(desk: tuple[Path, Engine]) -> None:
    path, engine = desk
    with engine.begin() as conn:
        # As an earlier build left it: no queue, a trigger writing the index directly.
        conn.exec_driver_sql("DROP TABLE fts_messages_queue")
        conn.exec_driver_sql("DROP TRIGGER fts_messages_ai")
        conn.exec_driver_sql(
            "CREATE TRIGGER fts_messages_ai AFTER INSERT ON messages BEGIN "
            "INSERT INTO fts_messages (rowid, body) VALUES (new.rowid, new.body); END"
        )
    engine.dispose()
    engine = cache.open_cache(path)
    with engine.begin() as conn:
        trigger = conn.exec_driver_sql(
            "SELECT sql FROM sqlite_master WHERE name = 'fts_messages_ai'"
        ).scalar()
        assert "fts_messages_queue" in str(trigger)
        assert search_index.pending_count(conn) == 0  # rebuilt from the rows: all indexed
        conn.exec_driver_sql("INSERT INTO fts_messages (fts_messages) VALUES ('integrity-check')")
    engine.dispose()

    async def body(readers: DeskReaders) -> None:
        assert (await readers.search.everywhere("jams")).hits[0].ticket_id == "t-1"

    asyncio.run(with_readers(path, body))


@given(st.text(max_size=60), st.integers(min_value=1, max_value=4))
@settings(max_examples=300, deadline=None)
def test_any_text_makes_a_valid_match_expression(query: str, min_prefix: int) -> None:
    expression = match_expression(query, min_prefix)
    if not any(ch.isalnum() for ch in query):
        assert expression is None
        return
    db = sqlite3.connect(":memory:")
    db.execute(f"CREATE VIRTUAL TABLE f USING fts5(body, tokenize='{search_index.TOKENIZE}')")
    db.execute("INSERT INTO f (body) VALUES (?)", (query,))
    if expression is not None:
        # Valid FTS5, and what was typed finds the text it was typed from.
        (found,) = db.execute("SELECT count(*) FROM f WHERE f MATCH ?", (expression,)).fetchone()
        assert found == 1, expression
    db.close()


def test_index_segments_are_merged_in_the_background_not_during_a_read(
    desk: tuple[Path, Engine],
) -> None:
    """Inserts never merge the index's segments (that cost a read 150 ms now and then);
    merging happens in bounded steps until there is nothing left, and search still finds
    everything."""
    from app.sync.search_index import FTS_TABLES, index_pending, merge_step

    path, engine = desk
    with engine.begin() as conn:
        for fts in FTS_TABLES:
            automerge = conn.exec_driver_sql(
                f"SELECT v FROM {fts}_config WHERE k = 'automerge'"
            ).scalar()
            assert automerge == 0
    for i in range(40):  # one segment per batch, as live messages arrive one by one
        with engine.begin() as conn:
            wire.upsert_many(
                conn,
                "message",
                [message(f"m-x{i}", "t-1", "customer", NOW, body=f"segment number{i} parcel")],
            )
            index_pending(conn, 2000)
    steps = 0
    while True:
        with engine.begin() as conn:
            if not merge_step(conn, pages=16):
                break
        steps += 1
        assert steps < 500
    assert steps > 0  # there were segments to merge

    async def body(readers: DeskReaders) -> None:
        hits = [
            h for h in (await readers.search.everywhere("number39")).hits if h.kind == "message"
        ]
        assert len(hits) == 1

    asyncio.run(with_readers(path, body))


def test_the_background_merge_stops_for_a_read_waiting_on_the_index(
    desk: tuple[Path, Engine],
) -> None:
    """A search or the list's waiting times wait on the indexer's thread; the background
    merge gives it up at its next step instead of spending its whole budget first."""
    from app.sync.search_index import index_pending, merge_step

    path, engine = desk
    for i in range(40):  # segments to merge
        with engine.begin() as conn:
            wire.upsert_many(
                conn,
                "message",
                [message(f"m-y{i}", "t-1", "customer", NOW, body=f"segment word{i} parcel")],
            )
            index_pending(conn, 2000)

    def merged_all() -> bool:
        with engine.begin() as conn:
            return not merge_step(conn, pages=1)

    async def body(readers: DeskReaders) -> None:
        indexer = readers.indexer
        indexer._readers_waiting = 1  # as while before_read() awaits the indexer
        await indexer._merge_some(budget_s=60)  # would merge everything, given the time
        assert not merged_all(), "the merge went on while a read was waiting"
        indexer._readers_waiting = 0
        await indexer.before_read()  # and the count is balanced after a read
        assert indexer._readers_waiting == 0

    asyncio.run(with_readers(path, body))
