"""Email addresses, one way everywhere: stored trimmed and in lower case, checked for shape.

Both programs use this module (the server normalises what it stores; the desk checks what the
agent types and looks addresses up), so it imports nothing of either.
"""

from __future__ import annotations

import re

# A pragmatic shape, as support desks check it: something, one "@", a domain with a dot and
# no spaces.  Whether the mailbox exists only a delivery can tell.
_SHAPE = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s.]{2,}$")


class BadEmail(ValueError):
    """Text that cannot be an email address; the message says why, in plain words."""


def normal_email(raw: str) -> str:
    """``raw`` as the store keeps it ("Ada@Example.COM " -> "ada@example.com")."""
    text = raw.strip()
    if text.lower().startswith("mailto:"):
        text = text[7:]
    text = text.lower()
    if not text:
        raise BadEmail("An email address cannot be empty")
    if "@" not in text:
        raise BadEmail(f"“{raw.strip()}” has no @: it is not an email address")
    if not _SHAPE.match(text):
        raise BadEmail(f"“{raw.strip()}” is not an email address (like name@example.com)")
    return text


def looks_like_email(text: str) -> bool:
    return "@" in text
