""" "My time": the agent's own time today and this week, per ticket, and their stopwatches
(running or paused, open tab or not), each a keypress away from its ticket."""

from __future__ import annotations

from datetime import datetime

from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QPalette
from PySide6.QtWidgets import (
    QAbstractItemView,
    QDialog,
    QDialogButtonBox,
    QHeaderView,
    QLabel,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from app.sync.desk.time_entries import MyTime
from app.time_tracking import clock_text, format_duration
from app.ui.timetrack.stopwatch import Stopwatch

WATCH_ROWS_SHOWN = 4


class MyTimeDialog(QDialog):
    """The agent's time; Enter or a double-click on a row opens its ticket.

    Signals: ``openTicket(str)`` — the agent chose a ticket.
    """

    openTicket = Signal(str)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("My time")
        self.setAccessibleName("My time")
        self.resize(560, 460)
        layout = QVBoxLayout(self)
        self.summary = QLabel("Reading your time…", self)
        self.summary.setTextFormat(Qt.TextFormat.PlainText)
        self.summary.setAccessibleName("My time today and this week")
        font = self.summary.font()
        font.setBold(True)
        self.summary.setFont(font)
        layout.addWidget(self.summary)

        layout.addWidget(QLabel("Stopwatches", self))
        self.watches = self._table(["Ticket", "Time", "State"], "My stopwatches")
        rows = self.watches.verticalHeader().defaultSectionSize() * WATCH_ROWS_SHOWN
        self.watches.setMaximumHeight(
            rows + self.watches.horizontalHeader().sizeHint().height() + 4
        )
        layout.addWidget(self.watches)
        layout.addWidget(QLabel("This week, per ticket", self))
        self.tickets = self._table(["Ticket", "Today", "This week"], "My time per ticket")
        layout.addWidget(self.tickets, 1)
        hint = QLabel("Enter or a double-click opens the ticket.", self)
        hint.setForegroundRole(QPalette.ColorRole.PlaceholderText)
        layout.addWidget(hint)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close, self)
        buttons.rejected.connect(self.reject)
        layout.addWidget(buttons)

    def _table(self, headers: list[str], name: str) -> QTableWidget:
        table = QTableWidget(0, len(headers), self)
        table.setAccessibleName(name)
        table.setHorizontalHeaderLabels(headers)
        table.verticalHeader().setVisible(False)
        table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        table.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        header = table.horizontalHeader()
        header.setSectionResizeMode(0, QHeaderView.ResizeMode.Stretch)
        for column in range(1, len(headers)):
            header.setSectionResizeMode(column, QHeaderView.ResizeMode.ResizeToContents)
        table.cellActivated.connect(lambda row, _c: self._open(table, row))
        table.cellDoubleClicked.connect(lambda row, _c: self._open(table, row))
        return table

    def _open(self, table: QTableWidget, row: int) -> None:
        item = table.item(row, 0)
        ticket_id = item.data(Qt.ItemDataRole.UserRole) if item is not None else None
        if ticket_id:
            self.openTicket.emit(str(ticket_id))

    def show_time(self, mine: MyTime) -> None:
        self.summary.setText(
            f"Today {format_duration(mine.today_s)} · this week {format_duration(mine.week_s)}"
        )
        self.tickets.setRowCount(len(mine.tickets))
        if not mine.tickets:
            self.tickets.setRowCount(1)
            self._row(self.tickets, 0, "", ["No time logged this week", "", ""])
            return
        for row, share in enumerate(mine.tickets):
            name = f"#{share.number} {share.subject}" if share.number else share.subject
            cells = [name or "A ticket", format_duration(share.today_s)]
            cells.append(format_duration(share.week_s))
            self._row(self.tickets, row, share.ticket_id, cells)

    def show_stopwatches(self, watches: list[Stopwatch], now: datetime) -> None:
        if not watches:
            self.watches.setRowCount(1)
            self._row(self.watches, 0, "", ["No stopwatch running or paused", "", ""])
            return
        self.watches.setRowCount(len(watches))
        for row, watch in enumerate(watches):
            state = "running" if watch.running else "paused"
            cells = [watch.label or "A ticket", clock_text(watch.elapsed(now)), state]
            self._row(self.watches, row, watch.ticket_id, cells)

    @staticmethod
    def _row(table: QTableWidget, row: int, ticket_id: str, cells: list[str]) -> None:
        for column, text in enumerate(cells):
            item = table.item(row, column)
            if item is None:
                item = QTableWidgetItem()
                table.setItem(row, column, item)
            item.setText(text)
            item.setData(Qt.ItemDataRole.UserRole, ticket_id)
            if not ticket_id:
                item.setFlags(Qt.ItemFlag.ItemIsEnabled)
