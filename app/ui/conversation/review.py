"""The review panel: changes of this agent's that the server refused, explained in plain words.

A refused reply or change is never overwritten silently and its text is never lost: the
refusal (with everything the agent wrote) stays in the cache until the agent chooses —
*Send anyway* (a new mutation on the current version), *Edit* (the text back into the
composer, or the property editor opened) or *Discard* (confirmed first when it holds text).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import QFrame, QHBoxLayout, QLabel, QPushButton, QVBoxLayout, QWidget

from app.models.enums import MessageKind
from app.sync.desk_types import Refusal
from app.ui.conversation.properties import FIELD_LABELS
from app.ui.labels import PRIORITY_LABELS, STATUS_LABELS

EXCERPT_CHARS = 160


def excerpt(text: str, limit: int = EXCERPT_CHARS) -> str:
    flat = " ".join(text.split())
    return flat if len(flat) <= limit else flat[: limit - 1] + "…"


def message_text(refusal: Refusal) -> str:
    """The text the agent wrote, if the refused change was a message (a reply or a note)."""
    message = refusal.args.get("message")
    if isinstance(message, dict):
        return str(message.get("body") or "")
    return ""


def message_kind(refusal: Refusal) -> str:
    message = refusal.args.get("message")
    if isinstance(message, dict) and message.get("kind") == MessageKind.NOTE:
        return MessageKind.NOTE
    return MessageKind.REPLY


class Explainer:
    """Turns a refusal into sentences; needs names for agent ids and the values the agent
    was looking at when they made a change (remembered by the view, when it still knows)."""

    def __init__(
        self,
        agent_name: Callable[[str | None], str],
        my_id: str | None,
        seen_before: dict[int, dict[str, Any]],
        seen_messages: dict[str, frozenset[str]] | None = None,
    ) -> None:
        self.agent_name = agent_name
        self.my_id = my_id
        self.seen_before = seen_before
        self.seen_messages = seen_messages if seen_messages is not None else {}

    def value(self, field: str, value: Any) -> str:
        if value is None or value == "":
            return {"assignee_id": "nobody", "group_id": "no group"}.get(field, "nothing")
        if field == "status":
            return STATUS_LABELS.get(value, str(value))
        if field == "priority":
            return PRIORITY_LABELS.get(value, str(value))
        if field == "assignee_id":
            return self.agent_name(str(value)) or "another agent"
        if field == "tags" and isinstance(value, list):
            return ", ".join(str(v) for v in value) or "no tags"
        return str(value)

    def title(self, r: Refusal) -> str:
        what = "Your change was not saved"
        if r.name == "message.add":
            # The declared wording names it (a reply, a note, a call log); only a reply is sent.
            verb = "sent" if message_kind(r) == MessageKind.REPLY else "added"
            what = f"Your {r.what.lower()} was not {verb}"
        reasons = {
            "conflict": "someone else changed this ticket first",
            "forbidden": "you are not allowed to do that",
            "not_found": "the ticket is gone or no longer shared with you",
            "invalid_mutation": "the server could not accept it",
            "duplicate": "it was already there",
        }
        reason = reasons.get(r.code, "the server refused it")
        return f"{what}: {reason}."

    def details(self, r: Refusal) -> list[str]:
        lines: list[str] = []
        current = r.current or {}
        if r.code == "conflict" and r.name == "message.add":
            latest = current.get("latest_messages")
            others = [
                m
                for m in (latest if isinstance(latest, list) else [])
                if isinstance(m, dict)
                and m.get("author_agent_id") != self.my_id
                and m.get("kind") != MessageKind.EVENT
            ]
            message = r.args.get("message")
            shown = self.seen_messages.get(
                str(message.get("id")) if isinstance(message, dict) else ""
            )
            if shown is not None:
                # The thread as it was on screen when the agent pressed Send: only what
                # arrived after that is news.
                others = [m for m in others if m.get("id") not in shown]
            else:
                others = others[:1]  # not known any more (a restart): the newest one
            for m in reversed(others[:3]):
                lines.append(self._said(m))
            if not others:
                lines.append("While you were writing, the ticket was changed by someone else.")
        elif r.code == "conflict" and r.name == "ticket.update":
            fields = current.get("fields")
            changes = r.args.get("changes")
            changes = changes if isinstance(changes, dict) else {}
            before = self.seen_before.get(r.mutation_id, {})
            for field, now in (fields if isinstance(fields, dict) else {}).items():
                label = FIELD_LABELS.get(field, field)
                mine = self.value(field, changes.get(field))
                if field in before and before[field] != now:
                    lines.append(
                        f"{label} changed {self.value(field, before[field])} → "
                        f"{self.value(field, now)} by someone else; you chose {mine}."
                    )
                else:
                    lines.append(
                        f"{label} is now {self.value(field, now)} (changed by someone else); "
                        f"you chose {mine}."
                    )
        elif r.message:
            lines.append(f"The server said: {r.message}")
        if r.name == "message.add":
            lines.append(f"What you wrote: “{excerpt(message_text(r))}”")
        elif r.name == "ticket.update" and r.code != "conflict":
            changes = r.args.get("changes")
            if isinstance(changes, dict):
                wanted = ", ".join(
                    f"{FIELD_LABELS.get(k, k)} → {self.value(k, v)}" for k, v in changes.items()
                )
                lines.append(f"What you changed: {wanted}")
        return lines

    def _said(self, m: dict[str, Any]) -> str:
        body = f"“{excerpt(str(m.get('body') or ''))}”"
        if m.get("author_type") == "customer":
            return f"While you were writing, the customer wrote: {body}"
        who = self.agent_name(m.get("author_agent_id")) or "A colleague"
        if m.get("kind") == MessageKind.NOTE:
            return f"While you were writing, {who} added a note: {body}"
        if m.get("kind") == MessageKind.CALL:
            return f"While you were writing, {who} logged a call: {body}"
        return f"While you were writing, {who} replied: {body}"


class ReviewCard(QFrame):
    """One refusal with its choices.

    Signals: ``resendRequested(int)``, ``editRequested(int)``, ``discardRequested(int)`` —
    the mutation id.
    """

    resendRequested = Signal(int)
    editRequested = Signal(int)
    discardRequested = Signal(int)

    def __init__(self, refusal: Refusal, explainer: Explainer, parent: QWidget) -> None:
        super().__init__(parent)
        self.refusal = refusal
        self.setObjectName("reviewCard")
        self.setFrameShape(QFrame.Shape.StyledPanel)
        self.setStyleSheet(
            "#reviewCard { background: palette(base); border: 1px solid #d9534f;"
            " border-radius: 4px; }"
        )
        self.setAccessibleName("Refused change")
        layout = QVBoxLayout(self)
        layout.setContentsMargins(8, 6, 8, 6)
        self.title = QLabel(explainer.title(refusal), self)
        self.title.setTextFormat(Qt.TextFormat.PlainText)
        self.title.setWordWrap(True)
        font = self.title.font()
        font.setBold(True)
        self.title.setFont(font)
        layout.addWidget(self.title)
        self.detail = QLabel("\n".join(explainer.details(refusal)), self)
        self.detail.setTextFormat(Qt.TextFormat.PlainText)  # bodies are untrusted text
        self.detail.setWordWrap(True)
        self.detail.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        layout.addWidget(self.detail)
        self.setAccessibleDescription(f"{self.title.text()} {self.detail.text()}")

        row = QHBoxLayout()
        row.addStretch(1)
        self.buttons: dict[str, QPushButton] = {}
        has_text = bool(message_text(refusal).strip())
        if refusal.code == "conflict":
            label = "Send anyway" if refusal.name == "message.add" else "Apply anyway"
            self._button(row, "resend", label, lambda: self.resendRequested.emit(self._id))
        if has_text or refusal.name == "ticket.update":
            self._button(row, "edit", "Edit", lambda: self.editRequested.emit(self._id))
        self._button(row, "discard", "Discard", self._discard_clicked)
        layout.addLayout(row)

        # The inline confirmation: a modal dialog would stop the whole desk (and the sync)
        # just to ask a yes/no question.
        self.confirm = QWidget(self)
        confirm_row = QHBoxLayout(self.confirm)
        confirm_row.setContentsMargins(0, 0, 0, 0)
        question = QLabel("Discard this text for good? It cannot be brought back.", self.confirm)
        question.setWordWrap(True)
        question.setTextFormat(Qt.TextFormat.PlainText)
        confirm_row.addWidget(question, 1)
        yes = QPushButton("Discard text", self.confirm)
        yes.setAccessibleName("Confirm discard")
        yes.clicked.connect(lambda: self.discardRequested.emit(self._id))
        no = QPushButton("Keep", self.confirm)
        no.setAccessibleName("Keep the text")
        no.clicked.connect(self._keep)
        confirm_row.addWidget(yes)
        confirm_row.addWidget(no)
        self.confirm_button = yes
        layout.addWidget(self.confirm)
        self.confirm.hide()

    @property
    def _id(self) -> int:
        return self.refusal.mutation_id

    def _button(self, row: QHBoxLayout, key: str, text: str, slot: Callable[[], None]) -> None:
        button = QPushButton(text, self)
        button.setAccessibleName(f"{text} ({self.title.text()})")
        button.setAutoDefault(False)
        button.clicked.connect(slot)
        row.addWidget(button)
        self.buttons[key] = button

    def _discard_clicked(self) -> None:
        if message_text(self.refusal).strip():
            self.confirm.show()
            self.confirm_button.setFocus()
        else:
            self.discardRequested.emit(self._id)

    def _keep(self) -> None:
        self.confirm.hide()
        self.buttons["discard"].setFocus()

    def set_busy(self, busy: bool) -> None:
        for button in self.buttons.values():
            button.setEnabled(not busy)


class ReviewPanel(QWidget):
    """The refusals of one ticket, one card each; hidden when there are none.

    Signals: ``resendRequested(int)``, ``editRequested(int)``, ``discardRequested(int)``.
    """

    resendRequested = Signal(int)
    editRequested = Signal(int)
    discardRequested = Signal(int)

    def __init__(self, explainer: Explainer, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.explainer = explainer
        self.setAccessibleName("Changes to review")
        self._layout = QVBoxLayout(self)
        self._layout.setContentsMargins(0, 0, 0, 0)
        self._layout.setSpacing(4)
        self.cards: dict[int, ReviewCard] = {}
        self.hide()

    def show_refusals(self, refusals: tuple[Refusal, ...]) -> None:
        """Add and remove cards; a card that stays is left alone (its focus, its confirm)."""
        wanted = {r.mutation_id: r for r in refusals}
        for mutation_id in [m for m in self.cards if m not in wanted]:
            card = self.cards.pop(mutation_id)
            card.hide()
            card.deleteLater()
        for mutation_id, refusal in wanted.items():
            if mutation_id in self.cards:
                continue
            card = ReviewCard(refusal, self.explainer, self)
            card.resendRequested.connect(self.resendRequested)
            card.editRequested.connect(self.editRequested)
            card.discardRequested.connect(self.discardRequested)
            self._layout.addWidget(card)
            self.cards[mutation_id] = card
        self.setVisible(bool(self.cards))

    def card_for_message(self, message_id: str) -> ReviewCard | None:
        for card in self.cards.values():
            message = card.refusal.args.get("message")
            if isinstance(message, dict) and message.get("id") == message_id:
                return card
        return None

    def focus_card(self, card: ReviewCard) -> None:
        first = next(iter(card.buttons.values()), None)
        if first is not None:
            first.setFocus(Qt.FocusReason.OtherFocusReason)
