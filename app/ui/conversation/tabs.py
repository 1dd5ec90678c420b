"""Conversation tabs: many tickets open at once, each in a tab or a popped-out window.

Pop-out behaviour (what an agent expects from a window they tore off to see two tickets side by
side): closing that window, or pressing the pop-out key again in it, puts the conversation back
into the tabs where it was — nothing is lost by closing a window.  Closing the *conversation*
(Ctrl+W, in the tab or the window) closes it for good, after its draft is saved.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

import shiboken6
from PySide6.QtCore import QPoint, Qt, QTimer, Signal
from PySide6.QtGui import QCloseEvent
from PySide6.QtWidgets import QMenu, QTabWidget, QVBoxLayout, QWidget

from app.ui import shortcuts
from app.ui.bridge import Bridge
from app.ui.conversation.thread import plain_tip
from app.ui.conversation.view import ConversationView

log = logging.getLogger(__name__)

STATE_SAVE_DELAY_MS = 400  # scrolling reports tabsChanged at most this often


class PopOutWindow(QWidget):
    """A conversation in a top-level window of its own.

    Signals: ``backToTabs(object)`` — the window was closed or asked to return (the view);
    ``closeConversation(object)`` — the agent closed the conversation itself (the view).
    """

    backToTabs = Signal(object)
    closeConversation = Signal(object)

    def __init__(self, view: ConversationView, parent: QWidget) -> None:
        super().__init__(parent, Qt.WindowType.Window)
        self.view = view
        self._leaving = False
        self.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose, False)
        self.setAccessibleName("Conversation window")
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(view)
        view.show()
        view.titleChanged.connect(self._retitle)
        self._retitle()
        shortcuts.bind(self, "close_tab", self._close_conversation)
        shortcuts.bind(self, "pop_out", self.close)
        self.resize(720, 820)

    def _retitle(self) -> None:
        self.setWindowTitle(f"{self.view.title()} — Switchboard")

    def _close_conversation(self) -> None:
        self._leaving = True
        self.closeConversation.emit(self.view)

    def release(self) -> ConversationView:
        """Hand the view back and close without a signal.  The view leaves this window at
        once (no parent until the tabs take it): deleting the window must not delete it."""
        self._leaving = True
        self.view.titleChanged.disconnect(self._retitle)
        self.close()
        self.view.setParent(None)
        return self.view

    def closeEvent(self, event: QCloseEvent) -> None:
        super().closeEvent(event)
        if not self._leaving:
            self._leaving = True
            self.backToTabs.emit(self.view)


class ConversationTabs(QTabWidget):
    """The open conversations, one per tab (or popped-out window).

    Signals: ``ticketActivated(str)`` — the current tab's ticket id ("" when none);
    ``cannedRequested(str)`` — the agent asked for a canned response in that ticket;
    ``tabsChanged()`` — opened, closed, reordered, popped out or scrolled: ``state()`` changed;
    ``viewOpened(object, bool)`` — a conversation was made (the view; whether it was restored
    from the last session rather than opened by the agent), for panels others add to it.
    """

    ticketActivated = Signal(str)
    cannedRequested = Signal(str)
    tabsChanged = Signal()
    conversationLoaded = Signal(str)  # a conversation's read was applied (its ticket id)
    viewOpened = Signal(object, bool)

    def __init__(self, bridge: Bridge, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.bridge = bridge
        self._views: dict[str, ConversationView] = {}  # every open conversation
        self._popped: dict[str, tuple[PopOutWindow, int]] = {}  # ticket -> (window, old index)
        self._closing: set[ConversationView] = set()
        self._silent_if_missing: set[str] = set()  # restored tabs whose ticket may be gone
        self._last_current: str | None = None
        # Text others put before a tab's title, by ticket (a running stopwatch's time): before
        # it, as a long title is cut at its end.
        self.title_prefixes: list[Callable[[str], str]] = []
        self.setAccessibleName("Open conversations")
        self.setMovable(True)
        self.setTabsClosable(True)
        self.setDocumentMode(True)
        self.setUsesScrollButtons(True)
        self.setElideMode(Qt.TextElideMode.ElideRight)
        self.tabBar().setAccessibleName("Conversation tabs")
        self.tabCloseRequested.connect(lambda i: self._close_index(i))
        self.currentChanged.connect(self._current_changed)
        self.tabBar().tabMoved.connect(lambda _a, _b: self.tabsChanged.emit())
        self.tabBar().setContextMenuPolicy(Qt.ContextMenuPolicy.CustomContextMenu)
        self.tabBar().customContextMenuRequested.connect(self._tab_menu)

        self._state_timer = QTimer(self)
        self._state_timer.setSingleShot(True)
        self._state_timer.setInterval(STATE_SAVE_DELAY_MS)
        self._state_timer.timeout.connect(self.tabsChanged.emit)

        # QTabWidget takes Ctrl+Tab only while it has focus, and the text editors take Tab;
        # window-wide actions make the keys work wherever the focus is in the window.
        shortcuts.bind(self, "close_tab", self._close_current)
        shortcuts.bind(self, "next_tab", lambda: self._cycle(1))
        shortcuts.bind(self, "prev_tab", lambda: self._cycle(-1))
        shortcuts.bind(self, "pop_out", self.pop_out)
        self._was_online = bridge.online
        bridge.connectionChanged.connect(self._connection_changed)

    # ---- public API ---------------------------------------------------------------------

    def open_ticket(self, ticket_id: str, *, focus: bool = True) -> None:
        """Show ``ticket_id``: its tab (or window) if open, else a new tab after the current."""
        view = self._views.get(ticket_id)
        if view is None:
            view = self._new_view(ticket_id)
            self.insertTab(self.currentIndex() + 1, view, view.title())
            self._retitle(view)
            self.tabsChanged.emit()
        if ticket_id in self._popped:
            window = self._popped[ticket_id][0]
            window.raise_()
            window.activateWindow()
        else:
            self.setCurrentWidget(view)
        if focus:
            # Reading comes first (arrows scroll the thread); Ctrl+R goes to the composer.
            view.thread_view.setFocus(Qt.FocusReason.OtherFocusReason)

    def current_ticket_id(self) -> str | None:
        view = self.currentWidget()
        return view.ticket_id if isinstance(view, ConversationView) else None

    def close_ticket(self, ticket_id: str) -> None:
        """Close the conversation (tab or window); its draft is saved first, in the background."""
        view = self._take_out(ticket_id)
        if view is None:
            return
        view.hide()
        self._closing.add(view)
        self._announce_viewing(force=True)

        def flushed(_result: object = None) -> None:
            self._closing.discard(view)
            if shiboken6.isValid(view):
                view.deleteLater()

        def failed(exc: BaseException) -> None:
            flushed()
            self.bridge.taskFailed.emit(exc)  # the keeper retries the save on its own

        self.bridge.run(view.flush_draft(), on_result=flushed, on_error=failed)
        self.tabsChanged.emit()

    def state(self) -> dict[str, Any]:
        """Open tabs in order (popped-out ones after them) with scroll positions; JSON-safe."""
        tabs = [
            {"ticket_id": view.ticket_id, "scroll": int(view.scroll_position())}
            for view in self._tab_views()
        ]
        tabs += [
            {"ticket_id": tid, "scroll": int(window.view.scroll_position())}
            for tid, (window, _index) in self._popped.items()
        ]
        return {"tabs": tabs, "current": max(self.currentIndex(), 0) if tabs else -1}

    def restore(self, state: dict[str, Any]) -> None:
        """Reopen the tabs of ``state()``; malformed entries and tickets that are gone are
        skipped (a gone one closes quietly once its read says so)."""
        entries = state.get("tabs") if isinstance(state, dict) else None
        if not isinstance(entries, list):
            return
        current = state.get("current")
        wanted = current if isinstance(current, int) and not isinstance(current, bool) else 0
        # "current" counts saved entries: the tab of that entry, or — if it was skipped — the
        # nearest one before it (else the first after it).
        current_view: ConversationView | None = None
        for position, entry in enumerate(entries):
            if not isinstance(entry, dict):
                continue
            ticket_id = entry.get("ticket_id")
            scroll = entry.get("scroll")
            if not isinstance(ticket_id, str) or not ticket_id or ticket_id in self._views:
                continue
            view = self._new_view(ticket_id, restored=True)
            self._silent_if_missing.add(ticket_id)
            self.addTab(view, view.title())
            self._retitle(view)
            if isinstance(scroll, int) and not isinstance(scroll, bool) and scroll >= 0:
                view.set_scroll_position(scroll)  # else: at the newest message, as when opened
            if position <= wanted or current_view is None:
                current_view = view
        if current_view is not None:
            self.setCurrentWidget(current_view)
        self.tabsChanged.emit()

    def insert_into_composer(
        self, ticket_id: str, text: str, unknown: tuple[str, ...] = ()
    ) -> None:
        """Put a canned response's text into the ticket's composer at the cursor; placeholders
        that could not be filled stay in the text and are listed in the composer's notice."""
        if ticket_id not in self._views:
            self.open_ticket(ticket_id)
        view = self._views[ticket_id]
        view.insert_canned(text, tuple(unknown))

    async def close_all(self) -> None:
        """Save every draft, tell colleagues this agent left, and close every conversation
        (call ``state()`` before, to keep the tabs for next time)."""
        await self.bridge.drafts.flush()
        for ticket_id in list(self._views):
            view = self._take_out(ticket_id)
            if view is not None:
                view.deleteLater()
        await self.bridge.engine.set_viewing(None)
        self.tabsChanged.emit()

    def view(self, ticket_id: str) -> ConversationView | None:
        """The open conversation of ``ticket_id`` (tests, the main window's focus key)."""
        return self._views.get(ticket_id)

    def pop_out(self) -> None:
        """Move the current conversation into a window of its own."""
        view = self.currentWidget()
        if not isinstance(view, ConversationView):
            return
        index = self.indexOf(view)
        self.removeTab(index)
        window = PopOutWindow(view, self)
        window.backToTabs.connect(self._back_to_tabs)
        window.closeConversation.connect(lambda v: self.close_ticket(v.ticket_id))
        self._popped[view.ticket_id] = (window, index)
        window.show()
        view.focus_composer()
        self.tabsChanged.emit()

    def is_popped_out(self, ticket_id: str) -> bool:
        return ticket_id in self._popped

    # ---- internals ----------------------------------------------------------------------

    def _new_view(self, ticket_id: str, *, restored: bool = False) -> ConversationView:
        view = ConversationView(self.bridge, ticket_id)
        self._views[ticket_id] = view
        view.titleChanged.connect(lambda v=view: self._retitle(v))
        view.cannedRequested.connect(self.cannedRequested)
        view.ticket_actions.openTicket.connect(lambda tid: self.open_ticket(tid))
        view.loaded.connect(lambda v=view: self._loaded(v))
        view.scrolled.connect(self._state_timer.start)
        self.viewOpened.emit(view, restored)
        return view

    def _take_out(self, ticket_id: str) -> ConversationView | None:
        """Stop the ticket's conversation and take it out of its tab or pop-out window; the
        caller decides when the view itself goes.  None if it is not open."""
        view = self._views.pop(ticket_id, None)
        if view is None:
            return None
        view.shutdown()
        popped = self._popped.pop(ticket_id, None)
        if popped is not None:
            popped[0].release()
            popped[0].deleteLater()
        else:
            self.removeTab(self.indexOf(view))
        return view

    def _tab_views(self) -> list[ConversationView]:
        return [w for i in range(self.count()) if isinstance(w := self.widget(i), ConversationView)]

    def retitle(self, ticket_id: str) -> None:
        """Show the ticket's tab title again (a prefix of it changed)."""
        view = self._views.get(ticket_id)
        if view is not None:
            self._retitle(view)

    def _retitle(self, view: ConversationView) -> None:
        index = self.indexOf(view)
        if index >= 0:
            prefix = "".join(prefix(view.ticket_id) for prefix in self.title_prefixes)
            self.setTabText(index, prefix + view.title())
            # The subject is the customer's text: shown literally, never as markup.
            self.setTabToolTip(index, plain_tip(view.tooltip()))
            self.setTabWhatsThis(index, plain_tip(view.tooltip()))
            self.tabBar().setAccessibleTabName(index, view.tooltip().replace("\n", ", "))

    def _loaded(self, view: ConversationView) -> None:
        ticket_id = view.ticket_id
        self.conversationLoaded.emit(ticket_id)
        if ticket_id in self._silent_if_missing:
            self._silent_if_missing.discard(ticket_id)
            if view.missing and not view.composer.text().strip():
                log.info("restored tab of ticket %s skipped: not in the cache", ticket_id)
                self.close_ticket(ticket_id)

    def _close_index(self, index: int) -> None:
        view = self.widget(index)
        if isinstance(view, ConversationView):
            self.close_ticket(view.ticket_id)

    def _close_current(self) -> None:
        ticket_id = self.current_ticket_id()
        if ticket_id is not None:
            self.close_ticket(ticket_id)

    def _cycle(self, step: int) -> None:
        if self.count() > 1:
            self.setCurrentIndex((self.currentIndex() + step) % self.count())
            view = self.currentWidget()
            if isinstance(view, ConversationView):
                view.thread_view.setFocus(Qt.FocusReason.TabFocusReason)

    def _current_changed(self, _index: int) -> None:
        # "Go to the open conversation" (setFocus on the tabs) lands in the current thread.
        view = self.currentWidget()
        self.setFocusProxy(
            view.thread_view if isinstance(view, ConversationView) else self.tabBar()
        )
        self._announce_viewing()

    def _announce_viewing(self, *, force: bool = False) -> None:
        """Tell the window and colleagues which ticket the agent is on now."""
        ticket_id = self.current_ticket_id()
        if ticket_id == self._last_current and not force:
            return
        if ticket_id != self._last_current:
            self._last_current = ticket_id
            self.ticketActivated.emit(ticket_id or "")
        self.bridge.run(self.bridge.engine.set_viewing(ticket_id))

    def _tab_menu(self, pos: QPoint) -> None:
        index = self.tabBar().tabAt(pos)
        view = self.widget(index) if index >= 0 else None
        if not isinstance(view, ConversationView):
            return
        menu = QMenu(self)
        menu.setAccessibleName("Conversation tab menu")
        pop = menu.addAction(f"Open in its own window\t{shortcuts.label('pop_out')}")
        close = menu.addAction(f"Close\t{shortcuts.label('close_tab')}")
        chosen = menu.exec(self.tabBar().mapToGlobal(pos))
        if chosen is pop:
            self.setCurrentWidget(view)
            self.pop_out()
        elif chosen is close:
            self.close_ticket(view.ticket_id)

    def _connection_changed(self, _status: object) -> None:
        # The server forgets who views what when a connection ends: say it again.
        online = self.bridge.online
        if online and not self._was_online and self.current_ticket_id() is not None:
            self._announce_viewing(force=True)
        self._was_online = online

    def _back_to_tabs(self, view: ConversationView) -> None:
        popped = self._popped.pop(view.ticket_id, None)
        if popped is None:
            return
        window, index = popped
        window.release()
        index = min(index, self.count())
        self.insertTab(index, view, view.title())
        self._retitle(view)
        window.deleteLater()
        self.setCurrentWidget(view)
        self.tabsChanged.emit()
