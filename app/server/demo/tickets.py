"""The demo's thousand tickets: planned by kind, numbered in the order they came in, and laid
out in time so that every thread ends before ``now``."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import timedelta
from typing import Final

from app.models.enums import AuthorType, DeliveryState, MessageKind, TicketStatus, Tier
from app.server.demo.abcd import FLOWS, INTENTS, Intent
from app.server.demo.channels import gap
from app.server.demo.context import ticket_context
from app.server.demo.office import DemoOffice, PlannedTicket, pick
from app.server.demo.queue import (
    CHANNEL_WEIGHTS,
    STATUS_WEIGHTS,
    TICKET_COUNT,
    choose_assignee,
    choose_customer,
    choose_priority,
    opened_at,
)
from app.server.demo.repairs import repair_ticket
from app.server.demo.showcase import showcase_tickets
from app.server.demo.threads import abcd_thread

_REPAIRS_SHARE: Final = 0.14


def add_tickets(office: DemoOffice) -> None:
    """The sample chats, then ABCD and repair tickets until the queue is full."""
    rng = office.rng
    planned = showcase_tickets(office)
    # A few customers write in far more often than the rest, as in any real queue.
    weights = [1 / (rank + 1) ** 0.6 for rank in range(len(office.profiles))]
    flows = list(FLOWS)
    while len(planned) < TICKET_COUNT:
        status = pick(rng, STATUS_WEIGHTS)
        if rng.random() < _REPAIRS_SHARE:
            planned.append(repair_ticket(office, status, weights))
            continue
        flow = rng.choices(flows, [FLOWS[f].weight for f in flows])[0]
        intent = rng.choice([i for i in INTENTS if i.flow == flow])
        planned.append(_abcd_ticket(office, intent, status, weights))

    # Numbers follow the order tickets came in, as the server would have handed them out.
    planned.sort(key=lambda ticket: ticket.created_at)
    for number, ticket in enumerate(planned, start=1):
        _add_ticket(office, number, ticket)


def _abcd_ticket(
    office: DemoOffice, intent: Intent, status: TicketStatus, weights: Sequence[float]
) -> PlannedTicket:
    rng = office.rng
    channel = pick(rng, CHANNEL_WEIGHTS)
    customer = choose_customer(office, channel, weights)
    flow = FLOWS[intent.flow]
    assignee = choose_assignee(office, flow.team, status)
    context = ticket_context(office, intent, customer)
    entries = abcd_thread(office, intent, status, channel, context, flow.team, assignee)

    tags = [flow.tag, intent.key.replace("_", "-")]
    if customer.tier == Tier.VIP:
        tags.append("vip")
    if any("has been notified" in e.body for e in entries):
        tags.append("escalated")
    if any(e.body.startswith("A refund has been made") for e in entries):
        tags.append("refund")
    return PlannedTicket(
        id=office.new_id(),
        subject=rng.choice(intent.subjects).format_map(context),
        status=status,
        priority=choose_priority(office, customer),
        channel=channel,
        customer=customer,
        group=flow.team,
        assignee=assignee,
        tags=tags,
        entries=entries,
        created_at=opened_at(office, status),
    )


def _add_ticket(office: DemoOffice, number: int, ticket: PlannedTicket) -> None:
    """The ticket's row and its messages' rows, each message at its time in the thread."""
    created_at = ticket.created_at
    offsets = [0]
    for entry in ticket.entries[1:]:
        offsets.append(offsets[-1] + gap(office.rng, entry, ticket.channel))
    # A thread never runs past now: squeeze it into the time it has had.
    room = int((office.now - created_at).total_seconds()) - 60
    if offsets[-1] > room:
        offsets = [int(offset * room / offsets[-1]) for offset in offsets]
        for i in range(1, len(offsets)):
            offsets[i] = max(offsets[i], offsets[i - 1] + 1)

    first_response_at = solved_at = None
    for entry, offset in zip(ticket.entries, offsets, strict=True):
        at = created_at + timedelta(seconds=offset)
        public_by_agent = entry.author is AuthorType.AGENT and entry.kind in (
            MessageKind.REPLY,
            MessageKind.CALL,
        )
        if public_by_agent and first_response_at is None:
            first_response_at = at
        if entry.resolves:
            solved_at = at
        if entry.author is AuthorType.CUSTOMER:
            delivery = DeliveryState.DELIVERED
        elif entry.kind is MessageKind.REPLY:
            # Older replies have reached the customer; the newest may still be on its way.
            recent = office.now - at < timedelta(minutes=30)
            delivery = DeliveryState.SENT if recent else DeliveryState.DELIVERED
        else:
            delivery = DeliveryState.SENT
        office.messages.append(
            {
                "id": office.new_id(),
                "ticket_id": ticket.id,
                "kind": entry.kind.value,
                "author_type": entry.author.value,
                "author_agent_id": office.agent_ids[entry.agent.email] if entry.agent else None,
                "author_customer_id": (
                    ticket.customer.id if entry.author is AuthorType.CUSTOMER else None
                ),
                "body": entry.body,
                "created_at": at,
                "delivery_state": delivery.value,
            }
        )
    if ticket.status in (TicketStatus.SOLVED, TicketStatus.CLOSED) and solved_at is None:
        solved_at = created_at + timedelta(seconds=offsets[-1])
    office.tickets.append(
        {
            "id": ticket.id,
            "number": number,
            "subject": ticket.subject,
            "status": ticket.status.value,
            "priority": ticket.priority.value,
            "channel": ticket.channel.value,
            "customer_id": ticket.customer.id,
            "assignee_id": office.agent_ids[ticket.assignee.email] if ticket.assignee else None,
            "group_id": office.group_ids[ticket.group],
            "tags": ticket.tags,
            "created_at": created_at,
            "updated_at": created_at + timedelta(seconds=offsets[-1]),
            "first_response_at": first_response_at,
            "solved_at": solved_at,
            "version": 1 + len(ticket.entries),
        }
    )
