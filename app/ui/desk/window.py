"""The main window: views │ ticket list over conversation tabs │ customer 360.

It only composes and wires: each panel reads its own data through the bridge.  What the agent
arranged — window geometry, splitter positions, the current view, open tabs and their scroll
positions — is saved in ``QSettings`` and comes back after a restart.
"""

from __future__ import annotations

import asyncio
import json
import logging
import zoneinfo
from typing import Any

from PySide6.QtCore import QByteArray, QSettings, Qt, QTimer, QUrl, Signal
from PySide6.QtGui import (
    QAction,
    QActionGroup,
    QCloseEvent,
    QDesktopServices,
    QPalette,
    QShowEvent,
)
from PySide6.QtWidgets import (
    QApplication,
    QLabel,
    QMainWindow,
    QMessageBox,
    QSplitter,
    QStackedWidget,
    QVBoxLayout,
    QWidget,
)

from app.sync.desk_types import Refusal, TicketDetail, ViewSpec
from app.ui import shortcuts, theme
from app.ui.bridge import Bridge, loop_running
from app.ui.canned.picker import CannedPicker
from app.ui.conversation.tabs import ConversationTabs
from app.ui.customer.editor import CustomerEditor
from app.ui.customer.panel import CustomerPanel
from app.ui.desk.refusals import RefusalsButton, RefusalsDialog
from app.ui.desk.ticket_list import TicketListModel, TicketTable
from app.ui.desk.views import SavedViews, ViewsPanel
from app.ui.desk.widths import PanelSplitter, first_size, fit_on_show, fit_to_screen
from app.ui.desk.window_title import DeskTitle
from app.ui.intake.new_ticket import NewTicketDialog
from app.ui.phone.desk import PhoneDesk
from app.ui.search.palette import SearchPalette
from app.ui.statusbar import DeskStatusBar, PresenceChoice
from app.ui.timetrack.desk import TimeTracking
from app.ui.tray import DeskTray

log = logging.getLogger(__name__)
SAVE_STATE_AFTER_MS = 1000
CLOSE_WAIT_S = 10.0


class DeskWindow(QMainWindow):
    """The agent's desk.

    Signals: ``signOutRequested()`` (File ▸ Sign out), ``signInAgainRequested()`` (the
    session ended on the server and the agent chose to sign in again), ``closed()`` after the
    window closed and everything it held (drafts) was saved.
    """

    signOutRequested = Signal()
    signInAgainRequested = Signal()
    closed = Signal()

    def __init__(self, bridge: Bridge, settings: QSettings, account_key: str) -> None:
        super().__init__()
        self.bridge = bridge
        self._settings = settings
        self._account_key = account_key
        self._closing = False
        self.setWindowTitle("Switchboard")
        self.setWindowIcon(theme.app_icon())
        self.setObjectName("desk")
        self.setAccessibleName("Switchboard desk")
        me = bridge.directory.me
        tz: Any = None
        if me is not None and me.timezone:
            try:
                tz = zoneinfo.ZoneInfo(me.timezone)
            except (zoneinfo.ZoneInfoNotFoundError, ValueError):
                log.warning("unknown timezone %r for the agent; showing UTC", me.timezone)

        # -- panels
        self.views = ViewsPanel(bridge, SavedViews(settings, account_key), self)
        self.ticket_model = TicketListModel(bridge, self)
        if tz is not None:
            self.ticket_model.set_timezone(tz)
        self.ticket_table = TicketTable(bridge, self.ticket_model, self)
        self.list_title = QLabel("", self)
        self.list_title.setObjectName("panelTitle")
        list_box = QWidget(self)
        list_layout = QVBoxLayout(list_box)
        list_layout.setContentsMargins(0, 6, 0, 0)
        list_layout.setSpacing(4)
        list_layout.addWidget(self.list_title)
        list_layout.addWidget(self.ticket_table)
        self.tabs = ConversationTabs(bridge, self)
        self.customer = CustomerPanel(bridge, self)
        self.canned = CannedPicker(bridge, self)
        self.search = SearchPalette(bridge, self)

        self.middle = QSplitter(Qt.Orientation.Vertical, self)
        self.middle.setObjectName("middleSplitter")
        self.middle.addWidget(list_box)
        # No conversation open: say how to open one rather than show an empty box.
        self.no_conversation = QLabel(
            "Open a ticket from the list (Enter or double-click) — or search with "
            f"{shortcuts.label('search')}",
            self,
        )
        self.no_conversation.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.no_conversation.setWordWrap(True)
        self.no_conversation.setForegroundRole(QPalette.ColorRole.PlaceholderText)
        self.conversations = QStackedWidget(self)
        self.conversations.addWidget(self.no_conversation)
        self.conversations.addWidget(self.tabs)
        self.middle.addWidget(self.conversations)
        self.middle.setStretchFactor(0, 2)
        self.middle.setStretchFactor(1, 3)
        self.middle.setChildrenCollapsible(False)
        # On a narrow window the customer panel, then the views, give up width before the
        # ticket list does (down to these).
        self.main = PanelSplitter(self.middle, [(self.customer, 220), (self.views, 190)], self)
        self.main.setOrientation(Qt.Orientation.Horizontal)
        self.main.setObjectName("mainSplitter")
        self.main.addWidget(self.views)
        self.main.addWidget(self.middle)
        self.main.addWidget(self.customer)
        self.main.setStretchFactor(1, 1)
        self.main.setSizes([210, 930, 300])
        self.main.wanted = self.ticket_table.comfortable_width
        self.middle.setSizes([330, 520])
        self.setCentralWidget(self.main)
        presence = PresenceChoice(bridge)  # one choice, shown in the status bar and the tray
        self.status = DeskStatusBar(bridge, presence, self)
        self.setStatusBar(self.status)
        self.tray = DeskTray(bridge, self, presence)
        self.refusals = RefusalsButton(bridge, self)
        self.status.addPermanentWidget(self.refusals)
        self.refusals.clicked.connect(self.review_refusals)
        self._refusals_dialog: RefusalsDialog | None = None
        bridge.refused.connect(self._refused)

        # -- wiring
        self.views.viewChosen.connect(self._show_view)
        self.ticket_model.loaded.connect(self._update_list_title)
        self.ticket_model.rowsInserted.connect(lambda *_: self._update_list_title())
        self.ticket_model.rowsRemoved.connect(lambda *_: self._update_list_title())
        self.ticket_table.openTickets.connect(self.open_tickets)
        self.tabs.ticketActivated.connect(self._ticket_activated)
        self.tabs.conversationLoaded.connect(self._conversation_loaded)
        self.customer.editRequested.connect(self.edit_customer)
        self.tabs.cannedRequested.connect(self._pick_canned)
        self.canned.chosen.connect(
            lambda tid, text, unknown: self.tabs.insert_into_composer(tid, text, tuple(unknown))
        )
        self.tray.quitRequested.connect(self.close)
        self.tray.unreadChanged.connect(self._unread_changed)
        self.tray.notified.connect(self._notified)
        self.tabs.tabsChanged.connect(self._schedule_save)
        self.tabs.tabsChanged.connect(self._show_tabs_or_hint)
        self.tabs.currentChanged.connect(lambda _i: self._show_tabs_or_hint())
        self.customer.openTicket.connect(self.open_ticket)
        self.search.openTicket.connect(self.open_ticket)
        self.search.openCustomer.connect(self.show_customer_card)
        self.tray.openTicket.connect(self.open_ticket)
        self.status.signInRequested.connect(self.signInAgainRequested)
        self._save_timer = QTimer(self)
        self._save_timer.setSingleShot(True)
        self._save_timer.setInterval(SAVE_STATE_AFTER_MS)
        self._save_timer.timeout.connect(self.save_state)
        self.title = DeskTitle(self, self.tabs)  # names the open ticket or view
        self.views.mentions.openTicket.connect(self.open_ticket)
        self._build_menus()
        self._bind_shortcuts()
        self.phone = PhoneDesk(self)  # call logs, screen-pop, click-to-call (app/ui/phone/)
        self.time_tracking = TimeTracking(bridge, settings, account_key, self.tabs, self)
        self.time_tracking.openTicket.connect(self.open_ticket)
        self.resize(first_size(self.screen().availableGeometry().size()))

    # ---- start-up ----------------------------------------------------------------------

    async def load(self) -> None:
        """Fill the desk from the cache and put back what the agent had open."""
        self.restore_geometry()
        view_key = self._value("current_view")
        await self.views.load(view_key if isinstance(view_key, str) else None)
        self.refusals.recount()  # refusals from an earlier run are still to be reviewed
        tabs = self._value("tabs")
        if isinstance(tabs, str):
            try:
                self.tabs.restore(json.loads(tabs))
            except (ValueError, TypeError, KeyError):
                log.warning("could not restore the open tabs; starting with none")

    def _value(self, key: str) -> Any:
        return self._settings.value(f"desk/{self._account_key}/{key}")

    def restore_geometry(self) -> None:
        geometry = self._settings.value("window/geometry")
        if isinstance(geometry, QByteArray):
            self.restoreGeometry(geometry)
        for splitter in (self.main, self.middle):
            sizes = self._settings.value(f"window/{splitter.objectName()}")
            if isinstance(sizes, QByteArray):
                splitter.restoreState(sizes)
        fit_to_screen(self)  # saved on a larger screen, it must still fit this one
        if self.isVisible():
            # Saved on a wider screen, the panels could leave the list too little; shown
            # already, no resize comes to fit them (see PanelSplitter).
            self.main.fit()

    def save_state(self) -> None:
        self._settings.setValue("window/geometry", self.saveGeometry())
        for splitter in (self.main, self.middle):
            self._settings.setValue(f"window/{splitter.objectName()}", splitter.saveState())
        key = self.views.current_key()
        if key is not None:
            self._settings.setValue(f"desk/{self._account_key}/current_view", key)
        self._settings.setValue(f"desk/{self._account_key}/tabs", json.dumps(self.tabs.state()))
        self._settings.sync()

    def _schedule_save(self) -> None:
        self._save_timer.start()

    # ---- actions -----------------------------------------------------------------------

    def open_ticket(self, ticket_id: str) -> None:
        self.tabs.open_ticket(ticket_id)
        self.tray.mark_read(ticket_id)

    def open_tickets(self, ticket_ids: list[str]) -> None:
        for i, tid in enumerate(ticket_ids):
            self.tabs.open_ticket(tid, focus=i == len(ticket_ids) - 1)
            self.tray.mark_read(tid)

    def _show_view(self, spec: ViewSpec) -> None:
        self.list_title.setText(spec.title)
        self.title.view_shown(spec.title)
        self.bridge.run(self.ticket_model.show_view(spec))
        self._schedule_save()

    def _update_list_title(self) -> None:
        spec = self.ticket_model.spec
        if spec is not None:
            n = self.ticket_model.rowCount()
            self.list_title.setText(f"{spec.title} — {n:,} ticket{'s' if n != 1 else ''}")

    def _ticket_activated(self, ticket_id: str) -> None:
        if not ticket_id:
            self.customer.show_customer(None)
            return
        self.tray.mark_read(ticket_id)
        self.views.mentions.mark_ticket_read(ticket_id)
        view = self.tabs.view(ticket_id)
        if view is not None and view.conversation is not None:
            self._follow_customer(ticket_id, view.conversation.ticket)
            return
        self.bridge.run(  # the tab is still reading its ticket
            self.bridge.conversations.conversation(ticket_id),
            on_result=lambda c: self._follow_customer(ticket_id, c.ticket if c else None),
        )

    def _conversation_loaded(self, ticket_id: str) -> None:
        """The current tab's ticket was read again: its customer may have changed (a merge,
        a customer set later), and the panel follows it."""
        view = self.tabs.view(ticket_id)
        if view is not None and view.conversation is not None:
            self._follow_customer(ticket_id, view.conversation.ticket)

    def _show_tabs_or_hint(self) -> None:
        self.conversations.setCurrentWidget(
            self.tabs if self.tabs.count() else self.no_conversation
        )

    def _follow_customer(self, ticket_id: str, ticket: TicketDetail | None) -> None:
        """Show the customer of ``ticket`` — if it is still the current tab's.  The answer
        of a read started for a tab the agent has since left must not replace the card of
        the tab they are on (defect: the panel showed another ticket's customer)."""
        if ticket_id != self.tabs.current_ticket_id():
            return
        if ticket is None:
            self.customer.show_customer(None, "This ticket is not on this workstation.")
            return
        label = f"#{ticket.number}" if ticket.number is not None else "the new ticket"
        if ticket.customer_id is None:
            self.customer.show_customer(None, f"No customer on {label} yet.")
            return
        # Tabs of one customer's tickets share the card: switching between them re-reads and
        # repaints nothing (show_customer only updates the words).
        self.customer.show_customer(ticket.customer_id, f"Customer on {label}")

    def _unread_changed(self, count: int) -> None:
        # The taskbar shows the title: the count is visible with the window minimised.
        self.title.unread_changed(count)

    def _notified(self, title: str, text: str, _ticket_id: str) -> None:
        if self.tray.tray is None:  # no system tray (some Linux desktops): say it here
            self.status.showMessage(f"{title}: {text}", 10_000)

    def review_refusals(self) -> None:
        if self._refusals_dialog is None:
            self._refusals_dialog = RefusalsDialog(self.bridge, self)
            self._refusals_dialog.openTicket.connect(self.open_ticket)
        self._refusals_dialog.reload()
        self._refusals_dialog.show()
        self._refusals_dialog.raise_()

    def _refused(self, refusal: Refusal) -> None:
        # A tab of that ticket shows the refusal itself; otherwise say so here.
        ticket_id = refusal.ticket_id
        if not (ticket_id and self.tabs.view(ticket_id)):
            self.status.showMessage(
                "The server refused a change of yours — see “refused” on the right to review it",
                15_000,
            )

    def show_customer_card(self, customer_id: str, how: str = "Opened from search") -> None:
        """A customer chosen in search (or saved, or who has an address typed for another):
        their card, with their tickets one click away, saying it is not the open ticket's
        customer."""
        self.customer.setVisible(True)
        current = self.tabs.current_ticket_id()
        view = self.tabs.view(current) if current else None
        ticket = view.conversation.ticket if view is not None and view.conversation else None
        if ticket is not None and ticket.customer_id == customer_id:
            self._follow_customer(ticket.id, ticket)
            return
        self.customer.show_customer(
            customer_id, f"{how} — not the open ticket's customer" if ticket is not None else how
        )

    # ---- new tickets and customers -----------------------------------------------------

    def new_ticket(self, channel: str | None = None) -> NewTicketDialog:
        """Open the new-ticket form (Ctrl+N); the ticket's tab opens once it is queued."""
        dialog = NewTicketDialog(self.bridge, self, settings=self._settings, channel=channel)
        dialog.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        dialog.created.connect(self.open_ticket)
        dialog.open()
        return dialog

    def new_customer(self, *, name: str = "", email: str = "", phone: str = "") -> CustomerEditor:
        """Open the customer editor for a new customer, prefilled; shown once saved."""
        editor = CustomerEditor.for_new(self.bridge, self, name=name, email=email, phone=phone)
        self._wire_editor(editor)
        editor.open()
        return editor

    def edit_customer(self, customer_id: str) -> CustomerEditor:
        editor = CustomerEditor.for_customer(self.bridge, self, customer_id)
        self._wire_editor(editor)
        editor.open()
        return editor

    def _wire_editor(self, editor: CustomerEditor) -> None:
        editor.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        editor.openCustomer.connect(
            lambda cid: self.show_customer_card(cid, "Already has the address you typed")
        )
        editor.saved.connect(self._customer_saved)

    def _customer_saved(self, customer_id: str) -> None:
        if customer_id != self.customer.customer_id:
            self.show_customer_card(customer_id, "Customer you just saved")

    def _pick_canned(self, ticket_id: str) -> None:
        self.canned.pick(ticket_id)

    def _build_menus(self) -> None:
        bar = self.menuBar()
        file_menu = bar.addMenu("&File")
        new_ticket = file_menu.addAction(theme.icon("add"), "New ticket…")
        new_ticket.setShortcuts(shortcuts.sequences("new_ticket"))
        new_ticket.triggered.connect(lambda _c=False: self.new_ticket())
        new_customer = file_menu.addAction("New customer…")
        new_customer.setShortcuts(shortcuts.sequences("new_customer"))
        new_customer.triggered.connect(lambda _c=False: self.new_customer())
        file_menu.addSeparator()
        sign_out = file_menu.addAction("Sign out…")
        sign_out.triggered.connect(self.signOutRequested)
        file_menu.addSeparator()
        quit_action = file_menu.addAction("Quit")
        quit_action.setShortcuts(shortcuts.sequences("quit"))
        quit_action.triggered.connect(self.close)
        view_menu = bar.addMenu("&View")
        appearance = view_menu.addMenu("Appearance")
        group = QActionGroup(self)
        current = str(self._settings.value("appearance", "system"))
        for mode, text in (("system", "Follow the system"), ("light", "Light"), ("dark", "Dark")):
            action = QAction(text, group)
            action.setCheckable(True)
            action.setChecked(mode == current)
            action.triggered.connect(lambda _c=False, m=mode: self._set_appearance(m))
            appearance.addAction(action)
        customer_toggle = view_menu.addAction("Customer panel")
        customer_toggle.setCheckable(True)
        customer_toggle.setChecked(True)
        customer_toggle.toggled.connect(self.customer.setVisible)
        view_menu.addAction("New filter…").triggered.connect(self.views.new_filter)
        help_menu = bar.addMenu("&Help")
        help_menu.addAction("Keyboard shortcuts").triggered.connect(self.show_cheatsheet)
        help_menu.addAction("Open the log folder").triggered.connect(self._open_logs)
        help_menu.addAction("About Switchboard").triggered.connect(self._about)

    def _bind_shortcuts(self) -> None:
        shortcuts.bind(self, "search", self.search.open)
        shortcuts.bind(self, "cheatsheet", self.show_cheatsheet)
        shortcuts.bind(self, "focus_views", self.views.list.setFocus)
        shortcuts.bind(self, "focus_list", self.ticket_table.setFocus)
        shortcuts.bind(self, "focus_conversation", self.tabs.setFocus)
        shortcuts.bind(self, "retry_now", self.bridge.engine.retry_now)
        shortcuts.bind(self, "assign_to_me", self.ticket_table.assign_to_me)
        shortcuts.bind(self, "save_filter", self.views.new_filter)

    def show_cheatsheet(self) -> None:
        shortcuts.CheatSheet(self).exec()

    def _set_appearance(self, mode: str) -> None:
        self._settings.setValue("appearance", mode)
        theme.apply_theme(self._app(), mode)

    @staticmethod
    def _app() -> QApplication:
        app = QApplication.instance()
        assert isinstance(app, QApplication)
        return app

    def _open_logs(self) -> None:
        from app.ui import crash

        QDesktopServices.openUrl(QUrl.fromLocalFile(str(crash.log_dir())))

    def _about(self) -> None:
        QMessageBox.about(
            self,
            "About Switchboard",
            "<b>Switchboard</b><br>The offline-first desk for support teams.<br><br>"
            f"Connected to {self.bridge.engine.server_url}",
        )

    def freeze(self, frozen: bool) -> None:
        """No input while the session ends (a dialog of the window's own stays usable)."""
        central = self.centralWidget()
        if central is not None:
            central.setEnabled(not frozen)
        self.menuBar().setEnabled(not frozen)
        for action in self.actions():
            action.setEnabled(not frozen)

    def showEvent(self, event: QShowEvent) -> None:
        super().showEvent(event)
        fit_on_show(self)  # the title bar too must be on the screen

    # ---- closing -----------------------------------------------------------------------

    def closeEvent(self, event: QCloseEvent) -> None:
        if self._closing or not loop_running():
            # Closing for real, or torn down after the loop ended: nothing left to await.
            event.accept()
            return
        # Drafts are flushed before the window goes: ask the loop, then close for real.
        event.ignore()
        self._closing = True
        self.save_state()
        self.bridge.run(self._close())

    async def _close(self) -> None:
        try:
            # Shielded: a slow disk must not cancel a draft save half-way; the bridge's
            # shutdown waits for whatever is still saving when the wait gives up.
            await asyncio.wait_for(asyncio.shield(self.tabs.close_all()), CLOSE_WAIT_S)
        except TimeoutError:
            log.warning("closing the conversations took over %s s; quitting anyway", CLOSE_WAIT_S)
        finally:
            self.tray.hide()
            self.close()
            self.closed.emit()
