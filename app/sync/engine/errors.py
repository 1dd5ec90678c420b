"""What can end a connection or a request, as the engine's callers and its parts see it."""

from __future__ import annotations

import json


class SignedOut(Exception):
    """The server refused the session (expired, revoked, disabled, unknown)."""


class RequestFailed(Exception):
    """A fetch or search the server answered with an error."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code


class Incompatible(Exception):
    """The server speaks no protocol version this workstation does."""


def error_text(body: bytes) -> str:
    """The server's reason for refusing an upgrade request, from its JSON body."""
    try:
        data = json.loads(body or b"{}")
        return str(data.get("message") or data.get("code") or "session refused")
    except ValueError:
        return "session refused"
