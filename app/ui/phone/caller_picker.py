"""Several customers share the caller's number: the agent picks who is calling.

A short list — name, organization, open tickets and the last ticket — the first one
selected, so Enter takes it; Esc keeps the call without a customer (the agent can still
pick later, or create one).
"""

from __future__ import annotations

from PySide6.QtCore import QDate, QLocale, Qt
from PySide6.QtWidgets import (
    QDialog,
    QDialogButtonBox,
    QLabel,
    QListWidget,
    QListWidgetItem,
    QVBoxLayout,
    QWidget,
)

from app.sync.desk.phone import Caller


def caller_line(caller: Caller) -> str:
    """One caller as the list shows them: who, where from, and what they last called about."""
    parts = [caller.name]
    if caller.organization:
        parts.append(caller.organization)
    opened = caller.open_tickets
    parts.append(
        f"{opened} open ticket{'s' if opened != 1 else ''}" if opened else "no open ticket"
    )
    if caller.last_ticket_subject is not None:
        number = f"#{caller.last_ticket_number}" if caller.last_ticket_number else "new"
        when = ""
        if caller.last_ticket_at is not None:
            day = caller.last_ticket_at.date()
            shown = QLocale().toString(QDate(day.year, day.month, day.day))
            when = f", {shown}"
        parts.append(f"last: {number} {caller.last_ticket_subject}{when}")
    return "  ·  ".join(parts)


class CallerPicker(QDialog):
    """Who is calling, among the customers with this number (`chosen` after ``exec``)."""

    def __init__(
        self, number_shown: str, callers: tuple[Caller, ...], parent: QWidget | None = None
    ):
        super().__init__(parent)
        self.setWindowTitle("Who is calling?")
        self.setAccessibleName("Who is calling")
        self.chosen: Caller | None = None
        self._callers = callers
        layout = QVBoxLayout(self)
        intro = QLabel(
            f"{len(callers)} customers have the number {number_shown}. Pick the caller:", self
        )
        intro.setWordWrap(True)
        intro.setTextFormat(Qt.TextFormat.PlainText)
        layout.addWidget(intro)
        self.list = QListWidget(self)
        self.list.setAccessibleName("Customers with this number")
        for caller in callers:
            item = QListWidgetItem(caller_line(caller))
            item.setToolTip(caller_line(caller))
            self.list.addItem(item)
        self.list.setCurrentRow(0)
        self.list.itemActivated.connect(lambda _item: self.accept())
        layout.addWidget(self.list)
        buttons = QDialogButtonBox(self)
        buttons.addButton("Take the call as this customer", QDialogButtonBox.ButtonRole.AcceptRole)
        buttons.addButton("Not sure yet", QDialogButtonBox.ButtonRole.RejectRole)
        buttons.accepted.connect(self.accept)
        buttons.rejected.connect(self.reject)
        layout.addWidget(buttons)
        self.resize(520, min(420, 140 + 28 * len(callers)))

    def accept(self) -> None:
        row = self.list.currentRow()
        self.chosen = self._callers[row] if 0 <= row < len(self._callers) else None
        super().accept()
