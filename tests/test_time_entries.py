"""Time entries end to end, against a real server and real caches: added on one workstation
and seen on a colleague's, totals per ticket and per agent, an entry logged offline reaching
the server exactly once, and edits, deletions and bad entries refused in plain words with
nothing changed.  Also how typed durations are read (`app.time_tracking`)."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Connection, func, select

from app.models.time_entries import T_TIME_ENTRIES
from app.sync.desk.pool import ReaderPool
from app.sync.desk.time_entries import TimeEntriesReader
from app.sync.engine import KnownError, SyncEngine
from app.time_tracking import DurationError, entry_problem, parse_duration, typed_duration
from tests.world import eventually, served_world


@pytest.mark.parametrize(
    ("typed", "seconds"),
    [
        ("1h 20m", 4800),
        ("1H20M", 4800),
        ("45m", 2700),
        ("45 min", 2700),
        ("1:30", 5400),
        ("0:05:30", 330),
        ("90", 5400),
        ("1.5h", 5400),
        ("2 hours 5 minutes", 7500),
        ("30s", 30),
        ("12m 34s", 754),
    ],
)
def test_durations_are_read_as_agents_type_them(typed: str, seconds: int) -> None:
    assert parse_duration(typed) == seconds
    assert parse_duration(typed_duration(seconds)) == seconds


@pytest.mark.parametrize(
    ("typed", "words"),
    [
        ("", "How long"),
        ("-5", "cannot be negative"),
        ("0", "at least one second"),
        ("25h", "more than a day"),
        ("1441", "more than a day"),
        ("abc", "is not a duration"),
        ("1h 20x", "is not a unit of time"),
        ("1:75", "is not a duration"),
    ],
)
def test_bad_durations_are_refused_in_plain_words(typed: str, words: str) -> None:
    with pytest.raises(DurationError, match=words):
        parse_duration(typed)


def test_an_entry_may_not_start_in_the_future_nor_over_a_year_ago() -> None:
    now = datetime(2026, 12, 8, 12, 0, tzinfo=UTC)
    assert entry_problem(now - timedelta(hours=1), 600, "", now) is None
    future = entry_problem(now + timedelta(hours=1), 600, "", now)
    assert future is not None
    assert "future" in future
    old = entry_problem(now - timedelta(days=400), 600, "", now)
    assert old is not None
    assert "over a year ago" in old


def _entry(entry_id: str, ticket_id: str, minutes: int, **more: Any) -> dict[str, Any]:
    started = datetime.now(UTC) - timedelta(minutes=minutes + 5)
    return {
        "id": entry_id,
        "ticket_id": ticket_id,
        "started_at": started.isoformat(),
        "duration_s": minutes * 60,
        "note": f"{minutes} minutes",
        "source": "manual",
        **more,
    }


async def _ids(engine: SyncEngine) -> set[str]:
    def read(conn: Connection) -> set[str]:
        return set(conn.execute(select(T_TIME_ENTRIES.c.id)).scalars())

    return await engine.read(read)


def _store_count(store: Any, entry_id: str) -> int:
    with store.connect() as conn:
        found = conn.execute(
            select(func.count()).where(T_TIME_ENTRIES.c.id == entry_id)
        ).scalar_one()
        return int(found)


def test_totals_per_ticket_and_per_agent_across_two_workstations(tmp_path: Path) -> None:
    async def body() -> None:
        async with served_world(tmp_path) as world:
            ada, _ = await world.workstation("ada@example.com")
            lin, _ = await world.workstation("lin@example.com")
            await ada.mutate("time_entry.add", _entry("e-1", "t-1", 20))
            await ada.mutate("time_entry.add", _entry("e-2", "t-2", 10))
            await lin.mutate("time_entry.add", _entry("e-3", "t-1", 45, source="stopwatch"))
            await eventually(lambda: _has_all(ada, {"e-1", "e-2", "e-3"}))
            await eventually(lambda: _has_all(lin, {"e-1", "e-2", "e-3"}))
            # Bob (billing) sees none of the care tickets, so none of their time, live or
            # in a first sync.
            bob, _ = await world.workstation("bob@example.com")
            await lin.mutate("time_entry.add", _entry("e-4", "t-2", 5))
            await eventually(lambda: _has_all(ada, {"e-4"}))
            assert await _ids(bob) == set()

            pool = ReaderPool(tmp_path / "ada.cache.db")
            await pool.open()
            try:
                reader = TimeEntriesReader(pool)
                t1 = await reader.ticket_time("t-1")
                assert t1.total_s == 65 * 60
                assert [(a.agent_name, a.seconds) for a in t1.by_agent] == [
                    ("Lin", 45 * 60),
                    ("Ada", 20 * 60),
                ]
                # Newest first: Lin's started 25 minutes before Ada's.
                assert [(e.id, e.source) for e in t1.entries] == [
                    ("e-1", "manual"),
                    ("e-3", "stopwatch"),
                ]
                now = datetime.now(UTC)
                week = now - timedelta(days=7)
                mine = await reader.my_time("a-ada", now - timedelta(hours=3), week)
                assert (mine.today_s, mine.week_s) == (30 * 60, 30 * 60)
                assert {(t.ticket_id, t.week_s) for t in mine.tickets} == {
                    ("t-1", 20 * 60),
                    ("t-2", 10 * 60),
                }
                earlier = await reader.my_time("a-ada", now, week)
                assert (earlier.today_s, earlier.week_s) == (0, 30 * 60)
            finally:
                await pool.close()

    asyncio.run(body())


async def _has_all(engine: SyncEngine, ids: set[str]) -> bool:
    return ids <= await _ids(engine)


def test_an_entry_logged_offline_is_shown_at_once_and_stored_exactly_once(
    tmp_path: Path,
) -> None:
    async def body() -> None:
        async with served_world(tmp_path) as world:
            ada, _ = await world.workstation("ada@example.com")
            await ada.stop()  # the network is gone
            await ada.mutate("time_entry.add", _entry("e-off", "t-1", 15))
            assert await _ids(ada) == {"e-off"}  # shown at once, offline
            assert _store_count(world.store, "e-off") == 0
            # A restart while offline keeps it (it is unsent work, kept through a rebuild).
            ada.start()
            await ada.wait_online()
            await ada.wait_drained()
            # Sent again after a second reconnect: still one entry (the server deduplicates).
            await ada.stop()
            ada.start()
            await ada.wait_online()
            await ada.wait_drained()
            assert _store_count(world.store, "e-off") == 1
            assert await _ids(ada) == {"e-off"}

    asyncio.run(body())


def test_only_the_author_or_a_supervisor_may_change_an_entry(tmp_path: Path) -> None:
    async def body() -> None:
        async with served_world(tmp_path) as world:
            ada, _ = await world.workstation("ada@example.com")
            lin, lin_seen = await world.workstation("lin@example.com")
            sam, sam_seen = await world.workstation("sam@example.com")
            await ada.mutate("time_entry.add", _entry("e-1", "t-1", 20))
            await eventually(lambda: _has_all(lin, {"e-1"}))
            await eventually(lambda: _has_all(sam, {"e-1"}))

            # Lin may not shorten Ada's entry nor delete it: refused in plain words, and her
            # cache is back to the server's entry.
            edit = {**_entry("e-1", "t-1", 5)}
            edit = {k: edit[k] for k in ("id", "started_at", "duration_s", "note")}
            await lin.mutate("time_entry.edit", edit)
            await lin.mutate("time_entry.delete", {"id": "e-1"})
            await lin.wait_drained()
            assert [(r.name, r.code) for r in lin_seen.refused] == [
                ("time_entry.edit", "forbidden"),
                ("time_entry.delete", "forbidden"),
            ]
            assert "only your own time entries" in lin_seen.refused[0].message
            assert lin_seen.refused[0].what == "Time entry change"
            assert await _duration(lin, "e-1") == 20 * 60
            with world.store.connect() as conn:
                kept = conn.execute(select(T_TIME_ENTRIES.c.duration_s)).scalar_one()
            assert kept == 20 * 60

            # Sam (supervisor) corrects it; Ada sees the correction.
            await sam.mutate("time_entry.edit", edit)
            await sam.wait_drained()
            assert sam_seen.refused == []
            await eventually(lambda: _is(ada, "e-1", 5 * 60))
            # Ada deletes her own.
            await ada.mutate("time_entry.delete", {"id": "e-1"})
            await ada.wait_drained()
            await eventually(lambda: _gone(lin, "e-1"))
            assert _store_count(world.store, "e-1") == 0

    asyncio.run(body())


async def _duration(engine: SyncEngine, entry_id: str) -> int | None:
    def read(conn: Connection) -> int | None:
        q = select(T_TIME_ENTRIES.c.duration_s).where(T_TIME_ENTRIES.c.id == entry_id)
        return conn.execute(q).scalar()

    return await engine.read(read)


async def _is(engine: SyncEngine, entry_id: str, seconds: int) -> bool:
    return await _duration(engine, entry_id) == seconds


async def _gone(engine: SyncEngine, entry_id: str) -> bool:
    return entry_id not in await _ids(engine)


def test_bad_entries_are_refused_and_nothing_is_kept(tmp_path: Path) -> None:
    async def body() -> None:
        async with served_world(tmp_path) as world:
            ada, seen = await world.workstation("ada@example.com")
            future = datetime.now(UTC) + timedelta(days=2)
            await ada.mutate("time_entry.add", _entry("e-long", "t-1", 25 * 60))
            await ada.mutate("time_entry.add", _entry("e-neg", "t-1", -10))
            await ada.mutate(
                "time_entry.add", _entry("e-fut", "t-1", 10, started_at=future.isoformat())
            )
            # Bob's billing ticket is not Ada's to see: not even queued.
            with pytest.raises(KnownError):
                await ada.mutate("time_entry.add", _entry("e-hid", "t-3", 10))
            await ada.wait_drained()
            words = {r.args["id"]: (r.code, r.message) for r in seen.refused}
            assert words["e-long"] == (
                "invalid_mutation",
                "25 h is more than a day in one entry; log each day's time as its own entry.",
            )
            assert "at least one second" in words["e-neg"][1]
            assert "cannot start in the future" in words["e-fut"][1]
            assert "e-hid" not in words
            assert await _ids(ada) == set()  # each was shown, then taken back
            with world.store.connect() as conn:
                assert conn.execute(select(func.count()).select_from(T_TIME_ENTRIES)).scalar() == 0

    asyncio.run(body())


def test_a_ticket_that_comes_into_sight_brings_its_time_entries(tmp_path: Path) -> None:
    async def body() -> None:
        async with served_world(tmp_path) as world:
            ada, _ = await world.workstation("ada@example.com")
            bob, _ = await world.workstation("bob@example.com")
            await ada.mutate("time_entry.add", _entry("e-1", "t-1", 20))
            await ada.wait_drained()
            assert await _ids(bob) == set()
            # Ada hands the ticket to Billing: Bob now sees it, and the time spent on it.
            version = await ada.read(
                lambda c: c.exec_driver_sql(
                    "SELECT version FROM tickets WHERE id = 't-1'"
                ).scalar_one()
            )
            await ada.update_ticket(
                "t-1", {"group_id": "g-billing", "assignee_id": None}, seen_version=int(version)
            )
            await eventually(lambda: _has_all(bob, {"e-1"}))
            assert await _duration(bob, "e-1") == 20 * 60

    asyncio.run(body())
