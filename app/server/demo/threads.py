"""The thread of an ABCD ticket: the customer's request, the subflow's actions, its ending.

The actions come from ABCD's knowledge base in order; the words around them (thanks, sign-offs,
nudges, internal notes) are in ``wording/conversation.toml``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Final

from app.models.enums import AuthorType, Channel, MessageKind, TicketStatus
from app.server.demo.abcd import STEPS, Intent
from app.server.demo.channels import dress, log_first_reply_as_call
from app.server.demo.context import capitalized
from app.server.demo.office import DemoOffice, Entry, pick
from app.server.demo.queue import MAX_THREAD, THREAD_LENGTHS
from app.server.demo.staff import StaffMember, supervisor, workers
from app.server.demo.wording import texts, wording

_CONVERSATION: Final = wording("conversation")
# From the sample chats: how customers say thanks and how agents sign off.
_CUSTOMER_THANKS: Final = texts(_CONVERSATION["customer_thanks"])
_AGENT_CLOSERS: Final = texts(_CONVERSATION["agent_closers"])
_CUSTOMER_NUDGES: Final = texts(_CONVERSATION["customer_nudges"])
_AGENT_GREETINGS: Final = texts(_CONVERSATION["agent_greetings"])
_PENDING_ASKS: Final = texts(_CONVERSATION["pending_asks"])
_NEW_DETAILS: Final = texts(_CONVERSATION["new_details"])
_SUPERVISOR_NOTES: Final = texts(_CONVERSATION["supervisor_notes"])
_HOLD_REASONS: Final[Mapping[str, str]] = {
    team: str(reason) for team, reason in _CONVERSATION["hold_reasons"].items()
}


def abcd_thread(
    office: DemoOffice,
    intent: Intent,
    status: TicketStatus,
    channel: Channel,
    context: Mapping[str, str],
    group: str,
    assignee: StaffMember | None,
) -> list[Entry]:
    """The thread of an ABCD ticket: the customer's request, then the subflow's actions in
    kb.json order (agent asks, customer answers, the system notes the action), cut to fit
    the ticket's status."""
    rng = office.rng
    agent = assignee or pick(rng, workers(group))
    actions = office.corpus.actions(intent)

    def say(text: str) -> str:
        return text.format_map(context)

    def from_customer(text: str) -> Entry:
        return Entry(MessageKind.REPLY, AuthorType.CUSTOMER, say(text))

    def from_agent(text: str, *, resolves: bool = False) -> Entry:
        return Entry(MessageKind.REPLY, AuthorType.AGENT, say(text), agent, resolves)

    def event(text: str) -> Entry:
        return Entry(MessageKind.EVENT, AuthorType.SYSTEM, say(text), delay=(5, 90))

    head = [from_customer(rng.choice(intent.openers))]
    if status is TicketStatus.NEW:
        extras = [from_customer(rng.choice(_NEW_DETAILS))]
        extras.append(
            event(f"Assigned to {assignee.name}")
            if assignee
            else event(f"Routed to {group} by the {channel.value.replace('_', '-')} rules")
        )
        rng.shuffle(extras)
        low, high = THREAD_LENGTHS[status]
        entries = head + extras[: rng.randint(low, high) - 1]
        return dress(rng, entries, channel, context)
    if assignee and rng.random() < 0.7:
        head.append(event(f"Assigned to {assignee.name}"))

    middle: list[Entry] = []
    for action in actions:
        step = intent.steps.get(action) or STEPS.get(action)
        if step is None:  # the FAQ flows' per-topic searches: only the system notices
            middle.append(event(f"System Action: {action.replace('-', ' ')}"))
            continue
        if step.ask:
            middle.append(from_agent(step.ask))
        if step.answer:
            middle.append(from_customer(step.answer))
        if step.event and rng.random() < 0.6:
            middle.append(event(step.event))

    tail: list[Entry] = []
    if status is TicketStatus.ON_HOLD:
        tail.append(_hold_note(intent, context, agent))
    elif status in (TicketStatus.SOLVED, TicketStatus.CLOSED):
        closer = capitalized(rng.choice(_AGENT_CLOSERS))
        resolution = f"{rng.choice(intent.resolutions)} {closer}"
        tail.append(from_agent(resolution, resolves=True))
        if rng.random() < 0.6:
            tail.append(from_customer(rng.choice(_CUSTOMER_THANKS)))
        if status is TicketStatus.CLOSED and rng.random() < 0.5:
            closed = event("Closed automatically after four days without a reply.")
            closed.delay = (4 * 86400, 4 * 86400 + 3600)
            tail.append(closed)

    low, high = THREAD_LENGTHS[status]
    budget = max(0, rng.randint(low, high) - len(head) - len(tail))
    middle = middle[:budget]
    if status is TicketStatus.OPEN:
        # Open: the customer spoke last and the ball is in the agent's court.
        while middle and middle[-1].author is not AuthorType.CUSTOMER:
            middle.pop()
        if not middle:
            middle = [from_customer(rng.choice(_CUSTOMER_NUDGES))]
    elif status is TicketStatus.PENDING:
        # Pending: the agent asked something and waits for the customer.
        while middle and middle[-1].author is not AuthorType.AGENT:
            middle.pop()
        if not middle:
            middle = [from_agent(rng.choice(_PENDING_ASKS))]
    else:
        # An ask the customer never answered cannot come right before the ending.
        while middle and middle[-1].author is AuthorType.AGENT:
            middle.pop()
    if not any(e.author is AuthorType.AGENT and e.kind is MessageKind.REPLY for e in middle + tail):
        middle.insert(0, from_agent(rng.choice(_AGENT_GREETINGS)))

    entries = head + middle + tail
    if rng.random() < 0.35:
        note = _triage_note(office, intent, context, agent)
        first_reply = next(i for i, e in enumerate(entries) if e.author is AuthorType.AGENT)
        entries.insert(first_reply + 1, note)
    if channel is Channel.PHONE:
        went_through = ", ".join(a.replace("-", " ") for a in actions[:3])
        log_first_reply_as_call(
            rng, entries, f"spoke with {context['first']}; went through {went_through}."
        )
    # Keep the status's ending; shorten the conversation before it.
    while len(entries) > MAX_THREAD:
        del entries[-len(tail) - 2]
    return dress(rng, entries, channel, context)


def _triage_note(
    office: DemoOffice, intent: Intent, context: Mapping[str, str], agent: StaffMember
) -> Entry:
    """An internal note quoting the subflow's guideline: the situation, a membership rule
    that applies, or the plan of actions; sometimes a supervisor's word instead."""
    rng = office.rng
    if rng.random() < 0.15:
        text = capitalized(rng.choice(_SUPERVISOR_NOTES).format_map(context))
        return Entry(MessageKind.NOTE, AuthorType.AGENT, text, supervisor())
    options = []
    if situation := office.corpus.situation(intent):
        options.append(f"Triage ({intent.flow} > {intent.subflow}): {situation}")
    options.extend(
        f"Policy check, {context['level']} member: {rule}."
        for rule in office.corpus.policies(intent, context["level"])
    )
    plan = " → ".join(a.replace("-", " ") for a in office.corpus.actions(intent))
    options.append(f"Plan per the {intent.subflow} guideline: {plan}.")
    return Entry(MessageKind.NOTE, AuthorType.AGENT, rng.choice(options), agent)


def _hold_note(intent: Intent, context: Mapping[str, str], agent: StaffMember) -> Entry:
    team = context["team"]
    text = f"On hold: waiting for {_HOLD_REASONS.get(team, team)} ({intent.subflow})."
    return Entry(MessageKind.NOTE, AuthorType.AGENT, text, agent)
