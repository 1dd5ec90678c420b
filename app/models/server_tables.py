"""Tables that exist only in the server store: change log, devices, sessions, secrets.

None of these is ever replicated to a workstation.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, BigInteger, Boolean, ForeignKey, Index, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from app.models.base import Base, IdColumn, utcnow

# SQLite only makes INTEGER PRIMARY KEY an alias of the rowid; BIGINT would not autoincrement.
SeqType = BigInteger().with_variant(Integer(), "sqlite")


class ChangeLogEntry(Base):
    """One committed change, appended in the same transaction as the change itself.

    ``seq`` is assigned by the database and is the global order every client replays.
    ``data`` is the entity's full row after the change (None for a delete), so replaying any
    suffix of the log converges.  The audience columns say who may see the change; the
    ``prev_*`` ones who could see the entity before it (a reassignment hides it from some).
    """

    __tablename__ = "change_log"
    # AUTOINCREMENT: SQLite must never hand out a seq again, even after the log is pruned.
    __table_args__ = (
        Index("ix_change_log_entity", "entity", "entity_id"),
        {"sqlite_autoincrement": True},
    )

    seq: Mapped[int] = mapped_column(SeqType, primary_key=True, autoincrement=True)
    entity: Mapped[str] = mapped_column(String(32))
    entity_id: Mapped[str] = mapped_column(String(80))
    op: Mapped[str] = mapped_column(String(8))  # "upsert" | "delete"
    fields: Mapped[list[Any]] = mapped_column(JSON, default=list)
    data: Mapped[dict[str, Any] | None] = mapped_column(JSON, default=None)
    actor_id: Mapped[str | None] = mapped_column(String(64), default=None)
    # Which writer made the change (the audit trail): "workstation", "command_line", "system",
    # "channel:email"; "unknown" for changes logged before the log named its writer (migration
    # 0002).  No default: every writer names itself.  ``workstation_id`` names the workstation,
    # for a workstation's changes.
    origin: Mapped[str] = mapped_column(String(40))
    workstation_id: Mapped[str | None] = mapped_column(IdColumn, default=None)
    ticket_version: Mapped[int | None] = mapped_column(Integer, default=None)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    # Who may see the change (see app.domain.sight): "all"; "staff" = supervisors, members of
    # group_id and agent agent_id; "owner" = agent agent_id alone (drafts, personal responses).
    audience: Mapped[str] = mapped_column(String(8), default="all")
    group_id: Mapped[str | None] = mapped_column(IdColumn, default=None)
    agent_id: Mapped[str | None] = mapped_column(IdColumn, default=None)
    audience_changed: Mapped[bool] = mapped_column(Boolean, default=False)
    prev_audience: Mapped[str | None] = mapped_column(String(8), default=None)
    prev_group_id: Mapped[str | None] = mapped_column(IdColumn, default=None)
    prev_agent_id: Mapped[str | None] = mapped_column(IdColumn, default=None)


class AgentCredential(Base):
    """An agent's argon2id password hash, kept apart so it can never be replicated."""

    __tablename__ = "agent_credentials"

    agent_id: Mapped[str] = mapped_column(
        IdColumn, ForeignKey("agents.id", ondelete="CASCADE"), primary_key=True
    )
    password_hash: Mapped[str] = mapped_column(String(255))
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)


class AuthSession(Base):
    """A signed-in workstation: only the SHA-256 of its token is stored."""

    __tablename__ = "sessions"

    id: Mapped[str] = mapped_column(IdColumn, primary_key=True)
    agent_id: Mapped[str] = mapped_column(
        IdColumn, ForeignKey("agents.id", ondelete="CASCADE"), index=True
    )
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    last_seen_at: Mapped[datetime] = mapped_column(default=utcnow)
    expires_at: Mapped[datetime]
    revoked_at: Mapped[datetime | None] = mapped_column(default=None)


class Workstation(Base):
    """A workstation cache; remembers the last mutation it applied, for idempotent replays."""

    __tablename__ = "workstations"

    id: Mapped[str] = mapped_column(IdColumn, primary_key=True)
    agent_id: Mapped[str] = mapped_column(IdColumn, ForeignKey("agents.id", ondelete="CASCADE"))
    last_mutation_id: Mapped[int] = mapped_column(BigInteger, default=0)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    last_seen_at: Mapped[datetime] = mapped_column(default=utcnow)


class MutationResult(Base):
    """The answer given to a mutation, replayed verbatim if the client sends it again."""

    __tablename__ = "mutation_results"

    workstation_id: Mapped[str] = mapped_column(
        IdColumn, ForeignKey("workstations.id", ondelete="CASCADE"), primary_key=True
    )
    mutation_id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    result: Mapped[dict[str, Any]] = mapped_column(JSON)


class Counter(Base):
    """Named counters (ticket numbers) incremented under the row lock of the writing transaction."""

    __tablename__ = "counters"

    name: Mapped[str] = mapped_column(String(32), primary_key=True)
    value: Mapped[int] = mapped_column(BigInteger, default=0)


class SubmissionKey(Base):
    """The answer given to a server writer's keyed submission (a mail's uid, an escalation):
    submitted again, it is answered again and applied once."""

    __tablename__ = "submission_keys"

    key: Mapped[str] = mapped_column(String(200), primary_key=True)
    answer: Mapped[dict[str, Any]] = mapped_column(JSON)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
