"""The composer: where the agent writes a public reply or an internal note.

It only edits text and says what the agent asked for (send, send and set a status, canned
response); the conversation view owns the ticket and does the sending.  Every change of text
or kind is reported through ``edited`` so the view can keep the draft and tell colleagues that
the agent is typing.
"""

from __future__ import annotations

from collections.abc import Callable

from PySide6.QtCore import QEvent, Qt, Signal
from PySide6.QtGui import QAction
from PySide6.QtWidgets import (
    QFrame,
    QHBoxLayout,
    QLabel,
    QMenu,
    QPlainTextEdit,
    QPushButton,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from app.models.enums import MessageKind, TicketStatus
from app.ui import shortcuts, theme

SEND_AND_SET = (
    (TicketStatus.PENDING, "Send and set Pending"),
    (TicketStatus.ON_HOLD, "Send and set On hold"),
    (TicketStatus.SOLVED, "Send and set Solved"),
)


def _note_style() -> str:
    c = theme.colors()
    return (
        f"QPlainTextEdit {{ background: {c.note_background.name()};"
        f" border: 2px solid {c.note_border.name()}; }}"
    )


class NoticeBar(QFrame):
    """A one-line message above the text (unknown placeholders, a failed send) with a close
    button; plain text only."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("composerNotice")
        self.setFrameShape(QFrame.Shape.StyledPanel)
        self.setStyleSheet("#composerNotice { background: #fdecc8; color: #4d3300; }")
        layout = QHBoxLayout(self)
        layout.setContentsMargins(8, 4, 4, 4)
        self.label = QLabel(self)
        self.label.setTextFormat(Qt.TextFormat.PlainText)
        self.label.setWordWrap(True)
        self.label.setAccessibleName("Composer notice")
        layout.addWidget(self.label, 1)
        close = QToolButton(self)
        close.setText("\N{MULTIPLICATION SIGN}")
        close.setAccessibleName("Dismiss notice")
        close.setToolTip("Dismiss")
        close.clicked.connect(self.hide)
        layout.addWidget(close)
        self.hide()

    def show_text(self, text: str) -> None:
        self.label.setText(text)
        self.show()


class Composer(QWidget):
    """Text, the reply/note switch and the send buttons.

    Signals: ``edited(str text, str kind)`` — on every change made by the agent (not by
    ``set_draft``); ``sendRequested(str status)`` — send, then set ``status`` ("" for none);
    ``cannedRequested()`` — "/" typed first, or the canned shortcut.
    """

    edited = Signal(str, str)
    sendRequested = Signal(str)
    cannedRequested = Signal()

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._kind: str = MessageKind.REPLY
        self._quiet = False  # programmatic changes are not the agent's typing
        self.touched = False  # the agent edited the text since it was last set for them
        # Whether files are attached (app/ui/conversation/attachments.py): sendable without text.
        self.has_files: Callable[[], bool] = lambda: False
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(4)
        self.notice = NoticeBar(self)
        layout.addWidget(self.notice)

        self.editor = QPlainTextEdit(self)
        self.editor.setAccessibleName("Reply text")
        self.editor.setTabChangesFocus(True)
        self.editor.setMinimumHeight(70)
        self.editor.textChanged.connect(self._text_changed)
        layout.addWidget(self.editor, 1)

        row = QHBoxLayout()
        row.setSpacing(6)
        self.reply_button = QPushButton("Public reply", self)
        self.reply_button.setCheckable(True)
        self.reply_button.setAccessibleName("Public reply")
        self.note_button = QPushButton("Internal note", self)
        self.note_button.setCheckable(True)
        self.note_button.setAccessibleName("Internal note")
        toggle = shortcuts.label("toggle_note")
        for b in (self.reply_button, self.note_button):
            b.setToolTip(f"Switch between public reply and internal note ({toggle})")
            b.setAutoDefault(False)
        self.reply_button.clicked.connect(lambda: self.set_kind(MessageKind.REPLY, by_agent=True))
        self.note_button.clicked.connect(lambda: self.set_kind(MessageKind.NOTE, by_agent=True))
        row.addWidget(self.reply_button)
        row.addWidget(self.note_button)
        self.kind_hint = QLabel(self)
        self.kind_hint.setTextFormat(Qt.TextFormat.PlainText)
        row.addWidget(self.kind_hint, 1)

        self.send_button = QToolButton(self)
        self.send_button.setText("Send")
        self.send_button.setAccessibleName("Send")
        self.send_button.setToolTip(f"Send ({shortcuts.label('send')})")
        self.send_button.setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonTextOnly)
        self.send_button.setPopupMode(QToolButton.ToolButtonPopupMode.MenuButtonPopup)
        self.send_button.clicked.connect(lambda: self.sendRequested.emit(""))
        menu = QMenu(self.send_button)
        menu.setAccessibleName("Send and set status")
        self.send_actions: dict[str, QAction] = {}
        for status, text in SEND_AND_SET:
            # The key is shown, not bound, here: the composer binds it once (below).
            keys = shortcuts.label("send_and_solve") if status == TicketStatus.SOLVED else ""
            action = menu.addAction(f"{text}\t{keys}" if keys else text)
            action.triggered.connect(lambda _c=False, s=status: self.sendRequested.emit(str(s)))
            self.send_actions[status] = action
        self.send_button.setMenu(menu)
        row.addWidget(self.send_button)
        layout.addLayout(row)

        # Composer-wide keys: only while the focus is in the composer.
        ctx = Qt.ShortcutContext.WidgetWithChildrenShortcut
        shortcuts.bind(self, "send", lambda: self.sendRequested.emit(""), ctx)
        shortcuts.bind(
            self, "send_and_solve", lambda: self.sendRequested.emit(TicketStatus.SOLVED), ctx
        )
        shortcuts.bind(self, "toggle_note", self.toggle_kind, ctx)
        shortcuts.bind(self, "canned", self.cannedRequested.emit, ctx)
        self.set_kind(MessageKind.REPLY)
        self._update_enabled()

    # ---- state --------------------------------------------------------------------------

    @property
    def kind(self) -> str:
        return self._kind

    def text(self) -> str:
        return self.editor.toPlainText()

    def set_kind(self, kind: str, *, by_agent: bool = False) -> None:
        self._kind = MessageKind.NOTE if kind == MessageKind.NOTE else MessageKind.REPLY
        note = self._kind == MessageKind.NOTE
        self.reply_button.setChecked(not note)
        self.note_button.setChecked(note)
        for button in (self.reply_button, self.note_button):
            font = button.font()
            font.setBold(button.isChecked())  # the pressed look alone is faint in some styles
            button.setFont(font)
        # Colour says "only agents see this" before the agent has to read anything.
        style = _note_style() if note else ""
        if style != self.editor.styleSheet():
            self.editor.setStyleSheet(style)
        self.editor.setAccessibleName("Internal note text" if note else "Reply text")
        self.editor.setPlaceholderText(
            "Internal note — only agents see this"
            if note
            else "Reply to the customer…  (/ for canned responses)"
        )
        self.kind_hint.setText("Only agents see notes" if note else "")
        self.send_button.setText("Add note" if note else "Send")
        verb = "Add note" if note else "Send"
        for status, text in SEND_AND_SET:
            action = self.send_actions.get(status)
            if action is not None:
                keys = action.text().partition("\t")[2]
                label = text.replace("Send", verb, 1)
                action.setText(f"{label}\t{keys}" if keys else label)
        if by_agent:
            self.touched = True
            self.edited.emit(self.text(), self._kind)

    def changeEvent(self, event: QEvent) -> None:
        super().changeEvent(event)
        if event.type() == QEvent.Type.PaletteChange:  # light/dark switched: re-tint the note
            self.set_kind(self._kind)

    def toggle_kind(self) -> None:
        other = MessageKind.REPLY if self._kind == MessageKind.NOTE else MessageKind.NOTE
        self.set_kind(other, by_agent=True)

    def set_draft(self, text: str, kind: str) -> None:
        """Show text the agent did not type here (a restored draft); not reported as edited."""
        self._quiet = True
        try:
            self.editor.setPlainText(text)
            cursor = self.editor.textCursor()
            cursor.movePosition(cursor.MoveOperation.End)
            self.editor.setTextCursor(cursor)
        finally:
            self._quiet = False
        self.set_kind(kind)
        self.touched = False
        self._update_enabled()

    def clear_sent(self) -> None:
        """Empty the composer after a send (the engine has dropped the stored draft)."""
        self._quiet = True
        try:
            self.editor.clear()
        finally:
            self._quiet = False
        self.touched = False
        self.notice.hide()
        self._update_enabled()

    def insert_text(self, text: str) -> None:
        """Insert at the cursor, replacing a lone "/query" that asked for a canned response."""
        current = self.text()
        if current.startswith("/") and not any(c.isspace() for c in current):
            self.editor.selectAll()
        self.editor.insertPlainText(text)
        self.editor.setFocus()

    def _text_changed(self) -> None:
        self._update_enabled()
        if self._quiet:
            return
        self.touched = True
        text = self.text()
        self.edited.emit(text, self._kind)
        if text == "/":
            self.cannedRequested.emit()

    def refresh_send_state(self) -> None:
        """Enable Send if there is something to send (text, or attached files)."""
        self._update_enabled()

    def _update_enabled(self) -> None:
        has_text = bool(self.text().strip()) or self.has_files()
        self.send_button.setEnabled(has_text)
        for action in self.send_actions.values():
            action.setEnabled(has_text)
