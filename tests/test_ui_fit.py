"""The desk fits the screen it is on (defect 3): at 1280x720 the status bar, the composer with
Send and the customer panel are inside the window, the tags stay readable and no column
header is cut to a fragment.  Real widgets over a real server."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

from PySide6.QtCore import QByteArray, QRect, QSettings, QSize
from PySide6.QtWidgets import QWidget

from app.sync.desk_types import TicketColumn
from app.ui.desk.ticket_list import COLUMNS
from app.ui.desk.widths import SUBJECT_MIN, first_size
from app.ui.desk.window import DeskWindow
from tests.ui_world import (
    collect_garbage_on_the_ui_thread,  # noqa: F401 (autouse)
    signed_in_bridges,
    until,
)
from tests.world import make_store, running_server


def settings_at(tmp: Path, name: str) -> QSettings:
    return QSettings(str(tmp / f"{name}.ini"), QSettings.Format.IniFormat)


def inside(widget: QWidget, window: QWidget) -> bool:
    """Whether all of ``widget`` is shown within ``window``'s client area."""
    top_left = widget.mapTo(window, widget.rect().topLeft())
    rect = QRect(top_left, widget.size())
    return widget.isVisibleTo(window) and not rect.isEmpty() and window.rect().contains(rect)


async def shown_desk(bridge: Any, settings: QSettings, qtbot: Any) -> DeskWindow:
    window = DeskWindow(bridge, settings, "account")
    qtbot.addWidget(window)
    await window.load()
    window.show()
    await until(lambda: window.ticket_model.rowCount() > 0)
    return window


def on_screen(window: DeskWindow) -> bool:
    room = window.screen().availableGeometry()
    return room.contains(window.frameGeometry())


def test_the_desk_opens_within_its_screen_even_from_a_larger_saved_layout(
    tmp_path: Path, aloop: asyncio.AbstractEventLoop, qtbot: Any
) -> None:
    store = make_store(f"sqlite:///{tmp_path / 'server.db'}")

    async def body() -> None:
        async with (
            running_server(store) as server,
            signed_in_bridges(tmp_path, server.url, "ada@example.com") as (ada,),
        ):
            # A first start: the screen's room, title bar and frame included.
            first = await shown_desk(ada, settings_at(tmp_path, "first"), qtbot)
            await until(lambda: on_screen(first), 3)
            first.hide()

            # A layout saved on a screen larger than this one (1920x1200 at 300, 200).
            big = settings_at(tmp_path, "big")
            probe = QWidget()
            qtbot.addWidget(probe)
            probe.setGeometry(300, 200, 1900, 1150)
            geometry = probe.saveGeometry()
            assert isinstance(geometry, QByteArray)
            big.setValue("window/geometry", geometry)
            again = await shown_desk(ada, big, qtbot)
            await until(lambda: on_screen(again), 3)

    aloop.run_until_complete(body())


def test_at_1280x720_everything_the_agent_works_with_is_visible(
    tmp_path: Path, aloop: asyncio.AbstractEventLoop, qtbot: Any
) -> None:
    store = make_store(f"sqlite:///{tmp_path / 'server.db'}")

    async def body() -> None:
        async with (
            running_server(store) as server,
            signed_in_bridges(tmp_path, server.url, "ada@example.com") as (ada,),
        ):
            window = await shown_desk(ada, settings_at(tmp_path, "laptop"), qtbot)
            # The room a 1280x720 laptop gives, less a title bar of 30 px.
            size = first_size(QSize(1280, 720)) - QSize(0, 30)
            assert window.minimumSizeHint().boundedTo(size) == window.minimumSizeHint()
            window.resize(size)
            window.open_ticket("t-1")
            view = window.tabs.view("t-1")
            assert view is not None
            await until(lambda: view.conversation is not None)
            assert window.minimumSizeHint().boundedTo(size) == window.minimumSizeHint()
            await until(lambda: window.size() == size, 3)

            def hidden() -> list[str]:
                widgets = {
                    "status bar": window.statusBar(),
                    "customer panel": window.customer,
                    "composer": view.composer.editor,
                    "Send": view.composer.send_button,
                    "tags": view.properties.tags,
                }
                return [name for name, w in widgets.items() if not inside(w, window)]

            await until(lambda: not hidden(), 3)
            tags = view.properties.tags
            assert tags.width() >= tags.fontMetrics().horizontalAdvance("x" * 20)
            # Every header shows its whole title (and the sort arrow), never "ubjec".
            header = window.ticket_table.horizontalHeader()
            for i, column in enumerate(COLUMNS):
                if not header.isSectionHidden(i):
                    need = header.sectionSizeFromContents(i).width()
                    assert header.sectionSize(i) >= need, (column, header.sectionSize(i), need)
            assert window.ticket_table.horizontalScrollBar().maximum() == 0

            # Narrower still (the customer panel widened): the tags take a row of their own
            # rather than shrink to a fragment.
            window.main.setSizes([200, 560, 520])
            await until(lambda: view.properties.tags_wrapped, 3)
            assert tags.width() >= tags.fontMetrics().horizontalAdvance("x" * 20)

            # A call log docked beside it all: the subject keeps its least and the list
            # scrolls sideways, every header still whole.
            window.main.setSizes([160, 700, 300])
            window.phone.log_call()
            await until(lambda: window.phone.dock.isVisible(), 3)
            subject = COLUMNS.index(TicketColumn.SUBJECT)

            def headers_whole() -> bool:
                return all(
                    header.sectionSize(i) >= header.sectionSizeFromContents(i).width()
                    for i in range(len(COLUMNS))
                    if not header.isSectionHidden(i)
                )

            await until(lambda: header.sectionSize(subject) >= SUBJECT_MIN and headers_whole(), 3)
            window.phone.panel.discard()

    aloop.run_until_complete(body())
