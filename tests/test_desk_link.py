"""How a phone system's ring is read before it reaches the desk: strictly (app/desk_link.py)."""

from __future__ import annotations

import pytest

from app import desk_link
from app.desk_link import BadCallEvent, IncomingCall, parse_request, parse_url


@pytest.mark.parametrize(
    ("url", "caller", "line"),
    [
        ("switchboard://call/incoming?from=%2B442079460018", "+442079460018", ""),
        (
            "switchboard://call/incoming?from=+442079460018&to=+442079460000",
            "+442079460018",
            "+442079460000",
        ),  # a "+" pasted as is is the country-code sign, not a space
        ("SWITCHBOARD://call/incoming/?from=(415)%20555-0132", "(415) 555-0132", ""),
        ("switchboard://call/incoming?from=tel:%2B44-20-7946-0018", "tel:+44-20-7946-0018", ""),
    ],
)
def test_a_call_link_is_read(url: str, caller: str, line: str) -> None:
    assert parse_url(url) == IncomingCall(caller, line)


@pytest.mark.parametrize(
    ("url", "why"),
    [
        ("https://call/incoming?from=%2B442079460018", "only switchboard://"),
        ("switchboard://call/hangup?from=1234", "unknown switchboard:// link"),
        ("switchboard://ada:pw@call/incoming?from=1234", "no user"),
        ("switchboard://call:99/incoming?from=1234", "no user, password or port"),
        ("switchboard://call/incoming?from=1234#x", "fragment"),
        ("switchboard://call/incoming?to=1234", "who is calling"),
        ("switchboard://call/incoming?from=1234&from=5678", "twice"),
        ("switchboard://call/incoming?from=1234&line=5", "unknown parameter"),
        ("switchboard://call/incoming?from=%3Cb%3E", "not a phone number"),
        ("switchboard://call/incoming?from=12", "not a phone number"),
        ("switchboard://call/incoming?from=1234&to=x", "our line"),
        ("switchboard://call/incoming?" + "from=1" * 300, "too long"),
    ],
)
def test_anything_else_is_refused_saying_why(url: str, why: str) -> None:
    with pytest.raises(BadCallEvent, match=why):
        parse_url(url)


def test_the_desk_takes_only_call_events_from_its_socket() -> None:
    assert parse_request(b'{"event": "call.incoming", "from": "+44 20 7946 0018", "to": ""}') == (
        IncomingCall("+44 20 7946 0018", "")
    )
    for bad in (
        b"\xff",
        b"[]",
        b'{"event": "desk.quit"}',
        b'{"event": "call.incoming", "from": 442079460018}',
        b'{"event": "call.incoming", "from": "+442079460018", "agent": "x"}',
        b'{"event": "call.incoming", "from": "; rm -rf ~"}',
    ):
        with pytest.raises(BadCallEvent):
            parse_request(bad)


def test_call_commands_and_links_bypass_the_desk_program() -> None:
    assert desk_link.is_call_command(["call", "incoming", "--from", "1234"])
    assert desk_link.is_call_command(["switchboard://call/incoming?from=1234"])
    assert desk_link.is_call_command(["https://example.com"])  # refused there, in words
    assert not desk_link.is_call_command(["demo", "--headless"])
    assert not desk_link.is_call_command([])
