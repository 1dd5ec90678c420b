"""One open conversation: header, collision banner, properties, refusals to review, the
thread and the composer — everything a tab (or a popped-out window) shows for one ticket.

The view reads its ticket through ``bridge.conversations.conversation`` (off the UI thread) and
re-reads it when a change names the ticket, one of its messages, or — for the visible view —
a draft or a message it does not know yet (a new message names only its own id and the
ticket).  Reads are coalesced: at most one in flight, and one more if something changed
meanwhile.  Writes go through ``bridge.engine`` with the ticket version the agent was looking
at, so the server can refuse what would overwrite a colleague's work.
"""

from __future__ import annotations

import dataclasses
import logging
import sys
import time
from collections.abc import Coroutine
from datetime import tzinfo
from functools import partial
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from PySide6.QtCore import QSize, Qt, QTimer, Signal
from PySide6.QtGui import QHideEvent, QShowEvent
from PySide6.QtWidgets import QHBoxLayout, QLabel, QSplitter, QVBoxLayout, QWidget

from app.models.enums import DeliveryState, MessageKind
from app.sync.desk_types import Conversation, Directory, Refusal, TicketDetail
from app.sync.engine import KnownError
from app.sync.notice import ChangeNotice
from app.ui import shortcuts, theme
from app.ui.bridge import Bridge
from app.ui.conversation.attachments import ConversationAttachments, attachments_body
from app.ui.conversation.collision import CollisionBanner
from app.ui.conversation.composer import Composer
from app.ui.conversation.merging import TicketActions
from app.ui.conversation.properties import PropertiesBar
from app.ui.conversation.review import Explainer, ReviewPanel, message_kind, message_text
from app.ui.conversation.thread import ThreadView
from app.ui.labels import CHANNEL_LABELS, STATUS_LABELS
from app.ui.mentions.completer import MentionCompleter

log = logging.getLogger(__name__)

TYPING_EVERY_S = 2.0  # tell colleagues "typing" at most this often
TYPING_IDLE_MS = 5000  # and "stopped typing" after this long without a keystroke
SUBJECT_CHARS = 28  # a tab title shows this much of the subject
PATCH_AT_MOST = 50  # a change naming more messages re-reads the whole thread


def ticket_label(ticket: TicketDetail) -> str:
    return f"#{ticket.number}" if ticket.number is not None else "New ticket"


class ConversationView(QWidget):
    """Everything one tab shows for one ticket.

    Signals: ``titleChanged()`` — the title, tooltip or mark changed; ``cannedRequested(str)``
    — the agent asked for a canned response (ticket id); ``loaded()`` — a read was applied;
    ``scrolled()`` — the thread's scroll position changed.
    """

    titleChanged = Signal()
    cannedRequested = Signal(str)
    loaded = Signal()
    scrolled = Signal()

    def __init__(self, bridge: Bridge, ticket_id: str, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.bridge = bridge
        self.ticket_id = ticket_id
        self.conversation: Conversation | None = None
        self.missing = False
        self._closed = False
        self._loading = False
        self._reload_again = False
        self._stale = False
        self._customer_name = ""
        self._zone: tzinfo = _zone(bridge.directory)
        self._typing_sent_at = 0.0
        self._typing_on = False
        self._seen_before: dict[int, dict[str, Any]] = {}  # mutation id -> values shown
        self._seen_messages: dict[str, frozenset[str]] = {}  # sent message -> thread shown
        self._reads = 0  # reads started so far
        self._draft_barrier = 0  # drafts only from reads numbered this or later
        self._first_read = True
        self._title = ""
        self._tooltip = ""
        self.setAccessibleName("Conversation")

        layout = QVBoxLayout(self)
        layout.setContentsMargins(8, 6, 8, 6)
        layout.setSpacing(6)

        # Header: number and subject; channel, customer, opened, queued changes.
        self.title_label = QLabel(self)
        self.title_label.setTextFormat(Qt.TextFormat.PlainText)
        self.title_label.setAccessibleName("Ticket")
        self.title_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        font = self.title_label.font()
        font.setPointSizeF(font.pointSizeF() * 1.25)
        font.setBold(True)
        self.title_label.setFont(font)
        self.title_label.setWordWrap(True)
        layout.addWidget(self.title_label)
        sub = QHBoxLayout()
        sub.setSpacing(6)
        self.channel_icon = QLabel(self)
        theme.follow(self.channel_icon, self._reink_channel)
        self.channel_icon.setFixedSize(QSize(18, 18))
        sub.addWidget(self.channel_icon)
        self.subtitle = QLabel(self)
        self.subtitle.setTextFormat(Qt.TextFormat.PlainText)
        self.subtitle.setAccessibleName("Ticket details")
        sub.addWidget(self.subtitle, 1)
        self.pending_label = QLabel(self)
        self.pending_label.setTextFormat(Qt.TextFormat.PlainText)
        self.pending_label.setAccessibleName("Changes waiting to send")
        sub.addWidget(self.pending_label)
        layout.addLayout(sub)
        self.ticket_actions = TicketActions(self, sub, layout)  # merge, split; merged banner

        self.banner = CollisionBanner(bridge, ticket_id, self)
        layout.addWidget(self.banner)
        self.properties = PropertiesBar(self)
        self.properties.set_directory(bridge.directory)
        self.properties.changeRequested.connect(self._change_requested)
        layout.addWidget(self.properties)
        self.explainer = Explainer(
            bridge.agent_name, bridge.agent_id, self._seen_before, self._seen_messages
        )
        self.review = ReviewPanel(self.explainer, self)
        self.review.resendRequested.connect(self._resend)
        self.review.editRequested.connect(self._edit_refused)
        self.review.discardRequested.connect(self._discard_refused)
        layout.addWidget(self.review)

        self.unavailable = QLabel(
            "This ticket is no longer available on this workstation: it was deleted, merged, "
            "or is no longer shared with you. Anything you wrote is still in the composer.",
            self,
        )
        self.unavailable.setWordWrap(True)
        self.unavailable.setTextFormat(Qt.TextFormat.PlainText)
        self.unavailable.setAccessibleName("Ticket unavailable")
        self.unavailable.hide()
        layout.addWidget(self.unavailable)

        self.splitter = QSplitter(Qt.Orientation.Vertical, self)
        self.splitter.setChildrenCollapsible(False)
        self.thread_view = ThreadView(self.splitter)
        self.thread_view.messageActivated.connect(self._message_activated)
        self.thread_view.retryRequested.connect(self.retry_message)
        self.thread_view.verticalScrollBar().valueChanged.connect(lambda _v: self.scrolled.emit())
        self.composer = Composer(self.splitter)
        # "@" in a note offers the team (app/ui/mentions).
        self.mentions = MentionCompleter(self.composer.editor, bridge, lambda: self.composer.kind)
        self.composer.edited.connect(self._edited)
        self.composer.sendRequested.connect(self.send)
        self.composer.cannedRequested.connect(lambda: self.cannedRequested.emit(self.ticket_id))
        self.splitter.addWidget(self.thread_view)
        self.splitter.addWidget(self.composer)
        self.attachments = ConversationAttachments(
            bridge, ticket_id, self.thread_view, self.composer, self
        )
        self.splitter.setStretchFactor(0, 3)
        self.splitter.setStretchFactor(1, 1)
        layout.addWidget(self.splitter, 1)

        self._idle = QTimer(self)
        self._idle.setSingleShot(True)
        self._idle.setInterval(TYPING_IDLE_MS)
        self._idle.timeout.connect(self._stopped_typing)

        for name, field in (
            ("edit_status", "status"),
            ("edit_priority", "priority"),
            ("edit_assignee", "assignee_id"),
            ("edit_group", "group_id"),
            ("edit_tags", "tags"),
        ):
            shortcuts.bind(self, name, partial(self.properties.open_editor, field))
        shortcuts.bind(self, "focus_composer", self.focus_composer)
        shortcuts.bind(
            self.thread_view,
            "canned",
            lambda: self.cannedRequested.emit(self.ticket_id),
            Qt.ShortcutContext.WidgetShortcut,
        )

        bridge.entitiesChanged.connect(self._entities_changed)
        bridge.refused.connect(self._refused)
        bridge.directoryChanged.connect(self._directory_changed)
        self._set_title(f"Ticket {ticket_id[:8]}", "Loading…")
        self.reload()

    # ---- reading ------------------------------------------------------------------------

    def reload(self, only_messages: set[str] | None = None) -> None:
        """Read the conversation again (coalesced: one read in flight at most).

        ``only_messages``: the change named just these messages, and the rest of the thread
        shown is current — read those (and the ticket, draft, refusals), not the whole thread.
        """
        if self._closed:
            return
        if self._loading:
            self._reload_again = True  # a whole read next: it covers whatever came meanwhile
            return
        self._loading = True
        self._stale = False
        self._reads += 1
        read = self._reads
        shown = self.conversation
        if only_messages is not None and shown is not None and len(only_messages) <= PATCH_AT_MOST:
            coro = self._read_patched(shown, only_messages)
        else:
            coro = self.bridge.conversations.conversation(self.ticket_id)
        self.bridge.run(
            coro,
            on_result=lambda c: self._loaded(c, read),
            on_error=self._load_failed,
        )

    async def _read_patched(
        self, shown: Conversation, message_ids: set[str]
    ) -> Conversation | None:
        """The conversation as ``shown`` with the named messages read again: new ones join
        in thread order, changed ones are replaced, ones gone from the cache go."""
        fresh = await self.bridge.conversations.conversation(
            self.ticket_id, only_messages=sorted(message_ids)
        )
        if fresh is None:
            return None
        found = {m.id: m for m in fresh.messages}
        kept = [
            found.pop(m.id, m)
            for m in shown.messages
            if m.id in found or m.id not in message_ids  # named but not found: deleted
        ]
        if found:  # new messages: in thread order, as the whole read would give them
            kept = sorted([*kept, *found.values()], key=lambda m: (m.created_at, m.id))
        return dataclasses.replace(fresh, messages=tuple(kept))

    def _load_failed(self, exc: BaseException) -> None:
        self._loading = False
        if not self._closed:
            self.bridge.taskFailed.emit(exc)

    def _loaded(self, conversation: Conversation | None, read: int) -> None:
        self._loading = False
        if self._closed:
            return
        if self._reload_again:
            self._reload_again = False
            self.reload()
        self._apply(conversation, drafts=read >= self._draft_barrier)

    def _apply(self, conversation: Conversation | None, *, drafts: bool = True) -> None:
        if conversation is None:
            self.missing = True
            self.unavailable.show()
            self.properties.setEnabled(False)
            self.composer.send_button.setEnabled(False)
            self.loaded.emit()
            self._update_title()
            return
        self.missing = False
        self.unavailable.hide()
        self.properties.setEnabled(True)
        self.conversation = conversation
        ticket = conversation.ticket
        if not self._customer_name:
            self._customer_name = next(
                (m.author_name for m in conversation.messages if m.author_type == "customer"), ""
            )
            if not self._customer_name and ticket.customer_id:
                self.bridge.run(
                    self.bridge.customers.customer(ticket.customer_id),
                    on_result=self._customer_loaded,
                )
        self._show_header(ticket)
        self.properties.show_ticket(ticket)
        me = self.bridge.directory.me
        self.thread_view.thread_delegate.channel = ticket.channel
        self.thread_view.thread_delegate.channel_label = CHANNEL_LABELS.get(ticket.channel, "")
        self.thread_view.show_messages(
            conversation.messages, self._zone, me.name if me else None, self.bridge.agent_id
        )
        if drafts:
            self._restore_draft(conversation)
        self._first_read = False
        self.review.show_refusals(conversation.refusals)
        self._update_title()
        self.loaded.emit()

    def _customer_loaded(self, card: Any) -> None:
        if card is not None and not self._closed:
            self._customer_name = str(card.name)
            if self.conversation is not None:
                self._show_header(self.conversation.ticket)

    def _reink_channel(self) -> None:
        if self.conversation is not None:
            channel = self.conversation.ticket.channel
            self.channel_icon.setPixmap(theme.channel_icon(channel).pixmap(QSize(18, 18)))

    def _show_header(self, ticket: TicketDetail) -> None:
        self.title_label.setText(f"{ticket_label(ticket)}  {ticket.subject}")
        self.channel_icon.setPixmap(theme.channel_icon(ticket.channel).pixmap(QSize(18, 18)))
        channel = CHANNEL_LABELS.get(ticket.channel, ticket.channel)
        self.channel_icon.setToolTip(channel)
        self.channel_icon.setAccessibleName(f"Channel: {channel}")
        opened = ticket.created_at.astimezone(self._zone).strftime("%a %d %b %Y, %H:%M")
        parts = [channel, self._customer_name or "Unknown customer", f"opened {opened}"]
        self.subtitle.setText(" · ".join(parts))
        pending = self.conversation.pending_changes if self.conversation else 0
        self.pending_label.setText(
            f"{pending} change{'s' if pending != 1 else ''} waiting to send" if pending else ""
        )

    def _restore_draft(self, conversation: Conversation) -> None:
        draft = conversation.draft
        if self._first_read and self.composer.touched and draft is not None:
            # The agent typed before the saved draft was read: keep both, the draft first.
            typed = self.composer.text()
            if draft.body.strip() and draft.body != typed:
                self._give_back(typed, self.composer.kind, first=draft.body)
            return
        # Only into a composer the agent has not typed in: an echo of an older save must never
        # replace newer typing (the keeper may hold text not yet in the cache, too).
        if self.composer.touched or self.bridge.drafts.unsaved(self.ticket_id):
            return
        text = draft.body if draft is not None else ""
        kind = draft.kind if draft is not None else self.composer.kind
        if text != self.composer.text() or kind != self.composer.kind:
            self.composer.set_draft(text, kind)

    def _entities_changed(self, notice: ChangeNotice) -> None:
        if self._closed:
            return
        touched = notice.kinds_of(self.ticket_id)  # how this tab's ticket changed, if it did
        if not touched or touched == {"time_entry"}:  # its time row reads its own
            return
        if touched == {"draft"}:
            # A draft saved elsewhere matters only to a composer the agent has not typed in
            # (see _restore_draft); skipping the rest spares a re-read per save while typing
            # here.
            if self.composer.touched:
                return
            if not self.isVisible():
                self._stale = True
                return
        # The ticket's row and thread messages only (no draft saved elsewhere, nothing
        # refused): the named messages are all that can differ in the thread shown.
        patchable = not self._stale and not ({"draft", "refusal"} & touched)
        self.reload(set(notice.messages_of(self.ticket_id)) if patchable else None)

    def _refused(self, refusal: Refusal) -> None:
        if refusal.ticket_id == self.ticket_id:
            self.reload()

    def _directory_changed(self, directory: Directory) -> None:
        if self._closed:
            return
        self._zone = _zone(directory)
        self.explainer.my_id = self.bridge.agent_id
        self.properties.set_directory(directory)
        if self.conversation is not None:
            self._apply(self.conversation, drafts=False)  # names and times; not old text

    def showEvent(self, event: QShowEvent) -> None:
        super().showEvent(event)
        if self._stale:
            self.reload()

    def hideEvent(self, event: QHideEvent) -> None:
        super().hideEvent(event)
        # Another tab is current now and the tabs announce it (which ends "typing" too);
        # a late "stopped typing" from here would claim this ticket back.
        self._idle.stop()
        self._typing_on = False

    # ---- title and marks ----------------------------------------------------------------

    def _update_title(self) -> None:
        c = self.conversation
        if c is None:
            if self.missing:
                self._set_title("Unavailable", "This ticket is no longer available")
            return
        subject = c.ticket.subject
        short = subject if len(subject) <= SUBJECT_CHARS else subject[: SUBJECT_CHARS - 1] + "…"
        notes: list[str] = []
        if self.composer.text().strip():
            notes.append("Unsent draft")
        queued = c.pending_changes + sum(
            1 for m in c.messages if m.delivery_state == DeliveryState.QUEUED
        )
        if queued:
            notes.append(f"{queued} change{'s' if queued != 1 else ''} waiting to send")
        if c.refusals:
            n = len(c.refusals)
            notes.append(f"{n} refused change{'s' if n != 1 else ''} to review")
        mark = ""
        if c.refusals:
            mark = " ⚠"
        elif notes:
            mark = " •"
        status = STATUS_LABELS.get(c.ticket.status, c.ticket.status)
        tip = "\n".join([f"{ticket_label(c.ticket)} {subject}", f"Status: {status}", *notes])
        self._set_title(f"{ticket_label(c.ticket)} {short}{mark}", tip)

    def _set_title(self, title: str, tooltip: str) -> None:
        if (title, tooltip) != (self._title, self._tooltip):
            self._title, self._tooltip = title, tooltip
            self.titleChanged.emit()

    def title(self) -> str:
        return self._title

    def tooltip(self) -> str:
        return self._tooltip

    def has_mark(self) -> bool:
        return self._title.endswith((" •", " ⚠"))

    # ---- composer -----------------------------------------------------------------------

    def focus_composer(self) -> None:
        self.composer.editor.setFocus(Qt.FocusReason.ShortcutFocusReason)

    def _edited(self, text: str, kind: str) -> None:
        self.bridge.drafts.typed(self.ticket_id, text, kind)
        if not text:
            self.composer.notice.hide()
        if text.strip():
            now = time.monotonic()
            if not self._typing_on or now - self._typing_sent_at >= TYPING_EVERY_S:
                self._typing_on = True
                self._typing_sent_at = now
                self.bridge.run(self.bridge.engine.set_viewing(self.ticket_id, typing=True))
            self._idle.start()
        elif self._typing_on:
            self._stopped_typing()
        self._update_title()

    def _stopped_typing(self) -> None:
        self._idle.stop()
        if self._typing_on and not self._closed:
            self._typing_on = False
            self.bridge.run(self.bridge.engine.set_viewing(self.ticket_id, typing=False))

    def send(self, status: str = "") -> None:
        """Send the composer's text (then set ``status``, if given)."""
        text = self.composer.text()
        files = self.attachments.tray.files()
        if not text.strip() and not files:
            written = "note" if self.composer.kind == MessageKind.NOTE else "reply"
            self.composer.notice.show_text(f"There is nothing to send yet: write a {written}.")
            return
        if self.conversation is None or self.missing:
            self.composer.notice.show_text(
                "This ticket is not available here, so nothing can be sent to it. "
                "Your text stays in the composer."
            )
            return
        kind = self.composer.kind
        seen = self.conversation.ticket.version  # what the agent was looking at
        shown = frozenset(self.thread_view.thread_model.message_ids())
        files = self.attachments.take_files()
        body = text if text.strip() else attachments_body(files)
        self.composer.clear_sent()
        self.bridge.drafts.forget(self.ticket_id)
        self._stopped_typing()
        self._update_title()
        # A read already under way may still hold the draft just sent: until the reply is
        # in the cache, no read may put that text back into the emptied composer.
        self._draft_barrier = sys.maxsize

        async def work() -> Exception | None:
            message_id = await self.bridge.engine.reply(
                self.ticket_id,
                body,
                kind=kind,
                seen_version=seen,
                attachments=[f.as_args() for f in files] or None,
            )
            self._seen_messages[message_id] = shown
            self._draft_barrier = self._reads + 1
            if status:
                # The reply is queued now: a failure from here on is the status's alone, and
                # the text must not go back to the composer (it would be sent twice).
                try:
                    await self.bridge.engine.update_ticket(
                        self.ticket_id, {"status": status}, seen_version=seen
                    )
                except Exception as exc:  # said in words by sent()
                    return exc
            return None

        def sent(status_failed: Exception | None) -> None:
            if status_failed is None or self._closed:
                return
            if isinstance(status_failed, KnownError):
                self.composer.notice.show_text(f"Sent; the status was not changed: {status_failed}")
            else:
                self.composer.notice.show_text("Sent; the status was not changed.")
                self.bridge.taskFailed.emit(status_failed)

        def failed(exc: BaseException) -> None:
            # The reply was not queued: never lose the text; it goes back where it was, with a
            # word on why.
            self._draft_barrier = self._reads + 1
            self._give_back(text, kind)
            self.attachments.give_back(files)
            if isinstance(exc, KnownError):
                self.composer.notice.show_text(
                    f"Not sent: {exc}. Your text is back in the composer."
                )
            else:
                self.composer.notice.show_text(
                    "Not sent because of an unexpected error. Your text is back in the composer."
                )
                self.bridge.taskFailed.emit(exc)

        self.bridge.run(work(), on_result=sent, on_error=failed)

    def _give_back(self, text: str, kind: str, *, first: str | None = None) -> None:
        """Put ``text`` into the composer without losing what is there (``first`` — or else
        the composer's current text — goes before it).  Joined, it all becomes a ``kind``:
        callers that can keep the text elsewhere check `_writing_the_other_kind` first."""
        if self._closed:
            # The tab is gone: the text goes to the stored draft instead, after what is there.
            self.bridge.run(self._keep_in_draft(text, kind))
            return
        current = self.composer.text() if first is None else first
        combined = text if not current.strip() else f"{current.rstrip()}\n\n{text}"
        self.composer.set_draft(combined, kind)
        self.composer.touched = True
        self.bridge.drafts.typed(self.ticket_id, combined, kind)
        self._update_title()

    def _writing_the_other_kind(self, kind: str) -> bool:
        """Whether the composer holds text of the other kind than ``kind`` (a note while
        ``kind`` is a reply, or a reply while it is a note)."""
        return bool(self.composer.text().strip()) and self.composer.kind != kind

    def _not_given_back(self, kind: str) -> None:
        """Tell the agent why a refused ``kind``'s text stayed in its refusal."""
        refused = "note" if kind == MessageKind.NOTE else "reply"
        writing = "reply" if refused == "note" else "note"
        self.composer.notice.show_text(
            f"Your refused {refused} was not put back: the composer holds a {writing}, and a "
            f"reply and a note are never joined. Send or clear the {writing}, then press Edit "
            f"again; the {refused} stays in the refused change until then."
        )

    async def _keep_in_draft(self, text: str, kind: str) -> None:
        conversation = await self.bridge.conversations.conversation(self.ticket_id)
        stored = conversation.draft.body if conversation and conversation.draft else ""
        combined = text if not stored.strip() else f"{stored.rstrip()}\n\n{text}"
        await self.bridge.engine.save_draft(self.ticket_id, combined, kind)

    def insert_canned(self, text: str, unknown: tuple[str, ...] = ()) -> None:
        self.composer.insert_text(text)
        if unknown:
            self.composer.notice.show_text(
                "Fill these in before sending — they could not be filled automatically: "
                + ", ".join(unknown)
            )

    async def flush_draft(self) -> None:
        await self.bridge.drafts.flush(self.ticket_id)

    # ---- properties ---------------------------------------------------------------------

    def _change_requested(self, changes: dict[str, Any]) -> None:
        c = self.conversation
        if c is None:
            return
        seen = c.ticket.version
        before = {k: getattr(c.ticket, k, None) for k in changes}
        if "tags" in before and isinstance(before["tags"], tuple):
            before["tags"] = list(before["tags"])

        def remember(mutation_id: int) -> None:
            self._seen_before[mutation_id] = before

        def failed(exc: BaseException) -> None:
            if self.conversation is not None:
                self.properties.show_ticket(self.conversation.ticket)
            if isinstance(exc, KnownError):
                self.composer.notice.show_text(f"That change cannot be made: {exc}")
            else:
                self.bridge.taskFailed.emit(exc)

        self.bridge.run(
            self.bridge.engine.update_ticket(self.ticket_id, changes, seen_version=seen),
            on_result=remember,
            on_error=failed,
        )

    # ---- review -------------------------------------------------------------------------

    def _answer_refusal(self, mutation_id: int, answer: Coroutine[Any, Any, object]) -> None:
        """Run the agent's answer to a refused change (resend, discard, edit) with its card
        busy; the thread is read again once the answer is in, the card freed if it failed."""
        card = self.review.cards.get(mutation_id)
        if card is not None:
            card.set_busy(True)

        def failed(exc: BaseException) -> None:
            card = self.review.cards.get(mutation_id)
            if card is not None:
                card.set_busy(False)
            if isinstance(exc, KnownError):
                # The ticket left this workstation, or the change cannot be resent.
                self.composer.notice.show_text(f"That did not work: {exc}")
            else:
                self.bridge.taskFailed.emit(exc)

        self.bridge.run(answer, on_result=lambda _r: self.reload(), on_error=failed)

    def _resend(self, mutation_id: int) -> None:
        self._answer_refusal(mutation_id, self.bridge.engine.resend_refused(mutation_id))

    def _edit_refused(self, mutation_id: int) -> None:
        card = self.review.cards.get(mutation_id)
        if card is None:
            return
        refusal = card.refusal
        text = message_text(refusal)
        if text:
            kind = message_kind(refusal)
            if self._writing_the_other_kind(kind):
                # Joined, one would take the other's kind: a note's text a keypress from the
                # customer, or a reply that never reaches them.  The refusal keeps the text.
                self._not_given_back(kind)
                return
            # Into the composer first; the refusal is dropped only once the text is safe there.
            self._give_back(text, kind)
            self.attachments.give_back_from(refusal.args.get("attachments"))
            self.focus_composer()
        else:
            changes = refusal.args.get("changes")
            if isinstance(changes, dict) and changes:
                field = next(iter(changes))
                if field in ("status", "priority", "assignee_id", "group_id", "tags"):
                    QTimer.singleShot(0, lambda: self.properties.open_editor(field))

        async def work() -> None:
            if text:
                # The text is in the composer; the refusal (which holds it too) is dropped
                # only once the draft is stored, not when the keeper's timer would fire.
                await self.bridge.drafts.flush(self.ticket_id)
            await self.bridge.engine.dismiss_refusal(mutation_id)

        self._answer_refusal(mutation_id, work())

    def _discard_refused(self, mutation_id: int) -> None:
        self._answer_refusal(mutation_id, self.bridge.engine.dismiss_refusal(mutation_id))

    def retry_message(self, message_id: str) -> None:
        """ "Send again" on a message that was not sent: after a conflict the agent has now
        seen the thread, so it is sent anyway; any other refusal is shown for review."""
        card = self.review.card_for_message(message_id)
        if card is None:
            return
        if "resend" in card.buttons:
            self._resend(card.refusal.mutation_id)
        else:
            self.review.focus_card(card)

    def _message_activated(self, message_id: str) -> None:
        row = self.thread_view.thread_model.row_of(message_id)
        if row is None:
            return
        if self.thread_view.thread_model.message(row).delivery_state == DeliveryState.FAILED:
            card = self.review.card_for_message(message_id)
            if card is not None:
                self.review.focus_card(card)

    # ---- lifecycle ----------------------------------------------------------------------

    def scroll_position(self) -> int:
        return self.thread_view.scroll_position()

    def set_scroll_position(self, value: int) -> None:
        self.thread_view.set_scroll_position(value)

    def add_ticket_panel(self, panel: QWidget) -> None:
        """Show a panel about the ticket (its time row) under the properties."""
        layout = self.layout()
        assert isinstance(layout, QVBoxLayout)
        layout.insertWidget(layout.indexOf(self.properties) + 1, panel)

    def shutdown(self) -> None:
        """Stop reacting: the tab is going away.  (The tabs then say which ticket the agent
        is on now, which also ends "typing" here.)"""
        self._closed = True
        self._typing_on = False
        self._idle.stop()
        self.attachments.close()


def _zone(directory: Directory) -> tzinfo:
    name = directory.me.timezone if directory.me is not None else "UTC"
    try:
        return ZoneInfo(name or "UTC")
    except (ZoneInfoNotFoundError, ValueError):
        return ZoneInfo("UTC")
