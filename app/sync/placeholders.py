"""Filling the placeholders of canned responses: ``{{customer.first_name}}`` and friends.

A placeholder is ``{{ name }}`` (spaces inside the braces allowed, names case-insensitive).
Nothing is ever dropped silently: a placeholder that cannot be filled stays in the text
exactly as written *and* is listed in ``Filled.unknown``, so the composer can highlight it
and the agent notices before sending.  That covers two cases:

* a name nobody knows (``{{customer.shoe_size}}``, a typo), and
* a known name with no value for this conversation (the customer has no phone number, no
  ticket is open): inserting "" would send "Hi ," to a customer.  These are also listed in
  ``Filled.empty``, so the UI can say "no phone number on file" rather than "unknown".
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass

from app.sync.desk_types import Conversation, CustomerCard, Person

PLACEHOLDER = re.compile(r"\{\{\s*([A-Za-z_][A-Za-z0-9_.]*)\s*\}\}")

# Every name placeholder_context provides (with a value or with "").
KNOWN = (
    "customer.name",
    "customer.first_name",
    "customer.last_name",
    "customer.email",
    "customer.phone",
    "customer.organization",
    "ticket.number",
    "ticket.subject",
    "ticket.status",
    "agent.name",
    "agent.first_name",
    "agent.email",
)


@dataclass(frozen=True)
class Filled:
    """A body with its placeholders filled; ``unknown`` lists (once each, in order) those
    left in the text, ``empty`` the subset that are known names without a value."""

    text: str
    unknown: tuple[str, ...]
    empty: tuple[str, ...] = ()


def fill(body: str, context: Mapping[str, str]) -> Filled:
    """Replace each ``{{name}}`` whose value in ``context`` is non-empty; keep the rest."""
    values = {k.lower(): v for k, v in context.items()}
    unknown: dict[str, None] = {}
    empty: dict[str, None] = {}

    def replace(match: re.Match[str]) -> str:
        name = match.group(1).lower()
        value = values.get(name)
        if value:
            return value
        unknown[name] = None
        if value is not None:
            empty[name] = None
        return match.group(0)

    text = PLACEHOLDER.sub(replace, body)
    return Filled(text, tuple(unknown), tuple(empty))


def _split_name(name: str) -> tuple[str, str]:
    parts = name.split()
    if not parts:
        return "", ""
    return parts[0], " ".join(parts[1:])


def placeholder_context(
    conversation: Conversation | None, customer: CustomerCard | None, me: Person | None
) -> dict[str, str]:
    """The values for ``fill``: every name in ``KNOWN``, "" where there is none."""
    context = dict.fromkeys(KNOWN, "")
    if customer is not None:
        first, last = _split_name(customer.name)
        context["customer.name"] = customer.name.strip()
        context["customer.first_name"] = first
        context["customer.last_name"] = last
        context["customer.email"] = next((v for k, v in customer.identities if k == "email"), "")
        context["customer.phone"] = next((v for k, v in customer.identities if k == "phone"), "")
        context["customer.organization"] = customer.organization or ""
    if conversation is not None:
        ticket = conversation.ticket
        context["ticket.number"] = "" if ticket.number is None else str(ticket.number)
        context["ticket.subject"] = ticket.subject
        context["ticket.status"] = ticket.status.replace("_", " ")
    if me is not None:
        context["agent.name"] = me.name.strip()
        context["agent.first_name"] = _split_name(me.name)[0]
        context["agent.email"] = me.email
    return context
