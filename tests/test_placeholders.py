"""Placeholders in canned responses: filled when known, kept and reported when not."""

from __future__ import annotations

from datetime import UTC, datetime

from app.sync.desk_types import Conversation, CustomerCard, Person, TicketDetail
from app.sync.placeholders import KNOWN, fill, placeholder_context

NOW = datetime(2026, 11, 23, 9, 0, tzinfo=UTC)


def _customer(identities: tuple[tuple[str, str], ...]) -> CustomerCard:
    return CustomerCard(
        id="c-1",
        name="Zoë  van der Berg",
        identities=identities,
        organization=None,
        tier="gold",
        language="nl",
        timezone="Europe/Amsterdam",
        notes="",
        open_tickets=(),
        past_tickets=(),
        tickets_last_90_days=1,
        customer_since=NOW,
    )


def _conversation(number: int | None) -> Conversation:
    ticket = TicketDetail(
        id="t-1",
        number=number,
        subject="Printer jams",
        status="on_hold",
        priority="normal",
        channel="email",
        customer_id="c-1",
        assignee_id="a-ada",
        group_id=None,
        tags=(),
        version=3,
        created_at=NOW,
        updated_at=NOW,
    )
    return Conversation(ticket=ticket, messages=(), draft=None, pending_changes=0)


ADA = Person("a-ada", "Ada Lovelace", "ada@example.com", "agent", "UTC")


def test_known_placeholders_are_filled_with_spaces_and_any_case() -> None:
    context = placeholder_context(
        _conversation(1042), _customer((("email", "zoe@mail.test"),)), ADA
    )
    filled = fill(
        "Hi {{customer.first_name}} ({{ Customer.Email }}), re #{{ticket.number}} "
        "'{{ticket.subject}}' ({{ticket.status}}) — {{agent.first_name}}",
        context,
    )
    assert filled.text == ("Hi Zoë (zoe@mail.test), re #1042 'Printer jams' (on hold) — Ada")
    assert filled.unknown == ()
    assert context["customer.last_name"] == "van der Berg"


def test_unknown_and_empty_placeholders_stay_verbatim_and_are_reported_once() -> None:
    context = placeholder_context(None, _customer((("email", "zoe@mail.test"),)), ADA)
    body = (
        "Call {{ customer.phone }} about {{ticket.number}}; size {{customer.shoe_size}}, "
        "again {{customer.phone}} {{ broken"
    )
    filled = fill(body, context)
    # Nothing is dropped: the text keeps every placeholder it could not fill, as written.
    assert filled.text == body
    assert filled.unknown == ("customer.phone", "ticket.number", "customer.shoe_size")
    assert filled.empty == ("customer.phone", "ticket.number")


def test_context_offers_every_documented_name_even_without_data() -> None:
    context = placeholder_context(None, None, None)
    assert set(KNOWN) <= set(context)
    assert all(value == "" for value in context.values())
    filled = fill("{{agent.name}}", context)
    assert filled.unknown == ("agent.name",)
    assert filled.empty == ("agent.name",)


def test_text_without_placeholders_is_unchanged() -> None:
    body = "Braces { alone } and {{ }} and {{1abc}} are not placeholders."
    filled = fill(body, {"customer.name": "X"})
    assert filled == fill(body, {})
    assert filled.text == body
    assert filled.unknown == ()
