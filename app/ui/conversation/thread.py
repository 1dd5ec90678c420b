"""A conversation's thread: a list model of its messages, a delegate that paints them, a view.

Fast at volume by construction: the model holds the ``MessageItem``s it was given plus the few
strings each row shows (local time, date separator), computed once per update; the delegate
paints only from ``index.data(role)`` and caches each row's height per width, so opening a
500-message ticket lays out once and switching tabs repaints only what is on screen.

Message bodies are untrusted (customer emails, hostile HTML): they are drawn with
``QPainter.drawText``, which never interprets markup, and never reach a rich-text widget.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import date, datetime, tzinfo
from enum import IntEnum
from functools import cached_property, lru_cache
from typing import Any, Protocol

from PySide6 import QtGui
from PySide6.QtCore import (
    QAbstractListModel,
    QEvent,
    QModelIndex,
    QPersistentModelIndex,
    QPoint,
    QRect,
    QSize,
    Qt,
    Signal,
)
from PySide6.QtGui import (
    QColor,
    QFont,
    QFontMetrics,
    QGuiApplication,
    QKeyEvent,
    QPainter,
    QPalette,
    QPen,
)
from PySide6.QtWidgets import (
    QAbstractItemView,
    QListView,
    QMenu,
    QStyle,
    QStyledItemDelegate,
    QStyleOptionViewItem,
    QWidget,
)

from app.models.enums import AuthorType, DeliveryState, MessageKind
from app.sync.desk_types import MessageItem
from app.ui import theme
from app.ui.conversation import trail
from app.ui.labels import DELIVERY_LABELS, KIND_LABELS
from app.ui.mentions.highlight import draw_body

# A body longer than this is cut in the thread (painting 200,000 characters per frame would
# stall scrolling); the whole text stays in BODY and is what "Copy" copies.
MAX_PAINTED_CHARS = 20_000
# Older long messages (email chains with quoted history) are shown collapsed to their first
# lines, expanded with Enter or a double-click; the newest message is always shown whole.
# Measuring wrapped text is what opening a long thread costs, so this bounds it too.
COLLAPSE_CHARS = 600


def plain_tip(text: str) -> str:
    """``text`` as a tooltip (or What's This) that shows it literally.

    Qt guesses whether such text is rich text (``Qt.mightBeRichText``): a subject like
    ``#12 <b>Refund</b>`` would be rendered as markup (images fetched, links shown).  Text Qt
    would take for markup goes out as escaped rich text instead; other text is left as it is
    (escaping it would show the entities)."""
    rich = QtGui.Qt.mightBeRichText(text)
    if not rich:
        return text
    return QtGui.Qt.convertFromPlainText(text, QtGui.Qt.WhiteSpaceMode.WhiteSpaceNormal)


COLLAPSE_LINES = 8
_WRAP = int(Qt.TextFlag.TextWordWrap | Qt.TextFlag.TextExpandTabs)

AnyIndex = QModelIndex | QPersistentModelIndex


class ThreadRole(IntEnum):
    """Custom roles of ``ThreadModel`` (``UserRole + n``); the delegate paints from these."""

    ID = Qt.ItemDataRole.UserRole + 1
    KIND = Qt.ItemDataRole.UserRole + 2
    AUTHOR_TYPE = Qt.ItemDataRole.UserRole + 3
    AUTHOR_NAME = Qt.ItemDataRole.UserRole + 4
    BODY = Qt.ItemDataRole.UserRole + 5
    CREATED_AT = Qt.ItemDataRole.UserRole + 6  # aware datetime, UTC
    TIME_TEXT = Qt.ItemDataRole.UserRole + 7  # "14:05", in the agent's timezone
    DELIVERY = Qt.ItemDataRole.UserRole + 8  # DeliveryState value
    DATE_LABEL = Qt.ItemDataRole.UserRole + 9  # "Monday 23 November 2026" on a day's first row
    OWN = Qt.ItemDataRole.UserRole + 10  # written by the signed-in agent
    SHOWN_BODY = Qt.ItemDataRole.UserRole + 11  # the text painted: collapsed or capped
    COLLAPSED = Qt.ItemDataRole.UserRole + 12  # a long older message shown shortened
    LAYOUT = Qt.ItemDataRole.UserRole + 13  # (id, date label, kind, own, shown body): sizing


def collapsible(body: str) -> bool:
    return len(body) > COLLAPSE_CHARS or body.count("\n", 0, COLLAPSE_CHARS + 1) >= COLLAPSE_LINES


def shown_body(body: str, collapsed: bool) -> str:
    if collapsed:
        lines = body[:COLLAPSE_CHARS].split("\n")[: COLLAPSE_LINES - 1]
        preview = "\n".join(lines).rstrip()
        return f"{preview} …\n[Shortened — press Enter or double-click to show it all]"
    if len(body) <= MAX_PAINTED_CHARS:
        return body
    rest = len(body) - MAX_PAINTED_CHARS
    return (
        f"{body[:MAX_PAINTED_CHARS]}\n… {rest:,} more characters"
        " (copy the message to read them all)"
    )


@dataclass(frozen=True)
class _Row:
    item: MessageItem
    time_text: str
    date_label: str
    own: bool
    collapsed: bool = False

    @cached_property
    def layout(self) -> tuple[str, str, str, bool, str]:
        """What the row's height depends on (``ThreadRole.LAYOUT``): asked for every row at
        each layout of the thread, so made once per row."""
        item = self.item
        shown = item.body if item.kind == MessageKind.EVENT else None
        return (
            item.id,
            self.date_label,
            item.kind,
            self.own,
            shown if shown is not None else shown_body(item.body, self.collapsed),
        )

    @property
    def text(self) -> str:
        """The row as one plain string (screen readers, copy, tests)."""
        if self.item.kind == MessageKind.EVENT:
            return f"{trail.sentence(self.item.body, self.item.author_name)} · {self.time_text}"
        kind = KIND_LABELS.get(self.item.kind, self.item.kind)
        if self.item.author_type == AuthorType.CUSTOMER:
            kind = "Message"  # a reply is what an agent sends the customer, not what they write
        header = f"{self.item.author_name or 'System'} · {kind} · {self.time_text}"
        if self.own:
            header += f" · {DELIVERY_LABELS.get(self.item.delivery_state, '')}"
        return f"{header}\n{self.item.body}"


def date_label(day: date) -> str:
    return day.strftime("%A %d %B %Y")


# What each custom role answers (the delegate paints only from these): one lookup per call,
# as ``data()`` runs for every role of every visible row on each paint.
_ROLE_VALUES: dict[int, Callable[[_Row], Any]] = {
    ThreadRole.ID: lambda r: r.item.id,
    ThreadRole.KIND: lambda r: r.item.kind,
    ThreadRole.AUTHOR_TYPE: lambda r: r.item.author_type,
    ThreadRole.AUTHOR_NAME: lambda r: r.item.author_name,
    ThreadRole.BODY: lambda r: r.item.body,
    ThreadRole.CREATED_AT: lambda r: r.item.created_at,
    ThreadRole.TIME_TEXT: lambda r: r.time_text,
    ThreadRole.DELIVERY: lambda r: r.item.delivery_state,
    ThreadRole.DATE_LABEL: lambda r: r.date_label,
    ThreadRole.OWN: lambda r: r.own,
    ThreadRole.SHOWN_BODY: lambda r: shown_body(r.item.body, r.collapsed),
    ThreadRole.COLLAPSED: lambda r: r.collapsed,
    ThreadRole.LAYOUT: lambda r: r.layout,
}


class ThreadModel(QAbstractListModel):
    """The messages of one ticket, oldest first, updated in small steps.

    ``set_messages`` diffs the new tuple against the rows held: removed rows are removed,
    new rows inserted where they belong (a colleague's reply can land before a queued one of
    ours), and rows whose content changed (a delivery state, a date separator) get
    ``dataChanged``.  A reset happens only if the order of surviving rows changed.
    """

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._rows: list[_Row] = []
        self._row_of: dict[str, int] = {}
        self._expanded: set[str] = set()  # long messages the agent opened up
        # The files of a message in words, for screen readers (thread_files.py), if any.
        self.files_text: Callable[[str], str] | None = None

    # ---- Qt model API -------------------------------------------------------------------

    def rowCount(self, parent: AnyIndex = QModelIndex()) -> int:  # noqa: B008
        return 0 if parent.isValid() else len(self._rows)

    def data(self, index: AnyIndex, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if not index.isValid() or not 0 <= index.row() < len(self._rows) or index.column():
            return None
        row = self._rows[index.row()]
        item = row.item
        if role in (Qt.ItemDataRole.DisplayRole, Qt.ItemDataRole.AccessibleTextRole):
            files = self.files_text(item.id) if self.files_text is not None else ""
            return f"{row.text}\n{files}" if files else row.text
        if role == Qt.ItemDataRole.ToolTipRole:
            return plain_tip(
                f"{item.author_name or 'System'}, {row.date_label or ''} {row.time_text}".strip()
            )
        value = _ROLE_VALUES.get(role)
        return value(row) if value is not None else None

    def flags(self, index: AnyIndex) -> Qt.ItemFlag:
        if not index.isValid():
            return Qt.ItemFlag.NoItemFlags
        return (
            Qt.ItemFlag.ItemIsEnabled
            | Qt.ItemFlag.ItemIsSelectable
            | Qt.ItemFlag.ItemNeverHasChildren
        )

    # ---- reading ------------------------------------------------------------------------

    def message_ids(self) -> list[str]:
        return [r.item.id for r in self._rows]

    def row_of(self, message_id: str) -> int | None:
        return self._row_of.get(message_id)

    def message(self, row: int) -> MessageItem:
        return self._rows[row].item

    # ---- updating -----------------------------------------------------------------------

    def set_messages(
        self,
        messages: tuple[MessageItem, ...],
        zone: tzinfo,
        my_name: str | None,
        my_id: str | None = None,
    ) -> None:
        """Show ``messages`` (oldest first), changing only what changed."""
        if messages:
            # Shown whole as the newest once, never shortened under the reader's eyes later.
            self._expanded.add(messages[-1].id)
        new_rows = _rows_for(messages, zone, my_name, self._expanded, my_id)
        new_ids = [r.item.id for r in new_rows]
        wanted = set(new_ids)
        # 1. Rows that went away (a message of a ticket merged away, a failed one discarded).
        for row in range(len(self._rows) - 1, -1, -1):
            if self._rows[row].item.id not in wanted:
                self.beginRemoveRows(QModelIndex(), row, row)
                del self._rows[row]
                self.endRemoveRows()
        kept = [r.item.id for r in self._rows]
        kept_set = set(kept)
        if [i for i in new_ids if i in kept_set] != kept:
            # Surviving rows changed order (clock skew corrected by the server): rare enough
            # that a reset is the honest answer.
            self.beginResetModel()
            self._rows = new_rows
            self._index()
            self.endResetModel()
            return
        # 2. New rows, inserted in runs where they belong.
        row = 0
        pos = 0
        while pos < len(new_rows):
            if row < len(self._rows) and self._rows[row].item.id == new_ids[pos]:
                row += 1
                pos += 1
                continue
            end = pos
            while end < len(new_rows) and new_ids[end] not in kept_set:
                end += 1
            self.beginInsertRows(QModelIndex(), row, row + (end - pos) - 1)
            self._rows[row:row] = new_rows[pos:end]
            self.endInsertRows()
            row += end - pos
            pos = end
        # 3. Rows whose content changed (a delivery state; a date separator that moved).
        changed: list[int] = []
        rows: list[_Row] = []
        for i, (old, new) in enumerate(zip(self._rows, new_rows, strict=True)):
            if old == new:
                rows.append(old)  # with what it worked out already (its layout)
            else:
                rows.append(new)
                changed.append(i)
        self._rows = rows
        self._index()
        for first, last in _runs(changed):
            self.dataChanged.emit(self.index(first), self.index(last), [])

    def _index(self) -> None:
        self._row_of = {r.item.id: i for i, r in enumerate(self._rows)}

    def toggle_expanded(self, message_id: str) -> bool:
        """Show a shortened message whole, or shorten it again; False if it is not long."""
        row = self._row_of.get(message_id)
        if row is None:
            return False
        old = self._rows[row]
        is_last = row == len(self._rows) - 1
        if is_last or old.item.kind == MessageKind.EVENT or not collapsible(old.item.body):
            return False
        if old.collapsed:
            self._expanded.add(message_id)
        else:
            self._expanded.discard(message_id)
        collapsed = message_id not in self._expanded
        self._rows[row] = replace(old, collapsed=collapsed)
        index = self.index(row)
        self.dataChanged.emit(index, index, [])
        return True


def _is_me(m: MessageItem, my_id: str | None, my_name: str | None) -> bool:
    """By id where both are known (two agents may share a name), else by name."""
    if my_id is not None and m.author_id is not None:
        return m.author_id == my_id
    return my_name is not None and m.author_name == my_name


def _rows_for(
    messages: tuple[MessageItem, ...],
    zone: tzinfo,
    my_name: str | None,
    expanded: set[str],
    my_id: str | None = None,
) -> list[_Row]:
    rows: list[_Row] = []
    last_day = None
    newest = len(messages) - 1
    for i, m in enumerate(messages):
        day, time_text = _local_time(m.created_at, zone)
        label = date_label(day) if day != last_day else ""
        last_day = day
        own = m.author_type == AuthorType.AGENT and (
            m.delivery_state in (DeliveryState.QUEUED, DeliveryState.FAILED)
            or _is_me(m, my_id, my_name)
        )
        collapsed = (
            i != newest
            and m.kind != MessageKind.EVENT
            and m.id not in expanded
            and collapsible(m.body)
        )
        rows.append(_Row(m, time_text, label, own, collapsed))
    return rows


@lru_cache(maxsize=8192)
def _local_time(when: datetime, zone: tzinfo) -> tuple[date, str]:
    """A message's day and time where the agent is: the thread's rows are made again on
    every change, and formatting 500 times each time showed in a live change's cost."""
    local = when.astimezone(zone)
    return local.date(), local.strftime("%H:%M")


def _runs(rows: list[int]) -> list[tuple[int, int]]:
    runs: list[tuple[int, int]] = []
    for r in rows:
        if runs and runs[-1][1] == r - 1:
            runs[-1] = (runs[-1][0], r)
        else:
            runs.append((r, r))
    return runs


# ---- painting -------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Colors:
    customer: QColor
    agent: QColor
    note: QColor
    note_label: QColor
    call: QColor
    muted: QColor
    failed: QColor
    border: QColor


def _colors(palette: QPalette) -> _Colors:
    """The thread's colours for ``palette``; the meaningful ones (notes, failures, muted
    text) come from the theme so the whole desk agrees on them."""
    semantic = theme.colors(palette)

    def pick(light: str, on_dark: str) -> QColor:
        return QColor(on_dark if semantic.dark else light)

    return _Colors(
        customer=pick("#f1f3f4", "#2d2f33"),
        agent=pick("#e3edfd", "#1f3350"),
        note=semantic.note_background,
        note_label=pick("#8a6100", "#f2c94c"),
        call=pick("#e3f4e8", "#1e3a28"),
        muted=semantic.muted_text,
        failed=semantic.failed,
        border=pick("#c9ccd1", "#4a4d52"),
    )


class MessageFiles(Protocol):
    """What shows the files under a message (app/ui/conversation/thread_files.py)."""

    def height(self, message_id: str, width: int) -> int: ...

    def paint(self, painter: QPainter, area: QRect, message_id: str) -> None: ...


class ThreadDelegate(QStyledItemDelegate):
    """Paints one message from its roles: a bubble (customer left, agent right), a tinted
    "Internal note", a call log, a small centred line for system events, a date separator
    before a day's first message, and the delivery state of the agent's own messages."""

    MARGIN = 8
    PAD = 8
    SIDE_GAP = 0.16  # the share of the width left empty on the other side of a bubble

    def __init__(self, view: QListView, channel: str = "", channel_label: str = "") -> None:
        super().__init__(view)
        self._view = view
        self.channel = channel  # the ticket's channel: its icon marks the customer's messages
        self.channel_label = channel_label
        self._heights: dict[tuple[str, int, str, str, bool, int], int] = {}
        self._font_cache: tuple[QFont, QFont, QFont] | None = None
        self._metrics: tuple[QFontMetrics, QFontMetrics, QFontMetrics] | None = None
        self.width = 600  # the viewport's width, kept by the view (asking Qt per row is slow)
        # The files under each message (app/ui/conversation/thread_files.py), if any.
        self.files: MessageFiles | None = None

    def clear_cache(self) -> None:
        """Forget measured heights and fonts (the font or the style changed)."""
        self._heights.clear()
        self._font_cache = None
        self._metrics = None

    # Geometry shared by sizeHint and paint, so the two can never disagree.
    def _fonts(self) -> tuple[QFont, QFont, QFont]:
        if self._font_cache is None:
            base = self._view.font()
            bold = QFont(base)
            bold.setBold(True)
            small = QFont(base)
            small.setPointSizeF(max(6.0, base.pointSizeF() * 0.88))
            self._font_cache = (base, bold, small)
            self._metrics = (QFontMetrics(base), QFontMetrics(bold), QFontMetrics(small))
        return self._font_cache

    def _fm(self) -> tuple[QFontMetrics, QFontMetrics, QFontMetrics]:
        if self._metrics is None:
            self._fonts()
        assert self._metrics is not None
        return self._metrics

    def _bubble_width(self, width: int) -> int:
        return max(120, int(width * (1 - self.SIDE_GAP)) - 2 * self.MARGIN)

    def sizeHint(self, option: QStyleOptionViewItem, index: AnyIndex) -> QSize:
        width = max(200, self.width)
        mid, label, kind, own, body = index.data(ThreadRole.LAYOUT)
        # The shown text's length and ends stand in for the text itself in the key: a row's
        # text changes only between shortened and whole, which changes its length.
        key = (mid, width, label, kind, own, len(body))
        files_h = self._files_height(mid, width, kind)
        cached = self._heights.get(key)
        if cached is not None:
            return QSize(width, cached + files_h)
        fm_base, fm_bold, fm_small = self._fm()
        height = self.MARGIN // 2
        if label:
            height += fm_small.height() + self.MARGIN
        if kind == MessageKind.EVENT:
            height += fm_small.height() + self.MARGIN // 2
        else:
            text_w = self._bubble_width(width) - 2 * self.PAD
            rect = fm_base.boundingRect(QRect(0, 0, text_w, 1_000_000), _WRAP, body)
            height += self.PAD + fm_bold.height() + 4 + rect.height() + self.PAD
            if own:
                height += fm_small.height() + 2
            height += self.MARGIN // 2
        self._heights[key] = height
        return QSize(width, height + files_h)

    def _files_height(self, message_id: str, width: int, kind: str) -> int:
        if self.files is None or kind == MessageKind.EVENT:
            return 0
        return self.files.height(message_id, self._bubble_width(width) - 2 * self.PAD)

    def paint(self, painter: QPainter, option: QStyleOptionViewItem, index: AnyIndex) -> None:
        painter.save()
        try:
            self._paint(painter, option, index)
        finally:
            painter.restore()

    def _paint(self, painter: QPainter, option: QStyleOptionViewItem, index: AnyIndex) -> None:
        palette = option.palette
        rect: QRect = option.rect
        state = option.state
        colors = _colors(palette)
        base, bold, small = self._fonts()
        text_color = palette.color(QPalette.ColorRole.Text)
        painter.setRenderHint(QPainter.RenderHint.Antialiasing)
        y = rect.top() + self.MARGIN // 2
        label = str(index.data(ThreadRole.DATE_LABEL) or "")
        fm_small = QFontMetrics(small)
        if label:
            line = QRect(rect.left(), y, rect.width(), fm_small.height() + self.MARGIN)
            painter.setFont(small)
            painter.setPen(colors.muted)
            text_w = fm_small.horizontalAdvance(label) + 16
            mid_y = line.center().y()
            painter.drawLine(
                rect.left() + self.MARGIN, mid_y, line.center().x() - text_w // 2, mid_y
            )
            painter.drawLine(
                line.center().x() + text_w // 2, mid_y, rect.right() - self.MARGIN, mid_y
            )
            painter.drawText(line, int(Qt.AlignmentFlag.AlignCenter), label)
            y += line.height()
        kind = str(index.data(ThreadRole.KIND))
        author = str(index.data(ThreadRole.AUTHOR_NAME) or "")
        time_text = str(index.data(ThreadRole.TIME_TEXT))
        selected = bool(state & QStyle.StateFlag.State_Selected)
        if kind == MessageKind.EVENT:
            line = QRect(rect.left(), y, rect.width(), fm_small.height())
            painter.setFont(small)
            painter.setPen(colors.muted)
            text = f"{trail.sentence(str(index.data(ThreadRole.BODY)), author)} · {time_text}"
            text = fm_small.elidedText(text, Qt.TextElideMode.ElideMiddle, rect.width() - 40)
            painter.drawText(line, int(Qt.AlignmentFlag.AlignCenter), text)
            if selected:
                painter.setPen(QPen(palette.color(QPalette.ColorRole.Highlight), 1))
                painter.drawRect(line.adjusted(20, 0, -20, 0))
            return
        author_type = str(index.data(ThreadRole.AUTHOR_TYPE))
        own = bool(index.data(ThreadRole.OWN))
        bubble_w = self._bubble_width(rect.width())
        on_right = author_type == AuthorType.AGENT
        x = rect.right() - self.MARGIN - bubble_w if on_right else rect.left() + self.MARGIN
        bubble = QRect(x, y, bubble_w, rect.bottom() - y - self.MARGIN // 2 + 1)
        fill = {
            MessageKind.NOTE: colors.note,
            MessageKind.CALL: colors.call,
        }.get(MessageKind(kind), colors.agent if on_right else colors.customer)
        painter.setBrush(fill)
        delivery = str(index.data(ThreadRole.DELIVERY))
        border = colors.border
        if delivery == DeliveryState.FAILED:
            border = colors.failed
        if selected:
            border = palette.color(QPalette.ColorRole.Highlight)
        painter.setPen(QPen(border, 2 if selected or delivery == DeliveryState.FAILED else 1))
        painter.drawRoundedRect(bubble, 6, 6)
        inner = bubble.adjusted(self.PAD, self.PAD, -self.PAD, -self.PAD)
        # Header: author, kind label, channel, time.
        fm_bold = QFontMetrics(bold)
        header = QRect(inner.left(), inner.top(), inner.width(), fm_bold.height())
        painter.setFont(small)
        painter.setPen(colors.muted)
        painter.drawText(
            header, int(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter), time_text
        )
        used_right = fm_small.horizontalAdvance(time_text) + 12
        painter.setFont(bold)
        painter.setPen(text_color)
        name = author or ("System" if author_type == AuthorType.SYSTEM else "Customer")
        name = fm_bold.elidedText(name, Qt.TextElideMode.ElideRight, inner.width() // 2)
        painter.drawText(
            header, int(Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignVCenter), name
        )
        tag = ""
        if kind == MessageKind.NOTE:
            tag = "Internal note"
        elif kind == MessageKind.CALL:
            tag = "Call log"
        elif author_type == AuthorType.CUSTOMER and self.channel_label:
            tag = f"via {self.channel_label}"
        if tag:
            tag_rect = header.adjusted(fm_bold.horizontalAdvance(name) + 10, 0, -used_right, 0)
            if author_type == AuthorType.CUSTOMER and kind == MessageKind.REPLY and self.channel:
                side = fm_small.height()
                icon_rect = QRect(tag_rect.left(), tag_rect.center().y() - side // 2, side, side)
                theme.channel_icon(self.channel).paint(painter, icon_rect)
                tag_rect.setLeft(icon_rect.right() + 4)
            painter.setFont(small)
            painter.setPen(colors.note_label if kind == MessageKind.NOTE else colors.muted)
            if kind == MessageKind.NOTE:
                f = QFont(small)
                f.setBold(True)
                painter.setFont(f)
            painter.drawText(
                tag_rect, int(Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignVCenter), tag
            )
        # Body: plain text, never markup.
        footer_h = fm_small.height() + 2 if own else 0
        message_id = str(index.data(ThreadRole.ID))
        files_h = self._files_height(message_id, max(200, self.width), kind)  # as sizeHint
        body_rect = QRect(
            inner.left(),
            header.bottom() + 5,
            inner.width(),
            inner.bottom() - header.bottom() - 4 - footer_h - files_h,
        )
        painter.setFont(base)
        painter.setPen(text_color)
        shown = str(index.data(ThreadRole.SHOWN_BODY))
        draw_body(painter, body_rect, _WRAP, shown, theme.colors().accent)  # @mentions stand out
        if files_h and self.files is not None:
            area = QRect(inner.left(), body_rect.bottom() + 1, inner.width(), files_h)
            self.files.paint(painter, area, message_id)
        if own:
            foot = QRect(
                inner.left(),
                inner.bottom() - fm_small.height() + 1,
                inner.width(),
                fm_small.height(),
            )
            self._paint_delivery(painter, foot, delivery, small, colors)

    def _paint_delivery(
        self, painter: QPainter, foot: QRect, delivery: str, font: QFont, colors: _Colors
    ) -> None:
        text = DELIVERY_LABELS.get(delivery, delivery)
        color = colors.failed if delivery == DeliveryState.FAILED else colors.muted
        fm = QFontMetrics(font)
        size = fm.height() - 4
        text_w = fm.horizontalAdvance(text)
        icon = QRect(foot.right() - text_w - size - 6, foot.top() + 2, size, size)
        painter.setPen(QPen(color, 1.4))
        painter.setBrush(Qt.BrushStyle.NoBrush)
        c = icon.center()
        if delivery == DeliveryState.QUEUED:  # a clock
            painter.drawEllipse(icon)
            painter.drawLine(c, QPoint(c.x(), icon.top() + 3))
            painter.drawLine(c, QPoint(icon.right() - 3, c.y()))
        elif delivery == DeliveryState.FAILED:  # an exclamation mark in a circle
            painter.drawEllipse(icon)
            painter.drawLine(QPoint(c.x(), icon.top() + 3), QPoint(c.x(), c.y() + 1))
            painter.drawPoint(QPoint(c.x(), icon.bottom() - 3))
        else:  # a tick (two for delivered)
            painter.drawLine(QPoint(icon.left() + 1, c.y()), QPoint(c.x() - 1, icon.bottom() - 2))
            painter.drawLine(
                QPoint(c.x() - 1, icon.bottom() - 2), QPoint(icon.right(), icon.top() + 2)
            )
        painter.setFont(font)
        painter.setPen(color)
        painter.drawText(
            foot, int(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter), text
        )


class ThreadView(QListView):
    """The thread's list view: stays at the bottom when it was there, otherwise keeps the
    message under the top edge where it was while rows arrive above or below.

    Signals: ``messageActivated(str)`` — Enter or double-click on a message (the id);
    ``retryRequested(str)`` — "Send again" on a message that was not sent (the id).
    """

    messageActivated = Signal(str)
    retryRequested = Signal(str)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.thread_model = ThreadModel(self)
        self.setModel(self.thread_model)
        self.thread_delegate = ThreadDelegate(self)
        self.setItemDelegate(self.thread_delegate)
        self.setAccessibleName("Conversation thread")
        self.setAccessibleDescription("Messages of this ticket, oldest first")
        self.setVerticalScrollMode(QAbstractItemView.ScrollMode.ScrollPerPixel)
        self.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        # Always there: a scroll bar appearing would narrow the rows and re-measure them all.
        self.setVerticalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOn)
        self.setResizeMode(QListView.ResizeMode.Adjust)
        self.setUniformItemSizes(False)
        # Several messages may be selected (Shift/Ctrl): to split them into a new ticket.
        self.setSelectionMode(QAbstractItemView.SelectionMode.ExtendedSelection)
        self.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.setMouseTracking(False)
        self.verticalScrollBar().setSingleStep(24)
        self._pending_scroll: int | None = None
        self.verticalScrollBar().rangeChanged.connect(self._apply_pending_scroll)
        self.verticalScrollBar().actionTriggered.connect(self._user_scrolled)
        self.doubleClicked.connect(self._activated)
        self.setContextMenuPolicy(Qt.ContextMenuPolicy.CustomContextMenu)
        self.customContextMenuRequested.connect(self._menu)

    # ---- scrolling ----------------------------------------------------------------------

    def at_bottom(self) -> bool:
        bar = self.verticalScrollBar()
        return bar.value() >= bar.maximum() - 4

    def scroll_position(self) -> int:
        if self._pending_scroll is not None:
            return self._pending_scroll
        return self.verticalScrollBar().value()

    def set_scroll_position(self, value: int) -> None:
        """Scroll to ``value`` now, or as soon as the rows are laid out far enough."""
        self._pending_scroll = max(0, value)
        self._apply_pending_scroll()

    def _apply_pending_scroll(self, *, final: bool = False) -> None:
        """Apply a restored position once the rows are laid out for real: a hidden view's
        range is not its real one, so the position waits until the view is shown."""
        if self._pending_scroll is None or not self.isVisible():
            return
        if self.thread_model.rowCount() == 0:
            return
        bar = self.verticalScrollBar()
        bar.setValue(min(self._pending_scroll, bar.maximum()))
        if final or bar.value() == self._pending_scroll:
            self._pending_scroll = None

    def _user_scrolled(self, _action: int) -> None:
        self._pending_scroll = None

    def show_messages(
        self,
        messages: tuple[MessageItem, ...],
        zone: tzinfo,
        my_name: str | None,
        my_id: str | None = None,
    ) -> None:
        """Update the rows, keeping the reader's place (see the class docstring)."""
        first = self.thread_model.rowCount() == 0
        stick = first or self.at_bottom()
        anchor: tuple[str, int] | None = None
        if not stick and self._pending_scroll is None:
            top = self.indexAt(QPoint(4, 4))
            if top.isValid():
                anchor = (str(top.data(ThreadRole.ID)), self.visualRect(top).top())
        self.thread_model.set_messages(messages, zone, my_name, my_id)
        if self._pending_scroll is not None:
            self.doItemsLayout()
            self._apply_pending_scroll(final=True)
        elif stick:
            self.scrollToBottom()
        elif anchor is not None:
            row = self.thread_model.row_of(anchor[0])
            if row is not None:
                self.doItemsLayout()
                moved = self.visualRect(self.thread_model.index(row)).top() - anchor[1]
                if moved:
                    bar = self.verticalScrollBar()
                    bar.setValue(bar.value() + moved)

    def resizeEvent(self, event: Any) -> None:
        stick = self.at_bottom()
        super().resizeEvent(event)
        self._track_width()
        if stick and self._pending_scroll is None:
            self.scrollToBottom()

    def _track_width(self) -> None:
        width = self.viewport().width()
        if width != self.thread_delegate.width:
            self.thread_delegate.width = width
            self.scheduleDelayedItemsLayout()

    def changeEvent(self, event: QEvent) -> None:
        super().changeEvent(event)
        if event.type() in (QEvent.Type.FontChange, QEvent.Type.StyleChange):
            self.thread_delegate.clear_cache()
            self.scheduleDelayedItemsLayout()

    # ---- keyboard -----------------------------------------------------------------------

    def keyPressEvent(self, event: QKeyEvent) -> None:
        self._pending_scroll = None  # the agent moves: their place wins over a restored one
        if event.key() in (Qt.Key.Key_Return, Qt.Key.Key_Enter) and self.currentIndex().isValid():
            self._activated(self.currentIndex())
            return
        super().keyPressEvent(event)

    def _menu(self, pos: QPoint) -> None:
        index = self.indexAt(pos)
        if not index.isValid():
            return
        menu = QMenu(self)
        menu.setAccessibleName("Message menu")
        copy = menu.addAction("Copy text")
        review = retry = None
        if index.data(ThreadRole.DELIVERY) == DeliveryState.FAILED:
            retry = menu.addAction("Send again")
            review = menu.addAction("Review why it was not sent…")
        chosen = menu.exec(self.viewport().mapToGlobal(pos))
        if chosen is None:
            return
        if chosen is copy:
            QGuiApplication.clipboard().setText(str(index.data(ThreadRole.BODY)))
        elif chosen is review:
            self._activated(index)
        elif chosen is retry:
            self.retryRequested.emit(str(index.data(ThreadRole.ID)))

    def _activated(self, index: QModelIndex) -> None:
        if index.isValid():
            message_id = str(index.data(ThreadRole.ID))
            self.thread_model.toggle_expanded(message_id)
            self.messageActivated.emit(message_id)
