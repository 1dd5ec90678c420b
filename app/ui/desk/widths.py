"""How the desk shares its width, so that the ticket list's subjects stay readable.

The subject is what an agent scans the list by, so it is the last thing to give up width.
On a narrow screen (a 1280x720 laptop) or with a layout saved on a wider one, the side
panels give up width first, down to the least each keeps (`PanelSplitter`), then the list's
other columns, down to the least each keeps (`fitted_widths`); only then the subject.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import TypeVar

from PySide6.QtCore import QSize, QTimer
from PySide6.QtGui import QResizeEvent
from PySide6.QtWidgets import QSplitter, QWidget

K = TypeVar("K")

# The desk at its most comfortable; a smaller screen gets a window that fits it.
PREFERRED_SIZE = QSize(1440, 900)
# The subject column's least width: about 30 characters of a subject.
SUBJECT_MIN = 220


def first_size(available: QSize) -> QSize:
    """The window's size on a first start: the preferred one, within the screen's room (a
    window larger than the screen is clamped by the window manager, and the list lost it)."""
    return PREFERRED_SIZE.boundedTo(available)


def fit_to_screen(window: QWidget) -> None:
    """Keep the whole window, frame and title bar included, within the available area of
    the screen it is on (the taskbar and panels excluded): shrunk, then moved, where it
    would not be.  A window larger than its screen hides the status bar, the composer's
    Send and the customer panel below and beside the edge."""
    screen = window.screen()
    if screen is None:
        return
    room = screen.availableGeometry()
    frame = window.frameGeometry()
    # The frame's margins are known once the window is shown; until then assume none.
    extra = QSize(frame.width() - window.width(), frame.height() - window.height())
    least = window.minimumSize()
    size = window.size().boundedTo(room.size() - extra).expandedTo(least)
    if size != window.size():
        window.resize(size)
        frame = window.frameGeometry()
    x = min(max(frame.x(), room.left()), room.right() + 1 - frame.width())
    y = min(max(frame.y(), room.top()), room.bottom() + 1 - frame.height())
    if (x, y) != (frame.x(), frame.y()):
        window.move(max(x, room.left()), max(y, room.top()))


def fit_on_show(window: QWidget) -> None:
    """`fit_to_screen` as the window is shown, and again once a window manager that frames
    it only after showing (X11) has added the title bar — only then: a size the agent or
    the desk sets after the first show is theirs."""
    fit_to_screen(window)
    margins = window.frameGeometry().size() - window.size()

    def framed() -> None:
        if window.frameGeometry().size() - window.size() != margins:
            fit_to_screen(window)

    QTimer.singleShot(0, window, framed)


def fitted_widths(wanted: Mapping[K, int], least: Mapping[K, int], room: int) -> dict[K, int]:
    """The widths of the columns in ``wanted`` when they share ``room``: as wanted if it is
    enough, else each gives up the same share of what it has above its least."""
    floor = {key: min(least.get(key, width), width) for key, width in wanted.items()}
    spare = sum(wanted.values()) - sum(floor.values())
    over = sum(wanted.values()) - room
    if over <= 0 or spare <= 0:
        return dict(wanted) if over <= 0 else floor
    keep = max(0.0, 1.0 - over / spare)
    # Rounded down: together they never take more than the room.
    return {key: floor[key] + int((width - floor[key]) * keep) for key, width in wanted.items()}


class PanelSplitter(QSplitter):
    """Side panels around a main one (views | ticket list | customer): when the splitter
    narrows (a smaller window, a layout restored from a wider screen), the sides give up
    width, in the order given and down to their least, while the main one has less than it
    wants.  Widths the agent drags are left alone until the window is resized again."""

    def __init__(self, main: QWidget, sides: Sequence[tuple[QWidget, int]], parent: QWidget):
        super().__init__(parent)
        self._main = main
        self._sides = list(sides)
        # What the main panel wants, asked at each fit (it grows when the agent widens a
        # column of the list); set by the window once it knows.
        self.wanted: Callable[[], int] = lambda: 0

    def resizeEvent(self, event: QResizeEvent) -> None:
        super().resizeEvent(event)
        self.fit()

    def fit(self) -> None:
        main = self.indexOf(self._main)
        sizes = self.sizes()
        if main < 0 or sum(sizes) == 0:
            return
        short = self.wanted() - sizes[main]
        for side, side_least in self._sides:
            index = self.indexOf(side)
            if short <= 0 or index < 0:
                break
            given = max(0, min(short, sizes[index] - side_least))
            sizes[index] -= given
            sizes[main] += given
            short -= given
        if sizes != self.sizes():
            self.setSizes(sizes)
