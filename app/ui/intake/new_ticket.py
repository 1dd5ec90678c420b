"""New ticket (Ctrl+N), on any channel: the conversation in front of the agent, logged.

Channel (email, phone, chat, social, web form, walk-in; the last one used comes back),
customer (found as you type, or created inline: `CustomerPicker`), subject, the first
message — a reply to the customer, or an internal note ("what the caller said" on the
phone) — priority, group (the agent's own by default), assignee (the agent by default) and
tags.  Create goes through ``ticket.create``: the tab opens at once, offline too, and the
ticket's number appears when the server numbers it.

Keyboard-first: every field has a mnemonic, Ctrl+Enter creates from anywhere (Enter in a
one-line field too), Escape cancels.  Sized for a 1280x720 screen.
"""

from __future__ import annotations

import uuid
from typing import Any

from PySide6.QtCore import QSettings, QSize, Qt, Signal
from PySide6.QtGui import QKeySequence, QShortcut
from PySide6.QtWidgets import (
    QButtonGroup,
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPlainTextEdit,
    QRadioButton,
    QVBoxLayout,
    QWidget,
)

from app.models.enums import Channel, MessageKind, Priority
from app.sync.desk_types import CustomerMatch
from app.sync.protocol import ProtocolError
from app.ui import theme
from app.ui.bridge import Bridge
from app.ui.customer.picker import CustomerPicker
from app.ui.labels import CHANNEL_LABELS, PRIORITY_LABELS

SUBJECT_MAX = 500
BODY_MAX = 200_000
TAG_MAX = 64
TAGS_MAX = 50
LAST_CHANNEL_KEY = "new_ticket/channel"
# What the first message is for, by channel: on the phone or at the counter the agent writes
# down what the customer said (a note); in writing, they usually answer (a reply).
NOTE_FIRST = frozenset({Channel.PHONE, Channel.WALK_IN})
FIRST_MESSAGE_HINTS = {
    Channel.PHONE: "What the caller said, and what you told them…",
    Channel.WALK_IN: "What the customer at the desk asked for…",
}


def parse_tags(text: str) -> list[str]:
    """Tags typed as "billing, refund urgent" -> ["billing", "refund", "urgent"], each once."""
    out: list[str] = []
    for word in text.replace(",", " ").split():
        tag = word.strip().lower()
        if tag and tag not in out:
            out.append(tag)
    return out


class NewTicketDialog(QDialog):
    """The new-ticket form; ``open()`` it (non-blocking).

    Signals:
        created(str): the ticket was queued (its id); the window opens its tab.
    """

    created = Signal(str)

    def __init__(
        self,
        bridge: Bridge,
        parent: QWidget | None = None,
        *,
        settings: QSettings | None = None,
        channel: str | None = None,
        customer: CustomerMatch | None = None,
    ) -> None:
        super().__init__(parent)
        self._bridge = bridge
        self._settings = settings
        self.ticket_id: str | None = None
        self._queueing = False
        self.setWindowTitle("New ticket")
        self.setAccessibleName("New ticket")
        self.setMinimumWidth(560)

        layout = QVBoxLayout(self)
        form = QFormLayout()
        form.setFieldGrowthPolicy(QFormLayout.FieldGrowthPolicy.AllNonFixedFieldsGrow)
        self.channel_combo = QComboBox()
        self.channel_combo.setAccessibleName("Channel")
        for value in Channel:
            self.channel_combo.addItem(
                theme.channel_icon(value.value), CHANNEL_LABELS[value], value.value
            )
        form.addRow("C&hannel", self.channel_combo)

        self.picker = CustomerPicker(bridge, self)
        customer_label = QLabel("&Customer")
        customer_label.setBuddy(self.picker.line)
        form.addRow(customer_label, self.picker)

        self.subject_edit = QLineEdit()
        self.subject_edit.setMaxLength(SUBJECT_MAX)
        self.subject_edit.setAccessibleName("Subject")
        self.subject_edit.setPlaceholderText("What it is about, in a few words")
        form.addRow("&Subject", self.subject_edit)
        layout.addLayout(form)

        kinds = QHBoxLayout()
        self.reply_radio = QRadioButton("&Reply to the customer")
        self.note_radio = QRadioButton("Internal &note")
        self.reply_radio.setToolTip("The customer receives it")
        self.note_radio.setToolTip("Only agents see it")
        self._kinds = QButtonGroup(self)
        self._kinds.addButton(self.reply_radio)
        self._kinds.addButton(self.note_radio)
        first_label = QLabel("First &message:")
        kinds.addWidget(first_label)
        kinds.addWidget(self.reply_radio)
        kinds.addWidget(self.note_radio)
        kinds.addStretch(1)
        layout.addLayout(kinds)
        self.body_edit = QPlainTextEdit()
        self.body_edit.setAccessibleName("First message")
        self.body_edit.setTabChangesFocus(True)
        self.body_edit.setMinimumHeight(110)
        first_label.setBuddy(self.body_edit)
        layout.addWidget(self.body_edit, 1)

        more = QFormLayout()
        more.setFieldGrowthPolicy(QFormLayout.FieldGrowthPolicy.AllNonFixedFieldsGrow)
        row = QHBoxLayout()
        self.priority_combo = QComboBox()
        self.priority_combo.setAccessibleName("Priority")
        for priority in Priority:
            self.priority_combo.addItem(PRIORITY_LABELS[priority], priority.value)
        self.priority_combo.setCurrentIndex(self.priority_combo.findData(Priority.NORMAL.value))
        self.group_combo = QComboBox()
        self.group_combo.setAccessibleName("Group")
        self.assignee_combo = QComboBox()
        self.assignee_combo.setAccessibleName("Assignee")
        self.assignee_combo.setMinimumContentsLength(12)
        self.group_combo.setMinimumContentsLength(12)
        row.addWidget(self.priority_combo)
        group_label = QLabel("&Group")
        group_label.setBuddy(self.group_combo)
        row.addWidget(group_label)
        row.addWidget(self.group_combo, 1)
        assignee_label = QLabel("&Assignee")
        assignee_label.setBuddy(self.assignee_combo)
        row.addWidget(assignee_label)
        row.addWidget(self.assignee_combo, 1)
        priority_label = QLabel("&Priority")
        priority_label.setBuddy(self.priority_combo)
        more.addRow(priority_label, row)
        self.tags_edit = QLineEdit()
        self.tags_edit.setAccessibleName("Tags")
        self.tags_edit.setPlaceholderText("optional, separated by spaces or commas")
        more.addRow("&Tags", self.tags_edit)
        layout.addLayout(more)

        self.error_label = QLabel()
        self.error_label.setAccessibleName("Problem")
        self.error_label.setTextFormat(Qt.TextFormat.PlainText)
        self.error_label.setWordWrap(True)
        self.error_label.setStyleSheet(f"color: {theme.colors().failed.name()}")
        self.error_label.hide()
        layout.addWidget(self.error_label)

        self.buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Cancel)
        self.create_button = self.buttons.addButton(
            "Create ticket", QDialogButtonBox.ButtonRole.AcceptRole
        )
        self.create_button.setDefault(True)
        self.create_button.setToolTip("Create the ticket (Ctrl+Enter)")
        self.buttons.accepted.connect(self.create_ticket)
        self.buttons.rejected.connect(self.reject)
        layout.addWidget(self.buttons)
        QShortcut(QKeySequence("Ctrl+Return"), self, self.create_ticket)
        QShortcut(QKeySequence("Ctrl+Enter"), self, self.create_ticket)

        self._fill_people()
        remembered = settings.value(LAST_CHANNEL_KEY) if settings is not None else None
        start = channel or (remembered if isinstance(remembered, str) else None)
        found = self.channel_combo.findData(start) if start else -1
        self.channel_combo.setCurrentIndex(max(found, 0))
        self.channel_combo.currentIndexChanged.connect(lambda _i: self._channel_changed())
        self._note_chosen_by_agent = False
        self._kinds.buttonClicked.connect(lambda _b: setattr(self, "_note_chosen_by_agent", True))
        self._channel_changed()
        if customer is not None:
            self.picker.set_customer(customer)
            self.subject_edit.setFocus()
        else:
            self.picker.setFocus()
        for edit in (self.subject_edit, self.tags_edit):
            edit.returnPressed.connect(self.create_ticket)
        self.subject_edit.textChanged.connect(lambda _t: self.error_label.hide())
        self.picker.customerChosen.connect(self._customer_chosen)

    def sizeHint(self) -> QSize:
        return QSize(640, 560)

    # ---- filling -------------------------------------------------------------------------

    def _fill_people(self) -> None:
        directory = self._bridge.directory
        me = directory.me
        self.group_combo.addItem("No group", None)
        mine = set(directory.my_group_ids)
        for team in directory.groups:
            self.group_combo.addItem(team.name, team.id)
        own = [t.id for t in directory.groups if t.id in mine]
        if own:
            self.group_combo.setCurrentIndex(self.group_combo.findData(own[0]))
        self.assignee_combo.addItem("Unassigned", None)
        for person in directory.agents:
            text = f"{person.name} (me)" if me is not None and person.id == me.id else person.name
            self.assignee_combo.addItem(text, person.id)
        if me is not None:
            self.assignee_combo.setCurrentIndex(self.assignee_combo.findData(me.id))

    @property
    def channel(self) -> str:
        return str(self.channel_combo.currentData())

    @property
    def message_kind(self) -> str:
        return MessageKind.NOTE.value if self.note_radio.isChecked() else MessageKind.REPLY.value

    def _channel_changed(self) -> None:
        channel = Channel(self.channel)
        if not self._note_chosen_by_agent:
            (self.note_radio if channel in NOTE_FIRST else self.reply_radio).setChecked(True)
        self.body_edit.setPlaceholderText(
            FIRST_MESSAGE_HINTS.get(channel, "Optional: your first reply, or a note for colleagues")
        )

    def _customer_chosen(self, match: object) -> None:
        if match is not None:
            self.error_label.hide()
            if self.picker.line.hasFocus():
                self.subject_edit.setFocus()

    # ---- creating ------------------------------------------------------------------------

    def problems(self) -> list[str]:
        out = []
        if not self.subject_edit.text().strip():
            out.append("Give the ticket a subject.")
        if self.picker.customer is None and self.picker.line.text().strip():
            out.append(
                "Choose the customer from the suggestions (or “Create customer”), or clear the "
                "customer field."
            )
        body = self.body_edit.toPlainText()
        if len(body) > BODY_MAX:
            out.append(f"The first message is {len(body):,} characters; at most {BODY_MAX:,}.")
        tags = parse_tags(self.tags_edit.text())
        if len(tags) > TAGS_MAX:
            out.append(f"At most {TAGS_MAX} tags.")
        if any(len(t) > TAG_MAX for t in tags):
            out.append(f"A tag has at most {TAG_MAX} characters.")
        group_id = self.group_combo.currentData()
        assignee_id = self.assignee_combo.currentData()
        directory = self._bridge.directory
        me = directory.me
        sees_all = me is not None and me.role in ("supervisor", "admin")
        if (
            not sees_all
            and group_id not in directory.my_group_ids
            and (me is None or assignee_id != me.id)
        ):
            out.append("Put the ticket in one of your groups, or assign it to yourself.")
        return out

    def args(self, ticket_id: str) -> dict[str, Any]:
        """The ``ticket.create`` arguments the form makes."""
        customer = self.picker.customer
        ticket: dict[str, Any] = {
            "id": ticket_id,
            "subject": self.subject_edit.text().strip(),
            "channel": self.channel,
            "priority": str(self.priority_combo.currentData()),
            "customer_id": customer.id if customer is not None else None,
            "group_id": self.group_combo.currentData(),
            "assignee_id": self.assignee_combo.currentData(),
            "tags": parse_tags(self.tags_edit.text()),
        }
        args: dict[str, Any] = {"ticket": ticket}
        body = self.body_edit.toPlainText()
        if body.strip():
            args["message"] = {
                "id": str(uuid.uuid4()),
                "ticket_id": ticket_id,
                "kind": self.message_kind,
                "body": body,
            }
        return args

    def create_ticket(self) -> None:
        """Queue the new ticket (Create ticket); closes once queued, or says what is wrong."""
        if self.picker.suggestions_shown() or self.ticket_id is not None or self._queueing:
            return  # Enter chose a suggestion, or the ticket is on its way already
        problems = self.problems()
        if problems:
            self.error_label.setText(" ".join(problems))
            self.error_label.show()
            return
        ticket_id = str(uuid.uuid4())
        args = self.args(ticket_id)
        if self._settings is not None:
            self._settings.setValue(LAST_CHANNEL_KEY, self.channel)
        self.buttons.setEnabled(False)
        self._queueing = True  # Enter in a line also presses the default button: once

        def queued(_mutation_id: int) -> None:
            self._queueing = False
            self.buttons.setEnabled(True)
            self.ticket_id = ticket_id
            self.created.emit(ticket_id)
            self.accept()

        def failed(exc: BaseException) -> None:
            self._queueing = False
            self.buttons.setEnabled(True)
            if isinstance(exc, ProtocolError):  # what the protocol's limits refuse
                self.error_label.setText(f"This ticket cannot be created: {exc}")
                self.error_label.show()
            else:
                self._bridge.taskFailed.emit(exc)

        self._bridge.run(
            self._bridge.engine.mutate("ticket.create", args), on_result=queued, on_error=failed
        )
