"""The time entry form: how long (typed as agents say it), which day, and a note.

One form for the three ways an entry is made or changed: stopping a stopwatch (its time
proposed, as the face showed it, and editable), "Log time…" (typed in), and editing an entry
in the ticket's list.  What is typed is checked here with the server's own rules and words
(`app.time_tracking`), so a bad entry is refused before anything is sent and nothing changes.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta, tzinfo
from enum import Enum

from PySide6.QtCore import QDate, Qt
from PySide6.QtGui import QPalette
from PySide6.QtWidgets import (
    QDateEdit,
    QDialog,
    QDialogButtonBox,
    QFormLayout,
    QLabel,
    QLineEdit,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from app.time_tracking import (
    MAX_NOTE_CHARS,
    DurationError,
    entry_problem,
    parse_duration,
    typed_duration,
)
from app.ui.timetrack.stopwatch import Clock, wall_clock

# An entry typed in for an earlier day starts at the start of that working day: the day is
# what counts in totals, and entries of one day then sort together.
WORKDAY_STARTS = time(9, 0)


class EntryMode(Enum):
    STOPPED = "stopped"  # proposed from a stopped stopwatch
    MANUAL = "manual"  # "Log time…"
    EDIT = "edit"  # an entry from the ticket's list


@dataclass(frozen=True)
class EntryInput:
    """What the agent confirmed: an aware UTC start, whole seconds and a note."""

    started_at: datetime
    duration_s: int
    note: str


class TimeEntryDialog(QDialog):
    """The form; ``exec()`` it and read ``result_entry`` when accepted.

    A stopped stopwatch's form also offers "Discard time" (``discarded`` is then true and the
    dialog is rejected): the agent throws the counted time away on purpose.
    """

    def __init__(
        self,
        mode: EntryMode,
        ticket_label: str,
        zone: tzinfo,
        *,
        seconds: int | None = None,
        started_at: datetime | None = None,
        note: str = "",
        clock: Clock = wall_clock,
        parent: QWidget | None = None,
    ) -> None:
        super().__init__(parent)
        self.mode = mode
        self.zone = zone
        self.clock = clock
        self.anchor = started_at  # None: a typed-in entry ending now
        self.result_entry: EntryInput | None = None
        self.discarded = False
        title = {
            EntryMode.STOPPED: "Log the stopwatch's time",
            EntryMode.MANUAL: "Log time",
            EntryMode.EDIT: "Change a time entry",
        }[mode]
        self.setWindowTitle(f"{title} — {ticket_label}")
        self.setAccessibleName(title)
        self.setMinimumWidth(420)

        layout = QVBoxLayout(self)
        intro = QLabel(
            {
                EntryMode.STOPPED: f"The stopwatch counted {spoken(seconds or 0)} on "
                f"{ticket_label}. Change it if you need to, then log it.",
                EntryMode.MANUAL: f"Time you spent on {ticket_label}.",
                EntryMode.EDIT: f"A time entry on {ticket_label}.",
            }[mode],
            self,
        )
        intro.setWordWrap(True)
        intro.setTextFormat(Qt.TextFormat.PlainText)
        layout.addWidget(intro)

        form = QFormLayout()
        self.duration = QLineEdit(self)
        self.duration.setAccessibleName("Duration")
        self.duration.setPlaceholderText("1h 20m, 45m, 1:30 or 90 (minutes)")
        self.duration.setToolTip('Type "1h 20m", "45m", "1:30" (hours:minutes) or "90" (minutes)')
        if seconds is not None:
            self.duration.setText(typed_duration(seconds))
        form.addRow("&Duration", self.duration)

        self.day = QDateEdit(self)
        self.day.setAccessibleName("Day")
        self.day.setCalendarPopup(True)
        self.day.setDisplayFormat("ddd d MMM yyyy")
        today = self._today()
        shown = started_at.astimezone(zone).date() if started_at is not None else today
        self.day.setMaximumDate(_qdate(max(today, shown)))
        self.day.setDate(_qdate(shown))
        form.addRow("D&ay", self.day)

        self.note = QLineEdit(self)
        self.note.setAccessibleName("Note")
        self.note.setMaxLength(MAX_NOTE_CHARS)
        self.note.setPlaceholderText("What you did (optional)")
        self.note.setText(note)
        form.addRow("&Note", self.note)
        layout.addLayout(form)

        self.error = QLabel(self)
        self.error.setWordWrap(True)
        self.error.setTextFormat(Qt.TextFormat.PlainText)
        self.error.setAccessibleName("What is wrong")
        palette = self.error.palette()
        palette.setColor(QPalette.ColorRole.WindowText, Qt.GlobalColor.red)
        self.error.setPalette(palette)
        self.error.hide()
        layout.addWidget(self.error)

        self.buttons = QDialogButtonBox(self)
        ok_text = "Save" if mode == EntryMode.EDIT else "Log time"
        self.ok_button = self.buttons.addButton(ok_text, QDialogButtonBox.ButtonRole.AcceptRole)
        self.ok_button.setDefault(True)
        self.discard_button: QPushButton | None = None
        if mode == EntryMode.STOPPED:
            self.discard_button = self.buttons.addButton(
                "Discard time", QDialogButtonBox.ButtonRole.DestructiveRole
            )
            self.discard_button.setToolTip("Stop without logging: the counted time is dropped")
            self.discard_button.clicked.connect(self._discard)
        self.buttons.addButton(QDialogButtonBox.StandardButton.Cancel)
        self.buttons.accepted.connect(self.accept)
        self.buttons.rejected.connect(self.reject)
        layout.addWidget(self.buttons)
        self.duration.textEdited.connect(lambda _t: self.error.hide())
        self.duration.setFocus(Qt.FocusReason.OtherFocusReason)
        self.duration.selectAll()

    def _today(self) -> date:
        return self.clock().astimezone(self.zone).date()

    def _discard(self) -> None:
        self.discarded = True
        self.reject()

    def checked_entry(self) -> EntryInput:
        """The entry the form holds, or `DurationError` saying what is wrong."""
        seconds = parse_duration(self.duration.text())
        day = self.day.date().toPython()
        assert isinstance(day, date)
        now = self.clock()
        started_at = self._started_at(day, seconds, now)
        note = self.note.text().strip()
        problem = entry_problem(started_at, seconds, note, now)
        if problem is not None:
            raise DurationError(problem)
        return EntryInput(started_at, seconds, note)

    def _started_at(self, day: date, seconds: int, now: datetime) -> datetime:
        if self.anchor is not None:
            local = self.anchor.astimezone(self.zone)
            if local.date() == day:
                return self.anchor.astimezone(UTC)
            moved = datetime.combine(day, local.timetz().replace(tzinfo=None), self.zone)
            return moved.astimezone(UTC)
        if day == now.astimezone(self.zone).date():
            # Typed in today: the time just spent, ending now (within today).
            midnight = datetime.combine(day, time(0, 0), self.zone)
            return max(now - timedelta(seconds=seconds), midnight).astimezone(UTC)
        return datetime.combine(day, WORKDAY_STARTS, self.zone).astimezone(UTC)

    def accept(self) -> None:
        try:
            self.result_entry = self.checked_entry()
        except DurationError as exc:
            self.error.setText(str(exc))
            self.error.show()
            self.duration.setFocus(Qt.FocusReason.OtherFocusReason)
            self.duration.selectAll()
            return
        super().accept()


def spoken(seconds: int) -> str:
    """ "12 min 34 s", "1 h 5 min 2 s": a counted time, to the second."""
    hours, rest = divmod(max(0, seconds), 3600)
    minutes, secs = divmod(rest, 60)
    parts = [f"{hours} h"] if hours else []
    if minutes or hours:
        parts.append(f"{minutes} min")
    if secs or not parts:
        parts.append(f"{secs} s")
    return " ".join(parts)


def _qdate(day: date) -> QDate:
    return QDate(day.year, day.month, day.day)
