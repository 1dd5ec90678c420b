"""``@`` in an internal note offers the team: typing "@" and letters lists the agents whose
name or handle match (first one highlighted), Up/Down choose, Enter or Tab insert the
mention token (``@ada``, their email's local part) and Escape closes the list.

Only notes mention, as in Zendesk and Front: a public reply goes to the customer, and the
customer must not read agents' handles.
"""

from __future__ import annotations

import re
from collections.abc import Callable

from PySide6.QtCore import QEvent, QModelIndex, QObject, Qt, QTimer
from PySide6.QtGui import QKeyEvent, QStandardItem, QStandardItemModel, QTextCursor
from PySide6.QtWidgets import QAbstractItemView, QCompleter, QPlainTextEdit

from app.models.enums import MessageKind
from app.sync.desk_types import Directory
from app.ui.bridge import Bridge

HandleRole = Qt.ItemDataRole.UserRole + 1
# The "@..." being typed just before the cursor (not the "@" of an email address).
_TYPING = re.compile(r"(?:^|(?<=[^\w@.]))@([\w.-]*)$")
_CHOOSE_KEYS = (Qt.Key.Key_Return, Qt.Key.Key_Enter, Qt.Key.Key_Tab)


def handle_of(email: str) -> str:
    """The handle a mention token uses: the local part of the agent's email."""
    return email.split("@", 1)[0]


class MentionCompleter(QObject):
    """Completes ``@`` handles in ``editor`` while ``is_note()`` says the text is a note."""

    def __init__(self, editor: QPlainTextEdit, bridge: Bridge, kind: Callable[[], str]) -> None:
        super().__init__(editor)
        self._editor = editor
        self._bridge = bridge
        self._kind = kind  # a callable answering the composer's kind ("note" or "reply")
        self.model = QStandardItemModel(self)
        self.completer = QCompleter(self.model, self)
        self.completer.setWidget(editor)
        self.completer.setCompletionMode(QCompleter.CompletionMode.PopupCompletion)
        self.completer.setCaseSensitivity(Qt.CaseSensitivity.CaseInsensitive)
        self.completer.setFilterMode(Qt.MatchFlag.MatchContains)
        self.completer.setMaxVisibleItems(8)
        # The completer's own list, which it owns and deletes (one made here would be
        # Python's to delete too, and deleted twice).
        popup = self.completer.popup()
        assert popup is not None  # a completer always has one
        self.popup: QAbstractItemView = popup
        self.popup.setAccessibleName("Agents to mention")
        # Ours before the completer's own (filters run newest first): QCompleter lets the
        # editor take Enter first, and a plain-text editor takes it as a new line.
        self.popup.installEventFilter(self)
        self.completer.activated.connect(self._chosen)
        self._swallow = False
        editor.textChanged.connect(self._typed)
        editor.installEventFilter(self)
        bridge.directoryChanged.connect(self._fill)
        self._fill(bridge.directory)

    def _fill(self, directory: Directory) -> None:
        self.model.clear()
        me = directory.me.id if directory.me is not None else None
        for agent in directory.agents:
            if agent.id == me or not agent.email:
                continue
            handle = handle_of(agent.email)
            item = QStandardItem(f"{agent.name} (@{handle})")
            item.setData(handle, HandleRole)
            item.setToolTip(agent.email)
            self.model.appendRow(item)

    def typed_prefix(self) -> str | None:
        """The letters after an "@" just before the cursor; None when not typing a mention."""
        cursor = self._editor.textCursor()
        block = cursor.block().text()[: cursor.positionInBlock()]
        found = _TYPING.search(block)
        return found.group(1) if found is not None else None

    def _typed(self) -> None:
        prefix = self.typed_prefix()
        popup = self.popup
        if prefix is None or self._kind() != MessageKind.NOTE.value:
            popup.hide()
            return
        self.completer.setCompletionPrefix(prefix)
        if self.completer.completionCount() == 0:
            popup.hide()
            return
        rect = self._editor.cursorRect()
        rect.setWidth(max(260, popup.sizeHintForColumn(0) + 24))
        self.completer.complete(rect)
        # The first match is chosen already: "@li" and Enter mentions Lin.
        popup.setCurrentIndex(self.completer.completionModel().index(0, 0))

    def _chosen(self, chosen: object) -> None:
        text = str(chosen.data()) if isinstance(chosen, QModelIndex) else str(chosen)
        found = re.search(r"\(@([^)]+)\)$", text)
        prefix = self.typed_prefix()
        if found is None or prefix is None:
            return
        cursor = self._editor.textCursor()
        cursor.movePosition(
            QTextCursor.MoveOperation.Left, QTextCursor.MoveMode.KeepAnchor, len(prefix) + 1
        )
        cursor.insertText(f"@{found.group(1)} ")
        self._editor.setTextCursor(cursor)
        self.popup.hide()
        # The Enter or Tab that chose it may reach the editor next: it must not also break
        # the line or move the focus.
        self._swallow = True
        QTimer.singleShot(0, self, self._stop_swallowing)

    def _stop_swallowing(self) -> None:
        self._swallow = False

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:
        if (
            watched in (self._editor, self.popup)
            and event.type() == QEvent.Type.KeyPress
            and isinstance(event, QKeyEvent)
            and event.key() in _CHOOSE_KEYS
            and event.modifiers() == Qt.KeyboardModifier.NoModifier
        ):
            if self._swallow:
                self._swallow = False
                return True
            popup = self.popup
            if popup.isVisible():
                index = popup.currentIndex()
                if index.isValid():
                    self._chosen(str(index.data()))
                    self._swallow = False
                    return True
        return super().eventFilter(watched, event)
