"""The main window's title: what the agent has open, then the product, and the unread count.

"#1234 Printer jams — Switchboard" while a conversation is open, "Billing queue —
Switchboard" while only a view is, "(3) …" in front while notifications wait to be read: the
taskbar and the window switcher (Alt+Tab) name what each window holds, and the count is seen
with the window minimised.
"""

from __future__ import annotations

from PySide6.QtCore import QObject
from PySide6.QtWidgets import QWidget

from app.ui.conversation.tabs import ConversationTabs
from app.ui.conversation.view import ConversationView, ticket_label

PRODUCT = "Switchboard"


def desk_title(shown: str, unread: int = 0) -> str:
    """The title for ``shown`` (a ticket's label and subject, or a view's title)."""
    title = f"{shown} — {PRODUCT}" if shown else PRODUCT
    return f"({unread}) {title}" if unread else title


class DeskTitle(QObject):
    """Keeps ``window``'s title naming the current conversation (or else the view shown)."""

    def __init__(self, window: QWidget, tabs: ConversationTabs) -> None:
        super().__init__(window)
        self._window = window
        self._tabs = tabs
        self._view_title = ""
        self._unread = 0
        self._followed: ConversationView | None = None
        tabs.ticketActivated.connect(self._ticket_activated)
        self.refresh()

    def view_shown(self, title: str) -> None:
        self._view_title = title
        self.refresh()

    def unread_changed(self, count: int) -> None:
        self._unread = count
        self.refresh()

    def _ticket_activated(self, ticket_id: str) -> None:
        view = self._tabs.view(ticket_id) if ticket_id else None
        if view is not self._followed:
            if self._followed is not None:
                self._followed.titleChanged.disconnect(self.refresh)
            self._followed = view
            if view is not None:
                # The subject arrives with the first read, and may change later.
                view.titleChanged.connect(self.refresh)
                view.destroyed.connect(self._forget)
        self.refresh()

    def _forget(self) -> None:
        # No refresh here: the window may be going too (the tabs then say which is current).
        self._followed = None

    def shown(self) -> str:
        """What the title names: the current conversation, else the view."""
        view = self._followed
        conversation = view.conversation if view is not None else None
        if conversation is not None and self._tabs.count():
            ticket = conversation.ticket
            return f"{ticket_label(ticket)} {ticket.subject}".strip()
        return self._view_title

    def refresh(self) -> None:
        self._window.setWindowTitle(desk_title(self.shown(), self._unread))
