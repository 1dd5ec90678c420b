"""Collisions field by field, on a real server with two workstations.

A change of a field a colleague changed since the agent saw the ticket is a conflict the
agent reviews (never a silent overwrite of a colleague's newer "Urgent"); a colleague's change
of another field is not.  A public reply is stale only when something the customer-facing
answer depends on changed — not because a colleague added an internal note.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

from sqlalchemy import select

from app.models.entities import Message, Ticket
from app.sync import queries
from app.sync.engine import SyncEngine
from tests.world import Recorder, ServedWorld, eventually, served_world


async def _seen_by(engine: SyncEngine, version: int) -> None:
    async def arrived() -> bool:
        d = await engine.read(lambda c: queries.ticket_detail(c, ticket_id="t-1"))
        return d is not None and d["ticket"]["version"] >= version

    await eventually(arrived)


def _server_ticket(world: ServedWorld) -> Ticket:
    with world.store.connect() as conn:
        return conn.execute(select(Ticket).where(Ticket.id == "t-1")).one()  # type: ignore[return-value]


async def _two_desks(world: ServedWorld) -> tuple[SyncEngine, SyncEngine, Recorder, int]:
    ada, _ = await world.workstation("ada@example.com")
    lin, lin_seen = await world.workstation("lin@example.com")
    seen = _server_ticket(world).version
    return ada, lin, lin_seen, seen


def test_a_change_over_a_colleagues_newer_value_of_the_same_field_is_a_conflict(
    tmp_path: Path,
) -> None:
    async def scenario() -> None:
        async with served_world(tmp_path) as world:
            ada, lin, lin_seen, seen = await _two_desks(world)
            await ada.update_ticket("t-1", {"priority": "urgent"})
            await ada.wait_drained()
            await _seen_by(lin, seen + 1)
            # Lin decided on "low" looking at the version before Ada's "Urgent".
            await lin.update_ticket("t-1", {"priority": "low"}, seen_version=seen)
            await eventually(lambda: asyncio.sleep(0, bool(lin_seen.refused)))
            refusal = lin_seen.refused[0]
            assert refusal.code == "conflict"
            assert refusal.current is not None
            assert refusal.current["fields"] == {"priority": "urgent"}
            assert _server_ticket(world).priority == "urgent"  # never silently overwritten

    asyncio.run(scenario())


def test_a_colleagues_change_of_another_field_is_no_conflict(tmp_path: Path) -> None:
    async def scenario() -> None:
        async with served_world(tmp_path) as world:
            ada, lin, lin_seen, seen = await _two_desks(world)
            await ada.update_ticket("t-1", {"priority": "urgent"})
            await ada.wait_drained()
            await _seen_by(lin, seen + 1)
            await lin.update_ticket(
                "t-1", {"tags": ["refund"], "status": "pending"}, seen_version=seen
            )
            await lin.wait_drained()
            ticket = _server_ticket(world)
            # Both kept: Ada's priority and Lin's tags and status.
            assert (ticket.priority, ticket.tags, ticket.status) == (
                "urgent",
                ["refund"],
                "pending",
            )
            assert lin_seen.refused == []

    asyncio.run(scenario())


def test_a_reply_is_not_stale_because_of_a_colleagues_internal_note(tmp_path: Path) -> None:
    async def scenario() -> None:
        async with served_world(tmp_path) as world:
            ada, lin, lin_seen, seen = await _two_desks(world)
            await ada.reply("t-1", "Checked the warehouse: it left on Monday.", kind="note")
            await ada.update_ticket("t-1", {"priority": "high", "tags": ["shipping"]})
            await ada.wait_drained()
            await _seen_by(lin, seen + 2)
            await lin.reply("t-1", "Your parcel is on its way.", seen_version=seen)
            await lin.wait_drained()
            assert lin_seen.refused == []
            with world.store.connect() as conn:
                bodies = conn.execute(
                    select(Message.body).where(Message.ticket_id == "t-1")
                ).scalars()
                assert "Your parcel is on its way." in list(bodies)

    asyncio.run(scenario())


def test_a_reply_is_stale_after_a_colleagues_public_reply_or_status_change(
    tmp_path: Path,
) -> None:
    async def scenario() -> None:
        async with served_world(tmp_path) as world:
            ada, lin, lin_seen, seen = await _two_desks(world)
            await ada.reply("t-1", "We have refunded you.")
            await ada.wait_drained()
            await _seen_by(lin, seen + 1)
            await lin.reply("t-1", "Let me look into a refund.", seen_version=seen)
            await eventually(lambda: asyncio.sleep(0, bool(lin_seen.refused)))
            assert [r.code for r in lin_seen.refused] == ["conflict"]

            now = _server_ticket(world).version
            await ada.update_ticket("t-1", {"status": "solved"})
            await ada.wait_drained()
            await _seen_by(lin, now + 1)
            await lin.reply("t-1", "Anything else?", seen_version=now)
            await eventually(lambda: asyncio.sleep(0, len(lin_seen.refused) == 2))
            assert [r.code for r in lin_seen.refused] == ["conflict", "conflict"]

    asyncio.run(scenario())
