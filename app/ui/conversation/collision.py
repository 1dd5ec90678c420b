"""The collision banner: which colleagues have this ticket open, and who is typing a reply."""

from __future__ import annotations

from PySide6.QtCore import QEvent, Qt
from PySide6.QtWidgets import QHBoxLayout, QLabel, QWidget

from app.ui import theme
from app.ui.bridge import Bridge


def _style(typing: bool) -> str:
    c = theme.colors()
    if typing:  # amber, bordered, bold: someone may be answering the same customer now
        edge = c.typing.name()
        background = c.typing.lighter(185 if not c.dark else 40).name()
        return (
            f"#collisionBanner {{ background: {background}; border: 1px solid {edge};"
            " border-radius: 4px; }"
        )
    accent = c.accent.lighter(190 if not c.dark else 45).name()
    return f"#collisionBanner {{ background: {accent}; border-radius: 4px; }}"


def describe(names_viewing: list[str], names_typing: list[str]) -> str:
    """ "Lin is typing a reply…", "Lin and Bob are viewing", "Lin is typing a reply… · Bob is
    viewing" — typing first, because that is the one that causes double replies."""
    parts: list[str] = []
    if names_typing:
        verb = "is" if len(names_typing) == 1 else "are"
        parts.append(f"{_join(names_typing)} {verb} typing a reply…")
    if names_viewing:
        verb = "is" if len(names_viewing) == 1 else "are"
        parts.append(f"{_join(names_viewing)} {verb} viewing")
    return " · ".join(parts)


def _join(names: list[str]) -> str:
    if len(names) <= 2:
        return " and ".join(names)
    return f"{', '.join(names[:2])} and {len(names) - 2} more"


class CollisionBanner(QWidget):
    """Hidden while nobody else is on the ticket, and while offline (who is on it cannot be
    known then); prominent (amber, bold) while someone types.

    Reads ``bridge.viewers_of`` on every ``viewingChanged``, so it is right from the first
    paint even when the colleague opened the ticket before this tab did.
    """

    def __init__(self, bridge: Bridge, ticket_id: str, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._bridge = bridge
        self.ticket_id = ticket_id
        self.setObjectName("collisionBanner")
        self.setAttribute(Qt.WidgetAttribute.WA_StyledBackground, True)
        layout = QHBoxLayout(self)
        layout.setContentsMargins(8, 4, 8, 4)
        self.label = QLabel(self)
        self.label.setTextFormat(Qt.TextFormat.PlainText)
        self.label.setAccessibleName("Colleagues on this ticket")
        layout.addWidget(self.label, 1)
        self.typing = False
        bridge.viewingChanged.connect(self._viewing_changed)
        bridge.directoryChanged.connect(self._directory_changed)
        bridge.connectionChanged.connect(self._connection_changed)
        self.refresh()

    def _viewing_changed(self, _agent_id: str, _ticket_id: object, _typing: bool) -> None:
        self.refresh()

    def changeEvent(self, event: QEvent) -> None:
        super().changeEvent(event)
        if event.type() == QEvent.Type.PaletteChange:
            self.refresh()

    def _connection_changed(self, _status: object) -> None:
        self.refresh()

    def _directory_changed(self, _directory: object) -> None:
        self.refresh()

    def refresh(self) -> None:
        viewing: list[str] = []
        typing: list[str] = []
        # Offline, nobody's viewing can be known: a colleague may have closed the ticket
        # long ago.  The banner goes rather than claim what may no longer be true.
        here = self._bridge.viewers_of(self.ticket_id) if self._bridge.online else []
        for agent_id, is_typing in here:
            name = self._bridge.agent_name(agent_id) or "A colleague"
            (typing if is_typing else viewing).append(name)
        text = describe(sorted(viewing), sorted(typing))
        self.typing = bool(typing)
        self.label.setText(text)
        style = _style(bool(typing))
        if style != self.styleSheet():  # re-polishing sends PaletteChange: no loops
            self.setStyleSheet(style)
        font = self.label.font()
        font.setBold(bool(typing))
        self.label.setFont(font)
        self.setAccessibleDescription(text)
        self.setVisible(bool(text))

    def text(self) -> str:
        return self.label.text()
