"""The line an agent types a query into while the list under it follows the keyboard.

Used by the canned-response picker and the search palette: typing stays in the line, the
arrow keys and Page Up/Down move through the list, and Enter takes the current row.
"""

from __future__ import annotations

from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QKeyEvent
from PySide6.QtWidgets import QLineEdit

# Rows moved by each key (negative: up); Page Up/Down move a screenful of a short list.
_STEPS = {
    Qt.Key.Key_Down: 1,
    Qt.Key.Key_Up: -1,
    Qt.Key.Key_PageDown: 8,
    Qt.Key.Key_PageUp: -8,
}


class QueryLine(QLineEdit):
    """A query line whose navigation keys drive a list instead of the text cursor.

    Signals:
        navigate(int): rows to move the list's selection by (negative: up).
        accepted(): Enter or Return: take the current row.
    """

    navigate = Signal(int)
    accepted = Signal()

    def keyPressEvent(self, event: QKeyEvent) -> None:
        key = Qt.Key(event.key())
        if key in _STEPS:
            self.navigate.emit(_STEPS[key])
            return
        if key in (Qt.Key.Key_Return, Qt.Key.Key_Enter):
            self.accepted.emit()
            return
        super().keyPressEvent(event)
