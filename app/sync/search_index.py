"""Cache-local search and activity tables, kept current by triggers on the replicated tables.

Nothing here is replicated: everything is derived from the cache's own rows, so a rebuild
(``cache._rebuild``) simply creates it again and the next sync refills it through the
triggers.  Three FTS5 tables and one small table:

* ``fts_tickets`` — ticket subjects.  External content (``tickets``): the text is not
  stored twice.  Tickets are only ever inserted, upserted (``ON CONFLICT DO UPDATE``, which
  keeps the rowid and fires UPDATE triggers) and deleted, so triggers see every change.
* ``fts_messages`` — message bodies, external content (``messages``), for the same reasons;
  this is the big one (a million bodies), so its only prefix index is for 3 characters and
  queries read it newest rowid first with a LIMIT (see ``app/sync/desk/search.py``).
* ``fts_customers`` — a customer's name and identity values (email, phone, handles), a
  regular FTS5 table keyed by the customer's rowid: its text comes from two tables, so it
  is written whole for a customer whenever either changes.
* ``ticket_activity`` — per ticket, when the customer last wrote and when an agent last
  answered (a reply or call that was not refused).  ``waiting_since`` (a generated column)
  is the customer's last message when no answer came after it; the ticket list sorts on it.
  WITHOUT ROWID: the list joins it by ticket id, one B-tree lookup per ticket instead of two.
  New messages reach it with the search index's batches (below); changed and deleted ones
  at once, through triggers.

New and changed rows reach the FTS tables through small queues (``<fts>_queue``, rowids
only) that ``index_pending`` empties in batches, one statement per table: see
``_external_content_index`` for why writing FTS5 from each row's trigger is too slow for a
catch-up.  The desk's ``SearchIndexer`` indexes the queues in the background, and before
every search and every read of waiting times, so what the desk shows is what the cache holds
(unless the engine holds the write lock right then: it never waits long for it).

The tokenizer folds case and diacritics (``unicode61 remove_diacritics 2``), so "Muller"
finds "Müller".
"""

# S608: every name spliced into SQL here is one of this module's own constants (table,
# column, trigger names); values are always bound parameters.
# ruff: noqa: S608

from __future__ import annotations

import re

from sqlalchemy import Connection

TOKENIZE = "unicode61 remove_diacritics 2"


def _external_content_index(table: str, fts: str, column: str, prefix: str) -> tuple[str, ...]:
    """An FTS5 index over ``table.column`` (external content: the text is not stored twice)
    and the triggers that feed it through ``<fts>_queue``.

    A new or changed row is only queued here; ``index_pending`` indexes the queue in one
    statement.  Writing FTS5 from a row trigger costs ~50 us a row instead of ~5: every
    statement of the engine's multi-row upserts opens a savepoint, and at each savepoint
    FTS5 flushes what it holds as a new tiny segment.  A catch-up of 100,000 changes would
    spend seconds there.  A row that leaves the table is taken out of the index at once
    (with the text it was indexed with, as external content requires) unless it is still
    queued, i.e. was never indexed.
    """
    queue = f"{fts}_queue"
    unqueued = f"NOT EXISTS (SELECT 1 FROM {queue} WHERE rid = old.rowid)"
    return (
        f"""
        CREATE VIRTUAL TABLE IF NOT EXISTS {fts} USING fts5(
            {column}, content='{table}', content_rowid='rowid',
            tokenize='{TOKENIZE}', prefix='{prefix}'
        )
        """,
        f"CREATE TABLE IF NOT EXISTS {queue} (rid INTEGER PRIMARY KEY)",
        f"""
        CREATE TRIGGER IF NOT EXISTS {fts}_ai AFTER INSERT ON {table} BEGIN
            INSERT INTO {queue} (rid) SELECT new.rowid
            WHERE NOT EXISTS (SELECT 1 FROM {queue} WHERE rid = new.rowid);
        END
        """,
        f"""
        CREATE TRIGGER IF NOT EXISTS {fts}_au AFTER UPDATE OF {column} ON {table}
        WHEN old.{column} IS NOT new.{column} BEGIN
            INSERT INTO {fts} ({fts}, rowid, {column})
            SELECT 'delete', old.rowid, old.{column} WHERE {unqueued};
            INSERT INTO {queue} (rid) SELECT new.rowid
            WHERE NOT EXISTS (SELECT 1 FROM {queue} WHERE rid = new.rowid);
        END
        """,
        f"""
        CREATE TRIGGER IF NOT EXISTS {fts}_ad AFTER DELETE ON {table} BEGIN
            INSERT INTO {fts} ({fts}, rowid, {column})
            SELECT 'delete', old.rowid, old.{column} WHERE {unqueued};
            DELETE FROM {queue} WHERE rid = old.rowid;
        END
        """,
    )


# An agent's answer to the customer: a reply or call the server did not refuse (a note is
# internal, an event is the system's, a failed reply never reached the customer).
_ANSWER = "m.author_type = 'agent' AND m.kind IN ('reply', 'call') AND m.delivery_state != 'failed'"

# When the customer last wrote and an agent last answered, recomputed from the whole thread:
# how a trigger brings ``ticket_activity`` up to date when a message changes or goes.
_RECOMPUTE_ACTIVITY = f"""UPDATE ticket_activity SET
            last_customer_at = (SELECT max(m.created_at) FROM messages m
                WHERE m.ticket_id = ticket_activity.ticket_id AND m.author_type = 'customer'),
            last_agent_at = (SELECT max(m.created_at) FROM messages m
                WHERE m.ticket_id = ticket_activity.ticket_id AND {_ANSWER})"""

# Order matters only for readability; every statement is idempotent (IF NOT EXISTS).
SCHEMA: tuple[str, ...] = (
    # ---- ticket activity (waiting time) -------------------------------------------------
    """
    CREATE TABLE IF NOT EXISTS ticket_activity (
        ticket_id TEXT PRIMARY KEY,
        last_customer_at DATETIME,
        last_agent_at DATETIME,
        waiting_since DATETIME GENERATED ALWAYS AS (
            CASE WHEN last_customer_at IS NOT NULL
                  AND (last_agent_at IS NULL OR last_agent_at < last_customer_at)
                 THEN last_customer_at END
        ) VIRTUAL
    ) WITHOUT ROWID
    """,
    # New messages reach ticket_activity with the search index's batches (index_pending,
    # from the messages queue): a trigger per row cost the engine ~5 us of CPU a message.
    # Changes and deletes, which are rare, recompute it at once from the whole thread.
    # An upsert that rewrites the same values (a replayed change) must stay cheap: recompute
    # only when something that decides the answer changed (delivery_state queued -> sent
    # does not; sent -> failed does).
    f"""
    CREATE TRIGGER IF NOT EXISTS activity_au AFTER UPDATE ON messages
    WHEN old.ticket_id IS NOT new.ticket_id
      OR old.author_type IS NOT new.author_type
      OR old.kind IS NOT new.kind
      OR old.created_at IS NOT new.created_at
      OR (old.delivery_state = 'failed') IS NOT (new.delivery_state = 'failed')
    BEGIN
        -- No OR REPLACE / upsert here: an outer upsert's conflict handling would override it.
        INSERT INTO ticket_activity (ticket_id)
        SELECT new.ticket_id
        WHERE NOT EXISTS (SELECT 1 FROM ticket_activity WHERE ticket_id = new.ticket_id);
        {_RECOMPUTE_ACTIVITY}
        WHERE ticket_id IN (old.ticket_id, new.ticket_id);
    END
    """,
    # Deleting a message matters only when it was the latest of its kind; a ticket's whole
    # thread going (delete_many) then costs a recompute now and then, not one per message.
    f"""
    CREATE TRIGGER IF NOT EXISTS activity_ad AFTER DELETE ON messages
    WHEN EXISTS (
        SELECT 1 FROM ticket_activity a WHERE a.ticket_id = old.ticket_id
          AND (a.last_customer_at = old.created_at OR a.last_agent_at = old.created_at)
    )
    BEGIN
        {_RECOMPUTE_ACTIVITY}
        WHERE ticket_id = old.ticket_id;
    END
    """,
    """
    CREATE TRIGGER IF NOT EXISTS activity_ticket_ad AFTER DELETE ON tickets BEGIN
        DELETE FROM ticket_activity WHERE ticket_id = old.id;
    END
    """,
    # ---- tickets and messages: external-content FTS5, fed through a queue -------------
    *(
        statement
        for table, fts, column, prefix in (
            ("tickets", "fts_tickets", "subject", "2 3"),
            ("messages", "fts_messages", "body", "3"),
        )
        for statement in _external_content_index(table, fts, column, prefix)
    ),
    # ---- customers: name and identity values, a regular FTS5 table -------------------
    f"""
    CREATE VIRTUAL TABLE IF NOT EXISTS fts_customers USING fts5(
        name, identities, tokenize='{TOKENIZE}', prefix='2 3'
    )
    """,
    "CREATE TABLE IF NOT EXISTS fts_customers_queue (rid INTEGER PRIMARY KEY)",
    """
    CREATE TRIGGER IF NOT EXISTS fts_customers_ai AFTER INSERT ON customers BEGIN
        INSERT INTO fts_customers_queue (rid) SELECT new.rowid
        WHERE NOT EXISTS (SELECT 1 FROM fts_customers_queue WHERE rid = new.rowid);
    END
    """,
    """
    CREATE TRIGGER IF NOT EXISTS fts_customers_au AFTER UPDATE OF name ON customers
    WHEN old.name IS NOT new.name BEGIN
        INSERT INTO fts_customers_queue (rid) SELECT new.rowid
        WHERE NOT EXISTS (SELECT 1 FROM fts_customers_queue WHERE rid = new.rowid);
    END
    """,
    """
    CREATE TRIGGER IF NOT EXISTS fts_customers_ad AFTER DELETE ON customers BEGIN
        DELETE FROM fts_customers_queue WHERE rid = old.rowid;
        DELETE FROM fts_customers WHERE rowid = old.rowid;
    END
    """,
    # Identities arrive after their customer (wire.upsert_many deletes and reinserts them):
    # each change queues that customer's entry to be written again.
    *(
        f"""
        CREATE TRIGGER IF NOT EXISTS fts_identities_{suffix} AFTER {event}
        ON customer_identities BEGIN
            INSERT INTO fts_customers_queue (rid)
            SELECT c.rowid FROM customers c WHERE c.id IN ({owners})
              AND NOT EXISTS (SELECT 1 FROM fts_customers_queue q WHERE q.rid = c.rowid);
        END
        """
        for suffix, event, owners in (
            ("ai", "INSERT", "new.customer_id"),
            ("au", "UPDATE", "old.customer_id, new.customer_id"),
            ("ad", "DELETE", "old.customer_id"),
        )
    ),
    # ---- indexes for the desk's reads -----------------------------------------------------
    # The ticket list's default order (newest update first, ties by id) read from the index
    # alone: 50,000 tickets in ~20 ms instead of ~65 ms of row lookups.  The customer panel
    # lists a customer's tickets newest first.
    "CREATE INDEX IF NOT EXISTS ix_desk_tickets_updated_id ON tickets (updated_at, id)",
    "CREATE INDEX IF NOT EXISTS ix_desk_tickets_customer_updated"
    " ON tickets (customer_id, updated_at)",
)

TABLES = (
    "ticket_activity",
    "fts_tickets",
    "fts_messages",
    "fts_customers",
    "fts_tickets_queue",
    "fts_messages_queue",
    "fts_customers_queue",
)


def create_search_schema(conn: Connection) -> None:
    """Create the search index and activity tables with their triggers (idempotent).

    When the tables are new but the cache already holds rows (an upgrade), they are filled
    from those rows at once.
    """
    existing = set(
        conn.exec_driver_sql(
            f"SELECT name FROM sqlite_master WHERE name IN ({', '.join('?' for _ in TABLES)})",
            TABLES,
        ).scalars()
    )
    if set(TABLES) - existing:
        # New, or partly there (made by an earlier build of this module): start clean, so
        # no trigger of another design survives CREATE ... IF NOT EXISTS.
        drop_search_schema(conn)
        for statement in SCHEMA:
            conn.exec_driver_sql(statement)
        rebuild_search(conn)
    else:
        for statement in SCHEMA:
            conn.exec_driver_sql(statement)
    for fts in FTS_TABLES:
        # FTS5 merges its segments during an insert when enough have piled up: now and then
        # a one-message batch took 150 ms, and a read of the list waited for it.  Merging is
        # left to merge_step, run by the desk's search indexer in the background when idle.
        conn.exec_driver_sql(f"INSERT INTO {fts} ({fts}, rank) VALUES ('automerge', 0)")


FTS_TABLES = ("fts_tickets", "fts_messages", "fts_customers")


def merge_step(conn: Connection, pages: int = 128) -> bool:
    """One bounded step of merging the index's segments (a few ms); True while any table
    has more to merge.  The caller's write transaction."""
    raw = conn.connection.driver_connection
    worked = False
    for fts in FTS_TABLES:
        before = raw.total_changes  # type: ignore[union-attr]
        conn.exec_driver_sql(f"INSERT INTO {fts} ({fts}, rank) VALUES ('merge', ?)", (pages,))
        # FTS5: a merge that found nothing to do changes at most one row
        if raw.total_changes - before >= 2:  # type: ignore[union-attr]
            worked = True
    return worked


TRIGGERS = tuple(
    m.group(1) for s in SCHEMA if (m := re.search(r"CREATE TRIGGER IF NOT EXISTS (\w+)", s))
)


def drop_search_schema(conn: Connection) -> None:
    """Drop the derived tables and the triggers that fill them (a trigger lives on the
    table it watches, so dropping the FTS table would leave it behind, failing every write
    to that table); ``create_search_schema`` makes them again."""
    for trigger in TRIGGERS:
        conn.exec_driver_sql(f"DROP TRIGGER IF EXISTS {trigger}")
    for name in TABLES:
        conn.exec_driver_sql(f"DROP TABLE IF EXISTS {name}")


def rebuild_search(conn: Connection) -> None:
    """Recompute every derived row from the cache's tables (after a bulk load, or to repair).

    Faster than the triggers for a bulk load: FTS5 builds its index in one pass.
    """
    for queue in ("fts_tickets_queue", "fts_messages_queue", "fts_customers_queue"):
        conn.exec_driver_sql(f"DELETE FROM {queue}")
    conn.exec_driver_sql("INSERT INTO fts_tickets (fts_tickets) VALUES ('rebuild')")
    conn.exec_driver_sql("INSERT INTO fts_messages (fts_messages) VALUES ('rebuild')")
    conn.exec_driver_sql("DELETE FROM fts_customers")
    conn.exec_driver_sql(
        """
        INSERT INTO fts_customers (rowid, name, identities)
        SELECT c.rowid, c.name, (SELECT group_concat(i.value, ' ') FROM customer_identities i
                                  WHERE i.customer_id = c.id)
        FROM customers c
        """
    )
    conn.exec_driver_sql("DELETE FROM ticket_activity")
    conn.exec_driver_sql(
        f"""
        INSERT INTO ticket_activity (ticket_id, last_customer_at, last_agent_at)
        SELECT m.ticket_id,
            max(CASE WHEN m.author_type = 'customer' THEN m.created_at END),
            max(CASE WHEN {_ANSWER} THEN m.created_at END)
        FROM messages m
        GROUP BY m.ticket_id
        HAVING count(CASE WHEN m.author_type = 'customer' OR ({_ANSWER}) THEN 1 END) > 0
        """
    )


def pending_count(conn: Connection) -> int:
    """Rows written since they were last indexed (0: search sees everything)."""
    return int(
        conn.exec_driver_sql(
            "SELECT (SELECT count(*) FROM fts_tickets_queue)"
            " + (SELECT count(*) FROM fts_messages_queue)"
            " + (SELECT count(*) FROM fts_customers_queue)"
        ).scalar()
        or 0
    )


def index_pending(conn: Connection, limit: int = 5000) -> int:
    """Index up to ``limit`` queued rows of each table (the caller's write transaction);
    returns how many were indexed.  Each table's batch is one statement: FTS5 builds its
    segment in one go."""
    done = 0
    for table, fts, column in (
        ("tickets", "fts_tickets", "subject"),
        ("messages", "fts_messages", "body"),
    ):
        queue = f"{fts}_queue"
        bound = _batch_bound(conn, queue, limit)
        if bound is None:
            continue
        if table == "messages":
            _merge_activity(conn, bound)
        done += conn.exec_driver_sql(
            f"INSERT INTO {fts} (rowid, {column}) SELECT t.rowid, t.{column} FROM {queue} q "
            f"CROSS JOIN {table} t ON t.rowid = q.rid WHERE q.rid <= ? ORDER BY q.rid",
            (bound,),
        ).rowcount
        conn.exec_driver_sql(f"DELETE FROM {queue} WHERE rid <= ?", (bound,))
    bound = _batch_bound(conn, "fts_customers_queue", limit)
    if bound is not None:
        conn.exec_driver_sql(
            "DELETE FROM fts_customers WHERE rowid IN "
            "(SELECT rid FROM fts_customers_queue WHERE rid <= ?)",
            (bound,),
        )
        done += conn.exec_driver_sql(
            """
            INSERT INTO fts_customers (rowid, name, identities)
            SELECT c.rowid, c.name, (SELECT group_concat(i.value, ' ')
                                       FROM customer_identities i WHERE i.customer_id = c.id)
            FROM fts_customers_queue q CROSS JOIN customers c ON c.rowid = q.rid
            WHERE q.rid <= ?
            """,
            (bound,),
        ).rowcount
        conn.exec_driver_sql("DELETE FROM fts_customers_queue WHERE rid <= ?", (bound,))
    return done


def _merge_activity(conn: Connection, bound: int) -> None:
    """Fold the queued messages (rowid <= ``bound``) into their tickets' activity.

    Taking the later of the stored and the new times is exact for new rows; rows changed or
    deleted since they were queued were already accounted for by the recomputing triggers.
    """
    conn.exec_driver_sql(
        f"""
        INSERT INTO ticket_activity (ticket_id, last_customer_at, last_agent_at)
        SELECT * FROM (
            SELECT m.ticket_id,
                max(CASE WHEN m.author_type = 'customer' THEN m.created_at END) AS c,
                max(CASE WHEN {_ANSWER} THEN m.created_at END) AS a
            -- CROSS JOIN fixes the order: walk the (short) queue and look each message up
            -- by rowid.  Left to itself the planner walks every message in ticket order for
            -- the GROUP BY (124 ms at 1M messages, for a single queued row).
            FROM fts_messages_queue q CROSS JOIN messages m ON m.rowid = q.rid
            WHERE q.rid <= ?
            GROUP BY m.ticket_id
        ) WHERE c IS NOT NULL OR a IS NOT NULL
        ON CONFLICT (ticket_id) DO UPDATE SET
            last_customer_at = CASE WHEN excluded.last_customer_at IS NOT NULL
                AND (last_customer_at IS NULL OR last_customer_at < excluded.last_customer_at)
                THEN excluded.last_customer_at ELSE last_customer_at END,
            last_agent_at = CASE WHEN excluded.last_agent_at IS NOT NULL
                AND (last_agent_at IS NULL OR last_agent_at < excluded.last_agent_at)
                THEN excluded.last_agent_at ELSE last_agent_at END
        """,
        (bound,),
    )


def _batch_bound(conn: Connection, queue: str, limit: int) -> int | None:
    """The highest queued rowid of the next batch of ``limit``, or None if none is queued."""
    value = conn.exec_driver_sql(
        f"SELECT max(rid) FROM (SELECT rid FROM {queue} ORDER BY rid LIMIT ?)", (limit,)
    ).scalar()
    return None if value is None else int(value)


# ---- query building ------------------------------------------------------------------------

# A word as the tokenizer sees it: letters, digits and the marks that belong to them.
_WORD = re.compile(r"[^\W_]+(?:[\u0300-\u036f]*[^\W_]*)*", re.UNICODE)


def match_expression(query: str, min_prefix: int = 1) -> str | None:
    """An FTS5 MATCH expression for what the agent typed, or None when it holds no word.

    Each whitespace-separated chunk becomes one quoted string, which FTS5 tokenizes with the
    index's own tokenizer: "zoe@mail.test" finds that address as a phrase, and nothing the
    agent types is FTS syntax (``AND``, ``NEAR(``, ``*``, ``"``, parentheses are just
    text).  Every chunk must match.  The last word is a prefix (the agent is still typing
    it) unless the query ends with a space or the word is shorter than ``min_prefix``: on a
    million messages, "a*" would merge the lists of thousands of words only to show the
    newest fifty.
    """
    # A NUL ends the string for FTS5's parser ("unterminated string"): it separates words.
    chunks = [c for c in query.replace("\x00", " ").split() if _WORD.search(c)][:16]
    if not chunks:
        return None
    terms = ['"' + c.replace('"', '""') + '"' for c in chunks]
    last_word = _WORD.findall(chunks[-1])[-1]
    if not query[-1:].isspace() and len(last_word) >= min_prefix:
        terms[-1] += "*"
    return " ".join(terms)
