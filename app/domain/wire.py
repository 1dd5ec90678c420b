"""Replicated records as plain dicts: what the change log stores and the wire carries.

One entity name per replicated kind (`app.domain.kinds.Kind`, registered in
`app.domain.registry.DOMAIN`).  A kind's aggregates (an agent's ``group_ids``, a customer's
``identities``) travel inside its rows, so one change row describes the whole thing.
Everything here takes a SQLAlchemy ``Connection`` and works on SQLite and PostgreSQL alike.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterable, Mapping
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, Dialect, delete, insert, select

from app.domain.kinds import Aggregate, Kind
from app.domain.registry import DOMAIN
from app.models.base import UTCDateTime
from app.models.sqlite import BulkUpsert

Row = dict[str, Any]


# The declared kinds by entity name, in bootstrap order: the registry's own dict, always current.
ENTITIES: Mapping[str, Kind] = DOMAIN.kinds


def to_wire(entity: str, row: Mapping[Any, Any]) -> Row:
    """A table row as a JSON-ready dict: datetimes become ISO 8601 strings in UTC."""
    kind = ENTITIES[entity]
    out: Row = {name: row[name] for name in kind.columns}
    for name in kind.datetime_columns:
        value = out[name]
        if value is not None:
            out[name] = value.isoformat()
    return out


def from_wire(entity: str, data: Mapping[str, Any]) -> Row:
    """The table columns of a wire dict, ISO strings parsed back into aware datetimes."""
    kind = ENTITIES[entity]
    out: Row = {}
    for name in kind.columns:
        if name not in data:
            continue
        value = data[name]
        if name in kind.datetime_columns and isinstance(value, str):
            value = datetime.fromisoformat(value)
        out[name] = value
    return out


def load(conn: Connection, entity: str, entity_id: str) -> Row | None:
    """The full wire form of one entity, aggregates included; None if it does not exist."""
    rows = load_many(conn, entity, [entity_id])
    return rows[0] if rows else None


def load_many(conn: Connection, entity: str, ids: Iterable[str]) -> list[Row]:
    """Wire forms of several entities of one kind (missing ids are skipped)."""
    kind = ENTITIES[entity]
    id_list = list(ids)
    if not id_list:
        return []
    out: list[Row] = []
    for start in range(0, len(id_list), 500):
        chunk = id_list[start : start + 500]
        rows = conn.execute(select(kind.table).where(kind.table.c.id.in_(chunk))).mappings()
        out.extend(to_wire(entity, r) for r in rows)
    attach_aggregates(conn, entity, out)
    return out


def attach_aggregates(conn: Connection, entity: str, rows: list[Row]) -> None:
    """Add each aggregate of the kind (``group_ids``, ``identities``) to its rows, in place."""
    if not rows:
        return
    for aggregate in ENTITIES[entity].aggregates:
        _attach(conn, aggregate, rows)


def _attach(conn: Connection, aggregate: Aggregate, rows: list[Row]) -> None:
    by_id = {r["id"]: r for r in rows}
    for r in rows:
        r[aggregate.field] = []
    table = aggregate.table
    parent = table.c[aggregate.parent_column]
    columns = [table.c[c] for c in aggregate.columns]
    ids = list(by_id)
    for start in range(0, len(ids), 500):
        q = (
            select(parent, *columns)
            .where(parent.in_(ids[start : start + 500]))
            .order_by(*(table.c[c] for c in aggregate.order_by))
        )
        for owner, *values in conn.execute(q):
            if aggregate.scalar:
                by_id[owner][aggregate.field].append(values[0])
            else:
                by_id[owner][aggregate.field].append(
                    dict(zip(aggregate.columns, values, strict=True))
                )


def upsert_many(conn: Connection, entity: str, rows: list[Row]) -> None:
    """Write wire rows into an SQLite cache, replacing what is there (idempotent)."""
    if not rows:
        return
    # Rows of one statement must share their keys; a full snapshot always has every column.
    _upsert(ENTITIES[entity], frozenset(rows[0]), conn.dialect).execute(conn, rows)
    for aggregate in ENTITIES[entity].aggregates:
        _replace_children(conn, aggregate, rows)


def _replace_children(conn: Connection, aggregate: Aggregate, rows: list[Row]) -> None:
    table = aggregate.table
    parent = aggregate.parent_column
    conn.execute(delete(table).where(table.c[parent].in_([r["id"] for r in rows])))
    children: list[dict[str, Any]] = []
    for r in rows:
        for value in r.get(aggregate.field, []):
            child = {aggregate.columns[0]: value} if aggregate.scalar else dict(value)
            child[parent] = r["id"]
            children.append(child)
    if children:
        conn.execute(insert(table).prefix_with(f"OR {aggregate.on_conflict}"), children)


@functools.lru_cache(maxsize=64)
def _upsert(kind: Kind, columns: frozenset[str], dialect: Dialect) -> BulkUpsert:
    names = [c for c in kind.columns if c in columns]
    converters = {c: _stored_datetime(dialect) for c in names if c in kind.datetime_columns}
    return BulkUpsert(kind.table, names, dialect, converters)


def _stored_datetime(dialect: Dialect) -> Callable[[Any], Any]:
    """Wire datetime (ISO 8601 text) -> the value SQLite stores for a ``UTCDateTime``."""
    slow = UTCDateTime()._cached_bind_processor(dialect)
    assert slow is not None

    def convert(value: Any) -> Any:
        if not isinstance(value, str):
            return slow(value)
        parsed = datetime.fromisoformat(value)  # cheap, and refuses what is not a datetime
        # The wire's "2026-11-23T09:23:42.792606+00:00" is stored as "2026-11-23 09:23:42.792606":
        # slicing saves converting and formatting, 100k times in a catch-up.  Other forms (no
        # microseconds, another offset) take the long way.
        if len(value) == 32 and value.endswith("+00:00"):
            return f"{value[:10]} {value[11:26]}"
        return slow(parsed)

    return convert


def delete_many(conn: Connection, entity: str, ids: list[str]) -> None:
    """Remove rows from a cache; the rows of kinds kept with them (a ticket's messages) go too."""
    if not ids:
        return
    for child in ENTITIES.values():
        if child.parent == entity:
            parent_column = child.keep.column  # type: ignore[attr-defined]
            conn.execute(delete(child.table).where(child.table.c[parent_column].in_(ids)))
    kind = ENTITIES[entity]
    conn.execute(delete(kind.table).where(kind.table.c.id.in_(ids)))
