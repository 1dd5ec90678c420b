"""The activity trail: the server writes an event into the ticket's thread for each change of
status, priority, assignee, group and tags, naming who made it (an agent, or the server's
command line) and when; the desk words each as one line; events are not searched and do not
make a reply stale on their own."""

from __future__ import annotations

import asyncio
import gc
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import shiboken6
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QApplication
from sqlalchemy import Engine, select

from app.domain.mutation import COMMAND_LINE
from app.domain.trail import event_id
from app.models.tables import T_MESSAGES, T_TICKETS
from app.sync import queries
from app.ui.conversation import ConversationTabs
from app.ui.conversation.thread import ThreadRole
from app.ui.conversation.trail import sentence
from tests.ui_world import signed_in_bridge, until
from tests.world import eventually, make_store, running_server, served_world


@pytest.fixture(autouse=True)
def _collect_on_the_ui_thread() -> Iterator[None]:
    yield
    gc.collect()


def _events(store: Engine, ticket_id: str) -> list[dict[str, Any]]:
    with store.connect() as conn:
        rows = conn.execute(
            select(T_MESSAGES)
            .where(T_MESSAGES.c.ticket_id == ticket_id, T_MESSAGES.c.kind == "event")
            .order_by(T_MESSAGES.c.created_at, T_MESSAGES.c.id)
        ).mappings()
        return [dict(r) for r in rows]


def _event_lines(tabs: ConversationTabs, ticket_id: str) -> list[str]:
    view = tabs.view(ticket_id)
    assert view is not None
    model = view.thread_view.thread_model
    return [
        str(model.index(r).data(Qt.ItemDataRole.DisplayRole))
        for r in range(model.rowCount())
        if model.index(r).data(ThreadRole.KIND) == "event"
    ]


def test_each_change_leaves_an_event_with_who_and_when_worded_in_the_thread(
    tmp_path: Path, aloop: asyncio.AbstractEventLoop, qtbot: Any
) -> None:
    store = make_store(f"sqlite:///{tmp_path / 'server.db'}")

    async def body() -> None:
        async with running_server(store) as server:
            ada = await signed_in_bridge(tmp_path, server.url, "ada@example.com")
            tabs = ConversationTabs(ada)
            try:
                tabs.resize(900, 700)
                tabs.show()
                tabs.open_ticket("t-1")
                await until(lambda: tabs.view("t-1") is not None)
                engine = ada.engine
                await engine.update_ticket(
                    "t-1",
                    {
                        "priority": "urgent",
                        "status": "pending",
                        "assignee_id": "a-lin",
                        "tags": ["refund"],
                    },
                )
                await until(lambda: len(_event_lines(tabs, "t-1")) == 4)
                lines = _event_lines(tabs, "t-1")
                assert any("Ada changed priority from Normal to Urgent · " in x for x in lines)
                assert any("Ada changed status from Open to Pending" in x for x in lines)
                assert any("Ada changed assignee from Ada to Lin" in x for x in lines)
                assert any("Ada added tag refund" in x for x in lines)
                events = _events(store, "t-1")
                assert {e["author_agent_id"] for e in events} == {"a-ada"}
                assert {e["author_type"] for e in events} == {"agent"}
                with store.connect() as conn:
                    version = conn.execute(
                        select(T_TICKETS.c.version).where(T_TICKETS.c.id == "t-1")
                    ).scalar()
                assert version == 3  # one change, one version: the events ride on it
                first_time = events[0]["created_at"]

                # The server's command line: the trail names it, not an agent.
                answer = await server.writer.submit(
                    COMMAND_LINE,
                    "ticket.update",
                    {"ticket_id": "t-1", "changes": {"group_id": "g-billing"}, "seen_version": 3},
                    key="cli-1",
                )
                assert answer["type"] == "ack", answer
                events = _events(store, "t-1")
                assert len(events) == 5
                last = events[-1]
                assert last["author_type"] == "system"
                assert last["author_agent_id"] is None
                assert json.loads(last["body"])["by"] == "command_line"
                assert last["created_at"] >= first_time
                assert sentence(last["body"], "System") == (
                    "An administrator (server command line) changed group from Care to Billing"
                )
                # Nothing to record, nothing written.
                same = await server.writer.submit(
                    COMMAND_LINE,
                    "ticket.update",
                    {"ticket_id": "t-1", "changes": {"group_id": "g-billing"}, "seen_version": 4},
                    key="cli-2",
                )
                assert same["type"] == "ack"
                assert len(_events(store, "t-1")) == 5
            finally:
                await tabs.close_all()
                app = QApplication.instance()
                assert isinstance(app, QApplication)
                app.setQuitOnLastWindowClosed(False)
                shiboken6.delete(tabs)
                await ada.shutdown()

    aloop.run_until_complete(body())


def test_events_are_not_searched_and_do_not_make_a_reply_stale(
    tmp_path: Path, aloop: asyncio.AbstractEventLoop
) -> None:
    store = make_store(f"sqlite:///{tmp_path / 'server.db'}")

    async def body() -> None:
        async with running_server(store) as server:
            ada = await signed_in_bridge(tmp_path, server.url, "ada@example.com")
            try:
                engine = ada.engine
                await engine.update_ticket("t-1", {"priority": "high"}, seen_version=2)
                # Ada's reply names the version she saw before her own change: her own
                # change (and its event) must not make it stale.
                message_id = await engine.reply("t-1", "On it", seen_version=2)

                async def sent() -> bool:
                    d = await engine.read(lambda c: queries.ticket_detail(c, ticket_id="t-1"))
                    assert d is not None
                    states = {m["id"]: m["delivery_state"] for m in d["messages"]}
                    kinds = [m["kind"] for m in d["messages"]]
                    return states.get(message_id) == "sent" and "event" in kinds

                await eventually(sent)
                hits = (await ada.search.everywhere("priority")).hits
                assert not [h for h in hits if h.kind == "message"]
                hits = (await ada.search.everywhere("On it")).hits
                assert [h for h in hits if h.kind == "message"]
            finally:
                await ada.shutdown()

    aloop.run_until_complete(body())


def test_an_id_taken_by_a_message_never_fails_the_change_it_records(tmp_path: Path) -> None:
    """Event ids are derived from the ticket version they record; an agent who takes one
    for a note of their own cannot make a colleague's change fail."""

    async def scenario() -> None:
        async with served_world(tmp_path) as world:
            ada, seen = await world.workstation("ada@example.com")
            taken = event_id("t-1", 4, "changed", "priority")
            note = {"id": taken, "ticket_id": "t-1", "kind": "note", "body": "mine"}
            await ada.mutate("message.add", {"message": note})  # t-1 version 3
            await ada.update_ticket("t-1", {"priority": "urgent"})  # version 4

            async def recorded() -> bool:
                return len(_events(world.store, "t-1")) == 1

            await eventually(recorded)
            assert _events(world.store, "t-1")[0]["id"] != taken
            with world.store.connect() as conn:
                version = conn.execute(
                    select(T_TICKETS.c.version).where(T_TICKETS.c.id == "t-1")
                ).scalar()
                owner = conn.execute(
                    select(T_MESSAGES.c.body).where(T_MESSAGES.c.id == taken)
                ).scalar()
            assert version == 4  # the version whose event id the note took
            assert owner == "mine"
            assert not seen.refused

    asyncio.run(scenario())
