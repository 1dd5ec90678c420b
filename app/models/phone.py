"""The phone desk's records: the calls agents log, and the dispositions the admin keeps.

A call is logged on a ticket (it also appears in that ticket's thread as a call entry) and
keeps what a contact-centre wrap-up keeps: which way it went, the customer's number and our
line, who was on it, when it started and how long it lasted, the agent's notes and the
disposition (the wrap-up code).  A disposition the admin removes is retired, not deleted:
calls logged with it still say what it was.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Boolean, ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from app.models.base import Base, IdColumn, new_id, utcnow


class Disposition(Base):
    """A wrap-up code an agent picks when a call ends ("Resolved", "Callback needed")."""

    __tablename__ = "dispositions"

    id: Mapped[str] = mapped_column(IdColumn, primary_key=True, default=new_id)
    name: Mapped[str] = mapped_column(String(80), unique=True)
    # Where it is listed in the wrap-up; new ones go last.
    position: Mapped[int] = mapped_column(Integer, default=0)
    # Removed by the admin: no longer offered, still named by the calls logged with it.
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)


class Call(Base):
    """One phone call an agent logged, on the ticket it is about."""

    __tablename__ = "calls"
    __table_args__ = (Index("ix_calls_ticket", "ticket_id"),)

    id: Mapped[str] = mapped_column(IdColumn, primary_key=True, default=new_id)
    ticket_id: Mapped[str] = mapped_column(IdColumn, ForeignKey("tickets.id", ondelete="CASCADE"))
    direction: Mapped[str] = mapped_column(String(16))  # "inbound" | "outbound"
    customer_number: Mapped[str] = mapped_column(String(32))  # E.164
    our_line: Mapped[str] = mapped_column(String(32), default="")  # E.164, or "" if unknown
    customer_id: Mapped[str | None] = mapped_column(
        IdColumn, ForeignKey("customers.id", ondelete="SET NULL"), default=None
    )
    agent_id: Mapped[str | None] = mapped_column(
        IdColumn, ForeignKey("agents.id", ondelete="SET NULL"), default=None
    )
    started_at: Mapped[datetime] = mapped_column(default=utcnow)
    duration_s: Mapped[int] = mapped_column(Integer, default=0)
    notes: Mapped[str] = mapped_column(Text, default="")
    # No foreign key: the disposition is retired, never deleted, and a call outlives it.
    disposition_id: Mapped[str] = mapped_column(IdColumn)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
