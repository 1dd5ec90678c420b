"""End to end: real server on 127.0.0.1:0, real SQLite files, real sync engines."""

from __future__ import annotations

import asyncio
from pathlib import Path

from sqlalchemy import func, select

from app.models.entities import Message, Ticket
from app.sync import queries
from tests.world import eventually, make_store, running_server, served_world, workstation


def test_bootstrap_replicates_only_what_the_agent_may_see(tmp_path: Path) -> None:
    async def scenario() -> None:
        async with served_world(tmp_path) as world:
            ada, _ = await world.workstation("ada@example.com")
            sam, _ = await world.workstation("sam@example.com")
            ada_tickets = {t["number"] for t in await ada.read(queries.ticket_list)}
            sam_tickets = {t["number"] for t in await sam.read(queries.ticket_list)}
            # ada: care group (1, 2, 5) — not billing (3, 4) nor ungrouped (6)
            assert ada_tickets == {1, 2, 5}
            assert sam_tickets == {1, 2, 3, 4, 5, 6}
            detail = await ada.read(lambda c: queries.ticket_detail(c, number=1))
            assert detail is not None
            assert [m["body"] for m in detail["messages"]] == ["Help with 1"]
            assert detail["customer"]["identities"][0]["kind"] == "email"

    asyncio.run(scenario())


def test_reply_reaches_other_workstation_live_and_exactly_once(tmp_path: Path) -> None:
    async def scenario() -> None:
        async with served_world(tmp_path) as world:
            ada, _ = await world.workstation("ada@example.com")
            lin, lin_seen = await world.workstation("lin@example.com")
            message_id = await ada.reply("t-1", "We have shipped a replacement.")

            async def lin_has_it() -> bool:
                d = await lin.read(lambda c: queries.ticket_detail(c, ticket_id="t-1"))
                return d is not None and any(m["id"] == message_id for m in d["messages"])

            await eventually(lin_has_it)
            assert any("t-1" in ch.ids("ticket") for ch in lin_seen.changed)

            async def ada_sent() -> bool:
                d = await ada.read(lambda c: queries.ticket_detail(c, ticket_id="t-1"))
                assert d is not None
                states = {m["id"]: m["delivery_state"] for m in d["messages"]}
                return bool(states[message_id] == "sent")

            await eventually(ada_sent)
            with world.store.connect() as conn:
                count = conn.execute(
                    select(func.count()).select_from(Message).where(Message.id == message_id)
                ).scalar()
                version = conn.execute(select(Ticket.version).where(Ticket.id == "t-1")).scalar()
            assert count == 1
            assert version == 3  # one bump for the reply
            assert (await ada.read(queries.sync_status))["outbox"] == 0

    asyncio.run(scenario())


def test_stale_status_change_is_rejected_and_rolled_back(tmp_path: Path) -> None:
    async def scenario() -> None:
        async with served_world(tmp_path) as world:
            ada, _ = await world.workstation("ada@example.com")
            lin, lin_seen = await world.workstation("lin@example.com")
            # lin looked at version 2; ada changes the status first.
            await ada.update_ticket("t-1", {"status": "pending"})

            async def lin_sees_pending() -> bool:
                d = await lin.read(lambda c: queries.ticket_detail(c, ticket_id="t-1"))
                return d is not None and d["ticket"]["status"] == "pending"

            await eventually(lin_sees_pending)
            await lin.update_ticket("t-1", {"status": "solved"}, seen_version=2)

            async def rejected() -> bool:
                return bool(lin_seen.refused)

            await eventually(rejected)
            refusal = lin_seen.refused[0]
            assert refusal.code == "conflict"
            assert refusal.current["fields"] == {"status": "pending"}
            d = await lin.read(lambda c: queries.ticket_detail(c, ticket_id="t-1"))
            assert d is not None
            assert d["ticket"]["status"] == "pending"  # the optimistic "solved" was undone
            assert [r["code"] for r in await lin.refusals()] == ["conflict"]
            with world.store.connect() as conn:
                status = conn.execute(select(Ticket.status).where(Ticket.id == "t-1")).scalar()
            assert status == "pending"

    asyncio.run(scenario())


def test_own_queued_changes_do_not_count_as_a_collision(tmp_path: Path) -> None:
    async def scenario() -> None:
        async with served_world(tmp_path) as world:
            ada, seen = await world.workstation("ada@example.com")
            await ada.update_ticket("t-1", {"status": "pending"}, seen_version=2)
            await ada.reply("t-1", "Status changed, and here is why.", seen_version=2)

            async def drained() -> bool:
                return bool((await ada.read(queries.sync_status))["outbox"] == 0)

            await eventually(drained)
            assert seen.refused == []

    asyncio.run(scenario())


def test_offline_work_is_delivered_after_restart_exactly_once(tmp_path: Path) -> None:
    async def scenario() -> None:
        db_url = f"sqlite:///{tmp_path / 'server.db'}"
        store = make_store(db_url)
        async with running_server(store) as server:
            url = server.url
            ada, _ = await workstation(tmp_path, url, "ada@example.com")
            token = ada.token
        # The server is gone: ada keeps working.
        replies = [await ada.reply("t-2", f"offline reply {i}") for i in range(5)]
        await ada.update_ticket("t-2", {"priority": "high"})
        status = await ada.read(queries.sync_status)
        assert status["outbox"] == 6
        await ada.close()

        # A new process of the workstation, a new server on another port, same store.
        from app.sync.engine import SyncEngine

        async with running_server(store) as server:
            again = SyncEngine(tmp_path / "ada.cache.db", server.url, token=token)
            await again.open()
            again.start()
            await again.wait_online(20)

            async def drained() -> bool:
                return bool((await again.read(queries.sync_status))["outbox"] == 0)

            await eventually(drained)
            with store.connect() as conn:
                bodies = (
                    conn.execute(
                        select(Message.body).where(Message.id.in_(replies)).order_by(Message.body)
                    )
                    .scalars()
                    .all()
                )
                priority = conn.execute(select(Ticket.priority).where(Ticket.id == "t-2")).scalar()
            assert bodies == [f"offline reply {i}" for i in range(5)]
            assert priority == "high"
            await again.close()

    asyncio.run(scenario())
