"""Phone numbers, one way everywhere: stored in E.164, read the way people type them.

Agents type numbers as the caller says them ("020 7946 0018", "(415) 555-0132",
"+44 20 7946 0018"); phone systems hand them over as "tel:+442079460018", "0044..." or with
a leading "00".  `to_e164` turns any of these into the one form the store keeps and the
screen-pop looks up ("+442079460018"), using the workspace's default region for numbers
written without a country code.  `phonenumbers` (Google's libphonenumber) does the parsing:
its metadata knows every country's trunk prefixes and lengths, which no regex here would.

Both programs use this module (the server normalises what it stores; the desk normalises
what it looks up and shows), so it imports nothing of either.
"""

from __future__ import annotations

from functools import lru_cache

import phonenumbers

# Where the admin has not chosen one: numbers without a country code are read as US numbers.
DEFAULT_REGION = "US"


class BadPhoneNumber(ValueError):
    """A phone number that cannot be a real one; the message says why, in plain words."""


def regions() -> list[str]:
    """The region codes an admin may choose as the default ("GB", "US", ...), sorted."""
    return sorted(phonenumbers.SUPPORTED_REGIONS)


def valid_region(region: str) -> bool:
    return region.upper() in phonenumbers.SUPPORTED_REGIONS


@lru_cache(maxsize=4096)
def to_e164(raw: str, region: str = DEFAULT_REGION) -> str:
    """``raw`` in E.164 ("+442079460018"); raises `BadPhoneNumber` saying what is wrong.

    Cached: a screen-pop normalises the same few numbers again and again, and parsing
    with full metadata costs tens of microseconds each time.
    """
    text = raw.strip()
    if text.lower().startswith("tel:"):
        text = text[4:]
    text = text.split(";", 1)[0]  # tel: URIs may carry parameters (";ext=12", ";phone-context=")
    if not any(ch.isdigit() for ch in text):
        raise BadPhoneNumber(f"“{raw.strip()}” has no digits")
    try:
        number = phonenumbers.parse(text, region.upper() or DEFAULT_REGION)
    except phonenumbers.NumberParseException as exc:
        raise BadPhoneNumber(_parse_problem(raw.strip(), exc)) from None
    if not phonenumbers.is_possible_number(number):
        raise BadPhoneNumber(f"“{raw.strip()}” has the wrong number of digits for a phone number")
    if not phonenumbers.is_valid_number(number):
        raise BadPhoneNumber(f"“{raw.strip()}” is not a phone number in use")
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


def try_e164(raw: str, region: str = DEFAULT_REGION) -> str | None:
    """``raw`` in E.164, or None where it cannot be a phone number (a search box's query)."""
    try:
        return to_e164(raw, region)
    except BadPhoneNumber:
        return None


def display(e164: str, region: str = DEFAULT_REGION) -> str:
    """How the desk shows a stored number: national form at home, international abroad."""
    try:
        number = phonenumbers.parse(e164, None)
    except phonenumbers.NumberParseException:
        return e164  # stored before normalisation: show it as it was written
    home = phonenumbers.region_code_for_number(number) == region.upper()
    style = (
        phonenumbers.PhoneNumberFormat.NATIONAL
        if home
        else phonenumbers.PhoneNumberFormat.INTERNATIONAL
    )
    return phonenumbers.format_number(number, style)


def _parse_problem(raw: str, exc: phonenumbers.NumberParseException) -> str:
    kind = exc.error_type
    if kind == phonenumbers.NumberParseException.INVALID_COUNTRY_CODE:
        return f"“{raw}” starts with a country code that does not exist"
    if kind == phonenumbers.NumberParseException.TOO_SHORT_NSN:
        return f"“{raw}” is too short to be a phone number"
    if kind == phonenumbers.NumberParseException.TOO_LONG:
        return f"“{raw}” is too long to be a phone number"
    return f"“{raw}” is not a phone number"
