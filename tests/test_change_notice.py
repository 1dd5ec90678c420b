"""Change notices name the tickets a cache change touched, by kind (app/sync/notice.py).

The cache writes each server change knowing its row; a deleted message or a row a bootstrap
drops is looked up while it is still there.  The bridge merges a loop turn's notices into one.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from app.sync import cache
from app.sync.notice import ChangeNotice, Touched

NOW = "2026-11-23T09:23:42.792606+00:00"


def _ticket(ticket_id: str, version: int = 1) -> dict[str, Any]:
    return {
        "id": ticket_id,
        "number": int(ticket_id.removeprefix("t-")),
        "subject": f"Ticket {ticket_id}",
        "status": "open",
        "priority": "normal",
        "channel": "email",
        "customer_id": "c-1",
        "assignee_id": None,
        "group_id": None,
        "tags": [],
        "created_at": NOW,
        "updated_at": NOW,
        "first_response_at": None,
        "solved_at": None,
        "version": version,
    }


def _message(message_id: str, ticket_id: str) -> dict[str, Any]:
    return {
        "id": message_id,
        "ticket_id": ticket_id,
        "kind": "reply",
        "author_type": "customer",
        "author_agent_id": None,
        "author_customer_id": "c-1",
        "body": f"Message {message_id}",
        "created_at": NOW,
        "delivery_state": "sent",
    }


def _upsert(entity: str, data: dict[str, Any]) -> dict[str, Any]:
    return {"seq": 0, "entity": entity, "op": "upsert", "id": data["id"], "data": data}


def _delete(entity: str, entity_id: str) -> dict[str, Any]:
    return {"seq": 0, "entity": entity, "op": "delete", "id": entity_id}


def test_a_page_names_the_tickets_of_its_rows_by_kind(tmp_path: Path) -> None:
    engine = cache.open_cache(tmp_path / "cache.db")
    with engine.begin() as conn:
        first = cache.apply_changes(
            conn,
            [
                _upsert("ticket", _ticket("t-1")),
                _upsert("ticket", _ticket("t-2")),
                _upsert("message", _message("m-1", "t-1")),
                _upsert("message", _message("m-2", "t-2")),
            ],
            1,
        )
    assert first.tickets == {"t-1", "t-2"}
    assert first.messages_of("t-1") == {"m-1"}

    draft = {
        "id": "d-1",
        "agent_id": "a-ada",
        "ticket_id": "t-3",
        "kind": "reply",
        "body": "typed elsewhere",
        "updated_at": NOW,
    }
    with engine.begin() as conn:
        notice = cache.apply_changes(
            conn,
            [
                _upsert("message", _message("m-3", "t-1")),
                _upsert("ticket", _ticket("t-1", version=2)),
                _delete("message", "m-2"),  # a delete carries no row: its ticket is looked up
                _upsert("draft", draft),
                _delete("message", "m-unknown"),  # never cached: on no ticket
            ],
            2,
        )
    assert notice.ids("message") == {"m-3", "m-2", "m-unknown"}
    assert notice.tickets == {"t-1", "t-2", "t-3"}
    assert notice.kinds_of("t-1") == {"ticket", "message"}
    assert notice.kinds_of("t-2") == {"message"}
    assert notice.kinds_of("t-3") == {"draft"}
    assert notice.kinds_of("t-4") == frozenset()
    assert notice.messages_of("t-1") == {"m-3"}
    assert notice.messages_of("t-2") == {"m-2"}
    assert notice.tickets_of("draft") == {"t-3"}

    # A bootstrap that no longer mentions t-2 (access lost) drops it and names it.
    seen = {"ticket": {"t-1"}, "message": {"m-1", "m-3"}, "draft": {"d-1"}}
    with engine.begin() as conn:
        dropped = cache.finish_bootstrap(conn, seen, 3, 1)
    assert dropped.ids("ticket") == {"t-2"}
    assert dropped.tickets == {"t-2"}
    engine.dispose()


def test_notices_merge_as_one_loop_turn_of_changes() -> None:
    one = Touched.of(("message", "m-1", "t-1"), ("ticket", "t-1", "t-1")).notice()
    two = Touched.of(("message", ["m-2", "m-3"], "t-2"), ("customer", "c-1", None)).notice()
    merged = Touched()
    for notice in (one, two):
        merged.merge(notice)
    both = merged.notice()
    assert both.entities == {
        "message": {"m-1", "m-2", "m-3"},
        "ticket": {"t-1"},
        "customer": {"c-1"},
    }
    assert both.tickets == {"t-1", "t-2"}
    assert both.messages_of("t-2") == {"m-2", "m-3"}
    assert not ChangeNotice()
    assert both
