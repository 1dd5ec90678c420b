"""Merge a ticket into another, or split messages off into a new ticket, from its conversation.

``TicketActions`` puts both in the conversation's header ("Merge or split ▾"), with their
shortcuts, and shows a banner on a ticket that was merged ("Merged into #12 · Open #12").
``TicketMergeDialog`` finds the ticket to merge into (its number, or words of its subject)
and says what happens; ``SplitDialog`` lists the thread's messages (those selected in the
thread ticked) and the new ticket's subject for the agent to confirm.  Both are changes like
any other: queued while offline and made by the server, which words its refusals plainly.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterable
from typing import TYPE_CHECKING

from PySide6.QtCore import QObject, Qt, QTimer, Signal
from PySide6.QtWidgets import (
    QBoxLayout,
    QDialog,
    QDialogButtonBox,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QListWidget,
    QListWidgetItem,
    QMenu,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from app.models.enums import MessageKind
from app.sync.desk_types import Conversation, MessageItem, TicketDetail
from app.ui import shortcuts
from app.ui.bridge import Bridge
from app.ui.conversation.thread import ThreadRole
from app.ui.labels import STATUS_LABELS

if TYPE_CHECKING:
    from app.ui.conversation.view import ConversationView

SEARCH_AFTER_MS = 150
_NUMBER = re.compile(r"^\s*#?(\d+)\s*$")


def _label(ticket: TicketDetail) -> str:
    number = f"#{ticket.number}" if ticket.number is not None else "New ticket"
    return f"{number} {ticket.subject}"


def _first_line(text: str, chars: int = 70) -> str:
    line = " ".join(text.split())
    return line if len(line) <= chars else line[: chars - 1] + "…"


class TicketMergeDialog(QDialog):
    """Choose the ticket to merge this one into, read what happens, confirm."""

    def __init__(self, bridge: Bridge, source: Conversation, parent: QWidget | None = None):
        super().__init__(parent)
        self._bridge = bridge
        self.source = source
        self.target: Conversation | None = None
        self._query_seq = 0
        ticket = source.ticket
        self.setWindowTitle(f"Merge {_label(ticket)} into another ticket")
        self.setAccessibleName("Merge tickets")
        self.resize(640, 460)
        layout = QVBoxLayout(self)
        find = QLabel("Merge into ticket:", self)
        layout.addWidget(find)
        self.query = QLineEdit(self)
        self.query.setPlaceholderText("Ticket number (#1042) or words from its subject")
        self.query.setAccessibleName("Find the ticket to merge into")
        self.query.setClearButtonEnabled(True)
        find.setBuddy(self.query)
        layout.addWidget(self.query)
        self.results = QListWidget(self)
        self.results.setAccessibleName("Tickets found")
        layout.addWidget(self.results, 1)
        self.summary = QLabel(self)
        self.summary.setTextFormat(Qt.TextFormat.PlainText)  # subjects are never markup
        self.summary.setWordWrap(True)
        self.summary.setAccessibleName("What the merge does")
        layout.addWidget(self.summary)
        buttons = QDialogButtonBox(self)
        self.merge_button = QPushButton("Merge", self)
        self.merge_button.setEnabled(False)
        buttons.addButton(self.merge_button, QDialogButtonBox.ButtonRole.AcceptRole)
        buttons.addButton(QDialogButtonBox.StandardButton.Cancel)
        buttons.accepted.connect(self.confirm)
        buttons.rejected.connect(self.reject)
        layout.addWidget(buttons)
        self._debounce = QTimer(self)
        self._debounce.setSingleShot(True)
        self._debounce.setInterval(SEARCH_AFTER_MS)
        self._debounce.timeout.connect(self._search)
        self.query.textChanged.connect(lambda _t: self._debounce.start())
        self.query.returnPressed.connect(self._take_first)
        self.results.currentItemChanged.connect(self._chosen)

    def _search(self) -> None:
        text = self.query.text().strip()
        self._query_seq += 1
        seq = self._query_seq
        if not text:
            self.results.clear()
            return
        number = _NUMBER.match(text)
        query = f"#{number.group(1)}" if number else text

        async def find() -> list[tuple[str, str]]:
            results = await self._bridge.search.everywhere(query, limit=40)
            seen: dict[str, str] = {}
            for hit in results.hits:
                if hit.kind == "ticket" and hit.ticket_id and hit.ticket_id not in seen:
                    seen[hit.ticket_id] = hit.title
            seen.pop(self.source.ticket.id, None)
            return list(seen.items())

        def found(choices: list[tuple[str, str]]) -> None:
            if seq != self._query_seq:
                return
            self.results.clear()
            for ticket_id, title in choices:
                item = QListWidgetItem(title)
                item.setData(Qt.ItemDataRole.UserRole, ticket_id)
                self.results.addItem(item)
            if not choices:
                self.summary.setText("No other ticket on this workstation matches.")

        self._bridge.run(find(), on_result=found)

    def _take_first(self) -> None:
        if self.results.count() and self.results.currentItem() is None:
            self.results.setCurrentRow(0)
        self.results.setFocus()

    def _chosen(self, item: QListWidgetItem | None) -> None:
        if item is None:
            return
        ticket_id = str(item.data(Qt.ItemDataRole.UserRole))

        def loaded(conversation: Conversation | None) -> None:
            current = self.results.currentItem()
            if current is None or current.data(Qt.ItemDataRole.UserRole) != ticket_id:
                return
            self.show_target(conversation)

        self._bridge.run(self._bridge.conversations.conversation(ticket_id), on_result=loaded)

    def show_target(self, target: Conversation | None) -> None:
        """Say what merging into ``target`` does, or why it cannot be chosen."""
        self.target = None
        self.merge_button.setEnabled(False)
        if target is None:
            self.summary.setText("That ticket is no longer on this workstation.")
            return
        source, into = self.source.ticket, target.ticket
        if into.merged_into is not None:
            self.summary.setText(
                f"{_label(into)} was itself merged into another ticket: choose that one."
            )
            return
        if into.number is None:
            self.summary.setText(f"{_label(into)} has not reached the server yet: try again soon.")
            return
        self.target = target
        moved = sum(1 for m in self.source.messages if m.kind != MessageKind.EVENT)
        status = STATUS_LABELS.get(into.status, into.status)
        self.summary.setText(
            f"#{into.number} {into.subject} ({status}) is kept. The {moved} messages of "
            f"{_label(source)} — replies, notes and calls, with its history — join it in time "
            f"order, and everyone's drafts move with them. #{source.number} is then closed "
            "and marked merged. This cannot be undone."
        )
        self.merge_button.setText(f"Merge into #{into.number}")
        self.merge_button.setEnabled(True)

    def confirm(self) -> None:
        if self.target is None:
            return
        args = {"source_id": self.source.ticket.id, "target_id": self.target.ticket.id}
        self.merge_button.setEnabled(False)

        def failed(exc: BaseException) -> None:
            self.merge_button.setEnabled(True)
            self._bridge.taskFailed.emit(exc)

        self._bridge.run(
            self._bridge.engine.mutate("ticket.merge", args),
            on_result=lambda _id: self.accept(),
            on_error=failed,
        )


class SplitDialog(QDialog):
    """Tick the messages that move to a new ticket and confirm its subject."""

    def __init__(
        self,
        bridge: Bridge,
        conversation: Conversation,
        selected: Iterable[str] = (),
        parent: QWidget | None = None,
    ) -> None:
        super().__init__(parent)
        self._bridge = bridge
        self.conversation = conversation
        self.new_ticket_id = str(uuid.uuid4())
        ticket = conversation.ticket
        self.setWindowTitle(f"Split {_label(ticket)}")
        self.setAccessibleName("Split into a new ticket")
        self.resize(640, 500)
        chosen = set(selected)
        layout = QVBoxLayout(self)
        intro = QLabel(
            "The ticked messages move to a new ticket for the same customer, group and "
            "assignee. Drafts stay on this ticket.",
            self,
        )
        intro.setWordWrap(True)
        layout.addWidget(intro)
        self.messages = QListWidget(self)
        self.messages.setAccessibleName("Messages to move")
        for message in conversation.messages:
            if message.kind == MessageKind.EVENT or message.delivery_state in ("queued", "failed"):
                continue  # the history stays; unsent messages are not on the server yet
            item = QListWidgetItem(self._line(message))
            item.setData(Qt.ItemDataRole.UserRole, message.id)
            item.setFlags(item.flags() | Qt.ItemFlag.ItemIsUserCheckable)
            checked = Qt.CheckState.Checked if message.id in chosen else Qt.CheckState.Unchecked
            item.setCheckState(checked)
            self.messages.addItem(item)
        layout.addWidget(self.messages, 1)
        subject_label = QLabel("Subject of the new ticket:", self)
        layout.addWidget(subject_label)
        self.subject = QLineEdit(ticket.subject, self)
        self.subject.setMaxLength(500)
        self.subject.setAccessibleName("Subject of the new ticket")
        subject_label.setBuddy(self.subject)
        layout.addWidget(self.subject)
        self.problem = QLabel(self)
        self.problem.setWordWrap(True)
        layout.addWidget(self.problem)
        buttons = QDialogButtonBox(self)
        self.split_button = QPushButton("Split into a new ticket", self)
        buttons.addButton(self.split_button, QDialogButtonBox.ButtonRole.AcceptRole)
        buttons.addButton(QDialogButtonBox.StandardButton.Cancel)
        buttons.accepted.connect(self.confirm)
        buttons.rejected.connect(self.reject)
        layout.addWidget(buttons)
        self.messages.itemChanged.connect(lambda _i: self._check())
        self.subject.textChanged.connect(lambda _t: self._check())
        self._check()

    def _line(self, m: MessageItem) -> str:
        when = m.created_at.strftime("%d %b %H:%M")
        kind = {"note": "note", "call": "call"}.get(m.kind, "")
        who = f"{m.author_name} ({kind})" if kind else m.author_name
        return f"{who} · {when} — {_first_line(m.body)}"

    def ticked(self) -> list[str]:
        return [
            str(self.messages.item(i).data(Qt.ItemDataRole.UserRole))
            for i in range(self.messages.count())
            if self.messages.item(i).checkState() == Qt.CheckState.Checked
        ]

    def _check(self) -> None:
        ticked = len(self.ticked())
        problem = ""
        if not ticked:
            problem = "Tick the messages that belong to the new ticket."
        elif ticked == self.messages.count():
            problem = "At least one message must stay on this ticket."
        elif not self.subject.text().strip():
            problem = "The new ticket needs a subject."
        self.problem.setText(problem)
        self.split_button.setEnabled(not problem)
        if not problem:
            self.split_button.setText(
                f"Move {ticked} message{'s' if ticked != 1 else ''} to a new ticket"
            )

    def confirm(self) -> None:
        if not self.split_button.isEnabled():
            return
        args = {
            "ticket_id": self.conversation.ticket.id,
            "message_ids": self.ticked(),
            "new_ticket_id": self.new_ticket_id,
            "subject": self.subject.text().strip(),
        }
        self.split_button.setEnabled(False)

        def failed(exc: BaseException) -> None:
            self.split_button.setEnabled(True)
            self._bridge.taskFailed.emit(exc)

        self._bridge.run(
            self._bridge.engine.mutate("ticket.split", args),
            on_result=lambda _id: self.accept(),
            on_error=failed,
        )


class TicketActions(QObject):
    """A conversation's merge and split actions, and the banner of a merged ticket.

    ``openTicket(str)``: the agent asked to open the ticket this one was merged into.
    """

    openTicket = Signal(str)

    def __init__(self, view: ConversationView, header: QBoxLayout, body: QBoxLayout) -> None:
        super().__init__(view)
        self._view = view
        self.button = QPushButton("Merge or split", view)
        self.button.setAccessibleName("Merge or split this ticket")
        menu = QMenu(self.button)
        self.merge_action = shortcuts.bind(view, "merge_ticket", self.merge)
        self.merge_action.setText("Merge into another ticket…")
        self.split_action = shortcuts.bind(view, "split_ticket", self.split)
        self.split_action.setText("Split selected messages into a new ticket…")
        menu.addAction(self.merge_action)
        menu.addAction(self.split_action)
        self.button.setMenu(menu)
        header.addWidget(self.button)

        self.banner = QWidget(view)
        row = QHBoxLayout(self.banner)
        row.setContentsMargins(0, 0, 0, 0)
        self.banner_label = QLabel(self.banner)
        self.banner_label.setTextFormat(Qt.TextFormat.PlainText)
        self.banner_label.setAccessibleName("Merged ticket")
        row.addWidget(self.banner_label, 1)
        self.open_button = QPushButton("Open it", self.banner)
        self.open_button.clicked.connect(self._open_survivor)
        row.addWidget(self.open_button)
        self.banner.hide()
        body.addWidget(self.banner)
        self._survivor: str | None = None
        view.loaded.connect(self._loaded)

    def _loaded(self) -> None:
        conversation = self._view.conversation
        merged = conversation is not None and conversation.ticket.merged_into is not None
        self.merge_action.setEnabled(conversation is not None and not merged)
        self.split_action.setEnabled(conversation is not None and not merged)
        if conversation is None or conversation.ticket.merged_into is None:
            self._survivor = None
            self.banner.hide()
            return
        survivor = conversation.ticket.merged_into
        self._survivor = survivor

        def named(target: Conversation | None) -> None:
            if self._survivor != survivor:
                return
            name = _label(target.ticket) if target is not None else "another ticket"
            self.banner_label.setText(
                f"This ticket was merged into {name}; its conversation continues there."
            )
            self.open_button.setText(
                f"Open #{target.ticket.number}"
                if target is not None and target.ticket.number
                else "Open it"
            )
            self.open_button.setEnabled(target is not None)
            self.banner.show()

        self._view.bridge.run(
            self._view.bridge.conversations.conversation(survivor), on_result=named
        )

    def _open_survivor(self) -> None:
        if self._survivor is not None:
            self.openTicket.emit(self._survivor)

    def selected_messages(self) -> list[str]:
        thread = self._view.thread_view
        return [
            str(index.data(ThreadRole.ID))
            for index in thread.selectionModel().selectedIndexes()
            if index.data(ThreadRole.KIND) != MessageKind.EVENT
        ]

    def merge(self) -> TicketMergeDialog | None:
        conversation = self._view.conversation
        if conversation is None or conversation.ticket.merged_into is not None:
            return None
        dialog = TicketMergeDialog(self._view.bridge, conversation, self._view)
        dialog.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        dialog.open()
        return dialog

    def split(self) -> SplitDialog | None:
        conversation = self._view.conversation
        if conversation is None or conversation.ticket.merged_into is not None:
            return None
        dialog = SplitDialog(self._view.bridge, conversation, self.selected_messages(), self._view)
        dialog.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        dialog.open()
        return dialog
