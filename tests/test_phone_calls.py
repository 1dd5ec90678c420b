"""Call logs and dispositions: a real server on 127.0.0.1:0, real SQLite files, real engines.

A call logged offline is queued, sent once the server is back and applied exactly once (its
thread entry too); dispositions are the admin's alone, from a workstation and from
``switchboard-server disposition``.
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, func, insert, select

from app.models.base import new_id, utcnow
from app.models.tables import T_CALLS, T_DISPOSITIONS, T_MESSAGES, T_TICKETS
from app.server import cli as server_cli
from app.sync import queries
from app.sync.engine import SyncEngine
from app.sync.engine.errors import InvalidChange, NotOnThisWorkstation
from tests.world import eventually, make_store, running_server, served_world, workstation

RESOLVED = "d-resolved"


def add_dispositions(store: Engine) -> None:
    """The dispositions a test world starts with: one offered, one removed."""
    with store.begin() as conn:
        conn.execute(
            insert(T_DISPOSITIONS),
            [
                {"id": RESOLVED, "name": "Resolved", "position": 1, "active": True},
                {"id": "d-old", "name": "Old code", "position": 2, "active": False},
            ],
        )


def call_args(ticket_id: str, **more: Any) -> dict[str, Any]:
    started = datetime.now(UTC) - timedelta(minutes=5)
    call = {
        "id": new_id(),
        "ticket_id": ticket_id,
        "direction": "inbound",
        "customer_number": "+442079460018",
        "our_line": "+442079460000",
        "customer_id": "c-3",
        "started_at": started.isoformat(),
        "duration_s": 252,
        "notes": "Router drops every evening; talked through a firmware update.",
        "disposition_id": RESOLVED,
    }
    call.update(more)
    return {"call": call}


def _count(store: Engine, table: Any, **where: Any) -> int:
    with store.connect() as conn:
        q = select(func.count()).select_from(table)
        for name, value in where.items():
            q = q.where(table.c[name] == value)
        return int(conn.execute(q).scalar_one())


def test_a_call_logged_offline_is_sent_later_and_applied_exactly_once(tmp_path: Path) -> None:
    async def scenario() -> None:
        store = make_store(f"sqlite:///{tmp_path / 'server.db'}")
        add_dispositions(store)
        async with running_server(store) as server:
            ada, _ = await workstation(tmp_path, server.url, "ada@example.com")
            token = ada.token
        # The server is gone: Ada logs the call she just took, on her ticket t-2.
        args = call_args("t-2")
        call_id = args["call"]["id"]
        await ada.mutate("call.log", args)
        assert (await ada.read(queries.sync_status))["outbox"] == 1

        def cached(conn: Any) -> tuple[Any, Any]:
            call = conn.execute(select(T_CALLS).where(T_CALLS.c.id == call_id)).mappings().first()
            entry = conn.execute(
                select(T_MESSAGES.c.kind, T_MESSAGES.c.delivery_state, T_MESSAGES.c.body).where(
                    T_MESSAGES.c.id == call_id
                )
            ).first()
            return call, entry

        call, entry = await ada.read(cached)
        assert call is not None
        assert call["duration_s"] == 252
        assert entry is not None
        assert entry.kind == "call"
        assert entry.delivery_state == "queued"
        assert "Inbound call from +44 20 7946 0018 · 4 min 12 s · Resolved" in entry.body
        await ada.close()

        # A new run of the desk, a new server on the same store: sent, then sent again (as
        # after a lost answer) — applied once.
        for _ in range(2):
            async with running_server(store) as server:
                again = SyncEngine(tmp_path / "ada.cache.db", server.url, token=token)
                await again.open()
                again.start()
                await again.wait_online(20)

                async def drained(engine: SyncEngine = again) -> bool:
                    return bool((await engine.read(queries.sync_status))["outbox"] == 0)

                await eventually(drained)
                _call, entry = await again.read(cached)
                assert entry is not None
                assert entry.delivery_state == "sent"
                await again.close()
        assert _count(store, T_CALLS, id=call_id) == 1
        assert _count(store, T_MESSAGES, id=call_id, kind="call") == 1
        with store.connect() as conn:
            row = conn.execute(select(T_CALLS).where(T_CALLS.c.id == call_id)).mappings().one()
            version = conn.execute(select(T_TICKETS.c.version).where(T_TICKETS.c.id == "t-2"))
            assert version.scalar() == 3  # the call entry grew the thread once
        assert row["agent_id"] == "a-ada"
        assert row["customer_number"] == "+442079460018"
        assert row["disposition_id"] == RESOLVED
        assert row["direction"] == "inbound"
        store.dispose()

    asyncio.run(scenario())


def test_a_bad_call_is_refused_and_changes_nothing(tmp_path: Path) -> None:
    async def scenario() -> None:
        async with served_world(tmp_path) as world:
            add_dispositions(world.store)
            ada, recorder = await world.workstation("ada@example.com")
            before = _count(world.store, T_MESSAGES)
            bad = [
                call_args("t-1", customer_number="07700 900123"),  # not E.164
                call_args("t-1", disposition_id="d-nope"),
                call_args("t-1", started_at=(utcnow() + timedelta(days=1)).isoformat()),
                call_args("t-3"),  # Billing's ticket: Ada cannot see it
            ]
            for args in bad:
                refused = len(recorder.refused)
                try:
                    await ada.mutate("call.log", args)
                except NotOnThisWorkstation:  # a ticket she cannot see is not on her desk either
                    continue
                await eventually(lambda: _more(recorder.refused, refused))  # noqa: B023
                # The refused call leaves its notes for review; the server wrote nothing.
                assert recorder.refused[-1].name == "call.log"
            # Not a time at all: refused on the workstation before anything is queued.
            with pytest.raises(InvalidChange, match="ISO 8601"):
                await ada.mutate("call.log", call_args("t-1", started_at="yesterday 5pm"))
            with pytest.raises(InvalidChange, match="UTC offset"):
                await ada.mutate("call.log", call_args("t-1", started_at="2026-12-01T10:00:00"))
            # A retired disposition is still accepted (logged offline before its removal).
            await ada.mutate("call.log", call_args("t-1", disposition_id="d-old"))
            await eventually(lambda: _settled(ada))
            assert _count(world.store, T_CALLS) == 1
            assert _count(world.store, T_MESSAGES) == before + 1
            assert [r.code for r in recorder.refused] == ["invalid_mutation"] * 3

    asyncio.run(scenario())


async def _more(items: list[Any], n: int) -> bool:
    return len(items) > n


async def _settled(engine: SyncEngine) -> bool:
    return bool((await engine.read(queries.sync_status))["outbox"] == 0)


def test_only_admins_manage_dispositions(tmp_path: Path, capsys: Any) -> None:
    async def scenario() -> None:
        async with served_world(tmp_path) as world:
            ada, ada_seen = await world.workstation("ada@example.com")
            root, _ = await world.workstation("root@example.com")
            await ada.mutate("disposition.add", {"disposition_id": "d-ada", "name": "Mine"})
            await eventually(lambda: _settled(ada))
            assert [r.code for r in ada_seen.refused] == ["forbidden"]
            await root.mutate("disposition.add", {"disposition_id": "d-cb", "name": "Callback"})
            await eventually(lambda: _settled(root))

            def offered(conn: Any) -> list[str]:
                q = select(T_DISPOSITIONS.c.name).where(T_DISPOSITIONS.c.active.is_(True))
                return list(conn.execute(q).scalars())

            async def ada_sees_it() -> bool:
                return await ada.read(offered) == ["Callback"]

            await eventually(ada_sees_it)  # fanned out to every desk
            await ada.mutate("disposition.remove", {"disposition_id": "d-cb"})
            await eventually(lambda: _settled(ada))
            assert [r.code for r in ada_seen.refused] == ["forbidden", "forbidden"]
            assert _count(world.store, T_DISPOSITIONS, active=True) == 1

    asyncio.run(scenario())

    # The command line: add, a duplicate refused, list, remove (retired, still listed).
    db = ["--db", f"sqlite:///{tmp_path / 'server.db'}"]
    assert server_cli.main(["disposition", "add", "Voicemail", *db]) == 0
    with pytest.raises(SystemExit, match="already exists"):
        server_cli.main(["disposition", "add", "voicemail", *db])
    assert server_cli.main(["disposition", "remove", "Callback", *db]) == 0
    with pytest.raises(SystemExit, match="no disposition named"):
        server_cli.main(["disposition", "remove", "Callback", *db])
    capsys.readouterr()
    assert server_cli.main(["disposition", "list", *db]) == 0
    assert capsys.readouterr().out.splitlines() == ["Callback  (removed)", "Voicemail"]
