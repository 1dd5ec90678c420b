"""The activity trail's wording: one plain sentence per event in a ticket's thread.

The server writes an event as a small JSON document (`app.domain.trail`); this module turns
it into what an agent reads ("Ada Lovelace changed priority from Normal to Urgent"), so the
wording lives in one place and can be translated.  A body that is not such a document (the
demo's free-text events, or a type a newer server writes) is shown as its text.
"""

from __future__ import annotations

import json
from typing import Any

from app.ui.labels import PRIORITY_LABELS, STATUS_LABELS

# Who made a change when it was not an agent: the server's own writers.
_WRITERS = {
    "system": "Switchboard",
    "command_line": "An administrator (server command line)",
    "unknown": "Switchboard",
}


def _doc(body: str) -> dict[str, Any] | None:
    if not body.startswith("{"):
        return None
    try:
        doc = json.loads(body)
    except ValueError:
        return None
    return doc if isinstance(doc, dict) and isinstance(doc.get("type"), str) else None


def who(doc: dict[str, Any], author_name: str) -> str:
    """The agent who made the change, or the writer that did."""
    by = doc.get("by")
    if not isinstance(by, str) or not by:
        return author_name or "Someone"
    if by.startswith("channel:"):
        return f"The {by.removeprefix('channel:')} channel"
    return _WRITERS.get(by, "Switchboard")


def _value(field: str, value: Any, name: Any) -> str:
    if field == "status":
        return STATUS_LABELS.get(str(value), str(value))
    if field == "priority":
        return PRIORITY_LABELS.get(str(value), str(value))
    if value is None:
        return "nobody" if field == "assignee" else "no group"
    return str(name) if name else "someone no longer listed"


def _ticket(doc: dict[str, Any]) -> str:
    number = doc.get("number")
    return f"#{number}" if number is not None else "a new ticket"


def _messages(doc: dict[str, Any]) -> str:
    count = doc.get("messages")
    if not isinstance(count, int):
        return "messages"
    return "1 message" if count == 1 else f"{count} messages"


def _changed(doc: dict[str, Any]) -> str:
    field = str(doc.get("field", ""))
    old = _value(field, doc.get("from"), doc.get("from_name"))
    new = _value(field, doc.get("to"), doc.get("to_name"))
    if field == "assignee" and doc.get("from") is None:
        return f"assigned the ticket to {new}"
    if field == "assignee" and doc.get("to") is None:
        return f"unassigned the ticket from {old}"
    return f"changed {field} from {old} to {new}"


def _tags(doc: dict[str, Any]) -> str:
    added = [str(t) for t in doc.get("added") or []]
    removed = [str(t) for t in doc.get("removed") or []]
    parts = []
    if added:
        parts.append(f"added tag{'s' if len(added) > 1 else ''} {', '.join(added)}")
    if removed:
        parts.append(f"removed tag{'s' if len(removed) > 1 else ''} {', '.join(removed)}")
    return " and ".join(parts) or "changed the tags"


def _what(doc: dict[str, Any]) -> str | None:
    kind = doc["type"]
    if kind == "changed":
        return _changed(doc)
    if kind == "tags":
        return _tags(doc)
    if kind == "merged_into":
        return f"merged this ticket into {_ticket(doc)}"
    if kind == "merged_from":
        return f"merged {_ticket(doc)} into this ticket ({_messages(doc)})"
    if kind == "split_into":
        return f"split {_messages(doc)} off into {_ticket(doc)}"
    if kind == "split_from":
        return f"split {_messages(doc)} off {_ticket(doc)} into this ticket"
    return None


def sentence(body: str, author_name: str) -> str:
    """What an event says, as one sentence (no time: the thread adds it)."""
    doc = _doc(body)
    what = None if doc is None else _what(doc)
    if doc is None or what is None:
        text = " ".join(body.split())
        return f"{text} · {author_name}" if author_name and author_name != "System" else text
    return f"{who(doc, author_name)} {what}"
