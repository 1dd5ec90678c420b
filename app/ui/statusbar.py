"""The desk's status bar: the connection in plain words, and the agent's presence.

The connection side says what the agent needs to know and nothing more — "Online",
"Syncing…", "Reconnecting in 4 s" (counting down, with "Retry now"), "Offline — 3 changes
waiting to send", "Signed out — sign in again", "This server needs a newer Switchboard" —
with a coloured dot, and the engine's technical detail in the tooltip.

Presence (Available / Busy / Away) is a ``PresenceChoice`` shared with the tray menu: it is
remembered across restarts in ``QSettings`` and sent again after every reconnect, because
the server forgets a connection's presence when the connection ends.
"""

from __future__ import annotations

import asyncio
import html
import math
import time
from typing import TYPE_CHECKING

from PySide6.QtCore import QEvent, QObject, QSettings, Qt, QTimer, Signal
from PySide6.QtGui import QColor, QPainter, QPixmap
from PySide6.QtWidgets import QComboBox, QHBoxLayout, QLabel, QPushButton, QStatusBar, QWidget

from app.models.enums import Presence
from app.sync.observer import ConnectionState, ConnectionStatus
from app.ui import theme

if TYPE_CHECKING:
    from app.ui.bridge import Bridge

PRESENCE_CHOICES: tuple[tuple[str, str], ...] = (
    (Presence.AVAILABLE.value, "Available"),
    (Presence.BUSY.value, "Busy"),
    (Presence.AWAY.value, "Away"),
)
_CHOICE_VALUES = {value for value, _ in PRESENCE_CHOICES}


def _changes(count: int) -> str:
    return f"{count} change{'' if count == 1 else 's'}"


def describe(status: ConnectionStatus, retry_left: int | None = None) -> str:
    """The status bar's words for a connection state (``retry_left``: seconds to the next
    attempt, counted down by the caller)."""
    state, waiting = status.state, status.outbox
    if state == ConnectionState.ONLINE:
        return "Online" if not waiting else f"Online — sending {_changes(waiting)}…"
    if state == ConnectionState.SYNCING:
        return "Syncing…"
    if state == ConnectionState.CONNECTING:
        return "Connecting…" if not waiting else f"Connecting… {_changes(waiting)} waiting to send"
    if state == ConnectionState.RECONNECTING:
        when = f"in {retry_left} s" if retry_left else "now"
        if waiting:
            return f"Offline — {_changes(waiting)} waiting to send · reconnecting {when}"
        return f"Reconnecting {when}"
    if state == ConnectionState.SIGNED_OUT:
        return "Signed out — sign in again"
    if state == ConnectionState.INCOMPATIBLE:
        return "This server needs a newer Switchboard"
    return "Offline" if not waiting else f"Offline — {_changes(waiting)} waiting to send"


class PresenceChoice(QObject):
    """The agent's chosen presence: remembered in ``QSettings``, (re)sent whenever the
    connection comes online.

    Signals: ``changed(str)`` — the choice changed (a ``Presence`` value).
    """

    changed = Signal(str)

    def __init__(
        self, bridge: Bridge, settings: QSettings | None = None, parent: QObject | None = None
    ) -> None:
        super().__init__(parent if parent is not None else bridge)
        self.bridge = bridge
        self.settings = settings if settings is not None else QSettings()
        saved = str(self.settings.value(self._key(), Presence.AVAILABLE.value))
        self.status = saved if saved in _CHOICE_VALUES else Presence.AVAILABLE.value
        self._was_online = bridge.online
        bridge.connectionChanged.connect(self._connection_changed)
        if bridge.online:
            self._send()

    def _key(self) -> str:
        return f"presence/{self.bridge.agent_id or 'default'}"

    def set(self, status: str) -> None:
        if status not in _CHOICE_VALUES:
            raise ValueError(f"presence must be one of {sorted(_CHOICE_VALUES)}")
        if status == self.status:
            return
        self.status = status
        self.settings.setValue(self._key(), status)
        self.changed.emit(status)
        self._send()

    def _send(self) -> None:
        if self.bridge.online:
            self.bridge.run(self.bridge.engine.set_presence(self.status))

    def _connection_changed(self, status: ConnectionStatus) -> None:
        online = status.state == ConnectionState.ONLINE
        if online and not self._was_online:
            # A new connection: say it again rather than trust the server to remember.  Sent
            # from the next loop turn, not from inside the engine's status callback (starting
            # the bridge's task there crashed PySide 6.12 at exit, bool refcount).
            asyncio.get_running_loop().call_soon(self._send)
        self._was_online = online


class DeskStatusBar(QStatusBar):
    """Connection state, changes waiting to send, and the presence selector.

    Signals: ``signInRequested()`` — the session ended and the agent clicked "Sign in".
    """

    signInRequested = Signal()

    def __init__(
        self,
        bridge: Bridge,
        presence: PresenceChoice | None = None,
        parent: QWidget | None = None,
    ) -> None:
        super().__init__(parent)
        self.bridge = bridge
        self.presence = presence if presence is not None else PresenceChoice(bridge)
        self.setSizeGripEnabled(False)
        self._status = bridge.status
        self._retry_deadline: float | None = None

        self.dot = QLabel()
        self.dot.setFixedSize(14, 14)
        self.dot.setAccessibleName("Connection indicator")
        self.state_label = QLabel()
        self.state_label.setTextFormat(Qt.TextFormat.PlainText)  # server words, never markup
        self.state_label.setAccessibleName("Connection")
        self.retry_button = QPushButton("Retry now")
        self.retry_button.setFlat(True)
        self.retry_button.setCursor(Qt.CursorShape.PointingHandCursor)
        self.retry_button.setAccessibleName("Retry now")
        self.retry_button.setToolTip("Reconnect to the server now (F5)")
        self.retry_button.clicked.connect(self.retry_now)
        self.sign_in_button = QPushButton("Sign in…")
        self.sign_in_button.setFlat(True)
        self.sign_in_button.setCursor(Qt.CursorShape.PointingHandCursor)
        self.sign_in_button.setAccessibleName("Sign in again")
        self.sign_in_button.clicked.connect(self.signInRequested)
        connection = QWidget()
        row = QHBoxLayout(connection)
        row.setContentsMargins(6, 0, 6, 0)
        row.setSpacing(6)
        row.addWidget(self.dot)
        row.addWidget(self.state_label)
        row.addWidget(self.retry_button)
        row.addWidget(self.sign_in_button)
        row.addStretch(1)
        self.addWidget(connection, 1)

        self.presence_combo = QComboBox()
        self.presence_combo.setAccessibleName("My status")
        self.presence_combo.setToolTip("Whether colleagues and routing see you as available")
        for value, label in PRESENCE_CHOICES:
            self.presence_combo.addItem(theme.icon(f"presence-{value}"), label, value)
        self._show_presence(self.presence.status)
        self.presence_combo.activated.connect(self._presence_picked)
        self.presence.changed.connect(self._show_presence)
        self.addPermanentWidget(self.presence_combo)

        self._countdown = QTimer(self)
        self._countdown.setInterval(250)  # a second's step shows within a quarter second
        self._countdown.timeout.connect(self._refresh)
        bridge.connectionChanged.connect(self.show_status)
        self.show_status(bridge.status)

    # ---- connection ----------------------------------------------------------------------

    def text(self) -> str:
        """What the connection part says now."""
        return self.state_label.text()

    def retry_now(self) -> None:
        self.bridge.engine.retry_now()

    def show_status(self, status: ConnectionStatus) -> None:
        self._status = status
        if status.state == ConnectionState.RECONNECTING and status.retry_in is not None:
            self._retry_deadline = time.monotonic() + status.retry_in
            self._countdown.start()
        else:
            self._retry_deadline = None
            self._countdown.stop()
        self.retry_button.setVisible(status.state == ConnectionState.RECONNECTING)
        self.sign_in_button.setVisible(status.state == ConnectionState.SIGNED_OUT)
        self.state_label.setToolTip(html.escape(status.detail))
        self._refresh()
        self._paint_dot()

    def _retry_left(self) -> int | None:
        if self._retry_deadline is None:
            return None
        return max(0, math.ceil(self._retry_deadline - time.monotonic()))

    def _refresh(self) -> None:
        text = describe(self._status, self._retry_left())
        if text != self.state_label.text():
            self.state_label.setText(text)
            self.state_label.setAccessibleDescription(text)
        if self._retry_left() == 0:
            self._countdown.stop()

    def _dot_color(self) -> QColor:
        c = theme.colors(self.palette())
        return {
            ConnectionState.ONLINE: c.online,
            ConnectionState.SYNCING: c.connecting,
            ConnectionState.CONNECTING: c.connecting,
            ConnectionState.SIGNED_OUT: c.signed_out,
            ConnectionState.INCOMPATIBLE: c.signed_out,
        }.get(self._status.state, c.offline)

    def _paint_dot(self) -> None:
        scale = self.devicePixelRatioF()
        side = 14
        pixmap = QPixmap(round(side * scale), round(side * scale))
        pixmap.setDevicePixelRatio(scale)
        pixmap.fill(Qt.GlobalColor.transparent)
        painter = QPainter(pixmap)
        painter.setRenderHint(QPainter.RenderHint.Antialiasing)
        painter.setPen(Qt.PenStyle.NoPen)
        painter.setBrush(self._dot_color())
        painter.drawEllipse(2, 2, side - 4, side - 4)
        painter.end()
        self.dot.setPixmap(pixmap)

    def changeEvent(self, event: QEvent) -> None:
        if event.type() == QEvent.Type.PaletteChange:
            self._paint_dot()
            for i, (value, _) in enumerate(PRESENCE_CHOICES):
                self.presence_combo.setItemIcon(i, theme.icon(f"presence-{value}"))
        super().changeEvent(event)

    # ---- presence ------------------------------------------------------------------------

    def _presence_picked(self, index: int) -> None:
        self.presence.set(str(self.presence_combo.itemData(index)))

    def _show_presence(self, status: str) -> None:
        index = self.presence_combo.findData(status)
        if index >= 0:
            self.presence_combo.setCurrentIndex(index)
