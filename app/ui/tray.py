"""The tray icon with its unread badge, its menu, and native notifications.

Notifications are derived from ``bridge.entitiesChanged``: a ticket newly assigned to the
agent by someone else, a customer's reply on a ticket the agent owns, and a mention of the
agent (``@Ada`` — first name or the email's local part, any case) in a colleague's
internal note.  They are only raised for live changes: while the connection is ONLINE (a
catch-up or the first bootstrap runs while SYNCING), for messages created after the desk
opened, never for the agent's own changes, and at most once per message.

Without a system tray (some Linux desktops, the offscreen test platform) everything still
counts: ``unreadChanged`` lets the window show the count in its title, and the taskbar/dock
badge is set where Qt supports it.
"""

from __future__ import annotations

import asyncio
import html
import re
import sys
from collections import OrderedDict
from collections.abc import Iterable
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

from PySide6.QtCore import QEvent, QObject, QRectF, Qt, Signal
from PySide6.QtGui import QAction, QActionGroup, QFont, QGuiApplication, QIcon, QPainter
from PySide6.QtWidgets import QMenu, QSystemTrayIcon, QWidget

from app.models.enums import AuthorType, MessageKind
from app.sync.desk_types import MessageItem, TicketRow, TicketSort, ViewSpec
from app.sync.notice import ChangeNotice
from app.sync.observer import ConnectionState, ConnectionStatus
from app.ui import theme
from app.ui.statusbar import PRESENCE_CHOICES, PresenceChoice

if TYPE_CHECKING:
    from app.ui.bridge import Bridge

# Server and workstation clocks differ a little; a message stamped just before the desk
# opened on a clock that runs ahead is still news.
CLOCK_SKEW = timedelta(minutes=2)
# Messages already examined, so that a later change of one (its delivery state) is not news
# again: only the most recent ones are remembered (a first sync brings a million).
SEEN_MESSAGES_MAX = 5000
# Messages of a live change set are read this many at a time: the tray shares the desk's reader
# threads, and the desk's own reads go between the batches.
MESSAGE_READ_BATCH = 100
NOTIFICATION_MS = 8000
SNIPPET_CHARS = 140
MY_TICKETS = ViewSpec(key="mine", title="Assigned to me", assignee="me")


def _snippet(text: str) -> str:
    flat = " ".join(text.split())
    return flat if len(flat) <= SNIPPET_CHARS else flat[: SNIPPET_CHARS - 1] + "…"


def notification_body(text: str, platform: str = sys.platform) -> str:
    """A notification's body as the system shows it literally.  Freedesktop notification
    servers (Linux, BSD) read the body as markup, and it quotes subjects and messages of
    customers: escaped there.  Windows and macOS show it as plain text already."""
    if platform.startswith(("win32", "cygwin", "darwin")):
        return text
    return html.escape(text, quote=False)


def _ticket_title(row: TicketRow | None) -> str:
    if row is None:
        return "a ticket"
    number = f"#{row.number} " if row.number is not None else ""
    return f"{number}{row.subject}"


def mention_pattern(name: str, email: str) -> re.Pattern[str] | None:
    """``@first-name`` or ``@email-local-part``, as a whole word, ignoring case."""
    handles = {h for h in (name.split()[0] if name.split() else "", email.split("@")[0]) if h}
    if not handles:
        return None
    alternatives = "|".join(re.escape(h) for h in sorted(handles, key=len, reverse=True))
    return re.compile(rf"(?<![\w@.])@(?:{alternatives})(?![\w-])", re.IGNORECASE)


def badge_icon(unread: int, online: bool) -> QIcon:
    """The tray icon with the unread count painted on it."""
    base = theme.svg_pixmap("tray" if online else "tray-offline", 64)
    if unread <= 0:
        return QIcon(base)
    c = theme.colors()
    painter = QPainter(base)
    painter.setRenderHint(QPainter.RenderHint.Antialiasing)
    text = str(unread) if unread < 100 else "99+"
    width = 34 if len(text) == 1 else 44 if len(text) == 2 else 58
    rect = QRectF(64 - width, 0, width, 34)
    painter.setPen(Qt.PenStyle.NoPen)
    painter.setBrush(c.badge)
    painter.drawRoundedRect(rect, 17, 17)
    font = QFont()
    font.setPixelSize(24)
    font.setBold(True)
    painter.setFont(font)
    painter.setPen(c.badge_text)
    painter.drawText(rect, Qt.AlignmentFlag.AlignCenter, text)
    painter.end()
    return QIcon(base)


def _set_badge_number(count: int) -> None:
    """The dock (macOS) or taskbar (Windows) badge, where Qt (6.5 and later) supports it."""
    app = QGuiApplication.instance()
    set_badge = getattr(app, "setBadgeNumber", None)
    if set_badge is not None:
        set_badge(count)


class DeskTray(QObject):
    """Tray icon, unread badge, menu (Open, presence, Quit) and native notifications.

    Signals: ``openTicket(str)`` — the agent clicked a notification about this ticket;
    ``unreadChanged(int)`` — how many tickets have news the agent has not looked at;
    ``notified(str, str, str)`` — a notification was raised (title, text, ticket id),
    also without a system tray, for an in-window toast; ``quitRequested()`` — "Quit" in
    the tray menu (the window should shut down properly).
    """

    openTicket = Signal(str)
    unreadChanged = Signal(int)
    notified = Signal(str, str, str)
    quitRequested = Signal()

    def __init__(
        self,
        bridge: Bridge,
        window: QWidget,
        presence: PresenceChoice | None = None,
        parent: QObject | None = None,
    ) -> None:
        super().__init__(parent if parent is not None else window)
        self.bridge = bridge
        self.window = window
        self.presence = presence if presence is not None else PresenceChoice(bridge)
        self.opened_at = datetime.now(UTC)
        self.unread: set[str] = set()
        self.last_ticket: str | None = None
        self._mine: set[str] = set()
        self._seen_messages: OrderedDict[str, None] = OrderedDict()  # oldest first, bounded
        # Since when changes arrive live (None: not live now).  A message created before it
        # came with a catch-up (never read, never news), even if a live change names it later.
        self._live_since: datetime | None = self.opened_at if bridge.online else None
        self._lock = asyncio.Lock()

        self.menu = QMenu(window)
        self.menu.setAccessibleName("Switchboard menu")
        self.open_action = QAction("Open Switchboard", self.menu)
        bold = self.open_action.font()
        bold.setBold(True)
        self.open_action.setFont(bold)
        self.open_action.triggered.connect(self.show_window)
        self.menu.addAction(self.open_action)
        self.menu.addSeparator()
        self.presence_actions: dict[str, QAction] = {}
        group = QActionGroup(self.menu)
        group.setExclusive(True)
        for value, label in PRESENCE_CHOICES:
            action = QAction(label, self.menu)
            theme.set_icon(action, f"presence-{value}")
            action.setCheckable(True)
            action.setChecked(value == self.presence.status)
            action.triggered.connect(lambda _=False, v=value: self.presence.set(v))
            group.addAction(action)
            self.menu.addAction(action)
            self.presence_actions[value] = action
        self.presence.changed.connect(self._show_presence)
        self.menu.addSeparator()
        self.quit_action = QAction("Quit Switchboard", self.menu)
        self.quit_action.triggered.connect(self.quitRequested)
        self.menu.addAction(self.quit_action)

        self.tray: QSystemTrayIcon | None = None
        if QSystemTrayIcon.isSystemTrayAvailable():
            self.tray = QSystemTrayIcon(self)
            self.tray.setContextMenu(self.menu)
            self.tray.activated.connect(self._activated)
            self.tray.messageClicked.connect(self.notification_clicked)
            self.tray.show()
        self._update_badge()

        window.installEventFilter(self)
        bridge.entitiesChanged.connect(self._entities_changed)
        bridge.connectionChanged.connect(self._connection_changed)
        bridge.run(self._load_mine())

    # ---- what the agent owns ---------------------------------------------------------------

    async def _load_mine(self) -> None:
        async with self._lock:
            self._mine = set(await self.bridge.tickets.ticket_ids(MY_TICKETS, TicketSort()))

    def _entities_changed(self, notice: ChangeNotice) -> None:
        tickets, messages = notice.ids("ticket"), notice.ids("message")
        if not tickets and not messages:
            return
        # Decided now, not after the reads below: by then a catch-up may have finished.
        live = self.bridge.online
        self.bridge.run(self._examine(set(tickets), set(messages), live))

    async def _examine(self, ticket_ids: set[str], message_ids: set[str], live: bool) -> None:
        async with self._lock:  # one change set after the other, in arrival order
            conversations, tickets = self.bridge.conversations, self.bridge.tickets
            # Messages matter only live: a bootstrap or catch-up (a first sync brings a
            # million) is never news, so its messages are not read at all; nor are messages
            # already examined.
            found: dict[str, tuple[str, MessageItem]] = {}
            if live:
                wanted = sorted(m for m in message_ids if m not in self._seen_messages)
                for start in range(0, len(wanted), MESSAGE_READ_BATCH):
                    found.update(
                        await conversations.messages(wanted[start : start + MESSAGE_READ_BATCH])
                    )
            needed = ticket_ids | {ticket_id for ticket_id, _ in found.values()}
            rows = await tickets.ticket_rows(sorted(needed)) if needed else {}
            me = self.bridge.agent_id
            for ticket_id in sorted(ticket_ids):
                row = rows.get(ticket_id)
                if row is None or row.assignee_id != me:
                    self._mine.discard(ticket_id)
                    continue
                newly_mine = ticket_id not in self._mine
                self._mine.add(ticket_id)
                # pending: the agent's own change, not yet acknowledged — they know.
                if live and newly_mine and not row.pending:
                    self._notify("Ticket assigned to you", self._describe(row), ticket_id)
            since = self._live_since or self.opened_at
            for message_id, (ticket_id, item) in sorted(found.items()):
                if message_id in self._seen_messages:
                    continue
                self._remember(message_id)
                if item.created_at >= max(since, self.opened_at) - CLOCK_SKEW:
                    self._message_arrived(ticket_id, item, rows.get(ticket_id))

    def _remember(self, message_id: str) -> None:
        self._seen_messages[message_id] = None
        while len(self._seen_messages) > SEEN_MESSAGES_MAX:
            self._seen_messages.popitem(last=False)

    def _describe(self, row: TicketRow) -> str:
        customer = f" — {row.customer_name}" if row.customer_name else ""
        return f"{_ticket_title(row)}{customer}"

    def _message_arrived(self, ticket_id: str, item: MessageItem, row: TicketRow | None) -> None:
        if (
            item.author_type == AuthorType.CUSTOMER.value
            and item.kind == MessageKind.REPLY.value
            and ticket_id in self._mine
        ):
            who = item.author_name or (row.customer_name if row else "") or "The customer"
            self._notify(
                f"{who} wrote",
                f"{_ticket_title(row)}: {_snippet(item.body)}",
                ticket_id,
            )
        elif (
            item.kind == MessageKind.NOTE.value
            and item.author_type == AuthorType.AGENT.value
            and not self._own(item)
            and self._mentions_me(item.body)
        ):
            who = item.author_name or "A colleague"
            self._notify(
                f"{who} mentioned you",
                f"{_ticket_title(row)}: {_snippet(item.body)}",
                ticket_id,
            )

    def _own(self, item: MessageItem) -> bool:
        me = self.bridge.directory.me
        # Queued: written on this computer and not yet sent, so necessarily the agent's.
        if item.delivery_state == "queued":
            return True
        if item.author_id is not None:  # two agents may share a name: the id decides
            return item.author_id == self.bridge.agent_id
        return me is not None and item.author_name == me.name

    def _mentions_me(self, body: str) -> bool:
        me = self.bridge.directory.me
        if me is None:
            return False
        pattern = mention_pattern(me.name, me.email)
        return pattern is not None and pattern.search(body) is not None

    # ---- notifications and unread ----------------------------------------------------------

    def _notify(self, title: str, text: str, ticket_id: str) -> None:
        self.last_ticket = ticket_id
        if not self.window.isActiveWindow():
            self._add_unread((ticket_id,))
        self.notified.emit(title, text, ticket_id)
        if self.tray is not None:
            self.tray.showMessage(
                title,
                notification_body(text),
                QSystemTrayIcon.MessageIcon.Information,
                NOTIFICATION_MS,
            )

    def notification_clicked(self) -> None:
        """The agent clicked the last notification: open its ticket."""
        ticket_id = self.last_ticket
        if ticket_id is None:
            return
        self.show_window()
        self.mark_read(ticket_id)
        self.openTicket.emit(ticket_id)

    def _add_unread(self, ticket_ids: Iterable[str]) -> None:
        before = len(self.unread)
        self.unread.update(ticket_ids)
        if len(self.unread) != before:
            self._unread_changed()

    def mark_read(self, ticket_id: str) -> None:
        """The agent opened this ticket: its news is read."""
        if ticket_id in self.unread:
            self.unread.discard(ticket_id)
            self._unread_changed()

    def mark_all_read(self) -> None:
        if self.unread:
            self.unread.clear()
            self._unread_changed()

    def _unread_changed(self) -> None:
        self._update_badge()
        self.unreadChanged.emit(len(self.unread))

    def _update_badge(self) -> None:
        count = len(self.unread)
        if self.tray is not None:
            self.tray.setIcon(badge_icon(count, self.bridge.online))
            self.tray.setToolTip(f"Switchboard — {count} unread" if count else "Switchboard")
        _set_badge_number(count)

    # ---- window, menu, connection ----------------------------------------------------------

    def show_window(self) -> None:
        self.window.showNormal()
        self.window.raise_()
        self.window.activateWindow()

    def _activated(self, reason: QSystemTrayIcon.ActivationReason) -> None:
        if reason in (
            QSystemTrayIcon.ActivationReason.Trigger,
            QSystemTrayIcon.ActivationReason.DoubleClick,
        ):
            self.show_window()

    def _show_presence(self, status: str) -> None:
        action = self.presence_actions.get(status)
        if action is not None:
            action.setChecked(True)

    def _connection_changed(self, status: ConnectionStatus) -> None:
        online = status.state == ConnectionState.ONLINE
        if not online:
            self._live_since = None
        elif self._live_since is None:
            self._live_since = datetime.now(UTC)
        if self.tray is not None:
            self.tray.setIcon(badge_icon(len(self.unread), status.state == ConnectionState.ONLINE))

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:
        # The agent is looking at the window: whatever was new has been seen.
        if (
            watched is self.window
            and event.type() == QEvent.Type.ActivationChange
            and self.window.isActiveWindow()
        ):
            self.mark_all_read()
        return False

    def hide(self) -> None:
        """Take the icon out of the tray (on sign-out or quit)."""
        if self.tray is not None:
            self.tray.hide()
        _set_badge_number(0)
