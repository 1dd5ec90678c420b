"""The server store on the real PostgreSQL: migrations, a full sync through it, replays, and
two server processes sharing one database."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import Engine, MetaData, func, inspect, select

from app.models.base import Base
from app.models.tables import T_LOG, T_MESSAGES
from app.server import app as server_app
from app.server.store import alembic_config, create_store_engine, migrate, schema_is_current
from app.sync import protocol as p
from app.sync import queries
from app.sync.cache_tables import T_FETCH, T_OUTBOX, T_REFUSALS, T_STATE
from app.sync.engine import SyncEngine
from tests.server_process import health, open_synced, server_process, sign_in
from tests.world import eventually, make_store, running_server, workstation

pytestmark = pytest.mark.postgres

CACHE_ONLY = {t.name for t in (T_OUTBOX, T_REFUSALS, T_STATE, T_FETCH)}


def _server_metadata() -> MetaData:
    """The tables the migrations must create: the models' minus the workstation cache's."""
    metadata = MetaData(naming_convention=Base.metadata.naming_convention)
    for table in Base.metadata.sorted_tables:
        if table.name not in CACHE_ONLY:
            table.to_metadata(metadata)
    return metadata


def _tables(engine: Engine) -> set[str]:
    with engine.connect() as conn:
        return set(inspect(conn).get_table_names())


def test_migrations_go_up_down_and_up_again_and_match_the_models(pg_url: str) -> None:
    engine = create_store_engine(pg_url)
    try:
        assert _tables(engine) == set()
        migrate(engine)
        assert schema_is_current(engine)
        expected = set(_server_metadata().tables)
        assert _tables(engine) == expected | {"alembic_version"}
        with engine.connect() as conn:
            context = MigrationContext.configure(conn, opts={"compare_type": True})
            assert compare_metadata(context, _server_metadata()) == []

        with engine.begin() as conn:
            cfg = alembic_config(engine)
            cfg.attributes["connection"] = conn
            command.downgrade(cfg, "base")
        assert _tables(engine) == {"alembic_version"}
        assert not schema_is_current(engine)

        migrate(engine)
        assert schema_is_current(engine)
        assert _tables(engine) == expected | {"alembic_version"}
        migrate(engine)  # a second run on a current schema changes nothing
        assert schema_is_current(engine)
    finally:
        engine.dispose()


def _log_seqs(engine: Engine) -> list[int]:
    with engine.connect() as conn:
        return list(conn.execute(select(T_LOG.c.seq).order_by(T_LOG.c.seq)).scalars())


def _count_messages(engine: Engine, **where: str) -> int:
    query = select(func.count()).select_from(T_MESSAGES)
    for column, value in where.items():
        query = query.where(T_MESSAGES.c[column] == value)
    with engine.connect() as conn:
        return int(conn.execute(query).scalar() or 0)


def _note(mutation_id: int, message_id: str, body: str) -> str:
    return p.encode(
        {
            "type": "mutation",
            "mutation_id": mutation_id,
            "name": "message.add",
            "args": {
                "message": {"id": message_id, "ticket_id": "t-1", "kind": "note", "body": body}
            },
        }
    )


async def _answer(ws: Any) -> dict[str, Any]:
    while True:
        frame: dict[str, Any] = json.loads(await ws.recv())
        if frame["type"] in ("ack", "reject"):
            return frame


def test_workstations_sync_through_postgresql_and_replays_apply_once(
    pg_url: str, tmp_path: Path
) -> None:
    async def scenario() -> None:
        store = make_store(pg_url)
        async with running_server(store) as server:
            ada, _ = await workstation(tmp_path, server.url, "ada@example.com")
            lin, _ = await workstation(tmp_path, server.url, "lin@example.com")
            message_id = await ada.reply("t-1", "Replacement shipped today.")

            async def lin_has_it() -> bool:
                d = await lin.read(lambda c: queries.ticket_detail(c, ticket_id="t-1"))
                return d is not None and any(m["id"] == message_id for m in d["messages"])

            await eventually(lin_has_it)
            await ada.wait_drained(10)
            assert _count_messages(store, id=message_id) == 1
            seqs = _log_seqs(store)
            assert seqs == sorted(set(seqs))
            assert seqs == list(range(seqs[0], seqs[0] + len(seqs)))  # nothing lost between

            async def caught_up() -> bool:
                cursors = [(await e.read(queries.sync_status))["cursor"] for e in (ada, lin)]
                return cursors == [seqs[-1]] * 2

            await eventually(caught_up)

            # The same mutation id from the same device, on a second connection: the stored
            # answer comes back, and nothing is applied twice.
            token = await sign_in(server.url, "ada@example.com", "correct horse 7")
            ws = await open_synced(server.url, token, "replay-device")
            await ws.send(_note(1, "m-replayed", "Only once, please."))
            first = await _answer(ws)
            await ws.close()
            assert first["type"] == "ack"
            log_after_first = _log_seqs(store)
            ws = await open_synced(server.url, token, "replay-device")
            await ws.send(_note(1, "m-replayed", "Only once, please."))
            second = await _answer(ws)
            await ws.close()
            assert second["replayed"] is True
            assert {k: v for k, v in second.items() if k != "replayed"} == first
            assert _count_messages(store, id="m-replayed") == 1
            assert _log_seqs(store) == log_after_first
            await ada.close()
            await lin.close()
        store.dispose()

    asyncio.run(scenario())


NOTES_EACH = 25


def test_two_server_processes_share_one_postgresql_store(pg_url: str, tmp_path: Path) -> None:
    """Server A is a subprocess, server B runs here: each has its own connections, hub and
    writer, and learns of the other's commits only through the database."""

    async def scenario() -> None:
        store = make_store(pg_url)
        with server_process(["--db", pg_url, "--port", "0"], tmp_path) as server_a:
            async with running_server(store) as server_b:
                ada, _ = await workstation(tmp_path, server_a.url, "ada@example.com")
                lin, _ = await workstation(tmp_path, server_b.url, "lin@example.com")

                # One reply through A reaches lin, who is connected to B.
                first = await ada.reply("t-1", "Written through server A.")

                async def lin_sees(message_ids: set[str]) -> bool:
                    d = await lin.read(lambda c: queries.ticket_detail(c, ticket_id="t-1"))
                    return d is not None and message_ids <= {m["id"] for m in d["messages"]}

                await eventually(lambda: lin_sees({first}), 15)

                # Then both write at once, each through their own server.
                async def write(engine: SyncEngine, who: str) -> list[str]:
                    return [
                        await engine.reply("t-1", f"{who} {i}", kind="note")
                        for i in range(NOTES_EACH)
                    ]

                ada_ids, lin_ids = await asyncio.gather(write(ada, "ada"), write(lin, "lin"))
                await asyncio.gather(ada.wait_drained(20), lin.wait_drained(20))
                everything = {first, *ada_ids, *lin_ids}

                async def converged() -> bool:
                    seen = []
                    for engine in (ada, lin):
                        d = await engine.read(lambda c: queries.ticket_detail(c, ticket_id="t-1"))
                        assert d is not None
                        seen.append(everything <= {m["id"] for m in d["messages"]})
                    return all(seen)

                await eventually(converged, 20)

                # seq: unique, in commit order, without gaps, across both writers.
                seqs = _log_seqs(store)
                assert seqs == list(range(seqs[0], seqs[0] + len(seqs)))
                head = seqs[-1]

                async def both_at_head() -> bool:
                    a_head = (await asyncio.to_thread(health, server_a.url))[2]["seq"]
                    cursors = [(await e.read(queries.sync_status))["cursor"] for e in (ada, lin)]
                    return [a_head, server_b.hub.head, *cursors] == [head] * 4

                await eventually(both_at_head, 15)
                for message_id in everything:
                    assert _count_messages(store, id=message_id) == 1
                await ada.close()
                await lin.close()
            assert await asyncio.to_thread(server_a.stop) == 0, server_a.stderr()
        store.dispose()

    asyncio.run(scenario())


def test_a_commit_wakes_the_other_server_at_once(
    pg_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """With the safety-net poll pushed out of reach, only the commit notification can carry a
    change from one server process to the other within the test's few seconds."""
    monkeypatch.setattr(server_app, "HEAD_POLL_S", 600.0)

    async def scenario() -> None:
        store = make_store(pg_url)
        async with running_server(store) as server_a, running_server(store) as server_b:
            for server in (server_a, server_b):
                assert server.commit_listener is not None
                await asyncio.wait_for(server.commit_listener.connected.wait(), 10)
            ada, _ = await workstation(tmp_path, server_a.url, "ada@example.com")
            lin, _ = await workstation(tmp_path, server_b.url, "lin@example.com")
            message_id = await ada.reply("t-1", "Through A, announced to B.")

            async def lin_sees_it() -> bool:
                d = await lin.read(lambda c: queries.ticket_detail(c, ticket_id="t-1"))
                return d is not None and message_id in {m["id"] for m in d["messages"]}

            await eventually(lin_sees_it, 5)
            await ada.close()
            await lin.close()
        store.dispose()

    asyncio.run(scenario())
