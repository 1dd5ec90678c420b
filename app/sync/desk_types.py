"""What the desk shows, as plain frozen data: the only shapes that cross into ``app/ui``.

Widgets never see ORM rows or SQL: the desk's readers (``app/sync/desk/``) answer every
question with these dataclasses, built on their own threads, and the Qt side only reads them.
Times are timezone-aware UTC ``datetime``s; the UI converts to the agent's zone.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any


class TicketColumn(StrEnum):
    """Columns of the ticket list, in display order; each sorts in SQL."""

    NUMBER = "number"
    SUBJECT = "subject"
    CUSTOMER = "customer"
    STATUS = "status"
    PRIORITY = "priority"
    CHANNEL = "channel"
    ASSIGNEE = "assignee"
    UPDATED = "updated_at"
    WAITING = "waiting"  # since the customer's last message that has no agent reply after it


@dataclass(frozen=True)
class ViewSpec:
    """Which tickets a view lists.  Every set field narrows; an empty one means "any".

    ``assignee``: ``"me"``, ``"none"`` (unassigned) or an agent id.  ``group_ids`` of
    ``("mine",)`` means the groups the signed-in agent belongs to.  ``solved_within_days``
    keeps tickets solved (or closed) at most that many days ago.
    """

    key: str  # "mine", "unassigned", "group:<id>", "pending", "solved", "saved:<uuid>"
    title: str
    statuses: tuple[str, ...] = ()
    assignee: str | None = None
    group_ids: tuple[str, ...] = ()
    priorities: tuple[str, ...] = ()
    channels: tuple[str, ...] = ()
    tags: tuple[str, ...] = ()
    text: str = ""  # subject or customer name contains (case-insensitive)
    solved_within_days: int | None = None
    saved: bool = False  # created by the agent: may be edited and deleted


@dataclass(frozen=True)
class ViewCount:
    spec: ViewSpec
    count: int


@dataclass(frozen=True)
class TicketSort:
    column: TicketColumn = TicketColumn.UPDATED
    descending: bool = True


@dataclass(frozen=True)
class TicketRow:
    """One line of the ticket list."""

    id: str
    number: int | None  # None until the server has numbered a ticket made offline
    subject: str
    customer_id: str | None
    customer_name: str
    status: str
    priority: str
    channel: str
    assignee_id: str | None
    assignee_name: str
    group_id: str | None
    updated_at: datetime
    waiting_since: datetime | None
    version: int
    tags: tuple[str, ...] = ()
    pending: bool = False  # local changes not yet acknowledged by the server


@dataclass(frozen=True)
class MessageItem:
    """One entry of a conversation's thread."""

    id: str
    kind: str  # MessageKind: reply, note, call, event
    author_type: str  # AuthorType: agent, customer, system
    author_name: str
    body: str
    created_at: datetime
    delivery_state: str  # DeliveryState: queued, sent, delivered, failed
    author_id: str | None = None  # the agent's id, for an agent's message


@dataclass(frozen=True)
class DraftItem:
    body: str
    kind: str  # "reply" or "note"
    updated_at: datetime


@dataclass(frozen=True)
class Refusal:
    """A change of this agent's the server refused, with all its text, for review.

    Told live (`SyncObserver.change_refused`) and kept in the cache until the agent reviews
    it.  ``what`` is the change as the desk names it ("Reply", "Note", "Ticket change"), from the
    mutation's declaration.
    """

    mutation_id: int
    name: str  # "message.add", "ticket.update", ...
    code: str  # "conflict", "forbidden", "invalid_mutation", ...
    message: str
    args: dict[str, Any]
    current: Any  # the server's row at the time, when it sent one
    created_at: datetime
    what: str

    @property
    def ticket_id(self) -> str | None:
        """The ticket the refused change was about (None for canned responses, accounts)."""
        return ticket_of(self.args)


def ticket_of(args: dict[str, Any]) -> str | None:
    """The ticket a mutation's args are about: a ticket change names it, a message names
    it inside, a new ticket is it (the same rule as ``_REFUSAL_TICKET`` in SQL, in
    app/sync/desk/conversations.py)."""
    for holder, key in (
        (args, "ticket_id"),
        (args.get("message"), "ticket_id"),
        (args.get("ticket"), "id"),
        (args.get("call"), "ticket_id"),  # a call logged on a ticket
    ):
        if isinstance(holder, dict) and isinstance(holder.get(key), str):
            return str(holder[key])
    return None


@dataclass(frozen=True)
class TicketDetail:
    id: str
    number: int | None
    subject: str
    status: str
    priority: str
    channel: str
    customer_id: str | None
    assignee_id: str | None
    group_id: str | None
    tags: tuple[str, ...]
    version: int
    created_at: datetime
    updated_at: datetime
    merged_into: str | None = None  # the ticket this one was merged into (it is closed)


@dataclass(frozen=True)
class Conversation:
    """Everything a conversation tab shows, read in one transaction."""

    ticket: TicketDetail
    messages: tuple[MessageItem, ...]
    draft: DraftItem | None
    pending_changes: int  # queued ticket changes (status, assignee, ...)
    refusals: tuple[Refusal, ...] = ()


@dataclass(frozen=True)
class TicketBrief:
    id: str
    number: int | None
    subject: str
    status: str
    updated_at: datetime


@dataclass(frozen=True)
class CustomerCard:
    """The customer-360 panel."""

    id: str
    name: str
    identities: tuple[tuple[str, str], ...]  # (kind, value): ("email", "a@b.c")
    organization: str | None
    tier: str
    language: str
    timezone: str
    notes: str
    open_tickets: tuple[TicketBrief, ...]
    past_tickets: tuple[TicketBrief, ...]
    tickets_last_90_days: int
    customer_since: datetime


@dataclass(frozen=True)
class CannedItem:
    id: str
    title: str
    shortcut: str
    body: str
    scope: str  # CannedScope
    group_id: str | None
    owner_id: str | None
    usage_count: int
    editable: bool  # this agent may change or delete it


@dataclass(frozen=True)
class SearchHit:
    kind: str  # "ticket", "customer" or "message"
    title: str  # "#1042 Printer jams", "Ada Lovelace", ...
    snippet: str  # plain text around the match; matched words between "\x02" and "\x03"
    ticket_id: str | None = None
    customer_id: str | None = None


@dataclass(frozen=True)
class SearchResults:
    query: str
    hits: tuple[SearchHit, ...]
    elapsed_ms: float


@dataclass(frozen=True)
class Person:
    """An agent, for pickers and names."""

    id: str
    name: str
    email: str
    role: str
    timezone: str


@dataclass(frozen=True)
class Team:
    id: str
    name: str


@dataclass(frozen=True)
class Directory:
    """Who and which groups the desk knows of; small, read once and on agent/group changes."""

    me: Person | None
    agents: tuple[Person, ...]
    groups: tuple[Team, ...]
    my_group_ids: tuple[str, ...] = field(default_factory=tuple)


@dataclass(frozen=True)
class MentionItem:
    """A colleague's @mention of the agent in an internal note, for the Mentions list."""

    id: str
    ticket_id: str
    ticket_number: int | None  # None: not numbered yet, or not on this workstation
    ticket_subject: str  # "" when the ticket is not on this workstation
    message_id: str
    by_name: str  # who mentioned them ("" if unknown here)
    excerpt: str  # the start of the note ("" when the message is not on this workstation)
    created_at: datetime
    seen: bool


# ---- customers: the picker and the editor (app/sync/desk/customer_finder.py) -------------


@dataclass(frozen=True)
class CustomerMatch:
    """A customer found as the agent types: who, where they work, how to reach them, and
    what matched ("+44 20 7946 0018", "nora@example.com", "Acme Ltd", or the name)."""

    id: str
    name: str
    organization: str | None
    emails: tuple[str, ...]
    phones: tuple[str, ...]  # E.164
    matched: str


@dataclass(frozen=True)
class IdentityItem:
    id: str
    kind: str  # IdentityKind
    value: str


@dataclass(frozen=True)
class CustomerForm:
    """A customer as the editor edits them: every field, identities with their ids."""

    id: str
    name: str
    organization_id: str | None
    organization: str | None
    tier: str
    language: str
    timezone: str
    notes: str
    identities: tuple[IdentityItem, ...]


@dataclass(frozen=True)
class OrganizationItem:
    id: str
    name: str
    domain: str | None
