"""Writers that are not workstations go through the one write path (app/server/submit.py).

A channel's actor submits a customer's message; it reaches an agent's open tab live, the
change log names the channel as its writer, a second submission under the same key is
answered and not applied again, and the same mutation sent from a workstation is refused.
Keys are each writer's own (per channel and mutation, however long), and a server bug's
answer is not kept under a key, so the writer's retry after the fix is applied.
"""

from __future__ import annotations

import asyncio
import gc
import hashlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import shiboken6
from PySide6.QtWidgets import QApplication
from sqlalchemy import Engine, func, select, text

from app.domain.mutation import SYSTEM, channel_actor
from app.models.tables import T_LOG, T_MESSAGES, T_SUBMISSION_KEYS, T_TICKETS
from app.server.submit import KEY_LENGTH
from app.ui.conversation import ConversationTabs
from app.ui.conversation.thread import ThreadRole
from app.ui.conversation.view import ConversationView
from tests.test_writer_batches import EXPLODES, refuse_some_messages
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


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Engine]:
    """A seeded store: an SQLite file, or the real PostgreSQL (which enforces column lengths)."""
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'server.db'}"
    else:
        url = request.getfixturevalue("pg_url")
    engine = make_store(url)
    yield engine
    engine.dispose()


def _received(message_id: str, body: str = "Hello again") -> dict[str, Any]:
    return {"message": {"id": message_id, "ticket_id": "t-1", "body": body}}


def _messages(store: Engine, *ids: str) -> set[str]:
    with store.connect() as conn:
        return set(conn.execute(select(T_MESSAGES.c.id).where(T_MESSAGES.c.id.in_(ids))).scalars())


def test_keys_are_each_writers_own_for_each_mutation(store: Engine) -> None:
    """Two channels numbering their messages from 1 do not answer each other's, nor does
    a key of one mutation answer another; a Message-ID longer than the key column works."""
    email, chat = channel_actor("email"), channel_actor("chat")
    long_key = "<" + "x" * KEY_LENGTH + "@mail.example>"

    async def body() -> None:
        async with running_server(store) as server:
            submit = server.writer.submit
            first = await submit(email, "message.receive", _received("m-e1"), key="1")
            other = await submit(chat, "message.receive", _received("m-c1"), key="1")
            system = await submit(SYSTEM, "message.receive", _received("m-s1"), key="1")
            change = {"ticket_id": "t-1", "changes": {"priority": "high"}, "seen_version": 3}
            update = await submit(email, "ticket.update", change, key="1")
            for answer in (first, other, system, update):
                assert (answer["type"], answer.get("replayed")) == ("ack", None), answer
            again = await submit(chat, "message.receive", _received("m-c1"), key="1")
            assert (again["replayed"], again["result"]) == (True, other["result"])

            long = await submit(email, "message.receive", _received("m-e2"), key=long_key)
            assert long["type"] == "ack", long
            long_again = await submit(email, "message.receive", _received("m-e2"), key=long_key)
            assert (long_again["replayed"], long_again["result"]) == (True, long["result"])
            # A sender may pick a Message-ID that spells another key's hash: it is its own.
            lookalike = "sha256:" + hashlib.sha256(long_key.encode()).hexdigest()
            mimic = await submit(email, "message.receive", _received("m-e3"), key=lookalike)
            assert (mimic["type"], mimic.get("replayed")) == ("ack", None), mimic

    asyncio.run(body())
    assert _messages(store, "m-e1", "m-c1", "m-s1", "m-e2", "m-e3") == {
        "m-e1",
        "m-c1",
        "m-s1",
        "m-e2",
        "m-e3",
    }
    with store.connect() as conn:
        keys = list(conn.execute(select(T_SUBMISSION_KEYS.c.key)).scalars())
    assert len(keys) == 6
    assert all(len(key) <= KEY_LENGTH for key in keys)


def test_a_server_bug_is_not_kept_under_a_key_and_the_retry_is_applied(store: Engine) -> None:
    """The store refuses a mail's row (a trigger stands in for a bug): the channel is answered
    internal_error.  Once the bug is fixed, the same mail under the same key is applied,
    and only then is its answer kept."""
    email = channel_actor("email")
    mail = _received("m-bug", body=EXPLODES)

    async def body() -> None:
        async with running_server(store) as server:
            failed = await server.writer.submit(email, "message.receive", mail, key="imap:7")
            assert failed["code"] == "internal_error", failed
            with store.begin() as conn:  # the bug is fixed
                on = "" if conn.dialect.name == "sqlite" else " ON messages"
                conn.execute(text(f"DROP TRIGGER refuse_message{on}"))
            retried = await server.writer.submit(email, "message.receive", mail, key="imap:7")
            assert (retried["type"], retried.get("replayed")) == ("ack", None), retried
            again = await server.writer.submit(email, "message.receive", mail, key="imap:7")
            assert (again["replayed"], again["result"]) == (True, retried["result"])

    refuse_some_messages(store)
    asyncio.run(body())
    assert _messages(store, "m-bug") == {"m-bug"}
