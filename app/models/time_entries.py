"""Time entries: time an agent spent on a ticket, from the stopwatch in its tab or typed in.

Replicated like a message: whoever sees the ticket sees its time entries, and they are kept
(and deleted) with it.
"""

from __future__ import annotations

from datetime import datetime
from typing import cast

from sqlalchemy import ForeignKey, Index, Integer, String, Table, Text
from sqlalchemy.orm import Mapped, mapped_column

from app.models.base import Base, IdColumn, new_id, utcnow


class TimeEntry(Base):
    """One stretch of work on a ticket by one agent."""

    __tablename__ = "time_entries"
    __table_args__ = (
        Index("ix_time_entries_ticket_id", "ticket_id"),
        # "My time today / this week": an agent's entries by when they started.
        Index("ix_time_entries_agent_started", "agent_id", "started_at"),
    )

    id: Mapped[str] = mapped_column(IdColumn, primary_key=True, default=new_id)
    ticket_id: Mapped[str] = mapped_column(IdColumn, ForeignKey("tickets.id", ondelete="CASCADE"))
    agent_id: Mapped[str] = mapped_column(IdColumn, ForeignKey("agents.id", ondelete="CASCADE"))
    started_at: Mapped[datetime] = mapped_column()
    duration_s: Mapped[int] = mapped_column(Integer)
    note: Mapped[str] = mapped_column(Text, default="")
    # How it was made: "stopwatch" (stopped in the ticket's tab) or "manual" ("Log time…").
    source: Mapped[str] = mapped_column(String(16), default="manual")
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)


T_TIME_ENTRIES = cast(Table, TimeEntry.__table__)
