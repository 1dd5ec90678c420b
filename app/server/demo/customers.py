"""The demo's customers: organizations, people, their contact identities and profiles.

The three ABCD sample chats' customers come first, as the dataset describes them; the rest are
drawn from the names, towns and notes of ``wording/people.toml``.
"""

from __future__ import annotations

import re
import string
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final

from app.models.enums import IdentityKind, Tier
from app.server.demo.office import DemoOffice, Profile, pick
from app.server.demo.wording import span, texts, wording

CUSTOMER_COUNT: Final = 200
ORGANIZATION_COUNT: Final = 12


@dataclass(frozen=True)
class Locale:
    """Where a customer lives: time zone, language, a fictional phone range and a town."""

    timezone: str
    language: str
    # E.164 with ``{n}`` for the number's tail; the ranges are reserved for fiction
    # (NANP 555-0100..0199, Ofcom 020 7946 0xxx, ACMA 0491 570 xxx), and valid E.164 numbers
    # as `app.phones` reads them (Ofcom's 07700 900xxx range is not a number in use).
    phone: str
    phone_tails: tuple[int, int]
    town: str
    weight: int


@dataclass(frozen=True)
class Organization:
    """A business whose staff write in; its domain gives them their email addresses."""

    name: str
    domain: str
    notes: str


_PEOPLE: Final = wording("people")
FIRST_NAMES: Final = texts(_PEOPLE["first_names"])
LAST_NAMES: Final = texts(_PEOPLE["last_names"])
STREETS: Final = texts(_PEOPLE["streets"])
_PUBLIC_MAIL_DOMAINS: Final = texts(_PEOPLE["public_mail_domains"])
_LOCALES: Final = tuple(
    Locale(
        timezone=str(locale["timezone"]),
        language=str(locale["language"]),
        phone=str(locale["phone"]),
        phone_tails=span(locale["phone_tails"]),
        town=str(locale["town"]),
        weight=int(locale["weight"]),
    )
    for locale in _PEOPLE["locale"]
)
_ORGANIZATIONS: Final = tuple(
    Organization(str(org["name"]), str(org["domain"]), str(org["notes"]))
    for org in _PEOPLE["organization"]
)
_TIER_WEIGHTS: Final = tuple((Tier(tier), int(w)) for tier, w in _PEOPLE["tier_weights"].items())
# ABCD's member levels, as agents speak of them; tiers are the store's own names for them.
_MEMBER_LEVELS: Final[Mapping[Tier, tuple[str, ...]]] = {
    Tier(tier): texts(levels) for tier, levels in _PEOPLE["member_levels"].items()
}
_TIER_NOTES: Final[Mapping[Tier, tuple[str, ...]]] = {
    Tier(tier): texts(notes) for tier, notes in _PEOPLE["tier_notes"].items()
}
_GENERAL_NOTES: Final = texts(_PEOPLE["general_notes"])
_LANGUAGE_NOTES: Final[Mapping[str, str]] = {
    language: str(note) for language, note in _PEOPLE["language_notes"].items()
}


def local_phone(e164: str) -> str:
    """``+14155550123`` as a North American reads it, ``(415) 555-0123``; others unchanged."""
    if e164.startswith("+1") and len(e164) == 12:
        return f"({e164[2:5]}) {e164[5:8]}-{e164[8:]}"
    return e164


# A sample chat's customer: name, and the ABCD username, member level and address if known.
_Person = tuple[str, str | None, str | None, str | None]


def add_customers(office: DemoOffice) -> None:
    """The organizations, then every customer with their identities and profile."""
    rng = office.rng
    org_ids = []
    for org in _ORGANIZATIONS[:ORGANIZATION_COUNT]:
        org_ids.append((office.new_id(), org.domain))
        office.organizations.append(
            {
                "id": org_ids[-1][0],
                "name": org.name,
                "domain": org.domain,
                "notes": org.notes,
                "updated_at": office.days_ago(30, 400),
            }
        )

    # The sample chats' customers come first, as ABCD describes them; the rest are drawn.
    people: list[_Person] = []
    for chat in office.corpus.chats:
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
        name = f"{rng.choice(FIRST_NAMES)} {rng.choice(LAST_NAMES)}"
        if name not in names:
            names.add(name)
            people.append((name, None, None, None))

    taken: set[tuple[str, str]] = set()
    for person in people:
        _add_customer(office, person, org_ids, taken)
    _share_phones(office, taken)


# A number answered by more than one customer: the phone desk asks which of them is calling.
SWITCHBOARD_RANGE: Final = ("+1212555{n:04d}", 100, 199)


def _share_phones(office: DemoOffice, taken: set[tuple[str, str]]) -> None:
    """A family's landline (two customers of one last name: the second gets the first's
    number too) and an office's switchboard (two colleagues of one organization get a new
    number both).  Chosen without the random stream, so the tickets drawn after stay the same.
    """
    phones: dict[str, str] = {}
    count: dict[str, int] = {}
    for identity in office.identities:
        count[identity["customer_id"]] = count.get(identity["customer_id"], 0) + 1
        if identity["kind"] == IdentityKind.PHONE.value:
            phones.setdefault(identity["customer_id"], identity["value"])

    def room() -> list[dict[str, Any]]:
        return [c for c in office.customers if count.get(c["id"], 0) < 3]

    def share(customer_id: str, number: str) -> None:
        count[customer_id] = count.get(customer_id, 0) + 1
        office.identities.append(
            {
                "id": office.new_id(),
                "customer_id": customer_id,
                "kind": IdentityKind.PHONE.value,
                "value": number,
            }
        )

    by_last: dict[str, dict[str, Any]] = {}
    for customer in room():
        last = customer["name"].split(" ", 1)[-1]
        first = by_last.get(last)
        if first is not None and first["id"] in phones:
            share(customer["id"], phones[first["id"]])
            break
        by_last.setdefault(last, customer)

    by_org: dict[str, dict[str, Any]] = {}
    pattern, low, high = SWITCHBOARD_RANGE
    free = (
        pattern.format(n=n)
        for n in range(low, high + 1)
        if (IdentityKind.PHONE.value, pattern.format(n=n)) not in taken
    )
    for customer in room():
        org = customer["organization_id"]
        if org is None:
            continue
        colleague = by_org.get(org)
        if colleague is not None:
            number = next(free)
            taken.add((IdentityKind.PHONE.value, number))
            share(colleague["id"], number)
            share(customer["id"], number)
            break
        by_org[org] = customer


def _claim(
    taken: set[tuple[str, str]],
    kind: IdentityKind,
    make: Callable[[], str],
    preferred: str | None = None,
) -> str:
    """A value for a new identity of ``kind`` that no customer holds yet: ``preferred``
    if it is free, else the first free one ``make`` comes up with."""
    value = preferred
    while value is None or (kind.value, value) in taken:
        value = make()
    taken.add((kind.value, value))
    return value


def _add_customer(
    office: DemoOffice,
    person: _Person,
    org_ids: Sequence[tuple[str, str]],
    taken: set[tuple[str, str]],
) -> None:
    rng = office.rng
    name, abcd_username, abcd_level, abcd_address = person
    first, last = name.split(" ", 1)
    letters = re.sub(r"[^a-z]", "", last.lower())
    if abcd_level is not None:
        level = abcd_level
        tier = {"gold": Tier.GOLD, "silver": Tier.SILVER}.get(level, Tier.STANDARD)
    else:
        tier = pick(rng, _TIER_WEIGHTS)
        level = rng.choice(_MEMBER_LEVELS[tier])
    locale = pick(rng, [(locale, locale.weight) for locale in _LOCALES])
    org = rng.choice(org_ids) if rng.random() < 0.3 else None

    # ABCD's usernames: first initial, last name, three digits ("cminh730").
    username = abcd_username or f"{first[0].lower()}{letters}{rng.randint(100, 999)}"
    # The sample chats' customers keep their ABCD address, moved to a reserved domain.
    if abcd_username:
        domain = "example.com"
    elif org:
        domain = org[1]
    else:
        domain = rng.choice(_PUBLIC_MAIL_DOMAINS)
    email = _claim(
        taken,
        IdentityKind.EMAIL,
        lambda: f"{first.lower()}.{letters}{rng.randint(1, 99)}@{domain}",
        preferred=f"{username}@{domain}",
    )
    identities = [(IdentityKind.EMAIL, email)]
    # The sample chats' customers give a phone number in their chats, so they always have one.
    phone = None
    if abcd_username or abcd_level or rng.random() < 0.85:
        low, high = locale.phone_tails
        phone = _claim(
            taken, IdentityKind.PHONE, lambda: locale.phone.format(n=rng.randint(low, high))
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
            handle = _claim(
                taken,
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
                (kind, _claim(taken, kind, lambda: f"visitor-{rng.getrandbits(40):010x}"))
            )

    street = f"{rng.randint(100, 9999)} {rng.choice(STREETS)}"
    town = locale.town.format(zz=f"{rng.randint(1, 99):02d}", d=rng.randint(1, 9))
    notes = []
    if rng.random() < 0.3:
        notes.append(rng.choice(_TIER_NOTES[tier]))
    if rng.random() < 0.25:
        notes.append(rng.choice(_GENERAL_NOTES))
    if locale.language in _LANGUAGE_NOTES:
        notes.append(_LANGUAGE_NOTES[locale.language])

    customer_id = office.new_id()
    created_at = office.days_ago(190, 1500)
    office.customers.append(
        {
            "id": customer_id,
            "name": name,
            "organization_id": org[0] if org else None,
            "tier": tier.value,
            "language": locale.language,
            "timezone": locale.timezone,
            "notes": " ".join(notes),
            "created_at": created_at,
            "updated_at": office.days_ago(0, 180),
        }
    )
    office.identities.extend(
        {"id": office.new_id(), "customer_id": customer_id, "kind": kind.value, "value": value}
        for kind, value in identities
    )
    office.profiles.append(
        Profile(
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
