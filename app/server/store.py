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
        return sqlite_engine(url)
    return create_engine(url, pool_size=pool_size, max_overflow=pool_size, pool_pre_ping=True)


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
