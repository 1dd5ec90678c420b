"""SQLite engines as both the server store and the workstation cache want them.

Python's sqlite3 module begins transactions lazily and only before writes, which breaks
SAVEPOINTs and lets a multi-statement read see two different snapshots.  We take over: the
driver runs in autocommit mode and SQLAlchemy's "begin" emits a real BEGIN (IMMEDIATE for a
writer, so it never has to upgrade a read lock and die with "database is locked").
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import Engine, create_engine, event

WRITE = {"sqlite_begin": "IMMEDIATE"}  # execution options for a writing connection


def sqlite_engine(url: str, *, synchronous: str = "NORMAL", foreign_keys: bool = True) -> Engine:
    """An engine on an SQLite file in WAL mode with real transactions.

    A replica holds a partial view (a ticket may arrive before, or without, its customer), so
    the workstation cache turns foreign-key enforcement off; the server store keeps it on.
    """
    if synchronous not in ("NORMAL", "FULL"):
        raise ValueError(f"unsupported synchronous mode {synchronous!r}")
    engine = create_engine(url, connect_args={"check_same_thread": False})

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_conn: Any, _record: Any) -> None:
        dbapi_conn.isolation_level = None  # we issue BEGIN ourselves, below
        cur = dbapi_conn.cursor()
        # WAL: readers never block the writer.  NORMAL keeps every committed transaction
        # across a process crash; only a power cut can lose the last few.
        cur.execute("PRAGMA journal_mode=WAL")
        cur.execute(f"PRAGMA synchronous={synchronous}")
        cur.execute(f"PRAGMA foreign_keys={'ON' if foreign_keys else 'OFF'}")
        cur.execute("PRAGMA busy_timeout=10000")
        cur.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Any) -> None:
        mode = conn.get_execution_options().get("sqlite_begin", "")
        conn.exec_driver_sql("BEGIN IMMEDIATE" if mode == "IMMEDIATE" else "BEGIN")

    return engine
