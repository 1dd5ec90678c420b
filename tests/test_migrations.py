"""Migrations keep what the store holds honest: change-log rows written before the log named
its writer (``origin``, migration 0002) are not labelled with a writer they never had.

Each store is taken to an older revision, given the change-log rows that revision wrote, and
upgraded, as `tests/test_postgres.py` does for the schema: on an SQLite file and on the real
PostgreSQL.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from alembic import command
from sqlalchemy import Engine, insert, select, text
from sqlalchemy.exc import IntegrityError

from app.models.base import utcnow
from app.models.tables import T_IDENTITIES, T_LOG
from app.server.store import alembic_config, create_store_engine, migrate


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def empty_store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Engine]:
    """An empty store (no schema yet): an SQLite file, or a fresh PostgreSQL database."""
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'server.db'}"
    else:
        url = request.getfixturevalue("pg_url")
    engine = create_store_engine(url)
    yield engine
    engine.dispose()


def upgrade_to(engine: Engine, revision: str) -> None:
    with engine.begin() as conn:
        cfg = alembic_config(engine)
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, revision)


def log_rows(engine: Engine, rows: list[dict[str, Any]]) -> None:
    """Append change-log rows with the columns an older revision had (each row names its
    own: ``device_id`` before 0003, ``workstation_id`` and ``origin`` after)."""
    with engine.begin() as conn:
        for row in rows:
            values = {
                "entity": "ticket",
                "op": "upsert",
                "fields": "[]",
                "created_at": utcnow(),
                "audience": "all",
                "audience_changed": False,
                **row,
            }
            names = ", ".join(values)
            marks = ", ".join(f":{name}" for name in values)
            conn.execute(text(f"INSERT INTO change_log ({names}) VALUES ({marks})"), values)


def origins(engine: Engine) -> dict[str, str]:
    with engine.connect() as conn:
        rows = conn.execute(select(T_LOG.c.entity_id, T_LOG.c.origin))
        return {entity_id: origin for entity_id, origin in rows}


def test_rows_logged_before_0002_are_labelled_by_what_is_known_of_them(
    empty_store: Engine,
) -> None:
    """A store still at 0001: its rows with a device came from a workstation; of the others
    (the command line's, a seed's) nothing says which writer made them."""
    upgrade_to(empty_store, "0001")
    log_rows(
        empty_store,
        [
            {"entity_id": "t-desk", "actor_id": "a-ada", "device_id": "d-ada"},
            {"entity_id": "t-cli", "actor_id": "system", "device_id": None},
        ],
    )
    migrate(empty_store)
    assert origins(empty_store) == {"t-desk": "workstation", "t-cli": "unknown"}


def test_rows_labelled_workstation_by_the_first_0002_are_repaired(empty_store: Engine) -> None:
    """A store that ran 0002 as first released: every past row then read 'workstation'.  A
    workstation's change always names its workstation, so one that does not is repaired;
    rows written since 0002 keep the writer they named."""
    upgrade_to(empty_store, "0003")
    log_rows(  # as the first 0002 left them: its back-fill, then rows naming their writer
        empty_store,
        [
            {"entity_id": "t-past", "origin": "workstation", "workstation_id": None},
            {"entity_id": "t-desk", "origin": "workstation", "workstation_id": "d-ada"},
            {"entity_id": "t-cli", "origin": "command_line", "workstation_id": None},
            {"entity_id": "t-mail", "origin": "channel:email", "workstation_id": None},
        ],
    )
    migrate(empty_store)
    assert origins(empty_store) == {
        "t-past": "unknown",
        "t-desk": "workstation",
        "t-cli": "command_line",
        "t-mail": "channel:email",
    }


def test_a_new_row_that_does_not_name_its_writer_is_not_given_one(empty_store: Engine) -> None:
    """A change-log row that does not name its writer is refused by PostgreSQL; on SQLite
    (which cannot drop a column's default in place) it reads 'unknown', never a writer."""
    migrate(empty_store)
    row = {
        "entity": "ticket",
        "entity_id": "t-1",
        "op": "upsert",
        "fields": [],
        "created_at": utcnow(),
        "audience": "all",
        "audience_changed": False,
    }
    if empty_store.dialect.name == "postgresql":
        with pytest.raises(IntegrityError), empty_store.begin() as conn:
            conn.execute(insert(T_LOG), row)
    else:
        with empty_store.begin() as conn:
            conn.execute(insert(T_LOG), row)
        assert origins(empty_store) == {"t-1": "unknown"}


def test_0005_lets_customers_share_a_phone_but_not_an_email(empty_store: Engine) -> None:
    """After 0005 a phone number may belong to several customers (a family landline), an
    email address still to one; going back to 0004 keeps one owner of each shared number."""
    upgrade_to(empty_store, "0004")
    now = utcnow()
    with empty_store.begin() as conn:
        for cid in ("c-mum", "c-son"):
            conn.execute(
                text(
                    "INSERT INTO customers (id, name, tier, language, timezone, notes, "
                    "created_at, updated_at) VALUES (:id, :id, 'standard', 'en', 'UTC', '', "
                    ":now, :now)"
                ),
                {"id": cid, "now": now.replace(tzinfo=None)},
            )
        conn.execute(
            text(
                "INSERT INTO customer_identities (id, customer_id, kind, value) VALUES "
                "('i-1', 'c-mum', 'phone', '+442079460555'), "
                "('i-2', 'c-mum', 'email', 'mum@home.test')"
            )
        )
    migrate(empty_store)
    with empty_store.begin() as conn:
        conn.execute(
            insert(T_IDENTITIES),
            [{"id": "i-3", "customer_id": "c-son", "kind": "phone", "value": "+442079460555"}],
        )
    with pytest.raises(IntegrityError), empty_store.begin() as conn:
        conn.execute(
            insert(T_IDENTITIES),
            [{"id": "i-4", "customer_id": "c-son", "kind": "email", "value": "mum@home.test"}],
        )
    with empty_store.begin() as conn:
        cfg = alembic_config(empty_store)
        cfg.attributes["connection"] = conn
        command.downgrade(cfg, "0004")
    with empty_store.connect() as conn:
        phones = conn.execute(
            text("SELECT value FROM customer_identities WHERE kind = 'phone'")
        ).scalars()
        assert list(phones) == ["+442079460555"]
