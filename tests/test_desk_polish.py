"""Polish found by trying the desk as a new agent would, each with real widgets: icons
re-inked on a light/dark switch, a cheat-sheet of primary keys, words in empty views, "Waiting"
only where true, an honest count of waiting changes, the viewing banner offline, and a window
title that names what is open."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from PySide6.QtGui import QAction, QColor, QIcon
from PySide6.QtWidgets import QApplication
from pytestqt.qtbot import QtBot

from app.ui import shortcuts, theme
from app.ui.signin import SignOutDialog


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
