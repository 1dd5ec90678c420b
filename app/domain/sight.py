"""Who may see a row: one rule per kind, read both as Python and as SQL.

A kind declares its rule once (`Everyone`, `Staff`, `Owner`, `ByScope`, `AsParent`).  The same
rule answers three questions, so they can never disagree:

* ``audience(row)``: the `Audience` a change-log row carries, which live fan-out and catch-up
  check with `can_see` (the server works out sight when it writes, not per reader);
* ``allows(viewer, row)``: whether a viewer may see a row in hand (a mutation's own checks);
* ``where(viewer, table)``: the SQL condition selecting the rows a viewer may see (bootstrap,
  search), or None when the viewer sees them all.

`tests/test_domain.py` checks on every combination of rows and viewers that matters that the
Python and the SQL readings select the same rows.
"""

from __future__ import annotations

import logging
from abc import ABC, abstractmethod
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import ColumnElement, Table, and_, false, or_, select, true

from app.models.enums import Role

log = logging.getLogger(__name__)

ALL = "all"
STAFF = "staff"
OWNER = "owner"

Row = Mapping[Any, Any]


@dataclass(frozen=True)
class Viewer:
    """Who acts or reads: a signed-in agent, or one of the server's own actors."""

    id: str
    role: str
    group_ids: frozenset[str]
    access_version: int
    name: str = ""

    @property
    def sees_everything(self) -> bool:
        return self.role in (Role.SUPERVISOR, Role.ADMIN)

    @property
    def is_admin(self) -> bool:
        return self.role == Role.ADMIN


@dataclass(frozen=True)
class Audience:
    """Who may see one entity, as a change-log row records it before and after the change.

    ``all``: everyone; ``staff``: supervisors and admins, members of ``group_id`` and the agent
    ``agent_id``; ``owner``: the agent ``agent_id`` alone.
    """

    kind: str
    group_id: str | None = None
    agent_id: str | None = None


EVERYONE = Audience(ALL)
# Owned by no agent: no viewer sees it (not even supervisors and admins, unlike a staff row
# without group or agent).
NOBODY = Audience(OWNER)


def can_see(viewer: Viewer, audience: Audience) -> bool:
    """Whether ``viewer`` may see an entity with this audience."""
    if audience.kind == ALL:
        return True
    if audience.kind == OWNER:
        return viewer.id == audience.agent_id
    return (
        viewer.sees_everything
        or (audience.agent_id is not None and viewer.id == audience.agent_id)
        or (audience.group_id is not None and audience.group_id in viewer.group_ids)
    )


class Sight(ABC):
    """A kind's visibility rule (see the module docstring)."""

    @abstractmethod
    def audience(self, row: Row, parent: Row | None = None) -> Audience:
        """The audience of ``row`` (``parent``: the parent row, for `AsParent`)."""

    def allows(self, viewer: Viewer, row: Row, parent: Row | None = None) -> bool:
        return can_see(viewer, self.audience(row, parent))

    @abstractmethod
    def where(self, viewer: Viewer, table: Table) -> ColumnElement[bool] | None:
        """The SQL condition on ``table`` for the rows ``viewer`` sees; None: all of them."""


@dataclass(frozen=True)
class Everyone(Sight):
    """Every signed-in agent sees every row (groups, agents, customers)."""

    def audience(self, row: Row, parent: Row | None = None) -> Audience:
        return EVERYONE

    def where(self, viewer: Viewer, table: Table) -> ColumnElement[bool] | None:
        return None


@dataclass(frozen=True)
class Staff(Sight):
    """Supervisors and admins, the members of the row's group, and its agent."""

    group: str | None
    agent: str | None

    def audience(self, row: Row, parent: Row | None = None) -> Audience:
        return Audience(
            STAFF,
            row.get(self.group) if self.group else None,
            row.get(self.agent) if self.agent else None,
        )

    def where(self, viewer: Viewer, table: Table) -> ColumnElement[bool] | None:
        if viewer.sees_everything:
            return None
        return self._members(viewer, table)

    def _members(self, viewer: Viewer, table: Table) -> ColumnElement[bool]:
        terms: list[ColumnElement[bool]] = []
        if self.group and viewer.group_ids:
            terms.append(table.c[self.group].in_(sorted(viewer.group_ids)))
        if self.agent:
            terms.append(table.c[self.agent] == viewer.id)
        return or_(*terms) if terms else false()


@dataclass(frozen=True)
class Owner(Sight):
    """The agent named in the row alone (drafts, personal canned responses)."""

    agent: str

    def audience(self, row: Row, parent: Row | None = None) -> Audience:
        return Audience(OWNER, None, row.get(self.agent))

    def where(self, viewer: Viewer, table: Table) -> ColumnElement[bool] | None:
        return table.c[self.agent] == viewer.id


@dataclass(frozen=True)
class ByScope(Sight):
    """A rule chosen by a column's value (a canned response's ``scope``).

    A row whose value has no rule (written by a newer server sharing the store, or by hand) is
    seen by nobody, in both readings: its audience is `NOBODY`, and the SQL condition names
    only the known values.  Showing it to someone would be guessing who may see it.  It is
    logged once per value, as it means the store holds what this version cannot place.
    """

    column: str
    rules: Mapping[str, Sight]
    # The unknown values already logged (the desk's canned reader asks on every keystroke).
    _unknown: set[str] = field(default_factory=set, init=False, compare=False, repr=False)

    def _rule(self, row: Row) -> Sight | None:
        value = row.get(self.column)
        rule = self.rules.get(value) if isinstance(value, str) else None
        if rule is None and (seen := repr(value)) not in self._unknown:
            self._unknown.add(seen)
            log.warning("no sight rule for %s=%s: nobody sees such rows", self.column, seen)
        return rule

    def audience(self, row: Row, parent: Row | None = None) -> Audience:
        rule = self._rule(row)
        return NOBODY if rule is None else rule.audience(row, parent)

    def where(self, viewer: Viewer, table: Table) -> ColumnElement[bool] | None:
        terms = []  # only known values: a row of any other is nobody's
        for value, rule in self.rules.items():
            condition = rule.where(viewer, table)
            terms.append(
                and_(table.c[self.column] == value, true() if condition is None else condition)
            )
        return or_(*terms)


@dataclass(frozen=True)
class AsParent(Sight):
    """Whoever sees the parent row sees this one (a message: its ticket).

    The parent kind is looked up when needed, so kinds may be declared in any order.
    """

    parent: str
    column: str

    def _parent(self) -> tuple[Table, Sight]:
        from app.domain.registry import DOMAIN  # the registry is filled after sight rules exist

        kind = DOMAIN.kind(self.parent)
        return kind.table, kind.sight

    def audience(self, row: Row, parent: Row | None = None) -> Audience:
        if parent is None:
            raise ValueError("the audience of a child row needs its parent row")
        return self._parent()[1].audience(parent)

    def where(self, viewer: Viewer, table: Table) -> ColumnElement[bool] | None:
        parents, sight = self._parent()
        condition = sight.where(viewer, parents)
        if condition is None:
            return None
        return table.c[self.column].in_(select(parents.c.id).where(condition).scalar_subquery())
