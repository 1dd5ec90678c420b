"""A workstation cache written by an older version (PRAGMA user_version) is rebuilt on open:
unsent work survives, everything else is fetched again from the server."""

from __future__ import annotations

import asyncio
import sqlite3
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, func, insert, select

from app.models.tables import T_DRAFTS, T_MESSAGES
from app.sync import cache, queries
from app.sync.cache_tables import T_OUTBOX, T_REFUSALS
from app.sync.engine import SyncEngine
from tests.world import eventually, served_world

OLDER = 0  # also what a cache from before user_version was set reads as


def _age(path: Path) -> None:
    """Make the cache look like one an older version wrote: an older user_version, a table
    that no longer exists, a column since added to the outbox missing, one since dropped."""
    db = sqlite3.connect(path)
    try:
        db.execute(f"PRAGMA user_version = {OLDER}")
        db.execute("CREATE TABLE saved_views (id TEXT PRIMARY KEY, query TEXT)")
        db.execute("INSERT INTO saved_views VALUES ('v1', 'status:open')")
        db.execute("ALTER TABLE outbox DROP COLUMN transmitted")
        db.execute("ALTER TABLE outbox ADD COLUMN clears_draft BOOLEAN")
        db.execute("ALTER TABLE tickets ADD COLUMN legacy_flag INTEGER")
        db.commit()
    finally:
        db.close()


def _cache_shape(path: Path) -> tuple[int, set[str], set[str]]:
    db = sqlite3.connect(path)
    try:
        version = db.execute("PRAGMA user_version").fetchone()[0]
        tables = {r[0] for r in db.execute("SELECT name FROM sqlite_master WHERE type='table'")}
        columns = {r[1] for r in db.execute("PRAGMA table_info(tickets)")}
    finally:
        db.close()
    return int(version), tables, columns


def _outbox(conn: Any) -> list[tuple[int, str, dict[str, Any]]]:
    rows = conn.execute(
        select(T_OUTBOX.c.mutation_id, T_OUTBOX.c.name, T_OUTBOX.c.args).order_by(
            T_OUTBOX.c.mutation_id
        )
    )
    return [(r.mutation_id, r.name, r.args) for r in rows]


def _count_on_server(store: Engine, message_id: str) -> int:
    with store.connect() as conn:
        return int(
            conn.execute(
                select(func.count()).select_from(T_MESSAGES).where(T_MESSAGES.c.id == message_id)
            ).scalar()
            or 0
        )


def test_older_cache_is_rebuilt_keeping_unsent_work_then_refilled(tmp_path: Path) -> None:
    async def scenario() -> None:
        async with served_world(tmp_path) as world:
            ada, _ = await world.workstation("ada@example.com")
            token = ada.token
            await ada.stop()  # offline: what follows stays in the outbox
            reply_id = await ada.reply("t-1", "Written before the upgrade.")
            await ada.save_draft("t-2", "Half a sentence")
            before = await ada.read(_outbox)
            state = await ada.read(queries.sync_status)
            next_id = await ada.read(lambda c: cache.get_state(c, "next_mutation_id"))
            assert [name for _, name, _ in before] == ["message.add", "draft.save"]
            await ada.close()
            path = tmp_path / "ada.cache.db"
            _age(path)

            again = SyncEngine(path, world.url, token=token)
            await again.open()
            version, tables, ticket_columns = _cache_shape(path)
            assert version == cache.SCHEMA_VERSION
            assert "saved_views" not in tables
            assert "legacy_flag" not in ticket_columns
            # Unsent work and the identity the server deduplicates by are kept...
            assert await again.read(_outbox) == before
            drafts = await again.read(lambda c: c.execute(select(T_DRAFTS.c.body)).all())
            assert [d.body for d in drafts] == ["Half a sentence"]
            rebuilt = await again.read(queries.sync_status)
            assert rebuilt["device_id"] == state["device_id"]
            assert await again.read(lambda c: cache.get_state(c, "next_mutation_id")) == next_id
            # ...and so is the queued reply in its thread: the agent still sees it waiting.
            queued = await again.read(
                lambda c: c.execute(
                    select(T_MESSAGES.c.id, T_MESSAGES.c.delivery_state).where(
                        T_MESSAGES.c.id == reply_id
                    )
                ).all()
            )
            assert [tuple(r) for r in queued] == [(reply_id, "queued")]
            # ...the replicated rows are gone, to be fetched again.
            assert rebuilt["tickets"] == 0
            assert rebuilt["cursor"] == 0

            again.start()
            await again.wait_online(20)
            await again.wait_drained(20)
            assert await again.refusals() == []
            assert _count_on_server(world.store, reply_id) == 1
            with world.store.connect() as conn:
                server_draft = conn.execute(
                    select(T_DRAFTS.c.body).where(T_DRAFTS.c.ticket_id == "t-2")
                ).scalar()
            assert server_draft == "Half a sentence"
            assert {t["number"] for t in await again.read(queries.ticket_list)} == {1, 2, 5}

            async def reply_in_cache() -> bool:
                d = await again.read(lambda c: queries.ticket_detail(c, ticket_id="t-1"))
                return d is not None and any(
                    m["id"] == reply_id and m["delivery_state"] in ("sent", "delivered")
                    for m in d["messages"]
                )

            await eventually(reply_in_cache)
            # Mutation ids continue where they were: a new change is applied, not taken for a
            # replay of an old one.
            later_id = await again.reply("t-1", "Written after the upgrade.", kind="note")
            await again.wait_drained(20)
            assert _count_on_server(world.store, later_id) == 1
            await again.close()

    asyncio.run(scenario())


def test_offline_work_continues_right_after_a_rebuild(tmp_path: Path) -> None:
    async def scenario() -> None:
        async with served_world(tmp_path) as world:
            ada, _ = await world.workstation("ada@example.com")
            token = ada.token
            await ada.close()
            url = world.url
        _age(tmp_path / "ada.cache.db")
        # Still offline (the server is gone) when the new version opens the cache.
        again = SyncEngine(tmp_path / "ada.cache.db", url, token=token)
        await again.open()
        try:
            assert again.agent_id == "a-ada"
            await again.save_draft("t-1", "Typed offline, just after the upgrade")
        finally:
            await again.close()

    asyncio.run(scenario())


def test_refused_changes_of_a_version_3_cache_are_kept_under_their_new_name(
    tmp_path: Path,
) -> None:
    """Version 3 kept refused changes in "rejections"; version 4 calls them "refusals"."""
    path = tmp_path / "old.cache.db"
    engine = cache.open_cache(path)
    with engine.begin() as conn:
        conn.execute(
            insert(T_REFUSALS).values(
                mutation_id=7,
                name="message.add",
                args={"message": {"id": "m-1", "ticket_id": "t-1", "body": "Kept text"}},
                code="conflict",
                message="ticket #1 changed since you saw it",
                current={"ticket": {"id": "t-1"}},
            )
        )
    engine.dispose()
    db = sqlite3.connect(path)
    db.execute("ALTER TABLE refusals RENAME TO rejections")
    db.execute("PRAGMA user_version = 3")
    db.commit()
    db.close()

    engine = cache.open_cache(path)
    with engine.connect() as conn:
        kept = conn.execute(select(T_REFUSALS)).mappings().all()
    engine.dispose()
    assert [(r["mutation_id"], r["args"]["message"]["body"], r["current"]) for r in kept] == [
        (7, "Kept text", {"ticket": {"id": "t-1"}})
    ]
    assert "rejections" not in _cache_shape(path)[1]
