"""The one registry of kinds and mutations, filled from the area modules' declarations.

`app/domain/__init__.py` adds every area's ``KINDS`` and ``MUTATIONS``; everything else reads
them from here: the wire's entity names, the cache's tables, the bootstrap order, the mutation
names a workstation may send and their argument types, the refusal wording.  A test may
declare a kind and a mutation of its own for a while with `Domain.extended`.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterable, Iterator
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, ValidationError

from app.sync.protocol import ErrorCode, ProtocolError, invalid_arguments

if TYPE_CHECKING:
    from app.domain.kinds import Kind
    from app.domain.mutation import Mutation


class Domain:
    """Kinds by name in bootstrap order, and mutations by name."""

    def __init__(self) -> None:
        self.kinds: dict[str, Kind] = {}
        self.mutations: dict[str, Mutation[Any]] = {}

    def add(self, kinds: Iterable[Kind] = (), mutations: Iterable[Mutation[Any]] = ()) -> None:
        """Register declarations; a name may be declared once, and a declaration that names
        an undeclared kind is refused (and nothing of this call stays registered)."""
        kinds, mutations = list(kinds), list(mutations)
        for kind in kinds:
            if kind.name in self.kinds:
                raise ValueError(f"kind {kind.name!r} is declared twice")
        for mutation in mutations:
            if mutation.name in self.mutations:
                raise ValueError(f"mutation {mutation.name!r} is declared twice")
        self._register(kinds, mutations)
        try:
            self.check()
        except ValueError:
            self.remove(kinds, mutations)
            raise

    def _register(self, kinds: list[Kind], mutations: list[Mutation[Any]]) -> None:
        for kind in kinds:
            self.kinds[kind.name] = kind
        # Sorted in place: `wire.ENTITIES` is this very dict.
        ordered = sorted(self.kinds.values(), key=lambda kind: kind.bootstrap)
        self.kinds.clear()
        self.kinds.update((kind.name, kind) for kind in ordered)
        for mutation in mutations:
            self.mutations[mutation.name] = mutation

    def remove(self, kinds: Iterable[Kind] = (), mutations: Iterable[Mutation[Any]] = ()) -> None:
        for kind in kinds:
            self.kinds.pop(kind.name, None)
        for mutation in mutations:
            self.mutations.pop(mutation.name, None)

    @contextlib.contextmanager
    def extended(
        self, kinds: Iterable[Kind] = (), mutations: Iterable[Mutation[Any]] = ()
    ) -> Iterator[None]:
        """Declarations that exist only inside the ``with`` block (for tests)."""
        kinds, mutations = list(kinds), list(mutations)
        self.add(kinds, mutations)
        try:
            yield
        finally:
            self.remove(kinds, mutations)

    def parse(self, name: str, args: dict[str, Any]) -> BaseModel:
        """A mutation's validated arguments; raises ProtocolError(invalid_mutation)."""
        mutation = self.mutations.get(name)
        if mutation is None:
            raise ProtocolError(ErrorCode.INVALID_MUTATION, f"unknown mutation {name!r}")
        try:
            parsed: BaseModel = mutation.args.model_validate(args, strict=False)
            if mutation.changes is not None:
                mutation.changes.model_validate(args.get("changes", {}), strict=False)
        except ValidationError as exc:
            raise invalid_arguments(name, exc) from exc
        return parsed

    def refusal(self, name: str, args: dict[str, Any] | None = None) -> str:
        """What the desk calls a refused change of mutation ``name`` with ``args`` ("Reply",
        "Note", "Ticket change")."""
        mutation = self.mutations.get(name)
        if mutation is None:
            return name
        if mutation.refusal_of is None or args is None:
            return mutation.refusal
        try:
            parsed = mutation.args.model_validate(args, strict=False)
        except ValidationError:
            return mutation.refusal  # kept from an older version: the general word will do
        return mutation.refusal_of(parsed)

    def kind(self, name: str) -> Kind:
        try:
            return self.kinds[name]
        except KeyError:
            raise KeyError(f"no kind {name!r} is declared") from None

    def check(self) -> None:
        """Every reference between declarations resolves (a half-declared kind fails here)."""
        for kind in self.kinds.values():
            for name in kind.refers_to():
                if name not in self.kinds:
                    raise ValueError(f"kind {kind.name} refers to undeclared kind {name!r}")
        for mutation in self.mutations.values():
            if mutation.subject is None:
                raise ValueError(f"mutation {mutation.name} does not say which record it is about")
            if mutation.kind not in self.kinds:
                raise ValueError(
                    f"mutation {mutation.name} is about undeclared kind {mutation.kind!r}"
                )


DOMAIN = Domain()
