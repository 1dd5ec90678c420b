"""Replicated entities as plain dicts: what the change log stores and the wire carries.

One entity name per replicated table.  Two entities are aggregates: an ``agent`` carries its
``group_ids`` and a ``customer`` its ``identities``, so one change row describes the whole thing.
Everything here takes a SQLAlchemy ``Connection`` and works on SQLite and PostgreSQL alike.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, Dialect, Table, delete, insert, select

from app.models.base import UTCDateTime
from app.models.sqlite import BulkUpsert
from app.models.tables import (
    T_AGENTS,
    T_CANNED,
    T_CUSTOMERS,
    T_DRAFTS,
    T_GROUPS,
    T_IDENTITIES,
    T_MEMBERS,
    T_MESSAGES,
    T_ORGS,
    T_TICKETS,
)

Row = dict[str, Any]


@dataclass(frozen=True)
class EntityKind:
    """A replicated entity: its wire name, its table, its columns and those of datetimes."""

    name: str
    table: Table
    columns: tuple[str, ...]
    datetime_columns: frozenset[str]


def _kind(name: str, table: Table) -> EntityKind:
    datetimes = frozenset(c.name for c in table.columns if isinstance(c.type, UTCDateTime))
    return EntityKind(name, table, tuple(c.name for c in table.columns), datetimes)


# Order matters for a bootstrap: referenced rows come before the rows that reference them.
ENTITIES: dict[str, EntityKind] = {
    kind.name: kind
    for kind in (
        _kind("group", T_GROUPS),
        _kind("agent", T_AGENTS),
        _kind("organization", T_ORGS),
        _kind("customer", T_CUSTOMERS),
        _kind("ticket", T_TICKETS),
        _kind("message", T_MESSAGES),
        _kind("canned_response", T_CANNED),
        _kind("draft", T_DRAFTS),
    )
}


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
    """Add ``group_ids`` to agents and ``identities`` to customers, in place."""
    if not rows:
        return
    if entity == "agent":
        by_id = {r["id"]: r for r in rows}
        for r in rows:
            r["group_ids"] = []
        for start in range(0, len(rows), 500):
            chunk = list(by_id)[start : start + 500]
            q = select(T_MEMBERS.c.agent_id, T_MEMBERS.c.group_id).where(
                T_MEMBERS.c.agent_id.in_(chunk)
            )
            for agent_id, group_id in conn.execute(q):
                by_id[agent_id]["group_ids"].append(group_id)
        for r in rows:
            r["group_ids"].sort()
    elif entity == "customer":
        by_id = {r["id"]: r for r in rows}
        for r in rows:
            r["identities"] = []
        ids = list(by_id)
        for start in range(0, len(ids), 500):
            q = (
                select(
                    T_IDENTITIES.c.id,
                    T_IDENTITIES.c.customer_id,
                    T_IDENTITIES.c.kind,
                    T_IDENTITIES.c.value,
                )
                .where(T_IDENTITIES.c.customer_id.in_(ids[start : start + 500]))
                .order_by(T_IDENTITIES.c.kind, T_IDENTITIES.c.value)
            )
            for ident in conn.execute(q).mappings():
                by_id[ident["customer_id"]]["identities"].append(
                    {"id": ident["id"], "kind": ident["kind"], "value": ident["value"]}
                )


def upsert_many(conn: Connection, entity: str, rows: list[Row]) -> None:
    """Write wire rows into an SQLite cache, replacing what is there (idempotent)."""
    if not rows:
        return
    # Rows of one statement must share their keys; a full snapshot always has every column.
    _upsert(entity, frozenset(rows[0]), conn.dialect).execute(conn, rows)
    if entity == "agent":
        ids = [r["id"] for r in rows]
        conn.execute(delete(T_MEMBERS).where(T_MEMBERS.c.agent_id.in_(ids)))
        members = [
            {"agent_id": r["id"], "group_id": g} for r in rows for g in r.get("group_ids", [])
        ]
        if members:
            conn.execute(insert(T_MEMBERS).prefix_with("OR IGNORE"), members)
    elif entity == "customer":
        ids = [r["id"] for r in rows]
        conn.execute(delete(T_IDENTITIES).where(T_IDENTITIES.c.customer_id.in_(ids)))
        idents = [
            {"id": i["id"], "customer_id": r["id"], "kind": i["kind"], "value": i["value"]}
            for r in rows
            for i in r.get("identities", [])
        ]
        if idents:
            # An identity that moved customers may still sit on the old one until its change
            # arrives; REPLACE lets the newest owner win instead of failing the whole page.
            conn.execute(insert(T_IDENTITIES).prefix_with("OR REPLACE"), idents)


@functools.lru_cache(maxsize=64)
def _upsert(entity: str, columns: frozenset[str], dialect: Dialect) -> BulkUpsert:
    kind = ENTITIES[entity]
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
    """Remove entities from a cache; messages and drafts of a hidden ticket go with it."""
    if not ids:
        return
    kind = ENTITIES[entity]
    if entity == "ticket":
        conn.execute(delete(T_MESSAGES).where(T_MESSAGES.c.ticket_id.in_(ids)))
    conn.execute(delete(kind.table).where(kind.table.c.id.in_(ids)))
