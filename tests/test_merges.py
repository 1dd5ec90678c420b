"""Customer merge, ticket merge and split, against a real server with real workstation caches.

Every workstation converges on the result, including one that was offline during the merge
with changes queued on the merged record: a new ticket for the merged customer and a reply on
the merged ticket are redirected to the survivor; an edit of the merged customer is refused
in plain words.  Drafts, notes and the activity trail survive merges and splits.
"""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, Engine, insert, select

from app.domain.mentions import T_MENTIONS
from app.domain.mutation import COMMAND_LINE, channel_actor
from app.models.base import new_id
from app.models.entities import draft_id
from app.models.tables import (
    T_ATTACHMENTS,
    T_CALLS,
    T_CUSTOMERS,
    T_DRAFTS,
    T_IDENTITIES,
    T_MESSAGES,
    T_TICKETS,
)
from app.models.time_entries import T_TIME_ENTRIES
from app.sync.engine import SyncEngine
from tests.test_phone_calls import add_dispositions, call_args
from tests.world import Recorder, eventually, served_world

Row = dict[str, Any]


def _customers(conn: Connection, ids: tuple[str, ...]) -> dict[str, Row]:
    rows = conn.execute(select(T_CUSTOMERS).where(T_CUSTOMERS.c.id.in_(ids))).mappings()
    out: dict[str, Row] = {}
    for r in rows:
        idents = conn.execute(
            select(T_IDENTITIES.c.value)
            .where(T_IDENTITIES.c.customer_id == r["id"])
            .order_by(T_IDENTITIES.c.value)
        ).scalars()
        out[r["id"]] = {
            "name": r["name"],
            "notes": r["notes"],
            "merged_into": r["merged_into"],
            "identities": list(idents),
        }
    return out


def _store_read(store: Engine, fn: Any) -> Any:
    with store.connect() as conn:
        return fn(conn)


def _ticket(conn: Connection, ticket_id: str) -> Row | None:
    row = conn.execute(select(T_TICKETS).where(T_TICKETS.c.id == ticket_id)).mappings().first()
    return None if row is None else dict(row)


def _thread(conn: Connection, ticket_id: str) -> list[Row]:
    rows = conn.execute(
        select(T_MESSAGES)
        .where(T_MESSAGES.c.ticket_id == ticket_id)
        .order_by(T_MESSAGES.c.created_at, T_MESSAGES.c.id)
    ).mappings()
    return [dict(r) for r in rows]


def _draft(conn: Connection, agent_id: str, ticket_id: str) -> Row | None:
    did = draft_id(agent_id, ticket_id)
    row = conn.execute(select(T_DRAFTS).where(T_DRAFTS.c.id == did)).mappings().first()
    return None if row is None else dict(row)


async def _outbox_empty(engine: SyncEngine) -> bool:
    rows = await engine.read(lambda c: c.exec_driver_sql("SELECT count(*) FROM outbox").scalar())
    return rows == 0


def test_customer_merge_converges_with_a_workstation_offline_during_it(tmp_path: Path) -> None:
    async def scenario() -> None:
        async with served_world(tmp_path) as world:
            ada, ada_seen = await world.workstation("ada@example.com")
            lin, lin_seen = await world.workstation("lin@example.com")
            sam, _ = await world.workstation("sam@example.com")
            # c-3 (Customer 3: tickets 2 and 5) and c-2 (tickets 1 and 4) are one person.
            await lin.stop()
            new_ticket = {
                "ticket": {
                    "id": "t-new",
                    "subject": "Called again about the refund",
                    "channel": "phone",
                    "customer_id": "c-3",
                    "group_id": "g-care",
                },
            }
            await lin.mutate("ticket.create", new_ticket)
            await lin.mutate("customer.update", {"customer_id": "c-3", "changes": {"tier": "gold"}})
            await ada.mutate(
                "customer.update", {"customer_id": "c-3", "changes": {"notes": "Prefers email"}}
            )
            await eventually(lambda: _outbox_empty(ada))
            await ada.mutate("customer.merge", {"source_id": "c-3", "target_id": "c-2"})
            await eventually(lambda: _outbox_empty(ada))

            server = _store_read(world.store, lambda c: _customers(c, ("c-2", "c-3")))
            assert server["c-3"]["merged_into"] == "c-2"
            assert server["c-3"]["identities"] == []
            assert server["c-2"]["identities"] == ["customer2@mail.test", "customer3@mail.test"]
            assert "Prefers email" in server["c-2"]["notes"]
            assert "Customer 3" in server["c-2"]["notes"]  # whose notes they were
            with world.store.connect() as conn:
                assert _ticket(conn, "t-2")["customer_id"] == "c-2"  # type: ignore[index]
                assert _ticket(conn, "t-5")["customer_id"] == "c-2"  # type: ignore[index]
                assert _ticket(conn, "t-2")["version"] == 2  # type: ignore[index]
                authors = {m["author_customer_id"] for m in _thread(conn, "t-2")}
                assert authors == {"c-2"}

            # Lin comes back: her new ticket goes to the survivor, her edit is refused in
            # plain words (kept in her refusals), and her cache converges.
            lin.start()
            await lin.wait_online(20)
            await eventually(lambda: _outbox_empty(lin))
            with world.store.connect() as conn:
                made = _ticket(conn, "t-new")
                assert made is not None
                assert made["customer_id"] == "c-2"
                assert _customers(conn, ("c-2",))["c-2"]["name"] == "Customer 2"
            await eventually(lambda: _has_refusal(lin_seen, "customer.update"))
            refusal = next(r for r in lin_seen.refused if r.name == "customer.update")
            assert refusal.message == (
                "Customer 3 was merged into Customer 2; this change was not made: "
                "make it on Customer 2"
            )
            assert refusal.what == "Customer change"

            async def converged(engine: SyncEngine) -> bool:
                cached = await engine.read(lambda c: _customers(c, ("c-2", "c-3")))
                tickets = await engine.read(lambda c: _ticket(c, "t-2"))
                return (
                    cached.get("c-2") == server["c-2"]
                    and cached.get("c-3", server["c-3"]) == server["c-3"]
                    and tickets is not None
                    and tickets["customer_id"] == "c-2"
                )

            for engine in (ada, lin, sam):
                await eventually(lambda engine=engine: converged(engine))  # type: ignore[misc]
            lin_ticket = await lin.read(lambda c: _ticket(c, "t-new"))
            assert lin_ticket is not None
            assert lin_ticket["customer_id"] == "c-2"
            assert not ada_seen.refused

    asyncio.run(scenario())


async def _has_refusal(seen: Recorder, name: str) -> bool:
    return any(r.name == name for r in seen.refused)


def test_customer_merge_refusals_are_plain_and_change_nothing(tmp_path: Path) -> None:
    async def scenario() -> None:
        async with served_world(tmp_path) as world:
            submit = world.server.writer.submit

            same = await submit(
                COMMAND_LINE, "customer.merge", {"source_id": "c-1", "target_id": "c-1"}, key="1"
            )
            assert same["type"] == "reject"
            assert same["message"] == "a customer cannot be merged with themselves"
            done = await submit(
                COMMAND_LINE, "customer.merge", {"source_id": "c-1", "target_id": "c-2"}, key="2"
            )
            assert done["type"] == "ack", done
            before = _store_read(world.store, lambda c: _customers(c, ("c-1", "c-2", "c-3")))
            again = await submit(
                COMMAND_LINE, "customer.merge", {"source_id": "c-3", "target_id": "c-1"}, key="3"
            )
            assert again["type"] == "reject"
            assert "merge into that one instead" in again["message"]
            missing = await submit(
                COMMAND_LINE, "customer.merge", {"source_id": "c-9", "target_id": "c-2"}, key="4"
            )
            assert missing["type"] == "reject"
            after = _store_read(world.store, lambda c: _customers(c, ("c-1", "c-2", "c-3")))
            assert after == before

    asyncio.run(scenario())


def test_ticket_merge_keeps_every_draft_note_and_the_trail_and_redirects_an_offline_reply(
    tmp_path: Path,
) -> None:
    async def scenario() -> None:
        async with served_world(tmp_path) as world:
            ada, ada_seen = await world.workstation("ada@example.com")
            lin, lin_seen = await world.workstation("lin@example.com")
            # The source, t-2, gets a note, a status change (a trail event) and drafts.
            await lin.reply("t-2", "Checked the courier: lost parcel", kind="note")
            await ada.update_ticket("t-2", {"priority": "high"})
            await ada.save_draft("t-2", "Your replacement ships today")
            await ada.save_draft("t-1", "Thanks for waiting")
            await lin.save_draft("t-2", "Internal: refund approved", kind="note")
            for engine in (ada, lin):
                await eventually(lambda engine=engine: _outbox_empty(engine))  # type: ignore[misc]
            # Lin goes offline and answers on t-2; meanwhile Ada merges t-2 into t-1.
            await lin.stop()
            reply_id = await lin.reply("t-2", "We found your parcel", clears_draft=False)
            await lin.update_ticket("t-2", {"status": "solved"})
            await ada.mutate("ticket.merge", {"source_id": "t-2", "target_id": "t-1"})
            await eventually(lambda: _outbox_empty(ada))

            with world.store.connect() as conn:
                source = _ticket(conn, "t-2")
                assert source is not None
                assert source["merged_into"] == "t-1"
                assert source["status"] == "closed"
                thread = _thread(conn, "t-1")
                bodies = [m["body"] for m in thread]
                assert "Help with 2" in bodies
                assert "Checked the courier: lost parcel" in bodies
                # In time order, whichever ticket each came from.
                times = [m["created_at"] for m in thread]
                assert times == sorted(times)
                events = [json.loads(m["body"]) for m in thread if m["kind"] == "event"]
                assert [e["type"] for e in events] == ["changed", "merged_from"]
                assert events[-1]["number"] == 2
                left = _thread(conn, "t-2")
                assert [json.loads(m["body"])["type"] for m in left] == ["merged_into"]
                combined = _draft(conn, "a-ada", "t-1")
                assert combined is not None
                assert combined["body"].startswith("Thanks for waiting")
                assert "Your replacement ships today" in combined["body"]
                assert combined["kind"] == "reply"
                moved = _draft(conn, "a-lin", "t-1")
                assert moved is not None
                assert moved["body"] == "Internal: refund approved"
                assert moved["kind"] == "note"
                assert _draft(conn, "a-ada", "t-2") is None

            lin.start()
            await lin.wait_online(20)
            await eventually(lambda: _outbox_empty(lin))

            async def reply_on_target(engine: SyncEngine) -> bool:
                thread = await engine.read(lambda c: _thread(c, "t-1"))
                return any(m["id"] == reply_id and m["delivery_state"] == "sent" for m in thread)

            await eventually(lambda: reply_on_target(lin))
            await eventually(lambda: reply_on_target(ada))
            with world.store.connect() as conn:
                assert {m["ticket_id"] for m in _thread(conn, "t-1")} == {"t-1"}
                assert reply_id in {m["id"] for m in _thread(conn, "t-1")}

            async def drafts_followed() -> bool:
                mine = await ada.read(lambda c: _draft(c, "a-ada", "t-1"))
                gone = await ada.read(lambda c: _draft(c, "a-ada", "t-2"))
                return mine is not None and "Your replacement" in mine["body"] and gone is None

            await eventually(drafts_followed)
            assert not ada_seen.refused
            # Lin's status change of the merged ticket is refused in plain words; the merged
            # ticket stays closed.
            await eventually(lambda: _has_refusal(lin_seen, "ticket.update"))
            assert [r.message for r in lin_seen.refused] == [
                "ticket #2 was merged into #1; this change was not made: make it on #1"
            ]
            # A channel still naming the merged ticket (and its merged customer) writes into
            # the ticket kept.
            answer = await world.server.writer.submit(
                channel_actor("email"),
                "message.receive",
                {"message": {"id": "m-in", "ticket_id": "t-2", "body": "Any news?"}},
                key="imap:9",
            )
            assert answer["type"] == "ack", answer
            with world.store.connect() as conn:
                source = _ticket(conn, "t-2")
                assert source is not None
                assert source["status"] == "closed"
                assert "m-in" in {m["id"] for m in _thread(conn, "t-1")}

    asyncio.run(scenario())


def test_ticket_split_moves_chosen_messages_and_leaves_drafts(tmp_path: Path) -> None:
    async def scenario() -> None:
        async with served_world(tmp_path) as world:
            ada, ada_seen = await world.workstation("ada@example.com")
            note = await ada.reply("t-1", "Second issue: the invoice address", kind="note")
            await ada.save_draft("t-1", "About your first question")
            await eventually(lambda: _outbox_empty(ada))
            await ada.mutate(
                "ticket.split",
                {
                    "ticket_id": "t-1",
                    "message_ids": [note],
                    "new_ticket_id": "t-split",
                    "subject": "Invoice address",
                },
            )
            await eventually(lambda: _outbox_empty(ada))
            with world.store.connect() as conn:
                new = _ticket(conn, "t-split")
                assert new is not None
                assert new["subject"] == "Invoice address"
                assert new["customer_id"] == "c-2"
                assert new["number"] == 7
                moved = _thread(conn, "t-split")
                assert [m["id"] for m in moved if m["kind"] != "event"] == [note]
                assert [json.loads(m["body"])["type"] for m in moved if m["kind"] == "event"] == [
                    "split_from"
                ]
                kept = _thread(conn, "t-1")
                assert [m["body"] for m in kept if m["kind"] != "event"] == ["Help with 1"]
                last = json.loads(kept[-1]["body"])
                assert last["type"] == "split_into"
                assert last["number"] == 7
                draft = _draft(conn, "a-ada", "t-1")
                assert draft is not None
                assert draft["body"] == "About your first question"

            async def cached() -> bool:
                thread = await ada.read(lambda c: _thread(c, "t-split"))
                return note in {m["id"] for m in thread}

            await eventually(cached)
            assert not ada_seen.refused

    asyncio.run(scenario())


def test_ticket_merge_and_split_refusals_are_plain_and_change_nothing(tmp_path: Path) -> None:
    async def scenario() -> None:
        async with served_world(tmp_path) as world:
            ada, seen = await world.workstation("ada@example.com")
            before = _store_read(world.store, lambda c: (_thread(c, "t-1"), _ticket(c, "t-1")))
            await ada.mutate("ticket.merge", {"source_id": "t-1", "target_id": "t-1"})
            # t-3 is Billing's: Ada cannot see it.
            await ada.mutate("ticket.merge", {"source_id": "t-1", "target_id": "t-3"})
            await ada.mutate(
                "ticket.split",
                {
                    "ticket_id": "t-1",
                    "message_ids": ["m-1"],
                    "new_ticket_id": "t-x",
                    "subject": "Everything",
                },
            )
            await ada.mutate("ticket.merge", {"source_id": "t-2", "target_id": "t-5"})
            await ada.mutate("ticket.merge", {"source_id": "t-1", "target_id": "t-2"})
            await eventually(lambda: _outbox_empty(ada))
            await eventually(lambda: _count(seen, 4))
            messages = [r.message for r in seen.refused]
            assert messages == [
                "a ticket cannot be merged into itself",
                "the chosen ticket does not exist or you cannot see it",
                "at least one message must stay on ticket #1",
                "ticket #2 was itself merged into another ticket; merge into that one instead",
            ]
            assert {r.what for r in seen.refused} == {"Ticket merge", "Ticket split"}
            after = _store_read(world.store, lambda c: (_thread(c, "t-1"), _ticket(c, "t-1")))
            assert after == before

    asyncio.run(scenario())


async def _count(seen: Recorder, n: int) -> bool:
    return len(seen.refused) >= n


def test_what_belongs_to_moved_messages_moves_with_them(tmp_path: Path) -> None:
    """A call entry's call log, a message's files and a note's @mentions follow their message
    into the ticket kept, and so does the time spent on the merged ticket, on the server and
    in a colleague's cache; a customer merge moves the merged customer's call logs and keeps
    a number both had once."""

    async def scenario() -> None:
        async with served_world(tmp_path) as world:
            add_dispositions(world.store)
            ada, _ = await world.workstation("ada@example.com")
            lin, _ = await world.workstation("lin@example.com")
            call = call_args("t-2", customer_id="c-2")
            await ada.mutate("call.log", call)
            photo = tmp_path / "router.png"
            photo.write_bytes(b"\x89PNG not really, but bytes all the same" * 50)
            attached = await ada.attachments.attach_file(photo, "image/png")
            await ada.reply(
                "t-2", "Photo of the router", kind="note", attachments=[attached.as_args()]
            )
            await ada.reply("t-2", "@lin can you check the firmware?", kind="note")
            started = (datetime.now(UTC) - timedelta(hours=1)).isoformat()
            spent = {"id": new_id(), "ticket_id": "t-2", "started_at": started, "duration_s": 600}
            await ada.mutate("time_entry.add", spent)
            await eventually(lambda: _outbox_empty(ada))
            await ada.mutate("ticket.merge", {"source_id": "t-2", "target_id": "t-1"})
            await eventually(lambda: _outbox_empty(ada))

            def where(conn: Connection) -> list[set[str]]:
                return [
                    set(conn.execute(select(table.c.ticket_id)).scalars())
                    for table in (T_CALLS, T_ATTACHMENTS, T_MENTIONS, T_TIME_ENTRIES)
                ]

            with world.store.connect() as conn:
                assert where(conn) == [{"t-1"}] * 4

            async def followed() -> bool:
                return await lin.read(where) == [{"t-1"}] * 4

            await eventually(followed)

            # Customer 2 shares customer 3's landline; merged, the number stays once.
            with world.store.begin() as conn:
                conn.execute(
                    insert(T_IDENTITIES),
                    [
                        {
                            "id": "p-2",
                            "customer_id": "c-2",
                            "kind": "phone",
                            "value": "+442079460018",
                        },
                        {
                            "id": "p-3",
                            "customer_id": "c-3",
                            "kind": "phone",
                            "value": "+442079460018",
                        },
                    ],
                )
            await ada.mutate("customer.merge", {"source_id": "c-2", "target_id": "c-3"})
            await eventually(lambda: _outbox_empty(ada))
            with world.store.connect() as conn:
                assert set(conn.execute(select(T_CALLS.c.customer_id)).scalars()) == {"c-3"}
                phones = conn.execute(
                    select(T_IDENTITIES.c.customer_id).where(T_IDENTITIES.c.kind == "phone")
                ).scalars()
                assert list(phones) == ["c-3"]

    asyncio.run(scenario())


def test_a_reply_written_before_a_merge_brought_customer_messages_is_reviewed(
    tmp_path: Path,
) -> None:
    """Lin merges t-2 (with its customer's message) into t-1 while Ada writes on t-1: Ada's
    reply names the version she saw, before the merge, and comes back for review; a new
    ticket's first note records its @mentions as any note does."""

    async def scenario() -> None:
        async with served_world(tmp_path) as world:
            ada, ada_seen = await world.workstation("ada@example.com")
            lin, _ = await world.workstation("lin@example.com")
            with world.store.connect() as conn:
                before = _ticket(conn, "t-1")
            assert before is not None
            await lin.mutate("ticket.merge", {"source_id": "t-2", "target_id": "t-1"})
            await eventually(lambda: _outbox_empty(lin))
            message = {"id": new_id(), "ticket_id": "t-1", "kind": "reply", "body": "All done"}
            await ada.mutate("message.add", {"message": message, "seen_version": before["version"]})
            await eventually(lambda: _has_refusal(ada_seen, "message.add"))

            ticket = {
                "id": new_id(),
                "subject": "Callback",
                "channel": "phone",
                "group_id": "g-care",
            }
            note = {
                "id": new_id(),
                "ticket_id": ticket["id"],
                "kind": "note",
                "body": "@ada call back",
            }
            await lin.mutate("ticket.create", {"ticket": ticket, "message": note})
            await eventually(lambda: _outbox_empty(lin))
            with world.store.connect() as conn:
                mentioned = conn.execute(select(T_MENTIONS.c.agent_id)).scalars()
                assert list(mentioned) == ["a-ada"]

    asyncio.run(scenario())


def test_a_call_or_time_logged_on_a_merged_ticket_lands_on_the_one_kept(tmp_path: Path) -> None:
    """Ada, offline while Lin merges t-2 into t-1 (and customer 3 into customer 1), logs the
    call she took on t-2 and the time she spent: both land on t-1, for customer 1."""

    async def scenario() -> None:
        async with served_world(tmp_path) as world:
            add_dispositions(world.store)
            ada, ada_seen = await world.workstation("ada@example.com")
            lin, _ = await world.workstation("lin@example.com")
            await ada.stop()
            call = call_args("t-2", customer_id="c-3")
            await ada.mutate("call.log", call)
            started = (datetime.now(UTC) - timedelta(hours=1)).isoformat()
            spent = {"id": new_id(), "ticket_id": "t-2", "started_at": started, "duration_s": 300}
            await ada.mutate("time_entry.add", spent)
            await lin.mutate("ticket.merge", {"source_id": "t-2", "target_id": "t-1"})
            await lin.mutate("customer.merge", {"source_id": "c-3", "target_id": "c-1"})
            await eventually(lambda: _outbox_empty(lin))
            ada.start()
            await ada.wait_online(20)
            await eventually(lambda: _outbox_empty(ada))
            assert not ada_seen.refused
            with world.store.connect() as conn:
                logged = conn.execute(select(T_CALLS)).mappings().one()
                assert (logged["ticket_id"], logged["customer_id"]) == ("t-1", "c-1")
                entry = conn.execute(select(T_TIME_ENTRIES)).mappings().one()
                assert entry["ticket_id"] == "t-1"
                assert call["call"]["id"] in {m["id"] for m in _thread(conn, "t-1")}

    asyncio.run(scenario())
