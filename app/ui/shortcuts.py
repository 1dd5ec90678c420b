"""Every keyboard shortcut of the workstation, in one table, and the cheat-sheet that shows it.

Widgets bind by name (``bind(widget, "close_tab", slot)``) so that a key is defined once, the
cheat-sheet (F1 or Ctrl+/) can never disagree with what the keys do, and platform conventions
come from ``QKeySequence.StandardKey`` wherever Qt has one (Cmd on macOS, Ctrl elsewhere).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from PySide6.QtCore import Qt
from PySide6.QtGui import QAction, QKeySequence
from PySide6.QtWidgets import (
    QDialog,
    QDialogButtonBox,
    QHeaderView,
    QLabel,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

Key = QKeySequence.StandardKey | str


@dataclass(frozen=True)
class Shortcut:
    name: str
    keys: tuple[Key, ...]  # the first is the one shown in menus and tooltips
    description: str
    area: str  # heading in the cheat-sheet


SHORTCUTS: tuple[Shortcut, ...] = (
    # Everywhere
    Shortcut("search", ("Ctrl+K",), "Search tickets, customers and messages", "Everywhere"),
    Shortcut(
        "cheatsheet",
        (QKeySequence.StandardKey.HelpContents, "Ctrl+/"),
        "Show this list of shortcuts",
        "Everywhere",
    ),
    Shortcut("focus_views", ("Ctrl+1",), "Go to the views", "Everywhere"),
    Shortcut("focus_list", ("Ctrl+2",), "Go to the ticket list", "Everywhere"),
    Shortcut("focus_conversation", ("Ctrl+3",), "Go to the open conversation", "Everywhere"),
    Shortcut("retry_now", ("F5",), "Reconnect to the server now", "Everywhere"),
    Shortcut("quit", (QKeySequence.StandardKey.Quit, "Ctrl+Q"), "Quit Switchboard", "Everywhere"),
    Shortcut("new_ticket", ("Ctrl+N",), "New ticket, on any channel", "Everywhere"),
    Shortcut("new_customer", ("Ctrl+Shift+C",), "Add a new customer", "Everywhere"),
    # Ticket list
    Shortcut("open_ticket", ("Return",), "Open the selected tickets in tabs", "Ticket list"),
    Shortcut("assign_to_me", ("Ctrl+Shift+M",), "Assign the selection to me", "Ticket list"),
    Shortcut("save_filter", ("Ctrl+Shift+F",), "Save a new filter as a view", "Ticket list"),
    # Conversations
    Shortcut(
        "close_tab",
        ("Ctrl+W", QKeySequence.StandardKey.Close),
        "Close the conversation",
        "Conversations",
    ),
    Shortcut(
        "next_tab",
        (QKeySequence.StandardKey.NextChild, "Ctrl+Tab"),
        "Next conversation",
        "Conversations",
    ),
    Shortcut(
        "prev_tab",
        (QKeySequence.StandardKey.PreviousChild, "Ctrl+Shift+Tab"),
        "Previous conversation",
        "Conversations",
    ),
    Shortcut(
        "pop_out", ("Ctrl+Shift+O",), "Open the conversation in its own window", "Conversations"
    ),
    Shortcut("edit_status", ("Alt+S",), "Change the status", "Conversations"),
    Shortcut("edit_priority", ("Alt+P",), "Change the priority", "Conversations"),
    Shortcut("edit_assignee", ("Alt+A",), "Change the assignee", "Conversations"),
    Shortcut("edit_group", ("Alt+G",), "Change the group", "Conversations"),
    Shortcut("edit_tags", ("Alt+T",), "Edit the tags", "Conversations"),
    Shortcut("merge_ticket", ("Ctrl+Shift+G",), "Merge into another ticket", "Conversations"),
    Shortcut(
        "split_ticket",
        ("Ctrl+Shift+X",),
        "Split the selected messages into a new ticket",
        "Conversations",
    ),
    # Composer
    Shortcut("focus_composer", ("Ctrl+R",), "Write a reply", "Composer"),
    Shortcut("send", ("Ctrl+Return",), "Send", "Composer"),
    Shortcut(
        "send_and_solve", ("Ctrl+Shift+Return",), "Send and mark the ticket solved", "Composer"
    ),
    Shortcut(
        "toggle_note",
        ("Ctrl+Shift+N",),
        "Switch between public reply and internal note",
        "Composer",
    ),
    Shortcut("canned", ("Ctrl+.",), "Insert a canned response (or type / first)", "Composer"),
    Shortcut(
        "attach_file",
        ("Ctrl+Shift+A",),
        "Attach files (or paste a screenshot, or drop files on the conversation)",
        "Composer",
    ),
)

SHORTCUTS += (
    # The phone desk (app/ui/phone/)
    Shortcut("log_call", ("Ctrl+Shift+L",), "Log a call (its timer starts)", "Phone"),
    Shortcut("end_call", ("Ctrl+Shift+E",), "End the call (its timer stops)", "Phone"),
    Shortcut("save_call", ("Ctrl+Return",), "Save the call log", "Phone"),
    # Time tracking (app/ui/timetrack/)
    Shortcut("stopwatch", ("Ctrl+Shift+S",), "Start or pause the stopwatch on this ticket", "Time"),
    Shortcut("stopwatch_stop", ("Ctrl+Shift+D",), "Stop the stopwatch and log its time", "Time"),
    Shortcut("log_time", ("Ctrl+Shift+T",), "Log time on this ticket", "Time"),
    Shortcut("edit_time_entry", ("Return",), "Change the selected time entry", "Time"),
    Shortcut("delete_time_entry", ("Delete",), "Delete the selected time entry", "Time"),
)

_BY_NAME = {s.name: s for s in SHORTCUTS}


def sequences(name: str) -> list[QKeySequence]:
    """The key sequences of shortcut ``name``, standard keys expanded for this platform."""
    result: list[QKeySequence] = []
    for key in _BY_NAME[name].keys:
        if isinstance(key, QKeySequence.StandardKey):
            result.extend(QKeySequence.keyBindings(key))
        else:
            result.append(QKeySequence(key))
    seen: set[str] = set()
    unique = []
    for seq in result:
        text = seq.toString()
        if text and text not in seen:
            seen.add(text)
            unique.append(seq)
    return unique


def label(name: str) -> str:
    """The first key of ``name`` as the platform shows it ("Ctrl+W", "⌘W")."""
    seqs = sequences(name)
    return seqs[0].toString(QKeySequence.SequenceFormat.NativeText) if seqs else ""


def bind(
    widget: QWidget,
    name: str,
    slot: Callable[[], object],
    context: Qt.ShortcutContext = Qt.ShortcutContext.WindowShortcut,
) -> QAction:
    """Make shortcut ``name`` call ``slot`` while ``widget``'s window (or ``context``) has focus."""
    shortcut = _BY_NAME[name]
    action = QAction(shortcut.description, widget)
    action.setObjectName(f"action_{name}")
    action.setShortcuts(sequences(name))
    action.setShortcutContext(context)
    action.triggered.connect(lambda _checked=False: slot())
    widget.addAction(action)
    return action


class CheatSheet(QDialog):
    """Every shortcut, grouped by where it works; opened with F1 or Ctrl+/."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Keyboard shortcuts")
        self.setAccessibleName("Keyboard shortcuts")
        self.resize(560, 640)
        layout = QVBoxLayout(self)
        intro = QLabel("Everything Switchboard does can be done from the keyboard.")
        intro.setWordWrap(True)
        layout.addWidget(intro)
        table = QTableWidget(0, 2, self)
        table.setAccessibleName("Shortcut list")
        table.setHorizontalHeaderLabels(["Keys", "Action"])
        table.verticalHeader().setVisible(False)
        table.setEditTriggers(QTableWidget.EditTrigger.NoEditTriggers)
        table.setSelectionBehavior(QTableWidget.SelectionBehavior.SelectRows)
        table.horizontalHeader().setSectionResizeMode(0, QHeaderView.ResizeMode.ResizeToContents)
        table.horizontalHeader().setStretchLastSection(True)
        area = None
        for shortcut in SHORTCUTS:
            if shortcut.area != area:
                area = shortcut.area
                row = table.rowCount()
                table.insertRow(row)
                heading = QTableWidgetItem(area)
                font = heading.font()
                font.setBold(True)
                heading.setFont(font)
                table.setItem(row, 0, heading)
                table.setSpan(row, 0, 1, 2)
            row = table.rowCount()
            table.insertRow(row)
            # The primary key only: the one menus and tooltips show.  Qt's alternates for a
            # standard key (Ctrl+F4 besides Ctrl+W, Forward besides Ctrl+Tab) still work, but
            # listed they make a cheat-sheet to learn from a list to wade through.
            table.setItem(row, 0, QTableWidgetItem(label(shortcut.name)))
            table.setItem(row, 1, QTableWidgetItem(shortcut.description))
        layout.addWidget(table)
        self.table = table
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close, self)
        buttons.rejected.connect(self.reject)
        layout.addWidget(buttons)
