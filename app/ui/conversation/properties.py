"""The properties bar: status, priority, assignee, group and tags of the open ticket.

Edits are reported, not applied: the conversation view sends them with the ticket version the
agent was looking at, so a change made over a colleague's is refused and reviewed, never
silently written.  Only the agent's own choices (``activated``, ``editingFinished``) count;
showing a new version of the ticket never sends anything.

Tags are edited as text, so a colleague may change them while the agent types: the field
keeps the agent's text, says that the tags changed meanwhile, and what is sent is the agent's
edit (tags added and removed since the field took focus) applied to the latest tags, never
the text as a whole list over the colleague's change.
"""

from __future__ import annotations

from typing import Any

from PySide6.QtCore import QEvent, QObject, Qt, Signal
from PySide6.QtGui import QResizeEvent
from PySide6.QtWidgets import (
    QComboBox,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QSizePolicy,
    QVBoxLayout,
    QWidget,
)

from app.sync.desk_types import Directory, TicketDetail
from app.ui import shortcuts
from app.ui.labels import PRIORITY_LABELS, STATUS_LABELS

# The tags field's least width, in characters: two or three tags, readable.
TAGS_READABLE = 22
FIELD_LABELS: dict[str, str] = {
    "status": "Status",
    "priority": "Priority",
    "assignee_id": "Assignee",
    "group_id": "Group",
    "tags": "Tags",
    "subject": "Subject",
}


def apply_tag_edit(before: list[str], typed: list[str], latest: list[str]) -> list[str]:
    """The agent turned ``before`` into ``typed``; apply the same additions and removals to
    ``latest`` (the tags now, a colleague's change included), keeping its order."""
    added = [t for t in typed if t not in before]
    removed = {t for t in before if t not in typed}
    kept = [t for t in latest if t not in removed]
    return kept + [t for t in added if t not in kept]


def parse_tags(text: str) -> list[str]:
    """ "billing, VIP  refund" -> ["billing", "vip", "refund"]: commas or spaces, lower case,
    each once, in the order typed."""
    seen: list[str] = []
    for raw in text.replace(",", " ").split():
        tag = raw.strip().lower()
        if tag and tag not in seen:
            seen.append(tag)
    return seen


class PropertiesBar(QWidget):
    """Editors for the ticket's fields.

    Signals: ``changeRequested(dict)`` — the agent chose new values (field -> value).
    """

    changeRequested = Signal(dict)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.ticket: TicketDetail | None = None
        rows = QVBoxLayout(self)
        rows.setContentsMargins(0, 0, 0, 0)
        rows.setSpacing(4)
        layout = QHBoxLayout()
        layout.setSpacing(6)
        rows.addLayout(layout)
        # The tags' own row, used when the bar is too narrow for them beside the pickers.
        self._second_row = QHBoxLayout()
        self._second_row.setSpacing(6)
        rows.addLayout(self._second_row)
        self._first_row = layout

        self.status = self._combo("Status", "edit_status", layout)
        for value, text in STATUS_LABELS.items():
            self.status.addItem(text, str(value))
        self.priority = self._combo("Priority", "edit_priority", layout)
        for value, text in PRIORITY_LABELS.items():
            self.priority.addItem(text, str(value))
        self.assignee = self._combo("Assignee", "edit_assignee", layout)
        self.group = self._combo("Group", "edit_group", layout)

        tags_label = QLabel("Tags", self)
        tags_label.setTextFormat(Qt.TextFormat.PlainText)
        self.tags = QLineEdit(self)
        self.tags.setAccessibleName("Tags")
        self.tags.setPlaceholderText("tags, comma separated")
        self.tags.setToolTip(f"Tags, separated by commas ({shortcuts.label('edit_tags')})")
        self.tags.editingFinished.connect(self._tags_edited)
        self.tags.installEventFilter(self)
        tags_label.setBuddy(self.tags)
        # Never squeezed to a fragment: room for a few tags, else the tags take a row below.
        self.tags.setMinimumWidth(self.tags.fontMetrics().horizontalAdvance("x" * TAGS_READABLE))
        self.tags_box = QWidget(self)
        tags_row = QHBoxLayout(self.tags_box)
        tags_row.setContentsMargins(0, 0, 0, 0)
        tags_row.setSpacing(6)
        tags_row.addWidget(tags_label)
        tags_row.addWidget(self.tags, 1)
        # Said when a colleague changes the tags while the agent edits them.
        self.tags_notice = QLabel(self)
        self.tags_notice.setTextFormat(Qt.TextFormat.PlainText)
        self.tags_notice.setAccessibleName("Tags changed meanwhile")
        self.tags_notice.hide()
        tags_row.addWidget(self.tags_notice)
        # Its least width does not hold the pickers' row open: below it, the tags wrap.
        self.tags_box.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Preferred)
        layout.addWidget(self.tags_box, 1)
        self._tags_base: list[str] = []  # the tags shown when the agent began editing
        self._tags_behind = False  # a newer ticket came while the field had focus

        self.status.activated.connect(lambda _i: self._chosen("status", self.status))
        self.priority.activated.connect(lambda _i: self._chosen("priority", self.priority))
        self.assignee.activated.connect(lambda _i: self._chosen("assignee_id", self.assignee))
        self.group.activated.connect(lambda _i: self._chosen("group_id", self.group))

    @property
    def tags_wrapped(self) -> bool:
        """Whether the tags are on a row of their own (the bar is too narrow beside them)."""
        return self._second_row.indexOf(self.tags_box) >= 0

    def resizeEvent(self, event: QResizeEvent) -> None:
        super().resizeEvent(event)
        first = self._first_row
        items = [first.itemAt(i) for i in range(first.count())]
        pickers = sum(
            item.sizeHint().width() + first.spacing()
            for item in items
            if item is not None and item.widget() is not self.tags_box
        )
        wrap = pickers + self.tags_box.minimumSizeHint().width() > self.width()
        # Wrapped, the row must still grow the bar to its height: its least width holds.
        self.tags_box.setSizePolicy(
            QSizePolicy.Policy.Preferred if wrap else QSizePolicy.Policy.Ignored,
            QSizePolicy.Policy.Preferred,
        )
        if wrap != self.tags_wrapped:
            (first if wrap else self._second_row).removeWidget(self.tags_box)
            (self._second_row if wrap else first).addWidget(self.tags_box, 1)

    def _combo(self, name: str, shortcut: str, layout: QHBoxLayout) -> QComboBox:
        label = QLabel(name, self)
        label.setTextFormat(Qt.TextFormat.PlainText)
        combo = QComboBox(self)
        combo.setAccessibleName(name)
        combo.setToolTip(f"{name} ({shortcuts.label(shortcut)})")
        combo.setSizeAdjustPolicy(QComboBox.SizeAdjustPolicy.AdjustToContents)
        label.setBuddy(combo)
        layout.addWidget(label)
        layout.addWidget(combo)
        return combo

    # ---- showing ------------------------------------------------------------------------

    def set_directory(self, directory: Directory) -> None:
        """Fill the assignee and group pickers (kept in step with ``directoryChanged``)."""
        self._fill(
            self.assignee,
            [("", "Unassigned")] + [(a.id, a.name) for a in directory.agents],
        )
        self._fill(self.group, [("", "No group")] + [(g.id, g.name) for g in directory.groups])
        if self.ticket is not None:
            self.show_ticket(self.ticket)

    @staticmethod
    def _fill(combo: QComboBox, items: list[tuple[str, str]]) -> None:
        current = combo.currentData()
        combo.blockSignals(True)
        combo.clear()
        for value, text in items:
            combo.addItem(text, value)
        index = combo.findData(current)
        combo.setCurrentIndex(max(0, index))
        combo.blockSignals(False)

    def show_ticket(self, ticket: TicketDetail) -> None:
        self.ticket = ticket
        self._select(self.status, ticket.status)
        self._select(self.priority, ticket.priority)
        self._select(self.assignee, ticket.assignee_id or "")
        self._select(self.group, ticket.group_id or "")
        if not self.tags.hasFocus():
            self._show_tags()
        elif not self.tags.isModified():
            # In the field but nothing typed yet: the latest tags are what an edit starts from.
            selected = self.tags.hasSelectedText()
            self._show_tags()
            if selected:
                self.tags.selectAll()
        elif list(ticket.tags) != self._tags_base:
            # Never replace tags the agent is typing; say that they changed instead.
            self._tags_behind = True
            now = ", ".join(ticket.tags) or "none"
            self.tags_notice.setText(
                f"Tags changed meanwhile (now: {now}); your edit will be applied to them"
            )
            self.tags_notice.show()

    def _show_tags(self) -> None:
        tags = list(self.ticket.tags) if self.ticket is not None else []
        self.tags.setText(", ".join(tags))  # also clears isModified()
        self._tags_base = tags
        self._tags_behind = False
        self.tags_notice.hide()

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:
        if watched is self.tags:
            if event.type() == QEvent.Type.FocusIn and not self.tags.isModified():
                # Edits count from what the field shows now.
                self._tags_base = parse_tags(self.tags.text())
            elif (
                event.type() == QEvent.Type.FocusOut
                and not self.tags.isModified()
                and self._tags_behind
            ):
                # Not edited (or already sent): show the latest tags again.
                self._show_tags()
        return super().eventFilter(watched, event)

    @staticmethod
    def _select(combo: QComboBox, value: str) -> None:
        index = combo.findData(value)
        if index < 0 and value:
            # A value this desk does not know yet (an agent not in the directory): show it
            # rather than pretend the field is empty.
            combo.addItem(value, value)
            index = combo.count() - 1
        combo.blockSignals(True)
        combo.setCurrentIndex(max(0, index))
        combo.blockSignals(False)

    # ---- editing ------------------------------------------------------------------------

    def open_editor(self, field: str) -> None:
        """Keyboard access (Alt+S, Alt+P, ...): focus the editor and open its list."""
        editor: QWidget = {
            "status": self.status,
            "priority": self.priority,
            "assignee_id": self.assignee,
            "group_id": self.group,
            "tags": self.tags,
        }[field]
        editor.setFocus(Qt.FocusReason.ShortcutFocusReason)
        if isinstance(editor, QComboBox):
            editor.showPopup()
        else:
            self.tags.selectAll()

    def _chosen(self, field: str, combo: QComboBox) -> None:
        if self.ticket is None:
            return
        value: Any = combo.currentData() or None
        shown = getattr(self.ticket, field)
        if value != shown:
            self.changeRequested.emit({field: value})

    def _tags_edited(self) -> None:
        # Leaving the field (Tab, Esc, a click elsewhere) without typing sends nothing.
        if self.ticket is None or not self.tags.isModified():
            return
        typed = parse_tags(self.tags.text())
        latest = list(self.ticket.tags)
        tags = apply_tag_edit(self._tags_base, typed, latest)
        self.tags.setModified(False)
        self._tags_base = tags
        self._tags_behind = False
        self.tags_notice.hide()
        if tags != parse_tags(self.tags.text()):
            self.tags.setText(", ".join(tags))
        if tags != latest:
            self.changeRequested.emit({"tags": tags})
