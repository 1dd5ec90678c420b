"""The activity trail: events the server writes into a ticket's thread.

Each change of a ticket's status, priority, assignee, group or tags, and each merge and
split, becomes one ``event`` message in the ticket's thread, written in the same
transaction as the change, through the one write path.  Its body is a small JSON document
(never shown raw: the desk words it, `app.ui.conversation.trail`)::

    {"type": "changed", "field": "priority", "from": "normal", "to": "urgent"}
    {"type": "changed", "field": "assignee", "from": null, "to": "a-ada",
     "to_name": "Ada Lovelace"}
    {"type": "tags", "added": ["refund"], "removed": []}
    {"type": "merged_into", "ticket_id": "...", "number": 12}
    {"type": "merged_from", "ticket_id": "...", "number": 7, "messages": 3}
    {"type": "split_into", "ticket_id": "...", "number": 13, "messages": 2}
    {"type": "split_from", "ticket_id": "...", "number": 7, "messages": 2}

Who made the change is the message's author: the agent (``author_type`` agent), or, for the
server's own writers, ``author_type`` system with ``"by"`` naming the writer
(``"command_line"``, ``"system"``, ``"channel:email"``).  When is its ``created_at``.

An event is not a change of the ticket on its own: it rides on the version bump of the change
it records, so it never makes an agent's reply stale beyond that change.
"""

from __future__ import annotations

import json
import uuid
from typing import Any

from sqlalchemy import select

from app.domain.mutation import ActorKind, StoreTx
from app.models.enums import AuthorType, MessageKind
from app.models.tables import T_AGENTS, T_GROUPS, T_MESSAGES

Row = dict[str, Any]

# The ticket fields the trail records, under the name the event uses.
TRAILED_FIELDS = {
    "status": "status",
    "priority": "priority",
    "assignee_id": "assignee",
    "group_id": "group",
}
EVENT_VERSION = 1
EVENT_NAMESPACE = uuid.UUID("5f0e7c2a-9d4b-4e61-8a3f-2b7c1d9e4a60")


def event_body(kind: str, by: str | None = None, **fields: Any) -> str:
    """The JSON body of an event of type ``kind``."""
    doc: Row = {"v": EVENT_VERSION, "type": kind, **fields}
    if by is not None:
        doc["by"] = by
    return json.dumps(doc, sort_keys=True, separators=(",", ":"))


def parse_event(body: str) -> Row | None:
    """An event body as a dict, or None when it is not one of ours (older free text)."""
    if not body.startswith("{"):
        return None
    try:
        doc = json.loads(body)
    except ValueError:
        return None
    return doc if isinstance(doc, dict) and isinstance(doc.get("type"), str) else None


def event_id(ticket_id: str, version: int, kind: str, field: str = "") -> str:
    """An event's id: derived from the ticket version it records (each version is made
    once), so the same change gives the same event on every store and every write path."""
    return str(uuid.uuid5(EVENT_NAMESPACE, f"{ticket_id}:{version}:{kind}:{field}"))


def event_row(tx: StoreTx, on: str, version: int, kind: str, /, **fields: Any) -> Row:
    """The messages row of one event on the ticket ``on`` at its ``version``, authored by
    the transaction's actor (``fields`` may name another ticket: the one merged or split)."""
    actor = tx.actor
    by_agent = actor.kind == ActorKind.WORKSTATION
    eid = event_id(on, version, kind, str(fields.get("field", "")))
    if tx.conn.execute(select(T_MESSAGES.c.id).where(T_MESSAGES.c.id == eid)).first():
        eid = str(uuid.uuid4())  # a client chose this id for a message: never fail the change
    return {
        "id": eid,
        "ticket_id": on,
        "kind": MessageKind.EVENT.value,
        "author_type": (AuthorType.AGENT if by_agent else AuthorType.SYSTEM).value,
        "author_agent_id": actor.viewer.id if by_agent else None,
        "author_customer_id": None,
        "body": event_body(kind, None if by_agent else actor.origin, **fields),
        "created_at": tx.now,
        "delivery_state": "sent",
    }


def _name(tx: StoreTx, field: str, value: str | None) -> str | None:
    if value is None:
        return None
    table = T_AGENTS if field == "assignee" else T_GROUPS
    found = tx.conn.execute(select(table.c.name).where(table.c.id == value)).scalar()
    return None if found is None else str(found)


def change_events(tx: StoreTx, before: Row, values: Row) -> list[Row]:
    """The events of a ticket change: one per trailed field whose value changed."""
    events: list[Row] = []
    for column, field in TRAILED_FIELDS.items():
        if column not in values or values[column] == before.get(column):
            continue
        old, new = before.get(column), values[column]
        fields: Row = {"field": field, "from": old, "to": new}
        if field in ("assignee", "group"):
            fields["from_name"] = _name(tx, field, old)
            fields["to_name"] = _name(tx, field, new)
        events.append(event_row(tx, before["id"], values["version"], "changed", **fields))
    if "tags" in values:
        old_tags = list(before.get("tags") or [])
        new_tags = list(values["tags"] or [])
        added = [t for t in new_tags if t not in old_tags]
        removed = [t for t in old_tags if t not in new_tags]
        if added or removed:
            events.append(
                event_row(tx, before["id"], values["version"], "tags", added=added, removed=removed)
            )
    return events
