"""Merges at the desk, with real widgets against a real server: the customer-360 panel's
"Merge…" (find, compare, confirm; every open panel follows to the record kept), and a
conversation's "Merge into…" and "Split…"."""

from __future__ import annotations

import asyncio
import gc
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import shiboken6
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QApplication, QWidget

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
