"""Writers that are not workstations go through the one write path (app/server/submit.py).

A channel's actor submits a customer's message; it reaches an agent's open tab live, the
change log names the channel as its writer, a second submission under the same key is
answered and not applied again, and the same mutation sent from a workstation is refused.
"""

from __future__ import annotations

import asyncio
import gc
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import shiboken6
from PySide6.QtWidgets import QApplication
from sqlalchemy import func, select

from app.domain.mutation import SYSTEM, channel_actor
from app.models.tables import T_LOG, T_MESSAGES, T_TICKETS
from app.ui.conversation import ConversationTabs
from app.ui.conversation.thread import ThreadRole
from app.ui.conversation.view import ConversationView
from tests.ui_world import signed_in_bridge, until
from tests.world import make_store, running_server, workstation


@pytest.fixture(autouse=True)
def _collect_on_the_ui_thread() -> Iterator[None]:
    yield
    gc.collect()


def _bodies(view: ConversationView) -> list[tuple[str, str]]:
    model = view.thread_view.thread_model
    return [
        (model.index(r).data(ThreadRole.AUTHOR_TYPE), model.index(r).data(ThreadRole.BODY))
        for r in range(model.rowCount())
    ]


def test_a_channel_writes_a_customer_message_live_into_an_open_tab(
    tmp_path: Path, aloop: asyncio.AbstractEventLoop, qtbot: Any
) -> None:
    store = make_store(f"sqlite:///{tmp_path / 'server.db'}")
    email = channel_actor("email")
    args = {"message": {"id": "m-in-1", "ticket_id": "t-1", "body": "Still broken, sorry!"}}

    async def body() -> None:
        async with running_server(store) as server:
            ada = await signed_in_bridge(tmp_path, server.url, "ada@example.com")
            tabs = ConversationTabs(ada)
            try:
                tabs.resize(900, 700)
                tabs.show()
                tabs.open_ticket("t-1")
                view = tabs.view("t-1")
                assert view is not None
                await until(lambda: view.conversation is not None)

                answer = await server.writer.submit(email, "message.receive", args, key="imap:1")
                assert answer["type"] == "ack", answer
                await until(lambda: ("customer", "Still broken, sorry!") in _bodies(view))

                again = await server.writer.submit(email, "message.receive", args, key="imap:1")
                assert again["replayed"] is True
                assert again["result"] == answer["result"]
            finally:
                await tabs.close_all()
                app = QApplication.instance()
                assert isinstance(app, QApplication)
                app.setQuitOnLastWindowClosed(False)
                shiboken6.delete(tabs)
                await ada.shutdown()

    aloop.run_until_complete(body())
    with store.connect() as conn:
        count = conn.execute(
            select(func.count()).select_from(T_MESSAGES).where(T_MESSAGES.c.id == "m-in-1")
        ).scalar()
        assert count == 1
        logged = conn.execute(
            select(T_LOG.c.origin, T_LOG.c.actor_id, T_LOG.c.workstation_id).where(
                T_LOG.c.entity == "message", T_LOG.c.entity_id == "m-in-1"
            )
        ).one()
        assert tuple(logged) == ("channel:email", "channel:email", None)
        author = conn.execute(
            select(T_MESSAGES.c.author_type, T_MESSAGES.c.author_customer_id).where(
                T_MESSAGES.c.id == "m-in-1"
            )
        ).one()
        assert tuple(author) == ("customer", "c-2")  # t-1's customer


def test_a_workstation_may_not_submit_a_server_only_mutation(tmp_path: Path) -> None:
    store = make_store(f"sqlite:///{tmp_path / 'server.db'}")
    args = {"message": {"id": "m-forged", "ticket_id": "t-1", "body": "I am the customer"}}

    async def body() -> None:
        async with running_server(store) as server:
            ada, seen = await workstation(tmp_path, server.url, "ada@example.com")
            try:
                await ada.mutate("message.receive", args)
                await ada.wait_drained()
                assert [(r.name, r.code) for r in seen.refused] == [
                    ("message.receive", "forbidden")
                ]
                # The server's own actor may: the declaration, not the wire, decides.
                answer = await server.writer.submit(SYSTEM, "message.receive", args)
                assert answer["type"] == "ack"
            finally:
                await ada.close()

    asyncio.run(body())
    with store.connect() as conn:
        rows = conn.execute(select(T_LOG.c.origin).where(T_LOG.c.entity_id == "m-forged"))
        assert [r.origin for r in rows] == ["system"]


def test_a_customer_writing_again_reopens_a_pending_ticket(tmp_path: Path) -> None:
    store = make_store(f"sqlite:///{tmp_path / 'server.db'}")
    args = {"message": {"id": "m-back", "ticket_id": "t-3", "body": "Here is the photo."}}

    async def body() -> None:
        async with running_server(store) as server:
            answer = await server.writer.submit(channel_actor("chat"), "message.receive", args)
            assert answer["type"] == "ack"
            refused = await server.writer.submit(
                channel_actor("chat"),
                "message.receive",
                {"message": {"id": "m-x", "ticket_id": "t-missing", "body": "hello"}},
            )
            assert refused["code"] == "not_found"

    asyncio.run(body())
    with store.connect() as conn:
        status = conn.execute(select(T_TICKETS.c.status).where(T_TICKETS.c.id == "t-3")).scalar()
        assert status == "open"  # t-3 was pending, waiting on the customer
