"""Time tracking at the desk: the piece the main window adds, and what it wires.

`TimeTracking` gives every open conversation its time row (`TicketTimePanel`), marks the
tabs whose stopwatch runs or is paused (a clock and the time, beside the tab's title), shows
the agent's own time today and this week in the status bar ("My time"), and adds the Time
menu (with the preference to start the stopwatch when a ticket is opened: off by default).
It sends the time entry mutations through the bridge and asks the agent through non-blocking
dialogs (the asyncio loop keeps running while a form is open).
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, time, timedelta, tzinfo
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from PySide6.QtCore import QEvent, QObject, QSettings, Qt, QTimer, Signal
from PySide6.QtGui import QAction, QIcon
from PySide6.QtWidgets import (
    QMainWindow,
    QMenu,
    QMessageBox,
    QToolButton,
    QWidget,
)

from app.sync.desk.time_entries import MyTime, TimeEntryRow
from app.sync.engine import KnownError
from app.sync.notice import ChangeNotice
from app.time_tracking import clock_text, format_duration
from app.ui import shortcuts
from app.ui.bridge import Bridge
from app.ui.conversation.tabs import ConversationTabs
from app.ui.conversation.view import ConversationView, ticket_label
from app.ui.timetrack.entry_dialog import EntryInput, EntryMode, TimeEntryDialog
from app.ui.timetrack.my_time import MyTimeDialog
from app.ui.timetrack.panel import TicketTimePanel, stopwatch_icon
from app.ui.timetrack.stopwatch import Clock, Stopwatches, wall_clock

log = logging.getLogger(__name__)

MY_TIME_EVERY_MS = 60_000  # "today" turns into tomorrow at midnight: read again each minute
CHANGERS = ("supervisor", "admin")  # who may change a colleague's entries (as the server says)
NOT_YOURS = "You can change only your own time entries. A supervisor can correct a colleague's."


class TimeTracking(QObject):
    """Stopwatches, time entries and "My time" for one signed-in agent's desk.

    Signals: ``openTicket(str)`` — the agent asked to open a ticket (from "My time");
    ``myTimeChanged(object)`` — the agent's own time was read again (`MyTime`).
    """

    openTicket = Signal(str)
    myTimeChanged = Signal(object)

    def __init__(
        self,
        bridge: Bridge,
        settings: QSettings,
        account_key: str,
        tabs: ConversationTabs,
        window: QMainWindow,
        *,
        clock: Clock = wall_clock,
    ) -> None:
        super().__init__(window)
        self.bridge = bridge
        self.tabs = tabs
        self.window = window
        self._settings = settings
        self._auto_key = f"timetrack/{account_key}/autostart"
        self.stopwatches = Stopwatches(settings, account_key, clock, self)
        self.panels: dict[str, TicketTimePanel] = {}
        self._marked: dict[str, str] = {}  # ticket -> the mark its tab shows
        self.dialog: TimeEntryDialog | None = None  # the form open now, if any
        self.message: QMessageBox | None = None  # the question or notice open now, if any
        self.my_time: MyTime | None = None
        self.my_time_dialog: MyTimeDialog | None = None
        self._reading_my_time = False
        self._read_my_time_again = False

        tabs.viewOpened.connect(self._view_opened)
        tabs.title_prefixes.append(self._title_prefix)
        tabs.installEventFilter(self)  # a theme change re-inks the tabs' stopwatch icons
        for signal in (tabs.tabsChanged, tabs.currentChanged, tabs.tabBar().tabMoved):
            signal.connect(lambda *_: self.mark_tabs())
        self.stopwatches.ticked.connect(self._ticked)
        self.stopwatches.changed.connect(lambda _tid: self._stopwatches_changed())
        bridge.entitiesChanged.connect(self._entities_changed)

        self.status_button = QToolButton(window)
        self.status_button.setAutoRaise(True)
        self.status_button.setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonTextBesideIcon)
        self.status_button.setAccessibleName("My time")
        self.status_button.setToolTip("Your time today and this week, and your stopwatches")
        self.status_button.clicked.connect(self.show_my_time)
        window.statusBar().addPermanentWidget(self.status_button)
        self._build_menu()
        self._my_time_timer = QTimer(self)
        self._my_time_timer.setInterval(MY_TIME_EVERY_MS)
        self._my_time_timer.timeout.connect(self.read_my_time)
        self._my_time_timer.start()
        self._show_status()
        self.read_my_time()

    # ---- the agent's clock, preferences and zone ----------------------------------------------

    @property
    def clock(self) -> Clock:
        """What "now" is for the stopwatches and the forms (a test sets its own)."""
        return self.stopwatches.clock

    @clock.setter
    def clock(self, clock: Clock) -> None:
        self.stopwatches.clock = clock
        self._ticked()  # every face shows the time by this clock

    @property
    def zone(self) -> tzinfo:
        me = self.bridge.directory.me
        try:
            return ZoneInfo(me.timezone if me is not None and me.timezone else "UTC")
        except (ZoneInfoNotFoundError, ValueError):
            return ZoneInfo("UTC")

    @property
    def autostart(self) -> bool:
        return str(self._settings.value(self._auto_key, "false")).lower() == "true"

    def set_autostart(self, on: bool) -> None:
        self._settings.setValue(self._auto_key, "true" if on else "false")
        self.autostart_action.setChecked(on)

    # ---- conversations ------------------------------------------------------------------------

    def _view_opened(self, view: ConversationView, restored: bool) -> None:
        panel = TicketTimePanel(self, view.ticket_id, view)
        view.add_ticket_panel(panel)
        self.panels[view.ticket_id] = panel
        panel.destroyed.connect(lambda _o=None, tid=view.ticket_id: self._panel_gone(tid, panel))
        view.loaded.connect(lambda v=view: self._relabel(v))
        if self.autostart and not restored and self.stopwatches.get(view.ticket_id) is None:
            self.stopwatches.start(view.ticket_id)
        self.mark_tabs()

    def _panel_gone(self, ticket_id: str, panel: TicketTimePanel) -> None:
        if self.panels.get(ticket_id) is panel:
            del self.panels[ticket_id]

    def _relabel(self, view: ConversationView) -> None:
        label = self.label_of(view.ticket_id)
        watch = self.stopwatches.get(view.ticket_id)
        if watch is not None and watch.label != label:
            self.stopwatches.relabel(view.ticket_id, label)

    def label_of(self, ticket_id: str) -> str:
        """ "#12 Refund not received": the ticket as the agent knows it."""
        view = self.tabs.view(ticket_id)
        if view is not None and view.conversation is not None:
            ticket = view.conversation.ticket
            return f"{ticket_label(ticket)} {ticket.subject}".strip()
        watch = self.stopwatches.get(ticket_id)
        return watch.label if watch is not None and watch.label else "this ticket"

    def current_panel(self) -> TicketTimePanel | None:
        ticket_id = self.tabs.current_ticket_id()
        return self.panels.get(ticket_id) if ticket_id else None

    # ---- the stopwatch ------------------------------------------------------------------------

    def toggle(self, ticket_id: str) -> None:
        self.stopwatches.toggle(ticket_id, self.label_of(ticket_id))

    def stop_and_log(self, ticket_id: str, parent: QWidget | None = None) -> None:
        """Stop the ticket's stopwatch and propose its time as an entry; cancelling the form
        puts the stopwatch back, paused, with its time."""
        if self._form_open():
            return
        stopped = self.stopwatches.stop(ticket_id)
        if stopped is None:
            return
        label = self.label_of(ticket_id)
        dialog = TimeEntryDialog(
            EntryMode.STOPPED,
            label,
            self.zone,
            seconds=max(stopped.seconds, 1),
            started_at=stopped.first_started,
            clock=self.clock,
            parent=parent or self.window,
        )

        def done(accepted: bool) -> None:
            if accepted and dialog.result_entry is not None:
                # Not saved after all (the ticket left this workstation): its time stays.
                kept = (lambda: self.stopwatches.put_back(stopped), "the stopwatch keeps its time")
                self.add(ticket_id, dialog.result_entry, "stopwatch", kept)
            elif not dialog.discarded:
                self.stopwatches.put_back(stopped)

        self._open(dialog, done)

    # ---- entries ------------------------------------------------------------------------------

    def log_time(self, ticket_id: str, parent: QWidget | None = None) -> None:
        """ "Log time…": an entry typed in (today by default)."""
        if self._form_open():
            return
        dialog = TimeEntryDialog(
            EntryMode.MANUAL,
            self.label_of(ticket_id),
            self.zone,
            clock=self.clock,
            parent=parent or self.window,
        )

        def done(accepted: bool) -> None:
            if accepted and dialog.result_entry is not None:
                self.add(ticket_id, dialog.result_entry, "manual")

        self._open(dialog, done)

    def may_change(self, entry: TimeEntryRow) -> bool:
        me = self.bridge.directory.me
        mine = entry.agent_id == self.bridge.agent_id
        return mine or (me is not None and me.role in CHANGERS)

    def edit_entry(self, entry: TimeEntryRow, parent: QWidget | None = None) -> None:
        if not self.may_change(entry):
            self.tell(NOT_YOURS, parent)
            return
        if self._form_open():
            return
        dialog = TimeEntryDialog(
            EntryMode.EDIT,
            self.label_of(entry.ticket_id),
            self.zone,
            seconds=entry.duration_s,
            started_at=entry.started_at,
            note=entry.note,
            clock=self.clock,
            parent=parent or self.window,
        )

        def done(accepted: bool) -> None:
            if accepted and dialog.result_entry is not None:
                changed = dialog.result_entry
                args = {
                    "id": entry.id,
                    "started_at": changed.started_at.isoformat(),
                    "duration_s": changed.duration_s,
                    "note": changed.note,
                }
                self._send("time_entry.edit", args)

        self._open(dialog, done)

    def delete_entry(self, entry: TimeEntryRow, parent: QWidget | None = None) -> None:
        if not self.may_change(entry):
            self.tell(NOT_YOURS, parent)
            return
        when = entry.started_at.astimezone(self.zone).strftime("%a %d %b")
        whose = "your" if entry.agent_id == self.bridge.agent_id else f"{entry.agent_name}'s"
        box = QMessageBox(
            QMessageBox.Icon.Question,
            "Delete a time entry",
            f"Delete {whose} {format_duration(entry.duration_s)} on {when}?",
            QMessageBox.StandardButton.Cancel,
            parent or self.window,
        )
        delete = box.addButton("Delete", QMessageBox.ButtonRole.DestructiveRole)
        box.setDefaultButton(QMessageBox.StandardButton.Cancel)

        def done(_result: int) -> None:
            self.message = None
            if box.clickedButton() is delete:
                self._send("time_entry.delete", {"id": entry.id})

        self.message = box
        box.finished.connect(done)
        box.open()

    def add(
        self,
        ticket_id: str,
        entry: EntryInput,
        source: str,
        not_saved: tuple[Callable[[], None], str] | None = None,
    ) -> None:
        args: dict[str, Any] = {
            "id": str(uuid.uuid4()),
            "ticket_id": ticket_id,
            "started_at": entry.started_at.isoformat(),
            "duration_s": entry.duration_s,
            "note": entry.note,
            "source": source,
        }
        self._send("time_entry.add", args, not_saved)

    def _send(
        self,
        name: str,
        args: dict[str, Any],
        not_saved: tuple[Callable[[], None], str] | None = None,
    ) -> None:
        """Queue the change (applied to the cache at once); a known error (the ticket is not
        on this workstation any more) is said in plain words, with what was kept."""

        def failed(exc: BaseException) -> None:
            if isinstance(exc, KnownError):
                text = f"The time entry was not saved: {exc}"
                if not_saved is not None:
                    not_saved[0]()
                    text += f" ({not_saved[1]})"
                self.tell(text, None)
            else:
                self.bridge.taskFailed.emit(exc)

        self.bridge.run(self.bridge.engine.mutate(name, args), on_error=failed)

    def tell(self, text: str, parent: QWidget | None) -> None:
        """Say something to the agent in a small note they close (never blocking the loop)."""
        box = QMessageBox(
            QMessageBox.Icon.Information,
            "Time tracking",
            text,
            QMessageBox.StandardButton.Ok,
            parent or self.window,
        )
        box.setTextFormat(Qt.TextFormat.PlainText)
        self.message = box
        box.finished.connect(lambda _r: setattr(self, "message", None))
        box.open()

    def _form_open(self) -> bool:
        """One form at a time: with one open, it comes to the front to be finished first."""
        if self.dialog is None:
            return False
        self.dialog.raise_()
        self.dialog.activateWindow()
        return True

    def _open(self, dialog: TimeEntryDialog, done: Any) -> None:
        self.dialog = dialog

        def finished(result: int) -> None:
            if self.dialog is dialog:
                self.dialog = None
            done(result == TimeEntryDialog.DialogCode.Accepted)
            dialog.deleteLater()

        dialog.finished.connect(finished)
        dialog.open()

    # ---- tabs and the status bar ------------------------------------------------------------

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:
        if watched is self.tabs and event.type() == QEvent.Type.PaletteChange:
            self._marked.clear()
            self._ticked()
        return super().eventFilter(watched, event)

    def _ticked(self) -> None:
        self.mark_tabs()
        self._show_status()
        if self.my_time_dialog is not None and self.my_time_dialog.isVisible():
            self.my_time_dialog.show_stopwatches(self.stopwatches.all(), self.stopwatches.clock())

    def _stopwatches_changed(self) -> None:
        self._ticked()

    def mark_tabs(self) -> None:
        """A stopwatch icon and the time before the title of each tab whose stopwatch runs
        (a paused icon while it is paused); nothing on the others."""
        for index in range(self.tabs.count()):
            view = self.tabs.widget(index)
            if not isinstance(view, ConversationView):
                continue
            ticket_id = view.ticket_id
            watch = self.stopwatches.get(ticket_id)
            if watch is None:
                if self._marked.pop(ticket_id, None) is not None:
                    self.tabs.setTabIcon(index, QIcon())
                    self.tabs.retitle(ticket_id)
                continue
            state = "running" if watch.running else "paused"
            mark = f"{state} {clock_text(self.stopwatches.elapsed(ticket_id))}"
            if self._marked.get(ticket_id) != mark or self.tabs.tabIcon(index).isNull():
                self._marked[ticket_id] = mark
                self.tabs.setTabIcon(index, stopwatch_icon(watch.running))
                self.tabs.retitle(ticket_id)

    def _title_prefix(self, ticket_id: str) -> str:
        watch = self.stopwatches.get(ticket_id)
        if watch is None:
            return ""
        return f"{clock_text(self.stopwatches.elapsed(ticket_id))} "

    def tab_mark(self, ticket_id: str) -> str:
        """What the ticket's tab shows of its stopwatch: "running 5:12", "paused 5:12", or
        "" (checked against the tab itself: its icon and the time before its title)."""
        view = self.tabs.view(ticket_id)
        index = self.tabs.indexOf(view) if view is not None else -1
        mark = self._marked.get(ticket_id, "")
        if index < 0 or not mark or self.tabs.tabIcon(index).isNull():
            return ""
        shown = self.tabs.tabText(index).split(" ")[0]
        return mark if mark.endswith(f" {shown}") else ""

    def _show_status(self) -> None:
        parts = []
        running = self.stopwatches.running()
        if running is not None:
            seconds = self.stopwatches.elapsed(running.ticket_id)
            number = self.label_of(running.ticket_id).split(" ")[0]
            label = number if number.startswith("#") else "Stopwatch"
            parts.append(f"{label} {clock_text(seconds)}")
        self.status_button.setIcon(stopwatch_icon(True) if running is not None else QIcon())
        mine = self.my_time
        if mine is not None:
            parts.append(f"My time today {format_duration(mine.today_s)}")
        self.status_button.setText(" · ".join(parts) or "My time")

    def _entities_changed(self, notice: ChangeNotice) -> None:
        if notice.ids("time_entry"):
            self.read_my_time()

    def read_my_time(self) -> None:
        me = self.bridge.agent_id
        if me is None:
            return
        if self._reading_my_time:
            self._read_my_time_again = True
            return
        self._reading_my_time = True
        day_start, week_start = self.day_and_week()
        self.bridge.run(
            self.bridge.time_entries.my_time(me, day_start, week_start),
            on_result=self._my_time_read,
            on_error=self._my_time_failed,
        )

    def day_and_week(self) -> tuple[datetime, datetime]:
        """The start of the agent's today and of their week (Monday), in UTC."""
        zone = self.zone
        today = self.clock().astimezone(zone).date()
        day_start = datetime.combine(today, time(0, 0), zone)
        week_start = datetime.combine(today - timedelta(days=today.weekday()), time(0, 0), zone)
        return day_start.astimezone(UTC), week_start.astimezone(UTC)

    def _my_time_failed(self, exc: BaseException) -> None:
        self._reading_my_time = False
        self.bridge.taskFailed.emit(exc)

    def _my_time_read(self, mine: MyTime) -> None:
        self._reading_my_time = False
        if self._read_my_time_again:
            self._read_my_time_again = False
            self.read_my_time()
        self.my_time = mine
        self._show_status()
        self.status_button.setToolTip(
            f"Today {format_duration(mine.today_s)}, this week {format_duration(mine.week_s)}"
            " — click for your time per ticket and your stopwatches"
        )
        if self.my_time_dialog is not None:
            self.my_time_dialog.show_time(mine)
        self.myTimeChanged.emit(mine)

    def show_my_time(self) -> None:
        if self.my_time_dialog is None:
            self.my_time_dialog = MyTimeDialog(self.window)
            self.my_time_dialog.openTicket.connect(self.openTicket)
        self.my_time_dialog.show_stopwatches(self.stopwatches.all(), self.stopwatches.clock())
        if self.my_time is not None:
            self.my_time_dialog.show_time(self.my_time)
        self.read_my_time()
        self.my_time_dialog.show()
        self.my_time_dialog.raise_()

    # ---- the Time menu ------------------------------------------------------------------------

    def _build_menu(self) -> None:
        bar = self.window.menuBar()
        menu = QMenu("&Time", bar)
        menu.setAccessibleName("Time")
        help_menu = next((a for a in bar.actions() if a.text().replace("&", "") == "Help"), None)
        if help_menu is not None:
            bar.insertMenu(help_menu, menu)
        else:
            bar.addMenu(menu)

        def on_current(slot_name: str) -> None:
            panel = self.current_panel()
            if panel is not None:
                getattr(panel, slot_name)()
            else:
                self.window.statusBar().showMessage("Open a ticket first", 5000)

        for text, name, slot in (
            ("Start or pause the stopwatch", "stopwatch", "toggle"),
            ("Stop and log the time…", "stopwatch_stop", "stop"),
            ("Log time…", "log_time", "log_time"),
        ):
            # The keys are the conversation's own (bound in its time row); shown here.
            action = menu.addAction(f"{text}\t{shortcuts.label(name)}")
            action.triggered.connect(lambda _c=False, s=slot: on_current(s))
        menu.addSeparator()
        menu.addAction("My time…").triggered.connect(self.show_my_time)
        menu.addSeparator()
        self.autostart_action = QAction("Start the stopwatch when I open a ticket", menu)
        self.autostart_action.setCheckable(True)
        self.autostart_action.setChecked(self.autostart)
        self.autostart_action.toggled.connect(self.set_autostart)
        menu.addAction(self.autostart_action)
        self.menu = menu
