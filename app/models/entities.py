"""The replicated entities: agents, groups, customers, tickets, messages, canned responses, drafts.

These tables exist both in the server store and in every workstation cache, with the same
columns, so a row travels over the wire as a plain dict of its columns (see `app.models.wire`).
Secrets never live here: password hashes and session tokens are in server-only tables.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import Boolean, ForeignKey, Index, Integer, String, Text, UniqueConstraint, text
from sqlalchemy.orm import Mapped, mapped_column

from app.models.base import Base, IdColumn, JSONList, new_id, utcnow


class Group(Base):
    """A team and its queue ("Billing", "Repairs")."""

    __tablename__ = "groups"

    id: Mapped[str] = mapped_column(IdColumn, primary_key=True, default=new_id)
    name: Mapped[str] = mapped_column(String(120), unique=True)
    description: Mapped[str] = mapped_column(Text, default="")
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)


class Agent(Base):
    """A person who works tickets: agent, supervisor or admin."""

    __tablename__ = "agents"

    id: Mapped[str] = mapped_column(IdColumn, primary_key=True, default=new_id)
    name: Mapped[str] = mapped_column(String(200))
    email: Mapped[str] = mapped_column(String(320), unique=True)
    role: Mapped[str] = mapped_column(String(16), default="agent")
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    timezone: Mapped[str] = mapped_column(String(64), default="UTC")
    # Bumped whenever role, groups or active change: a workstation synced under an older
    # value must rebuild its cache, because what the agent may see has changed.
    access_version: Mapped[int] = mapped_column(Integer, default=1)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)


class GroupMembership(Base):
    """Which agents work which groups' queues."""

    __tablename__ = "group_memberships"

    agent_id: Mapped[str] = mapped_column(
        IdColumn, ForeignKey("agents.id", ondelete="CASCADE"), primary_key=True
    )
    group_id: Mapped[str] = mapped_column(
        IdColumn, ForeignKey("groups.id", ondelete="CASCADE"), primary_key=True
    )


class Organization(Base):
    """The company a customer belongs to, if any."""

    __tablename__ = "organizations"

    id: Mapped[str] = mapped_column(IdColumn, primary_key=True, default=new_id)
    name: Mapped[str] = mapped_column(String(200))
    domain: Mapped[str | None] = mapped_column(String(255), default=None)
    notes: Mapped[str] = mapped_column(Text, default="")
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)


class Customer(Base):
    """A person who contacts support, on any channel."""

    __tablename__ = "customers"

    id: Mapped[str] = mapped_column(IdColumn, primary_key=True, default=new_id)
    # Indexed: every workstation keeps every customer, and the desk finds them by name.
    name: Mapped[str] = mapped_column(String(200), index=True)
    organization_id: Mapped[str | None] = mapped_column(
        IdColumn, ForeignKey("organizations.id", ondelete="SET NULL"), default=None, index=True
    )
    tier: Mapped[str] = mapped_column(String(16), default="standard")
    language: Mapped[str] = mapped_column(String(16), default="en")
    timezone: Mapped[str] = mapped_column(String(64), default="UTC")
    notes: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)
    # Set when this customer was merged into another (app/domain/customer_merge.py): the
    # record stays as a tombstone so late changes that name it are redirected or refused.
    merged_into: Mapped[str | None] = mapped_column(IdColumn, default=None)


class CustomerIdentity(Base):
    """One way to reach a customer: an email address, an E.164 phone number, a handle.

    An email address or a handle belongs to one customer at a time; a phone number may be
    shared (a family landline, an office switchboard), and the phone desk asks which of them
    is calling."""

    __tablename__ = "customer_identities"
    __table_args__ = (
        Index(
            "ix_customer_identities_one_owner",
            "kind",
            "value",
            unique=True,
            sqlite_where=text("kind != 'phone'"),
            postgresql_where=text("kind != 'phone'"),
        ),
        # Screen-pop and the customer picker look numbers and addresses up by value.
        Index("ix_customer_identities_value", "value"),
    )

    id: Mapped[str] = mapped_column(IdColumn, primary_key=True, default=new_id)
    customer_id: Mapped[str] = mapped_column(
        IdColumn, ForeignKey("customers.id", ondelete="CASCADE"), index=True
    )
    kind: Mapped[str] = mapped_column(String(16))
    value: Mapped[str] = mapped_column(String(320))


class Ticket(Base):
    """A customer's request and everything said about it."""

    __tablename__ = "tickets"
    __table_args__ = (
        Index("ix_tickets_updated_at", "updated_at"),
        Index("ix_tickets_assignee_status", "assignee_id", "status"),
        Index("ix_tickets_group_status", "group_id", "status"),
    )

    id: Mapped[str] = mapped_column(IdColumn, primary_key=True, default=new_id)
    # Human-readable number; the server assigns it, so a ticket made offline has none yet.
    number: Mapped[int | None] = mapped_column(Integer, unique=True, default=None)
    subject: Mapped[str] = mapped_column(String(500))
    status: Mapped[str] = mapped_column(String(16), default="new")
    priority: Mapped[str] = mapped_column(String(16), default="normal")
    channel: Mapped[str] = mapped_column(String(16))
    customer_id: Mapped[str | None] = mapped_column(
        IdColumn, ForeignKey("customers.id", ondelete="SET NULL"), index=True, default=None
    )
    assignee_id: Mapped[str | None] = mapped_column(
        IdColumn, ForeignKey("agents.id", ondelete="SET NULL"), default=None
    )
    group_id: Mapped[str | None] = mapped_column(
        IdColumn, ForeignKey("groups.id", ondelete="SET NULL"), default=None
    )
    tags: Mapped[list[Any]] = mapped_column(JSONList, default=list)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)
    first_response_at: Mapped[datetime | None] = mapped_column(default=None)
    solved_at: Mapped[datetime | None] = mapped_column(default=None)
    # Bumped by every change to the ticket or its thread; guarded writes name the one they saw.
    version: Mapped[int] = mapped_column(Integer, default=1)
    # Set when this ticket was merged into another (app/domain/ticket_merge.py): it is closed,
    # and a reply queued offline on it is redirected to the ticket it was merged into.
    merged_into: Mapped[str | None] = mapped_column(IdColumn, default=None)


class Message(Base):
    """One entry in a ticket's thread. Append-only: never edited once sent."""

    __tablename__ = "messages"
    __table_args__ = (Index("ix_messages_ticket_created", "ticket_id", "created_at"),)

    id: Mapped[str] = mapped_column(IdColumn, primary_key=True, default=new_id)
    ticket_id: Mapped[str] = mapped_column(IdColumn, ForeignKey("tickets.id", ondelete="CASCADE"))
    kind: Mapped[str] = mapped_column(String(16))
    author_type: Mapped[str] = mapped_column(String(16))
    author_agent_id: Mapped[str | None] = mapped_column(
        IdColumn, ForeignKey("agents.id", ondelete="SET NULL"), default=None
    )
    author_customer_id: Mapped[str | None] = mapped_column(
        IdColumn, ForeignKey("customers.id", ondelete="SET NULL"), default=None
    )
    body: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    delivery_state: Mapped[str] = mapped_column(String(16), default="sent")


class CannedResponse(Base):
    """A reusable reply with placeholders such as ``{{customer.first_name}}``."""

    __tablename__ = "canned_responses"

    id: Mapped[str] = mapped_column(IdColumn, primary_key=True, default=new_id)
    title: Mapped[str] = mapped_column(String(200))
    shortcut: Mapped[str] = mapped_column(String(64), default="")
    body: Mapped[str] = mapped_column(Text)
    scope: Mapped[str] = mapped_column(String(16), default="shared")
    group_id: Mapped[str | None] = mapped_column(
        IdColumn, ForeignKey("groups.id", ondelete="CASCADE"), default=None
    )
    owner_id: Mapped[str | None] = mapped_column(
        IdColumn, ForeignKey("agents.id", ondelete="CASCADE"), default=None
    )
    usage_count: Mapped[int] = mapped_column(Integer, default=0)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)


class Draft(Base):
    """An agent's unsent text on a ticket; follows the agent from workstation to workstation."""

    __tablename__ = "drafts"
    __table_args__ = (UniqueConstraint("agent_id", "ticket_id"),)

    # Derived from (agent, ticket) so two workstations of one agent name the same draft.
    id: Mapped[str] = mapped_column(IdColumn, primary_key=True)
    agent_id: Mapped[str] = mapped_column(IdColumn, ForeignKey("agents.id", ondelete="CASCADE"))
    # No foreign key: a draft outlives its ticket's merge or deletion, so no text is lost.
    ticket_id: Mapped[str] = mapped_column(IdColumn)
    kind: Mapped[str] = mapped_column(String(16), default="reply")
    body: Mapped[str] = mapped_column(Text, default="")
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)


class WorkspaceSetting(Base):
    """A setting of the whole workspace that every workstation needs ("phone-region": the
    region of numbers written without a country code); admins change them."""

    __tablename__ = "workspace_settings"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)  # the setting's name
    value: Mapped[str] = mapped_column(String(200))
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)


# Drafts are named by (agent, ticket) so every workstation of one agent names the same draft.
DRAFT_NAMESPACE = uuid.UUID("8d5a3c1e-6f0b-4b39-9a55-3f8f0f3f6d21")


def draft_id(agent_id: str, ticket_id: str) -> str:
    """The id of an agent's draft on a ticket; the same on every workstation and the server."""
    return str(uuid.uuid5(DRAFT_NAMESPACE, f"{agent_id}:{ticket_id}"))


class Mention(Base):
    """An agent @mentioned in a colleague's internal note: who, by whom, on which ticket and
    message, when, and when the mentioned agent saw it (None: not yet)."""

    __tablename__ = "mentions"
    __table_args__ = (Index("ix_mentions_agent_created", "agent_id", "created_at"),)

    # Derived from (message, agent): a note replayed or re-planned names the same mention.
    id: Mapped[str] = mapped_column(IdColumn, primary_key=True)
    agent_id: Mapped[str] = mapped_column(IdColumn, ForeignKey("agents.id", ondelete="CASCADE"))
    by_agent_id: Mapped[str | None] = mapped_column(IdColumn, default=None)
    # No foreign keys: a mention outlives its ticket's merge, as a draft does.
    ticket_id: Mapped[str] = mapped_column(IdColumn)
    message_id: Mapped[str] = mapped_column(IdColumn)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    seen_at: Mapped[datetime | None] = mapped_column(default=None)


MENTION_NAMESPACE = uuid.UUID("3b0f6a52-9c4e-4f8e-8d1a-6e2c7b5d9a14")


def mention_id(message_id: str, agent_id: str) -> str:
    """The id of the mention of an agent in a message; the same wherever it is derived."""
    return str(uuid.uuid5(MENTION_NAMESPACE, f"{message_id}:{agent_id}"))
