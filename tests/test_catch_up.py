"""Catch-up after time offline: deletes, exact row contents, and a long run of answers."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, insert, select

from app.domain import wire
from app.models.tables import T_CANNED, T_DRAFTS, T_MESSAGES, T_TICKETS
from app.sync.cache import get_state
from app.sync.cache_tables import T_OUTBOX
from app.sync.engine import SyncEngine
from tests.world import AGENTS, eventually, served_world, visible_rows

ADA = AGENTS["ada@example.com"][0]


def cached_rows(conn: Connection) -> dict[str, Any]:
    return {
        "tickets": {
            r["id"]: wire.to_wire("ticket", r) for r in conn.execute(select(T_TICKETS)).mappings()
        },
        "messages": {
            r["id"]: wire.to_wire("message", r) for r in conn.execute(select(T_MESSAGES)).mappings()
        },
    }


async def cursor_of(engine: SyncEngine) -> int:
    return int(await engine.read(lambda c: get_state(c, "cursor", 0)))


def test_deletes_made_while_offline_reach_the_cache(tmp_path: Path) -> None:
    async def scenario() -> None:
        async with served_world(tmp_path) as world:
            ada, _ = await world.workstation("ada@example.com")
            sam, _ = await world.workstation("sam@example.com")
            laptop, _ = await world.workstation("ada@example.com", name="laptop")
            canned = {
                "title": "Refund sent",
                "body": "Your refund is on its way.",
                "scope": "shared",
            }
            await sam.mutate("canned.create", {"canned_id": "cr-1", "canned": canned})
            await ada.save_draft("t-1", "Checking with the warehouse")

            async def ada_has_both() -> bool:
                canned_ids = await ada.read(lambda c: c.execute(select(T_CANNED.c.id)).all())
                drafts = await laptop.read(lambda c: c.execute(select(T_DRAFTS.c.id)).all())
                return len(canned_ids) == 1 and len(drafts) == 1

            await eventually(ada_has_both)
            await ada.stop()
            before = await cursor_of(ada)

            # While Ada is away: the canned response is deleted, her draft is discarded on her
            # laptop, and t-2 moves to a group she is not in.
            await sam.mutate("canned.delete", {"canned_id": "cr-1"})
            await laptop.discard_draft("t-1")
            await sam.update_ticket("t-2", {"group_id": "g-billing"})
            await sam.wait_drained(10)
            await laptop.wait_drained(10)

            ada.start()
            await ada.wait_online(20)
            assert await cursor_of(ada) > before
            assert await ada.read(lambda c: c.execute(select(T_CANNED.c.id)).all()) == []
            assert await ada.read(lambda c: c.execute(select(T_DRAFTS.c.id)).all()) == []
            cached = await ada.read(cached_rows)
            assert "t-2" not in cached["tickets"]
            assert cached == visible_rows(world.store, ADA)

    asyncio.run(scenario())


def test_a_long_run_of_answers_settles_every_reply_and_its_draft(tmp_path: Path) -> None:
    async def scenario() -> None:
        async with served_world(tmp_path) as world:
            ada, _ = await world.workstation("ada@example.com")
            await ada.stop()
            sent: list[str] = []
            for i in range(150):  # answered in runs, settled together
                ticket = ("t-1", "t-2", "t-5")[i % 3]
                await ada.save_draft(ticket, f"draft {i}")
                sent.append(await ada.reply(ticket, f"reply {i}", kind="note"))
            ada.start()
            await ada.wait_online(20)
            await ada.wait_drained(20)

            async def all_sent() -> bool:
                rows = await ada.read(
                    lambda c: c.execute(
                        select(T_MESSAGES.c.id, T_MESSAGES.c.delivery_state).where(
                            T_MESSAGES.c.id.in_(sent)
                        )
                    ).all()
                )
                return len(rows) == len(sent) and {state for _, state in rows} == {"sent"}

            await eventually(all_sent)
            # Each reply was sent from its draft, so none is left, here or on the server.
            assert await ada.read(lambda c: c.execute(select(T_DRAFTS.c.id)).all()) == []
            with world.store.connect() as conn:
                assert conn.execute(select(T_DRAFTS.c.id)).all() == []
                on_server = conn.execute(
                    select(T_MESSAGES.c.id).where(T_MESSAGES.c.id.in_(sent))
                ).all()
            assert len(on_server) == len(sent)
            assert await ada.refusals() == []
            assert await ada.read(cached_rows) == visible_rows(world.store, ADA)

    asyncio.run(scenario())


def test_a_change_applied_before_its_ack_was_lost_is_not_laid_over_newer_rows(
    tmp_path: Path,
) -> None:
    """The connection drops after the server applied a draft save but before the ack arrived;
    meanwhile the draft is discarded on the agent's laptop.  Catch-up brings the discard, and
    the resent save (a replay) must not bring the old text back."""

    async def scenario() -> None:
        async with served_world(tmp_path) as world:
            ada, _ = await world.workstation("ada@example.com")
            laptop, _ = await world.workstation("ada@example.com", name="laptop")
            await ada.save_draft("t-1", "Checking with the warehouse")
            await ada.wait_drained(10)
            await ada.stop()
            saved = int(await ada.read(lambda c: get_state(c, "next_mutation_id"))) - 1

            def ack_lost(conn: Connection) -> None:  # as if the answer never arrived
                conn.execute(
                    insert(T_OUTBOX).values(
                        mutation_id=saved,
                        name="draft.save",
                        args={
                            "ticket_id": "t-1",
                            "kind": "reply",
                            "body": "Checking with the warehouse",
                        },
                        entity="draft",
                        entity_id="t-1",
                        transmitted=True,
                    )
                )

            await ada.db(ack_lost)
            await laptop.discard_draft("t-1")
            await laptop.wait_drained(10)

            ada.start()
            await ada.wait_online(20)
            await ada.wait_drained(10)
            assert await ada.read(lambda c: c.execute(select(T_DRAFTS.c.id)).all()) == []
            with world.store.connect() as conn:
                assert conn.execute(select(T_DRAFTS.c.id)).all() == []

    asyncio.run(scenario())
