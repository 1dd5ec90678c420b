"""Reviewing refused changes ("send anyway", "discard") and signing out, against a real
server on 127.0.0.1:0 with real SQLite files."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, select
from websockets.asyncio.client import connect
from websockets.exceptions import InvalidStatus

from app.models.entities import Message, Ticket
from app.sync import protocol as p
from app.sync import queries
from app.sync.desk import DeskReaders
from app.sync.desk_types import TicketSort
from app.sync.engine import NotOnThisWorkstation, SyncEngine
from app.sync.observer import ConnectionState
from tests.world import Recorder, ServedWorld, eventually, served_world


async def _conflict_for_lin(
    world: ServedWorld, make_change: Any
) -> tuple[SyncEngine, Recorder, int]:
    """Ada changes t-1 first; lin then changes it having seen the old version (2): lin's
    engine, what it was told, and the refused change's mutation id."""
    ada, _ = await world.workstation("ada@example.com")
    lin, lin_seen = await world.workstation("lin@example.com")
    await ada.update_ticket("t-1", {"status": "pending"})
    await ada.wait_drained()

    async def lin_has_new_version() -> bool:
        d = await lin.read(lambda c: queries.ticket_detail(c, ticket_id="t-1"))
        return d is not None and d["ticket"]["version"] > 2

    await eventually(lin_has_new_version)
    await make_change(lin)

    async def rejected() -> bool:
        return bool(lin_seen.refused)

    await eventually(rejected)
    assert lin_seen.refused[0].code == "conflict"
    return lin, lin_seen, lin_seen.refused[0].mutation_id


def _server_ticket(store: Engine) -> tuple[str, int]:
    with store.connect() as conn:
        row = conn.execute(select(Ticket.status, Ticket.version).where(Ticket.id == "t-1")).one()
    return str(row.status), int(row.version)


def _server_bodies(store: Engine) -> list[str]:
    with store.connect() as conn:
        return list(
            conn.execute(
                select(Message.body).where(Message.ticket_id == "t-1").order_by(Message.created_at)
            ).scalars()
        )


def test_resend_a_refused_status_change_with_the_current_version(tmp_path: Path) -> None:
    async def scenario() -> None:
        async with served_world(tmp_path) as world:

            async def stale_update(lin: SyncEngine) -> None:
                await lin.update_ticket("t-1", {"status": "solved"}, seen_version=2)

            lin, seen, refused = await _conflict_for_lin(world, stale_update)
            assert _server_ticket(world.store)[0] == "pending"
            current_version = _server_ticket(world.store)[1]
            seen.changed.clear()

            resent = await lin.resend_refused(refused)
            assert resent > refused
            # Applied to the cache at once, queued against the version lin now has.
            readers = await DeskReaders.open(lin.cache_path, "a-lin")
            conversation = await readers.conversations.conversation("t-1")
            assert conversation is not None
            assert conversation.ticket.status == "solved"
            assert conversation.refusals == ()
            assert await readers.conversations.refusals() == []
            # The notice says which ticket the refusal and the change were on.
            assert any(
                ch.kinds_of("t-1") >= {"refusal", "ticket"} and str(refused) in ch.ids("refusal")
                for ch in seen.changed
            )
            await lin.wait_drained()
            assert _server_ticket(world.store) == ("solved", current_version + 1)
            assert len(seen.refused) == 1  # accepted this time
            with pytest.raises(NotOnThisWorkstation, match="no longer on this workstation"):
                await lin.resend_refused(refused)  # it is gone
            await readers.close()

    asyncio.run(scenario())


def test_resend_a_refused_reply_replaces_the_failed_message(tmp_path: Path) -> None:
    async def scenario() -> None:
        async with served_world(tmp_path) as world:

            async def stale_reply(lin: SyncEngine) -> None:
                await lin.reply("t-1", "Solved it for you.", seen_version=2)

            lin, seen, refused = await _conflict_for_lin(world, stale_reply)
            readers = await DeskReaders.open(lin.cache_path, "a-lin")
            before = await readers.conversations.conversation("t-1")
            assert before is not None
            failed = [m for m in before.messages if m.delivery_state == "failed"]
            assert [m.body for m in failed] == ["Solved it for you."]
            assert [r.ticket_id for r in before.refusals] == ["t-1"]
            assert "Solved it for you." not in _server_bodies(world.store)

            await lin.resend_refused(refused)
            await lin.wait_drained()
            after = await readers.conversations.conversation("t-1")
            assert after is not None
            mine = [m for m in after.messages if m.body == "Solved it for you."]
            assert len(mine) == 1
            assert mine[0].id != failed[0].id
            assert mine[0].delivery_state == "sent"
            assert after.refusals == ()
            assert _server_bodies(world.store).count("Solved it for you.") == 1
            assert len(seen.refused) == 1
            await readers.close()

    asyncio.run(scenario())


def test_discard_a_refused_reply_forgets_it_everywhere(tmp_path: Path) -> None:
    async def scenario() -> None:
        async with served_world(tmp_path) as world:

            async def stale_reply(lin: SyncEngine) -> None:
                await lin.reply("t-1", "Never mind.", seen_version=2)

            lin, seen, refused = await _conflict_for_lin(world, stale_reply)
            seen.changed.clear()
            await lin.dismiss_refusal(refused)
            assert any(
                ch.kinds_of("t-1") >= {"refusal", "message"} and ch.messages_of("t-1")
                for ch in seen.changed
            )
            readers = await DeskReaders.open(lin.cache_path, "a-lin")
            conversation = await readers.conversations.conversation("t-1")
            assert conversation is not None
            assert "Never mind." not in [m.body for m in conversation.messages]
            assert conversation.refusals == ()
            assert (await lin.read(queries.sync_status))["outbox"] == 0
            assert "Never mind." not in _server_bodies(world.store)
            await lin.dismiss_refusal(refused)  # twice: nothing left to do, no error
            await readers.close()

    asyncio.run(scenario())


def test_dismissing_a_refused_note_takes_its_failed_copy_out_of_the_thread(
    tmp_path: Path,
) -> None:
    """A note refused (its id is taken by a message Ada cannot see) stays in the thread as
    "not sent" while its refusal waits; dismissing the refusal removes that copy too, or it
    would stay in the thread with nothing left to review or remove it."""

    async def scenario() -> None:
        async with served_world(tmp_path) as world:
            ada, seen = await world.workstation("ada@example.com")
            readers = await DeskReaders.open(ada.cache_path, "a-ada")
            note = {"id": "m-3", "ticket_id": "t-1", "kind": "note", "body": "Call her back"}
            await ada.mutate("message.add", {"message": note})
            await ada.wait_drained()
            [refusal] = seen.refused
            assert refusal.code == "duplicate"
            before = await readers.conversations.conversation("t-1")
            assert before is not None
            assert [(m.id, m.delivery_state) for m in before.messages if m.id == "m-3"] == [
                ("m-3", "failed")
            ]

            seen.changed.clear()
            await ada.dismiss_refusal(refusal.mutation_id)
            after = await readers.conversations.conversation("t-1")
            assert after is not None
            assert "m-3" not in [m.id for m in after.messages]
            assert after.refusals == ()
            # An open thread hears of it: the message, its ticket and the refusal changed.
            assert any(
                ch.kinds_of("t-1") >= {"refusal", "message"} and "m-3" in ch.messages_of("t-1")
                for ch in seen.changed
            )
            assert _server_bodies(world.store) == ["Help with 1"]  # the server never had it
            await readers.close()

    asyncio.run(scenario())


async def _token_refused(url: str, token: str) -> bool:
    try:
        async with connect(
            url + p.SYNC_PATH, additional_headers={"Authorization": f"Bearer {token}"}
        ):
            return False
    except InvalidStatus as exc:
        return exc.response.status_code == 401


def test_end_session_over_the_live_connection(tmp_path: Path) -> None:
    async def scenario() -> None:
        async with served_world(tmp_path) as world:
            ada, _ = await world.workstation("ada@example.com")
            token = ada.token
            assert token is not None
            assert await ada.end_session() is True
            assert ada.status.state == ConnectionState.SIGNED_OUT
            assert ada.token is None
            assert await _token_refused(world.url, token)
            # Still signed out: the server's close did not start a reconnect.
            assert ada.status.state == ConnectionState.SIGNED_OUT

    asyncio.run(scenario())


def test_end_session_without_a_live_connection(tmp_path: Path) -> None:
    async def scenario() -> None:
        async with served_world(tmp_path) as world:
            url = world.url
            ada = SyncEngine(tmp_path / "ada.cache.db", url)
            await ada.open()
            token = await ada.login("ada@example.com", "correct horse 7")
            assert await ada.end_session() is True  # over a connection of its own
            assert await _token_refused(url, token)
            await ada.close()

            lin = SyncEngine(tmp_path / "lin.cache.db", url)
            await lin.open()
            await lin.login("lin@example.com", "correct horse 7")
        # The server is gone: the session could not be ended there; the engine still stops.
        assert await lin.end_session(timeout=2.0) is False
        assert lin.status.state == ConnectionState.SIGNED_OUT
        await lin.close()

    asyncio.run(scenario())


def test_desk_reader_follows_the_engine_as_it_syncs(tmp_path: Path) -> None:
    async def scenario() -> None:
        async with served_world(tmp_path) as world:
            ada, _ = await world.workstation("ada@example.com")
            lin, _ = await world.workstation("lin@example.com")
            readers = await DeskReaders.open(ada.cache_path, "a-ada")
            mine = readers.tickets.builtin_views(await readers.directory.directory())[0]
            assert await readers.tickets.ticket_ids(mine, TicketSort()) == ["t-1"]
            rows = await readers.tickets.ticket_rows(["t-1"])
            assert rows["t-1"].waiting_since is not None  # the customer wrote; no answer yet

            await lin.reply("t-1", "Platypus parts are on their way.")

            async def ada_has_it() -> bool:
                hits = (await readers.search.everywhere("platypus")).hits
                return any(h.kind == "message" and h.ticket_id == "t-1" for h in hits)

            await eventually(ada_has_it)
            rows = await readers.tickets.ticket_rows(["t-1"])
            assert rows["t-1"].waiting_since is None  # lin answered
            conversation = await readers.conversations.conversation("t-1")
            assert conversation is not None
            assert conversation.messages[-1].author_name == "Lin"
            await readers.close()

    asyncio.run(scenario())
