"""Alembic environment: always run against the connection the server hands over."""

from __future__ import annotations

from alembic import context

import app.models.server_tables  # noqa: F401
from app.models.base import Base

config = context.config
connection = config.attributes.get("connection")
if connection is None:  # `alembic` command line: build the engine from the configured URL
    from sqlalchemy import create_engine

    engine = create_engine(config.get_main_option("sqlalchemy.url") or "")
    connection = engine.connect()

context.configure(
    connection=connection,
    target_metadata=Base.metadata,
    render_as_batch=True,  # SQLite needs table copies for most ALTERs
    compare_type=True,
)
with context.begin_transaction():
    context.run_migrations()
