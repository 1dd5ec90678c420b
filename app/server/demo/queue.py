"""The shape of the demo's queue: how tickets spread over statuses, ages, channels, priorities,
customers and agents, and how long their threads run."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Final

from app.models.enums import Channel, Priority, TicketStatus, Tier
from app.server.demo.office import DemoOffice, Profile, pick
from app.server.demo.staff import StaffMember, workers

TICKET_COUNT: Final = 1000

# Statuses by share of the queue, and how long ago tickets in them were opened, in days
# (weighted ranges): work in progress is recent, closed tickets go back the full six months.
STATUS_WEIGHTS: Final = (
    (TicketStatus.NEW, 7),
    (TicketStatus.OPEN, 16),
    (TicketStatus.PENDING, 10),
    (TicketStatus.ON_HOLD, 5),
    (TicketStatus.SOLVED, 17),
    (TicketStatus.CLOSED, 45),
)
_AGE_DAYS: Final[Mapping[TicketStatus, tuple[tuple[float, float, int], ...]]] = {
    TicketStatus.NEW: ((0.1, 3, 1),),
    TicketStatus.OPEN: ((0.1, 10, 85), (10, 40, 15)),
    TicketStatus.PENDING: ((0.5, 14, 80), (14, 60, 20)),
    TicketStatus.ON_HOLD: ((1, 21, 75), (21, 90, 25)),
    TicketStatus.SOLVED: ((0.5, 30, 80), (30, 90, 20)),
    TicketStatus.CLOSED: ((5, 180, 1),),
}
# How many messages a thread in each status has (inclusive).
THREAD_LENGTHS: Final[Mapping[TicketStatus, tuple[int, int]]] = {
    TicketStatus.NEW: (2, 3),
    TicketStatus.OPEN: (3, 8),
    TicketStatus.PENDING: (3, 8),
    TicketStatus.ON_HOLD: (4, 8),
    TicketStatus.SOLVED: (3, 8),
    TicketStatus.CLOSED: (4, 8),
}
MAX_THREAD: Final = 8
CHANNEL_WEIGHTS: Final = (
    (Channel.EMAIL, 30),
    (Channel.CHAT, 25),
    (Channel.PHONE, 18),
    (Channel.WEB, 15),
    (Channel.SOCIAL, 12),
)
_PRIORITY_WEIGHTS: Final = (
    (Priority.LOW, 18),
    (Priority.NORMAL, 52),
    (Priority.HIGH, 22),
    (Priority.URGENT, 8),
)


def choose_customer(office: DemoOffice, channel: Channel, weights: Sequence[float]) -> Profile:
    """A customer who can write in on ``channel``, the regulars more often than the rest."""
    while True:
        customer = office.rng.choices(office.profiles, weights)[0]
        if channel is Channel.SOCIAL and customer.handle is None:
            continue
        if channel is Channel.PHONE and customer.phone is None:
            continue
        return customer


def choose_assignee(office: DemoOffice, group: str, status: TicketStatus) -> StaffMember | None:
    odds = 0.35 if status is TicketStatus.NEW else 0.93
    if office.rng.random() >= odds:
        return None
    return pick(office.rng, workers(group))


def choose_priority(office: DemoOffice, customer: Profile) -> Priority:
    priority = pick(office.rng, _PRIORITY_WEIGHTS)
    if customer.tier in (Tier.GOLD, Tier.VIP):
        # Valued customers' tickets get looked at sooner.
        order = [p for p, _ in _PRIORITY_WEIGHTS]
        priority = max(priority, pick(office.rng, _PRIORITY_WEIGHTS), key=order.index)
    return priority


def opened_at(office: DemoOffice, status: TicketStatus) -> datetime:
    """When a ticket now in ``status`` came in."""
    ranges = _AGE_DAYS[status]
    low, high, _ = office.rng.choices(ranges, [w for *_, w in ranges])[0]
    return office.days_ago(low, high)
