"""The demo being made: one seeded random stream, and the rows waiting to be inserted.

Everything is drawn from ``random.Random(seed)``, ids included, so a seed always produces the
same store; only the timestamps move with ``now``.  Every part of the generator draws from the
same stream in a fixed order, which is why the parts run in the order ``seed_demo`` gives.
"""

from __future__ import annotations

import random
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, TypeVar

from app.models.enums import AuthorType, Channel, MessageKind, Priority, TicketStatus
from app.server.demo.abcd import AbcdCorpus, corpus
from app.server.demo.staff import StaffMember

_T = TypeVar("_T")


def pick(rng: random.Random, weighted: Sequence[tuple[_T, int]]) -> _T:
    """One item of ``(item, weight)`` pairs, drawn by weight."""
    return rng.choices([item for item, _ in weighted], [w for _, w in weighted])[0]


@dataclass
class Entry:
    """One message of a thread before it has a time."""

    kind: MessageKind
    author: AuthorType
    body: str
    agent: StaffMember | None = None
    resolves: bool = False  # the reply that solved the ticket
    delay: tuple[int, int] | None = None  # seconds after the previous entry, if not the usual


@dataclass(frozen=True)
class Profile:
    """A customer as the demo speaks of them; the row is in ``DemoOffice.customers``."""

    id: str
    name: str
    username: str
    email: str
    phone: str | None  # E.164
    handle: str | None
    tier: str
    level: str
    account_id: str
    pin: str
    address: str
    street: str
    created_at: datetime

    @property
    def first_name(self) -> str:
        return self.name.split()[0]


@dataclass
class PlannedTicket:
    """A ticket and its thread before it has a number and its messages have times."""

    id: str
    subject: str
    status: TicketStatus
    priority: Priority
    channel: Channel
    customer: Profile
    group: str
    assignee: StaffMember | None
    tags: list[str]
    entries: list[Entry]
    created_at: datetime


class DemoOffice:
    """The demo being made: staff, customers and tickets, as rows ready to insert."""

    def __init__(self, *, seed: int, now: datetime) -> None:
        self.rng = random.Random(seed)
        # Ids come from their own stream so that adding a row somewhere does not reshuffle the
        # wording of every ticket after it.
        self._id_bits = random.Random(f"switchboard-demo-ids:{seed}")
        self.now = now
        self.corpus: AbcdCorpus = corpus()
        self.groups: list[dict[str, Any]] = []
        self.agents: list[dict[str, Any]] = []
        self.memberships: list[dict[str, Any]] = []
        self.organizations: list[dict[str, Any]] = []
        self.customers: list[dict[str, Any]] = []
        self.identities: list[dict[str, Any]] = []
        self.tickets: list[dict[str, Any]] = []
        self.messages: list[dict[str, Any]] = []
        self.canned_responses: list[dict[str, Any]] = []
        self.group_ids: dict[str, str] = {}
        self.agent_ids: dict[str, str] = {}
        self.profiles: list[Profile] = []

    def new_id(self) -> str:
        """Like ``app.models.base.new_id``, but reproducible from the seed."""
        return str(uuid.UUID(int=self._id_bits.getrandbits(128), version=4))

    def days_ago(self, low: float, high: float) -> datetime:
        seconds = self.rng.uniform(low * 86400, high * 86400)
        return self.now - timedelta(seconds=int(seconds))
