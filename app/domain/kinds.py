"""A replicated kind of record, declared once: table, wire shape, sight, order, what is kept.

Every registry the core used to keep by hand (the wire's entity list, the cache's tables, the
bootstrap order, the fan-out's sight rules) is derived from these declarations by
`app.domain.catalog`.  A kind declared halfway cannot be registered: `Kind.__post_init__`
refuses it, and `tests/test_domain.py` checks every registered kind.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, Table, column, or_, select, table

from app.domain.sight import AsParent, Sight, Viewer
from app.models.base import UTCDateTime

# The workstation cache's outbox, by name only (the domain does not import the engine).
_OUTBOX = table("outbox", column("entity"), column("entity_id"), column("name"))


def queued_here(entity: str, *names: str) -> Callable[[Table], ColumnElement[bool]]:
    """A kind's ``unsent`` rule: its rows whose change (one of ``names``, or any) still waits
    in this workstation's outbox: the agent's own work, which a bootstrap or a cache rebuild
    must not drop."""

    def unsent(rows: Table) -> ColumnElement[bool]:
        queued = select(_OUTBOX.c.entity_id).where(_OUTBOX.c.entity == entity)
        if names:
            queued = queued.where(_OUTBOX.c.name.in_(names))
        return rows.c.id.in_(queued.scalar_subquery())

    return unsent


@dataclass(frozen=True)
class Aggregate:
    """Rows of a child table carried inside their parent's wire form.

    An agent carries ``group_ids`` (one column: a sorted list of values) and a customer its
    ``identities`` (several columns: a list of dicts), so one change-log row describes the
    whole thing and a replica replaces the children with the parent.
    """

    field: str
    table: Table
    parent_column: str
    columns: tuple[str, ...]
    order_by: tuple[str, ...]
    # How a replica inserts them: REPLACE lets the newest owner of a unique value win while
    # the change that moved it away from an older parent is still on its way.
    on_conflict: str = "IGNORE"

    @property
    def scalar(self) -> bool:
        """Carried as a list of plain values (one column) rather than of dicts."""
        return len(self.columns) == 1


class Keep(ABC):
    """What a workstation's cache keeps of a kind (within what its agent may see)."""

    @abstractmethod
    def where(self, table: Table, scope: KeepScope) -> ColumnElement[bool] | None:
        """The SQL condition for the rows a replica keeps; None: every visible row."""


@dataclass(frozen=True)
class KeepScope:
    """What a keep rule may depend on: who replicates, and from when recent rows count."""

    viewer: Viewer
    since: datetime
    kinds: Callable[[str], Kind]


@dataclass(frozen=True)
class KeepAll(Keep):
    """Every visible row (groups, agents, canned responses)."""

    def where(self, table: Table, scope: KeepScope) -> ColumnElement[bool] | None:
        return None


@dataclass(frozen=True)
class KeepRecent(Keep):
    """Rows still being worked on, and the rest updated within the replication window."""

    column: str
    active: frozenset[str]
    updated: str = "updated_at"

    def where(self, table: Table, scope: KeepScope) -> ColumnElement[bool] | None:
        return or_(
            table.c[self.column].in_(sorted(self.active)), table.c[self.updated] >= scope.since
        )


@dataclass(frozen=True)
class KeepWithParent(Keep):
    """The rows of kept parents (a ticket's messages); they go when their parent goes."""

    parent: str
    column: str

    def where(self, table: Table, scope: KeepScope) -> ColumnElement[bool] | None:
        return table.c[self.column].in_(kept_ids(scope.kinds(self.parent), scope))


@dataclass(frozen=True)
class KeepReferenced(Keep):
    """The rows that kept rows of another kind refer to (the customers of kept tickets)."""

    by: str
    column: str

    def where(self, table: Table, scope: KeepScope) -> ColumnElement[bool] | None:
        referrer = scope.kinds(self.by)
        q = select(referrer.table.c[self.column])
        for condition in replicated(referrer, scope):
            q = q.where(condition)
        return table.c.id.in_(q.scalar_subquery())


def replicated(kind: Kind, scope: KeepScope) -> list[ColumnElement[bool]]:
    """The SQL conditions selecting what a viewer's replica holds of ``kind``."""
    conditions = []
    sight, keep = kind.sight, kind.keep
    # Kept with a kept parent already means seen with it: one subquery, not two.
    implied = (
        isinstance(sight, AsParent)
        and isinstance(keep, KeepWithParent)
        and (sight.parent, sight.column) == (keep.parent, keep.column)
    )
    seen = None if implied else sight.where(scope.viewer, kind.table)
    if seen is not None:
        conditions.append(seen)
    kept = kind.keep.where(kind.table, scope)
    if kept is not None:
        conditions.append(kept)
    return conditions


def kept_ids(kind: Kind, scope: KeepScope) -> Any:
    """A subquery of the ids of ``kind`` a viewer's replica holds."""
    q = select(kind.table.c.id)
    for condition in replicated(kind, scope):
        q = q.where(condition)
    return q.scalar_subquery()


@dataclass(frozen=True, eq=False)  # compared and hashed by identity
class Kind:
    """One replicated kind: the declaration every layer reads.

    ``bootstrap`` orders the kinds in a bootstrap (referenced rows come before the rows that
    reference them).  ``unsent`` names, for the workstation cache, the rows that are the
    agent's own work not yet accepted by the server: a bootstrap never drops them.
    ``on_ticket`` is the column naming the ticket a row is on ("id" for a ticket itself), so
    that change notices say which tickets changed.
    """

    name: str
    table: Table
    sight: Sight
    bootstrap: int
    keep: Keep = field(default_factory=KeepAll)
    aggregates: tuple[Aggregate, ...] = ()
    unsent: Callable[[Table], ColumnElement[bool]] | None = None
    on_ticket: str | None = None
    columns: tuple[str, ...] = field(init=False)
    datetime_columns: frozenset[str] = field(init=False)

    def __post_init__(self) -> None:
        if "id" not in self.table.c:
            raise ValueError(f"kind {self.name}: a replicated table needs an 'id' column")
        for name in [*_named_columns(self.sight), *([self.on_ticket] if self.on_ticket else [])]:
            if name not in self.table.c:
                raise ValueError(f"kind {self.name}: its sight names no column {name!r}")
        object.__setattr__(self, "columns", tuple(c.name for c in self.table.columns))
        object.__setattr__(
            self,
            "datetime_columns",
            frozenset(c.name for c in self.table.columns if isinstance(c.type, UTCDateTime)),
        )

    @property
    def parent(self) -> str | None:
        """The kind whose rows own this one's (deleted with them), if any."""
        return self.keep.parent if isinstance(self.keep, KeepWithParent) else None

    def refers_to(self) -> set[str]:
        """The other kinds this declaration names (each must be declared too)."""
        names = set()
        if self.parent is not None:
            names.add(self.parent)
        if isinstance(self.keep, KeepReferenced):
            names.add(self.keep.by)
        if isinstance(self.sight, AsParent):
            names.add(self.sight.parent)
        return names


def _named_columns(sight: Sight) -> list[str]:
    names: list[str] = []
    for attr in ("group", "agent", "column"):
        value = getattr(sight, attr, None)
        if isinstance(value, str):
            names.append(value)
    if isinstance(sight, AsParent):
        return [sight.column]
    for rule in getattr(sight, "rules", {}).values():
        names.extend(_named_columns(rule))
    return names
