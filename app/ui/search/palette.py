"""Search everywhere: the Ctrl+K palette.

The window binds Ctrl+K to ``SearchPalette.open()``.  Typing searches the local cache
(``bridge.search.everywhere``: FTS5 over tickets, customers and messages) 80 ms after the last key;
each search carries a generation number, so a slow answer to an old query never replaces the
answer to a newer one.  Results are grouped under Tickets, Customers and Messages, with the
matched words in bold.  Snippets are customer-written text: they are HTML-escaped before the
bold marks are added, so nothing typed by anyone is ever interpreted as markup.

A number ("1234" or "#1234") puts that ticket first; when it is not on this workstation the
palette offers to fetch it from the server.  "Search older tickets on the server" asks the
server (``SyncEngine.search_remote``) and lists its answers under "On the server"; opening
one fetches it into the cache first (``SyncEngine.fetch_ticket``).  Offline, the palette says
so instead of offering what cannot work.

Keys: type to search; Up/Down/Page Up/Page Down move through the results without leaving the
query field; Enter opens; Esc closes.
"""

from __future__ import annotations

import html
import logging
import re
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from PySide6.QtCore import (
    QAbstractListModel,
    QByteArray,
    QModelIndex,
    QObject,
    QPersistentModelIndex,
    QRect,
    QSize,
    Qt,
    QTimer,
    Signal,
)
from PySide6.QtGui import (
    QAbstractTextDocumentLayout,
    QFont,
    QPainter,
    QPalette,
    QTextDocument,
)
from PySide6.QtWidgets import (
    QAbstractItemView,
    QApplication,
    QDialog,
    QLabel,
    QListView,
    QStyle,
    QStyledItemDelegate,
    QStyleOptionViewItem,
    QVBoxLayout,
    QWidget,
)

from app.sync.desk.search import MATCH_END, MATCH_START
from app.sync.desk_types import SearchHit, SearchResults
from app.sync.engine import KnownError, RequestFailed
from app.sync.notice import ChangeNotice
from app.sync.observer import ConnectionStatus
from app.ui.bridge import Bridge
from app.ui.conversation.thread import plain_tip
from app.ui.query_line import QueryLine
from app.ui.theme import colors

log = logging.getLogger(__name__)
AnyIndex = QModelIndex | QPersistentModelIndex

DEBOUNCE_MS = 80
LOCAL_LIMIT = 50
SERVER_LIMIT = 50
SERVER_QUERY_MAX = 200  # the protocol's limit on a search query
_NUMBER = re.compile(r"^\s*#?\s*(\d{1,12})\s*$")

# Roles of SearchResultsModel beyond Qt's own.
RowRole = Qt.ItemDataRole.UserRole + 1  # the PaletteRow
TitleHtmlRole = Qt.ItemDataRole.UserRole + 2  # escaped title
SnippetHtmlRole = Qt.ItemDataRole.UserRole + 3  # escaped snippet with matches in <b>

SECTION_TITLES = {"ticket": "Tickets", "customer": "Customers", "message": "Messages"}


class RowKind(StrEnum):
    HEADER = "header"  # "Tickets", "On the server": not selectable
    HIT = "hit"  # a local result
    NOTICE = "notice"  # "Nothing matches", "Searching the server…": not selectable
    SERVER_ACTION = "server_action"  # "Search older tickets on the server"
    SERVER_HIT = "server_hit"  # a ticket the server found
    FETCH_NUMBER = "fetch_number"  # "Fetch ticket #1234 from the server"


@dataclass(frozen=True)
class PaletteRow:
    """One line of the palette."""

    kind: RowKind
    title: str
    snippet: str = ""  # plain text, matched words between MATCH_START and MATCH_END
    hit_kind: str = ""  # "ticket", "customer", "message" (for HIT)
    ticket_id: str | None = None
    customer_id: str | None = None
    number: int | None = None
    enabled: bool = True
    title_marks: str = ""  # the title's end with its matches marked (when the match is there)

    @property
    def selectable(self) -> bool:
        return self.enabled and self.kind not in (RowKind.HEADER, RowKind.NOTICE)


def snippet_html(snippet: str) -> str:
    """``snippet``'s matches (between MATCH_START and MATCH_END, control characters no one
    types) in bold, everything else escaped: safe to give Qt as rich text.  Brackets are text.

    Unbalanced marks are tolerated: a stray end mark is dropped, an unclosed start mark bolds
    to the end.
    """
    out: list[str] = []
    text: list[str] = []
    bold = False

    def flush() -> None:
        if text:
            out.append(html.escape("".join(text), quote=True))
            text.clear()

    for ch in snippet.replace("\r", " ").replace("\n", " "):
        if ch == MATCH_START:
            if not bold:
                flush()
                out.append("<b>")
                bold = True
        elif ch == MATCH_END:
            if bold:
                flush()
                out.append("</b>")
                bold = False
        else:
            text.append(ch)
    flush()
    if bold:
        out.append("</b>")
    return "".join(out)


def snippet_text(snippet: str) -> str:
    """The snippet as plain text (for screen readers and copying): marks removed."""
    return " ".join(_unmarked(snippet).split())


def _unmarked(text: str) -> str:
    return text.replace(MATCH_START, "").replace(MATCH_END, "")


class SearchResultsModel(QAbstractListModel):
    """The palette's rows: section headers, hits, notices and server rows, in display order.

    A new query resets the model (the whole answer is new); server results are inserted
    after the local ones without disturbing them.
    """

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._rows: list[PaletteRow] = []

    @property
    def rows(self) -> tuple[PaletteRow, ...]:
        return tuple(self._rows)

    def row_at(self, index: AnyIndex) -> PaletteRow | None:
        if not index.isValid() or index.parent().isValid():
            return None
        return self._rows[index.row()] if 0 <= index.row() < len(self._rows) else None

    def rowCount(self, parent: AnyIndex = QModelIndex()) -> int:  # noqa: B008 - Qt's signature
        return 0 if parent.isValid() else len(self._rows)

    def flags(self, index: AnyIndex) -> Qt.ItemFlag:
        row = self.row_at(index)
        if row is None:
            return Qt.ItemFlag.NoItemFlags
        if row.selectable:
            return Qt.ItemFlag.ItemIsEnabled | Qt.ItemFlag.ItemIsSelectable
        return Qt.ItemFlag.ItemIsEnabled if row.enabled else Qt.ItemFlag.NoItemFlags

    def data(self, index: AnyIndex, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        row = self.row_at(index)
        if row is None:
            return None
        if role == RowRole:
            return row
        if role in (
            Qt.ItemDataRole.DisplayRole,
            Qt.ItemDataRole.AccessibleTextRole,
            Qt.ItemDataRole.ToolTipRole,
        ):
            plain = snippet_text(row.snippet)
            text = row.title if not plain or plain == row.title else f"{row.title} — {plain}"
            # Titles and snippets are customers' text: a tooltip shows them literally.
            return plain_tip(text) if role == Qt.ItemDataRole.ToolTipRole else text
        if role == TitleHtmlRole:
            if row.title_marks:
                plain_end = len(row.title) - len(_unmarked(row.title_marks))
                return html.escape(row.title[:plain_end], quote=True) + snippet_html(
                    row.title_marks
                )
            return html.escape(row.title, quote=True)
        if role == SnippetHtmlRole:
            return snippet_html(row.snippet) if row.snippet else ""
        if role == Qt.ItemDataRole.FontRole and row.kind == RowKind.HEADER:
            font = QFont()
            font.setBold(True)
            return font
        return None

    def roleNames(self) -> dict[int, QByteArray]:
        names = dict(super().roleNames())
        names[RowRole] = QByteArray(b"row")
        names[TitleHtmlRole] = QByteArray(b"titleHtml")
        names[SnippetHtmlRole] = QByteArray(b"snippetHtml")
        return names

    def set_rows(self, rows: list[PaletteRow]) -> None:
        """Show the answer to a new query."""
        self.beginResetModel()
        self._rows = list(rows)
        self.endResetModel()

    def replace(self, start: int, count: int, rows: list[PaletteRow]) -> None:
        """Replace ``count`` rows from ``start`` with ``rows`` (remove, then insert)."""
        root = QModelIndex()
        if count:
            self.beginRemoveRows(root, start, start + count - 1)
            del self._rows[start : start + count]
            self.endRemoveRows()
        if rows:
            self.beginInsertRows(root, start, start + len(rows) - 1)
            self._rows[start:start] = rows
            self.endInsertRows()

    def update_row(self, row_number: int, row: PaletteRow) -> None:
        self._rows[row_number] = row
        index = self.index(row_number, 0)
        self.dataChanged.emit(index, index)

    def find(self, kind: RowKind) -> int:
        for n, row in enumerate(self._rows):
            if row.kind == kind:
                return n
        return -1


class SearchHitDelegate(QStyledItemDelegate):
    """Paints a hit as its title over its snippet, matches in bold; headers as one line.

    Paints only from ``index.data(role)``: the escaped HTML the model made.
    """

    def _document(
        self, option: QStyleOptionViewItem, index: AnyIndex, selected: bool = False
    ) -> QTextDocument:
        doc = QTextDocument()
        doc.setDocumentMargin(2)
        doc.setDefaultFont(option.font)
        title = str(index.data(TitleHtmlRole) or "")
        snippet = str(index.data(SnippetHtmlRole) or "")
        row = index.data(RowRole)
        kind = row.kind if isinstance(row, PaletteRow) else RowKind.HIT
        enabled = isinstance(row, PaletteRow) and row.enabled
        palette = colors()
        # Selected rows keep the view's highlighted-text colour; elsewhere snippets are
        # muted and actions that reach the server wear the accent, so they read as actions.
        muted = "" if selected else f" style='color:{palette.muted_text.name()}'"
        if kind == RowKind.HEADER:
            body = f"<b>{title}</b>"
        elif kind == RowKind.NOTICE:
            body = f"<i{muted}>{title}</i>"
        elif kind in (RowKind.SERVER_ACTION, RowKind.FETCH_NUMBER):
            accent = "" if selected or not enabled else f" style='color:{palette.accent.name()}'"
            body = f"<span{accent}>{title}</span>"
        elif snippet:
            body = f"{title}<br/><span{muted}>{snippet}</span>"
        else:
            body = title
        doc.setHtml(body)
        return doc

    def paint(self, painter: QPainter, option: QStyleOptionViewItem, index: AnyIndex) -> None:
        opt = QStyleOptionViewItem(option)
        self.initStyleOption(opt, index)
        selected = bool(opt.state & QStyle.StateFlag.State_Selected)
        doc = self._document(opt, index, selected)
        opt.text = ""
        widget = opt.widget
        style = widget.style() if widget is not None else QApplication.style()
        style.drawControl(QStyle.ControlElement.CE_ItemViewItem, opt, painter, widget)
        context = QAbstractTextDocumentLayout.PaintContext()
        palette = opt.palette
        enabled = bool(index.flags() & Qt.ItemFlag.ItemIsEnabled)
        group = QPalette.ColorGroup.Normal if enabled else QPalette.ColorGroup.Disabled
        role = QPalette.ColorRole.HighlightedText if selected else QPalette.ColorRole.Text
        context.palette.setColor(QPalette.ColorRole.Text, palette.color(group, role))
        rect: QRect = opt.rect
        painter.save()
        painter.translate(rect.topLeft())
        painter.setClipRect(rect.translated(-rect.topLeft()))
        doc.setTextWidth(rect.width())
        doc.documentLayout().draw(painter, context)
        painter.restore()

    def sizeHint(self, option: QStyleOptionViewItem, index: AnyIndex) -> QSize:
        opt = QStyleOptionViewItem(option)
        self.initStyleOption(opt, index)
        doc = self._document(opt, index)
        return QSize(int(doc.idealWidth()), int(doc.size().height()) + 2)


class SearchPalette(QDialog):
    """Search everywhere, opened with Ctrl+K (the window calls ``open()``).

    Signals:
        openTicket(str): open this ticket id in a tab (for a server hit: fetched first).
        openCustomer(str): show this customer id.
        resultsShown(str): the results of this query (local ones) are now listed.
        serverResultsShown(str): the server's answer for this query is now listed.
    """

    openTicket = Signal(str)
    openCustomer = Signal(str)
    resultsShown = Signal(str)
    serverResultsShown = Signal(str)

    def __init__(self, bridge: Bridge, parent: QWidget | None = None) -> None:
        super().__init__(parent, Qt.WindowType.Dialog | Qt.WindowType.FramelessWindowHint)
        self._bridge = bridge
        self._generation = 0
        self._query = ""  # the query the listed results answer
        self._local_ticket_ids: set[str] = set()
        self._searching = False  # a local search is running for the latest query
        self._open_when_shown = False  # Enter came before its results: open the first one
        self.setWindowTitle("Search")
        self.setAccessibleName("Search everywhere")
        self.setObjectName("searchPalette")
        # Frameless: draw its own edge so it does not melt into the window behind it.
        self.setStyleSheet("#searchPalette { border: 1px solid palette(mid); border-radius: 6px; }")
        self.setWindowModality(Qt.WindowModality.WindowModal)
        self.resize(640, 440)

        layout = QVBoxLayout(self)
        self.query_edit = QueryLine(self)
        self.query_edit.setAccessibleName("Search query")
        self.query_edit.setPlaceholderText(
            "Search tickets, customers and messages — #1234 goes to a ticket"
        )
        self.query_edit.setClearButtonEnabled(True)
        self.query_edit.setMaxLength(1000)
        layout.addWidget(self.query_edit)

        self.model = SearchResultsModel(self)
        self.results_view = QListView(self)
        self.results_view.setModel(self.model)
        self.results_view.setItemDelegate(SearchHitDelegate(self.results_view))
        self.results_view.setAccessibleName("Search results")
        self.results_view.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.results_view.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.results_view.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.results_view.setFocusPolicy(Qt.FocusPolicy.NoFocus)  # typing stays in the query
        self.results_view.activated.connect(self._activate_index)
        layout.addWidget(self.results_view, 1)

        self.status_label = QLabel(self)
        self.status_label.setAccessibleName("Search status")
        self.status_label.setTextFormat(Qt.TextFormat.PlainText)
        self.status_label.setForegroundRole(QPalette.ColorRole.PlaceholderText)  # subtle
        layout.addWidget(self.status_label)

        self._debounce = QTimer(self)
        self._debounce.setSingleShot(True)
        self._debounce.setInterval(DEBOUNCE_MS)
        self._debounce.timeout.connect(self._search_now)
        self.query_edit.textChanged.connect(lambda _text: self._debounce.start())
        self.query_edit.navigate.connect(self.move_selection)
        self.query_edit.accepted.connect(self.activate_current)
        bridge.connectionChanged.connect(self._connection_changed)
        bridge.entitiesChanged.connect(self._entities_changed)

    # ---- opening and closing -----------------------------------------------------------

    def open(self) -> None:
        """Show the palette over its window with the last query selected, ready to type."""
        parent = self.parentWidget()
        if parent is not None:
            window = parent.window().frameGeometry()
            self.move(
                window.x() + (window.width() - self.width()) // 2,
                window.y() + window.height() // 6,
            )
        self.show()
        self.raise_()
        self.activateWindow()
        self.query_edit.setFocus(Qt.FocusReason.ShortcutFocusReason)
        self.query_edit.selectAll()
        if self.query_edit.text().strip():
            self._search_now()  # the cache moved on since it was last open

    def done(self, result: int) -> None:
        self._debounce.stop()
        self._generation += 1  # whatever is still running belongs to a closed palette
        self._searching = self._open_when_shown = False
        super().done(result)

    def search(self, query: str) -> None:
        """Type ``query`` into the field (for the window's "search for this" actions)."""
        self.query_edit.setText(query)

    # ---- searching ---------------------------------------------------------------------

    def _search_now(self) -> None:
        self._debounce.stop()
        self._generation += 1
        generation = self._generation
        query = self.query_edit.text().strip()
        if not query:
            self._query = ""
            self._searching = False
            self._open_when_shown = False
            self.model.set_rows([])
            self.status_label.setText("")
            self.resultsShown.emit("")
            return
        self._searching = True
        self._bridge.run(
            self._bridge.search.everywhere(query, LOCAL_LIMIT),
            on_result=lambda results: self._show_results(generation, query, results),
            on_error=lambda exc: self._search_failed(generation, query, exc),
        )

    def _search_failed(self, generation: int, query: str, exc: BaseException) -> None:
        if generation != self._generation:
            return  # a newer query is on its way
        # Not searching any more: Enter must not wait for an answer that will not come.
        self._searching = False
        self._open_when_shown = False
        self._query = query
        log.warning("local search for %r failed", query, exc_info=exc)
        rows = [PaletteRow(RowKind.NOTICE, "This workstation's search did not answer")]
        number_match = _NUMBER.match(query)
        if number_match and int(number_match.group(1)) >= 1:
            rows.append(self._fetch_number_row(int(number_match.group(1))))
        rows.append(self._server_action_row())
        self.model.set_rows(rows)
        self._select_first()
        detail = str(exc) or type(exc).__name__
        self.status_label.setText(
            f"Searching this workstation failed ({detail}). Try again, or search the server."
        )
        self.resultsShown.emit(query)

    def _show_results(self, generation: int, query: str, results: SearchResults) -> None:
        if generation != self._generation:
            return  # a newer query was typed meanwhile: never show an older answer over it
        self._searching = False
        same_query = query == self._query
        self._query = query
        rows: list[PaletteRow] = []
        by_kind: dict[str, list[SearchHit]] = {}
        for hit in results.hits:
            by_kind.setdefault(hit.kind, []).append(hit)
        self._local_ticket_ids = {h.ticket_id for h in results.hits if h.ticket_id}
        number_match = _NUMBER.match(query)
        number = int(number_match.group(1)) if number_match else None
        for kind, section in SECTION_TITLES.items():
            hits = by_kind.get(kind, [])
            if not hits:
                continue
            rows.append(PaletteRow(RowKind.HEADER, section))
            rows.extend(_hit_row(hit) for hit in hits)
        number_found = number is not None and any(
            h.kind == "ticket" and h.title.startswith(f"#{number} ") for h in results.hits
        )
        if not results.hits:
            rows.append(
                PaletteRow(RowKind.NOTICE, f"Nothing on this workstation matches “{query}”")
            )
        if number is not None and number >= 1 and not number_found:
            rows.append(self._fetch_number_row(number))
        rows.append(self._server_action_row())
        previous = self.model.row_at(self.results_view.currentIndex()) if same_query else None
        self.model.set_rows(rows)
        if previous is None or not self._reselect(previous):
            self._select_first()
        count = len(results.hits)
        self.status_label.setText(
            f"{count} result{'s' if count != 1 else ''} · {results.elapsed_ms:.0f} ms"
        )
        self.resultsShown.emit(query)
        if self._open_when_shown:
            self._open_when_shown = False
            self.activate_current()

    def _entities_changed(self, notice: ChangeNotice) -> None:
        # While open, the answer follows the cache (a ticket arriving, a subject changing),
        # through the debounce so a catch-up's burst costs one search.  The agent's current
        # row stays current (see _reselect).
        if (
            self.isVisible()
            and self._query
            and not self._server_rows_shown()
            and {"ticket", "customer", "message"} & notice.entities.keys()
        ):
            self._debounce.start()

    def _server_rows_shown(self) -> bool:
        # Once the server was asked (its row replaced by its answer), a local change does not
        # throw that answer away: the agent asked for it.
        return self.model.rowCount() > 0 and self.model.find(RowKind.SERVER_ACTION) < 0

    def _reselect(self, previous: PaletteRow) -> bool:
        for n, row in enumerate(self.model.rows):
            if row.selectable and (row.kind, row.ticket_id, row.customer_id, row.number) == (
                previous.kind,
                previous.ticket_id,
                previous.customer_id,
                previous.number,
            ):
                index = self.model.index(n, 0)
                self.results_view.setCurrentIndex(index)
                self.results_view.scrollTo(index)
                return True
        return False

    def _fetch_number_row(self, number: int) -> PaletteRow:
        if self._bridge.online:
            return PaletteRow(
                RowKind.FETCH_NUMBER,
                f"Ticket #{number} is not on this workstation — fetch it from the server",
                number=number,
            )
        return PaletteRow(
            RowKind.FETCH_NUMBER,
            f"Ticket #{number} is not on this workstation, and you are offline",
            number=number,
            enabled=False,
        )

    def _server_action_row(self) -> PaletteRow:
        if self._bridge.online:
            return PaletteRow(RowKind.SERVER_ACTION, "Search older tickets on the server")
        return PaletteRow(
            RowKind.SERVER_ACTION,
            "Offline — older tickets on the server cannot be searched until you reconnect",
            enabled=False,
        )

    def _connection_changed(self, _status: ConnectionStatus) -> None:
        # Keep the server rows honest while the palette is open: offer them when online,
        # say "offline" when not.
        for n, row in enumerate(self.model.rows):
            if row.kind == RowKind.SERVER_ACTION:
                fresh = self._server_action_row()
            elif row.kind == RowKind.FETCH_NUMBER:
                fresh = self._fetch_number_row(row.number or 0)
            else:
                continue
            if fresh != row:
                self.model.update_row(n, fresh)

    def search_server(self) -> None:
        """Ask the server for older tickets matching the current query."""
        n = self.model.find(RowKind.SERVER_ACTION)
        query = self._query
        if n < 0 or not query:
            return
        if not self._bridge.online:
            self._connection_changed(self._bridge.status)
            return
        generation = self._generation
        self.model.replace(n, 1, [PaletteRow(RowKind.NOTICE, "Searching the server…")])

        def done(tickets: list[dict[str, Any]]) -> None:
            if generation != self._generation:
                return
            rows = [PaletteRow(RowKind.HEADER, "On the server")]
            for t in tickets:
                ticket_id = str(t.get("id", ""))
                number = t.get("number")
                subject = str(t.get("subject", ""))
                status = str(t.get("status", "")).replace("_", " ")
                cached = " · on this workstation" if ticket_id in self._local_ticket_ids else ""
                rows.append(
                    PaletteRow(
                        RowKind.SERVER_HIT,
                        f"#{number} {subject}" if number is not None else subject,
                        f"{status}{cached}",
                        hit_kind="ticket",
                        ticket_id=ticket_id,
                        number=number if isinstance(number, int) else None,
                    )
                )
            if not tickets:
                rows.append(PaletteRow(RowKind.NOTICE, "No tickets on the server match either"))
            self._replace_notice(rows)
            self.serverResultsShown.emit(query)

        def failed(exc: BaseException) -> None:
            if generation != self._generation:
                return
            if not isinstance(exc, KnownError | TimeoutError):
                self._bridge.taskFailed.emit(exc)
                return
            self._replace_notice([PaletteRow(RowKind.NOTICE, _server_trouble(exc))])
            self.serverResultsShown.emit(query)

        self._bridge.run(
            self._bridge.engine.search_remote(query[:SERVER_QUERY_MAX], SERVER_LIMIT),
            on_result=done,
            on_error=failed,
        )

    def _replace_notice(self, rows: list[PaletteRow]) -> None:
        for n, row in enumerate(self.model.rows):
            if row.kind == RowKind.NOTICE and row.title == "Searching the server…":
                self.model.replace(n, 1, rows)
                if self.results_view.currentIndex().row() < 0:
                    self._select_first()
                return

    # ---- keyboard and activation -------------------------------------------------------

    def _select_first(self) -> None:
        self.results_view.clearSelection()
        self.results_view.setCurrentIndex(QModelIndex())
        self.move_selection(1)

    def move_selection(self, steps: int) -> None:
        """Move the current result ``steps`` selectable rows down (negative: up)."""
        rows = self.model.rows
        selectable = [n for n, row in enumerate(rows) if row.selectable]
        if not selectable:
            return
        current = self.results_view.currentIndex().row()
        if current < 0 or current not in selectable:
            target = selectable[0] if steps > 0 else selectable[-1]
            if current >= 0:  # on a row that stopped being selectable: go to its neighbour
                after = [n for n in selectable if (n > current if steps > 0 else n < current)]
                target = after[0 if steps > 0 else -1] if after else target
        else:
            pos = selectable.index(current) + steps
            target = selectable[max(0, min(len(selectable) - 1, pos))]
        index = self.model.index(target, 0)
        self.results_view.setCurrentIndex(index)
        self.results_view.scrollTo(index)

    def activate_current(self) -> None:
        """Open what the current result is (Enter)."""
        if self._debounce.isActive() or self._searching:
            # Enter right after typing: open what the typed query finds ("#1234⏎"), not the
            # previous query's first hit.
            self._open_when_shown = True
            if self._debounce.isActive():
                self._search_now()
            return
        index = self.results_view.currentIndex()
        if index.isValid():
            self._activate_index(index)

    def _activate_index(self, index: QModelIndex) -> None:
        row = self.model.row_at(index)
        if row is None or not row.selectable:
            return
        if row.kind == RowKind.HIT:
            if row.hit_kind == "customer" and row.customer_id:
                self.accept()
                self.openCustomer.emit(row.customer_id)
            elif row.ticket_id:
                self.accept()
                self.openTicket.emit(row.ticket_id)
        elif row.kind == RowKind.SERVER_ACTION:
            self.search_server()
        elif row.kind == RowKind.SERVER_HIT and row.ticket_id:
            self._fetch_and_open(ticket_id=row.ticket_id, label=row.title)
        elif row.kind == RowKind.FETCH_NUMBER and row.number is not None:
            self._fetch_and_open(number=row.number, label=f"#{row.number}")

    def _fetch_and_open(
        self, *, ticket_id: str | None = None, number: int | None = None, label: str
    ) -> None:
        generation = self._generation
        self.status_label.setText(f"Fetching {label} from the server…")

        def done(bundle: dict[str, Any]) -> None:
            if generation != self._generation:
                return
            opened = str(bundle["ticket"]["id"])
            self.accept()
            self.openTicket.emit(opened)

        def failed(exc: BaseException) -> None:
            if not isinstance(exc, KnownError | TimeoutError):
                self._bridge.taskFailed.emit(exc)
                return
            if generation == self._generation:
                self.status_label.setText(_server_trouble(exc))

        self._bridge.run(
            self._bridge.engine.fetch_ticket(ticket_id=ticket_id, number=number),
            on_result=done,
            on_error=failed,
        )


def _hit_row(hit: SearchHit) -> PaletteRow:
    """A local hit; when the match is in the title itself (a ticket's subject, a customer's
    name) it is marked there instead of repeating the title as a snippet."""
    marked = hit.snippet.replace("\n", " ")
    unmarked = _unmarked(marked)
    title_marks = ""
    snippet = hit.snippet
    if unmarked and hit.title.endswith(unmarked) and "…" not in unmarked:
        title_marks, snippet = marked, ""
    return PaletteRow(
        RowKind.HIT,
        hit.title,
        snippet,
        hit_kind=hit.kind,
        ticket_id=hit.ticket_id,
        customer_id=hit.customer_id,
        title_marks=title_marks,
    )


def _server_trouble(exc: BaseException) -> str:
    """A known request failure in plain words, with what to do."""
    if isinstance(exc, RequestFailed):
        if exc.code == "not_found":
            return "The server has no such ticket, or you may not see it."
        return f"The server could not answer: {exc}"
    if isinstance(exc, TimeoutError):
        return "The server did not answer in time. Try again in a moment."
    return "Not connected to the server. Try again when you are back online."
