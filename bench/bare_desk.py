"""The bare engines under the desk: the same work as the desk's list and search, with nothing
of ours in the way (see ``bench/bare.py`` for the core scenarios' ones).

* Scrolling: a plain ``QTableView`` over an in-memory ``QAbstractTableModel`` holding the
  same 50,000 rows' texts, the same size and font as the ticket list, driven through the same
  wheel notches, page steps and scroll-bar jumps.  Ours pages rows in from SQLite on a reader
  thread, formats them and styles them; this one has every row's text in hand.
* Search: the same three FTS5 queries (ticket subjects and customers by rank, message bodies
  newest first), with the same match expressions, limits and snippets, through the standard
  library's ``sqlite3`` on the calling thread: no reader pool, no thread hop, no check of the
  search index's queue, no joins to the tickets and no hit objects.

Run inside the desk probe (``bench/desk_probe.py``), on the same cache file and screen.
"""

from __future__ import annotations

import sqlite3
import time
from pathlib import Path
from typing import Any

from PySide6.QtCore import QAbstractTableModel, QModelIndex, QPersistentModelIndex, Qt
from PySide6.QtWidgets import QAbstractItemView, QHeaderView, QTableView

from app.sync.search_index import match_expression

_LIST_SQL = (
    "SELECT t.number, t.subject, c.name, t.status, t.priority, t.channel, a.name, "
    "t.updated_at, '' FROM tickets t "
    "LEFT JOIN customers c ON c.id = t.customer_id "
    "LEFT JOIN agents a ON a.id = t.assignee_id ORDER BY t.updated_at DESC"
)


class BareTickets(QAbstractTableModel):
    """Every row's texts in a Python list: what a model costs with no paging and no styling."""

    def __init__(self, rows: list[tuple[str, ...]], headers: list[str]) -> None:
        super().__init__()
        self._rows = rows
        self._headers = headers

    def rowCount(self, parent: QModelIndex | QPersistentModelIndex | None = None) -> int:
        return 0 if parent is not None and parent.isValid() else len(self._rows)

    def columnCount(self, parent: QModelIndex | QPersistentModelIndex | None = None) -> int:
        return 0 if parent is not None and parent.isValid() else len(self._headers)

    def headerData(self, section: int, orientation: Qt.Orientation, role: int = 0) -> Any:
        if role == Qt.ItemDataRole.DisplayRole and orientation == Qt.Orientation.Horizontal:
            return self._headers[section]
        return None

    def data(self, index: QModelIndex | QPersistentModelIndex, role: int = 0) -> Any:
        if role == Qt.ItemDataRole.DisplayRole:
            return self._rows[index.row()][index.column()]
        return None


def bare_table(cache: Path, like: QTableView, headers: list[str]) -> QTableView:
    """A top-level plain ``QTableView`` the size of ``like``, over the cache's tickets, shown."""
    with sqlite3.connect(cache) as conn:
        rows = [tuple("" if v is None else str(v) for v in r) for r in conn.execute(_LIST_SQL)]
    table = QTableView()
    table.setModel(BareTickets(rows, headers))
    table.setFont(like.font())
    table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
    table.verticalHeader().setSectionResizeMode(QHeaderView.ResizeMode.Fixed)
    table.verticalHeader().setDefaultSectionSize(like.verticalHeader().defaultSectionSize())
    table.verticalHeader().hide()
    table.horizontalHeader().setStretchLastSection(True)
    for column in range(len(headers)):
        table.setColumnWidth(column, like.columnWidth(column))
    table.resize(like.size())
    table.show()
    return table


def fts5_search(cache: Path, queries: list[str], limit: int) -> list[float]:
    """Milliseconds per query for the search's bare FTS5 queries, each query once in order."""
    ticket_cap = max(1, limit // 2)
    customer_cap = max(1, limit // 4)
    timings: list[float] = []
    conn = sqlite3.connect(cache)
    try:
        conn.execute("PRAGMA query_only=1")
        for query in queries:
            t0 = time.perf_counter()
            match = match_expression(query, min_prefix=2)
            if match is not None:
                conn.execute(
                    "SELECT rowid, snippet(fts_tickets, 0, char(2), char(3), '…', 16) "
                    "FROM fts_tickets WHERE fts_tickets MATCH ? ORDER BY rank LIMIT ?",
                    (match, ticket_cap + 1),
                ).fetchall()
                conn.execute(
                    "SELECT rowid, snippet(fts_customers, -1, char(2), char(3), '…', 12) "
                    "FROM fts_customers WHERE fts_customers MATCH ? ORDER BY rank LIMIT ?",
                    (match, customer_cap),
                ).fetchall()
            message_match = match_expression(query, min_prefix=3)
            if message_match is not None:
                conn.execute(
                    "SELECT rowid, snippet(fts_messages, 0, char(2), char(3), '…', 16) "
                    "FROM fts_messages WHERE fts_messages MATCH ? ORDER BY rowid DESC LIMIT ?",
                    (message_match, limit),
                ).fetchall()
            timings.append((time.perf_counter() - t0) * 1000)
    finally:
        conn.close()
    return timings
