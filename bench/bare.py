"""The bare engines underneath: the same work with nothing of ours in the way.

Each core scenario reports, beside its own figure, what the engine it stands on does with the
same work, measured in the same run (absolute times vary from machine to machine; the ratio
between the two holds):

* the writer: SQLite batch commits of the same rows (a message, its ticket's new version and
  two change-log rows per note) at the store's durability (WAL, ``synchronous=FULL``), with
  the standard library's ``sqlite3`` and nothing else;
* catch-up and bootstrap: one bulk insert of the same rows into a fresh file with the cache's
  tables (without our search triggers) at the cache's durability for received pages.

The fan-out's bare engine is a process of its own (``bench.bare_server``).
"""

from __future__ import annotations

import json
import sqlite3
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

WRITER_BATCH = 500  # the server writer's largest batch, which a busy writer fills
WRITER_SECONDS = 3.0

_MESSAGE_COLUMNS = (
    "id, ticket_id, kind, author_type, author_agent_id, author_customer_id, body, created_at, "
    "delivery_state"
)
_LOG_COLUMNS = (
    "entity, entity_id, op, fields, data, actor_id, origin, workstation_id, ticket_version, "
    "created_at, audience, group_id, agent_id, audience_changed"
)


def _open(path: Path, synchronous: str) -> sqlite3.Connection:
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute(f"PRAGMA synchronous={synchronous}")
    conn.execute("PRAGMA cache_size=-16384")  # the store's and the cache's 16 MiB
    return conn


def sqlite_batch_commits(
    store: Path, tickets: list[str], agent_id: str, group_id: str, seconds: float = WRITER_SECONDS
) -> float:
    """Notes per second that bare SQLite commits into ``store`` in batches of WRITER_BATCH."""
    conn = _open(store, "FULL")
    versions = dict(conn.execute("SELECT id, version FROM tickets").fetchall())
    message_sql = f"INSERT INTO messages ({_MESSAGE_COLUMNS}) VALUES (?,?,?,?,?,?,?,?,?)"
    ticket_sql = "UPDATE tickets SET version = ?, updated_at = ? WHERE id = ?"
    log_sql = f"INSERT INTO change_log ({_LOG_COLUMNS}) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?)"
    done = 0
    started = time.perf_counter()
    try:
        while time.perf_counter() - started < seconds:
            messages, updates, log = [], [], []
            now = datetime.now(UTC).replace(tzinfo=None).isoformat(sep=" ")
            for i in range(WRITER_BATCH):
                ticket = tickets[(done + i) % len(tickets)]
                versions[ticket] += 1
                mid = str(uuid.uuid4())
                row = (
                    mid,
                    ticket,
                    "note",
                    "agent",
                    agent_id,
                    None,
                    f"bare {done + i}",
                    now,
                    "sent",
                )
                messages.append(row)
                updates.append((versions[ticket], now, ticket))
                data = json.dumps(dict(zip(_MESSAGE_COLUMNS.split(", "), row, strict=True)))
                common = (agent_id, "workstation", "bare")
                audience = (now, "staff", group_id, None, 0)
                log.append(("message", mid, "upsert", "[]", data, *common, None, *audience))
                log.append(
                    ("ticket", ticket, "upsert", '["thread"]', data, *common, versions[ticket],
                     *audience)
                )  # fmt: skip
            conn.execute("BEGIN IMMEDIATE")
            conn.executemany(message_sql, messages)
            conn.executemany(ticket_sql, updates)
            conn.executemany(log_sql, log)
            conn.execute("COMMIT")
            done += WRITER_BATCH
    finally:
        conn.close()
    return done / (time.perf_counter() - started)


def bulk_insert(cache: Path, workdir: Path, counts: dict[str, int]) -> float:
    """Seconds bare SQLite takes to insert ``counts[table]`` rows of each table, taken from the
    finished ``cache`` (repeated if it holds fewer, as replayed upserts are), into a fresh file
    with the same tables and indexes, in one transaction."""
    source = sqlite3.connect(cache)
    target_path = workdir / f"bare-{uuid.uuid4().hex}.db"
    target = _open(target_path, "NORMAL")  # received pages commit with NORMAL (cache.py)
    plans: list[tuple[str, list[Any]]] = []
    try:
        for table, count in counts.items():
            for (sql,) in source.execute(
                "SELECT sql FROM sqlite_master WHERE tbl_name = ? AND type IN ('table', 'index') "
                "AND sql IS NOT NULL",
                (table,),
            ):
                target.execute(sql)
            rows = source.execute(f'SELECT * FROM "{table}"').fetchall()
            if not rows:
                raise RuntimeError(f"the cache holds no {table}")
            plans.append((table, [rows[i % len(rows)] for i in range(count)]))
        started = time.perf_counter()
        target.execute("BEGIN IMMEDIATE")
        for table, rows in plans:
            marks = ",".join("?" * len(rows[0]))
            target.executemany(f'INSERT OR REPLACE INTO "{table}" VALUES ({marks})', rows)
        target.execute("COMMIT")
        return time.perf_counter() - started
    finally:
        source.close()
        target.close()
