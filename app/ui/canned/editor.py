"""Create or change one canned response.

The editor queues ``canned.create`` or ``canned.update`` through ``SyncEngine.mutate`` (see
docs/protocol.md, 11.6): there is no optimistic copy, so the picker's list shows the change
when the server's row arrives.  Input is checked here against the protocol's limits first, so
the agent hears what is wrong before anything is queued, and never gets a refusal later.

Scopes: the editor offers whom the agent may give a response as the canned reader says
(``bridge.canned.scopes``), which asks the rule the server checks: the desk keeps no copy of
it, so it can never offer what the server would refuse.
"""

from __future__ import annotations

import uuid
from typing import Any

from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QKeySequence, QPalette, QShortcut
from PySide6.QtWidgets import (
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QListWidget,
    QListWidgetItem,
    QPlainTextEdit,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from app.models.enums import CannedScope
from app.sync import placeholders
from app.sync.desk_types import CannedItem
from app.sync.protocol import ProtocolError
from app.ui.bridge import Bridge
from app.ui.theme import colors

TITLE_MAX = 200
SHORTCUT_MAX = 64
BODY_MAX = 200_000


# What each placeholder becomes, for the helper's tooltips and screen readers.
_DESCRIPTIONS = {
    "customer.name": "The customer's full name",
    "customer.first_name": "The customer's first name",
    "customer.last_name": "The customer's last name",
    "customer.email": "The customer's first email address",
    "customer.phone": "The customer's first phone number",
    "customer.organization": "The customer's organization",
    "ticket.number": "The ticket's number",
    "ticket.subject": "The ticket's subject",
    "ticket.status": "The ticket's status",
    "agent.name": "Your name",
    "agent.first_name": "Your first name",
    "agent.email": "Your email address",
}


def known_placeholders() -> list[tuple[str, str]]:
    """(name, what it becomes) of every placeholder the desk fills, for the helper list."""
    return [(name, _DESCRIPTIONS.get(name, name)) for name in placeholders.KNOWN]


class CannedEditor(QDialog):
    """Edits one canned response (``item``) or makes a new one (``item`` None).

    Open it with ``open()`` (non-blocking: no nested event loop under qasync).

    Signals:
        saved(str): the change of this canned response id is queued for the server.
    """

    saved = Signal(str)

    def __init__(
        self, bridge: Bridge, item: CannedItem | None = None, parent: QWidget | None = None
    ) -> None:
        super().__init__(parent)
        self._bridge = bridge
        self.item = item
        self.setWindowTitle("Edit canned response" if item else "New canned response")
        self.setAccessibleName(self.windowTitle())
        self.resize(620, 520)

        layout = QVBoxLayout(self)
        form = QFormLayout()
        self.title_edit = QLineEdit(item.title if item else "")
        self.title_edit.setMaxLength(TITLE_MAX)
        self.title_edit.setAccessibleName("Title")
        self.title_edit.setPlaceholderText("What it is for, e.g. “Replacement shipped”")
        form.addRow("&Title", self.title_edit)
        self.shortcut_edit = QLineEdit(item.shortcut if item else "")
        self.shortcut_edit.setMaxLength(SHORTCUT_MAX)
        self.shortcut_edit.setAccessibleName("Shortcut")
        self.shortcut_edit.setPlaceholderText("optional: type /shortcut in the composer")
        form.addRow("&Shortcut", self.shortcut_edit)
        self.scope_combo = QComboBox()
        self.scope_combo.setAccessibleName("Who can use it")
        form.addRow("&Who can use it", self.scope_combo)
        layout.addLayout(form)

        body_row = QHBoxLayout()
        body_box = QVBoxLayout()
        body_label = QLabel("&Text")
        self.body_edit = QPlainTextEdit(item.body if item else "")
        self.body_edit.setAccessibleName("Text of the response")
        self.body_edit.setTabChangesFocus(True)  # keyboard users must be able to leave it
        body_label.setBuddy(self.body_edit)
        body_box.addWidget(body_label)
        body_box.addWidget(self.body_edit, 1)
        body_row.addLayout(body_box, 3)

        helper = QVBoxLayout()
        helper_label = QLabel("&Placeholders")
        self.placeholder_list = QListWidget()
        self.placeholder_list.setAccessibleName("Placeholders")
        for name, description in known_placeholders():
            entry = QListWidgetItem(f"{{{{{name}}}}}")
            entry.setData(Qt.ItemDataRole.UserRole, name)
            entry.setToolTip(description)
            entry.setData(Qt.ItemDataRole.AccessibleDescriptionRole, description)
            self.placeholder_list.addItem(entry)
        if self.placeholder_list.count():
            self.placeholder_list.setCurrentRow(0)
        helper_label.setBuddy(self.placeholder_list)
        self.placeholder_list.itemActivated.connect(lambda _item: self.insert_placeholder())
        insert = QPushButton("&Insert placeholder")
        insert.setAccessibleName("Insert the selected placeholder into the text")
        insert.clicked.connect(self.insert_placeholder)
        helper.addWidget(helper_label)
        helper.addWidget(self.placeholder_list, 1)
        helper.addWidget(insert)
        hint = QLabel("Placeholders are filled in from the ticket when the response is inserted.")
        hint.setWordWrap(True)
        hint.setForegroundRole(QPalette.ColorRole.PlaceholderText)  # a quiet hint
        helper.addWidget(hint)
        body_row.addLayout(helper, 2)
        layout.addLayout(body_row, 1)

        self.error_label = QLabel()
        self.error_label.setAccessibleName("Problem")
        self.error_label.setTextFormat(Qt.TextFormat.PlainText)
        self.error_label.setWordWrap(True)
        self.error_label.setStyleSheet(f"color: {colors().failed.name()}")
        self.error_label.hide()
        layout.addWidget(self.error_label)

        self.buttons = QDialogButtonBox(
            QDialogButtonBox.StandardButton.Save | QDialogButtonBox.StandardButton.Cancel
        )
        self.buttons.accepted.connect(self.save)
        self.buttons.rejected.connect(self.reject)
        layout.addWidget(self.buttons)

        # Enter in a line saves (the default button); in the text it is a new line, so the
        # usual Ctrl+Enter saves from there too.
        QShortcut(QKeySequence("Ctrl+Return"), self, self.save)

        self._fill_scopes()
        self.title_edit.setFocus()

    # ---- scope ---------------------------------------------------------------------------

    def _fill_scopes(self) -> None:
        directory = self._bridge.directory
        names = {team.id: team.name for team in directory.groups}
        for scope, group_id in self._bridge.canned.scopes(directory):
            if scope == CannedScope.PERSONAL:
                label = "Only me (personal)"
            elif scope == CannedScope.SHARED:
                label = "Everyone (shared)"
            else:
                label = f"Group: {names.get(group_id or '', group_id)}"
            self.scope_combo.addItem(label, (scope, group_id))
        item = self.item
        if item is not None:
            wanted = (item.scope, item.group_id if item.scope == CannedScope.GROUP else None)
            found = self.scope_combo.findData(wanted)
            if found < 0:  # e.g. a group this desk does not know: keep it as it is
                self.scope_combo.addItem(f"{item.scope.title()} (unchanged)", wanted)
                found = self.scope_combo.count() - 1
            self.scope_combo.setCurrentIndex(found)
        self.scope_combo.setEnabled(self.scope_combo.count() > 1)

    def scope(self) -> tuple[str, str | None]:
        data = self.scope_combo.currentData()
        if isinstance(data, tuple | list) and len(data) == 2:
            return str(data[0]), None if data[1] is None else str(data[1])
        return CannedScope.PERSONAL.value, None

    # ---- editing -------------------------------------------------------------------------

    def insert_placeholder(self) -> None:
        entry = self.placeholder_list.currentItem()
        if entry is None:
            return
        self.body_edit.insertPlainText(f"{{{{{entry.data(Qt.ItemDataRole.UserRole)}}}}}")
        self.body_edit.setFocus()

    def problems(self) -> list[str]:
        """What keeps the response from being saved, in plain words (empty: nothing)."""
        out = []
        if not self.title_edit.text().strip():
            out.append("Give it a title.")
        body = self.body_edit.toPlainText()
        if not body.strip():
            out.append("Write the text of the response.")
        elif len(body) > BODY_MAX:
            out.append(f"The text is {len(body):,} characters; at most {BODY_MAX:,} fit.")
        if any(c.isspace() for c in self.shortcut_edit.text().strip()):
            out.append("A shortcut is one word, without spaces.")
        return out

    def _fields(self) -> dict[str, Any]:
        scope, group_id = self.scope()
        fields: dict[str, Any] = {
            "title": self.title_edit.text().strip(),
            "shortcut": self.shortcut_edit.text().strip().lstrip("/"),
            "body": self.body_edit.toPlainText(),
            "scope": scope,
        }
        if scope == CannedScope.GROUP:
            fields["group_id"] = group_id
        return fields

    def save(self) -> None:
        """Queue the change (Save); closes when it is queued, or says what is wrong."""
        problems = self.problems()
        if problems:
            self._show_problem(" ".join(problems))
            return
        fields = self._fields()
        item = self.item
        if item is None:
            canned_id = str(uuid.uuid4())
            name = "canned.create"
            args: dict[str, Any] = {"canned_id": canned_id, "canned": fields}
        else:
            canned_id = item.id
            name = "canned.update"
            old = {
                "title": item.title,
                "shortcut": item.shortcut,
                "body": item.body,
                "scope": item.scope,
                "group_id": item.group_id,
            }
            changes = {k: v for k, v in fields.items() if old.get(k) != v}
            if not changes:
                self.accept()  # nothing changed: nothing to queue
                return
            if "group_id" in changes and "scope" not in changes:
                changes["scope"] = fields["scope"]
            args = {"canned_id": canned_id, "changes": changes}
        self.buttons.setEnabled(False)

        def queued(_mutation_id: int) -> None:
            self.buttons.setEnabled(True)
            self.saved.emit(canned_id)
            self.accept()

        def failed(exc: BaseException) -> None:
            self.buttons.setEnabled(True)
            if isinstance(exc, ProtocolError):
                self._show_problem(f"This cannot be saved: {exc}")
            else:
                self._bridge.taskFailed.emit(exc)

        self._bridge.run(
            self._bridge.engine.mutate(name, args),
            on_result=queued,
            on_error=failed,
        )

    def _show_problem(self, text: str) -> None:
        self.error_label.setText(text)
        self.error_label.show()
