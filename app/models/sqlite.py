"""SQLite engines as both the server store and the workstation cache want them.

Python's sqlite3 module begins transactions lazily and only before writes, which breaks
SAVEPOINTs and lets a multi-statement read see two different snapshots.  We take over: the
driver runs in autocommit mode and SQLAlchemy's "begin" emits a real BEGIN (IMMEDIATE for a
writer, so it never has to upgrade a read lock and die with "database is locked").
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

from sqlalchemy import Connection, Dialect, Engine, Table, bindparam, create_engine, event
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

WRITE = {"sqlite_begin": "IMMEDIATE"}  # execution options for a writing connection
BUSY_TIMEOUT_MS = 10_000  # how long a statement waits for another connection's lock
# Execution option: the ``synchronous`` level of one transaction, where it may differ from the
# engine's (SQLite only lets it change between transactions, so it is set before each BEGIN).
SYNCHRONOUS = "sqlite_synchronous"


def sqlite_engine(
    url: str,
    *,
    synchronous: str = "NORMAL",
    foreign_keys: bool = True,
    cache_kib: int | None = None,
    checkpoint_pages: int | None = None,
) -> Engine:
    """An engine on an SQLite file in WAL mode with real transactions.

    A replica holds a partial view (a ticket may arrive before, or without, its customer), so
    the workstation cache turns foreign-key enforcement off; the server store keeps it on.
    ``cache_kib`` (page cache per connection) and ``checkpoint_pages`` (WAL size that triggers
    a checkpoint) default to SQLite's own 2,000 KiB and 1,000 pages.
    """
    if synchronous not in ("NORMAL", "FULL"):
        raise ValueError(f"unsupported synchronous mode {synchronous!r}")
    engine = create_engine(url, connect_args={"check_same_thread": False})

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_conn: Any, record: Any) -> None:
        dbapi_conn.isolation_level = None  # we issue BEGIN ourselves, below
        cur = dbapi_conn.cursor()
        # WAL: readers never block the writer.  NORMAL keeps every committed transaction
        # across a process crash; only a power cut can lose the last few.
        cur.execute("PRAGMA journal_mode=WAL")
        cur.execute(f"PRAGMA synchronous={synchronous}")
        cur.execute(f"PRAGMA foreign_keys={'ON' if foreign_keys else 'OFF'}")
        cur.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}")
        if cache_kib is not None:
            cur.execute(f"PRAGMA cache_size=-{int(cache_kib)}")
        if checkpoint_pages is not None:
            cur.execute(f"PRAGMA wal_autocheckpoint={int(checkpoint_pages)}")
        cur.close()
        record.info[SYNCHRONOUS] = synchronous

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Any) -> None:
        options = conn.get_execution_options()
        level = options.get(SYNCHRONOUS, synchronous)
        info = conn.connection.info  # lives as long as the DBAPI connection
        if info.get(SYNCHRONOUS) != level:
            if level not in ("NORMAL", "FULL"):
                raise ValueError(f"unsupported synchronous mode {level!r}")
            conn.exec_driver_sql(f"PRAGMA synchronous={level}")
            info[SYNCHRONOUS] = level
        mode = options.get("sqlite_begin", "")
        conn.exec_driver_sql("BEGIN IMMEDIATE" if mode == "IMMEDIATE" else "BEGIN")

    return engine


class BulkUpsert:
    """``INSERT .. ON CONFLICT (id) DO UPDATE`` of some columns of a table, compiled once.

    For pages of thousands of rows, SQLAlchemy's per-execution work (statement cache key,
    per-row bind processing) costs more than SQLite itself, so the statement is compiled to
    driver SQL once and each row becomes a plain tuple.  Values pass through the columns' own
    bind processors (JSON, ...) unless ``converters`` gives a cheaper equivalent for a column.
    """

    def __init__(
        self,
        table: Table,
        columns: Sequence[str],
        dialect: Dialect,
        converters: Mapping[str, Callable[[Any], Any]] | None = None,
    ) -> None:
        stmt = sqlite_insert(table).values({c: bindparam(c) for c in columns})
        stmt = stmt.on_conflict_do_update(
            index_elements=["id"], set_={c: stmt.excluded[c] for c in columns if c != "id"}
        )
        compiled = stmt.compile(dialect=dialect)
        self.sql = str(compiled)
        self.columns = tuple(compiled.positiontup or ())
        if sorted(self.columns) != sorted(columns):
            raise ValueError(f"unexpected parameters {self.columns} for {list(columns)}")
        convert: dict[str, Callable[[Any], Any]] = {}
        for name in self.columns:
            custom = (converters or {}).get(name)
            processor = table.c[name].type._cached_bind_processor(dialect)
            if custom is not None or processor is not None:
                convert[name] = custom or processor  # type: ignore[assignment]
        self._converted = [(self.columns.index(n), f) for n, f in convert.items()]

    def execute(self, conn: Connection, rows: Iterable[Mapping[str, Any]]) -> None:
        """Upsert ``rows`` (each must have every column of this statement)."""
        params = []
        for row in rows:
            values = [row[c] for c in self.columns]
            for index, convert in self._converted:
                values[index] = convert(values[index])
            params.append(tuple(values))
        if params:
            conn.exec_driver_sql(self.sql, params)
