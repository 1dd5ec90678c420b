"""Closed vocabularies of the support domain, shared by wire, store and cache."""

from __future__ import annotations

from enum import StrEnum


class Role(StrEnum):
    AGENT = "agent"
    SUPERVISOR = "supervisor"
    ADMIN = "admin"


class TicketStatus(StrEnum):
    NEW = "new"
    OPEN = "open"
    PENDING = "pending"
    ON_HOLD = "on_hold"
    SOLVED = "solved"
    CLOSED = "closed"


# Statuses in which a ticket still needs work; replicated regardless of age.
ACTIVE_STATUSES = frozenset(
    {TicketStatus.NEW, TicketStatus.OPEN, TicketStatus.PENDING, TicketStatus.ON_HOLD}
)


class Priority(StrEnum):
    LOW = "low"
    NORMAL = "normal"
    HIGH = "high"
    URGENT = "urgent"


class Channel(StrEnum):
    EMAIL = "email"
    PHONE = "phone"
    CHAT = "chat"
    SOCIAL = "social"
    WEB = "web"
    WALK_IN = "walk_in"


class MessageKind(StrEnum):
    REPLY = "reply"  # public, the customer sees it
    NOTE = "note"  # internal, agents only
    CALL = "call"  # a call log
    EVENT = "event"  # a system event ("assigned to Ada")


class AuthorType(StrEnum):
    AGENT = "agent"
    CUSTOMER = "customer"
    SYSTEM = "system"


class DeliveryState(StrEnum):
    QUEUED = "queued"  # workstation only: waiting in the outbox
    SENT = "sent"  # accepted by the server
    DELIVERED = "delivered"  # handed to the customer's channel
    FAILED = "failed"  # rejected; the text is kept for the agent to review


class IdentityKind(StrEnum):
    EMAIL = "email"
    PHONE = "phone"
    SOCIAL = "social"
    CHAT = "chat"


class CannedScope(StrEnum):
    SHARED = "shared"
    GROUP = "group"
    PERSONAL = "personal"


class Tier(StrEnum):
    STANDARD = "standard"
    SILVER = "silver"
    GOLD = "gold"
    VIP = "vip"


class Presence(StrEnum):
    AVAILABLE = "available"
    BUSY = "busy"
    AWAY = "away"
    OFFLINE = "offline"
