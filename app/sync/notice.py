"""Change notices: what a cache transaction changed, and which tickets it touched.

Every time the engine changes the cache (a page of server changes, a bootstrap, a fetched
ticket, a local change, a settled or refused mutation, a resent or discarded refusal) it
tells its observer with one ``ChangeNotice``.  Besides the changed rows by entity, a notice
says which tickets they belong to — by kind: a ticket's own row, its messages, the agent's
draft on it, a refusal of a change to it — and which messages of each ticket changed.  A
message row does not say which ticket it is on unless read; the engine knows when it writes
it, so an open conversation never has to read messages to find out whether they are its own.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

_NONE: frozenset[str] = frozenset()


@dataclass(frozen=True)
class ChangeNotice:
    """Plain, immutable data (it crosses from the engine to the widgets as it is).

    ``entities``: entity name -> ids of its rows that changed (deleted ones included).
    ``tickets``: the tickets whose row or thread changed (messages, the agent's draft,
    refusals of changes to them).
    ``ticket_kinds``: entity name -> the tickets touched through rows of that entity
    (``"ticket"``, ``"message"``, ``"draft"``, ``"refusal"``).
    ``threads``: ticket id -> ids of its messages that changed.
    """

    entities: Mapping[str, frozenset[str]] = field(default_factory=dict)
    tickets: frozenset[str] = _NONE
    ticket_kinds: Mapping[str, frozenset[str]] = field(default_factory=dict)
    threads: Mapping[str, frozenset[str]] = field(default_factory=dict)

    def __bool__(self) -> bool:
        return bool(self.entities)

    def ids(self, entity: str) -> frozenset[str]:
        """The changed ids of one entity (empty if none)."""
        return self.entities.get(entity, _NONE)

    def tickets_of(self, *kinds: str) -> frozenset[str]:
        """The tickets touched through rows of these entities."""
        return _NONE.union(*(self.ticket_kinds.get(kind, _NONE) for kind in kinds))

    def kinds_of(self, ticket_id: str) -> frozenset[str]:
        """How ``ticket_id`` was touched: the entities whose rows of it changed."""
        if ticket_id not in self.tickets:
            return _NONE
        return frozenset(k for k, ids in self.ticket_kinds.items() if ticket_id in ids)

    def messages_of(self, ticket_id: str) -> frozenset[str]:
        """The changed messages of one ticket's thread."""
        return self.threads.get(ticket_id, _NONE)


class Touched:
    """A ``ChangeNotice`` being collected while a transaction (or a loop turn) goes on."""

    def __init__(self) -> None:
        self.entities: dict[str, set[str]] = {}
        self._kinds: dict[str, set[str]] = {}
        self._threads: dict[str, set[str]] = {}

    @classmethod
    def of(cls, *rows: tuple[str, str | Iterable[str], str | None]) -> Touched:
        """A few rows: ``(entity, id or ids, ticket id or None)`` each."""
        touched = cls()
        for entity, ids, ticket_id in rows:
            touched.add_many(entity, (ids,) if isinstance(ids, str) else ids, ticket_id)
        return touched

    def __bool__(self) -> bool:
        return bool(self.entities)

    def add(self, entity: str, entity_id: str, ticket_id: str | None = None) -> None:
        """Row ``entity_id`` of ``entity`` changed; it belongs to ``ticket_id``, if given."""
        self.entities.setdefault(entity, set()).add(entity_id)
        if ticket_id is not None:
            self._kinds.setdefault(entity, set()).add(ticket_id)
            if entity == "message":
                self._threads.setdefault(ticket_id, set()).add(entity_id)

    def add_many(self, entity: str, ids: Iterable[str], ticket_id: str | None = None) -> None:
        for entity_id in ids:
            self.add(entity, entity_id, ticket_id)

    def merge(self, notice: ChangeNotice) -> None:
        """Everything ``notice`` names, too."""
        for into, more in (
            (self.entities, notice.entities),
            (self._kinds, notice.ticket_kinds),
            (self._threads, notice.threads),
        ):
            for key, ids in more.items():
                into.setdefault(key, set()).update(ids)

    def notice(self) -> ChangeNotice:
        kinds = {k: frozenset(v) for k, v in self._kinds.items()}
        return ChangeNotice(
            entities={k: frozenset(v) for k, v in self.entities.items()},
            tickets=_NONE.union(*kinds.values()),
            ticket_kinds=kinds,
            threads={k: frozenset(v) for k, v in self._threads.items()},
        )
