"""The time row of a conversation: the ticket's stopwatch, "Log time…", the time logged on the
ticket (in all and per agent) and, opened from there, the list of its entries to edit or
delete.

It fits in one line under the ticket's properties (a 1280x720 desk has no height to spare);
the list opens below it on demand.  Its data comes from the desk reader
(`app.sync.desk.time_entries`) and is read again whenever a time entry of the ticket changes.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import shiboken6
from PySide6.QtCore import QEvent, QPoint, Qt
from PySide6.QtGui import QIcon
from PySide6.QtWidgets import (
    QAbstractItemView,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QMenu,
    QPushButton,
    QTableWidget,
    QTableWidgetItem,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from app.sync.desk.time_entries import TicketTime, TimeEntryRow
from app.sync.notice import ChangeNotice
from app.time_tracking import clock_text, format_duration
from app.ui import shortcuts, theme

if TYPE_CHECKING:
    from app.ui.timetrack.desk import TimeTracking

LIST_ROWS_SHOWN = 4  # the list's height, in rows, before it scrolls
ICON_PX = 16


def stopwatch_icon(running: bool) -> QIcon:
    """The stopwatch's mark (tab, status bar, time row), in the current palette's ink."""
    return theme.icon("stopwatch" if running else "stopwatch-paused")


class TicketTimePanel(QWidget):
    """One ticket's stopwatch, "Log time…", its totals and its entries."""

    def __init__(self, tracking: TimeTracking, ticket_id: str, parent: QWidget | None = None):
        super().__init__(parent)
        self.tracking = tracking
        self.ticket_id = ticket_id
        self.time: TicketTime | None = None
        self._loading = False
        self._again = False
        self._face_state = ""  # what the face's icon shows: "none", "running" or "paused"
        self.setAccessibleName("Time on this ticket")
        outer = QVBoxLayout(self)
        outer.setContentsMargins(0, 0, 0, 0)
        outer.setSpacing(4)
        row = QHBoxLayout()
        row.setSpacing(6)
        outer.addLayout(row)

        self.face_icon = QLabel(self)
        self.face_icon.setFixedSize(ICON_PX, ICON_PX)
        row.addWidget(self.face_icon)
        self.face = QLabel(self)
        self.face.setTextFormat(Qt.TextFormat.PlainText)
        self.face.setAccessibleName("Stopwatch")
        self.face.setMinimumWidth(self.face.fontMetrics().horizontalAdvance("00:00:00 paused"))
        row.addWidget(self.face)
        self.start_button = QPushButton("Start", self)
        self.start_button.setAccessibleName("Start or pause the stopwatch")
        self.start_button.setToolTip(
            f"Start or pause the stopwatch on this ticket ({shortcuts.label('stopwatch')})"
        )
        self.start_button.clicked.connect(self.toggle)
        row.addWidget(self.start_button)
        self.stop_button = QPushButton("Stop…", self)
        self.stop_button.setAccessibleName("Stop the stopwatch and log its time")
        self.stop_button.setToolTip(
            f"Stop and log the time counted ({shortcuts.label('stopwatch_stop')})"
        )
        self.stop_button.clicked.connect(self.stop)
        row.addWidget(self.stop_button)
        self.log_button = QPushButton("Log time…", self)
        self.log_button.setAccessibleName("Log time on this ticket")
        self.log_button.setToolTip(
            f"Log time you spent on this ticket ({shortcuts.label('log_time')})"
        )
        self.log_button.clicked.connect(self.log_time)
        row.addWidget(self.log_button)
        row.addSpacing(8)
        self.totals = QLabel(self)
        self.totals.setTextFormat(Qt.TextFormat.PlainText)
        self.totals.setAccessibleName("Time logged on this ticket")
        row.addWidget(self.totals, 1)
        self.list_button = QToolButton(self)
        self.list_button.setCheckable(True)
        self.list_button.setAccessibleName("Show the time entries")
        self.list_button.setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonTextBesideIcon)
        self.list_button.setArrowType(Qt.ArrowType.RightArrow)
        self.list_button.toggled.connect(self._show_list)
        row.addWidget(self.list_button)

        self.entries = QTableWidget(0, 4, self)
        self.entries.setAccessibleName("Time entries")
        self.entries.setHorizontalHeaderLabels(["When", "Agent", "Time", "Note"])
        self.entries.verticalHeader().setVisible(False)
        self.entries.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.entries.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.entries.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.entries.setWordWrap(False)
        header = self.entries.horizontalHeader()
        for column in range(3):
            header.setSectionResizeMode(column, QHeaderView.ResizeMode.ResizeToContents)
        header.setStretchLastSection(True)
        self.entries.setContextMenuPolicy(Qt.ContextMenuPolicy.CustomContextMenu)
        self.entries.customContextMenuRequested.connect(self._entry_menu)
        self.entries.cellDoubleClicked.connect(lambda r, _c: self._edit_row(r))
        self.entries.hide()
        outer.addWidget(self.entries)
        self.by_agent = QLabel(self)
        self.by_agent.setTextFormat(Qt.TextFormat.PlainText)
        self.by_agent.setAccessibleName("Time per agent")
        self.by_agent.setWordWrap(True)
        self.by_agent.hide()
        outer.addWidget(self.by_agent)
        # Enter changes the selected entry, Delete deletes it (while the list has the focus).
        for name, slot in (
            ("edit_time_entry", self._edit_current),
            ("delete_time_entry", self._delete_current),
        ):
            shortcuts.bind(self.entries, name, slot, Qt.ShortcutContext.WidgetShortcut)

        for name, slot in (
            ("stopwatch", self.toggle),
            ("stopwatch_stop", self.stop),
            ("log_time", self.log_time),
        ):
            shortcuts.bind(self, name, slot)
        tracking.stopwatches.changed.connect(self._stopwatch_changed)
        tracking.stopwatches.ticked.connect(self._ticked)
        tracking.bridge.entitiesChanged.connect(self._entities_changed)
        # An answered change leaves the outbox without changing a row (the server's row may
        # have come first): "waiting to send" is read again when the outbox shrinks.
        tracking.bridge.connectionChanged.connect(self._outbox_changed)
        self.show_face()
        self._show_totals()
        self.reload()

    # ---- the stopwatch --------------------------------------------------------------------

    def toggle(self) -> None:
        self.tracking.toggle(self.ticket_id)

    def stop(self) -> None:
        self.tracking.stop_and_log(self.ticket_id, self)

    def log_time(self) -> None:
        self.tracking.log_time(self.ticket_id, self)

    def _stopwatch_changed(self, ticket_id: str) -> None:
        if ticket_id == self.ticket_id:
            self.show_face()

    def _ticked(self) -> None:
        watch = self.tracking.stopwatches.get(self.ticket_id)
        if watch is not None and watch.running:  # only a running face changes
            self.show_face()

    def show_face(self) -> None:
        watch = self.tracking.stopwatches.get(self.ticket_id)
        state = "none" if watch is None else "running" if watch.running else "paused"
        if state != self._face_state:
            self._face_state = state
            self.face_icon.setPixmap(stopwatch_icon(state != "paused").pixmap(ICON_PX, ICON_PX))
            self.face_icon.setEnabled(watch is not None)
        if watch is None:
            self.face.setText("Not running")
            self.start_button.setText("Start")
            self.stop_button.setEnabled(False)
            self.face.setAccessibleDescription("The stopwatch is not running")
            return
        seconds = self.tracking.stopwatches.elapsed(self.ticket_id)
        if watch.running:
            self.face.setText(clock_text(seconds))
            self.start_button.setText("Pause")
        else:
            self.face.setText(f"{clock_text(seconds)} paused")
            self.start_button.setText("Resume")
        self.stop_button.setEnabled(True)
        state = "running" if watch.running else "paused"
        self.face.setAccessibleDescription(f"Stopwatch {state}: {format_duration(seconds)}")

    def changeEvent(self, event: QEvent) -> None:
        if event.type() == QEvent.Type.PaletteChange:  # the theme changed: re-ink the icon
            self._face_state = ""
            self.show_face()
        super().changeEvent(event)

    # ---- entries and totals -----------------------------------------------------------------

    def _entities_changed(self, notice: ChangeNotice) -> None:
        if self.ticket_id in notice.tickets_of("time_entry") or notice.ids("agent"):
            self.reload()

    def _outbox_changed(self, _status: object) -> None:
        if self.time is not None and any(e.waiting for e in self.time.entries):
            self.reload()

    def reload(self) -> None:
        """Read the ticket's time again (one read at a time; one more if asked meanwhile)."""
        if self._loading:
            self._again = True
            return
        self._loading = True
        self.tracking.bridge.run(
            self.tracking.bridge.time_entries.ticket_time(self.ticket_id),
            on_result=self._loaded,
            on_error=self._failed,
        )

    def _failed(self, exc: BaseException) -> None:
        self._loading = False
        self.tracking.bridge.taskFailed.emit(exc)

    def _loaded(self, time: TicketTime) -> None:
        self._loading = False
        if not shiboken6.isValid(self.totals):  # the conversation closed while it read
            return
        if self._again:
            self._again = False
            self.reload()
        self.time = time
        self._show_totals()
        self._fill_list()

    def _show_totals(self) -> None:
        time = self.time
        me = self.tracking.bridge.agent_id
        n = len(time.entries) if time is not None else 0
        self.list_button.setText(f"Entries ({n})")
        self.list_button.setEnabled(n > 0)
        if time is None or not time.entries:
            self.totals.setText("No time logged yet")
            self.by_agent.setText("")
            return
        mine = next((a.seconds for a in time.by_agent if a.agent_id == me), 0)
        text = f"Logged: {format_duration(time.total_s)}"
        if len(time.by_agent) > 1 or mine != time.total_s:
            text += f" · you {format_duration(mine)}"
        waiting = sum(1 for e in time.entries if e.waiting)
        if waiting:
            text += f" · {waiting} waiting to send"
        self.totals.setText(text)
        shares = ", ".join(f"{a.agent_name} {format_duration(a.seconds)}" for a in time.by_agent)
        self.totals.setToolTip(f"Per agent: {shares}")
        self.by_agent.setText(f"Per agent: {shares}")

    def _fill_list(self) -> None:
        entries = self.time.entries if self.time is not None else ()
        self.entries.setRowCount(len(entries))
        zone = self.tracking.zone
        for row, entry in enumerate(entries):
            when = entry.started_at.astimezone(zone).strftime("%a %d %b %H:%M")
            how = "stopwatch" if entry.source == "stopwatch" else "typed in"
            cells = [
                when,
                entry.agent_name,
                format_duration(entry.duration_s),
                entry.note + (" (waiting to send)" if entry.waiting else ""),
            ]
            for column, text in enumerate(cells):
                item = QTableWidgetItem(text)
                item.setData(Qt.ItemDataRole.UserRole, entry.id)
                item.setToolTip(f"{text} ({how})" if column == 2 else text)
                self.entries.setItem(row, column, item)
        # As high as its rows, up to a few (a 720-pixel screen has little height to give).
        shown = min(max(len(entries), 1), LIST_ROWS_SHOWN)
        rows_high = self.entries.verticalHeader().defaultSectionSize() * shown
        frame = 2 * self.entries.frameWidth()
        self.entries.setFixedHeight(
            rows_high + self.entries.horizontalHeader().sizeHint().height() + frame
        )
        if not entries:
            self.list_button.setChecked(False)

    def _show_list(self, shown: bool) -> None:
        self.list_button.setArrowType(Qt.ArrowType.DownArrow if shown else Qt.ArrowType.RightArrow)
        self.entries.setVisible(shown)
        self.by_agent.setVisible(shown)
        if shown:
            self.entries.setFocus(Qt.FocusReason.OtherFocusReason)
            if self.entries.currentRow() < 0 and self.entries.rowCount():
                self.entries.selectRow(0)

    def entry_at(self, row: int) -> TimeEntryRow | None:
        entries = self.time.entries if self.time is not None else ()
        return entries[row] if 0 <= row < len(entries) else None

    def _edit_row(self, row: int) -> None:
        entry = self.entry_at(row)
        if entry is not None:
            self.tracking.edit_entry(entry, self)

    def _edit_current(self) -> None:
        self._edit_row(self.entries.currentRow())

    def _delete_current(self) -> None:
        entry = self.entry_at(self.entries.currentRow())
        if entry is not None:
            self.tracking.delete_entry(entry, self)

    def _entry_menu(self, pos: QPoint) -> None:
        row = self.entries.rowAt(pos.y())
        entry = self.entry_at(row)
        if entry is None:
            return
        menu = QMenu(self)
        menu.setAccessibleName("Time entry menu")
        edit = menu.addAction("Change…")
        delete = menu.addAction("Delete…")
        chosen = menu.exec(self.entries.viewport().mapToGlobal(pos))
        if chosen is edit:
            self.tracking.edit_entry(entry, self)
        elif chosen is delete:
            self.tracking.delete_entry(entry, self)
