"""Demo data for a fresh server store: a support office with six months of history.

``seed_demo`` fills an empty store with three teams and their agents, two hundred customers
and a thousand tickets whose threads read like real support work.  The wording comes from
ABCD, the Action-Based Conversations Dataset (asappresearch/abcd, MIT licence, copied into
``demo_data/``): its guidelines give each kind of ticket its flow, situation and policies, its
knowledge base the actions an agent takes in order, and its sample chats the tone of both
sides (three of them become tickets almost word for word).  The walk-in repair desk is not in
ABCD and is written here.

Everything is drawn from ``random.Random(seed)``, ids included, so a seed always produces the
same store; only the timestamps move with ``now``.
"""

from __future__ import annotations

import json
import random
import re
import string
import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from functools import cache
from importlib import resources
from typing import Any, Final, TypeVar

import sqlalchemy
from sqlalchemy import Table, func, insert, select, update

from app.models.base import utcnow
from app.models.enums import (
    AuthorType,
    CannedScope,
    Channel,
    DeliveryState,
    IdentityKind,
    MessageKind,
    Priority,
    Role,
    TicketStatus,
    Tier,
)
from app.models.tables import (
    T_AGENTS,
    T_CANNED,
    T_COUNTERS,
    T_CREDENTIALS,
    T_CUSTOMERS,
    T_GROUPS,
    T_IDENTITIES,
    T_MEMBERS,
    T_MESSAGES,
    T_ORGS,
    T_TICKETS,
)

# Published in the README for trying the app out; it guards nothing but demo data.
DEMO_PASSWORD: Final = "demo"  # noqa: S105

CUSTOMER_CARE: Final = "Customer Care"
BILLING_AND_ORDERS: Final = "Billing & Orders"
REPAIRS_DESK: Final = "Repairs Desk"
_ALL_GROUPS: Final = (CUSTOMER_CARE, BILLING_AND_ORDERS, REPAIRS_DESK)

_GROUP_DESCRIPTIONS: Final[Mapping[str, str]] = {
    CUSTOMER_CARE: "Sign-in and account changes, shipping questions, site problems, FAQs.",
    BILLING_AND_ORDERS: "Refunds and returns, order changes, price disputes, subscriptions.",
    REPAIRS_DESK: "The walk-in repair counter: device intake, estimates, deposits, pick-up.",
}

CUSTOMER_COUNT: Final = 200
TICKET_COUNT: Final = 1000
ORGANIZATION_COUNT: Final = 12


@dataclass(frozen=True)
class _StaffMember:
    name: str
    email: str
    role: Role
    timezone: str
    groups: tuple[str, ...]

    @property
    def first_name(self) -> str:
        return self.name.split()[0]


_STAFF: Final = (
    _StaffMember(
        "Ada Lovelace",
        "ada@example.com",
        Role.AGENT,
        "Europe/London",
        (CUSTOMER_CARE, BILLING_AND_ORDERS),
    ),
    _StaffMember(
        "Lin Chen",
        "lin@example.com",
        Role.AGENT,
        "America/Los_Angeles",
        (CUSTOMER_CARE, REPAIRS_DESK),
    ),
    _StaffMember("Sam Okafor", "sam@example.com", Role.SUPERVISOR, "Africa/Lagos", _ALL_GROUPS),
    _StaffMember("Alex Admin", "admin@example.com", Role.ADMIN, "UTC", _ALL_GROUPS),
    _StaffMember(
        "Priya Raman", "priya@example.com", Role.AGENT, "Asia/Kolkata", (BILLING_AND_ORDERS,)
    ),
    _StaffMember(
        "Diego Alvarez", "diego@example.com", Role.AGENT, "America/Mexico_City", (CUSTOMER_CARE,)
    ),
    _StaffMember(
        "Mei Tanaka",
        "mei@example.com",
        Role.AGENT,
        "Asia/Tokyo",
        (REPAIRS_DESK, BILLING_AND_ORDERS),
    ),
    _StaffMember(
        "Tom Becker", "tom@example.com", Role.AGENT, "Europe/Berlin", (REPAIRS_DESK, CUSTOMER_CARE)
    ),
)

DEMO_AGENTS: Final[tuple[str, ...]] = tuple(member.email for member in _STAFF)


@dataclass(frozen=True)
class DemoSummary:
    """How many rows of each kind ``seed_demo`` inserted."""

    agents: int
    groups: int
    organizations: int
    customers: int
    customer_identities: int
    tickets: int
    messages: int
    canned_responses: int


def seed_demo(
    conn: sqlalchemy.Connection,
    *,
    password_hash: Callable[[str], str],
    now: datetime | None = None,
    seed: int = 7,
) -> DemoSummary:
    """Insert the demo into an empty store through ``conn``; the caller owns the transaction.

    Every demo agent (``DEMO_AGENTS``) signs in with ``DEMO_PASSWORD``.  Timestamps fall in the
    180 days before ``now`` (an aware datetime; the current time by default).  Nothing goes
    into the change log: workstations bootstrap from the tables themselves.
    """
    if now is None:
        now = utcnow()
    elif now.tzinfo is None:
        raise ValueError("seed_demo needs a timezone-aware datetime as now, not a naive one")
    if conn.execute(select(func.count()).select_from(T_TICKETS)).scalar_one():
        raise ValueError("the demo numbers tickets from 1, so it needs a store without tickets")

    office = _DemoOffice(seed=seed, now=now.astimezone(UTC).replace(microsecond=0))
    office.build()

    # argon2 is deliberately slow and every demo agent shares the one published password, so
    # one hash serves them all.
    shared_hash = password_hash(DEMO_PASSWORD)
    credentials = [
        {"agent_id": row["id"], "password_hash": shared_hash, "updated_at": row["updated_at"]}
        for row in office.agents
    ]
    # Parents before children, so the foreign keys hold at every step.
    batches: list[tuple[Table, list[dict[str, Any]]]] = [
        (T_GROUPS, office.groups),
        (T_AGENTS, office.agents),
        (T_CREDENTIALS, credentials),
        (T_MEMBERS, office.memberships),
        (T_ORGS, office.organizations),
        (T_CUSTOMERS, office.customers),
        (T_IDENTITIES, office.identities),
        (T_TICKETS, office.tickets),
        (T_MESSAGES, office.messages),
        (T_CANNED, office.canned_responses),
    ]
    for table, rows in batches:
        if rows:  # one executemany per table
            conn.execute(insert(table), rows)

    # The server takes the next ticket number from this counter, so it must start past the demo.
    highest = len(office.tickets)
    moved = conn.execute(
        update(T_COUNTERS).where(T_COUNTERS.c.name == "ticket_number").values(value=highest)
    )
    if moved.rowcount == 0:
        conn.execute(insert(T_COUNTERS).values(name="ticket_number", value=highest))

    return DemoSummary(
        agents=len(office.agents),
        groups=len(office.groups),
        organizations=len(office.organizations),
        customers=len(office.customers),
        customer_identities=len(office.identities),
        tickets=len(office.tickets),
        messages=len(office.messages),
        canned_responses=len(office.canned_responses),
    )


# --- ABCD: the source of every ticket's wording -------------------------------------------


@dataclass(frozen=True)
class _Step:
    """One ABCD agent action as it shows in a thread: what the agent asks, what the customer
    answers, and the system line the action leaves behind (any of them may be absent)."""

    ask: str | None
    answer: str | None
    event: str | None


# Keyed by the action names of kb.json.  The asks and events keep ABCD's wording: the events are
# the dataset's own action lines, the asks are the sample chats' agents' phrasing.
_STEPS: Final[Mapping[str, _Step]] = {
    "pull-up-account": _Step(
        "sure, may I have your full name or account ID please?",
        "{name}",
        "Account has been pulled up for {name}.",
    ),
    "validate-purchase": _Step(
        "ok, may I have your username, email address and order ID please?",
        "Username: {username}\n{email}\nOrder ID: {order_id}",
        "Purchase validation in progress ...",
    ),
    "verify-identity": _Step(
        "To look up the order I need your full name, account ID and order ID.",
        "{name}\nAccount ID: {account_id}\nOrder ID: {order_id}",
        "Identity verification in progress ...",
    ),
    "ask-the-oracle": _Step(
        "Let me check our system about this problem. One moment please.",
        None,
        "Querying the system for order {order_id} ...",
    ),
    "membership": _Step(
        "thanks so much! What is your membership level {first}?",
        "I'm a {level} member.",
        "Membership level of {level} has been noted.",
    ),
    "record-reason": _Step(
        "thanks, may I ask the reason?",
        "{reason}",
        "Reason has been recorded.",
    ),
    "enter-details": _Step(
        "Could you confirm your full address, please?",
        "{address}",
        "Details of {address} have been entered.",
    ),
    "offer-refund": _Step(
        "I can offer you a refund of ${amount}. Shall I go ahead?",
        "Yes please.",
        "A refund has been made for the amount of ${amount}. Wait for system response.",
    ),
    "update-order": _Step(None, None, "Order has been updated with {change}."),
    "update-account": _Step(None, None, "Account has been updated with {account_change}."),
    "send-link": _Step(
        "I'm sending you a link to sign in to your account, so you can look this up yourself"
        " in the future. Your username is {username}.",
        "got it, thanks",
        "A link will be sent.",
    ),
    "notify-team": _Step(
        "I can escalate to my manager if you'd like",
        "I'll look forward to hearing from them.",
        "The {team} has been notified.",
    ),
    "promo-code": _Step(
        "I've generated a promo code for you: {promo}. It's good for 20% off your next purchase.",
        "great, thanks!",
        "A promo code has been created.",
    ),
    "make-password": _Step(
        "I can't get your old password, but I can generate a new one for you. Could you give me"
        " your PIN number or the answer to your security question?",
        "My PIN is {pin}.",
        "A password has been generated.",
    ),
    "subscription-status": _Step(
        "Let me look up your subscription.", None, "Querying the system for subscription status..."
    ),
    "make-purchase": _Step(
        "I can place the order for you. Could I have your card number and its expiration date?",
        "Card ending {card_last4}, expires {card_expiry}.",
        "A purchase of {product} was made.",
    ),
    "shipping-status": _Step(
        "Has the item already shipped? What does the tracking page say?",
        "It says {shipping_status}.",
        "Shipping status of {shipping_status} has been noted.",
    ),
    "try-again": _Step("Could you try that once more?", "Tried again, same thing.", None),
    "log-out-in": _Step(
        "Please log out of your account and log back in, then try again.",
        "Done, still not working.",
        None,
    ),
    "instructions": _Step(
        "Could you try clearing out your cookies? In your browser's settings, select"
        " 'More Details'.",
        "ok, cleared them.",
        None,
    ),
    "search-faq": _Step(
        "sure! let me check that.\none moment please", None, "Searching the FAQ pages ..."
    ),
    "select-faq": _Step(None, None, "FAQ answer related to {topic} (question{qnum}) was selected."),
}


@dataclass(frozen=True)
class _Intent:
    """One ABCD subflow as a kind of ticket: how customers word it and how agents close it.

    ``key`` names it in kb.json and the sample chats; ``flow``/``subflow`` in guidelines.json.
    ``slots`` fill or override context values for this kind of ticket, ``steps`` replace the
    generic wording of an action where this subflow needs its own.
    """

    key: str
    flow: str
    subflow: str
    subjects: tuple[str, ...]
    openers: tuple[str, ...]
    resolutions: tuple[str, ...]
    slots: Mapping[str, str] = field(default_factory=dict)
    steps: Mapping[str, _Step] = field(default_factory=dict)


_PRODUCT_DEFECT: Final = "Product Defect"
_ORDER_ISSUE: Final = "Order Issue"
_ACCOUNT_ACCESS: Final = "Account Access"
_TROUBLESHOOT: Final = "Troubleshoot Site"
_MANAGE_ACCOUNT: Final = "Manage Account"
_PURCHASE_DISPUTE: Final = "Purchase Dispute"
_SHIPPING: Final = "Shipping Issue"
_SUBSCRIPTION: Final = "Subscription Inquiry"
_SINGLE_ITEM: Final = "Single-Item Query"
_STOREWIDE: Final = "Storewide Query"

# Which team works each flow, how much of the queue it makes up, and the tag it gives a ticket.
_FLOWS: Final[Mapping[str, tuple[str, int, str]]] = {
    _PRODUCT_DEFECT: (BILLING_AND_ORDERS, 14, "returns"),
    _ORDER_ISSUE: (BILLING_AND_ORDERS, 12, "orders"),
    _PURCHASE_DISPUTE: (BILLING_AND_ORDERS, 9, "billing"),
    _SUBSCRIPTION: (BILLING_AND_ORDERS, 8, "subscription"),
    _SHIPPING: (CUSTOMER_CARE, 14, "shipping"),
    _ACCOUNT_ACCESS: (CUSTOMER_CARE, 10, "account-access"),
    _MANAGE_ACCOUNT: (CUSTOMER_CARE, 9, "account"),
    _TROUBLESHOOT: (CUSTOMER_CARE, 8, "website"),
    _SINGLE_ITEM: (CUSTOMER_CARE, 7, "product-faq"),
    _STOREWIDE: (CUSTOMER_CARE, 6, "store-faq"),
}

_RETURN_STEPS: Final[Mapping[str, _Step]] = {
    "enter-details": _Step(
        "Since you'll print out a shipping label for the return, I need your full address.",
        "{address}",
        "Details of {address} have been entered.",
    ),
}
_RETURN_RESOLUTIONS: Final = (
    "Good news, {first}: as a {level} member your return qualifies. I've set it up {return_method}"
    " and the shipping label is on its way to {address}.",
    "ok, unfortunately because it has been more than 90 days we cannot accept the return. I'm"
    " sorry, {first}.",
)

_INTENTS: Final[tuple[_Intent, ...]] = (
    # Product Defect: refunds and returns.
    _Intent(
        "refund_initiate",
        _PRODUCT_DEFECT,
        "Initiate Refund",
        ("Refund for {product}", "Requesting a refund on order {order_id}"),
        (
            "Hi! I'd like a refund for the {product} I bought. Order ID: {order_id}.",
            "I want to send back my {product} and get my money back, it's not what I expected.",
        ),
        (
            "All set, {first}: your refund of ${amount} is on its way as {refund_method}. You"
            " should see it in less than a week.",
        ),
        slots={"reason": "It's just not what I expected. I'd like {refund_target}, please."},
        steps={
            "record-reason": _Step(
                "thanks, may I ask the reason for the refund, and how you'd like it back: gift"
                " card, credit on your account, paper check or your credit card?",
                "{reason}",
                "Reason of {refund_method} has been recorded.",
            ),
        },
    ),
    _Intent(
        "refund_update",
        _PRODUCT_DEFECT,
        "Update Refund",
        ("Add {product} to my existing refund", "Update refund on order {order_id}"),
        ("I already have a refund going and I want to add another item to it, the {product}.",),
        ("Done: the {product} is on your refund too, so the total refund is now ${amount}.",),
        slots={"reason": "The {product} has the same problem, the stitching is coming apart."},
    ),
    _Intent(
        "refund_status",
        _PRODUCT_DEFECT,
        "Refund Status",
        ("Status of my refund for {product}", "Where is my refund? Order {order_id}"),
        (
            "just wanted to check on the status of a refund",
            "Hi, I returned my {product} a while ago. Has the refund been processed?",
        ),
        (
            "It is currently in progress and the payment method with which it is being processed"
            " is online towards your {method}.",
        ),
        slots={"change": "change method"},
    ),
    _Intent(
        "return_stain",
        _PRODUCT_DEFECT,
        "Return Due to Stain",
        ("Return {product}: stain", "Stain on my new {item}"),
        ("Hi! I need to return an item. My {product} arrived with a stain on it.",),
        _RETURN_RESOLUTIONS,
        slots={"change": "{return_method}"},
        steps=_RETURN_STEPS,
    ),
    _Intent(
        "return_color",
        _PRODUCT_DEFECT,
        "Return Due to Color",
        ("Return {product}: wrong color", "{product} isn't the color I ordered"),
        (
            "The {product} I received is a totally different color from the picture. Can I"
            " return it?",
        ),
        _RETURN_RESOLUTIONS,
        slots={"change": "{return_method}"},
        steps=_RETURN_STEPS,
    ),
    _Intent(
        "return_size",
        _PRODUCT_DEFECT,
        "Return Due to Size",
        ("Refund for {product} — wrong size", "Return {product}: wrong size"),
        (
            "Hi! I need to return an item, can you help me with that?",
            "The {product} I ordered doesn't fit, I got the wrong size.",
        ),
        _RETURN_RESOLUTIONS,
        slots={"change": "{return_method}"},
        steps=_RETURN_STEPS,
    ),
    # Order Issue: status of an order or a change to it.
    _Intent(
        "status_mystery_fee",
        _ORDER_ISSUE,
        "Status Mystery Fee",
        ("Extra fee on order {order_id}", "Mystery charge of ${fee} on my order"),
        ("There's an extra charge of ${fee} on my order {order_id} that I don't recognize.",),
        (
            "I've removed the ${fee} fee from order {order_id}. We trust our {level} members!",
            "I'm sorry, {first}: there was a price surge at that time, so the fee stays.",
        ),
        slots={"change": "waive fee"},
    ),
    _Intent(
        "status_delivery_time",
        _ORDER_ISSUE,
        "Status Delivery Time",
        ("Change delivery time for order {order_id}", "Delivery window is wrong on {order_id}"),
        ("My delivery is set for the morning but I'm at work. Can it come in the evening?",),
        ("I've moved your delivery to the evening; you'll get an updated confirmation email.",),
        slots={"change": "change time"},
    ),
    _Intent(
        "status_payment_method",
        _ORDER_ISSUE,
        "Status Payment Method",
        ("Wrong payment method on order {order_id}",),
        ("My order was charged to my {method} but I wanted to pay with {new_method}.",),
        ("Order {order_id} is now paid with {new_method}.",),
        slots={"change": "{new_method}"},
    ),
    _Intent(
        "status_quantity",
        _ORDER_ISSUE,
        "Status Quantity",
        ("Order confirmation shows the wrong quantity", "Two {item} instead of one on {order_id}"),
        ("The confirmation email says I ordered two {product} but I only wanted one.",),
        ("Your order hadn't shipped yet, so I've refunded ${amount} for the extra {item}.",),
    ),
    _Intent(
        "manage_upgrade",
        _ORDER_ISSUE,
        "Manage Upgrade",
        ("Upgrade order {order_id} to overnight shipping",),
        ("Can I upgrade my order to overnight shipping? I need the {product} by tomorrow.",),
        ("Done: order {order_id} is upgraded to overnight shipping and arrives tomorrow.",),
        slots={"change": "tomorrow"},
    ),
    _Intent(
        "manage_downgrade",
        _ORDER_ISSUE,
        "Manage Downgrade",
        ("Switch order {order_id} to slower shipping",),
        ("I'm in no rush. Can you change my order to next week delivery to save on shipping?",),
        ("I've changed the delivery to next week, so there's no fast-shipping fee.",),
        slots={"change": "next week"},
    ),
    _Intent(
        "manage_create",
        _ORDER_ISSUE,
        "Manage Create",
        ("Add {product} to my existing order",),
        ("I'd like to add a {product} to my order {order_id} if it hasn't shipped yet.",),
        (
            "I've placed the {product} for you. Your order was already out for delivery, so it"
            " ships separately with no shipping fee.",
        ),
    ),
    _Intent(
        "manage_cancel",
        _ORDER_ISSUE,
        "Manage Cancel",
        ("Cancel duplicate item on order {order_id}", "Ordered two {item} by mistake"),
        (
            "I accidentally ordered two {product} when I meant to order just one. Can you"
            " cancel one?",
        ),
        ("I've removed the extra {item} from your order and refunded ${amount}.",),
    ),
    # Account Access: username, password and two-factor authentication.
    _Intent(
        "recover_username",
        _ACCOUNT_ACCESS,
        "Recover Username",
        ("Forgot my username", "Can't remember my username"),
        ("I can't remember my username, can you help?",),
        ("Your username is {username}. You can sign in with it right away.",),
    ),
    _Intent(
        "recover_password",
        _ACCOUNT_ACCESS,
        "Recover Password",
        ("Can't reset my password", "Locked out: need a new password"),
        ("I forgot my password and the reset email never arrives.",),
        (
            "I've generated a new password for you: {new_password}. Please change it after you"
            " sign in.",
        ),
        steps={
            "enter-details": _Step(
                "To check your identity, could you tell me your username?",
                "It's {username}",
                "Details of {username} have been entered.",
            ),
        },
    ),
    _Intent(
        "reset_2fa",
        _ACCOUNT_ACCESS,
        "Reset Two-Factor Auth",
        ("Reset two-factor authentication", "New phone, can't get my 2FA codes"),
        ("I got a new phone and now I can't get my two-factor codes to log in.",),
        (
            "I've sent a reset code to {email}, and a link about security best practices so your"
            " account stays safe.",
        ),
        steps={
            "enter-details": _Step(
                "To reset it I'll send a special code to your email. Which email address is on"
                " the account?",
                "{email}",
                "Details of {email} have been entered.",
            ),
        },
    ),
    # Troubleshoot Site: slow site, search, credit card, cart.
    _Intent(
        "credit_card",
        _TROUBLESHOOT,
        "Invalid Credit Card",
        ("Credit card keeps getting rejected", "Card declined at checkout"),
        ("My credit card keeps getting rejected at checkout, it says the card is invalid.",),
        ("Thanks for your patience: I've placed the order for the {product} on your card.",),
        steps={
            "try-again": _Step(
                "Could you try entering your credit card information again?",
                "Same error.",
                None,
            ),
            "enter-details": _Step(
                "Could you check the expiration date? Maybe the card is too old.",
                "Oh, it expired last month. I have the new one here.",
                "Details of troubleshoot have been entered.",
            ),
        },
    ),
    _Intent(
        "shopping_cart",
        _TROUBLESHOOT,
        "Cart Not Updating",
        ("Cart not updating", "Can't add {product} to my cart"),
        ("I'm trying to put the {product} in my shopping cart but the cart doesn't update.",),
        ("I've placed the order for the {product} for you, so you don't need the cart this time.",),
        steps={
            "try-again": _Step(
                "Could you refresh the page and add the item again?", "Still nothing.", None
            ),
            "enter-details": _Step(
                "Does the product page say Out-of-Stock at the bottom left?",
                "No, it says in stock.",
                "Details of troubleshoot have been entered.",
            ),
        },
    ),
    _Intent(
        "search_results",
        _TROUBLESHOOT,
        "Search Not Working",
        ("Search says 'No results found'", "Site search not working"),
        ("Every search on your site says 'No results found', even for {item}.",),
        (
            "I've written up a report so the website team knows about this; in the meantime I've"
            " placed the order for the {product} for you.",
        ),
        slots={"team": "website team"},
        steps={
            "try-again": _Step(
                "Could you search for a different product, such as 'Prada Handbag'?",
                "That one works.",
                None,
            ),
            "notify-team": _Step(
                "I'll write up a report and let the website team know about this.",
                "thanks",
                "The website team has been notified.",
            ),
        },
    ),
    _Intent(
        "slow_speed",
        _TROUBLESHOOT,
        "Website Too Slow",
        ("Website too slow to use", "Site is crawling, can't check out"),
        ("The website has slowed down to a crawl, I can't get to checkout.",),
        (
            "I've reported the slow speeds to the website team and placed the order for the"
            " {product} for you.",
        ),
        slots={"team": "website team"},
        steps={
            "try-again": _Step(
                "Could you try visiting another website first? If all websites are slow, it's"
                " the internet connection.",
                "Other sites are fine.",
                None,
            ),
            "instructions": _Step(
                "Could you close the other tabs in your browser, and any programs running in the"
                " background? They can cause a slowdown.",
                "Closed them, a bit better.",
                None,
            ),
            "notify-team": _Step(
                "I'll write up a report about the slow speeds for the website team to fix.",
                "ok",
                "The website team has been notified.",
            ),
        },
    ),
    # Manage Account: services added or removed, profile changes.
    _Intent(
        "status_service_added",
        _MANAGE_ACCOUNT,
        "Status Service Added",
        ("Unknown service added to my account", "Charged for a service I never signed up for"),
        ("{heard_line} a new service was added to my account. I never asked for that!",),
        (
            "You were right: I've removed the extra service and refunded $40.",
            "That was a scam email: if you check the sender, it isn't from our official marketing"
            " team. There are no extra charges on your account.",
        ),
        slots={"reason": "It was the {heard}.", "account_change": "remove service"},
    ),
    _Intent(
        "status_service_removed",
        _MANAGE_ACCOUNT,
        "Status Service Removed",
        ("Service removed from my plan by mistake",),
        ("{heard_line} an important service was removed from my plan. I didn't ask for that.",),
        (
            "Your service has been reinstated. Can you see the service properly activated on your"
            " account now?",
        ),
        slots={"reason": "It was the {heard}.", "account_change": "add service"},
    ),
    _Intent(
        "status_shipping_question",
        _MANAGE_ACCOUNT,
        "Status Shipping Question",
        ("Does my account include international shipping?", "Free shipping outside the country?"),
        ("Does my account allow free shipping to and from out of the country?",),
        (
            "Yes: your account includes free international shipping. The details are on our FAQ"
            " page under subscriptions.",
        ),
    ),
    _Intent(
        "status_credit_missing",
        _MANAGE_ACCOUNT,
        "Status Credit Missing",
        ("Credit missing from my account", "My ${credit} credit disappeared"),
        ("Some credit is missing from my account: I had ${credit} from a {credit_source}.",),
        (
            "I've added the ${credit} back as promo code {promo}.",
            "Your credit shows up on our side; logging out and back in should bring it back.",
        ),
        slots={"reason": "It came from a {credit_source}."},
    ),
    _Intent(
        "manage_change_address",
        _MANAGE_ACCOUNT,
        "Manage Change Address",
        ("Update my address",),
        ("I moved and need to change the address on my account.",),
        ("Everything has been updated in the system: your address is now {new_street}.",),
        slots={"reason": "The current one is {street}.", "account_change": "{new_street}"},
    ),
    _Intent(
        "manage_change_name",
        _MANAGE_ACCOUNT,
        "Manage Change Name",
        ("Change the name on my account",),
        ("I got married and need to update the name on my account.",),
        ("Everything has been updated in the system: the account is now in the name {new_name}.",),
        slots={"reason": "It's {name} now.", "account_change": "{new_name}"},
    ),
    _Intent(
        "manage_change_phone",
        _MANAGE_ACCOUNT,
        "Manage Change Phone",
        ("Change the phone number on my account",),
        ("I have a new phone number, can you update my account?",),
        ("Everything has been updated in the system: your number is now {new_phone}.",),
        slots={"reason": "The old number is {phone}.", "account_change": "{new_phone}"},
    ),
    _Intent(
        "manage_payment_method",
        _MANAGE_ACCOUNT,
        "Manage Payment Method",
        ("Change my payment method to {new_method}",),
        ("I'd like to switch my payment method from {method} to {new_method}.",),
        ("Everything has been updated in the system: you'll pay with {new_method} from now on.",),
        slots={"reason": "Right now it's {method}.", "account_change": "{new_method}"},
    ),
    # Purchase Dispute: bad price, out of stock, promo codes, billing.
    _Intent(
        "bad_price_competitor",
        _PURCHASE_DISPUTE,
        "Bad Price Competitor",
        ("Competitor has a better price on {product}", "Price match for {product}?"),
        ("I just saw the {product} for ${cheaper} at another store. Why is yours ${amount}?",),
        (
            "Our pricing algorithms will often dynamically change the price of an item, which is"
            " outside my control, but here's a promo code for your next purchase: {promo}.",
        ),
        slots={"reason": "The competitor has it cheaper."},
    ),
    _Intent(
        "bad_price_yesterday",
        _PURCHASE_DISPUTE,
        "Bad Price Yesterday",
        ("{product} was cheaper yesterday",),
        ("Yesterday the {product} was ${cheaper} and today it's ${amount}. That's not fair.",),
        (
            "Our pricing algorithms will often dynamically change the price of an item. To make"
            " up for it, here's a promo code: {promo}.",
        ),
        slots={"reason": "It was cheaper yesterday."},
    ),
    _Intent(
        "out_of_stock_general",
        _PURCHASE_DISPUTE,
        "Out-of-Stock General",
        ("Everything I want is out of stock",),
        ("Half the items I want are out of stock again. This keeps happening.",),
        (
            "I've let the purchasing department know so they can do a better job, and here's a"
            " promo code for your trouble: {promo}.",
        ),
        slots={"team": "purchasing department"},
        steps={
            "notify-team": _Step(
                "I'll write up a report and let the purchasing department know about this.",
                "ok, thanks",
                "The purchasing department has been notified.",
            ),
        },
    ),
    _Intent(
        "out_of_stock_one_item",
        _PURCHASE_DISPUTE,
        "Out-of-Stock One Item",
        ("{product} out of stock", "When will {product} be back in stock?"),
        ("The {product} has been out of stock for weeks. Any idea when it'll be back?",),
        (
            "I've back-ordered the {product} on the card on file: it ships immediately when it"
            " becomes available.",
        ),
        slots={"reason": "The {product}.", "team": "purchasing department"},
        steps={
            "notify-team": _Step(
                "I'll write up a report and let the purchasing department know about this.",
                "ok, thanks",
                "The purchasing department has been notified.",
            ),
        },
    ),
    _Intent(
        "promo_code_invalid",
        _PURCHASE_DISPUTE,
        "Promo Code Invalid",
        ("Promo code {promo} says invalid", "Promo code not working"),
        ("I'm trying to use promo code {promo} and it says the code is invalid.",),
        ("Here's a new code for you: {new_promo}. It's 20% off your next purchase.",),
    ),
    _Intent(
        "promo_code_out_of_date",
        _PURCHASE_DISPUTE,
        "Promo Code Out of Date",
        ("Promo code expired already?",),
        ("My promo code {promo} says it's out of date but I only got it last week.",),
        (
            "Promotions only last 7 days, but as a valued member here's a new code: {new_promo}."
            " It's 20% off your next purchase.",
        ),
    ),
    _Intent(
        "mistimed_billing_already_returned",
        _PURCHASE_DISPUTE,
        "Mistimed Billing Already Returned",
        ("Returned {product} but still billed", "No credit for my return yet"),
        ("I returned the {product} {days} days ago but I still haven't received my credit.",),
        ("I've started processing the credit of ${amount}; it shows on your next statement.",),
        slots={"reason": "{days} days.", "change": "give credit"},
        steps={
            "record-reason": _Step(
                "How long have you been waiting for the refund to show up, in days?",
                "{reason}",
                "Reason of {days} days has been recorded.",
            ),
        },
    ),
    _Intent(
        "mistimed_billing_never_bought",
        _PURCHASE_DISPUTE,
        "Mistimed Billing Never Bought",
        ("Billed for something I never bought", "Charge for order {order_id} I didn't place"),
        ("There's a charge on my bill for a {product}. I never bought that.",),
        ("I've started processing a credit of ${amount} for the charge.",),
        slots={"change": "give credit"},
    ),
    # Shipping Issue: check or update a shipment.
    _Intent(
        "status",
        _SHIPPING,
        "Shipping Status",
        ("Where is my order {order_id}?", "Strange shipping email about order {order_id}"),
        ("I got an email saying my order {order_id} would be delayed. Is that right?",),
        (
            "Your order looks as expected and the email was incorrect: it's {shipping_status} and"
            " on schedule.",
        ),
        slots={"change": "change date"},
    ),
    _Intent(
        "manage",
        _SHIPPING,
        "Manage Shipping",
        ("Change shipping address for order {order_id}", "Ordered the wrong item: {order_id}"),
        ("I need to change the shipping address on order {order_id}.",),
        ("Your order has been updated and will go to {address}.",),
        slots={"change": "change address"},
    ),
    _Intent(
        "missing",
        _SHIPPING,
        "Missing Item",
        ("Order {order_id} never arrived", "Package marked delivered but not here"),
        ("My package says delivered but I never got my {product}. It's been {days} days.",),
        (
            "I've shipped a new {product} to {address}; you'll get the tracking by email.",
            "Sometimes a package is marked as delivered but still takes a couple days to arrive."
            " If it isn't there by Friday, reply here and I'll send a new one.",
        ),
        slots={"reason": "{days} days now.", "change": "{address}"},
        steps={
            "record-reason": _Step(
                "How long have you been waiting?", "{reason}", "Reason of {days} has been recorded."
            ),
        },
    ),
    _Intent(
        "cost",
        _SHIPPING,
        "Shipping Cost",
        ("Shipping cost too high on order {order_id}", "Please waive the shipping fee"),
        ("The shipping fee on my order is way too high. Can you waive it?",),
        (
            "I've waived the shipping fee on order {order_id}.",
            "Standard shipping is $8.00, so I've refunded $8 to your {method}.",
        ),
        slots={"change": "waive fee"},
    ),
    # Subscription Inquiry: the premium subscription.
    _Intent(
        "status_active",
        _SUBSCRIPTION,
        "Status Active",
        ("Is my subscription still active?", "Did my subscription payment go through?"),
        ("I paid my premium subscription last week. Did it go through? Is it still active?",),
        ("Your subscription is active; the next ${due} is due on {due_date}.",),
        steps={
            "enter-details": _Step(
                "Would you like to pay the amount due today?",
                "Sure, let's pay the ${due}.",
                "Details of {due} have been entered.",
            ),
        },
    ),
    _Intent(
        "status_due_amount",
        _SUBSCRIPTION,
        "Status Due Amount",
        ("How much do I owe on my subscription?",),
        ("How much is due on my subscription right now?",),
        ("You have ${due} due on {due_date}.",),
        steps={
            "enter-details": _Step(
                "Would you like to pay it now?",
                "Yes, the full ${due}.",
                "Details of {due} have been entered.",
            ),
        },
    ),
    _Intent(
        "status_due_date",
        _SUBSCRIPTION,
        "Status Due Date",
        ("When does my subscription renew?",),
        ("When is my subscription renewal date?",),
        ("Your subscription renews on {due_date}, for ${due}.",),
        steps={
            "enter-details": _Step(
                "Would you like to pay early?", "No thanks, just wanted the date.", None
            ),
        },
    ),
    _Intent(
        "manage_pay_bill",
        _SUBSCRIPTION,
        "Manage Pay Bill",
        ("Pay my subscription bill", "Renew my premium subscription"),
        ("I'd like to pay my subscription bill today.",),
        ("Payment of ${due} received: your subscription is renewed.",),
        slots={"account_change": "renew subscription"},
        steps={
            "enter-details": _Step(
                "The standard subscription is $99 a year. How much would you like to pay today?",
                "The full ${due} please.",
                "Details of {due} have been entered.",
            ),
        },
    ),
    _Intent(
        "manage_extension",
        _SUBSCRIPTION,
        "Manage Extension",
        ("Extension on my subscription payment?",),
        ("I can't pay my premium subscription this week. Can I get an extension?",),
        (
            "As a {level} member you qualify: I've extended your subscription.",
            "I'm sorry, I can't extend it myself, but my manager will call you back on {phone}.",
        ),
        slots={"account_change": "extend subscription"},
        steps={
            "enter-details": _Step(
                "Could I have a phone number my manager can call you on?",
                "{phone}",
                "Details of {phone} have been entered.",
            ),
        },
    ),
    _Intent(
        "manage_dispute_bill",
        _SUBSCRIPTION,
        "Manage Dispute Bill",
        ("Billed twice for my subscription", "Subscription bill is wrong"),
        ("I was billed twice for my subscription this month!",),
        ("I've refunded the ${refund} that was charged twice.",),
    ),
    # Single-Item Query and Storewide Query: the FAQ flows; their questions come from
    # guidelines.json.
    *(
        _Intent(
            item,
            _SINGLE_ITEM,
            f"{item.capitalize()} FAQ",
            ("{product}: {question}?",),
            ("Hi, quick question about the {product}: {question}?",),
            ("{faq_answer}",),
        )
        for item in ("boots", "shirt", "jeans", "jacket")
    ),
    *(
        _Intent(
            topic,
            _STOREWIDE,
            f"{name} FAQ",
            ("{question}?",),
            ("{question}?", "Hi there. {question}?"),
            ("{faq_answer}",),
        )
        for topic, name in (
            ("pricing", "Pricing"),
            ("membership", "Membership"),
            ("timing", "Timing"),
            ("policy", "Policy"),
        )
    ),
)
_INTENTS_BY_KEY: Final[Mapping[str, _Intent]] = {intent.key: intent for intent in _INTENTS}

# Answers to the FAQ questions of guidelines.json, found by a word in the question; the policy
# ones restate the guidelines' membership rules.
_FAQ_ANSWERS: Final[tuple[tuple[str, str], ...]] = (
    ("promo codes expire", "all promo codes expire after 7 days without fail."),
    ("membership levels", "There are four levels: guest, bronze, silver and gold."),
    ("premium membership", "Premium membership comes with the $99-a-year subscription."),
    ("benefits", "Members get longer return windows, and gold members get unlimited returns."),
    ("membership last", "Membership lasts a year from the day you join and renews itself."),
    (
        "return policy",
        "Gold members get unlimited returns; silver members can return within 6"
        " months, bronze within 90 days and guests within 30 days of purchase.",
    ),
    (
        "refund policy",
        "Refunds go back as a gift card, account credit, paper check or to your"
        " credit card, usually in less than a week.",
    ),
    (
        "late on a subscription",
        "Gold members can always get an extension; silver members get one"
        " if they are only 1 day late.",
    ),
    ("canceling", "You can cancel the premium subscription any time from your account page."),
    ("overnight", "Overnight shipping is $20, and free for gold members."),
    ("gift wrapping", "Gift wrapping is $5 per item, chosen at checkout."),
    ("stitching", "Stitching your name costs $10 and adds two days to delivery."),
    ("free shipping", "Carts over $50 ship free."),
    ("spring collection", "The spring collection drops on the first Monday of March."),
    ("local store", "Most of our stores open at 10am, 11am on Sundays."),
    ("annual sale", "The annual sale begins on the last Friday of June."),
    ("stain", "Blot it with cold water and a little mild detergent, then let it air dry."),
    ("gum", "Freeze the gum with an ice cube, then scrape it off gently."),
    ("wash", "Machine wash cold, inside out, and hang to dry."),
    ("shrink", "Washed cold and hung to dry it won't shrink; a hot dryer can shrink it a size."),
    (
        "in stock",
        "That size is out of stock online, but I can back-order it and it ships as soon"
        " as it's available.",
    ),
    (
        "size",
        "That size is out of stock online, but I can back-order it and it ships as soon as"
        " it's available.",
    ),
    ("length", "The size chart on the product page lists the exact length for each size."),
    ("wide", "They run true to width; the wide fit is listed as its own size."),
    ("wear in", "Give them about two weeks of daily wear to break in."),
    ("waterproof", "They're water-resistant, not fully waterproof; a protective spray helps."),
    ("color", "It comes in both; pick the color from the drop-down on the product page."),
    ("material", "The material is listed under Details on the product page: mostly cotton."),
    ("tailored", "Tailoring is $15 at any of our stores."),
    ("ripped", "Yes, the distressed design has ripped holes; look for 'destroyed' in the name."),
    ("hood", "The hood unzips along the collar."),
    ("warm", "It's warm down to about -5°C / 23°F with a sweater underneath."),
    ("buttons", "The buttons come in brown on the light colors and black on the dark ones."),
    ("collar", "The collar size is on the size chart; it runs half an inch wider than most."),
    ("warranty", "They come with a one-year warranty against manufacturing defects."),
    ("lace", "The laces are tan, and a spare black pair comes in the box."),
)

# ABCD's catalogue: four brands, four kinds of item (ontology.json, values.product).
_BRANDS: Final = ("calvin_klein", "guess", "michael_kors", "tommy_hilfiger")
_ITEM_PRICES: Final[Mapping[str, tuple[int, int]]] = {
    "boots": (80, 240),
    "jacket": (90, 280),
    "jeans": (40, 130),
    "shirt": (25, 95),
}
_PAYMENT_METHODS: Final = ("credit card", "debit card", "PayPal")
_SHIPPING_STATUSES: Final = ("Order Received", "In Transit", "Out for Delivery", "Delivered")
_REFUND_TARGETS: Final = (
    ("a gift card", "a gift card"),
    ("credit added to my account", "account credit"),
    ("a paper check", "a paper check"),
    ("the money back on my credit card", "a refund to your credit card"),
)
_HEARD: Final = (
    ("email", "I got an email saying"),
    ("spouse", "My spouse told me"),
    ("news", "I saw on the news that"),
)


@dataclass(frozen=True)
class _AbcdCorpus:
    """The parts of ABCD the demo reads: guidelines, the knowledge base, the sample chats."""

    guidelines: Mapping[str, Any]
    kb: Mapping[str, list[str]]
    chats: Sequence[Mapping[str, Any]]

    def subflow(self, intent: _Intent) -> Mapping[str, Any]:
        subflow: Mapping[str, Any] = self.guidelines[intent.flow]["subflows"][intent.subflow]
        return subflow

    def actions(self, intent: _Intent) -> list[str]:
        return list(self.kb[intent.key])

    def situation(self, intent: _Intent) -> str | None:
        """The guideline's first sentence when it describes what the customer is facing."""
        first = re.split(r"(?<=\.)\s+", self.subflow(intent)["instructions"][0])[0]
        if first.startswith(("Start", "In all", "To get", "Help", "Let", "The main effort")):
            return None
        return str(first)

    def policies(self, intent: _Intent, level: str) -> list[str]:
        """Membership rules of the subflow's guideline that apply to a ``level`` member."""
        found: list[str] = []
        for action in self.subflow(intent)["actions"]:
            for line in action["subtext"]:
                rule = str(line).split(" <or> ")[0].replace(": > ", ": ").split(" > ")[0].strip()
                if "[" in rule or ":" not in rule[:60]:
                    continue
                if level.capitalize() in rule.split(":")[0]:
                    found.append(rule.removeprefix("If ").rstrip("."))
        return found

    def questions(self, intent: _Intent) -> list[str]:
        """The FAQ questions a customer asks in this subflow (empty outside the FAQ flows)."""
        if intent.flow not in (_SINGLE_ITEM, _STOREWIDE):
            return []
        listed = str(self.subflow(intent)["instructions"][1])
        return [q.strip().rstrip("?") for q in listed.split(", ") if q.strip()]


@cache
def _corpus() -> _AbcdCorpus:
    folder = resources.files("app.server") / "demo_data"

    def load(name: str) -> Any:
        return json.loads((folder / name).read_text(encoding="utf-8"))

    corpus = _AbcdCorpus(
        guidelines=load("guidelines.json"), kb=load("kb.json"), chats=load("abcd_sample.json")
    )
    # The intents name ABCD's flows by hand; fail here, not halfway through a seed, if a data
    # file and the table above ever disagree.
    for intent in _INTENTS:
        corpus.subflow(intent)
        corpus.actions(intent)
    return corpus


# --- people, places and devices -----------------------------------------------------------

_FIRST_NAMES: Final = (
    "Amara", "Mateo", "Sofia", "Liam", "Aisha", "Noah", "Yuki", "Chloe", "Omar", "Isabella",
    "Ethan", "Priyanka", "Lucas", "Fatima", "Hiroshi", "Grace", "Daniel", "Leila", "Marcus",
    "Elena", "Kwame", "Hannah", "Javier", "Mariko", "Jamal", "Olivia", "Rafael", "Zara", "Samuel",
    "Ingrid", "Tariq", "Nora", "Kofi", "Emily", "Arjun", "Camila", "Jonah", "Ayesha", "Felix",
    "Rosa", "Malik", "Ava", "Tomasz", "Nia", "Henrik", "Lucia", "Dmitri", "Maya", "Kenji",
    "Sarah", "Andre", "Imani", "Patrick", "Valentina", "Rohan", "Freya", "Gabriel", "Esther",
    "Ivan", "Jasmine", "Oscar", "Anika", "Carlos", "Beatrice", "Tyrone", "Sakura", "Miguel",
    "Harriet", "Yusuf", "Charlotte", "Desmond", "Alina", "Finn", "Leah", "Bilal", "Josephine",
    "Kai", "Naomi", "Stefan", "Ruth", "Hamza", "Clara", "Wei", "Lena", "Emeka", "Alice", "Juan",
    "Ngozi", "Theo", "Mariam",
)  # fmt: skip
_LAST_NAMES: Final = (
    "Okonkwo", "Garcia", "Rossi", "Murphy", "Khan", "Nguyen", "Tanaka", "Dubois", "Haddad",
    "Martinez", "Walker", "Patel", "Silva", "Rahman", "Sato", "Kim", "Cohen", "Moreau", "Johnson",
    "Petrova", "Mensah", "Schmidt", "Alvarez", "Zhang", "Washington", "O'Brien", "Costa", "Ahmed",
    "Lindqvist", "Ibrahim", "Novak", "Kowalski", "Adeyemi", "Fischer", "Hughes", "Castillo",
    "Yamamoto", "Osei", "Bennett", "Romero", "Park", "Jansen", "Mwangi", "Kaur", "Duarte",
    "Brennan", "Sokolov", "Nakamura", "Ferreira", "Banerjee", "Lopez", "Andersen", "Chowdhury",
    "Torres", "Reid", "Hoffmann", "Abubakar", "Campbell", "Morales", "Singh", "Wright",
    "Vasquez", "Ito", "Eriksson", "Mahmoud", "Price", "Delgado", "Huang", "Afolabi", "Gallagher",
    "Reyes", "Bjork", "Quinn", "Ward",
)  # fmt: skip
_STREETS: Final = (
    "1st Ave", "Lexington Ave", "Lincoln Ave", "Maple St", "Oak Dr", "Elm St", "Park Ave",
    "Cedar Ln", "Washington Blvd", "Lakeview Rd", "Sunset Blvd", "Highland Ave", "Mill Rd",
    "Church St", "Willow Way",
)  # fmt: skip


@dataclass(frozen=True)
class _Locale:
    """Where a customer lives: time zone, language, a fictional phone range and a town."""

    timezone: str
    language: str
    # E.164 with ``{n}`` for the number's tail; the ranges are reserved for fiction
    # (NANP 555-0100..0199, Ofcom 07700 900xxx, ACMA 0491 570 xxx).
    phone: str
    phone_tails: tuple[int, int]
    town: str
    weight: int


def _nanp(area: str) -> str:
    return "+1" + area + "555{n:04d}"


_LOCALES: Final = (
    _Locale("America/New_York", "en", _nanp("212"), (100, 199), "New York, NY 100{zz}", 14),
    _Locale("America/New_York", "en", _nanp("617"), (100, 199), "Boston, MA 021{zz}", 6),
    _Locale("America/New_York", "es", _nanp("305"), (100, 199), "Miami, FL 331{zz}", 5),
    _Locale("America/Chicago", "en", _nanp("312"), (100, 199), "Chicago, IL 606{zz}", 10),
    _Locale("America/Chicago", "en", _nanp("512"), (100, 199), "Austin, TX 787{zz}", 5),
    _Locale("America/Denver", "en", _nanp("303"), (100, 199), "Denver, CO 802{zz}", 5),
    _Locale("America/Phoenix", "en", _nanp("602"), (100, 199), "Phoenix, AZ 850{zz}", 3),
    _Locale("America/Los_Angeles", "en", _nanp("415"), (100, 199), "San Mateo, CA 944{zz}", 12),
    _Locale("America/Los_Angeles", "es", _nanp("213"), (100, 199), "Los Angeles, CA 900{zz}", 6),
    _Locale("America/Los_Angeles", "en", _nanp("206"), (100, 199), "Seattle, WA 981{zz}", 6),
    _Locale("America/Toronto", "en", _nanp("416"), (100, 199), "Toronto, ON M5V 2T{d}", 5),
    _Locale("America/Toronto", "fr", _nanp("514"), (100, 199), "Montréal, QC H2X 1Y{d}", 4),
    _Locale("America/Vancouver", "en", _nanp("604"), (100, 199), "Vancouver, BC V6B 1A{d}", 3),
    _Locale("Pacific/Honolulu", "en", _nanp("808"), (100, 199), "Honolulu, HI 968{zz}", 1),
    _Locale("Europe/London", "en", "+447700900{n:03d}", (0, 999), "London E1 6A{d}", 8),
    _Locale("Australia/Sydney", "en", "+61491570{n:03d}", (6, 159), "Sydney NSW 20{zz}", 3),
)

_ORGANIZATIONS: Final = (
    (
        "Northwind Traders",
        "northwind.example",
        "Wholesale account; invoices go to accounts payable.",
    ),
    ("Bluebird Florists", "bluebirdflorists.example", "Orders gift wrapping for events in bulk."),
    ("Harbor Dental Group", "harbordental.example", "Staff uniforms; reorders every spring."),
    ("Maple & Finch Interiors", "maplefinch.example", ""),
    ("Cobalt Robotics", "cobaltrobotics.example", "Laptops repaired under a service agreement."),
    ("Riverside Community College", "riverside-college.example", "Purchase orders only."),
    ("Sunrise Bakery Co.", "sunrisebakery.example", ""),
    ("Atlas Logistics", "atlaslogistics.example", "Ships to three warehouses; confirm address."),
    ("Greenleaf Pharmacy", "greenleafrx.example", "Premium subscription for the whole team."),
    ("Juniper Legal LLP", "juniperlegal.example", "Gold tier; escalate complaints to Sam."),
    ("Pinecrest Hotels", "pinecresthotels.example", "Front-desk tablets come to the Repairs Desk."),
    ("Orchard Street Cafe", "orchardcafe.example", ""),
)
_PUBLIC_MAIL_DOMAINS: Final = ("example.com", "example.net", "example.org", "mail.example")

_TIER_WEIGHTS: Final = ((Tier.STANDARD, 55), (Tier.SILVER, 25), (Tier.GOLD, 14), (Tier.VIP, 6))
# ABCD's member levels, as agents speak of them; tiers are the store's own names for them.
_MEMBER_LEVELS: Final[Mapping[str, tuple[str, ...]]] = {
    Tier.STANDARD: ("guest", "bronze"),
    Tier.SILVER: ("silver",),
    Tier.GOLD: ("gold",),
    Tier.VIP: ("gold",),
}
_TIER_NOTES: Final[Mapping[str, tuple[str, ...]]] = {
    Tier.STANDARD: (
        "Bronze member: returns within 90 days of purchase.",
        "Guest checkout until last year; returns within 30 days.",
    ),
    Tier.SILVER: ("Silver member: returns within 6 months of purchase.",),
    Tier.GOLD: ("Gold member: unlimited returns, overnight shipping fee waived.",),
    Tier.VIP: (
        "VIP: unlimited returns; loop in Sam on any complaint.",
        "VIP since 2019. Prefers a phone call over email.",
    ),
}
_GENERAL_NOTES: Final = (
    "Prefers email; doesn't pick up unknown numbers.",
    "Asked us not to call before 10:00 local time.",
    "Had two late deliveries in a row last quarter; handle with care.",
    "Shares the account with a spouse; both may contact us.",
    "Buys in bulk before the annual sale.",
    "Hard of hearing: use chat or email, not phone.",
    "Reported a scam email pretending to be our marketing team.",
    "Premium subscription, renews monthly.",
)
_LANGUAGE_NOTES: Final[Mapping[str, str]] = {
    "es": "Prefers replies in Spanish.",
    "fr": "Prefers replies in French.",
}


@dataclass(frozen=True)
class _Device:
    make: str
    model: str
    kind: str  # phone, tablet, laptop or console


@dataclass(frozen=True)
class _Fault:
    summary: str
    story: str
    part: str
    estimate: tuple[int, int]


_DEVICES: Final = (
    _Device("Apple", "iPhone 12", "phone"),
    _Device("Apple", "iPhone 13", "phone"),
    _Device("Apple", "iPhone 14 Pro", "phone"),
    _Device("Samsung", "Galaxy S21", "phone"),
    _Device("Samsung", "Galaxy S23", "phone"),
    _Device("Samsung", "Galaxy A52", "phone"),
    _Device("Google", "Pixel 6", "phone"),
    _Device("Google", "Pixel 7a", "phone"),
    _Device("Motorola", "moto g power", "phone"),
    _Device("Apple", "iPad Air (4th gen)", "tablet"),
    _Device("Samsung", "Galaxy Tab S7", "tablet"),
    _Device("Apple", "MacBook Air M1", "laptop"),
    _Device("Dell", "XPS 13", "laptop"),
    _Device("Lenovo", "ThinkPad T14", "laptop"),
    _Device("HP", "Pavilion 15", "laptop"),
    _Device("Microsoft", "Surface Laptop 4", "laptop"),
    _Device("Nintendo", "Switch OLED", "console"),
    _Device("Sony", "PlayStation 5", "console"),
    _Device("Microsoft", "Xbox Series S", "console"),
)
_FAULTS: Final[Mapping[str, tuple[_Fault, ...]]] = {
    "phone": (
        _Fault(
            "cracked screen",
            "I dropped it and the screen shattered.",
            "screen assembly",
            (129, 329),
        ),
        _Fault("battery drains fast", "The battery is dead by lunchtime.", "battery", (69, 119)),
        _Fault(
            "won't charge",
            "It only charges if I hold the cable at an angle.",
            "charging port",
            (49, 99),
        ),
        _Fault(
            "water damage",
            "It fell in the sink and now the screen flickers.",
            "board cleaning",
            (99, 249),
        ),
        _Fault(
            "blurry camera",
            "Photos come out blurry, the camera can't focus.",
            "rear camera",
            (79, 169),
        ),
    ),
    "tablet": (
        _Fault(
            "cracked screen", "My kid dropped it, the glass is cracked.", "digitizer", (119, 279)
        ),
        _Fault("swollen battery", "The screen is lifting at one corner.", "battery", (99, 179)),
        _Fault("won't charge", "It won't charge at all anymore.", "charging port", (59, 109)),
    ),
    "laptop": (
        _Fault(
            "sticky keyboard",
            "I spilled coffee on it and now some keys stick.",
            "keyboard",
            (149, 329),
        ),
        _Fault("won't power on", "It won't turn on, no lights at all.", "DC-in board", (89, 249)),
        _Fault(
            "broken hinge", "The left hinge snapped and the screen wobbles.", "hinge set", (79, 189)
        ),
        _Fault("loud fan", "The fan screams even when I'm just reading email.", "fan", (59, 129)),
    ),
    "console": (
        _Fault("no picture", "It powers on but the TV says no signal.", "HDMI port", (89, 149)),
        _Fault("overheating", "It shuts off after twenty minutes of playing.", "fan", (69, 129)),
        _Fault("controller drift", "The left stick moves on its own.", "analog stick", (39, 79)),
    ),
}
_WEEKDAYS: Final = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday")


# --- wording shared by every kind of ticket ----------------------------------------------

# From the sample chats: how customers say thanks and how agents sign off.
_CUSTOMER_THANKS: Final = (
    "great thanks for your help",
    "Perfect. Thanks",
    "Thanks for trying to help.",
    "That's it. Take care.",
    "That's all, have a great day!",
    "no worries, thanks!",
)
_AGENT_CLOSERS: Final = (
    "Is there anything else I can help you with?",
    "a pleasure to help you, have a nice day",
    "Have a great night!",
    "Would there be anything else I can help you with?",
)
_CUSTOMER_NUDGES: Final = (
    "Any update on this?",
    "Hello? Still waiting on an answer here.",
    "let me know",
    "Just following up on this.",
)
_AGENT_GREETINGS: Final = (
    "good afternoon, how can I help you?",
    "Thanks for reaching out, {first}. I'm looking into this now.",
    "Hi {first}, sorry for the trouble. Let me take a look.",
)
_PENDING_ASKS: Final = (
    "ok, may I have your username, email address and order ID please?",
    "Could you send me a photo of the {item} and the packing slip? I'll pick this up as soon as I"
    " hear back.",
    "Could you confirm your full address so I can send the shipping label?",
    "Could you reply with the order ID from your confirmation email?",
)
_NEW_DETAILS: Final = (
    "Order ID: {order_id}",
    "Username: {username}",
    "Also, this is the second time this has happened.",
    "I can send a photo if that helps.",
)
_SUPERVISOR_NOTES: Final = (
    "If they push back, offer a promo code (20% off the next purchase).",
    "{level} member: follow the guideline, no exceptions this time.",
    "Good handling so far. Wrap up by asking if they need anything else.",
)


@dataclass
class _Entry:
    """One message of a thread before it has a time."""

    kind: MessageKind
    author: AuthorType
    body: str
    agent: _StaffMember | None = None
    resolves: bool = False  # the reply that solved the ticket
    delay: tuple[int, int] | None = None  # seconds after the previous entry, if not the usual


@dataclass(frozen=True)
class _Profile:
    """A customer as the demo speaks of them; the row is in ``_DemoOffice.customers``."""

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
class _PlannedTicket:
    id: str
    subject: str
    status: TicketStatus
    priority: Priority
    channel: Channel
    customer: _Profile
    group: str
    assignee: _StaffMember | None
    tags: list[str]
    entries: list[_Entry]
    created_at: datetime


# Statuses by share of the queue, and how long ago tickets in them were opened, in days
# (weighted ranges): work in progress is recent, closed tickets go back the full six months.
_STATUS_WEIGHTS: Final = (
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
_THREAD_LENGTHS: Final[Mapping[TicketStatus, tuple[int, int]]] = {
    TicketStatus.NEW: (2, 3),
    TicketStatus.OPEN: (3, 8),
    TicketStatus.PENDING: (3, 8),
    TicketStatus.ON_HOLD: (4, 8),
    TicketStatus.SOLVED: (3, 8),
    TicketStatus.CLOSED: (4, 8),
}
_CHANNEL_WEIGHTS: Final = (
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
_MAX_THREAD: Final = 8
# Who is working the sample chats' customers right now, by the chat's team.
_SHOWCASE_AGENTS: Final[Mapping[str, str]] = {
    BILLING_AND_ORDERS: "ada@example.com",
    CUSTOMER_CARE: "lin@example.com",
}
_REPAIRS_SHARE: Final = 0.14


_T = TypeVar("_T")


def _pick(rng: random.Random, weighted: Sequence[tuple[_T, int]]) -> _T:
    return rng.choices([item for item, _ in weighted], [w for _, w in weighted])[0]


def _brand_name(brand: str) -> str:
    return brand.replace("_", " ").title()


def _capitalized(text: str) -> str:
    return text[:1].upper() + text[1:]


def _local_phone(e164: str) -> str:
    """``+14155550123`` as a North American reads it, ``(415) 555-0123``; others unchanged."""
    if e164.startswith("+1") and len(e164) == 12:
        return f"({e164[2:5]}) {e164[5:8]}-{e164[8:]}"
    return e164


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


class _DemoOffice:
    """The demo being made: staff, customers and tickets, as rows ready to insert."""

    def __init__(self, *, seed: int, now: datetime) -> None:
        self.rng = random.Random(seed)
        # Ids come from their own stream so that adding a row somewhere does not reshuffle the
        # wording of every ticket after it.
        self._id_bits = random.Random(f"switchboard-demo-ids:{seed}")
        self.now = now
        self.corpus = _corpus()
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
        self.profiles: list[_Profile] = []
        self._taken_identities: set[tuple[str, str]] = set()

    def new_id(self) -> str:
        """Like ``app.models.base.new_id``, but reproducible from the seed."""
        return str(uuid.UUID(int=self._id_bits.getrandbits(128), version=4))

    def days_ago(self, low: float, high: float) -> datetime:
        seconds = self.rng.uniform(low * 86400, high * 86400)
        return self.now - timedelta(seconds=int(seconds))

    def build(self) -> None:
        self._staff()
        self._customers()
        self._tickets()
        self._canned_responses()

    # --- staff ----------------------------------------------------------------------------

    def _staff(self) -> None:
        for name in _ALL_GROUPS:
            self.group_ids[name] = self.new_id()
            self.groups.append(
                {
                    "id": self.group_ids[name],
                    "name": name,
                    "description": _GROUP_DESCRIPTIONS[name],
                    "updated_at": self.days_ago(200, 400),
                }
            )
        for member in _STAFF:
            self.agent_ids[member.email] = self.new_id()
            self.agents.append(
                {
                    "id": self.agent_ids[member.email],
                    "name": member.name,
                    "email": member.email,
                    "role": member.role.value,
                    "active": True,
                    "timezone": member.timezone,
                    "access_version": 1,
                    "updated_at": self.days_ago(190, 365),
                }
            )
            self.memberships.extend(
                {"agent_id": self.agent_ids[member.email], "group_id": self.group_ids[group]}
                for group in member.groups
            )

    def _workers(self, group: str) -> list[tuple[_StaffMember, int]]:
        """Who picks up the group's tickets: its agents, and now and then a supervisor."""
        weights = {Role.AGENT: 10, Role.SUPERVISOR: 1, Role.ADMIN: 0}
        return [(m, weights[m.role]) for m in _STAFF if group in m.groups and weights[m.role]]

    # --- customers ------------------------------------------------------------------------

    def _claim(
        self, kind: IdentityKind, make: Callable[[], str], preferred: str | None = None
    ) -> str:
        """A value for a new identity of ``kind`` that no customer holds yet: ``preferred``
        if it is free, else the first free one ``make`` comes up with."""
        value = preferred
        while value is None or (kind.value, value) in self._taken_identities:
            value = make()
        self._taken_identities.add((kind.value, value))
        return value

    def _customers(self) -> None:
        rng = self.rng
        org_ids = []
        for name, domain, notes in _ORGANIZATIONS[:ORGANIZATION_COUNT]:
            org_ids.append((self.new_id(), domain))
            self.organizations.append(
                {
                    "id": org_ids[-1][0],
                    "name": name,
                    "domain": domain,
                    "notes": notes,
                    "updated_at": self.days_ago(30, 400),
                }
            )

        # The sample chats' customers come first, as ABCD describes them; the rest are drawn.
        people: list[tuple[str, str | None, str | None, str | None]] = []
        for chat in self.corpus.chats:
            personal = chat["scenario"]["personal"]
            order = chat["scenario"]["order"]
            address = None
            if order.get("street_address"):
                address = (
                    f"{string.capwords(order['street_address'])}, {string.capwords(order['city'])},"
                    f" {order['state'].upper()} {order['zip_code']}"
                )
            people.append(
                (
                    string.capwords(personal["customer_name"]),
                    personal.get("username"),
                    personal.get("member_level"),
                    address,
                )
            )
        names = {name for name, *_ in people}
        while len(people) < CUSTOMER_COUNT:
            name = f"{rng.choice(_FIRST_NAMES)} {rng.choice(_LAST_NAMES)}"
            if name not in names:
                names.add(name)
                people.append((name, None, None, None))

        for name, abcd_username, abcd_level, abcd_address in people:
            self._customer(name, abcd_username, abcd_level, abcd_address, org_ids)

    def _customer(
        self,
        name: str,
        abcd_username: str | None,
        abcd_level: str | None,
        abcd_address: str | None,
        org_ids: Sequence[tuple[str, str]],
    ) -> None:
        rng = self.rng
        first, last = name.split(" ", 1)
        letters = re.sub(r"[^a-z]", "", last.lower())
        if abcd_level is not None:
            level = abcd_level
            tier = {"gold": Tier.GOLD, "silver": Tier.SILVER}.get(level, Tier.STANDARD)
        else:
            tier = _pick(rng, _TIER_WEIGHTS)
            level = rng.choice(_MEMBER_LEVELS[tier])
        locale = _pick(rng, [(locale, locale.weight) for locale in _LOCALES])
        org = rng.choice(org_ids) if rng.random() < 0.3 else None

        # ABCD's usernames: first initial, last name, three digits ("cminh730").
        username = abcd_username or f"{first[0].lower()}{letters}{rng.randint(100, 999)}"
        # The sample chats' customers keep their ABCD address, moved to a reserved domain.
        if abcd_username:
            domain = "example.com"
        else:
            domain = org[1] if org else rng.choice(_PUBLIC_MAIL_DOMAINS)
        email = self._claim(
            IdentityKind.EMAIL,
            lambda: f"{first.lower()}.{letters}{rng.randint(1, 99)}@{domain}",
            preferred=f"{username}@{domain}",
        )
        identities = [(IdentityKind.EMAIL, email)]
        # The sample chats' customers give a phone number in their chats, so they always have one.
        phone = None
        if abcd_username or abcd_level or rng.random() < 0.85:
            low, high = locale.phone_tails
            phone = self._claim(
                IdentityKind.PHONE, lambda: locale.phone.format(n=rng.randint(low, high))
            )
            identities.append((IdentityKind.PHONE, phone))
        handle = None
        extras = [
            kind
            for kind, odds in ((IdentityKind.SOCIAL, 0.25), (IdentityKind.CHAT, 0.3))
            if rng.random() < odds
        ]
        for kind in extras[: 3 - len(identities)]:
            if kind is IdentityKind.SOCIAL:
                handle = self._claim(
                    kind,
                    lambda: (
                        "@"
                        + rng.choice(
                            (
                                f"{first.lower()}{letters}",
                                f"{first.lower()}_{letters[:1]}",
                                f"{first.lower()}{rng.randint(10, 99)}",
                                f"{letters}.{first.lower()[:3]}",
                            )
                        )
                    ),
                )
                identities.append((kind, handle))
            else:
                identities.append(
                    (kind, self._claim(kind, lambda: f"visitor-{rng.getrandbits(40):010x}"))
                )

        street = f"{rng.randint(100, 9999)} {rng.choice(_STREETS)}"
        town = locale.town.format(zz=f"{rng.randint(1, 99):02d}", d=rng.randint(1, 9))
        notes = []
        if rng.random() < 0.3:
            notes.append(rng.choice(_TIER_NOTES[tier]))
        if rng.random() < 0.25:
            notes.append(rng.choice(_GENERAL_NOTES))
        if locale.language in _LANGUAGE_NOTES:
            notes.append(_LANGUAGE_NOTES[locale.language])

        customer_id = self.new_id()
        created_at = self.days_ago(190, 1500)
        self.customers.append(
            {
                "id": customer_id,
                "name": name,
                "organization_id": org[0] if org else None,
                "tier": tier.value,
                "language": locale.language,
                "timezone": locale.timezone,
                "notes": " ".join(notes),
                "created_at": created_at,
                "updated_at": self.days_ago(0, 180),
            }
        )
        self.identities.extend(
            {"id": self.new_id(), "customer_id": customer_id, "kind": kind.value, "value": value}
            for kind, value in identities
        )
        self.profiles.append(
            _Profile(
                id=customer_id,
                name=name,
                username=username,
                email=email,
                phone=phone,
                handle=handle,
                tier=tier.value,
                level=level,
                account_id="".join(rng.choices(string.ascii_uppercase + string.digits, k=10)),
                pin=f"{rng.randint(0, 9999):04d}",
                address=abcd_address or f"{street}, {town}",
                street=abcd_address.split(",")[0] if abcd_address else street,
                created_at=created_at,
            )
        )

    # --- tickets --------------------------------------------------------------------------

    def _tickets(self) -> None:
        rng = self.rng
        planned = self._showcase_tickets()
        # A few customers write in far more often than the rest, as in any real queue.
        weights = [1 / (rank + 1) ** 0.6 for rank in range(len(self.profiles))]
        flows = list(_FLOWS)
        while len(planned) < TICKET_COUNT:
            status = _pick(rng, _STATUS_WEIGHTS)
            if rng.random() < _REPAIRS_SHARE:
                planned.append(self._repair_ticket(status, weights))
                continue
            flow = rng.choices(flows, [_FLOWS[f][1] for f in flows])[0]
            intent = rng.choice([i for i in _INTENTS if i.flow == flow])
            planned.append(self._abcd_ticket(intent, status, weights))

        # Numbers follow the order tickets came in, as the server would have handed them out.
        planned.sort(key=lambda ticket: ticket.created_at)
        for number, ticket in enumerate(planned, start=1):
            self._add_ticket(number, ticket)

    def _choose_customer(self, channel: Channel, weights: Sequence[float]) -> _Profile:
        while True:
            customer = self.rng.choices(self.profiles, weights)[0]
            if channel is Channel.SOCIAL and customer.handle is None:
                continue
            if channel is Channel.PHONE and customer.phone is None:
                continue
            return customer

    def _choose_assignee(self, group: str, status: TicketStatus) -> _StaffMember | None:
        odds = 0.35 if status is TicketStatus.NEW else 0.93
        if self.rng.random() >= odds:
            return None
        return _pick(self.rng, self._workers(group))

    def _choose_priority(self, customer: _Profile) -> Priority:
        priority = _pick(self.rng, _PRIORITY_WEIGHTS)
        if customer.tier in (Tier.GOLD, Tier.VIP):
            # Valued customers' tickets get looked at sooner.
            order = [p for p, _ in _PRIORITY_WEIGHTS]
            priority = max(priority, _pick(self.rng, _PRIORITY_WEIGHTS), key=order.index)
        return priority

    def _created_at(self, status: TicketStatus) -> datetime:
        ranges = _AGE_DAYS[status]
        low, high, _ = self.rng.choices(ranges, [w for *_, w in ranges])[0]
        return self.days_ago(low, high)

    def _context(
        self, intent: _Intent, customer: _Profile, product: tuple[str, str, int] | None = None
    ) -> dict[str, str]:
        """Every value a template of ``intent`` may name, for one ticket."""
        rng = self.rng
        if product is None:
            item = intent.key if intent.key in _ITEM_PRICES else rng.choice(list(_ITEM_PRICES))
            product = (rng.choice(_BRANDS), item, rng.randint(*_ITEM_PRICES[item]))
        brand, item, amount = product
        method, new_method = rng.sample(_PAYMENT_METHODS, 2)
        refund_target, refund_method = rng.choice(_REFUND_TARGETS)
        heard, heard_line = rng.choice(_HEARD)
        questions = self.corpus.questions(intent) or [""]
        qnum = rng.randrange(len(questions))
        due_date = self.now + timedelta(days=rng.randint(1, 28))
        new_phone = _local_phone(
            _nanp(rng.choice(("212", "415", "312"))).format(n=rng.randint(100, 199))
        )

        def promo() -> str:
            return "".join(rng.choices(string.ascii_uppercase, k=4)) + str(rng.randint(10, 99))

        context = {
            "name": customer.name,
            "first": customer.first_name,
            "username": customer.username,
            "email": customer.email,
            "phone": _local_phone(customer.phone) if customer.phone else new_phone,
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
            "new_password": f"{rng.choice(_STREETS).split()[0].lower()}{rng.randint(1000, 9999)}",
            "return_method": rng.choice(("by mail", "in store", "at a drop off center")),
            "refund_target": refund_target,
            "refund_method": refund_method,
            "new_street": f"{rng.randint(100, 9999)} {rng.choice(_STREETS)}",
            "new_name": f"{customer.first_name} {rng.choice(_LAST_NAMES)}",
            "new_phone": new_phone,
            "heard": heard,
            "heard_line": heard_line,
            "question": _capitalized(questions[qnum]),
            "topic": intent.key,
            "qnum": str(qnum + 1),
            "card_last4": f"{rng.randint(0, 9999):04d}",
            "card_expiry": f"{rng.randint(1, 12):02d}/{rng.randint(26, 30)}",
            "team": "manager",
            "change": "change order",
            "account_change": "update account",
            "reason": "It's like I said above.",
        }
        context["faq_answer"] = self._faq_answer(questions[qnum], context)
        for key, template in intent.slots.items():
            context[key] = template.format_map(context)
        return context

    def _faq_answer(self, question: str, context: Mapping[str, str]) -> str:
        asked = question.lower()
        for word, answer in _FAQ_ANSWERS:
            if word in asked:
                return _capitalized(answer)
        return "I've sent you the answer from our FAQ page for the {item}.".format_map(context)

    def _abcd_ticket(
        self, intent: _Intent, status: TicketStatus, weights: Sequence[float]
    ) -> _PlannedTicket:
        rng = self.rng
        channel = _pick(rng, _CHANNEL_WEIGHTS)
        customer = self._choose_customer(channel, weights)
        group, _, flow_tag = _FLOWS[intent.flow]
        assignee = self._choose_assignee(group, status)
        context = self._context(intent, customer)
        entries = self._abcd_thread(intent, status, channel, context, group, assignee)

        tags = [flow_tag, intent.key.replace("_", "-")]
        if customer.tier == Tier.VIP:
            tags.append("vip")
        if any("has been notified" in e.body for e in entries):
            tags.append("escalated")
        if any(e.body.startswith("A refund has been made") for e in entries):
            tags.append("refund")
        return _PlannedTicket(
            id=self.new_id(),
            subject=rng.choice(intent.subjects).format_map(context),
            status=status,
            priority=self._choose_priority(customer),
            channel=channel,
            customer=customer,
            group=group,
            assignee=assignee,
            tags=tags,
            entries=entries,
            created_at=self._created_at(status),
        )

    def _abcd_thread(
        self,
        intent: _Intent,
        status: TicketStatus,
        channel: Channel,
        context: Mapping[str, str],
        group: str,
        assignee: _StaffMember | None,
    ) -> list[_Entry]:
        """The thread of an ABCD ticket: the customer's request, then the subflow's actions in
        kb.json order (agent asks, customer answers, the system notes the action), cut to fit
        the ticket's status."""
        rng = self.rng
        agent = assignee or _pick(rng, self._workers(group))
        actions = self.corpus.actions(intent)

        def say(text: str) -> str:
            return text.format_map(context)

        def from_customer(text: str) -> _Entry:
            return _Entry(MessageKind.REPLY, AuthorType.CUSTOMER, say(text))

        def from_agent(text: str, *, resolves: bool = False) -> _Entry:
            return _Entry(MessageKind.REPLY, AuthorType.AGENT, say(text), agent, resolves)

        def event(text: str) -> _Entry:
            return _Entry(MessageKind.EVENT, AuthorType.SYSTEM, say(text), delay=(5, 90))

        head = [from_customer(rng.choice(intent.openers))]
        if status is TicketStatus.NEW:
            extras = [from_customer(rng.choice(_NEW_DETAILS))]
            extras.append(
                event(f"Assigned to {assignee.name}")
                if assignee
                else event(f"Routed to {group} by the {channel.value.replace('_', '-')} rules")
            )
            rng.shuffle(extras)
            low, high = _THREAD_LENGTHS[status]
            entries = head + extras[: rng.randint(low, high) - 1]
            return self._dress(entries, channel, context)
        if assignee and rng.random() < 0.7:
            head.append(event(f"Assigned to {assignee.name}"))

        middle: list[_Entry] = []
        for action in actions:
            step = intent.steps.get(action) or _STEPS.get(action)
            if step is None:  # the FAQ flows' per-topic searches: only the system notices
                middle.append(event(f"System Action: {action.replace('-', ' ')}"))
                continue
            if step.ask:
                middle.append(from_agent(step.ask))
            if step.answer:
                middle.append(from_customer(step.answer))
            if step.event and rng.random() < 0.6:
                middle.append(event(step.event))

        tail: list[_Entry] = []
        if status is TicketStatus.ON_HOLD:
            tail.append(self._hold_note(intent, context, agent))
        elif status in (TicketStatus.SOLVED, TicketStatus.CLOSED):
            closer = _capitalized(rng.choice(_AGENT_CLOSERS))
            resolution = f"{rng.choice(intent.resolutions)} {closer}"
            tail.append(from_agent(resolution, resolves=True))
            if rng.random() < 0.6:
                tail.append(from_customer(rng.choice(_CUSTOMER_THANKS)))
            if status is TicketStatus.CLOSED and rng.random() < 0.5:
                closed = event("Closed automatically after four days without a reply.")
                closed.delay = (4 * 86400, 4 * 86400 + 3600)
                tail.append(closed)

        low, high = _THREAD_LENGTHS[status]
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
        if not any(
            e.author is AuthorType.AGENT and e.kind is MessageKind.REPLY for e in middle + tail
        ):
            middle.insert(0, from_agent(rng.choice(_AGENT_GREETINGS)))

        entries = head + middle + tail
        if rng.random() < 0.35:
            note = self._triage_note(intent, context, agent)
            first_reply = next(i for i, e in enumerate(entries) if e.author is AuthorType.AGENT)
            entries.insert(first_reply + 1, note)
        if channel is Channel.PHONE:
            went_through = ", ".join(a.replace("-", " ") for a in actions[:3])
            self._log_first_reply_as_call(
                entries, f"spoke with {context['first']}; went through {went_through}."
            )
        # Keep the status's ending; shorten the conversation before it.
        while len(entries) > _MAX_THREAD:
            del entries[-len(tail) - 2]
        return self._dress(entries, channel, context)

    def _triage_note(
        self, intent: _Intent, context: Mapping[str, str], agent: _StaffMember
    ) -> _Entry:
        """An internal note quoting the subflow's guideline: the situation, a membership rule
        that applies, or the plan of actions; sometimes a supervisor's word instead."""
        rng = self.rng
        if rng.random() < 0.15:
            supervisor = next(m for m in _STAFF if m.role is Role.SUPERVISOR)
            text = _capitalized(rng.choice(_SUPERVISOR_NOTES).format_map(context))
            return _Entry(MessageKind.NOTE, AuthorType.AGENT, text, supervisor)
        options = []
        if situation := self.corpus.situation(intent):
            options.append(f"Triage ({intent.flow} > {intent.subflow}): {situation}")
        options.extend(
            f"Policy check, {context['level']} member: {rule}."
            for rule in self.corpus.policies(intent, context["level"])
        )
        plan = " → ".join(a.replace("-", " ") for a in self.corpus.actions(intent))
        options.append(f"Plan per the {intent.subflow} guideline: {plan}.")
        return _Entry(MessageKind.NOTE, AuthorType.AGENT, rng.choice(options), agent)

    def _hold_note(
        self, intent: _Intent, context: Mapping[str, str], agent: _StaffMember
    ) -> _Entry:
        team = context["team"]
        reasons = {
            "manager": "the manager to approve an exception",
            "website team": "the website team; linked to their incident",
            "purchasing department": "the purchasing department to confirm a restock date",
        }
        text = f"On hold: waiting for {reasons.get(team, team)} ({intent.subflow})."
        return _Entry(MessageKind.NOTE, AuthorType.AGENT, text, agent)

    def _log_first_reply_as_call(self, entries: list[_Entry], summary: str) -> None:
        """On the phone the first answer is a call, logged by the agent who made it; what the
        customer answered was said on that call, so it leaves the thread."""
        for index, entry in enumerate(entries):
            if entry.author is AuthorType.AGENT and entry.kind is MessageKind.REPLY:
                entry.kind = MessageKind.CALL
                entry.body = f"Outbound call, {self.rng.randint(2, 14)} min: {summary}"
                following = entries[index + 1 : index + 2]
                if following and following[0].author is AuthorType.CUSTOMER:
                    del entries[index + 1]
                return

    def _dress(
        self, entries: list[_Entry], channel: Channel, context: Mapping[str, str]
    ) -> list[_Entry]:
        """Word the public messages as the channel would carry them (greetings, sign-offs)."""
        first = context["first"]
        for index, entry in enumerate(entries):
            if entry.kind is not MessageKind.REPLY:
                continue
            if entry.author is AuthorType.CUSTOMER:
                if channel is Channel.EMAIL and index == 0:
                    entry.body = f"Hi,\n\n{entry.body}\n\nThanks,\n{first}"
                elif channel is Channel.EMAIL and len(entry.body) > 40:
                    entry.body = f"{entry.body}\n\n{first}"
                elif index == 0 and channel is Channel.WEB:
                    entry.body = (
                        f"Contact form\nName: {context['name']}\nEmail: {context['email']}\n\n"
                        f"{entry.body}"
                    )
                elif index == 0 and channel is Channel.SOCIAL:
                    entry.body = f"@AcmeBrands {entry.body}"
                elif index == 0 and channel is Channel.PHONE:
                    entry.body = (
                        f"Voicemail, {self.rng.randint(15, 90)} s: {entry.body} Please call me"
                        f" back on {context['phone']}."
                    )
            elif entry.agent is not None:
                if channel in (Channel.EMAIL, Channel.WEB):
                    entry.body = (
                        f"Hi {first},\n\n{_capitalized(entry.body)}\n\nBest regards,\n"
                        f"{entry.agent.first_name}"
                    )
                elif channel is Channel.SOCIAL:
                    initials = "".join(part[0] for part in entry.agent.name.split())
                    entry.body = f"{_capitalized(entry.body)} ^{initials}"
        return entries

    def _repair_ticket(self, status: TicketStatus, weights: Sequence[float]) -> _PlannedTicket:
        rng = self.rng
        channel = _pick(rng, ((Channel.WALK_IN, 75), (Channel.PHONE, 15), (Channel.EMAIL, 10)))
        customer = self._choose_customer(channel, weights)
        assignee = self._choose_assignee(REPAIRS_DESK, status)
        device = rng.choice(_DEVICES)
        fault = rng.choice(_FAULTS[device.kind])
        low, high = fault.estimate
        estimate = rng.randint(low // 5, high // 5) * 5 - 1  # shop prices end in 9
        context = {
            "first": customer.first_name,
            "name": customer.name,
            "email": customer.email,
            "phone": _local_phone(customer.phone) if customer.phone else "",
        }
        if channel is Channel.WALK_IN:
            entries = self._walk_in_thread(status, customer, assignee, device, fault, estimate)
            subject = f"Walk-in repair: {device.make} {device.model} — {fault.summary}"
        else:
            entries = self._repair_quote_thread(status, customer, assignee, device, fault, estimate)
            subject = f"Repair quote: {device.make} {device.model}, {fault.summary}"
            if channel is Channel.PHONE:
                self._log_first_reply_as_call(
                    entries, f"returned {customer.first_name}'s call about the {device.model}."
                )
        tags = ["repair", device.kind, device.make.lower()]
        if channel is Channel.WALK_IN and status is not TicketStatus.NEW:
            tags.append("deposit-paid")
        return _PlannedTicket(
            id=self.new_id(),
            subject=subject,
            status=status,
            priority=self._choose_priority(customer),
            channel=channel,
            customer=customer,
            group=REPAIRS_DESK,
            assignee=assignee,
            tags=tags,
            entries=self._dress(entries, channel, context),
            created_at=self._created_at(status),
        )

    def _walk_in_thread(
        self,
        status: TicketStatus,
        customer: _Profile,
        assignee: _StaffMember | None,
        device: _Device,
        fault: _Fault,
        estimate: int,
    ) -> list[_Entry]:
        rng = self.rng
        agent = assignee or _pick(rng, self._workers(REPAIRS_DESK))
        first = customer.first_name
        model = f"{device.make} {device.model}"
        deposit = 50 if estimate >= 100 else 25
        number_kind, number = (
            ("IMEI", _imei(rng))
            if device.kind == "phone"
            else ("Serial", "".join(rng.choices(string.ascii_uppercase + string.digits, k=11)))
        )
        day = rng.choice(_WEEKDAYS)
        hours = (3600, 3 * 86400)

        def note(text: str, delay: tuple[int, int] = hours) -> _Entry:
            return _Entry(MessageKind.NOTE, AuthorType.AGENT, text, agent, delay=delay)

        dropped_off = _Entry(
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
        deposit_taken = _Entry(
            MessageKind.EVENT,
            AuthorType.SYSTEM,
            f"Deposit of ${deposit}.00 recorded.",
            delay=(5, 60),
        )
        quoted = _Entry(
            MessageKind.REPLY,
            AuthorType.AGENT,
            f"Hi {first}, thanks for leaving your {model} with us. The estimate is ${estimate}.00"
            f" and we've taken a ${deposit}.00 deposit. We'll call you as soon as it's ready.",
            agent,
            delay=(600, 4 * 3600),
        )
        go_ahead = _Entry(
            MessageKind.REPLY,
            AuthorType.CUSTOMER,
            rng.choice(
                (
                    "Sounds good, go ahead.",
                    "Great, thanks. Please call me before doing anything over the estimate.",
                )
            ),
        )
        ready = _Entry(
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
                _Entry(MessageKind.REPLY, AuthorType.CUSTOMER, f"Any news on my {device.model}?")
            )
        elif status is TicketStatus.PENDING:
            extra = rng.randint(4, 12) * 10
            entries.append(
                _Entry(
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
                note(
                    f"On hold: waiting for parts; the {fault.part} is back-ordered at the supplier."
                )
            )
        else:
            entries.append(go_ahead)
            if rng.random() < 0.5:
                entries.append(note(f"Parts: {fault.part} ordered, ETA {rng.randint(1, 3)} days."))
            entries.append(ready)
            if status is TicketStatus.CLOSED:
                entries.append(
                    _Entry(
                        MessageKind.EVENT,
                        AuthorType.SYSTEM,
                        f"Collected by {first}; balance of ${estimate - deposit}.00 paid.",
                        delay=(3600, 2 * 86400),
                    )
                )
        return entries

    def _repair_quote_thread(
        self,
        status: TicketStatus,
        customer: _Profile,
        assignee: _StaffMember | None,
        device: _Device,
        fault: _Fault,
        estimate: int,
    ) -> list[_Entry]:
        """A customer asks what a repair would cost before bringing the device in."""
        rng = self.rng
        agent = assignee or _pick(rng, self._workers(REPAIRS_DESK))
        model = f"{device.make} {device.model}"
        asked = _Entry(
            MessageKind.REPLY,
            AuthorType.CUSTOMER,
            f"How much would it cost to fix my {model}? {fault.story}",
        )
        entries = [asked]
        if status is TicketStatus.NEW:
            entries.append(
                _Entry(MessageKind.REPLY, AuthorType.CUSTOMER, "Also, do I need an appointment?")
            )
            return entries
        quote = _Entry(
            MessageKind.REPLY,
            AuthorType.AGENT,
            f"For a {model} with a {fault.summary}, the estimate is ${estimate}.00 including"
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
                _Entry(
                    MessageKind.REPLY,
                    AuthorType.CUSTOMER,
                    f"Can you do it on {rng.choice(_WEEKDAYS)} while I wait?",
                )
            )
        elif status is TicketStatus.ON_HOLD:
            entries.append(
                _Entry(MessageKind.REPLY, AuthorType.CUSTOMER, "OK. Is the part in stock?")
            )
            entries.append(
                _Entry(
                    MessageKind.NOTE,
                    AuthorType.AGENT,
                    f"On hold: asked the supplier for a price and date on the {fault.part}.",
                    agent,
                )
            )
        elif status in (TicketStatus.SOLVED, TicketStatus.CLOSED):
            entries.append(
                _Entry(
                    MessageKind.REPLY,
                    AuthorType.CUSTOMER,
                    f"Great, I'll bring it in on {rng.choice(_WEEKDAYS)}.",
                )
            )
        if entries[1].author is AuthorType.AGENT and rng.random() < 0.5:
            entries.insert(
                1,
                _Entry(
                    MessageKind.EVENT,
                    AuthorType.SYSTEM,
                    f"Assigned to {agent.name}" if assignee else f"Routed to {REPAIRS_DESK}",
                    delay=(5, 90),
                ),
            )
        return entries

    def _showcase_tickets(self) -> list[_PlannedTicket]:
        """The three ABCD sample chats as open chat tickets, nearly word for word."""
        planned = []
        for index, chat in enumerate(self.corpus.chats):
            scenario = chat["scenario"]
            customer = self.profiles[index]
            subflow = str(scenario["subflow"])
            key = re.sub(r"_\d+$", "", subflow)
            intent = _INTENTS_BY_KEY[key]
            names = scenario["product"]["names"]
            product = None
            if names:
                brand, item = str(names[0]).split(" ", 1)
                product = (brand, item, int(scenario["product"]["amounts"][0]))
            context = self._context(intent, customer, product)
            if order_id := scenario["order"].get("order_id"):
                context["order_id"] = str(order_id)
            if key != subflow:  # "timing_4": the FAQ question the customer asked
                questions = self.corpus.questions(intent)
                qnum = int(subflow.rsplit("_", 1)[1])
                context["question"] = _capitalized(questions[qnum - 1])
                context["qnum"] = str(qnum)
            group, _, flow_tag = _FLOWS[intent.flow]
            agent = next(m for m in _STAFF if m.email == _SHOWCASE_AGENTS[group])

            entries: list[_Entry] = []
            abcd_phone = str(scenario["personal"].get("phone", ""))
            for speaker, text in chat["original"]:
                text = str(text).replace("@email.com", "@example.com")
                if abcd_phone and customer.phone:
                    text = text.replace(abcd_phone, _local_phone(customer.phone))
                if speaker == "action":
                    entries.append(
                        _Entry(MessageKind.EVENT, AuthorType.SYSTEM, text, delay=(3, 30))
                    )
                    continue
                author = AuthorType.CUSTOMER if speaker == "customer" else AuthorType.AGENT
                if entries and entries[-1].author is author:
                    entries[-1].body += "\n" + text
                elif entries or author is AuthorType.CUSTOMER:  # threads open with the customer
                    entries.append(
                        _Entry(
                            MessageKind.REPLY,
                            author,
                            text,
                            agent if author is AuthorType.AGENT else None,
                        )
                    )
            entries = entries[:_MAX_THREAD]
            while entries[-1].author is not AuthorType.CUSTOMER:
                entries.pop()
            planned.append(
                _PlannedTicket(
                    id=self.new_id(),
                    subject=intent.subjects[0].format_map(context),
                    status=TicketStatus.OPEN,
                    priority=Priority.NORMAL,
                    channel=Channel.CHAT,
                    customer=customer,
                    group=group,
                    assignee=agent,
                    tags=[flow_tag, key.replace("_", "-"), "abcd-sample"],
                    entries=entries,
                    created_at=self.days_ago(0.1, 1.5),
                )
            )
        return planned

    def _gap(self, entry: _Entry, channel: Channel) -> int:
        """Seconds between the previous message and ``entry``, as the channel paces a thread."""
        rng = self.rng
        if entry.delay is not None:
            return rng.randint(*entry.delay)
        if entry.kind is MessageKind.NOTE:
            return rng.randint(60, 1800)
        if channel is Channel.CHAT:
            return rng.randint(20, 240)
        if channel in (Channel.PHONE, Channel.WALK_IN):
            return rng.randint(900, 6 * 3600)
        # Email, web and social: answers come within about a working day.
        return rng.randint(1200, 26 * 3600)

    def _add_ticket(self, number: int, ticket: _PlannedTicket) -> None:
        created_at = ticket.created_at
        offsets = [0]
        for entry in ticket.entries[1:]:
            offsets.append(offsets[-1] + self._gap(entry, ticket.channel))
        # A thread never runs past now: squeeze it into the time it has had.
        room = int((self.now - created_at).total_seconds()) - 60
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
                recent = self.now - at < timedelta(minutes=30)
                delivery = DeliveryState.SENT if recent else DeliveryState.DELIVERED
            else:
                delivery = DeliveryState.SENT
            self.messages.append(
                {
                    "id": self.new_id(),
                    "ticket_id": ticket.id,
                    "kind": entry.kind.value,
                    "author_type": entry.author.value,
                    "author_agent_id": self.agent_ids[entry.agent.email] if entry.agent else None,
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
        self.tickets.append(
            {
                "id": ticket.id,
                "number": number,
                "subject": ticket.subject,
                "status": ticket.status.value,
                "priority": ticket.priority.value,
                "channel": ticket.channel.value,
                "customer_id": ticket.customer.id,
                "assignee_id": self.agent_ids[ticket.assignee.email] if ticket.assignee else None,
                "group_id": self.group_ids[ticket.group],
                "tags": ticket.tags,
                "created_at": created_at,
                "updated_at": created_at + timedelta(seconds=offsets[-1]),
                "first_response_at": first_response_at,
                "solved_at": solved_at,
                "version": 1 + len(ticket.entries),
            }
        )

    # --- canned responses -----------------------------------------------------------------

    def _canned_responses(self) -> None:
        rng = self.rng
        ada = self.agent_ids["ada@example.com"]
        for title, shortcut, body, scope, group in _CANNED_RESPONSES:
            self.canned_responses.append(
                {
                    "id": self.new_id(),
                    "title": title,
                    "shortcut": shortcut,
                    "body": body,
                    "scope": scope.value,
                    "group_id": self.group_ids[group] if group else None,
                    "owner_id": ada if scope is CannedScope.PERSONAL else None,
                    # A few responses do most of the work, as in any team.
                    "usage_count": rng.choice(
                        (rng.randint(0, 15), rng.randint(15, 120), rng.randint(120, 900))
                    ),
                    "updated_at": self.days_ago(1, 150),
                }
            )


# Bodies use the workstation's placeholders; the wording follows ABCD's guidelines and chats.
_SHARED = CannedScope.SHARED
_GROUP = CannedScope.GROUP
_PERSONAL = CannedScope.PERSONAL
_CANNED_RESPONSES: Final[tuple[tuple[str, str, str, CannedScope, str | None], ...]] = (
    ("Greeting", "hello",
     "Hi {{customer.first_name}}, this is {{agent.name}}. How can I help you today?",
     _SHARED, None),
    ("Anything else?", "anything-else",
     "Is there anything else I can help you with, {{customer.first_name}}?", _SHARED, None),
    ("Sign-off", "bye",
     "It was a pleasure to help you, {{customer.first_name}}. Have a nice day!\n\n{{agent.name}}",
     _SHARED, None),
    ("Ticket reference", "ticket-ref",
     "Your ticket number is #{{ticket.number}}. Reply to this message to add anything, and it"
     " goes straight to the person working on it.", _SHARED, None),
    ("Ask for full name or account ID", "account",
     "Sure, may I have your full name or account ID please?", _SHARED, None),
    ("Ask for order details", "order-details",
     "Thanks, {{customer.first_name}}. May I have your username, email address and order ID"
     " please?", _SHARED, None),
    ("Verify identity", "verify",
     "To keep your account safe, please confirm three of these: zip code, phone number, PIN,"
     " username, email address, or the order ID of a previous purchase.", _SHARED, None),
    ("Refund policy", "refund-policy",
     "Hi {{customer.first_name}}, here's how returns work for members: gold members get"
     " unlimited returns; silver members can return within 6 months of purchase, bronze members"
     " within 90 days and guests within 30 days. A receipt or the original packaging helps"
     " too.\n\n{{agent.name}}", _SHARED, None),
    ("Refund options", "refund-options",
     "We can refund you as a gift card, as credit on your account, by paper check, or straight"
     " to the credit card on file. Which would you prefer?", _SHARED, None),
    ("Return label", "return-label",
     "Since you'll print out a shipping label for the return, I need your full address: street,"
     " city, state and zip code. You can send it back by mail, in store, or at a drop off"
     " center.", _SHARED, None),
    ("Password reset", "password-reset",
     "I can't see your current password, but I can generate a new one for you. To do that I need"
     " your PIN number or the answer to your security question.", _SHARED, None),
    ("Recover username", "username",
     "Your username is the first letter of your first name, then your last name, then a 1 (for"
     " example, John Smith → jsmith1). Let me confirm yours.", _SHARED, None),
    ("Two-factor reset", "2fa-reset",
     "To reset two-factor authentication I'll send a special code to the email address on your"
     " account, plus a link about security best practices.", _SHARED, None),
    ("Shipping status", "shipping-status",
     "Could you tell me what the tracking page shows for your order: Order Received, In"
     " Transit, Out for Delivery or Delivered?", _SHARED, None),
    ("Package marked delivered", "missing-package",
     "Sometimes a package is marked as delivered but still takes a couple of days to arrive. If"
     " it hasn't shown up in a week, I'll ship you a new one.", _SHARED, None),
    ("Overnight shipping", "overnight",
     "I can upgrade your order to overnight shipping if it hasn't shipped yet. Gold members have"
     " the fee waived; otherwise it's $20 on the card on your account.", _SHARED, None),
    ("Promo code expiry", "promo-expiry",
     "All promo codes expire after 7 days without fail.", _SHARED, None),
    ("Price changes", "price-change",
     "I'm sorry about that, {{customer.first_name}}. Our pricing algorithms will often"
     " dynamically change the price of an item, which is outside my control.", _SHARED, None),
    ("Clear cookies", "cookies",
     "Could you try clearing out your cookies? Open your browser's settings and select 'More"
     " Details', then clear the site data and search again.", _SHARED, None),
    ("Slow site", "slow-site",
     "Could you close the other tabs in your browser, and any other programs running? Many"
     " programs in the background can cause a slowdown. I'll also let our website team know.",
     _SHARED, None),
    ("Card rejected", "card-rejected",
     "Please try entering your card details again, and check the expiration date. Logging out"
     " and back in often helps too. If it still fails, I can place the order for you.",
     _SHARED, None),
    ("Scam email", "scam-email",
     "That email didn't come from us: if you check the sender, it isn't from our official"
     " marketing team. You have nothing to worry about and there are no extra charges.",
     _SHARED, None),
    ("Escalated to manager", "manager",
     "I've let my manager know about this, {{customer.first_name}}; they will give you a call."
     " Sorry I couldn't do more myself!", _SHARED, None),
    ("Refund in progress", "refund-status",
     "Your refund is in progress and will reach your original payment method in less than a"
     " week. Ticket #{{ticket.number}} stays open until it does.", _GROUP, BILLING_AND_ORDERS),
    ("Subscription price", "subscription",
     "The standard premium subscription is $99 a year. I can take payment now with the card on"
     " your account.", _GROUP, BILLING_AND_ORDERS),
    ("Subscription extension", "extension",
     "Gold members can always get an extension, and silver members if they're only a day late."
     " Let me check your account.", _GROUP, BILLING_AND_ORDERS),
    ("Repair estimate", "repair-estimate",
     "Hi {{customer.first_name}}, we've looked at your device: the estimate is in your ticket"
     " #{{ticket.number}}. Reply OK and we'll go ahead; we never go over the estimate without"
     " calling you first.\n\n{{agent.name}}, Repairs Desk", _GROUP, REPAIRS_DESK),
    ("Ready for pick-up", "repair-ready",
     "Good news, {{customer.first_name}}: your device is repaired and tested. Pick it up at the"
     " Repairs Desk any day 10:00-18:00; bring your ticket number #{{ticket.number}}.",
     _GROUP, REPAIRS_DESK),
    ("Waiting for parts", "repair-parts",
     "The part for your repair is on order from our supplier. We'll call you as soon as it"
     " arrives, usually within 3 working days.", _GROUP, REPAIRS_DESK),
    ("Deposit receipt", "deposit",
     "Thanks for leaving your device with us. This confirms your deposit; the balance is due at"
     " pick-up. Your ticket number is #{{ticket.number}}.", _GROUP, REPAIRS_DESK),
    ("Ada: follow up tomorrow", "ada-tomorrow",
     "Thanks, {{customer.first_name}}. I'm checking with the team and will get back to you"
     " tomorrow morning (UK time).\n\nAda", _PERSONAL, None),
    ("Ada: call back", "ada-call",
     "I tried to call you just now. When's a good time to reach you? — Ada", _PERSONAL, None),
    ("Ada: sign-off", "ada-bye",
     "Have a great day, {{customer.first_name}}!\n\nAda Lovelace\nCustomer Care & Billing",
     _PERSONAL, None),
)  # fmt: skip
