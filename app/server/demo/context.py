"""What an ABCD ticket's templates can name: its customer, product, order and answers.

A ticket draws one context (``ticket_context``) and every template of its intent is filled from
it, so the subject, the customer's messages and the agent's replies agree with each other.  The
catalogue and the FAQ answers are wording (``catalogue.toml``, ``faq.toml``).
"""

from __future__ import annotations

import string
from collections.abc import Mapping
from datetime import timedelta
from typing import Final

from app.server.demo.abcd import Intent
from app.server.demo.customers import LAST_NAMES, STREETS, local_phone
from app.server.demo.office import DemoOffice, Profile
from app.server.demo.wording import span, texts, wording

_CATALOGUE: Final = wording("catalogue")
# ABCD's catalogue: four brands, four kinds of item (ontology.json, values.product).
_BRANDS: Final = texts(_CATALOGUE["brands"])
ITEM_PRICES: Final[Mapping[str, tuple[int, int]]] = {
    item: span(prices) for item, prices in _CATALOGUE["item_prices"].items()
}
_PAYMENT_METHODS: Final = texts(_CATALOGUE["payment_methods"])
_SHIPPING_STATUSES: Final = texts(_CATALOGUE["shipping_statuses"])
# How a customer asks for their money back, and how the agent then names that refund.
_REFUND_TARGETS: Final = tuple(
    (str(target["asked"]), str(target["told"])) for target in _CATALOGUE["refund_targets"]
)
# Where a customer heard about a change to their account, and how they say so.
_HEARD: Final = tuple((str(heard["source"]), str(heard["line"])) for heard in _CATALOGUE["heard"])
# Answers to the FAQ questions of guidelines.json, found by a word in the question; the first
# match wins, so the more specific words come first.
_FAQ_ANSWERS: Final = tuple(
    (str(answer["asked_about"]), str(answer["text"])) for answer in wording("faq")["answer"]
)

# A product as a ticket speaks of it: brand, item and price in whole dollars.
Product = tuple[str, str, int]


def capitalized(text: str) -> str:
    return text[:1].upper() + text[1:]


def _brand_name(brand: str) -> str:
    return brand.replace("_", " ").title()


def _nanp(area: str) -> str:
    """A fictional North American number pattern (555-0100..0199) with ``{n}`` for the tail."""
    return "+1" + area + "555{n:04d}"


def ticket_context(
    office: DemoOffice, intent: Intent, customer: Profile, product: Product | None = None
) -> dict[str, str]:
    """Every value a template of ``intent`` may name, for one ticket."""
    rng = office.rng
    if product is None:
        item = intent.key if intent.key in ITEM_PRICES else rng.choice(list(ITEM_PRICES))
        product = (rng.choice(_BRANDS), item, rng.randint(*ITEM_PRICES[item]))
    brand, item, amount = product
    method, new_method = rng.sample(_PAYMENT_METHODS, 2)
    refund_target, refund_method = rng.choice(_REFUND_TARGETS)
    heard, heard_line = rng.choice(_HEARD)
    questions = office.corpus.questions(intent) or [""]
    qnum = rng.randrange(len(questions))
    due_date = office.now + timedelta(days=rng.randint(1, 28))
    new_phone = local_phone(
        _nanp(rng.choice(("212", "415", "312"))).format(n=rng.randint(100, 199))
    )

    def promo() -> str:
        return "".join(rng.choices(string.ascii_uppercase, k=4)) + str(rng.randint(10, 99))

    # The values are drawn in this order on purpose: reordering them changes every demo.
    context = {
        "name": customer.name,
        "first": customer.first_name,
        "username": customer.username,
        "email": customer.email,
        "phone": local_phone(customer.phone) if customer.phone else new_phone,
        "account_id": customer.account_id,
        "pin": customer.pin,
        "level": customer.level,
        "address": customer.address,
        "street": customer.street,
        "product": f"{_brand_name(brand)} {item}",
        "brand": _brand_name(brand),
        "item": item,
        "amount": str(amount),
        "cheaper": str(max(10, amount - rng.randint(5, 30))),
        "order_id": str(rng.randint(1_000_000_000, 9_999_999_999)),
        "fee": str(rng.randint(5, 25)),
        "method": method,
        "new_method": new_method,
        "shipping_status": rng.choice(_SHIPPING_STATUSES),
        "promo": promo(),
        "new_promo": promo(),
        "days": str(rng.randint(3, 14)),
        "credit": str(rng.choice((20, 25, 40, 50))),
        "credit_source": rng.choice(
            ("subscription refund", "previous purchase", "promotional package")
        ),
        "due": str(rng.choice((20, 33, 49, 99))),
        "due_date": f"{due_date:%B} {due_date.day}",
        "refund": str(rng.randint(5, 20)),
        "new_password": f"{rng.choice(STREETS).split()[0].lower()}{rng.randint(1000, 9999)}",
        "return_method": rng.choice(("by mail", "in store", "at a drop off center")),
        "refund_target": refund_target,
        "refund_method": refund_method,
        "new_street": f"{rng.randint(100, 9999)} {rng.choice(STREETS)}",
        "new_name": f"{customer.first_name} {rng.choice(LAST_NAMES)}",
        "new_phone": new_phone,
        "heard": heard,
        "heard_line": heard_line,
        "question": capitalized(questions[qnum]),
        "topic": intent.key,
        "qnum": str(qnum + 1),
        "card_last4": f"{rng.randint(0, 9999):04d}",
        "card_expiry": f"{rng.randint(1, 12):02d}/{rng.randint(26, 30)}",
        "team": "manager",
        "change": "change order",
        "account_change": "update account",
        "reason": "It's like I said above.",
    }
    context["faq_answer"] = _faq_answer(questions[qnum], context)
    for key, template in intent.slots.items():
        context[key] = template.format_map(context)
    return context


def _faq_answer(question: str, context: Mapping[str, str]) -> str:
    asked = question.lower()
    for word, answer in _FAQ_ANSWERS:
        if word in asked:
            return capitalized(answer)
    return "I've sent you the answer from our FAQ page for the {item}.".format_map(context)
