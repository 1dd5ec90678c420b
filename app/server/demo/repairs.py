"""The walk-in repair desk: device intake, estimates, deposits and pick-up.

ABCD has no repair counter, so these threads are written here; the devices, their faults and
the estimates' ranges are in ``wording/repairs.toml``.
"""

from __future__ import annotations

import random
import string
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Final

from app.models.enums import AuthorType, Channel, MessageKind, TicketStatus
from app.server.demo.channels import dress, log_first_reply_as_call
from app.server.demo.customers import local_phone
from app.server.demo.office import DemoOffice, Entry, PlannedTicket, Profile, pick
from app.server.demo.queue import choose_assignee, choose_customer, choose_priority, opened_at
from app.server.demo.staff import REPAIRS_DESK, StaffMember, workers
from app.server.demo.wording import span, texts, wording


@dataclass(frozen=True)
class Device:
    """A device customers bring to the counter."""

    make: str
    model: str
    kind: str  # phone, tablet, laptop or console


@dataclass(frozen=True)
class Fault:
    """What can go wrong with a kind of device, in the customer's words and the desk's."""

    summary: str
    story: str
    part: str
    estimate: tuple[int, int]


_REPAIRS: Final = wording("repairs")
_DEVICES: Final = tuple(
    Device(str(device["make"]), str(device["model"]), str(device["kind"]))
    for device in _REPAIRS["device"]
)
_FAULTS: Final[Mapping[str, tuple[Fault, ...]]] = {
    kind: tuple(
        Fault(str(f["summary"]), str(f["story"]), str(f["part"]), span(f["estimate"]))
        for f in faults
    )
    for kind, faults in _REPAIRS["fault"].items()
}
_WEEKDAYS: Final = texts(_REPAIRS["weekdays"])


def _imei(rng: random.Random) -> str:
    """A 15-digit IMEI whose last digit is the Luhn check digit, as on a real handset."""
    body = "35" + "".join(rng.choice(string.digits) for _ in range(12))
    total = 0
    for i, char in enumerate(reversed(body)):
        digit = int(char)
        if i % 2 == 0:
            digit *= 2
            if digit > 9:
                digit -= 9
        total += digit
    return body + str((10 - total % 10) % 10)


def repair_ticket(
    office: DemoOffice, status: TicketStatus, weights: Sequence[float]
) -> PlannedTicket:
    """A repair: mostly a walk-in, sometimes a quote asked for by phone or email."""
    rng = office.rng
    channel = pick(rng, ((Channel.WALK_IN, 75), (Channel.PHONE, 15), (Channel.EMAIL, 10)))
    customer = choose_customer(office, channel, weights)
    assignee = choose_assignee(office, REPAIRS_DESK, status)
    device = rng.choice(_DEVICES)
    fault = rng.choice(_FAULTS[device.kind])
    low, high = fault.estimate
    estimate = rng.randint(low // 5, high // 5) * 5 - 1  # shop prices end in 9
    context = {
        "first": customer.first_name,
        "name": customer.name,
        "email": customer.email,
        "phone": local_phone(customer.phone) if customer.phone else "",
    }
    repair = _Repair(customer, assignee, device, fault, estimate)
    if channel is Channel.WALK_IN:
        entries = _walk_in_thread(rng, status, repair)
        subject = f"Walk-in repair: {device.make} {device.model} — {fault.summary}"
    else:
        entries = _repair_quote_thread(rng, status, repair)
        subject = f"Repair quote: {device.make} {device.model}, {fault.summary}"
        if channel is Channel.PHONE:
            log_first_reply_as_call(
                rng, entries, f"returned {customer.first_name}'s call about the {device.model}."
            )
    tags = ["repair", device.kind, device.make.lower()]
    if channel is Channel.WALK_IN and status is not TicketStatus.NEW:
        tags.append("deposit-paid")
    return PlannedTicket(
        id=office.new_id(),
        subject=subject,
        status=status,
        priority=choose_priority(office, customer),
        channel=channel,
        customer=customer,
        group=REPAIRS_DESK,
        assignee=assignee,
        tags=tags,
        entries=dress(rng, entries, channel, context),
        created_at=opened_at(office, status),
    )


@dataclass(frozen=True)
class _Repair:
    """One repair job: whose device, who works it, what is wrong and what it will cost."""

    customer: Profile
    assignee: StaffMember | None
    device: Device
    fault: Fault
    estimate: int

    @property
    def model(self) -> str:
        return f"{self.device.make} {self.device.model}"

    def agent(self, rng: random.Random) -> StaffMember:
        """The assignee, or whoever at the desk happened to answer."""
        return self.assignee or pick(rng, workers(REPAIRS_DESK))


def _walk_in_thread(rng: random.Random, status: TicketStatus, repair: _Repair) -> list[Entry]:
    agent = repair.agent(rng)
    first = repair.customer.first_name
    device, fault, estimate, model = repair.device, repair.fault, repair.estimate, repair.model
    deposit = 50 if estimate >= 100 else 25
    number_kind, number = (
        ("IMEI", _imei(rng))
        if device.kind == "phone"
        else ("Serial", "".join(rng.choices(string.ascii_uppercase + string.digits, k=11)))
    )
    day = rng.choice(_WEEKDAYS)
    hours = (3600, 3 * 86400)

    def note(text: str, delay: tuple[int, int] = hours) -> Entry:
        return Entry(MessageKind.NOTE, AuthorType.AGENT, text, agent, delay=delay)

    dropped_off = Entry(
        MessageKind.REPLY,
        AuthorType.CUSTOMER,
        f"{fault.story} Can I have it back by {day}?",
    )
    intake = note(
        f"Walk-in intake\nDevice: {model}\n{number_kind}: {number}\nFault: {fault.summary}\n"
        f"Condition: {rng.choice(('scuffs on the frame', 'like new', 'case on, no marks'))}\n"
        f"Estimate: ${estimate}.00 (parts and labour)\nDeposit: ${deposit}.00 by"
        f" {rng.choice(('card', 'cash'))}",
        delay=(120, 900),
    )
    deposit_taken = Entry(
        MessageKind.EVENT,
        AuthorType.SYSTEM,
        f"Deposit of ${deposit}.00 recorded.",
        delay=(5, 60),
    )
    quoted = Entry(
        MessageKind.REPLY,
        AuthorType.AGENT,
        f"Hi {first}, thanks for leaving your {model} with us. The estimate is ${estimate}.00"
        f" and we've taken a ${deposit}.00 deposit. We'll call you as soon as it's ready.",
        agent,
        delay=(600, 4 * 3600),
    )
    go_ahead = Entry(
        MessageKind.REPLY,
        AuthorType.CUSTOMER,
        rng.choice(
            (
                "Sounds good, go ahead.",
                "Great, thanks. Please call me before doing anything over the estimate.",
            )
        ),
    )
    ready = Entry(
        MessageKind.CALL,
        AuthorType.AGENT,
        f"Outbound call, {rng.randint(1, 5)} min: {fault.part} replaced and tested; told"
        f" {first} the {model} is ready for pick-up. Balance due ${estimate - deposit}.00.",
        agent,
        resolves=True,
        delay=(4 * 3600, 3 * 86400),
    )
    entries = [dropped_off, intake]
    if status is TicketStatus.NEW:
        return entries
    if rng.random() < 0.6:
        entries.append(deposit_taken)
    entries.append(quoted)
    if status is TicketStatus.OPEN:
        entries.append(
            Entry(MessageKind.REPLY, AuthorType.CUSTOMER, f"Any news on my {device.model}?")
        )
    elif status is TicketStatus.PENDING:
        extra = rng.randint(4, 12) * 10
        entries.append(
            Entry(
                MessageKind.REPLY,
                AuthorType.AGENT,
                f"Hi {first}, once we opened it up we also found a worn {fault.part} connector;"
                f" fixing both comes to ${estimate + extra}.00. OK to go ahead?",
                agent,
                delay=hours,
            )
        )
    elif status is TicketStatus.ON_HOLD:
        entries.append(go_ahead)
        entries.append(
            note(f"On hold: waiting for parts; the {fault.part} is back-ordered at the supplier.")
        )
    else:
        entries.append(go_ahead)
        if rng.random() < 0.5:
            entries.append(note(f"Parts: {fault.part} ordered, ETA {rng.randint(1, 3)} days."))
        entries.append(ready)
        if status is TicketStatus.CLOSED:
            entries.append(
                Entry(
                    MessageKind.EVENT,
                    AuthorType.SYSTEM,
                    f"Collected by {first}; balance of ${estimate - deposit}.00 paid.",
                    delay=(3600, 2 * 86400),
                )
            )
    return entries


def _repair_quote_thread(rng: random.Random, status: TicketStatus, repair: _Repair) -> list[Entry]:
    """A customer asks what a repair would cost before bringing the device in."""
    agent = repair.agent(rng)
    fault, model = repair.fault, repair.model
    asked = Entry(
        MessageKind.REPLY,
        AuthorType.CUSTOMER,
        f"How much would it cost to fix my {model}? {fault.story}",
    )
    entries = [asked]
    if status is TicketStatus.NEW:
        entries.append(
            Entry(MessageKind.REPLY, AuthorType.CUSTOMER, "Also, do I need an appointment?")
        )
        return entries
    quote = Entry(
        MessageKind.REPLY,
        AuthorType.AGENT,
        f"For a {model} with a {fault.summary}, the estimate is ${repair.estimate}.00 including"
        " parts and labour. No appointment needed: bring it to the Repairs Desk and most"
        " repairs are done in 1-2 working days.",
        agent,
        resolves=status in (TicketStatus.SOLVED, TicketStatus.CLOSED),
    )
    if status is TicketStatus.PENDING:
        quote.body = (
            f"Is your {model} still under warranty? If you have the receipt, send it over and"
            " I'll check whether the repair is covered."
        )
    entries.append(quote)
    if status is TicketStatus.OPEN:
        entries.append(
            Entry(
                MessageKind.REPLY,
                AuthorType.CUSTOMER,
                f"Can you do it on {rng.choice(_WEEKDAYS)} while I wait?",
            )
        )
    elif status is TicketStatus.ON_HOLD:
        entries.append(Entry(MessageKind.REPLY, AuthorType.CUSTOMER, "OK. Is the part in stock?"))
        entries.append(
            Entry(
                MessageKind.NOTE,
                AuthorType.AGENT,
                f"On hold: asked the supplier for a price and date on the {fault.part}.",
                agent,
            )
        )
    elif status in (TicketStatus.SOLVED, TicketStatus.CLOSED):
        entries.append(
            Entry(
                MessageKind.REPLY,
                AuthorType.CUSTOMER,
                f"Great, I'll bring it in on {rng.choice(_WEEKDAYS)}.",
            )
        )
    if entries[1].author is AuthorType.AGENT and rng.random() < 0.5:
        entries.insert(
            1,
            Entry(
                MessageKind.EVENT,
                AuthorType.SYSTEM,
                f"Assigned to {agent.name}" if repair.assignee else f"Routed to {REPAIRS_DESK}",
                delay=(5, 90),
            ),
        )
    return entries
