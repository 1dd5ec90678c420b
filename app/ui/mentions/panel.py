"""The Mentions list under the views: a colleague's @mention of the agent, newest first,
unread in bold, with the count of unread ones in its title.  Enter (or a double-click) opens
the ticket and marks the mention read; so does opening it any other way from here.

A mention that arrives while the desk is open is announced (``mentionArrived``) for the
window to say so where the agent looks, besides the tray.
"""

from __future__ import annotations

from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QFont, QPalette
from PySide6.QtWidgets import (
    QAbstractItemView,
    QLabel,
    QListWidget,
    QListWidgetItem,
    QVBoxLayout,
    QWidget,
)

from app.sync.desk_types import MentionItem
from app.sync.notice import ChangeNotice
from app.ui.bridge import Bridge

MentionIdRole = Qt.ItemDataRole.UserRole + 1


def mention_text(item: MentionItem) -> str:
    """ "Lin on #12 Printer jams: “@ada can you check…”" """
    who = item.by_name or "A colleague"
    if item.ticket_number is not None:
        where = f"#{item.ticket_number} {item.ticket_subject}".strip()
    else:
        where = item.ticket_subject or "a ticket not on this computer"
    said = f": “{item.excerpt}”" if item.excerpt else ""
    return f"{who} on {where}{said}"


def title_text(unread: int) -> str:
    return f"Mentions ({unread} unread)" if unread else "Mentions"


class MentionsPanel(QWidget):
    """The agent's mentions.

    Signals: ``openTicket(str)`` — the agent opened a mention's ticket;
    ``unreadChanged(int)``; ``mentionArrived(object)`` — a new unread MentionItem arrived
    while the desk was open.
    """

    openTicket = Signal(str)
    unreadChanged = Signal(int)
    mentionArrived = Signal(object)

    def __init__(self, bridge: Bridge, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._bridge = bridge
        self.items: list[MentionItem] = []
        self.unread = 0
        self._loaded = False
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 6, 0, 0)
        self.title = QLabel(title_text(0), self)
        self.title.setObjectName("panelTitle")
        layout.addWidget(self.title)
        self.list = QListWidget(self)
        self.list.setAccessibleName("Mentions")
        self.list.setWordWrap(True)
        self.list.setTextElideMode(Qt.TextElideMode.ElideRight)
        self.list.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.list.setVerticalScrollMode(QAbstractItemView.ScrollMode.ScrollPerPixel)
        self.list.itemActivated.connect(self._activated)
        self.empty = QLabel(
            "When a colleague writes @ and your name in an internal note, it shows here.", self
        )
        self.empty.setWordWrap(True)
        self.empty.setAccessibleName("No mentions")
        self.empty.setForegroundRole(QPalette.ColorRole.PlaceholderText)
        layout.addWidget(self.list, 1)
        layout.addWidget(self.empty)
        self.title.setBuddy(self.list)
        bridge.entitiesChanged.connect(self._changed)
        self._show([])

    def refresh(self) -> None:
        self._bridge.run(self.load())

    async def load(self) -> None:
        items = await self._bridge.mentions.mentions()
        known = {i.id for i in self.items}
        if self._loaded:
            for item in items:
                if item.id not in known and not item.seen:
                    self.mentionArrived.emit(item)
        self._loaded = True
        self._show(items)

    def _changed(self, notice: ChangeNotice) -> None:
        if "mention" in notice.entities or (self.items and "ticket" in notice.entities):
            self.refresh()

    def _show(self, items: list[MentionItem]) -> None:
        current = self.list.currentItem()
        current_id = current.data(MentionIdRole) if current is not None else None
        self.items = items
        self.list.clear()
        for mention in items:
            row = QListWidgetItem(mention_text(mention))
            row.setData(MentionIdRole, mention.id)
            row.setToolTip(
                f"{mention_text(mention)}\n{mention.created_at:%a %d %b, %H:%M}"
                + ("" if mention.seen else "\nNot read yet — Enter opens the ticket")
            )
            if not mention.seen:
                font = QFont(row.font())
                font.setBold(True)
                row.setFont(font)
            self.list.addItem(row)
            if mention.id == current_id:
                self.list.setCurrentItem(row)
        unread = sum(1 for m in items if not m.seen)
        self.list.setVisible(bool(items))
        self.empty.setVisible(not items)
        self.title.setText(title_text(unread))
        self.title.setAccessibleName(title_text(unread))
        if unread != self.unread:
            self.unread = unread
            self.unreadChanged.emit(unread)

    def _activated(self, row: QListWidgetItem) -> None:
        mention_id = row.data(MentionIdRole)
        mention = next((m for m in self.items if m.id == mention_id), None)
        if mention is None:
            return
        self.openTicket.emit(mention.ticket_id)
        if not mention.seen:
            self._bridge.run(self._bridge.engine.mutate("mention.seen", {"mention_id": mention.id}))

    def mark_ticket_read(self, ticket_id: str) -> None:
        """The agent opened this ticket (from anywhere): its mentions are read."""
        for mention in self.items:
            if mention.ticket_id == ticket_id and not mention.seen:
                self._bridge.run(
                    self._bridge.engine.mutate("mention.seen", {"mention_id": mention.id})
                )
