"""The ticket list: a lazily filled table over one view, updated in place as changes arrive.

The model holds the view's whole ordered list of ticket ids (``bridge.tickets.ticket_ids``:
the filter and the sort run in SQL) and the rows of only the pages someone looked at.  ``data()``
never waits: a row not loaded yet shows as loading and its page is fetched on the reader
thread; the view asks for the pages around what is on screen before they are needed.

When a few tickets change, just their rows move, leave or join, at the places the view gives
them now; otherwise the new order is compared with the old one and applied as removed rows,
a reorder (``layoutChanged`` with persistent indexes carried over) and inserted rows.  Rows
whose content changed get ``dataChanged``: the list never resets under the agent, and the
selection stays on its tickets.
"""

from __future__ import annotations

import asyncio
import html
import logging
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from PySide6.QtCore import (
    QAbstractTableModel,
    QItemSelectionModel,
    QModelIndex,
    QPersistentModelIndex,
    QPoint,
    Qt,
    QTimer,
    Signal,
)
from PySide6.QtGui import QAction, QColor, QFont, QPaintEvent, QResizeEvent
from PySide6.QtWidgets import QAbstractItemView, QHeaderView, QMenu, QTableView, QWidget

from app.models.enums import Priority, TicketStatus
from app.sync.desk_types import TicketColumn, TicketRow, TicketSort, ViewSpec
from app.sync.notice import ChangeNotice
from app.ui.bridge import Bridge
from app.ui.desk.empty_view import empty_view_text, paint_empty_text
from app.ui.desk.widths import SUBJECT_MIN, fitted_widths
from app.ui.labels import CHANNEL_LABELS, STATUS_LABELS

log = logging.getLogger(__name__)

PAGE = 200  # rows read per trip to the reader thread
PREFETCH_PAGES = 1  # pages beyond the visible ones, above and below
FEW = 16  # up to this many lookups scan the id list; more build the id -> row map
# A list this long, with at most this many tickets changed, asks the reader where those
# tickets now stand instead of re-reading every id of the view.
PLACE_FROM = 2000
PLACE_AT_MOST = 8
LONG_WAIT_HOURS = 4  # a customer waiting this long shows in red

TicketIdRole = Qt.ItemDataRole.UserRole + 1
TicketRowRole = Qt.ItemDataRole.UserRole + 2

HEADERS = {
    TicketColumn.NUMBER: "#",
    TicketColumn.SUBJECT: "Subject",
    TicketColumn.CUSTOMER: "Customer",
    TicketColumn.STATUS: "Status",
    TicketColumn.PRIORITY: "Priority",
    TicketColumn.CHANNEL: "Channel",
    TicketColumn.ASSIGNEE: "Assignee",
    TicketColumn.UPDATED: "Updated",
    TicketColumn.WAITING: "Waiting",
}
COLUMNS = list(TicketColumn)
# (wanted, least) width of every column but the subject, which takes the rest: the least
# still shows a status, a time, most of a name (longer ones are elided); a column is never
# narrower than its header's title and sort arrow (`TicketTable.header_width`).
COLUMN_WIDTHS = {
    TicketColumn.NUMBER: (56, 40),
    TicketColumn.CUSTOMER: (150, 92),
    TicketColumn.STATUS: (76, 62),
    TicketColumn.PRIORITY: (70, 58),
    TicketColumn.CHANNEL: (74, 66),
    TicketColumn.ASSIGNEE: (110, 80),
    TicketColumn.UPDATED: (96, 86),
    TicketColumn.WAITING: (82, 82),
}


def duration_text(since: datetime | None, now: datetime) -> str:
    """ "45 min", "3 h 5 min", "2 d 4 h": how long a customer has been waiting."""
    if since is None:
        return ""
    minutes = max(0, int((now - since).total_seconds() // 60))
    if minutes < 60:
        return f"{minutes} min"
    hours, minutes = divmod(minutes, 60)
    if hours < 24:
        return f"{hours} h {minutes} min" if minutes else f"{hours} h"
    days, hours = divmod(hours, 24)
    return f"{days} d {hours} h" if hours else f"{days} d"


def updated_text(when: datetime, now: datetime, tz: Any) -> str:
    local = when.astimezone(tz)
    if local.date() == now.astimezone(tz).date():
        return local.strftime("%H:%M")
    if (now - when).days < 180:
        return local.strftime("%d %b %H:%M")
    return local.strftime("%d %b %Y")


class TicketListModel(QAbstractTableModel):
    """The tickets of one view, sorted in SQL, rows read a page at a time.

    Signals: ``loaded()`` after a view's id list arrived (count known), ``rowsLoaded()``
    after a page of rows arrived.
    """

    loaded = Signal()
    rowsLoaded = Signal()

    def __init__(self, bridge: Bridge, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._bridge = bridge
        self._ids: list[str] = []
        self._positions: dict[str, int] | None = None  # ticket id -> row, built when asked
        self._rows: dict[str, TicketRow] = {}
        self._loading_pages: set[int] = set()
        self._spec: ViewSpec | None = None
        self._sort = TicketSort()
        self._generation = 0  # bumped per view/sort: answers for an older one are dropped
        self._refresh_task: asyncio.Task[None] | None = None
        self._refresh_again = False
        self._pending_changed: set[str] = set()
        self._now = datetime.now(UTC)
        self._tz: Any = UTC
        bridge.entitiesChanged.connect(self._entities_changed)

    # ---- what the list shows -----------------------------------------------------------

    @property
    def spec(self) -> ViewSpec | None:
        return self._spec

    @property
    def ticket_sort(self) -> TicketSort:
        return self._sort

    def set_timezone(self, tz: Any) -> None:
        self._tz = tz

    async def show_view(self, spec: ViewSpec, sort: TicketSort | None = None) -> None:
        """List ``spec``'s tickets (a new query: the one place the model resets)."""
        self._spec = spec
        if sort is not None:
            self._sort = sort
        self._generation += 1
        generation = self._generation
        ids = await self._bridge.tickets.ticket_ids(spec, self._sort)
        if generation != self._generation:
            return
        self.beginResetModel()
        self._ids = ids
        self._positions = None
        self._rows = {}
        self._loading_pages = set()
        self.endResetModel()
        self.loaded.emit()
        await self.load_rows(0, min(len(ids), PAGE) - 1)

    def ticket_id(self, row: int) -> str | None:
        return self._ids[row] if 0 <= row < len(self._ids) else None

    def row_of(self, ticket_id: str) -> int | None:
        """The row of a ticket (None if the view does not list it).

        One lookup scans the id list in C (a millisecond at most for 50,000); building the
        id -> row map costs several, so it is built only for many lookups (`rows_of`) and
        kept until the order changes.
        """
        if self._positions is not None:
            return self._positions.get(ticket_id)
        try:
            return self._ids.index(ticket_id)
        except ValueError:
            return None

    def rows_of(self, ticket_ids: Sequence[str]) -> list[int | None]:
        """``row_of`` for each of these tickets."""
        if self._positions is None and len(ticket_ids) > FEW:
            self._positions = {tid: i for i, tid in enumerate(self._ids)}
        return [self.row_of(tid) for tid in ticket_ids]

    def ticket_by_id(self, ticket_id: str) -> TicketRow | None:
        """The loaded row of a ticket (None if its page was never read)."""
        return self._rows.get(ticket_id)

    def ticket(self, row: int) -> TicketRow | None:
        tid = self.ticket_id(row)
        return self._rows.get(tid) if tid else None

    # ---- Qt model ----------------------------------------------------------------------

    def rowCount(self, parent: QModelIndex | QPersistentModelIndex = QModelIndex()) -> int:  # noqa: B008
        return 0 if parent.isValid() else len(self._ids)

    def columnCount(self, parent: QModelIndex | QPersistentModelIndex = QModelIndex()) -> int:  # noqa: B008
        return 0 if parent.isValid() else len(COLUMNS)

    def headerData(
        self, section: int, orientation: Qt.Orientation, role: int = Qt.ItemDataRole.DisplayRole
    ) -> Any:
        if orientation != Qt.Orientation.Horizontal or not 0 <= section < len(COLUMNS):
            return None
        if role == Qt.ItemDataRole.DisplayRole:
            return HEADERS[COLUMNS[section]]
        if role == Qt.ItemDataRole.ToolTipRole and COLUMNS[section] == TicketColumn.WAITING:
            return "How long the customer has been waiting for a reply"
        return None

    def flags(self, index: QModelIndex | QPersistentModelIndex) -> Qt.ItemFlag:
        if not index.isValid():
            return Qt.ItemFlag.NoItemFlags
        return Qt.ItemFlag.ItemIsEnabled | Qt.ItemFlag.ItemIsSelectable

    def data(
        self, index: QModelIndex | QPersistentModelIndex, role: int = Qt.ItemDataRole.DisplayRole
    ) -> Any:
        if not index.isValid() or not 0 <= index.row() < len(self._ids):
            return None
        tid = self._ids[index.row()]
        if role == TicketIdRole:
            return tid
        row = self._rows.get(tid)
        if row is None:
            if role == Qt.ItemDataRole.DisplayRole:
                self._want(index.row())
                return "…" if index.column() == 1 else ""
            return None
        if role == TicketRowRole:
            return row
        column = COLUMNS[index.column()]
        if role == Qt.ItemDataRole.DisplayRole:
            return self._text(row, column)
        if role == Qt.ItemDataRole.ToolTipRole:
            if column == TicketColumn.SUBJECT:
                # Tooltips guess rich text: a subject is the customer's words, so escaped.
                note = " — changes waiting to be sent" if row.pending else ""
                return html.escape(row.subject) + note
            if column == TicketColumn.UPDATED:
                return row.updated_at.astimezone(self._tz).strftime("%A %d %B %Y, %H:%M")
            return None
        if role == Qt.ItemDataRole.ForegroundRole:
            if column == TicketColumn.PRIORITY and row.priority == Priority.URGENT:
                return QColor("#d13438")
            if column == TicketColumn.PRIORITY and row.priority == Priority.HIGH:
                return QColor("#c25e00")
            waiting = row.waiting_since
            if (
                column == TicketColumn.WAITING
                and waiting
                and (self._now - waiting).days * 24 + (self._now - waiting).seconds // 3600
                >= LONG_WAIT_HOURS
            ):
                return QColor("#d13438")
            return None
        if role == Qt.ItemDataRole.FontRole and row.status == TicketStatus.NEW:
            font = QFont()
            font.setBold(True)
            return font
        if role == Qt.ItemDataRole.TextAlignmentRole and column == TicketColumn.NUMBER:
            return int(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
        if role == Qt.ItemDataRole.AccessibleTextRole:
            return self._text(row, column)
        return None

    def _text(self, row: TicketRow, column: TicketColumn) -> str:
        match column:
            case TicketColumn.NUMBER:
                return str(row.number) if row.number is not None else "new"
            case TicketColumn.SUBJECT:
                return ("● " if row.pending else "") + row.subject
            case TicketColumn.CUSTOMER:
                return row.customer_name
            case TicketColumn.STATUS:
                return STATUS_LABELS.get(TicketStatus(row.status), row.status)
            case TicketColumn.PRIORITY:
                return row.priority.capitalize()
            case TicketColumn.CHANNEL:
                return CHANNEL_LABELS.get(row.channel, row.channel)
            case TicketColumn.ASSIGNEE:
                return row.assignee_name or "—"
            case TicketColumn.UPDATED:
                return updated_text(row.updated_at, self._now, self._tz)
            case TicketColumn.WAITING:
                return duration_text(row.waiting_since, self._now)

    # ---- lazy rows ---------------------------------------------------------------------

    def _want(self, row: int) -> None:
        page = row // PAGE
        if page not in self._loading_pages:
            self._loading_pages.add(page)
            self._bridge.run(self._load_page(page, self._generation))

    def prefetch(self, first: int, last: int) -> None:
        """The view shows rows ``first``..``last``: have them and their neighbours loaded."""
        if not self._ids:
            return
        first_page = max(0, first // PAGE - PREFETCH_PAGES)
        last_page = min((len(self._ids) - 1) // PAGE, last // PAGE + PREFETCH_PAGES)
        for page in range(first_page, last_page + 1):
            ids = self._ids[page * PAGE : (page + 1) * PAGE]
            if page not in self._loading_pages and any(i not in self._rows for i in ids):
                self._loading_pages.add(page)
                self._bridge.run(self._load_page(page, self._generation))

    async def load_rows(self, first: int, last: int) -> None:
        """Read rows ``first``..``last`` now (used for the first page and by tests)."""
        for page in range(max(0, first) // PAGE, max(0, last) // PAGE + 1):
            self._loading_pages.add(page)
            await self._load_page(page, self._generation)

    async def _load_page(self, page: int, generation: int) -> None:
        try:
            ids = self._ids[page * PAGE : (page + 1) * PAGE]
            if not ids:
                return
            rows = await self._bridge.tickets.ticket_rows(ids)
            if generation != self._generation:
                return
            self._rows.update(rows)
            if self._ids[page * PAGE : (page + 1) * PAGE] == ids:
                # the page is still where it was: one signal for the whole of it
                last = page * PAGE + len(ids) - 1
                self.dataChanged.emit(
                    self.index(page * PAGE, 0), self.index(last, len(COLUMNS) - 1)
                )
            else:
                self._emit_rows_changed(set(rows))
            self.rowsLoaded.emit()
        finally:
            self._loading_pages.discard(page)

    def _emit_rows_changed(self, ids: set[str]) -> None:
        """One ``dataChanged`` per contiguous run of changed rows."""
        positions = sorted(p for p in self.rows_of(list(ids)) if p is not None)
        last_column = len(COLUMNS) - 1
        start = prev = None
        for pos in [*positions, None]:
            if pos is not None and prev is not None and pos == prev + 1:
                prev = pos
                continue
            if start is not None and prev is not None:
                self.dataChanged.emit(self.index(start, 0), self.index(prev, last_column))
            start = prev = pos

    # ---- live updates ------------------------------------------------------------------

    def _entities_changed(self, notice: ChangeNotice) -> None:
        # The rows show tickets' own fields (a reply bumps its ticket's row too); a
        # customer's or agent's new name shows in the rows too.
        if {"ticket", "customer", "agent"} & notice.entities.keys():
            tickets = notice.ids("ticket")
            self.tickets_changed(set(tickets), names=not tickets)

    def tickets_changed(self, ticket_ids: set[str], *, names: bool = False) -> None:
        """Tickets changed somewhere: re-read the order and the changed rows we hold
        (``names``: every loaded row, since a customer or agent was renamed)."""
        if self._spec is None:
            return
        if names:
            ticket_ids = ticket_ids | set(self._rows)
        if self._refresh_task is not None and not self._refresh_task.done():
            self._refresh_again = True  # one more pass after this one, with whatever came
            self._pending_changed |= ticket_ids
            return
        self._refresh_task = self._bridge.run(self._refresh(ticket_ids))

    async def _refresh(self, changed: set[str]) -> None:
        while True:
            spec, generation = self._spec, self._generation
            assert spec is not None
            placed = await self._placed(spec, changed)
            if generation != self._generation:
                return  # the view changed meanwhile
            if placed is None or not self._move_to_places(*placed):
                order = await self._bridge.tickets.ticket_ids(spec, self._sort)
                if generation != self._generation:
                    return
                in_view = set(order)
                # every changed ticket still in the view: its row shows new values, or joins
                wanted = [t for t in changed if t in in_view]
                rows = await self._bridge.tickets.ticket_rows(wanted) if wanted else {}
                if generation != self._generation:
                    return
                self._rows.update(rows)
                self._apply_order(order)
                self._emit_rows_changed(set(rows))  # fetched only for tickets in the view
            if not self._refresh_again:
                return
            self._refresh_again = False
            changed, self._pending_changed = self._pending_changed, set()

    async def _placed(
        self, spec: ViewSpec, changed: set[str]
    ) -> tuple[int, dict[str, int | None], dict[str, TicketRow]] | None:
        """For a large list and a few changed tickets: how many tickets the view lists now,
        where the changed ones stand in it (None: they left it) and their rows, in one read.
        None if the list must read its whole order again instead."""
        if len(self._ids) < PLACE_FROM or not 0 < len(changed) <= PLACE_AT_MOST:
            return None
        return await self._bridge.tickets.changed_rows(spec, self._sort, list(changed))

    def _move_to_places(
        self, total: int, places: dict[str, int | None], rows: dict[str, TicketRow]
    ) -> bool:
        """Move, drop or add just the changed tickets, to the rows the view gives them now.

        The other tickets keep their order among themselves (their sort keys did not
        change), so nothing else is looked at: moving one ticket in a 50,000-row list
        costs a few list operations in C and a row move that Qt applies to the view's
        selection and current row itself, instead of a pass of Python over the rows
        between its old and new place (10 ms and more on the UI thread).  False, with
        nothing changed, if the count does not add up: a change not heard of yet moved
        other tickets too, and the whole order must be read again.
        """
        present = {t: p for t in places if (p := self.row_of(t)) is not None}
        targets = sorted((at, t) for t, at in places.items() if at is not None)
        if len(self._ids) - len(present) + len(targets) != total:
            return False
        self._rows.update(rows)
        root = QModelIndex()
        for tid, _at in sorted(present.items(), key=lambda tp: -tp[1]):
            if places[tid] is None:  # it left the view
                row = self._ids.index(tid)
                self.beginRemoveRows(root, row, row)
                del self._ids[row]
                self._rows.pop(tid, None)
                self._positions = None
                self.endRemoveRows()
        if len(targets) > 1:
            # Placed in ascending order, each lands right only if no ticket still to be
            # placed sits above it: first move those to the end.
            for _at, tid in targets:
                if tid in present:
                    self._move_row(self._ids.index(tid), len(self._ids) - 1)
        for at, tid in targets:
            if tid in present:
                self._move_row(self._ids.index(tid), at)
            else:
                self.beginInsertRows(root, at, at)
                self._ids.insert(at, tid)
                self._positions = None
                self.endInsertRows()
        self._emit_rows_changed(set(rows))
        return True

    def _move_row(self, row: int, to: int) -> None:
        """Move one row so that it ends up at ``to``, as a row move views follow."""
        if row == to:
            return
        # Qt names the row to insert before, counted before the move.
        self.beginMoveRows(QModelIndex(), row, row, QModelIndex(), to if to < row else to + 1)
        self._ids.insert(to, self._ids.pop(row))
        self._positions = None
        self.endMoveRows()

    def _apply_order(self, new: list[str]) -> None:
        """Turn the current order into ``new`` with precise removes, a reorder and inserts.

        Only the window between the longest common head and tail of the two orders is
        looked at in Python (the head and tail are found with list comparisons, in C): a
        live change moves one ticket, and a 50,000-row view must not cost 50,000 steps of
        Python on the UI thread for it.
        """
        old = self._ids
        head = _common_head(old, new)
        tail = _common_tail(old, new, min(len(old), len(new)) - head)
        old_window, new_window = old[head : len(old) - tail], new[head : len(new) - tail]
        if not old_window and not new_window:
            return
        wanted = set(new_window)  # ids are unique: none of these is in the head or tail
        # 1. rows that left the view, from the bottom up so positions stay valid
        gone = [head + i for i, tid in enumerate(old_window) if tid not in wanted]
        for start, end in reversed(_runs(gone)):
            self.beginRemoveRows(QModelIndex(), start, end)
            for tid in self._ids[start : end + 1]:
                self._rows.pop(tid, None)
            del self._ids[start : end + 1]
            self._positions = None
            self.endRemoveRows()
        # 2. the rows that stay, in their new relative order
        current = self._ids[head : head + len(old_window) - len(gone)]
        staying = set(current)
        kept = [tid for tid in new_window if tid in staying]
        if kept != current:
            self.layoutAboutToBeChanged.emit()
            persistent = self.persistentIndexList()
            where = {tid: head + i for i, tid in enumerate(kept)}
            end = head + len(current)
            moved = [
                self.index(where[current[p.row() - head]], p.column())
                if head <= p.row() < end
                else self.index(p.row(), p.column())
                for p in persistent
            ]
            self._ids[head:end] = kept
            self._positions = None
            self.changePersistentIndexList(persistent, moved)
            self.layoutChanged.emit()
        # 3. rows that joined, at their places (ascending, so each lands where `new` has it)
        added = [head + i for i, tid in enumerate(new_window) if tid not in staying]
        for start, end in _runs(added):
            self.beginInsertRows(QModelIndex(), start, end)
            self._ids[start:start] = new[start : end + 1]
            self._positions = None
            self.endInsertRows()

    def tick(self) -> None:
        """A minute passed: "Waiting" and "Updated" texts move on."""
        self._now = datetime.now(UTC)
        if self._ids:
            for column in (TicketColumn.UPDATED, TicketColumn.WAITING):
                c = COLUMNS.index(column)
                self.dataChanged.emit(
                    self.index(0, c),
                    self.index(len(self._ids) - 1, c),
                    [Qt.ItemDataRole.DisplayRole],
                )


def _common_head(a: list[str], b: list[str]) -> int:
    """How many leading ids ``a`` and ``b`` share (binary search over C-level slice
    comparisons: about two passes over the lists, none of them in Python)."""
    lo, hi = 0, min(len(a), len(b))  # a[:lo] == b[:lo]; the answer is in [lo, hi]
    while lo < hi:
        mid = (lo + hi + 1) // 2
        if a[lo:mid] == b[lo:mid]:
            lo = mid
        else:
            hi = mid - 1
    return lo


def _common_tail(a: list[str], b: list[str], limit: int) -> int:
    """How many trailing ids ``a`` and ``b`` share, at most ``limit``."""
    lo, hi = 0, limit
    na, nb = len(a), len(b)
    while lo < hi:
        mid = (lo + hi + 1) // 2
        if a[na - mid : na - lo] == b[nb - mid : nb - lo]:
            lo = mid
        else:
            hi = mid - 1
    return lo


def _runs(positions: Sequence[int]) -> list[tuple[int, int]]:
    """[3, 4, 5, 9] -> [(3, 5), (9, 9)]"""
    runs: list[tuple[int, int]] = []
    for pos in positions:
        if runs and pos == runs[-1][1] + 1:
            runs[-1] = (runs[-1][0], pos)
        else:
            runs.append((pos, pos))
    return runs


class TicketTable(QTableView):
    """The ticket list widget: sort by header, multi-select, Enter opens, bulk actions.

    Signals: ``openTickets(list)`` (ticket ids to open in tabs), ``currentTicketChanged(str)``.
    """

    openTickets = Signal(list)
    currentTicketChanged = Signal(str)

    def __init__(self, bridge: Bridge, model: TicketListModel, parent: QWidget | None = None):
        super().__init__(parent)
        self._bridge = bridge
        self.setModel(model)
        self._model = model
        self.setAccessibleName("Ticket list")
        self.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.setSelectionMode(QAbstractItemView.SelectionMode.ExtendedSelection)
        self.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.setShowGrid(False)
        self.setAlternatingRowColors(True)
        self.setWordWrap(False)
        self.setTextElideMode(Qt.TextElideMode.ElideRight)
        self.setVerticalScrollMode(QAbstractItemView.ScrollMode.ScrollPerPixel)
        self.setHorizontalScrollMode(QAbstractItemView.ScrollMode.ScrollPerPixel)
        self.setContextMenuPolicy(Qt.ContextMenuPolicy.CustomContextMenu)
        self.customContextMenuRequested.connect(self._context_menu)
        vertical = self.verticalHeader()
        vertical.setVisible(False)
        vertical.setSectionResizeMode(QHeaderView.ResizeMode.Fixed)  # uniform rows: O(1) layout
        vertical.setDefaultSectionSize(self.fontMetrics().height() + 10)
        header = self.horizontalHeader()
        header.setSectionsMovable(True)
        header.setHighlightSections(False)
        header.setSortIndicatorShown(True)
        header.setSectionsClickable(True)
        header.setSortIndicator(COLUMNS.index(TicketColumn.UPDATED), Qt.SortOrder.DescendingOrder)
        header.sortIndicatorChanged.connect(self._sort_changed)
        header.setStretchLastSection(False)
        header.setSectionResizeMode(
            COLUMNS.index(TicketColumn.SUBJECT), QHeaderView.ResizeMode.Stretch
        )
        # The subject stretches; the others have the width the agent wants (these, or what
        # they dragged), and on a narrow list give some of it up (`fit_columns`).
        self._wanted = {
            column: max(width, self.header_width(column))
            for column, (width, _least) in COLUMN_WIDTHS.items()
        }
        self._fitting = False
        header.sectionResized.connect(self._column_resized)
        self.fit_columns()
        self.verticalScrollBar().valueChanged.connect(lambda _v: self._prefetch())
        model.modelReset.connect(self._prefetch)
        model.loaded.connect(self._prefetch)
        self._listed: ViewSpec | None = None  # the view the rows are of, once read
        model.loaded.connect(self._listed_view)
        self.activated.connect(lambda _i: self._open_selected())
        self._tick = QTimer(self)
        self._tick.timeout.connect(model.tick)
        self._tick.start(60_000)

    def empty_text(self) -> str:
        """What the list says while it lists nothing ("" while it lists tickets, and while
        a view is still being read: an empty list then is no answer yet)."""
        spec = self._model.spec
        if self._model.rowCount() or spec is None or spec != self._listed:
            return ""
        return empty_view_text(spec, self._bridge.directory)

    def _listed_view(self) -> None:
        self._listed = self._model.spec
        self.viewport().update()

    def paintEvent(self, event: QPaintEvent) -> None:
        super().paintEvent(event)
        text = self.empty_text()
        if text:  # an empty view is never blank: why, and what comes next
            paint_empty_text(self, text)

    # ---- widths ----------------------------------------------------------------------

    def header_width(self, column: TicketColumn) -> int:
        """The width a column's header needs to show its whole title and the sort arrow (a
        column narrower than that shows "Priorit" or "ubjec": fragments, not words)."""
        return self.horizontalHeader().sectionSizeFromContents(COLUMNS.index(column)).width()

    def comfortable_width(self) -> int:
        """The width at which every column has what it wants and the subject its least."""
        chrome = self.verticalScrollBar().sizeHint().width() + 2 * self.frameWidth()
        return sum(self._wanted.values()) + SUBJECT_MIN + chrome

    def fit_columns(self) -> None:
        """Leave the subject at least SUBJECT_MIN while the other columns can still give
        up width (down to the least each keeps); the subject stretches over the rest."""
        header = self.horizontalHeader()
        shown = {
            column: width
            for column, width in self._wanted.items()
            if not header.isSectionHidden(COLUMNS.index(column))
        }
        least = {
            column: max(COLUMN_WIDTHS[column][1], self.header_width(column)) for column in shown
        }
        widths = fitted_widths(shown, least, self.viewport().width() - SUBJECT_MIN)
        # Where even that leaves the subject less than its least (a call log docked beside
        # the list on a laptop), it keeps its least and the list scrolls sideways: a subject
        # cut to "ubjec" is no subject at all.
        subject = COLUMNS.index(TicketColumn.SUBJECT)
        squeezed = self.viewport().width() - sum(widths.values()) < SUBJECT_MIN
        mode = QHeaderView.ResizeMode.Fixed if squeezed else QHeaderView.ResizeMode.Stretch
        self._fitting = True
        try:
            for column, width in widths.items():
                header.resizeSection(COLUMNS.index(column), width)
            if header.sectionResizeMode(subject) != mode:
                header.setSectionResizeMode(subject, mode)
            if squeezed:
                header.resizeSection(subject, SUBJECT_MIN)
        finally:
            self._fitting = False

    def _column_resized(self, section: int, _old: int, new: int) -> None:
        column = COLUMNS[section]
        if not self._fitting and column in self._wanted:
            self._wanted[column] = new  # the agent's own width: fitted around from now on

    def resizeEvent(self, event: QResizeEvent) -> None:
        super().resizeEvent(event)
        self.fit_columns()

    def setModel(self, model: Any) -> None:
        super().setModel(model)
        selection = self.selectionModel()
        if selection is not None:
            selection.currentRowChanged.connect(self._current_changed)

    def _current_changed(self, current: QModelIndex, _previous: QModelIndex) -> None:
        tid = self._model.ticket_id(current.row()) if current.isValid() else None
        self.currentTicketChanged.emit(tid or "")

    def _prefetch(self) -> None:
        first = self.rowAt(0)
        last = self.rowAt(self.viewport().height() - 1)
        if first < 0:
            first = 0
        if last < 0:
            last = first + self.viewport().height() // max(1, self.rowHeight(0) or 20)
        self._model.prefetch(first, last)

    def _sort_changed(self, section: int, order: Qt.SortOrder) -> None:
        spec = self._model.spec
        if spec is None:
            return
        sort = TicketSort(COLUMNS[section], order == Qt.SortOrder.DescendingOrder)
        keep = self.selected_ids()
        self._bridge.run(self._resort(spec, sort, keep))

    async def _resort(self, spec: ViewSpec, sort: TicketSort, keep: list[str]) -> None:
        await self._model.show_view(spec, sort)
        self.select_ids(keep)

    def selected_ids(self) -> list[str]:
        selection = self.selectionModel()
        if selection is None:
            return []
        rows = sorted({i.row() for i in selection.selectedRows()})
        return [tid for r in rows if (tid := self._model.ticket_id(r))]

    def select_ids(self, ids: Sequence[str]) -> None:
        selection = self.selectionModel()
        if selection is None:
            return
        flags = QItemSelectionModel.SelectionFlag.Select | QItemSelectionModel.SelectionFlag.Rows
        first = True
        for row in self._model.rows_of(ids):
            if row is None:
                continue
            index = self._model.index(row, 0)
            if first:
                selection.setCurrentIndex(index, flags | QItemSelectionModel.SelectionFlag.Clear)
                self.scrollTo(index)
                first = False
            else:
                selection.select(index, flags)

    def keyPressEvent(self, event: Any) -> None:
        if event.key() in (Qt.Key.Key_Return, Qt.Key.Key_Enter):
            self._open_selected()
            return
        super().keyPressEvent(event)

    def _open_selected(self) -> None:
        ids = self.selected_ids()
        if ids:
            self.openTickets.emit(ids)

    # ---- bulk actions ------------------------------------------------------------------

    def bulk_update(self, changes: dict[str, Any]) -> None:
        """Apply ``changes`` to every selected ticket (queued offline like any change)."""
        ids = self.selected_ids()
        rows = {tid: self._model.ticket_by_id(tid) for tid in ids}
        self._bridge.run(self._bulk(ids, rows, changes))

    async def _bulk(
        self, ids: list[str], rows: dict[str, TicketRow | None], changes: dict[str, Any]
    ) -> None:
        for tid in ids:
            if "add_tag" in changes:
                # the engine reads the ticket's current tags in the change's transaction
                await self._bridge.engine.add_tag(tid, changes["add_tag"])
                continue
            row = rows.get(tid)
            await self._bridge.engine.update_ticket(
                tid, changes, seen_version=row.version if row is not None else None
            )

    def assign_to_me(self) -> None:
        me = self._bridge.agent_id
        if me is not None:
            self.bulk_update({"assignee_id": me})

    def _context_menu(self, pos: QPoint) -> None:
        if not self.selected_ids():
            return
        menu = QMenu(self)
        count = len(self.selected_ids())
        open_action = menu.addAction(f"Open {count} ticket{'s' if count > 1 else ''}")
        open_action.triggered.connect(self._open_selected)
        menu.addSeparator()
        status_menu = menu.addMenu("Set status")
        for status, text in STATUS_LABELS.items():
            if status == TicketStatus.NEW:
                continue
            action = QAction(text, status_menu)
            action.triggered.connect(
                lambda _c=False, s=str(status): self.bulk_update({"status": s})
            )
            status_menu.addAction(action)
        priority_menu = menu.addMenu("Set priority")
        for priority in Priority:
            action = QAction(priority.capitalize(), priority_menu)
            action.triggered.connect(
                lambda _c=False, p=str(priority): self.bulk_update({"priority": p})
            )
            priority_menu.addAction(action)
        assign_menu = menu.addMenu("Assign to")
        me = self._bridge.directory.me
        if me is not None:
            mine = QAction(f"Me ({me.name})", assign_menu)
            mine.triggered.connect(self.assign_to_me)
            assign_menu.addAction(mine)
            assign_menu.addSeparator()
        for agent in self._bridge.directory.agents:
            if me is not None and agent.id == me.id:
                continue
            action = QAction(agent.name, assign_menu)
            action.triggered.connect(
                lambda _c=False, a=agent.id: self.bulk_update({"assignee_id": a})
            )
            assign_menu.addAction(action)
        nobody = QAction("Nobody (unassign)", assign_menu)
        nobody.triggered.connect(lambda _c=False: self.bulk_update({"assignee_id": None}))
        assign_menu.addAction(nobody)
        tag_action = menu.addAction("Add tag…")
        tag_action.triggered.connect(self._ask_tag)
        menu.exec(self.viewport().mapToGlobal(pos))

    def _ask_tag(self) -> None:
        from PySide6.QtWidgets import QInputDialog

        tag, ok = QInputDialog.getText(self, "Add tag", "Tag to add to the selected tickets:")
        tag = tag.strip().lower().replace(" ", "-")
        if ok and tag:
            self.bulk_update({"add_tag": tag})
