"""Merges at the desk, with real widgets against a real server: the customer-360 panel's
"Merge…" (find, compare, confirm; every open panel follows to the record kept), and a
conversation's "Merge into…" and "Split…"."""

from __future__ import annotations

import asyncio
import gc
from collections.abc import Iterator
from functools import partial
from pathlib import Path
from typing import Any

import pytest
import shiboken6
from PySide6.QtCore import QItemSelectionModel, Qt
from PySide6.QtWidgets import QApplication, QWidget

from app.ui.conversation import ConversationTabs
from app.ui.conversation.thread import ThreadRole
from app.ui.conversation.view import ConversationView
from app.ui.customer import CustomerPanel
from app.ui.customer.merge import CustomerMergeDialog
from tests.ui_world import signed_in_bridges, until
from tests.world import make_store, running_server


@pytest.fixture(autouse=True)
def _collect_on_the_ui_thread() -> Iterator[None]:
    yield
    gc.collect()


def _dispose(*widgets: QWidget) -> None:
    app = QApplication.instance()
    assert isinstance(app, QApplication)
    app.setQuitOnLastWindowClosed(False)
    for widget in widgets:
        shiboken6.delete(widget)


def _emails(panel: CustomerPanel) -> set[str]:
    card = panel.card
    return set() if card is None else {value for _kind, value in card.identities}


def test_customer_merge_from_the_panel_every_open_panel_follows(
    tmp_path: Path, aloop: asyncio.AbstractEventLoop, qtbot: Any
) -> None:
    store = make_store(f"sqlite:///{tmp_path / 'server.db'}")

    async def body() -> None:
        async with (
            running_server(store) as server,
            signed_in_bridges(tmp_path, server.url, "ada@example.com", "lin@example.com") as (
                ada,
                lin,
            ),
        ):
            panels = [CustomerPanel(ada), CustomerPanel(lin)]
            try:
                for panel in panels:
                    panel.resize(320, 700)
                    panel.show()
                    panel.show_customer("c-3")
                await until(lambda: all(p.card is not None for p in panels))
                mine = panels[0]
                assert mine.merge_button.isVisible()
                mine.merge_button.click()
                dialogs = mine.findChildren(CustomerMergeDialog)
                assert len(dialogs) == 1
                dialog = dialogs[0]
                assert not dialog.merge_button.isEnabled()  # nothing chosen yet
                qtbot.keyClicks(dialog.query, "customer2")
                await until(lambda: dialog.results.count() == 1)
                assert "Customer 2" in dialog.results.item(0).text()
                dialog.query.setFocus()
                qtbot.keyClick(dialog.query, Qt.Key.Key_Return)
                await until(lambda: dialog.other is not None)
                assert dialog.other is not None
                assert dialog.other.id == "c-2"
                # Side by side; the current record has more tickets here, so it is kept
                # unless the agent says otherwise.
                assert "Customer 3" in dialog.left.details.text()
                assert "customer2@mail.test" in dialog.right.details.text()
                assert dialog.merge_button.text() == "Merge into Customer 3"
                dialog.right.keep.click()
                assert dialog.merge_button.text() == "Merge into Customer 2"
                assert dialog.right.fate.text() == "Kept"
                assert dialog.left.fate.text() == "Merged into Customer 2"
                summary = dialog.summary.text()
                assert summary.startswith("Customer 2 is kept. Customer 3's 1 email address")
                assert "cannot be undone" in summary
                dialog.merge_button.click()
                # Both workstations' panels follow to the record kept, with both emails.
                want = {"customer2@mail.test", "customer3@mail.test"}
                await until(lambda: all(_emails(p) == want for p in panels), timeout=15)
                for panel in panels:
                    assert panel.customer_id == "c-2"
                    assert panel.name_label.text() == "Customer 2"
                # The merged record is no longer found.
                hits = (await ada.search.everywhere("customer3")).hits
                assert [h.customer_id for h in hits if h.kind == "customer"] == ["c-2"]
            finally:
                _dispose(*panels)

    aloop.run_until_complete(body())


def _thread_lines(view: ConversationView) -> list[str]:
    model = view.thread_view.thread_model
    return [str(model.index(r).data(Qt.ItemDataRole.DisplayRole)) for r in range(model.rowCount())]


def test_ticket_merge_and_split_from_the_conversation(
    tmp_path: Path, aloop: asyncio.AbstractEventLoop, qtbot: Any
) -> None:
    store = make_store(f"sqlite:///{tmp_path / 'server.db'}")

    async def body() -> None:
        async with (
            running_server(store) as server,
            signed_in_bridges(tmp_path, server.url, "ada@example.com") as (ada,),
        ):
            tabs = ConversationTabs(ada)
            try:
                tabs.resize(1000, 700)
                tabs.show()
                await ada.engine.save_draft("t-2", "Your parcel is on its way")
                await ada.engine.save_draft("t-1", "Thanks for waiting")
                for ticket_id in ("t-1", "t-2"):
                    tabs.open_ticket(ticket_id)
                    await until(partial(_loaded, tabs, ticket_id))
                source = tabs.view("t-2")
                assert source is not None
                actions = source.ticket_actions
                assert actions.merge_action.shortcuts()[0].toString() == "Ctrl+Shift+G"
                dialog = actions.merge()
                assert dialog is not None
                qtbot.keyClicks(dialog.query, "#2")  # itself: never offered
                await asyncio.sleep(0.4)
                assert dialog.results.count() == 0
                dialog.query.clear()
                qtbot.keyClicks(dialog.query, "#1")
                await until(lambda: dialog.results.count() == 1)
                qtbot.keyClick(dialog.query, Qt.Key.Key_Return)
                await until(lambda: dialog.target is not None)
                assert dialog.merge_button.text() == "Merge into #1"
                assert "The 1 messages of #2 Ticket 2" in dialog.summary.text()
                dialog.merge_button.click()
                # The merged ticket says where its conversation went, and opens it.
                await until(lambda: actions.banner.isVisible(), timeout=15)
                assert actions.banner_label.text() == (
                    "This ticket was merged into #1 Ticket 1; its conversation continues there."
                )
                assert not actions.merge_action.isEnabled()
                target = tabs.view("t-1")
                assert target is not None
                await until(lambda: any("Help with 2" in line for line in _thread_lines(target)))
                await until(
                    lambda: any(
                        "Ada merged #2 into this ticket (1 message)" in line
                        for line in _thread_lines(target)
                    )
                )
                assert any(
                    "Ada merged this ticket into #1" in line for line in _thread_lines(source)
                )

                async def drafts_kept() -> bool:
                    conversation = await ada.conversations.conversation("t-1")
                    draft = conversation.draft if conversation else None
                    return draft is not None and "Your parcel is on its way" in draft.body

                await until_async(drafts_kept)
                actions.open_button.click()
                assert tabs.currentWidget() is target

                # Split: the message selected in the thread is ticked; the subject confirmed.
                model = target.thread_view.thread_model
                row = next(
                    r for r in range(model.rowCount())
                    if model.index(r).data(ThreadRole.BODY) == "Help with 2"
                )  # fmt: skip
                target.thread_view.selectionModel().select(
                    model.index(row), QItemSelectionModel.SelectionFlag.ClearAndSelect
                )
                split = target.ticket_actions.split()
                assert split is not None
                assert len(split.ticked()) == 1
                split.subject.setText("Parcel lost in transit")
                assert split.split_button.text() == "Move 1 message to a new ticket"
                split.split_button.click()
                await until(
                    lambda: any(
                        "Ada split 1 message off into #7" in line for line in _thread_lines(target)
                    ),
                    timeout=15,
                )
                assert not any("Help with 2" in line for line in _thread_lines(target))
                new = await ada.conversations.conversation(split.new_ticket_id)
                assert new is not None
                assert new.ticket.subject == "Parcel lost in transit"
                assert [m.body for m in new.messages if m.kind != "event"] == ["Help with 2"]
                kept = await ada.conversations.conversation("t-1")
                assert kept is not None
                assert kept.draft is not None
                assert "Thanks for waiting" in kept.draft.body  # drafts stay where they are
            finally:
                await tabs.close_all()
                _dispose(tabs)

    aloop.run_until_complete(body())


def _loaded(tabs: ConversationTabs, ticket_id: str) -> bool:
    view = tabs.view(ticket_id)
    return view is not None and view.conversation is not None


async def until_async(check: Any, timeout: float = 10.0) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not await check():
        if loop.time() > deadline:
            raise AssertionError("condition not met in time")
        await asyncio.sleep(0.02)
