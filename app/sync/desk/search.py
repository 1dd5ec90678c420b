"""Search everywhere: tickets (by number or subject), customers (name, email, phone) and
message bodies, over the cache's FTS5 index (``app/sync/search_index.py``)."""

from __future__ import annotations

import re
import time

from sqlalchemy import Connection

from app.sync.desk.indexer import SearchIndexer
from app.sync.desk.pool import ReaderPool
from app.sync.desk_types import SearchHit, SearchResults
from app.sync.search_index import match_expression

_NUMBER = re.compile(r"^\s*#?\s*(\d{1,9})\s*$")

# Snippets mark the matched words with these control characters (SearchHit.snippet): they
# cannot be typed, so text with brackets ("[EXTERNAL]") is never taken for a match.
MATCH_START = "\x02"
MATCH_END = "\x03"


def _unmarked(text: str) -> str:
    """``text`` without the match marks (a snippet made from it marks only matches)."""
    return text.replace(MATCH_START, "").replace(MATCH_END, "")


class SearchReader:
    """Searches the cache; asks the search indexer for what is queued first."""

    def __init__(self, pool: ReaderPool, indexer: SearchIndexer) -> None:
        self._pool = pool
        self._indexer = indexer

    async def everywhere(self, query: str, limit: int = 50) -> SearchResults:
        """Search everywhere: tickets (by number or subject), customers (name, email, phone)
        and message bodies.

        Ticket hits come first (at most half of ``limit``), then customers (at most a
        quarter), then messages fill what is left, newest first.  Any input is safe: words
        are quoted, so nothing typed is FTS syntax; a query with no word finds nothing.
        """

        started = time.perf_counter()
        # The agent is waiting: if a catch-up is writing, search what is indexed already.
        await self._indexer.before_read()

        def work(conn: Connection) -> SearchResults:
            hits = _search(conn, query, max(0, limit))
            elapsed = (time.perf_counter() - started) * 1000
            return SearchResults(query, tuple(hits), elapsed)

        return await self._pool.read(work)


def _search(conn: Connection, query: str, limit: int) -> list[SearchHit]:
    hits: list[SearchHit] = []
    if limit <= 0:
        return hits
    seen_tickets: set[str] = set()
    number = _NUMBER.match(query)
    if number:
        r = conn.exec_driver_sql(
            "SELECT id, number, subject FROM tickets WHERE number = ?", (int(number.group(1)),)
        ).first()
        if r is not None:
            subject = _unmarked(r[2])
            hits.append(SearchHit("ticket", f"#{r[1]} {r[2]}", subject, ticket_id=r[0]))
            seen_tickets.add(r[0])
    match = match_expression(query, min_prefix=2)
    if match is None:
        return hits[:limit]
    ticket_cap = max(1, limit // 2)
    # Tickets and customers are small tables: rank by relevance.  Messages are a million
    # rows: newest first, which FTS5 reads in rowid order and stops at the LIMIT, instead
    # of ranking every message that contains a common word.
    for r in conn.exec_driver_sql(
        "SELECT t.id, t.number, t.subject, snippet(fts_tickets, 0, char(2), char(3), '…', 16) "
        "FROM fts_tickets JOIN tickets t ON t.rowid = fts_tickets.rowid "
        "WHERE fts_tickets MATCH ? ORDER BY rank LIMIT ?",
        (match, ticket_cap + 1),
    ):
        if r[0] in seen_tickets or len(hits) >= ticket_cap:
            continue
        seen_tickets.add(r[0])
        title = f"#{r[1]} {r[2]}" if r[1] is not None else r[2]
        hits.append(SearchHit("ticket", title, r[3], ticket_id=r[0]))
    customer_cap = max(1, limit // 4)
    for r in conn.exec_driver_sql(
        "SELECT c.id, c.name, snippet(fts_customers, -1, char(2), char(3), '…', 12) "
        "FROM fts_customers JOIN customers c ON c.rowid = fts_customers.rowid "
        "AND c.merged_into IS NULL "  # a merged customer is found as the one kept
        "WHERE fts_customers MATCH ? ORDER BY rank LIMIT ?",
        (match, customer_cap),
    ):
        hits.append(SearchHit("customer", r[1], r[2], customer_id=r[0]))
    room = limit - len(hits)
    message_match = match_expression(query, min_prefix=3)  # see match_expression
    # The activity trail's events are the system's record, not text an agent searches.
    if room > 0 and message_match is not None:
        rows = conn.exec_driver_sql(
            "SELECT m.ticket_id, t.number, t.subject, s.snip FROM ("
            "  SELECT rowid AS rid, snippet(fts_messages, 0, char(2), char(3), '…', 16) AS snip"
            "  FROM fts_messages WHERE fts_messages MATCH ? ORDER BY rowid DESC LIMIT ?"
            ") AS s JOIN messages m ON m.rowid = s.rid AND m.kind != 'event' "
            "LEFT JOIN tickets t ON t.id = m.ticket_id ORDER BY s.rid DESC",
            (message_match, room),
        )
        for r in rows:
            subject = r[2] or ""
            title = f"#{r[1]} {subject}" if r[1] is not None else subject
            hits.append(SearchHit("message", title, r[3], ticket_id=r[0]))
    return hits[:limit]
