"""Polish found by trying the desk as a new agent would, each with real widgets: icons
re-inked on a light/dark switch, a cheat-sheet of primary keys, words in empty views, "Waiting"
only where true, an honest count of waiting changes, the viewing banner offline, and a window
title that names what is open."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path

import pytest
from PySide6.QtCore import QSettings
from PySide6.QtGui import QAction, QColor, QIcon
from PySide6.QtWidgets import QApplication, QWidget
from pytestqt.qtbot import QtBot

from app.server.app import SwitchboardServer
from app.sync import queries
from app.sync.desk_types import TicketColumn, ViewSpec
from app.ui import shortcuts, theme
from app.ui.bridge import Bridge
from app.ui.conversation.collision import CollisionBanner
from app.ui.desk.ticket_list import COLUMNS, TicketListModel
from app.ui.desk.window import DeskWindow
from app.ui.signin import SignOutDialog
from app.ui.statusbar import DeskStatusBar, PresenceChoice
from tests.ui_world import (
    collect_garbage_on_the_ui_thread,  # noqa: F401 (autouse)
    signed_in_bridge,
    signed_in_bridges,
    until,
)
from tests.world import make_store, running_server


def inks(icon: QIcon) -> set[str]:
    """The icon's opaque colours that are one of the two inks."""
    image = icon.pixmap(32, 32).toImage()
    found = set()
    for x in range(image.width()):
        for y in range(image.height()):
            color = QColor(image.pixel(x, y))
            if image.pixelColor(x, y).alpha() == 255:
                found.add(color.name())
    return found & {theme.INK, theme.INK_ON_DARK}


@pytest.fixture
def look(qapp: QApplication) -> Iterator[QApplication]:
    before = (qapp.palette(), qapp.styleSheet(), qapp.style().objectName())
    theme.apply_theme(qapp, "light")
    try:
        yield qapp
    finally:
        theme.apply_theme(qapp, "light")
        qapp.setPalette(before[0])
        qapp.setStyleSheet(before[1])
        qapp.setStyle(before[2] or "Fusion")


def test_icons_given_once_are_reinked_when_the_look_switches(
    look: QApplication, qtbot: QtBot
) -> None:
    dialog = SignOutDialog("ada@example.com", 0)
    qtbot.addWidget(dialog)
    action = QAction("Copy", dialog)
    theme.set_icon(action, "copy")
    assert inks(dialog.sign_out_button.icon()) == {theme.INK}
    assert inks(action.icon()) == {theme.INK}

    gone = QAction("Gone")
    theme.set_icon(gone, "copy")
    gone.deleteLater()
    QApplication.sendPostedEvents(None, 0)  # a deleted one is forgotten, not re-inked

    theme.apply_theme(look, "dark")
    assert inks(dialog.sign_out_button.icon()) == {theme.INK_ON_DARK}
    assert inks(action.icon()) == {theme.INK_ON_DARK}
    theme.apply_theme(look, "light")
    assert inks(dialog.sign_out_button.icon()) == {theme.INK}
    assert inks(action.icon()) == {theme.INK}


def test_the_cheat_sheet_lists_the_primary_key_of_each_action_only(qtbot: QtBot) -> None:
    sheet = shortcuts.CheatSheet()
    qtbot.addWidget(sheet)
    listed: dict[str, str] = {}
    for row in range(sheet.table.rowCount()):
        keys, action = sheet.table.item(row, 0), sheet.table.item(row, 1)
        if keys is not None and action is not None:
            listed[action.text()] = keys.text()
    assert set(listed) == {s.description for s in shortcuts.SHORTCUTS}
    for shortcut in shortcuts.SHORTCUTS:
        assert listed[shortcut.description] == shortcuts.label(shortcut.name)
        assert "," not in listed[shortcut.description]
    # Standard keys with alternates in Qt: one key each, the one the menus show.
    assert listed["Close the conversation"] == "Ctrl+W"
    assert listed["Next conversation"] == "Ctrl+Tab"
    assert listed["Quit Switchboard"] == "Ctrl+Q"
    # Every key still works: the alternates stay bound.
    assert len(shortcuts.sequences("close_tab")) > 1


def test_no_two_actions_share_a_key(qtbot: QtBot) -> None:
    """Features added side by side each took a free-looking key (Ctrl+Shift+A for a new
    customer and for attaching files): one key, one action, except where the two actions
    live in widgets that never hold focus together (Send in the composer, Save in the call log;
    Enter on the ticket list and on the list of time entries)."""
    apart = {frozenset({"send", "save_call"}), frozenset({"open_ticket", "edit_time_entry"})}
    owners: dict[str, list[str]] = {}
    for shortcut in shortcuts.SHORTCUTS:
        for sequence in shortcuts.sequences(shortcut.name):
            owners.setdefault(sequence.toString(), []).append(shortcut.name)
    shared = {
        key: names
        for key, names in owners.items()
        if len(names) > 1 and frozenset(names) not in apart
    }
    assert not shared


# ---- the desk against a real server ----------------------------------------------------------


async def _desk(bridge: Bridge, tmp: Path, qtbot: QtBot) -> DeskWindow:
    settings = QSettings(str(tmp / "desk.ini"), QSettings.Format.IniFormat)
    window = DeskWindow(bridge, settings, "account")
    qtbot.addWidget(window)
    await window.load()
    window.show()
    return window


def _painted_colours(widget: QWidget) -> set[str]:
    image = widget.grab().toImage()
    step = 4
    return {
        image.pixelColor(x, y).name()
        for x in range(0, image.width(), step)
        for y in range(0, image.height(), step)
    }


def test_an_empty_view_says_why_and_what_comes_next(
    tmp_path: Path, aloop: asyncio.AbstractEventLoop, qtbot: QtBot
) -> None:
    store = make_store(f"sqlite:///{tmp_path / 'server.db'}")

    async def body() -> None:
        async with (
            running_server(store) as server,
            signed_in_bridges(tmp_path, server.url, "ada@example.com") as (ada,),
        ):
            window = await _desk(ada, tmp_path, qtbot)
            table = window.ticket_table
            await until(lambda: window.ticket_model.spec is not None)
            assert window.views.select("pending")  # nothing of Ada's waits on a customer
            await until(lambda: table.empty_text() != "")
            assert "No tickets of yours are waiting on a customer" in table.empty_text()
            assert window.ticket_model.rowCount() == 0
            # Words are painted, not an empty box of the base colour.
            assert len(_painted_colours(table.viewport())) > 1

            # A queue: named, and what happens next.
            empty_queue = ViewSpec("group:g-none", "Billing queue", group_ids=("g-none",))
            await window.ticket_model.show_view(empty_queue)
            assert table.empty_text() == (
                "No tickets waiting in Billing. New ones appear here as they arrive."
            )
            # The agent's own filter: says it is the filter, and what it asks for.
            mine = ViewSpec("saved:x", "VIP calls", channels=("phone",), tags=("vip",), saved=True)
            await window.ticket_model.show_view(mine)
            text = table.empty_text()
            assert text.startswith("No tickets match the filter “VIP calls”")
            assert "channel Phone" in text
            assert "tagged vip" in text
            assert "Edit filter" in text
            # A view with tickets says nothing over them.
            assert window.views.select("mine")
            await until(lambda: window.ticket_model.rowCount() > 0)
            assert table.empty_text() == ""

    aloop.run_until_complete(body())


def test_waiting_is_shown_only_while_the_customer_waits_on_the_agents(
    tmp_path: Path, aloop: asyncio.AbstractEventLoop, qtbot: QtBot
) -> None:
    store = make_store(f"sqlite:///{tmp_path / 'server.db'}")

    async def body() -> None:
        async with (
            running_server(store) as server,
            signed_in_bridges(tmp_path, server.url, "ada@example.com") as (ada,),
        ):
            model = TicketListModel(ada)
            everything = ViewSpec("all", "All")
            await model.show_view(everything)
            await until(lambda: model.rowCount() > 0 and model.ticket_by_id("t-1") is not None)
            waiting = COLUMNS.index(TicketColumn.WAITING)

            def waiting_text(ticket_id: str) -> str:
                row = model.row_of(ticket_id)
                assert row is not None
                return str(model.data(model.index(row, waiting)) or "")

            # The customer wrote last on both; t-1 is open, t-5 solved.
            await until(lambda: waiting_text("t-1") != "")
            assert waiting_text("t-5") == ""
            await ada.engine.update_ticket("t-1", {"status": "solved"})
            await ada.engine.wait_drained()
            await model.show_view(everything)
            await until(lambda: model.ticket_by_id("t-1") is not None)
            await until(lambda: waiting_text("t-1") == "")
            await ada.engine.update_ticket("t-1", {"status": "pending"})
            await model.show_view(everything)
            await until(lambda: model.ticket_by_id("t-1") is not None)
            assert waiting_text("t-1") == ""  # pending: it waits on the customer

    aloop.run_until_complete(body())


def test_the_status_bar_counts_the_changes_the_agent_made(
    tmp_path: Path, aloop: asyncio.AbstractEventLoop, qtbot: QtBot
) -> None:
    async def body() -> None:
        store = make_store(f"sqlite:///{tmp_path / 'server.db'}")
        server = SwitchboardServer(store)
        await server.start("127.0.0.1", 0)
        bridge = await signed_in_bridge(tmp_path, server.url, "ada@example.com")
        settings = QSettings(str(tmp_path / "s.ini"), QSettings.Format.IniFormat)
        bar = DeskStatusBar(bridge, PresenceChoice(bridge, settings))
        qtbot.addWidget(bar)
        await server.stop()
        await until(lambda: bar.text().startswith("Reconnecting in "))
        # Two replies, typed as an agent types them: each saved as a draft, then sent.
        for ticket_id in ("t-1", "t-2"):
            await bridge.engine.save_draft(ticket_id, "We are on it")
            await bridge.engine.reply(ticket_id, "We are on it")
        assert (await bridge.engine.read(queries.sync_status))["outbox"] > 2
        await until(lambda: "Offline — 2 changes waiting to send" in bar.text())
        await bridge.shutdown()
        store.dispose()

    aloop.run_until_complete(body())


def test_the_viewing_banner_goes_while_offline(
    tmp_path: Path, aloop: asyncio.AbstractEventLoop, qtbot: QtBot
) -> None:
    async def body() -> None:
        store = make_store(f"sqlite:///{tmp_path / 'server.db'}")
        server = SwitchboardServer(store)
        await server.start("127.0.0.1", 0)
        port = server.port
        ada = await signed_in_bridge(tmp_path, server.url, "ada@example.com")
        lin = await signed_in_bridge(tmp_path, server.url, "lin@example.com")
        banner = CollisionBanner(ada, "t-1")
        qtbot.addWidget(banner)
        await lin.engine.set_viewing("t-1", typing=False)
        await until(lambda: banner.text() == "Lin is viewing")
        assert not banner.isHidden()

        await server.stop()
        await until(lambda: not ada.online)
        await until(lambda: banner.isHidden())
        assert banner.text() == ""

        server = SwitchboardServer(store)
        await server.start("127.0.0.1", port)
        ada.engine.retry_now()
        lin.engine.retry_now()
        await until(lambda: ada.online and lin.online, 20)
        await lin.engine.set_viewing("t-1", typing=True)
        await until(lambda: banner.text() == "Lin is typing a reply…", 20)
        assert not banner.isHidden()
        await lin.shutdown()
        await ada.shutdown()
        await server.stop()
        store.dispose()

    aloop.run_until_complete(body())


def test_the_window_title_names_the_open_ticket_or_view(
    tmp_path: Path, aloop: asyncio.AbstractEventLoop, qtbot: QtBot
) -> None:
    store = make_store(f"sqlite:///{tmp_path / 'server.db'}")

    async def body() -> None:
        async with (
            running_server(store) as server,
            signed_in_bridges(tmp_path, server.url, "ada@example.com") as (ada,),
        ):
            window = await _desk(ada, tmp_path, qtbot)
            assert window.views.select("mine")
            await until(lambda: window.windowTitle() == "My open tickets — Switchboard")
            window.open_ticket("t-1")
            await until(lambda: window.windowTitle() == "#1 Ticket 1 — Switchboard")
            await ada.engine.update_ticket("t-1", {"subject": "Printer jams"})
            await until(lambda: window.windowTitle() == "#1 Printer jams — Switchboard")
            window._unread_changed(3)  # as the tray reports notifications not yet read
            assert window.windowTitle() == "(3) #1 Printer jams — Switchboard"
            window._unread_changed(0)
            assert window.views.select("pending")
            assert window.windowTitle() == "#1 Printer jams — Switchboard"  # the ticket first
            await window.tabs.close_all()
            await until(lambda: window.windowTitle() == "Pending — Switchboard")

    aloop.run_until_complete(body())
