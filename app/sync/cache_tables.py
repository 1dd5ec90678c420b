"""Tables that exist only in a workstation cache: the outbox, refusals and sync state."""

from __future__ import annotations

from datetime import datetime
from typing import Any, cast

from sqlalchemy import JSON, Boolean, Integer, String, Table, Text
from sqlalchemy.orm import Mapped, mapped_column

from app.models.base import Base, IdColumn, utcnow


class OutboxEntry(Base):
    """A local change waiting for the server's answer; leaves only when answered."""

    __tablename__ = "outbox"

    mutation_id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    name: Mapped[str] = mapped_column(String(64))
    args: Mapped[dict[str, Any]] = mapped_column(JSON)
    entity: Mapped[str] = mapped_column(String(32))
    entity_id: Mapped[str] = mapped_column(String(80), index=True)
    # The optimistic field values applied to the cache, and the server's values they replaced.
    patch: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    base: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    # Once sent, the args are frozen: the server may have applied them under this id.
    transmitted: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class RefusalEntry(Base):
    """A change the server refused, kept with its full text for the agent to review."""

    __tablename__ = "refusals"

    mutation_id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    name: Mapped[str] = mapped_column(String(64))
    args: Mapped[dict[str, Any]] = mapped_column(JSON)
    code: Mapped[str] = mapped_column(String(32))
    message: Mapped[str] = mapped_column(Text)
    current: Mapped[Any] = mapped_column(JSON, default=None)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class SyncState(Base):
    """Small named values: cursor, device id, next mutation id, access version, agent."""

    __tablename__ = "sync_state"

    key: Mapped[str] = mapped_column(String(64), primary_key=True)
    value: Mapped[Any] = mapped_column(JSON)


class PendingFetch(Base):
    """Tickets that came into sight and whose thread still has to be fetched."""

    __tablename__ = "pending_fetch"

    ticket_id: Mapped[str] = mapped_column(IdColumn, primary_key=True)


T_OUTBOX = cast(Table, OutboxEntry.__table__)
T_REFUSALS = cast(Table, RefusalEntry.__table__)
T_STATE = cast(Table, SyncState.__table__)
T_FETCH = cast(Table, PendingFetch.__table__)
