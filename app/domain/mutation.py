"""A mutation, declared once: arguments, who may make it, how it applies, how the desk names it.

Like Zero's custom mutators, each mutation is one declaration (`Mutation`) with its argument
type, one authoritative ``apply`` over a store transaction (`StoreTx`), and where the agent
should see the change at once, one ``optimistic`` apply over the workstation cache's
transaction (`CacheTx`): the cache and the store share their tables, so both are written
against the same rows.  The server's one
write path (`app.server.submit`) runs it for every writer: a workstation's connection, the
command line and the server's own actors (the system, each channel).  Mutations that only the
server may make (a customer's message arriving through a channel) are declared with
``writers=Writers.SERVER``, and a workstation that sends one is refused.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any, Generic, Protocol, TypeVar

from pydantic import BaseModel
from sqlalchemy import Connection, insert

from app.domain.sight import Audience, Viewer
from app.models.enums import Role
from app.models.tables import T_LOG
from app.sync.protocol import ErrorCode

A = TypeVar("A", bound=BaseModel)

# Built once: executing a prepared statement with a parameter dict skips building and hashing a
# new statement per row (the change log gets one or two rows per mutation).
LOG_INSERT = insert(T_LOG).returning(T_LOG.c.seq)


class Refused(Exception):
    """A mutation the server will not apply, with its documented error code.

    ``current`` is what the agent needs to review the refusal (the ticket as it is now).
    """

    def __init__(self, code: ErrorCode, message: str, current: Any = None) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.current = current


def id_taken(entity_id: str) -> Refused:
    """The refusal of a new row whose id is taken: the same whether or not the actor may see
    the row that has it, telling only that the id is taken, never what holds it or whose."""
    return Refused(ErrorCode.DUPLICATE, f"the id {entity_id} is already taken; use a new id")


class Writers(StrEnum):
    """Who may submit a mutation."""

    ANYONE = "anyone"  # workstations, the command line and the server's actors
    SERVER = "server"  # only the server's own actors: never a workstation


class ActorKind(StrEnum):
    """Where a submission comes from; recorded in the change log as its origin."""

    WORKSTATION = "workstation"
    COMMAND_LINE = "command_line"
    SYSTEM = "system"
    CHANNEL = "channel"


@dataclass(frozen=True)
class Actor:
    """Who submits a mutation: an agent at a workstation, or one of the server's writers."""

    viewer: Viewer
    kind: ActorKind
    # Names the writer in the audit trail: "workstation", "command_line", "system",
    # "channel:email".
    origin: str

    @property
    def is_server(self) -> bool:
        return self.kind != ActorKind.WORKSTATION


def workstation_actor(viewer: Viewer) -> Actor:
    return Actor(viewer, ActorKind.WORKSTATION, ActorKind.WORKSTATION.value)


# The server's own actors act with an admin's sight: they see and may change everything, and
# the audit trail names them instead of an agent.
_SERVER_VIEWER = Viewer(id="system", role=Role.ADMIN.value, group_ids=frozenset(), access_version=0)
SYSTEM = Actor(_SERVER_VIEWER, ActorKind.SYSTEM, "system")
COMMAND_LINE = Actor(_SERVER_VIEWER, ActorKind.COMMAND_LINE, "command_line")


def channel_actor(channel: str) -> Actor:
    """The actor a channel (email, chat, ...) writes what it receives as."""
    viewer = Viewer(
        id=f"channel:{channel}", role=Role.ADMIN.value, group_ids=frozenset(), access_version=0
    )
    return Actor(viewer, ActorKind.CHANNEL, f"channel:{channel}")


class AccountSecrets(Protocol):
    """What account mutations need from the server that the domain cannot do itself."""

    def set_password(self, conn: Connection, agent_id: str, password: str) -> None: ...

    def end_sessions(self, conn: Connection, agent_id: str) -> None: ...


@dataclass
class StoreTx:
    """One mutation's view of the server store's transaction: who acts, from where, when, and
    the change-log rows it appended (the writer fans them out after commit)."""

    conn: Connection
    actor: Actor
    workstation_id: str | None
    now: datetime
    secrets: AccountSecrets | None = None
    logged: list[dict[str, Any]] = field(default_factory=list)

    @property
    def viewer(self) -> Viewer:
        return self.actor.viewer

    def log(
        self,
        entity: str,
        entity_id: str,
        *,
        data: dict[str, Any] | None,
        fields: list[str],
        audience: Audience,
        prev: Audience | None = None,
        ticket_version: int | None = None,
    ) -> None:
        """Append a change row; the database assigns its seq."""
        row = log_row(
            self.actor,
            self.workstation_id,
            self.now,
            entity,
            entity_id,
            data=data,
            fields=fields,
            audience=audience,
            prev=prev,
            ticket_version=ticket_version,
        )
        row["seq"] = self.conn.execute(LOG_INSERT, row).scalar_one()
        self.logged.append(row)

    def account_secrets(self) -> AccountSecrets:
        if self.secrets is None:
            raise RuntimeError("this store transaction cannot change passwords or sessions")
        return self.secrets


def log_row(
    actor: Actor,
    workstation_id: str | None,
    now: datetime,
    entity: str,
    entity_id: str,
    *,
    data: dict[str, Any] | None,
    fields: list[str],
    audience: Audience,
    prev: Audience | None = None,
    ticket_version: int | None = None,
) -> dict[str, Any]:
    """The change-log row (without its seq) for one changed entity."""
    changed = prev is not None and prev != audience
    return {
        "entity": entity,
        "entity_id": entity_id,
        "op": "delete" if data is None else "upsert",
        "fields": fields,
        "data": data,
        "actor_id": actor.viewer.id,
        "origin": actor.origin,
        "workstation_id": workstation_id,
        "ticket_version": ticket_version,
        "created_at": now,
        "audience": audience.kind,
        "group_id": audience.group_id,
        "agent_id": audience.agent_id,
        "audience_changed": changed,
        "prev_audience": prev.kind if changed and prev else None,
        "prev_group_id": prev.group_id if changed and prev else None,
        "prev_agent_id": prev.agent_id if changed and prev else None,
    }


class NotInCache(LookupError):
    """The record an optimistic apply works on is not in the workstation's cache."""

    def __init__(self, kind: str, record_id: str) -> None:
        super().__init__(f"{kind} {record_id} is not in the cache")
        self.kind = kind
        self.record_id = record_id


@dataclass
class CacheTx:
    """A mutation's view of the workstation cache's transaction, for its optimistic apply.

    The apply writes what the agent should see now; the server's own change replaces it when
    it arrives.  For field changes of the record the mutation's ``subject`` names (in its
    ``kind``'s table) it records ``patch`` (the values written) and ``base`` (the cached
    values they replaced), both in wire form (datetimes as ISO text: the outbox keeps them
    as JSON): the outbox keeps both, to lay the patch again over newer server rows until the
    change is answered, and to restore the base if it is refused, whatever the kind.
    ``touched`` names each written record, with the ticket it is on, for change notices.

    A mutation's ``undo`` gets one too, when the server refuses it: ``queued_after`` then
    says whether later changes of the same record still wait in the outbox (what they wrote
    must stay), and ``base`` is the base the outbox kept.  The cache restores a base on the
    row whose id is the ``subject``; a mutation filed under another record's id (a draft,
    under its ticket's) keeps in ``base``, under keys that are not its kind's columns, what
    its ``undo`` puts back itself.
    """

    conn: Connection
    agent_id: str
    now: datetime
    patch: dict[str, Any] = field(default_factory=dict)
    base: dict[str, Any] = field(default_factory=dict)
    touched: list[tuple[str, str, str | None]] = field(default_factory=list)
    queued_after: bool = False

    def touch(self, kind: str, record_id: str, ticket_id: str | None = None) -> None:
        self.touched.append((kind, record_id, ticket_id))


def anyone(actor: Actor) -> bool:
    """Authorization: any signed-in agent (data rules are checked by ``apply``)."""
    return True


def admins(actor: Actor) -> bool:
    """Authorization: admins, and the server's own actors."""
    return actor.viewer.is_admin


@dataclass(frozen=True)
class Mutation(Generic[A]):
    """One mutation: everything every layer needs to know about it.

    ``kind`` is the kind of record it is about and ``subject`` picks that record's id from the
    arguments (the outbox files the change under them).  ``optimistic`` is its apply on the
    workstation's cache, if the agent should see it before the server answers.
    ``undo`` takes back, when the server refuses the change, what ``optimistic`` wrote beyond
    the fields whose ``base`` it recorded (those the cache restores itself, for any kind): a
    row it inserted, a message it queued.  ``refusal`` is what the desk calls it when the
    server refuses it ("Ticket change"); ``refusal_of``, where one mutation makes different
    things, words it from the arguments (``message.add``: "Reply" or "Note").  ``changes``
    is the field model of an update's ``changes`` dict.  ``allowed`` is the authorization rule
    checked before ``apply``; data-dependent rules (may this agent see that ticket?) are
    ``apply``'s own, and raise `Refused`.
    """

    name: str
    args: type[A]
    apply: Callable[[StoreTx, A], dict[str, Any]]
    kind: str
    refusal: str
    writers: Writers = Writers.ANYONE
    allowed: Callable[[Actor], bool] = anyone
    denied: str = "you may not make this change"
    changes: type[BaseModel] | None = None
    subject: Callable[[A], str] | None = None
    optimistic: Callable[[CacheTx, A], None] | None = None
    undo: Callable[[CacheTx, A], None] | None = None
    refusal_of: Callable[[A], str] | None = None

    def subject_of(self, args: A) -> str:
        """The id of the record the change is about (its kind is ``kind``)."""
        if self.subject is None:
            raise ValueError(f"{self.name} does not say which record it is about")
        return self.subject(args)
