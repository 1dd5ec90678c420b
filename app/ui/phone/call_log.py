"""The call log panel: the call in progress, its timer and notes, then the wrap-up.

A call starts the timer at once (an incoming call's pop, or the agent's "Log a call" or a
click on a number); the agent types notes while talking; "End call" stops the timer; the
wrap-up asks for a disposition (required) and the ticket the call belongs to — one of the
customer's open tickets, or a new one whose subject is proposed from the notes — and saves.
Saving queues a ``call.log`` (and the ``ticket.create`` before it, for a new ticket): like
any change it works offline and is sent once the server is back.

Keyboard: Ctrl+Shift+E ends the call, Ctrl+Return saves, Tab walks the fields in order.

Signals: ``saved(call_id, ticket_id)`` once the call is queued; ``finished()`` when the
panel has no call any more (saved or discarded); ``ticked(text)`` every second with the
timer ("03:12"), for the dock's title and the status bar; ``newCustomerRequested(e164)``
for an unknown caller's "New customer…"; ``dialRequested(e164)`` when the agent clicks
the number's link.
"""

from __future__ import annotations

import time
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime

from PySide6.QtCore import Qt, QTimer, Signal
from PySide6.QtGui import QFont
from PySide6.QtWidgets import (
    QComboBox,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QMessageBox,
    QPlainTextEdit,
    QPushButton,
    QSizePolicy,
    QVBoxLayout,
    QWidget,
)

from app.phones import BadPhoneNumber, display, to_e164
from app.sync.desk.phone import DispositionItem
from app.sync.desk_types import TicketBrief
from app.sync.protocol import MAX_BODY_CHARS
from app.ui import shortcuts
from app.ui.bridge import Bridge
from app.ui.crash import explain
from app.ui.labels import STATUS_LABELS
from app.ui.phone.region import PhoneRegion
from app.ui.phone.tel import number_of, tel_link

NEW_TICKET = "__new__"
SUBJECT_CHARS = 80


def timer_text(seconds: int) -> str:
    """The call timer as agents read it: "03:12", "1:02:45" past an hour."""
    minutes, secs = divmod(max(0, seconds), 60)
    if minutes < 60:
        return f"{minutes:02d}:{secs:02d}"
    hours, minutes = divmod(minutes, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}"


def proposed_subject(notes: str, fallback: str) -> str:
    """A new ticket's subject from the call notes: their first line, cut at a word."""
    for line in notes.splitlines():
        text = " ".join(line.split()).strip(" -\u2013\u2014:;,.")  # dashes too
        if text:
            if len(text) <= SUBJECT_CHARS:
                return text
            cut = text[:SUBJECT_CHARS].rsplit(" ", 1)[0]
            return f"{cut}…"
    return fallback


@dataclass
class ActiveCall:
    """The call the panel logs: what the phone system said, and when it started."""

    direction: str  # "inbound" | "outbound"
    number: str  # E.164, or "" while the agent has not typed one
    line: str = ""
    customer_id: str | None = None
    customer_name: str = ""
    id: str = field(default_factory=lambda: str(uuid.uuid4()))
    started_at: datetime = field(default_factory=lambda: datetime.now(UTC))
    started: float = field(default_factory=time.monotonic)
    ended_after: int | None = None  # seconds, once "End call" stopped the timer
    new_ticket_id: str | None = None  # the ticket this call's wrap-up opened, once queued

    @property
    def seconds(self) -> int:
        if self.ended_after is not None:
            return self.ended_after
        return int(time.monotonic() - self.started)

    @property
    def running(self) -> bool:
        return self.ended_after is None


class CallLogPanel(QWidget):
    """One call at a time, from its first second to its saved log (see the module docstring)."""

    saved = Signal(str, str)  # call id, ticket id
    finished = Signal()
    ticked = Signal(str)
    newCustomerRequested = Signal(str)  # E.164
    dialRequested = Signal(str)  # E.164

    def __init__(self, bridge: Bridge, region: PhoneRegion, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._bridge = bridge
        self._phone_region = region
        self.call: ActiveCall | None = None
        self._subject_edited = False
        self._saving = False
        self.setAccessibleName("Call log")
        self.setSizePolicy(QSizePolicy.Policy.Preferred, QSizePolicy.Policy.Expanding)

        layout = QVBoxLayout(self)
        layout.setContentsMargins(8, 6, 8, 8)
        top = QHBoxLayout()
        self.direction = QComboBox(self)
        self.direction.addItem("Inbound call", "inbound")
        self.direction.addItem("Outbound call", "outbound")
        self.direction.setAccessibleName("Direction of the call")
        top.addWidget(self.direction)
        top.addStretch(1)
        self.timer_label = QLabel("00:00", self)
        self.timer_label.setAccessibleName("Call timer")
        font = QFont(self.timer_label.font())
        font.setPointSizeF(font.pointSizeF() * 1.6)
        font.setBold(True)
        font.setStyleHint(QFont.StyleHint.Monospace)
        self.timer_label.setFont(font)
        top.addWidget(self.timer_label)
        self.end_button = QPushButton(f"End call ({shortcuts.label('end_call')})", self)
        self.end_button.setAccessibleName("End call")
        self.end_button.clicked.connect(self.end_call)
        top.addWidget(self.end_button)
        layout.addLayout(top)

        form = QFormLayout()
        form.setFieldGrowthPolicy(QFormLayout.FieldGrowthPolicy.AllNonFixedFieldsGrow)
        number_row = QHBoxLayout()
        self.number = QLineEdit(self)
        self.number.setPlaceholderText("Customer's number, e.g. +44 20 7946 0018")
        self.number.setAccessibleName("Customer's phone number")
        number_row.addWidget(self.number, 1)
        self.number_link = QLabel(self)
        self.number_link.setTextFormat(Qt.TextFormat.RichText)
        self.number_link.setTextInteractionFlags(Qt.TextInteractionFlag.LinksAccessibleByMouse)
        self.number_link.setAccessibleName("Call this number")
        self.number_link.setToolTip("Call with your softphone")
        self.number_link.linkActivated.connect(self._link_activated)
        number_row.addWidget(self.number_link)
        form.addRow("Number", number_row)
        customer_row = QHBoxLayout()
        self.customer_label = QLabel(self)
        self.customer_label.setTextFormat(Qt.TextFormat.PlainText)  # a name is data
        self.customer_label.setWordWrap(True)
        self.customer_label.setAccessibleName("Customer on the call")
        customer_row.addWidget(self.customer_label, 1)
        self.new_customer_button = QPushButton("New customer…", self)
        self.new_customer_button.setAccessibleName("New customer with this number")
        self.new_customer_button.clicked.connect(self._new_customer)
        customer_row.addWidget(self.new_customer_button)
        form.addRow("Customer", customer_row)
        layout.addLayout(form)

        self.notes = QPlainTextEdit(self)
        self.notes.setPlaceholderText("Notes — type while you talk")
        self.notes.setAccessibleName("Call notes")
        self.notes.setTabChangesFocus(True)
        self.notes.textChanged.connect(self._notes_changed)
        layout.addWidget(self.notes, 1)

        wrap = QFormLayout()
        wrap.setFieldGrowthPolicy(QFormLayout.FieldGrowthPolicy.AllNonFixedFieldsGrow)
        self.disposition = QComboBox(self)
        self.disposition.setAccessibleName("Disposition (required)")
        wrap.addRow("Disposition", self.disposition)
        self.ticket = QComboBox(self)
        self.ticket.setAccessibleName("Ticket the call is about")
        self.ticket.currentIndexChanged.connect(lambda _i: self._ticket_choice_changed())
        wrap.addRow("Log on", self.ticket)
        self.subject = QLineEdit(self)
        self.subject.setAccessibleName("Subject of the new ticket")
        self.subject.setMaxLength(500)
        self.subject.textEdited.connect(lambda _t: setattr(self, "_subject_edited", True))
        self.subject_label = QLabel("Subject", self)
        wrap.addRow(self.subject_label, self.subject)
        layout.addLayout(wrap)

        self.problem = QLabel(self)
        self.problem.setObjectName("callLogProblem")
        self.problem.setWordWrap(True)
        self.problem.setTextFormat(Qt.TextFormat.PlainText)
        self.problem.setStyleSheet("color: palette(highlight); font-weight: bold;")
        self.problem.setAccessibleName("Problem with the call log")
        self.problem.hide()
        layout.addWidget(self.problem)
        buttons = QHBoxLayout()
        self.discard_button = QPushButton("Discard", self)
        self.discard_button.setAccessibleName("Discard the call log")
        self.discard_button.clicked.connect(self.ask_discard)
        buttons.addWidget(self.discard_button)
        buttons.addStretch(1)
        self.save_button = QPushButton(f"Save call log ({shortcuts.label('save_call')})", self)
        self.save_button.setAccessibleName("Save the call log")
        self.save_button.setDefault(True)
        self.save_button.clicked.connect(self.save)
        buttons.addWidget(self.save_button)
        layout.addLayout(buttons)

        ctx = Qt.ShortcutContext.WidgetWithChildrenShortcut
        shortcuts.bind(self, "save_call", self.save, ctx)
        self.setTabOrder(self.direction, self.number)
        self.setTabOrder(self.number, self.notes)
        self.setTabOrder(self.notes, self.disposition)
        self.setTabOrder(self.disposition, self.ticket)
        self.setTabOrder(self.ticket, self.subject)
        self.setTabOrder(self.subject, self.save_button)

        self._clock = QTimer(self)
        self._clock.setInterval(250)  # a second boundary shows within a quarter second
        self._clock.timeout.connect(self._tick)
        self._last_text = ""
        self._open_tickets: tuple[TicketBrief, ...] = ()
        self._show_idle()

    # ---- starting and ending -----------------------------------------------------------

    def start(self, call: ActiveCall) -> None:
        """Begin logging ``call``: the timer runs from its start, the notes are empty."""
        self.call = call
        self._subject_edited = False
        self.setEnabled(True)
        index = self.direction.findData(call.direction)
        self.direction.setCurrentIndex(max(0, index))
        self.number.setText(display(call.number, self._region()) if call.number else "")
        self.notes.clear()
        self.problem.hide()
        self._show_number_link()
        self._show_customer()
        self._fill_tickets(())
        self.end_button.setEnabled(True)
        self._last_text = ""
        self._tick()
        self._clock.start()
        self._bridge.run(self._load_dispositions())
        if call.customer_id is not None:
            self._bridge.run(self._load_tickets(call.customer_id))

    def set_customer(self, customer_id: str | None, name: str) -> None:
        """The caller turned out to be this customer (picked among several, or created)."""
        if self.call is None:
            return
        self.call.customer_id = customer_id
        self.call.customer_name = name
        self._show_customer()
        self._fill_tickets(())
        if customer_id is not None:
            self._bridge.run(self._load_tickets(customer_id))

    def end_call(self) -> None:
        """Stop the timer (the call is over); the wrap-up remains."""
        call = self.call
        if call is None or not call.running:
            return
        call.ended_after = call.seconds
        self._clock.stop()
        self._tick()
        self.end_button.setEnabled(False)
        self.disposition.setFocus()

    @property
    def elapsed_text(self) -> str:
        return timer_text(self.call.seconds) if self.call is not None else ""

    # ---- wrap-up -----------------------------------------------------------------------

    def save(self) -> None:
        """Check the wrap-up and queue the call log (with a new ticket, if chosen)."""
        if self.call is None or self._saving:
            return
        problem = self._check()
        if problem is not None:
            text, widget = problem
            self._say(text)
            widget.setFocus()
            return
        self.end_call()
        self._saving = True
        self.save_button.setEnabled(False)
        self._bridge.run(self._save(), on_error=self._save_failed)

    def _check(self) -> tuple[str, QWidget] | None:
        call = self.call
        assert call is not None
        try:
            call.number = to_e164(self.number.text(), self._region())
        except BadPhoneNumber as exc:
            return f"{exc}. Type the customer's number with its country code.", self.number
        if len(self.notes.toPlainText()) > MAX_BODY_CHARS:
            return f"The notes are too long: at most {MAX_BODY_CHARS:,} characters.", self.notes
        if self.disposition.currentData() is None:
            return "Choose how the call ended (the disposition).", self.disposition
        if self.ticket.currentData() == NEW_TICKET and not self.subject.text().strip():
            return "Give the new ticket a subject.", self.subject
        return None

    async def _save(self) -> None:
        call = self.call
        assert call is not None
        engine = self._bridge.engine
        ticket_id = self.ticket.currentData()
        if ticket_id == NEW_TICKET and call.new_ticket_id is not None:
            ticket_id = call.new_ticket_id  # made by a save whose call log then failed
        elif ticket_id == NEW_TICKET:
            ticket_id = str(uuid.uuid4())
            await engine.mutate(
                "ticket.create",
                {
                    "ticket": {
                        "id": ticket_id,
                        "subject": self.subject.text().strip(),
                        "channel": "phone",
                        "status": "open",
                        "customer_id": call.customer_id,
                        "assignee_id": self._bridge.agent_id,
                    }
                },
            )
            call.new_ticket_id = ticket_id  # a second try must not open a second ticket
        args: dict[str, object] = {
            "call": {
                "id": call.id,
                "ticket_id": ticket_id,
                "direction": self.direction.currentData(),
                "customer_number": call.number,
                "our_line": call.line,
                "customer_id": call.customer_id,
                "started_at": call.started_at.isoformat(),
                "duration_s": call.seconds,
                "notes": self.notes.toPlainText().strip(),
                "disposition_id": self.disposition.currentData(),
            }
        }
        await engine.mutate("call.log", args)
        self._saving = False
        self.save_button.setEnabled(True)
        self.call = None
        self._show_idle()
        self.saved.emit(call.id, str(ticket_id))
        self.finished.emit()

    def _save_failed(self, exc: BaseException) -> None:
        self._saving = False
        self.save_button.setEnabled(True)
        words = explain(exc)
        if words is None:
            self._bridge.taskFailed.emit(exc)
            return
        self._say(f"The call log was not saved: {words}")

    def ask_discard(self) -> None:
        """Discard, after asking if the agent typed notes."""
        if self.call is None:
            return
        if self.notes.toPlainText().strip():
            answer = QMessageBox.question(
                self,
                "Discard the call log?",
                "Your notes on this call will be lost.",
                QMessageBox.StandardButton.Discard | QMessageBox.StandardButton.Cancel,
                QMessageBox.StandardButton.Cancel,
            )
            if answer != QMessageBox.StandardButton.Discard:
                return
        self.discard()

    def discard(self) -> None:
        """Drop the call log (nothing was queued)."""
        self.call = None
        self._show_idle()
        self.finished.emit()

    # ---- showing -----------------------------------------------------------------------

    def _region(self) -> str:
        return self._phone_region.value

    def _show_idle(self) -> None:
        self._clock.stop()
        self.timer_label.setText("00:00")
        self.customer_label.setText("No call")
        self.new_customer_button.hide()
        self.number.clear()
        self.number_link.clear()
        self.notes.clear()
        self.subject.clear()
        self.problem.hide()
        self.setEnabled(False)
        self._last_text = ""
        self.ticked.emit("")

    def _show_number_link(self) -> None:
        # A number the phone system gave is shown as a link (click to call back); a call
        # logged by hand without one gets a field to type it in.
        call = self.call
        known = call is not None and bool(call.number)
        if call is not None and call.number:
            self.number_link.setText(tel_link(call.number, self._region()))
        else:
            self.number_link.clear()
        self.number_link.setVisible(known)
        self.number.setVisible(not known)

    def _show_customer(self) -> None:
        call = self.call
        if call is None:
            return
        if call.customer_id is not None:
            self.customer_label.setText(call.customer_name)
            self.new_customer_button.hide()
            return
        shown = display(call.number, self._region()) if call.number else "(no number)"
        self.customer_label.setText(f"Unknown caller {shown}")
        self.new_customer_button.setVisible(bool(call.number))

    def _tick(self) -> None:
        if self.call is None:
            return
        text = timer_text(self.call.seconds)
        if text != self._last_text:
            self._last_text = text
            self.timer_label.setText(text)
            self.ticked.emit(text)

    def _say(self, text: str) -> None:
        self.problem.setText(text)
        self.problem.show()

    def _link_activated(self, url: str) -> None:
        number = number_of(url)
        if number:
            self.dialRequested.emit(number)

    def _new_customer(self) -> None:
        if self.call is not None and self.call.number:
            self.newCustomerRequested.emit(self.call.number)

    def _notes_changed(self) -> None:
        if not self._subject_edited:
            self.subject.setText(proposed_subject(self.notes.toPlainText(), self._fallback()))

    def _fallback(self) -> str:
        call = self.call
        if call is None:
            return ""
        who = call.customer_name or (display(call.number, self._region()) if call.number else "")
        way = "Call from" if self.direction.currentData() == "inbound" else "Call to"
        return f"{way} {who}".strip()

    async def _load_dispositions(self) -> None:
        items = await self._bridge.phone.dispositions()
        self._fill_dispositions(items)

    def _fill_dispositions(self, items: tuple[DispositionItem, ...]) -> None:
        chosen = self.disposition.currentData()
        self.disposition.clear()
        self.disposition.addItem("Choose how the call ended…", None)
        for item in items:
            self.disposition.addItem(item.name, item.id)
        index = self.disposition.findData(chosen) if chosen is not None else 0
        self.disposition.setCurrentIndex(max(0, index))

    async def _load_tickets(self, customer_id: str) -> None:
        card = await self._bridge.customers.customer(customer_id)
        call = self.call
        if call is None or call.customer_id != customer_id or card is None:
            return
        self._fill_tickets(card.open_tickets)

    def _fill_tickets(self, tickets: tuple[TicketBrief, ...]) -> None:
        self._open_tickets = tickets
        self.ticket.blockSignals(True)
        self.ticket.clear()
        for t in tickets:
            number = f"#{t.number}" if t.number is not None else "New"
            status = STATUS_LABELS.get(t.status, t.status)
            self.ticket.addItem(f"{number} · {status} · {t.subject}", t.id)
        self.ticket.addItem("A new ticket", NEW_TICKET)
        self.ticket.setCurrentIndex(0)
        self.ticket.blockSignals(False)
        self._ticket_choice_changed()

    def _ticket_choice_changed(self) -> None:
        new = self.ticket.currentData() == NEW_TICKET
        self.subject.setVisible(new)
        self.subject_label.setVisible(new)
        if new and not self._subject_edited:
            self.subject.setText(proposed_subject(self.notes.toPlainText(), self._fallback()))
