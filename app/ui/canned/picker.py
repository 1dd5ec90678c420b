"""The canned-response picker.

API (signal-based, because a modal ``exec()`` would spin a nested event loop inside qasync's
and stall every coroutine while the picker is open):

* ``pick(ticket_id, initial="")`` opens the picker for a conversation, window-modal and
  non-blocking, with ``initial`` as the search ("/ship" typed in the composer → ``"ship"``).
* ``chosen(ticket_id, text, unknown)`` is emitted when the agent inserts a response: ``text``
  is the body with every placeholder filled that the desk knows, and ``unknown`` a tuple of
  the placeholders it could not fill (``"unknown.thing"``) — left in the text as
  ``{{unknown.thing}}`` and highlighted in the preview, never silently dropped.
* ``dismissed(ticket_id)`` is emitted when it closes without inserting.
* ``await choose(ticket_id, initial="")`` wraps the two for coroutine callers: it returns
  ``(text, unknown)`` or ``None``.

Filtering runs in ``bridge.canned.responses(query)`` (title, shortcut and body; most used first).
Inserting also queues ``canned.use``, so the most used responses rise to the top for everyone.
New…, Edit… and Delete open the ``CannedEditor`` or queue ``canned.delete``; the list follows
the server's answer (``entitiesChanged`` naming ``canned_response``).
"""

from __future__ import annotations

import asyncio
import html
from typing import Any

from PySide6.QtCore import QObject, Qt, Signal
from PySide6.QtGui import QKeySequence, QPalette, QShortcut
from PySide6.QtWidgets import (
    QAbstractItemView,
    QDialog,
    QHBoxLayout,
    QLabel,
    QListView,
    QMessageBox,
    QPushButton,
    QSplitter,
    QTextBrowser,
    QVBoxLayout,
    QWidget,
)

from app.sync import placeholders
from app.sync.desk_types import CannedItem, Conversation, CustomerCard
from app.sync.notice import ChangeNotice
from app.ui.bridge import Bridge
from app.ui.canned.editor import CannedEditor
from app.ui.keyed_list import KeyedListModel
from app.ui.query_line import QueryLine
from app.ui.theme import colors

SCOPE_TEXT = {"personal": "personal", "group": "group", "shared": "shared"}


class CannedModel(KeyedListModel[CannedItem]):
    """Canned responses in the reader's order (most used first), updated in place."""

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(lambda item: item.id, parent)

    def row_data(self, row: CannedItem, role: int) -> Any:
        if role == Qt.ItemDataRole.DisplayRole:
            shortcut = f"   /{row.shortcut}" if row.shortcut else ""
            return f"{row.title}{shortcut}"
        if role in (Qt.ItemDataRole.ToolTipRole, Qt.ItemDataRole.AccessibleTextRole):
            shortcut = f", shortcut /{row.shortcut}" if row.shortcut else ""
            used = f"used {row.usage_count} time{'s' if row.usage_count != 1 else ''}"
            return f"{row.title} ({SCOPE_TEXT.get(row.scope, row.scope)}{shortcut}, {used})"
        return None


def placeholder_name(text: str) -> str:
    """``"{{ A.b }}"`` or ``"a.b"`` → ``"a.b"``: one spelling for comparing unknown names
    (placeholder names are case-insensitive)."""
    match = placeholders.PLACEHOLDER.fullmatch(text.strip())
    return (match.group(1) if match else text).strip().lower()


def preview_html(text: str, unknown: tuple[str, ...], highlight: str) -> str:
    """``text`` as escaped rich text, with the unknown placeholders marked for the agent."""
    names = {placeholder_name(u) for u in unknown}
    out: list[str] = []
    last = 0
    for match in placeholders.PLACEHOLDER.finditer(text):
        if match.group(1).lower() not in names:
            continue
        out.append(html.escape(text[last : match.start()]))
        out.append(
            f"<span style='background-color:{highlight}; font-weight:bold'>"
            f"{html.escape(match.group(0))}</span>"
        )
        last = match.end()
    out.append(html.escape(text[last:]))
    return f"<div style='white-space: pre-wrap'>{''.join(out)}</div>"


def unfilled_text(filled: placeholders.Filled) -> str:
    """Why placeholders stayed in the text, in plain words for the agent."""
    empty = set(filled.empty)
    parts = []
    unknown = [f"{{{{{name}}}}}" for name in filled.unknown if name not in empty]
    missing = [f"{{{{{name}}}}}" for name in filled.unknown if name in empty]
    if unknown:
        parts.append(f"Unknown placeholder{'s' if len(unknown) > 1 else ''}: {', '.join(unknown)}.")
    if missing:
        parts.append(f"Nothing on file for {', '.join(missing)}.")
    parts.append("They stay in the text: replace them before sending.")
    return " ".join(parts)


class CannedPicker(QDialog):
    """Choose a canned response for a conversation, see it filled in, insert it.

    Signals:
        chosen(str, str, object): ticket id, filled text, tuple of unknown placeholders.
        dismissed(str): ticket id; closed without inserting.
        listUpdated(): the list was re-read (after typing or a change from the server).
        previewUpdated(): the preview shows the current response with the ticket's values.
    """

    chosen = Signal(str, str, object)
    dismissed = Signal(str)
    listUpdated = Signal()
    previewUpdated = Signal()

    def __init__(self, bridge: Bridge, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._bridge = bridge
        self._ticket_id = ""
        self._context: dict[str, str] | None = None  # None until the ticket's values are read
        self._context_generation = 0
        self._list_generation = 0
        self._insert_when_ready = False
        self._inserted = False
        self._query_changed = False  # the next list answers a new filter: select its best
        self.editor: CannedEditor | None = None
        self.setWindowTitle("Insert a canned response")
        self.setAccessibleName("Canned responses")
        self.setWindowModality(Qt.WindowModality.WindowModal)
        self.resize(820, 480)

        layout = QVBoxLayout(self)
        self.search_edit = QueryLine()
        self.search_edit.setAccessibleName("Filter canned responses")
        self.search_edit.setPlaceholderText("Filter by title, shortcut or text")
        self.search_edit.setClearButtonEnabled(True)
        layout.addWidget(self.search_edit)

        split = QSplitter(Qt.Orientation.Horizontal)
        self.model = CannedModel(self)
        self.list_view = QListView()
        self.list_view.setModel(self.model)
        self.list_view.setAccessibleName("Canned responses")
        self.list_view.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.list_view.setUniformItemSizes(True)
        self.list_view.activated.connect(lambda _index: self.insert_current())
        self.list_view.selectionModel().currentChanged.connect(
            lambda _cur, _prev: self._update_preview()
        )
        split.addWidget(self.list_view)

        preview_box = QWidget()
        preview_layout = QVBoxLayout(preview_box)
        preview_layout.setContentsMargins(0, 0, 0, 0)
        self.preview = QTextBrowser()
        self.preview.setAccessibleName("Preview of the filled-in response")
        self.preview.setOpenLinks(False)  # nothing in a response is followed from here
        self.preview.setOpenExternalLinks(False)
        preview_layout.addWidget(self.preview, 1)
        self.unknown_label = QLabel()
        self.unknown_label.setAccessibleName("Placeholders that could not be filled")
        self.unknown_label.setTextFormat(Qt.TextFormat.PlainText)
        self.unknown_label.setWordWrap(True)
        self.unknown_label.hide()
        preview_layout.addWidget(self.unknown_label)
        split.addWidget(preview_box)
        split.setStretchFactor(0, 2)
        split.setStretchFactor(1, 3)
        layout.addWidget(split, 1)

        self.status_label = QLabel()
        self.status_label.setAccessibleName("Canned responses status")
        self.status_label.setTextFormat(Qt.TextFormat.PlainText)
        self.status_label.setForegroundRole(QPalette.ColorRole.PlaceholderText)
        layout.addWidget(self.status_label)

        buttons = QHBoxLayout()
        self.new_button = QPushButton("&New…")
        self.new_button.setAccessibleName("New canned response")
        self.new_button.clicked.connect(self.new_response)
        self.edit_button = QPushButton("&Edit…")
        self.edit_button.setAccessibleName("Edit the selected canned response")
        self.edit_button.clicked.connect(self.edit_current)
        self.delete_button = QPushButton("&Delete")
        self.delete_button.setAccessibleName("Delete the selected canned response")
        self.delete_button.clicked.connect(self.request_delete)
        self.insert_button = QPushButton("&Insert")
        self.insert_button.setAccessibleName("Insert the selected canned response")
        self.insert_button.setDefault(True)
        self.insert_button.clicked.connect(self.insert_current)
        cancel = QPushButton("Cancel")
        cancel.setAccessibleName("Close without inserting")
        cancel.clicked.connect(self.reject)
        for button in (self.new_button, self.edit_button, self.delete_button):
            buttons.addWidget(button)
        buttons.addStretch(1)
        buttons.addWidget(self.insert_button)
        buttons.addWidget(cancel)
        layout.addLayout(buttons)

        QShortcut(QKeySequence(QKeySequence.StandardKey.New), self, self.new_response)
        QShortcut(QKeySequence("F2"), self, self.edit_current)
        delete = QShortcut(QKeySequence(QKeySequence.StandardKey.Delete), self.list_view)
        delete.setContext(Qt.ShortcutContext.WidgetShortcut)  # in the filter, Delete edits text
        delete.activated.connect(self.request_delete)

        self.search_edit.textChanged.connect(self._filter_changed)
        self.search_edit.navigate.connect(self._move)
        self.search_edit.accepted.connect(self.insert_current)
        bridge.entitiesChanged.connect(self._entities_changed)
        self._update_buttons()

    # ---- opening -------------------------------------------------------------------------

    @property
    def ticket_id(self) -> str:
        return self._ticket_id

    def pick(self, ticket_id: str, initial: str = "") -> None:
        """Open for ``ticket_id`` with ``initial`` as the filter (a leading "/" is dropped)."""
        if self.isVisible() and self._ticket_id and not self._inserted:
            # Re-aimed at another conversation while open: the first request is over.
            self.dismissed.emit(self._ticket_id)
        self._ticket_id = ticket_id
        self._inserted = False
        self._insert_when_ready = False
        self._context = None
        self._context_generation += 1
        generation = self._context_generation
        self._bridge.run(
            self._read_context(ticket_id),
            on_result=lambda context: self._context_ready(generation, context),
        )
        query = initial.lstrip("/")
        if self.search_edit.text() == query:
            self.reload()
        else:
            self.search_edit.setText(query)  # reloads
        self.show()
        self.raise_()
        self.activateWindow()
        self.search_edit.setFocus(Qt.FocusReason.ShortcutFocusReason)
        self.search_edit.selectAll()

    async def choose(self, ticket_id: str, initial: str = "") -> tuple[str, tuple[str, ...]] | None:
        """``pick`` for coroutines: the filled text and unknown placeholders, or None."""
        future: asyncio.Future[tuple[str, tuple[str, ...]] | None]
        future = asyncio.get_running_loop().create_future()

        def on_chosen(tid: str, text: str, unknown: tuple[str, ...]) -> None:
            if tid == ticket_id and not future.done():
                future.set_result((text, tuple(unknown)))

        def on_dismissed(tid: str) -> None:
            if tid == ticket_id and not future.done():
                future.set_result(None)

        self.chosen.connect(on_chosen)
        self.dismissed.connect(on_dismissed)
        try:
            self.pick(ticket_id, initial)
            return await future
        finally:
            self.chosen.disconnect(on_chosen)
            self.dismissed.disconnect(on_dismissed)

    def done(self, result: int) -> None:
        super().done(result)
        if not self._inserted and self._ticket_id:
            self.dismissed.emit(self._ticket_id)

    # ---- reading -------------------------------------------------------------------------

    async def _read_context(self, ticket_id: str) -> dict[str, str]:
        bridge = self._bridge
        conversation: Conversation | None = await bridge.conversations.conversation(ticket_id)
        customer: CustomerCard | None = None
        if conversation is not None and conversation.ticket.customer_id:
            customer = await bridge.customers.customer(conversation.ticket.customer_id)
        return placeholders.placeholder_context(conversation, customer, self._bridge.directory.me)

    def _context_ready(self, generation: int, context: dict[str, str]) -> None:
        if generation != self._context_generation:
            return  # picked again for another ticket meanwhile
        self._context = context
        self._update_preview()
        if self._insert_when_ready:
            self._insert_when_ready = False
            self.insert_current()

    def _filter_changed(self, _text: str) -> None:
        self._query_changed = True
        self.reload()

    def reload(self) -> None:
        """Re-read the list for the current filter (only the newest answer is shown)."""
        self._list_generation += 1
        generation = self._list_generation
        query = self.search_edit.text()
        self._bridge.run(
            self._bridge.canned.responses(query),
            on_result=lambda items: self._show_items(generation, items),
        )

    def _show_items(self, generation: int, items: list[CannedItem]) -> None:
        if generation != self._list_generation:
            return
        self.model.set_rows(items)
        new_filter, self._query_changed = self._query_changed, False
        if self.model.rowCount() and (new_filter or not self.list_view.currentIndex().isValid()):
            # Typing narrows the list: the best match (the first) is what Enter inserts.  A
            # change from the server keeps the agent's choice where it is.
            self.list_view.setCurrentIndex(self.model.index(0, 0))
        if not items:
            query = self.search_edit.text().strip()
            self.status_label.setText(
                f"No canned response matches “{query}”." if query else "No canned responses yet."
            )
        else:
            self.status_label.setText(
                f"{len(items)} response{'s' if len(items) != 1 else ''} · Enter inserts"
            )
        self._update_preview()
        self.listUpdated.emit()

    def _entities_changed(self, notice: ChangeNotice) -> None:
        if "canned_response" in notice.entities and self.isVisible():
            self.reload()
        elif "canned_response" in notice.entities:
            self._list_generation += 1  # anything in flight is stale; re-read on next pick

    # ---- the current response ------------------------------------------------------------

    def current_item(self) -> CannedItem | None:
        return self.model.row_at(self.list_view.currentIndex())

    def select(self, canned_id: str) -> bool:
        """Make ``canned_id`` the current response, if it is listed."""
        row = self.model.row_of(canned_id)
        if row < 0:
            return False
        self.list_view.setCurrentIndex(self.model.index(row, 0))
        return True

    def _move(self, steps: int) -> None:
        count = self.model.rowCount()
        if not count:
            return
        current = self.list_view.currentIndex().row()
        target = 0 if current < 0 else max(0, min(count - 1, current + steps))
        index = self.model.index(target, 0)
        self.list_view.setCurrentIndex(index)
        self.list_view.scrollTo(index)

    def filled(self, item: CannedItem) -> placeholders.Filled:
        """``item``'s body with this ticket's values, and the placeholders left unfilled."""
        return placeholders.fill(item.body, self._context or {})

    def _update_preview(self) -> None:
        self._update_buttons()
        item = self.current_item()
        if item is None:
            self.preview.setPlainText("")
            self.unknown_label.hide()
            return
        if self._context is None:
            # Until the ticket is read, show the raw text rather than a half-filled one.
            self.preview.setPlainText(item.body)
            self.unknown_label.hide()
            return
        filled = self.filled(item)
        highlight = colors().note_border.name()
        self.preview.setHtml(preview_html(filled.text, filled.unknown, highlight))
        if filled.unknown:
            self.unknown_label.setText(unfilled_text(filled))
            self.unknown_label.setStyleSheet(f"color: {colors().failed.name()}")
            self.unknown_label.show()
        else:
            self.unknown_label.hide()
        self.previewUpdated.emit()

    def _update_buttons(self) -> None:
        item = self.current_item()
        self.insert_button.setEnabled(item is not None)
        editable = item is not None and item.editable
        self.edit_button.setEnabled(editable)
        self.delete_button.setEnabled(editable)

    # ---- actions -------------------------------------------------------------------------

    def insert_current(self) -> None:
        """Insert the current response (Enter): emit ``chosen``, count the use, close."""
        item = self.current_item()
        if item is None or not self._ticket_id:
            return
        if self._context is None:
            self._insert_when_ready = True  # Enter before the ticket was read: soon
            return
        filled = self.filled(item)
        self._inserted = True
        ticket_id = self._ticket_id
        self.accept()
        self.chosen.emit(ticket_id, filled.text, tuple(filled.unknown))
        self._bridge.run(self._bridge.engine.mutate("canned.use", {"canned_id": item.id}))

    def new_response(self) -> None:
        self._open_editor(None)

    def edit_current(self) -> None:
        item = self.current_item()
        if item is not None and item.editable:
            self._open_editor(item)

    def _open_editor(self, item: CannedItem | None) -> None:
        editor = CannedEditor(self._bridge, item, self)
        editor.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        editor.saved.connect(self._saved)
        editor.finished.connect(lambda _result: self._editor_closed(editor))
        self.editor = editor
        editor.open()

    def _editor_closed(self, editor: CannedEditor) -> None:
        if self.editor is editor:
            self.editor = None
        self.search_edit.setFocus()

    def _saved(self, canned_id: str) -> None:
        if self._bridge.online:
            self.status_label.setText("Saved.")
        else:
            self.status_label.setText("Saved — it shows here once the server has it.")

    def request_delete(self) -> None:
        """Ask before deleting the current response (non-blocking confirmation)."""
        item = self.current_item()
        if item is None or not item.editable:
            return
        box = QMessageBox(
            QMessageBox.Icon.Question,
            "Delete canned response",
            f"Delete “{item.title}”?",
            QMessageBox.StandardButton.Yes | QMessageBox.StandardButton.Cancel,
            self,
        )
        box.setTextFormat(Qt.TextFormat.PlainText)
        box.setInformativeText(
            "Everyone who could use it loses it." if item.scope != "personal" else ""
        )
        box.setDefaultButton(QMessageBox.StandardButton.Cancel)
        box.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        box.finished.connect(
            lambda result: self.delete(item) if result == QMessageBox.StandardButton.Yes else None
        )
        box.open()

    def delete(self, item: CannedItem) -> None:
        """Queue ``canned.delete`` for ``item``; it leaves the list when the server agrees."""
        self.status_label.setText(f"Deleting “{item.title}”…")
        self._bridge.run(self._bridge.engine.mutate("canned.delete", {"canned_id": item.id}))
