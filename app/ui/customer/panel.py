"""The customer-360 panel beside the conversation tabs.

It follows the current conversation: the window calls ``show_customer(customer_id, context)``
when the current tab changes or its ticket is read again (``None`` when no tab is open), with
the words that say whose customer it is ("Customer on #1234"); a customer opened from search
says so too, so the panel never shows someone other than the open ticket's customer without
saying it.  Everything shown comes from one
``bridge.customers.customer()`` answer (a frozen ``CustomerCard``); the panel re-reads it (a
moment later, once for a burst, so the ticket list and the open thread read first) whenever
``Bridge.entitiesChanged`` names the customer, an organization or any ticket — the read is a
few indexed queries on a reader thread, so being generous about when to re-read is
cheaper than being clever about which ticket belongs to whom (a ticket row does not say
whose customer it is in the notice, and a new ticket of this customer is not in the card).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any, TypeVar

from PySide6.QtCore import (
    QDateTime,
    QLocale,
    QModelIndex,
    QObject,
    QPersistentModelIndex,
    Qt,
    QTimer,
    QTimeZone,
    Signal,
)
from PySide6.QtGui import QAction, QFont, QGuiApplication, QKeySequence
from PySide6.QtWidgets import (
    QAbstractItemView,
    QFormLayout,
    QFrame,
    QHBoxLayout,
    QLabel,
    QListView,
    QSizePolicy,
    QStackedWidget,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from app import phones
from app.sync.desk_types import CustomerCard, TicketBrief
from app.sync.notice import ChangeNotice
from app.ui import theme
from app.ui.bridge import Bridge
from app.ui.conversation.thread import plain_tip
from app.ui.customer.merge import merge_button
from app.ui.keyed_list import IdRole, KeyedListModel

R = TypeVar("R")
AnyIndex = QModelIndex | QPersistentModelIndex

READ_AFTER_CHANGE_MS = 100
NOTES_SHOWN_CHARS = 4000  # notes may be 200,000 characters; the panel is not an editor
TIER_LABELS = {"vip": "★ VIP", "gold": "Gold", "silver": "Silver", "standard": ""}


class TicketBriefModel(KeyedListModel[TicketBrief]):
    """A customer's open or past tickets: number, subject, status and when it last changed."""

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(lambda t: t.id, parent)

    def row_data(self, row: TicketBrief, role: int) -> Any:
        if role == Qt.ItemDataRole.DisplayRole:
            number = f"#{row.number}" if row.number is not None else "(not yet numbered)"
            # The status before the subject: a long subject elides, the status stays visible.
            return f"{number}  {status_text(row.status)}  ·  {row.subject}"
        if role in (Qt.ItemDataRole.ToolTipRole, Qt.ItemDataRole.AccessibleTextRole):
            number = f"Ticket {row.number}" if row.number is not None else "New ticket"
            updated = QLocale().toString(
                QDateTime.fromSecsSinceEpoch(int(row.updated_at.timestamp())),
                QLocale.FormatType.ShortFormat,
            )
            text = f"{number}: {row.subject} ({status_text(row.status)}, updated {updated})"
            # The subject is the customer's: a tooltip shows it literally, never as markup.
            return plain_tip(text) if role == Qt.ItemDataRole.ToolTipRole else text
        return None


class IdentityModel(KeyedListModel[tuple[str, str]]):
    """The ways to reach a customer, as (kind, value); the value is what gets copied."""

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(lambda identity: identity, parent)
        self.region = phones.DEFAULT_REGION  # numbers at home read nationally, others not

    def row_data(self, row: tuple[str, str], role: int) -> Any:
        kind, value = row
        if role == Qt.ItemDataRole.DisplayRole:
            shown = phones.display(value, self.region) if kind == "phone" else value
            return f"{IDENTITY_KINDS.get(kind, kind.title())}:  {shown}"
        if role in (Qt.ItemDataRole.ToolTipRole, Qt.ItemDataRole.AccessibleTextRole):
            text = f"{IDENTITY_KINDS.get(kind, kind.title())} {value} (Ctrl+C copies it)"
            return plain_tip(text) if role == Qt.ItemDataRole.ToolTipRole else text
        if role == Qt.ItemDataRole.EditRole:
            return value
        if role == Qt.ItemDataRole.DecorationRole:
            # The kinds of identity are the channels they reach the customer on.
            return theme.channel_icon(kind)
        return None


IDENTITY_KINDS = {"email": "Email", "phone": "Phone", "social": "Social", "chat": "Chat"}


def status_text(status: str) -> str:
    """A ticket status as agents read it ("on_hold" -> "on hold")."""
    return status.replace("_", " ")


def local_time_text(timezone: str, now: datetime) -> str:
    """The time where the customer is, e.g. "14:05 local (UTC+2)"; empty for an unknown zone.

    Uses Qt's time-zone database, which comes from the OS on every platform (Python's
    ``zoneinfo`` has no data on Windows without the ``tzdata`` package).
    """
    zone = QTimeZone(timezone.encode())
    if not timezone or not zone.isValid():
        return ""
    moment = QDateTime.fromSecsSinceEpoch(int(now.timestamp()), zone)
    offset = zone.offsetFromUtc(moment)
    sign = "+" if offset >= 0 else "-"
    hours, minutes = divmod(abs(offset) // 60, 60)
    utc = "UTC" if offset == 0 else f"UTC{sign}{hours}" + (f":{minutes:02d}" if minutes else "")
    clock = moment.toString("HH:mm")
    here = QDateTime.fromSecsSinceEpoch(int(now.timestamp())).date()
    if moment.date() != here:
        # Across midnight from the agent: say which day, or "02:05" reads as this morning.
        day = QLocale().dayName(moment.date().dayOfWeek(), QLocale.FormatType.ShortFormat)
        clock = f"{day} {clock}"
    return f"{clock} local ({utc})"


def _badge_style(tier: str) -> str:
    """The tier badge's look: VIP stands out in the accent colour, gold and silver in
    theirs (with dark text, legible on light and dark palettes alike)."""
    background = {
        "vip": theme.colors().accent.name(),
        "gold": "#e0b84c",
        "silver": "#c9ced6",
    }.get(tier)
    if background is None:
        return ""
    text = "#ffffff" if tier == "vip" else "#1f2937"
    return (
        f"QLabel {{ background: {background}; color: {text}; border-radius: 4px;"
        " padding: 1px 6px; font-weight: bold; }"
    )


def _language_text(code: str) -> str:
    locale = QLocale(code)
    if not code or locale.language() == QLocale.Language.C:
        return code or "—"
    return f"{QLocale.languageToString(locale.language())} ({code})"


def _caption(text: str) -> QLabel:
    label = QLabel(text)
    font = label.font()
    font.setBold(True)
    label.setFont(font)
    return label


def _value_label(name: str) -> QLabel:
    label = QLabel()
    label.setTextFormat(Qt.TextFormat.PlainText)  # customer data is never markup
    label.setTextInteractionFlags(
        Qt.TextInteractionFlag.TextSelectableByMouse
        | Qt.TextInteractionFlag.TextSelectableByKeyboard
    )
    label.setWordWrap(True)
    label.setAccessibleName(name)
    return label


class CustomerPanel(QWidget):
    """The customer of the current conversation, kept up to date.

    Signals:
        openTicket(str): the agent activated one of the customer's tickets (its id).
        customerLoaded(object): a read finished; the ``CustomerCard`` shown, or None.
    """

    openTicket = Signal(str)
    customerLoaded = Signal(object)
    editRequested = Signal(str)  # the agent asked to edit the customer shown (its id)

    def __init__(
        self,
        bridge: Bridge,
        parent: QWidget | None = None,
        *,
        clock: Callable[[], datetime] | None = None,
    ) -> None:
        super().__init__(parent)
        self._bridge = bridge
        self._now = clock or (lambda: datetime.now(UTC))
        self._customer_id: str | None = None
        self._context = ""
        self._card: CustomerCard | None = None
        self._generation = 0  # bumped per read; an older answer never replaces a newer one
        self._loading = False
        self._reload_wanted = False
        self.setAccessibleName("Customer")
        self.setMinimumWidth(240)

        self._pages = QStackedWidget(self)
        outer = QVBoxLayout(self)
        outer.setContentsMargins(0, 0, 0, 0)
        outer.addWidget(self._pages)

        self._empty = QLabel("Open a conversation to see the customer")
        self._empty.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self._empty.setWordWrap(True)
        self._empty.setAccessibleName("No customer")
        self._empty.setEnabled(False)  # the system's disabled text colour: a quiet hint
        self._pages.addWidget(self._empty)

        self._pages.addWidget(self._build_card())
        self._pages.setCurrentWidget(self._empty)

        # Ticks on the minute boundary (re-armed each time), so the clock never lags by up
        # to a minute as a fixed 60 s interval started at a random second would.
        self._clock = QTimer(self)
        self._clock.setSingleShot(True)
        self._clock.timeout.connect(self._tick)

        # A change re-reads the card a moment later: a burst of changes costs one read, and the
        # ticket list and the open thread — what the agent is looking at — read first.
        self._changes_settle = QTimer(self)
        self._changes_settle.setSingleShot(True)
        self._changes_settle.setInterval(READ_AFTER_CHANGE_MS)
        self._changes_settle.timeout.connect(self._reload)
        bridge.entitiesChanged.connect(self._entities_changed)
        bridge.run(bridge.finder.phone_region(), on_result=self._set_region)

    # ---- building -----------------------------------------------------------------------

    def _build_card(self) -> QWidget:
        page = QWidget()
        layout = QVBoxLayout(page)

        context = QHBoxLayout()
        self.context_label = QLabel()
        self.context_label.setObjectName("customerContext")
        self.context_label.setTextFormat(Qt.TextFormat.PlainText)
        self.context_label.setAccessibleName("Whose customer this is")
        self.context_label.setWordWrap(True)
        context.addWidget(self.context_label, 1)
        self.edit_button = QToolButton()
        self.edit_button.setText("Edit")
        self.edit_button.setToolTip("Edit the customer: name, ways to reach them, notes…")
        self.edit_button.setAccessibleName("Edit the customer")
        self.edit_button.clicked.connect(self._edit)
        context.addWidget(self.edit_button, 0, Qt.AlignmentFlag.AlignTop)
        layout.addLayout(context)

        head = QHBoxLayout()
        self.name_label = _value_label("Customer name")
        font = QFont(self.name_label.font())
        font.setPointSizeF(font.pointSizeF() * 1.3)
        font.setBold(True)
        self.name_label.setFont(font)
        head.addWidget(self.name_label, 1)
        self.tier_badge = QLabel()
        self.tier_badge.setTextFormat(Qt.TextFormat.PlainText)  # the tier is data, not markup
        self.tier_badge.setAccessibleName("Customer tier")
        self.tier_badge.setObjectName("tierBadge")
        self.tier_badge.setFrameShape(QFrame.Shape.StyledPanel)
        self.tier_badge.setSizePolicy(QSizePolicy.Policy.Fixed, QSizePolicy.Policy.Fixed)
        head.addWidget(self.tier_badge, 0, Qt.AlignmentFlag.AlignTop)
        self.merge_button = merge_button(self, self._bridge, lambda: self._card)
        head.addWidget(self.merge_button, 0, Qt.AlignmentFlag.AlignTop)
        layout.addLayout(head)

        form = QFormLayout()
        form.setFieldGrowthPolicy(QFormLayout.FieldGrowthPolicy.AllNonFixedFieldsGrow)
        self.organization_label = _value_label("Organization")
        self.language_label = _value_label("Language")
        self.local_time_label = _value_label("Customer's local time")
        self.since_label = _value_label("Customer since")
        form.addRow("Organization", self.organization_label)
        form.addRow("Language", self.language_label)
        form.addRow("Local time", self.local_time_label)
        form.addRow("Customer since", self.since_label)
        layout.addLayout(form)

        layout.addWidget(_caption("Ways to reach"))
        self.identities = IdentityModel(self)
        self.identity_view = QListView()
        self.identity_view.setModel(self.identities)
        self.identity_view.setAccessibleName("Ways to reach the customer")
        self.identity_view.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.identity_view.setMaximumHeight(96)
        self.identity_view.setTextElideMode(Qt.TextElideMode.ElideMiddle)  # keep the domain
        self.identity_view.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.identity_view.setContextMenuPolicy(Qt.ContextMenuPolicy.ActionsContextMenu)
        copy = QAction("Copy", self.identity_view)
        theme.set_icon(copy, "copy")
        copy.setShortcuts(QKeySequence.keyBindings(QKeySequence.StandardKey.Copy))
        copy.setShortcutContext(Qt.ShortcutContext.WidgetShortcut)
        copy.triggered.connect(self.copy_identity)
        self.identity_view.addAction(copy)
        self.identity_view.doubleClicked.connect(lambda _index: self.copy_identity())
        layout.addWidget(self.identity_view)

        layout.addWidget(_caption("Notes"))
        self.notes_label = _value_label("Customer notes")
        self.notes_label.setAlignment(Qt.AlignmentFlag.AlignTop | Qt.AlignmentFlag.AlignLeft)
        layout.addWidget(self.notes_label)

        self.totals_label = _value_label("Ticket totals")
        layout.addWidget(self.totals_label)

        self.open_caption = _caption("Open tickets")
        layout.addWidget(self.open_caption)
        self.open_tickets = TicketBriefModel(self)
        self.open_view = self._ticket_view(self.open_tickets, "Open tickets of the customer")
        layout.addWidget(self.open_view, 1)

        self.past_caption = _caption("Past tickets")
        layout.addWidget(self.past_caption)
        self.past_tickets = TicketBriefModel(self)
        self.past_view = self._ticket_view(self.past_tickets, "Past tickets of the customer")
        layout.addWidget(self.past_view, 2)
        return page

    def _ticket_view(self, model: TicketBriefModel, name: str) -> QListView:
        view = QListView()
        view.setModel(model)
        view.setAccessibleName(name)
        view.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        view.setUniformItemSizes(True)
        view.setTextElideMode(Qt.TextElideMode.ElideRight)
        view.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        # ``activated`` is Enter on the keyboard and the platform's click/double-click rule.
        view.activated.connect(self._ticket_activated)
        return view

    # ---- public -------------------------------------------------------------------------

    @property
    def customer_id(self) -> str | None:
        return self._customer_id

    @property
    def card(self) -> CustomerCard | None:
        """What the panel shows now (None: the empty state or an unknown customer)."""
        return self._card

    @property
    def context(self) -> str:
        """Whose customer the panel shows ("Customer on #1234", "Found in search")."""
        return self._context

    def show_customer(self, customer_id: str | None, context: str = "") -> None:
        """Follow a new conversation's customer (None: no conversation open, or a ticket
        without a customer); ``context`` says whose customer it is, shown above the name."""
        self._set_context(context)
        if customer_id == self._customer_id and (customer_id is None or self._card is not None):
            if customer_id is None:
                self._show_card(None)  # the empty state's words follow the context
            return
        self._customer_id = customer_id
        self._generation += 1
        if customer_id is None:
            self._show_card(None)
            return
        self._reload()

    def _set_region(self, region: str) -> None:
        self.identities.region = region
        self.identities.set_rows(())  # shown again in the region's form
        if self._card is not None:
            self.identities.set_rows(self._card.identities)

    def _set_context(self, context: str) -> None:
        self._context = context
        self.context_label.setText(context)
        self.context_label.setVisible(bool(context))
        muted = theme.colors().muted_text.name()
        self.context_label.setStyleSheet(f"color: {muted}")

    def _edit(self) -> None:
        if self._customer_id is not None and self._card is not None:
            self.editRequested.emit(self._customer_id)

    def copy_identity(self) -> None:
        """Put the selected way of reaching the customer on the clipboard."""
        row = self.identities.row_at(self.identity_view.currentIndex())
        if row is not None:
            QGuiApplication.clipboard().setText(row[1])

    # ---- reading ------------------------------------------------------------------------

    def _entities_changed(self, notice: ChangeNotice) -> None:
        cid = self._customer_id
        if cid is None:
            return
        # Any ticket row: a new ticket of this customer is not in the card yet.
        named = cid in notice.ids("customer") or bool(
            {"ticket", "organization"} & notice.entities.keys()
        )
        if named and not self._changes_settle.isActive():
            self._changes_settle.start()

    def _reload(self) -> None:
        if self._customer_id is None:
            return
        if self._loading:
            # One read at a time; a burst of changes during it costs one more read, not many.
            self._reload_wanted = True
            return
        self._loading = True
        self._reload_wanted = False
        generation, customer_id = self._generation, self._customer_id

        def done(card: CustomerCard | None) -> None:
            self._loading = False
            if generation == self._generation and customer_id == self._customer_id:
                if card is not None and card.id != customer_id:
                    self._customer_id = card.id  # merged into another: follow the one kept
                self._show_card(card)
            if self._reload_wanted or generation != self._generation:
                self._reload()

        def failed(exc: BaseException) -> None:
            self._loading = False
            self._bridge.taskFailed.emit(exc)  # a reader failure is a bug: the crash reporter

        self._bridge.run(
            self._bridge.customers.customer(customer_id), on_result=done, on_error=failed
        )

    # ---- showing ------------------------------------------------------------------------

    def _show_card(self, card: CustomerCard | None) -> None:
        self._card = card
        if card is None:
            self._clock.stop()
            if self._customer_id is not None:
                self._empty.setText("This customer is not on this workstation yet.")
            elif self._context:  # a ticket without a customer says so, never a blank
                self._empty.setText(self._context)
            else:
                self._empty.setText("Open a conversation to see the customer")
            self._pages.setCurrentWidget(self._empty)
            self.identities.set_rows(())
            self.open_tickets.set_rows(())
            self.past_tickets.set_rows(())
            self.customerLoaded.emit(None)
            return
        self.name_label.setText(card.name)
        badge = TIER_LABELS.get(card.tier, card.tier.title())
        self.tier_badge.setText(badge)
        self.tier_badge.setVisible(bool(badge))
        self.tier_badge.setStyleSheet(_badge_style(card.tier))
        self.tier_badge.setAccessibleName(f"Customer tier: {card.tier}")  # not "star VIP"
        self.organization_label.setText(card.organization or "—")
        self.language_label.setText(_language_text(card.language))
        self.since_label.setText(
            # "May 2025": the day adds nothing here, and the short numeric date format of
            # some locales ("31 05 2025") reads like a phone number
            QLocale().toString(
                QDateTime.fromSecsSinceEpoch(int(card.customer_since.timestamp())).date(),
                "MMMM yyyy",
            )
        )
        notes = card.notes.strip()
        if len(notes) > NOTES_SHOWN_CHARS:
            notes = notes[:NOTES_SHOWN_CHARS] + "…"
        self.notes_label.setText(notes or "No notes")
        self.notes_label.setEnabled(bool(notes))
        count = card.tickets_last_90_days
        self.totals_label.setText(f"{count} ticket{'s' if count != 1 else ''} in the last 90 days")
        self.identities.set_rows(card.identities)
        self.open_tickets.set_rows(card.open_tickets)
        self.past_tickets.set_rows(card.past_tickets)
        self.open_caption.setText(f"Open tickets ({len(card.open_tickets)})")
        self.past_caption.setText(f"Past tickets ({len(card.past_tickets)})")
        self._pages.setCurrentIndex(1)
        self._tick()
        self.customerLoaded.emit(card)

    def _tick(self) -> None:
        card = self._card
        if card is None:
            return
        now = self._now()
        text = local_time_text(card.timezone, now)
        self.local_time_label.setText(text or f"unknown time zone {card.timezone!r}")
        self._clock.start((60 - now.second) * 1000 - now.microsecond // 1000 + 50)

    def _ticket_activated(self, index: QModelIndex) -> None:
        ticket_id = index.data(IdRole)
        if isinstance(ticket_id, str):
            self.openTicket.emit(ticket_id)
