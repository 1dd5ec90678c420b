"""Phone numbers are stored in E.164 whatever way they were typed or handed over."""

from __future__ import annotations

import pytest

from app.phones import BadPhoneNumber, display, to_e164, try_e164


@pytest.mark.parametrize(
    ("typed", "region", "e164"),
    [
        ("020 7946 0018", "GB", "+442079460018"),
        ("0044 20 7946 0018", "GB", "+442079460018"),
        ("tel:+442079460018", "US", "+442079460018"),
        ("tel:+442079460018;ext=12", "US", "+442079460018"),
        ("(415) 555-0132", "US", "+14155550132"),
        ("+1 415 555 0132", "GB", "+14155550132"),
    ],
)
def test_numbers_typed_any_way_become_e164(typed: str, region: str, e164: str) -> None:
    assert to_e164(typed, region) == e164


@pytest.mark.parametrize(
    ("typed", "says"),
    [("123", "wrong number of digits"), ("call me", "no digits"), ("+999 1234", "country code")],
)
def test_what_cannot_be_a_number_is_refused_in_plain_words(typed: str, says: str) -> None:
    with pytest.raises(BadPhoneNumber, match=says):
        to_e164(typed, "GB")
    assert try_e164(typed, "GB") is None


def test_numbers_are_shown_nationally_at_home_and_internationally_abroad() -> None:
    assert display("+442079460018", "GB") == "020 7946 0018"
    assert display("+442079460018", "US") == "+44 20 7946 0018"
