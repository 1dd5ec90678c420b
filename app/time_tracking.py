"""Time spent on tickets, in the words agents use: reading what they type ("1h 20m", "45m",
"1:30", "90"), writing durations back, and the limits a time entry must keep.

Plain Python, imported by the domain (the server's checks) and by the desk (the same checks
before anything is sent, and the same wording), so the two can never disagree.
"""

from __future__ import annotations

import re
from datetime import datetime, timedelta

MAX_ENTRY_S = 24 * 3600  # one entry: at most a day (anything longer is a typo)
MAX_NOTE_CHARS = 500
# A workstation's clock may run a little ahead of the server's: "not in the future" allows this.
CLOCK_SKEW = timedelta(minutes=5)
# Time is logged for recent work: an entry dated over a year back is a wrong date.
OLDEST = timedelta(days=366)

SOURCES = ("stopwatch", "manual")

_UNITS = {
    "h": 3600,
    "hr": 3600,
    "hrs": 3600,
    "hour": 3600,
    "hours": 3600,
    "m": 60,
    "min": 60,
    "mins": 60,
    "minute": 60,
    "minutes": 60,
    "s": 1,
    "sec": 1,
    "secs": 1,
    "second": 1,
    "seconds": 1,
}
_PART = re.compile(r"(\d+(?:[.,]\d+)?)\s*([a-z]+)")
_CLOCK = re.compile(r"(\d+):([0-5]\d)(?::([0-5]\d))?")

DURATION_HINT = 'Type a duration such as "1h 20m", "45m", "1:30" or "90" (minutes).'


class DurationError(ValueError):
    """What was typed is not a duration an entry may have; the message says why, plainly."""


def parse_duration(text: str) -> int:
    """Seconds from what an agent types: "1h 20m", "45m", "1:30" (h:mm), "1:02:03"
    (h:mm:ss), "90" (minutes), "1.5h", "30s".  Raises `DurationError` in plain words."""
    typed = text.strip().lower()
    if not typed:
        raise DurationError(f"How long did you work on it? {DURATION_HINT}")
    if typed.startswith("-"):
        raise DurationError("A duration cannot be negative.")
    seconds: float
    if typed.isdigit():
        seconds = int(typed) * 60
    elif clock := _CLOCK.fullmatch(typed):
        hours, minutes, secs = clock.groups()
        seconds = int(hours) * 3600 + int(minutes) * 60 + int(secs or 0)
    else:
        compact = typed.replace(" ", "")
        parts = _PART.findall(typed)
        if not parts or "".join(f"{n}{u}" for n, u in parts) != compact:
            raise DurationError(f'"{text.strip()}" is not a duration. {DURATION_HINT}')
        seconds = 0
        for number, unit in parts:
            if unit not in _UNITS:
                raise DurationError(f'"{unit}" is not a unit of time. {DURATION_HINT}')
            seconds += float(number.replace(",", ".")) * _UNITS[unit]
    return check_duration(round(seconds))


def check_duration(seconds: int) -> int:
    """``seconds`` if an entry may last that long; else `DurationError`."""
    if seconds <= 0:
        raise DurationError("A time entry needs some time: at least one second.")
    if seconds > MAX_ENTRY_S:
        raise DurationError(
            f"{format_duration(seconds)} is more than a day in one entry; "
            "log each day's time as its own entry."
        )
    return seconds


def entry_problem(started_at: datetime, duration_s: int, note: str, now: datetime) -> str | None:
    """Why a time entry cannot be kept as it is, in plain words; None when it can."""
    try:
        check_duration(duration_s)
    except DurationError as exc:
        return str(exc)
    if started_at > now + CLOCK_SKEW:
        return "The time cannot start in the future; pick today or an earlier day."
    if started_at < now - OLDEST:
        return "That day is over a year ago; pick a more recent day."
    if len(note) > MAX_NOTE_CHARS:
        return f"The note is too long: keep it under {MAX_NOTE_CHARS} characters."
    return None


def format_duration(seconds: int) -> str:
    """ "1 h 20 min", "45 min", "30 s", "0 min": how a total reads in the desk."""
    seconds = max(0, int(seconds))
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    if hours and minutes:
        return f"{hours} h {minutes} min"
    if hours:
        return f"{hours} h"
    if minutes or not secs:
        return f"{minutes} min"
    return f"{secs} s"


def typed_duration(seconds: int) -> str:
    """A duration as an agent would type it, which `parse_duration` reads back exactly:
    "1h 20m", "45m", "12m 34s"."""
    seconds = max(0, int(seconds))
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    parts = []
    if hours:
        parts.append(f"{hours}h")
    if minutes or (hours and secs):
        parts.append(f"{minutes}m")
    if secs or not parts:
        parts.append(f"{secs}s")
    return " ".join(parts)


def clock_text(seconds: float) -> str:
    """A running stopwatch's face: "4:05" under an hour, "1:04:05" from then on."""
    whole = max(0, int(seconds))
    hours, rest = divmod(whole, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours}:{minutes:02}:{secs:02}" if hours else f"{minutes}:{secs:02}"
