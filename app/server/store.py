"""The server's store: an SQLite file (WAL) by default, PostgreSQL at scale.

Opening a store always brings its schema to the newest Alembic revision, so a server never
runs against a schema it does not know.
"""

from __future__ import annotations

import logging
from pathlib import Path

import platformdirs
from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Engine, create_engine
from sqlalchemy.engine import make_url

import app.models.server_tables  # noqa: F401  (registers the server-only tables)
from app.models.sqlite import sqlite_engine

log = logging.getLogger(__name__)
MIGRATIONS = Path(__file__).with_name("migrations")

# SQLite store pragmas (see app.models.sqlite for the rest: WAL, real BEGINs, busy timeout).
#
# synchronous=FULL: each commit fsyncs the WAL before the batch is answered, so an
# acknowledged mutation survives a power cut or kernel crash, not only a killed process.
# NORMAL would skip that fsync, and after a power cut SQLite would hand out the lost seqs
# again: a workstation whose cursor had passed them would silently miss the new rows.  The
# writer commits once per batch, so the fsync is paid per batch, not per mutation: on this
# machine's ext4 disk writer_throughput measured 4,384/s with FULL against 4,589/s with NORMAL.
STORE_SYNCHRONOUS = "FULL"
STORE_CACHE_KIB = 16 * 1024  # page cache per connection: random-id indexes (default 2 MiB)
# Checkpoints are the server's job (checkpoint_wal, from a reader thread, every
# CHECKPOINT_INTERVAL_S): SQLite's own run inside the committing transaction, on the writer
# thread, fsync included, before the batch is answered.  Its own at this WAL size (about
# 40 MiB) are only a safety net, should the server's stop happening.
SAFETY_CHECKPOINT_PAGES = 10_000
CHECKPOINT_INTERVAL_S = 0.25


def default_db_url() -> str:
    """An SQLite file in the platform's data directory."""
    data_dir = Path(platformdirs.user_data_dir("switchboard-server", "Switchboard"))
    data_dir.mkdir(parents=True, exist_ok=True)
    return f"sqlite:///{data_dir / 'server.db'}"


def is_sqlite(engine: Engine) -> bool:
    return engine.dialect.name == "sqlite"


def create_store_engine(url: str, *, pool_size: int = 5) -> Engine:
    """An engine for the store at ``url`` (an SQLAlchemy URL), without touching the schema."""
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        if parsed.database in (None, "", ":memory:"):
            raise ValueError("the server store must be an SQLite file, not an in-memory database")
        Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
        return sqlite_engine(
            url,
            synchronous=STORE_SYNCHRONOUS,
            cache_kib=STORE_CACHE_KIB,
            checkpoint_pages=SAFETY_CHECKPOINT_PAGES,
        )
    return create_engine(url, pool_size=pool_size, max_overflow=pool_size, pool_pre_ping=True)


def checkpoint_wal(engine: Engine) -> None:
    """Copy what the WAL holds into the database file, blocking no reader or writer.

    PASSIVE does what it can without waiting for locks; what a reader still needs is left for
    the next time.  A no-op on PostgreSQL.
    """
    if not is_sqlite(engine):
        return
    raw = engine.raw_connection()  # the driver runs in autocommit mode: no transaction open
    try:
        raw.driver_connection.execute("PRAGMA wal_checkpoint(PASSIVE)").close()  # type: ignore[union-attr]
    finally:
        raw.close()


def alembic_config(engine: Engine) -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    cfg.attributes["engine"] = engine
    return cfg


def migrate(engine: Engine) -> None:
    """Bring the schema to the newest revision (creating it on an empty database)."""
    with engine.begin() as conn:
        cfg = alembic_config(engine)
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, "head")


def schema_is_current(engine: Engine) -> bool:
    head = ScriptDirectory.from_config(alembic_config(engine)).get_current_head()
    with engine.connect() as conn:
        return MigrationContext.configure(conn).get_current_revision() == head


def open_store(url: str) -> Engine:
    """Open (and migrate) the store at ``url``."""
    engine = create_store_engine(url)
    migrate(engine)
    log.info("store ready at %s", make_url(url).render_as_string(hide_password=True))
    return engine
