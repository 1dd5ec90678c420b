"""What can go wrong that the agent can understand and act on: the `KnownError` family.

The desk shows a `KnownError` in plain words (``str(exc)`` is written for the agent) and
carries on.  Anything else raised by the engine is a bug, and goes to the crash dialog with
its traceback in the log.  (Environment problems — disk full, database locked, no network —
are recognised by the crash dialog's own rules.)
"""

from __future__ import annotations

import json


class KnownError(Exception):
    """A problem the agent can act on; its text says what happened, in plain words."""


class SignedOut(KnownError):
    """The server refused the session (expired, revoked, disabled, unknown)."""


class RequestFailed(KnownError):
    """A fetch or search the server answered with an error."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code


class NotConnected(KnownError, ConnectionError):
    """Something that needs the server was asked for while offline."""


class NotOnThisWorkstation(KnownError, LookupError):
    """The ticket (or refused change) is not, or no longer, in this workstation's copy."""


def not_on_this_workstation(ticket_id: str) -> NotOnThisWorkstation:
    return NotOnThisWorkstation(
        f"this ticket ({ticket_id}) is no longer on this workstation: it was reassigned or "
        "merged, or you may no longer see it"
    )


class InvalidChange(KnownError, ValueError):
    """A change the server would refuse as invalid: never queued."""


class CannotResend(KnownError):
    """A refused change of a kind that cannot simply be sent again (copy its text instead)."""


class NotASwitchboardServer(KnownError):
    """The address answered, but not as a Switchboard server does."""


class Incompatible(Exception):
    """The server speaks no protocol version this workstation does."""


def error_text(body: bytes) -> str:
    """The server's reason for refusing an upgrade request, from its JSON body."""
    try:
        data = json.loads(body or b"{}")
        return str(data.get("message") or data.get("code") or "session refused")
    except ValueError:
        return "session refused"
