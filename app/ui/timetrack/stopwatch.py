"""The agent's stopwatches: one per ticket they time, kept on this workstation's disk.

A stopwatch is wall-clock time: it goes on counting while the agent reads another ticket,
after its tab is closed and while the desk is closed or has crashed, because the agent is
still on that piece of work until they pause or stop it.  Its state (when it first started,
the time banked by earlier runs, and since when it runs now) is written to ``QSettings`` on
every start, pause, stop and discard, so nothing depends on the desk closing cleanly.

Only one stopwatch runs at a time: starting one pauses the one running.  This is what
Freshdesk's ticket timers do (starting a timer stops the agent's other running timer) and
what Zendesk's time tracking amounts to (the timer follows the ticket in front of the agent):
an agent's time is one timeline, and two clocks running at once would log the same minutes
twice, making their totals for the day more than the hours they worked.  Paused stopwatches
stay, so an agent juggling several tickets resumes each where it was.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Any

from PySide6.QtCore import QObject, QSettings, QTimer, Signal

log = logging.getLogger(__name__)

Clock = Callable[[], datetime]
TICK_MS = 1000


def wall_clock() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True)
class Stopwatch:
    """One ticket's stopwatch: ``banked_s`` from earlier runs, and ``running_since`` (None
    while paused); ``label`` names the ticket when its tab is closed ("#12 Refund")."""

    ticket_id: str
    label: str
    first_started: datetime
    banked_s: float
    running_since: datetime | None

    @property
    def running(self) -> bool:
        return self.running_since is not None

    def elapsed(self, now: datetime) -> float:
        if self.running_since is None:
            return self.banked_s
        return self.banked_s + max(0.0, (now - self.running_since).total_seconds())

    def to_json(self) -> dict[str, Any]:
        return {
            "label": self.label,
            "first_started": self.first_started.isoformat(),
            "banked_s": self.banked_s,
            "running_since": self.running_since.isoformat() if self.running_since else None,
        }

    @classmethod
    def from_json(cls, ticket_id: str, data: Any) -> Stopwatch | None:
        """The stopwatch saved as ``data``; None (logged) if it is not one."""
        try:
            since = data["running_since"]
            watch = cls(
                ticket_id=ticket_id,
                label=str(data.get("label", "")),
                first_started=_aware(datetime.fromisoformat(data["first_started"])),
                banked_s=max(0.0, float(data["banked_s"])),
                running_since=_aware(datetime.fromisoformat(since)) if since else None,
            )
        except (KeyError, TypeError, ValueError, AttributeError):
            log.warning("a saved stopwatch of ticket %s could not be read; dropped", ticket_id)
            return None
        return watch


def _aware(value: datetime) -> datetime:
    return value if value.tzinfo is not None else value.replace(tzinfo=UTC)


@dataclass(frozen=True)
class Stopped:
    """A stopwatch just stopped: what its entry is proposed from."""

    ticket_id: str
    label: str
    first_started: datetime
    seconds: int  # whole seconds, as the face showed them


class Stopwatches(QObject):
    """The agent's stopwatches on this workstation.

    Signals: ``changed(str)`` — a ticket's stopwatch started, paused, stopped or was
    discarded (its ticket id); ``ticked()`` — once a second while one runs (faces repaint).
    """

    changed = Signal(str)
    ticked = Signal()

    def __init__(
        self,
        settings: QSettings,
        account_key: str,
        clock: Clock = wall_clock,
        parent: QObject | None = None,
    ) -> None:
        super().__init__(parent)
        self._settings = settings
        self._key = f"timetrack/{account_key}/stopwatches"
        self.clock = clock
        self._watches: dict[str, Stopwatch] = self._load()
        self._timer = QTimer(self)
        self._timer.setInterval(TICK_MS)
        self._timer.timeout.connect(self.ticked)
        self._keep_ticking()

    # ---- reading --------------------------------------------------------------------------

    def get(self, ticket_id: str) -> Stopwatch | None:
        return self._watches.get(ticket_id)

    def all(self) -> list[Stopwatch]:
        """Every stopwatch, the running one first, then the longest."""
        now = self.clock()
        return sorted(self._watches.values(), key=lambda w: (not w.running, -w.elapsed(now)))

    def running(self) -> Stopwatch | None:
        return next((w for w in self._watches.values() if w.running), None)

    def elapsed(self, ticket_id: str) -> int:
        """Whole seconds on the ticket's stopwatch (0 without one): what its face shows."""
        watch = self._watches.get(ticket_id)
        return int(watch.elapsed(self.clock())) if watch is not None else 0

    # ---- changing -------------------------------------------------------------------------

    def start(self, ticket_id: str, label: str = "") -> None:
        """Start (or resume) the ticket's stopwatch; the one running elsewhere pauses."""
        now = self.clock()
        other = self.running()
        if other is not None and other.ticket_id != ticket_id:
            self._put(other.ticket_id, _paused(other, now))
        watch = self._watches.get(ticket_id)
        if watch is None:
            watch = Stopwatch(ticket_id, label, now, 0.0, now)
        elif not watch.running:
            watch = replace(watch, label=label or watch.label, running_since=now)
        self._put(ticket_id, watch)
        if other is not None and other.ticket_id != ticket_id:
            self.changed.emit(other.ticket_id)
        self.changed.emit(ticket_id)

    def pause(self, ticket_id: str) -> None:
        watch = self._watches.get(ticket_id)
        if watch is None or not watch.running:
            return
        self._put(ticket_id, _paused(watch, self.clock()))
        self.changed.emit(ticket_id)

    def toggle(self, ticket_id: str, label: str = "") -> None:
        watch = self._watches.get(ticket_id)
        if watch is not None and watch.running:
            self.pause(ticket_id)
        else:
            self.start(ticket_id, label)

    def stop(self, ticket_id: str) -> Stopped | None:
        """Stop the ticket's stopwatch: it is gone, and what it counted is returned for an
        entry (None if there was none)."""
        watch = self._watches.get(ticket_id)
        if watch is None:
            return None
        seconds = int(watch.elapsed(self.clock()))
        self._drop(ticket_id)
        return Stopped(ticket_id, watch.label, watch.first_started, seconds)

    def put_back(self, stopped: Stopped) -> None:
        """The entry of a stop was not recorded (the agent cancelled): the stopwatch comes
        back paused with its time, so nothing counted is lost."""
        if stopped.ticket_id in self._watches:
            return
        watch = Stopwatch(
            stopped.ticket_id, stopped.label, stopped.first_started, float(stopped.seconds), None
        )
        self._put(stopped.ticket_id, watch)
        self.changed.emit(stopped.ticket_id)

    def relabel(self, ticket_id: str, label: str) -> None:
        """Name the ticket anew (its number arrived, its subject changed)."""
        watch = self._watches.get(ticket_id)
        if watch is not None and watch.label != label:
            self._put(ticket_id, replace(watch, label=label))

    def discard(self, ticket_id: str) -> None:
        """Throw the stopwatch away without logging its time (the agent said so)."""
        if ticket_id in self._watches:
            self._drop(ticket_id)

    # ---- internals ------------------------------------------------------------------------

    def _drop(self, ticket_id: str) -> None:
        del self._watches[ticket_id]
        self._save()
        self.changed.emit(ticket_id)

    def _put(self, ticket_id: str, watch: Stopwatch) -> None:
        self._watches[ticket_id] = watch
        self._save()

    def _save(self) -> None:
        data = {tid: w.to_json() for tid, w in self._watches.items()}
        self._settings.setValue(self._key, json.dumps(data))
        self._settings.sync()  # on disk now: a crash must not lose a start or a pause
        self._keep_ticking()

    def _load(self) -> dict[str, Stopwatch]:
        raw = self._settings.value(self._key)
        if not isinstance(raw, str) or not raw:
            return {}
        try:
            data = json.loads(raw)
        except ValueError:
            log.warning("the saved stopwatches could not be read; starting with none")
            return {}
        if not isinstance(data, dict):
            return {}
        watches: dict[str, Stopwatch] = {}
        for ticket_id, value in data.items():
            watch = Stopwatch.from_json(str(ticket_id), value)
            if watch is not None:
                watches[watch.ticket_id] = watch
        running = [w for w in watches.values() if w.running]
        for extra in running[1:]:  # written by hand or by an older desk: one runs at most
            watches[extra.ticket_id] = _paused(extra, self.clock())
        return watches

    def _keep_ticking(self) -> None:
        if self.running() is not None:
            if not self._timer.isActive():
                self._timer.start()
        else:
            self._timer.stop()


def _paused(watch: Stopwatch, now: datetime) -> Stopwatch:
    return Stopwatch(watch.ticket_id, watch.label, watch.first_started, watch.elapsed(now), None)
