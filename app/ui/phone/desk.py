"""The phone desk in the main window: screen-pop, call log dock, click-to-call, the socket.

* **Screen-pop.**  A ring (`switchboard call incoming`, a ``switchboard://`` link) arrives on
  the desk's local socket; the number is read in the workspace's region (refused, with
  nothing done, if it cannot be a number), the window comes to the front (raised and
  activated; where the system refuses to move focus, the taskbar entry flashes), the tray
  notifies, and a new inbound call log starts its timer at once.  The caller is then looked
  up by the E.164 identity: one customer → their customer-360 card (with their open tickets),
  their latest open ticket in a tab, and the call log on them; several → the agent picks
  from a short list; none → "Unknown caller +44 …" with "New customer…", which emits
  ``newCustomerRequested(e164)``.
* **Click-to-call.**  A phone number activated in the customer panel or the call log is
  handed to the system's softphone as a ``tel:`` URL, and an outbound call log starts.
* **Log a call** (Ctrl+Shift+L) starts an inbound call log by hand; Ctrl+Shift+E ends it.

The call log lives in a dock on the right; while a call runs its timer shows in the dock's
title and in the status bar, whichever conversation is open.

Signals: ``newCustomerRequested(str)`` — the agent wants a new customer with this E.164
number (``new_customer`` opens the customer editor prefilled; once saved, the call log and
the customer panel follow the new customer);
``popped(str)`` — a screen-pop finished looking up the caller (the customer id, or "");
``rang(str)`` — a ring was understood (its E.164 number), before the pop.
"""

from __future__ import annotations

import logging
import sys
from typing import TYPE_CHECKING

from PySide6.QtCore import QEvent, QObject, Qt, Signal
from PySide6.QtGui import QFileOpenEvent
from PySide6.QtWidgets import QApplication, QDockWidget, QMenu, QPushButton, QSystemTrayIcon

from app.desk_link import BadCallEvent, IncomingCall, parse_url
from app.phones import BadPhoneNumber, display, to_e164, try_e164
from app.sync.desk.phone import Caller
from app.sync.desk_types import CustomerCard
from app.ui import shortcuts
from app.ui.phone.call_log import ActiveCall, CallLogPanel
from app.ui.phone.caller_picker import CallerPicker
from app.ui.phone.desk_link_server import DeskLinkServer
from app.ui.phone.region import PhoneRegion
from app.ui.phone.tel import hand_to_softphone

if TYPE_CHECKING:
    from app.ui.desk.window import DeskWindow

log = logging.getLogger(__name__)
NOTIFY_MS = 8000
STATUS_MS = 10_000


class PhoneDesk(QObject):
    """The phone desk of one desk window (see the module docstring)."""

    newCustomerRequested = Signal(str)
    popped = Signal(str)
    rang = Signal(str)

    def __init__(self, window: DeskWindow) -> None:
        super().__init__(window)
        self.window = window
        self.bridge = window.bridge
        self.region = PhoneRegion(self.bridge, self)
        self.panel = CallLogPanel(self.bridge, self.region)
        self.dock = QDockWidget("Call", window)
        self.dock.setObjectName("callDock")
        self.dock.setAccessibleName("Call log")
        self.dock.setWidget(self.panel)
        self.dock.setFeatures(
            QDockWidget.DockWidgetFeature.DockWidgetMovable
            | QDockWidget.DockWidgetFeature.DockWidgetFloatable
        )
        self.dock.setMinimumWidth(280)
        window.addDockWidget(Qt.DockWidgetArea.RightDockWidgetArea, self.dock)
        self.dock.hide()
        self.on_call = QPushButton(window)
        self.on_call.setObjectName("onCallButton")
        self.on_call.setFlat(True)
        self.on_call.setAccessibleName("Call in progress: show the call log")
        self.on_call.clicked.connect(self.show_call_log)
        self.on_call.hide()
        window.statusBar().addPermanentWidget(self.on_call)
        self.link = DeskLinkServer(self.handle_incoming, self)
        self._picker: CallerPicker | None = None

        self.panel.ticked.connect(self._ticked)
        self.panel.saved.connect(self._saved)
        self.panel.finished.connect(self._finished)
        self.panel.newCustomerRequested.connect(self.newCustomerRequested)
        self.newCustomerRequested.connect(self.new_customer)
        self.panel.dialRequested.connect(lambda number: self.dial(number, start_log=False))
        identities = window.customer.identity_view
        identities.activated.connect(self._identity_activated)
        shortcuts.bind(window, "log_call", self.log_call)
        shortcuts.bind(window, "end_call", self.panel.end_call)
        self._add_menu()
        self._app = QApplication.instance()
        if sys.platform == "darwin" and self._app is not None:
            # macOS hands a switchboard:// link to the running app as an open-URL event, not
            # as a new process (elsewhere the OS starts `Switchboard <link>`: app/desk_link.py).
            self._app.installEventFilter(self)

    # ---- the socket --------------------------------------------------------------------

    def take_calls(self, name: str | None = None) -> bool:
        """Listen for rings (`app.desk_link`); False if another desk of this user does."""
        taking = self.link.listen(name)
        if not taking:
            self.window.statusBar().showMessage(
                "Another Switchboard window receives the incoming calls", STATUS_MS
            )
        return taking

    def stop_taking_calls(self) -> None:
        self.link.close()
        if sys.platform == "darwin" and self._app is not None:
            self._app.removeEventFilter(self)

    def open_link(self, url: str) -> str:
        """A ``switchboard://`` link opened on this desk (macOS); refused in plain words."""
        try:
            return self.handle_incoming(parse_url(url))
        except BadCallEvent as exc:
            self.window.statusBar().showMessage(f"Switchboard link not used: {exc}", STATUS_MS)
            return str(exc)

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:
        if event.type() == QEvent.Type.FileOpen and isinstance(event, QFileOpenEvent):
            url = event.url().toString()
            if url.lower().startswith("switchboard:"):
                self.open_link(url)
                return True
        return super().eventFilter(watched, event)

    # ---- calls -------------------------------------------------------------------------

    def handle_incoming(self, event: IncomingCall) -> str:
        """A ring: pop the caller (see the module docstring); the words for the command."""
        region = self.region.value
        try:
            number = to_e164(event.caller, region)
        except BadPhoneNumber as exc:
            raise BadCallEvent(str(exc)) from None
        self.rang.emit(number)
        shown = display(number, region)
        self._bring_forward()
        self._notify("Incoming call", shown)
        if self.panel.call is not None:
            self.window.statusBar().showMessage(
                f"Another call is ringing: {shown} — save or discard this call log to take it",
                STATUS_MS,
            )
            return f"{shown} rings; the agent is logging another call"
        line = (try_e164(event.line, region) or "") if event.line else ""
        self._start(ActiveCall("inbound", number, line))
        self.bridge.run(self._find_caller(number))
        return f"{shown} shown on the desk"

    def log_call(self) -> None:
        """Log a call by hand (Ctrl+Shift+L): an inbound call log, its timer running."""
        if self.panel.call is not None:
            self.show_call_log()
            return
        card = self.window.customer.card
        call = ActiveCall("inbound", "")
        if card is not None:
            call.customer_id, call.customer_name = card.id, card.name
            phones = [value for kind, value in card.identities if kind == "phone"]
            call.number = phones[0] if phones else ""
        self._start(call)
        if not call.number:
            self.panel.number.setFocus()  # no number known: the agent types it first

    def dial(
        self,
        number: str,
        *,
        customer_id: str | None = None,
        name: str = "",
        start_log: bool = True,
    ) -> None:
        """Click-to-call: the softphone dials ``number``; an outbound call log starts."""
        if not hand_to_softphone(number):
            self.window.statusBar().showMessage(
                "No softphone is set up to make calls on this computer (tel: links) — "
                "dial the number on your phone; the call log is started",
                STATUS_MS,
            )
        if not start_log:
            return
        if self.panel.call is not None:
            self.window.statusBar().showMessage(
                "Save or discard the current call log to log another call", STATUS_MS
            )
            self.show_call_log()
            return
        self._start(ActiveCall("outbound", number, customer_id=customer_id, customer_name=name))

    def new_customer(self, number: str) -> None:
        """ "New customer…" for an unknown caller: the customer editor, prefilled with the
        number; once saved, the call log and the customer panel are on the new customer."""
        editor = self.window.new_customer(phone=number)
        editor.saved.connect(lambda customer_id: self._created(customer_id, number))

    def _created(self, customer_id: str, number: str) -> None:
        call = self.panel.call
        if call is None or call.number != number or call.customer_id is not None:
            return  # the call log moved on meanwhile

        def named(card: CustomerCard | None) -> None:
            if card is not None and self.panel.call is call:
                self.caller_identified(card.id, card.name)

        self.bridge.run(self.bridge.customers.customer(customer_id), on_result=named)

    def caller_identified(self, customer_id: str, name: str) -> None:
        """The caller is this customer (created from "New customer…", or picked later)."""
        self.panel.set_customer(customer_id, name)
        self.window.show_customer_card(customer_id, "On the phone")

    def show_call_log(self) -> None:
        self.dock.show()
        self.dock.raise_()
        self.panel.notes.setFocus()

    # ---- inside --------------------------------------------------------------------------

    def _start(self, call: ActiveCall) -> None:
        self.panel.start(call)
        self.dock.show()
        self.dock.raise_()
        self.panel.notes.setFocus()

    async def _find_caller(self, number: str) -> None:
        callers = await self.bridge.phone.callers(number)
        call = self.panel.call
        if call is None or call.number != number:
            return  # the agent moved on already
        if len(callers) == 1:
            self._caller_is(callers[0])
        elif callers:
            self._pick(number, callers)
        else:
            shown = display(number, self.region.value)
            self.window.customer.show_customer(None, f"On the phone: {shown}, not a customer yet")
            self.popped.emit("")

    def _caller_is(self, caller: Caller) -> None:
        self.panel.set_customer(caller.customer_id, caller.name)
        self.window.show_customer_card(caller.customer_id, "On the phone")
        self.popped.emit(caller.customer_id)
        if caller.open_tickets:
            self.bridge.run(self._open_latest(caller.customer_id))

    async def _open_latest(self, customer_id: str) -> None:
        """The caller's most recently updated open ticket, in a tab: most calls are about it
        (the call log proposes it too)."""
        card = await self.bridge.customers.customer(customer_id)
        call = self.panel.call
        if card is None or not card.open_tickets or call is None or call.customer_id != customer_id:
            return
        self.window.open_ticket(card.open_tickets[0].id)

    def _pick(self, number: str, callers: tuple[Caller, ...]) -> None:
        picker = CallerPicker(display(number, self.region.value), callers, self.window)
        self._picker = picker

        def done(_result: int) -> None:
            self._picker = None
            call = self.panel.call
            if picker.chosen is not None and call is not None and call.number == number:
                self._caller_is(picker.chosen)
            else:
                self.popped.emit("")
            picker.deleteLater()

        picker.finished.connect(done)
        picker.open()

    def _bring_forward(self) -> None:
        window = self.window
        if window.isMinimized():
            window.showNormal()
        window.show()
        window.raise_()
        window.activateWindow()
        # Where the system refuses to move the focus (Windows' foreground lock), this flashes
        # the taskbar button instead; an active window is left alone.
        QApplication.alert(window, 0)

    def _notify(self, title: str, text: str) -> None:
        tray = self.window.tray.tray
        if tray is not None and not self.window.isActiveWindow():
            tray.showMessage(title, text, QSystemTrayIcon.MessageIcon.Information, NOTIFY_MS)

    def _identity_activated(self) -> None:
        view = self.window.customer.identity_view
        row = self.window.customer.identities.row_at(view.currentIndex())
        card = self.window.customer.card
        if row is None or row[0] != "phone" or card is None:
            return
        self.dial(row[1], customer_id=card.id, name=card.name)

    def _ticked(self, text: str) -> None:
        call = self.panel.call
        if call is None or not text:
            self.dock.setWindowTitle("Call")
            self.on_call.hide()
            return
        who = call.customer_name or (
            display(call.number, self.region.value) if call.number else "new call"
        )
        state = "On call" if call.running else "Wrap-up"
        self.dock.setWindowTitle(f"Call {text} · {who}")
        self.on_call.setText(f"☎ {state} {text} · {who}")
        self.on_call.show()

    def _saved(self, _call_id: str, ticket_id: str) -> None:
        self.window.open_ticket(ticket_id)
        self.window.statusBar().showMessage("Call logged", STATUS_MS)

    def _finished(self) -> None:
        self.dock.hide()
        self.on_call.hide()

    def _add_menu(self) -> None:
        bar = self.window.menuBar()
        menu = QMenu("&Phone", bar)
        log_action = menu.addAction(f"Log a call\t{shortcuts.label('log_call')}")
        log_action.triggered.connect(self.log_call)
        end_action = menu.addAction(f"End call\t{shortcuts.label('end_call')}")
        end_action.triggered.connect(self.panel.end_call)
        help_menu = next((a for a in bar.actions() if a.text() == "&Help"), None)
        if help_menu is not None:
            bar.insertMenu(help_menu, menu)
        else:
            bar.addMenu(menu)
