"""The demo seed: a realistic, reproducible store the server can serve straight away."""

from __future__ import annotations

import itertools
import re
import time
import zoneinfo
from collections import Counter as Tally
from collections import defaultdict
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, create_engine, event, select

import app.models.server_tables  # noqa: F401  (registers the server-only tables)
from app.models import (
    Agent,
    Base,
    CannedResponse,
    Customer,
    CustomerIdentity,
    Group,
    GroupMembership,
    Message,
    Organization,
    Ticket,
)
from app.models.server_tables import AgentCredential, ChangeLogEntry, Counter
from app.phones import to_e164
from app.server.demo import DEMO_AGENTS, DEMO_PASSWORD, DemoSummary, seed_demo

NOW = datetime(2025, 6, 1, 12, 0, tzinfo=UTC)
E164 = re.compile(r"^\+[1-9]\d{7,14}$")


def fake_hash(password: str) -> str:
    return "hash:" + password


def _enforce_foreign_keys(dbapi_conn: Any, _record: Any) -> None:
    # SQLite ignores foreign keys unless asked; the demo must insert parents before children.
    dbapi_conn.execute("PRAGMA foreign_keys=ON")


def make_store(path: Path) -> Engine:
    engine = create_engine(f"sqlite:///{path}")
    event.listen(engine, "connect", _enforce_foreign_keys)
    Base.metadata.create_all(engine)
    return engine


def seed(path: Path, *, seed: int = 7) -> tuple[Engine, DemoSummary, float]:
    engine = make_store(path)
    started = time.perf_counter()
    with engine.begin() as conn:
        summary = seed_demo(conn, password_hash=fake_hash, now=NOW, seed=seed)
    return engine, summary, time.perf_counter() - started


def read(engine: Engine, model: type[Base]) -> list[dict[str, Any]]:
    with engine.connect() as conn:
        return [dict(row._mapping) for row in conn.execute(select(model.__table__))]


@dataclass(frozen=True)
class SeededStore:
    """A store after one ``seed_demo``, with every table read back."""

    engine: Engine
    summary: DemoSummary
    seconds: float
    rows: dict[type[Base], list[dict[str, Any]]]

    def __getitem__(self, model: type[Base]) -> list[dict[str, Any]]:
        return self.rows[model]

    def messages_by_ticket(self) -> dict[str, list[dict[str, Any]]]:
        threads: dict[str, list[dict[str, Any]]] = defaultdict(list)
        for message in self[Message]:
            threads[message["ticket_id"]].append(message)
        for thread in threads.values():
            thread.sort(key=lambda message: message["created_at"])
        return threads


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SeededStore]:
    engine, summary, seconds = seed(tmp_path_factory.mktemp("demo") / "store.db")
    models: list[type[Base]] = [
        Agent,
        AgentCredential,
        CannedResponse,
        ChangeLogEntry,
        Counter,
        Customer,
        CustomerIdentity,
        Group,
        GroupMembership,
        Message,
        Organization,
        Ticket,
    ]
    yield SeededStore(engine, summary, seconds, {model: read(engine, model) for model in models})
    engine.dispose()


def test_summary_counts_the_rows_inserted(store: SeededStore) -> None:
    assert store.summary == DemoSummary(
        agents=len(store[Agent]),
        groups=len(store[Group]),
        organizations=len(store[Organization]),
        customers=len(store[Customer]),
        customer_identities=len(store[CustomerIdentity]),
        tickets=len(store[Ticket]),
        messages=len(store[Message]),
        canned_responses=len(store[CannedResponse]),
    )
    assert store.summary.groups == 3
    assert store.summary.agents >= 4
    assert store.summary.customers >= 190
    assert store.summary.tickets >= 950
    assert store.summary.canned_responses >= 25
    assert store.summary.organizations >= 10


def test_seeding_is_fast(store: SeededStore) -> None:
    assert store.seconds < 3.0


def test_named_agents_have_their_roles_and_the_demo_password(store: SeededStore) -> None:
    by_email = {agent["email"]: agent for agent in store[Agent]}
    assert set(DEMO_AGENTS) == set(by_email)
    expected = {
        "ada@example.com": ("Ada Lovelace", "agent"),
        "lin@example.com": ("Lin Chen", "agent"),
        "sam@example.com": ("Sam Okafor", "supervisor"),
        "admin@example.com": ("Alex Admin", "admin"),
    }
    for email, (name, role) in expected.items():
        assert (by_email[email]["name"], by_email[email]["role"]) == (name, role)
    credentials = {row["agent_id"]: row["password_hash"] for row in store[AgentCredential]}
    assert credentials == {agent["id"]: fake_hash(DEMO_PASSWORD) for agent in store[Agent]}


def test_groups_and_memberships(store: SeededStore) -> None:
    group_names = {group["id"]: group["name"] for group in store[Group]}
    assert set(group_names.values()) == {"Customer Care", "Billing & Orders", "Repairs Desk"}
    emails = {agent["id"]: agent["email"] for agent in store[Agent]}
    groups_of: dict[str, set[str]] = defaultdict(set)
    for row in store[GroupMembership]:
        groups_of[emails[row["agent_id"]]].add(group_names[row["group_id"]])
    assert groups_of["ada@example.com"] == {"Customer Care", "Billing & Orders"}
    assert groups_of["lin@example.com"] == {"Customer Care", "Repairs Desk"}
    assert groups_of["sam@example.com"] == set(group_names.values())
    assert groups_of["admin@example.com"] == set(group_names.values())
    assert all(groups_of[email] for email in DEMO_AGENTS)


def test_customers_have_varied_profiles(store: SeededStore) -> None:
    customers = store[Customer]
    assert len({customer["name"] for customer in customers}) == len(customers)
    assert {customer["tier"] for customer in customers} == {"standard", "silver", "gold", "vip"}
    assert len({customer["language"] for customer in customers}) >= 3
    timezones = {customer["timezone"] for customer in customers}
    assert len(timezones) >= 5
    assert timezones <= zoneinfo.available_timezones()
    assert sum(1 for customer in customers if customer["notes"]) >= 40
    assert sum(1 for customer in customers if customer["organization_id"]) >= 30
    assert all(customer["created_at"] <= customer["updated_at"] <= NOW for customer in customers)


def test_identities_are_unique_and_well_formed(store: SeededStore) -> None:
    identities = store[CustomerIdentity]
    pairs = [(identity["kind"], identity["value"]) for identity in identities]
    single = [(kind, value) for kind, value in pairs if kind != "phone"]
    assert len(set(single)) == len(single)
    # A family's landline and an office's switchboard: numbers several customers answer.
    phones = Tally(value for kind, value in pairs if kind == "phone")
    assert sum(1 for n in phones.values() if n > 1) >= 2
    assert all(to_e164(value) == value for value in phones)

    kinds_of: dict[str, list[str]] = defaultdict(list)
    for identity in identities:
        kinds_of[identity["customer_id"]].append(identity["kind"])
        kind, value = identity["kind"], identity["value"]
        if kind == "email":
            assert re.fullmatch(r"[a-z0-9.]+@[a-z0-9.-]+\.[a-z]+", value), value
        elif kind == "phone":
            assert E164.fullmatch(value), value
        elif kind == "social":
            assert value.startswith("@"), value
        else:
            assert kind == "chat"
    assert set(kinds_of) == {customer["id"] for customer in store[Customer]}
    for kinds in kinds_of.values():
        assert 1 <= len(kinds) <= 3
        assert kinds.count("email") == 1
    assert {kind for kind, _ in pairs} == {"email", "phone", "social", "chat"}


def test_tickets_cover_every_channel_status_and_priority(store: SeededStore) -> None:
    tickets = store[Ticket]
    assert {t["channel"] for t in tickets} == {"email", "phone", "chat", "social", "web", "walk_in"}
    assert {t["status"] for t in tickets} == {
        "new",
        "open",
        "pending",
        "on_hold",
        "solved",
        "closed",
    }
    assert {t["priority"] for t in tickets} == {"low", "normal", "high", "urgent"}
    assert all(t["group_id"] for t in tickets)
    assert all(t["tags"] and all(isinstance(tag, str) for tag in t["tags"]) for t in tickets)


def test_numbers_run_from_one_and_the_counter_continues_after_them(store: SeededStore) -> None:
    tickets = sorted(store[Ticket], key=lambda ticket: ticket["number"])
    assert [ticket["number"] for ticket in tickets] == list(range(1, len(tickets) + 1))
    # Numbers were handed out as tickets came in.
    created = [ticket["created_at"] for ticket in tickets]
    assert created == sorted(created)
    assert store[Counter] == [{"name": "ticket_number", "value": len(tickets)}]


def test_every_thread_is_well_formed(store: SeededStore) -> None:
    threads = store.messages_by_ticket()
    for ticket in store[Ticket]:
        thread = threads[ticket["id"]]
        assert 2 <= len(thread) <= 8, ticket["number"]
        opener = thread[0]
        assert (opener["kind"], opener["author_type"]) == ("reply", "customer")
        assert opener["author_customer_id"] == ticket["customer_id"]
        times = [message["created_at"] for message in thread]
        assert all(earlier < later for earlier, later in itertools.pairwise(times))
        assert ticket["version"] == 1 + len(thread)
        assert ticket["created_at"] == times[0]
        assert ticket["updated_at"] == times[-1]
        for message in thread:
            author = message["author_type"]
            assert (message["author_agent_id"] is not None) == (author == "agent")
            assert (message["author_customer_id"] is not None) == (author == "customer")
            assert message["delivery_state"] in ("sent", "delivered")
            if message["kind"] == "event":
                assert author == "system"
            if message["kind"] in ("note", "call"):
                assert author == "agent"


def test_timestamps_are_ordered_and_within_six_months(store: SeededStore) -> None:
    for ticket in store[Ticket]:
        created, updated = ticket["created_at"], ticket["updated_at"]
        assert created.tzinfo is not None
        assert NOW - timedelta(days=181) <= created <= updated <= NOW
        if ticket["status"] == "new":
            assert ticket["first_response_at"] is None
        else:
            assert created <= ticket["first_response_at"] <= updated, ticket["number"]
        if ticket["status"] in ("solved", "closed"):
            assert created <= ticket["solved_at"] <= updated, ticket["number"]
        else:
            assert ticket["solved_at"] is None


def test_recent_activity_dominates_and_open_work_is_fresh(store: SeededStore) -> None:
    tickets = store[Ticket]
    recent = [t for t in tickets if t["updated_at"] >= NOW - timedelta(days=90)]
    assert len(recent) >= 0.4 * len(tickets)
    open_work = [t for t in tickets if t["status"] in ("new", "open")]
    fresh = [t for t in open_work if t["updated_at"] >= NOW - timedelta(days=30)]
    assert len(fresh) >= 0.75 * len(open_work)


def test_assignees_belong_to_the_ticket_group(store: SeededStore) -> None:
    members = {(row["agent_id"], row["group_id"]) for row in store[GroupMembership]}
    tickets = store[Ticket]
    for ticket in tickets:
        if ticket["assignee_id"] is not None:
            assert (ticket["assignee_id"], ticket["group_id"]) in members
    worked = [t for t in tickets if t["status"] != "new"]
    assert sum(1 for t in worked if t["assignee_id"]) >= 0.8 * len(worked)
    fresh = [t for t in tickets if t["status"] == "new"]
    assert any(t["assignee_id"] is None for t in fresh)


def test_walk_ins_are_device_repairs_at_the_repairs_desk(store: SeededStore) -> None:
    repairs_desk = next(g["id"] for g in store[Group] if g["name"] == "Repairs Desk")
    threads = store.messages_by_ticket()
    walk_ins = [t for t in store[Ticket] if t["channel"] == "walk_in"]
    assert len(walk_ins) >= 50
    for ticket in walk_ins:
        assert ticket["group_id"] == repairs_desk
        intake = next(m["body"] for m in threads[ticket["id"]] if m["kind"] == "note")
        assert re.search(r"^(IMEI: \d{15}|Serial: [A-Z0-9]{11})$", intake, re.MULTILINE)
        for field in ("Device:", "Fault:", "Estimate: $", "Deposit: $"):
            assert field in intake


def test_phone_tickets_log_calls(store: SeededStore) -> None:
    phone_ids = {t["id"] for t in store[Ticket] if t["channel"] == "phone"}
    calls = [m for m in store[Message] if m["kind"] == "call"]
    assert calls
    assert {m["ticket_id"] for m in calls} <= phone_ids | {
        t["id"] for t in store[Ticket] if t["channel"] == "walk_in"
    }
    assert all(m["body"].startswith("Outbound call, ") for m in calls)


def test_wording_comes_from_abcd_with_every_placeholder_filled(store: SeededStore) -> None:
    subjects = {ticket["subject"] for ticket in store[Ticket]}
    assert "Refund for Michael Kors jeans — wrong size" in subjects  # a sample chat's ticket
    bodies = [message["body"] for message in store[Message]]
    assert any(body.startswith("Account has been pulled up for ") for body in bodies)
    assert any("may I have your username, email address and order ID" in b for b in bodies)
    for text in [*subjects, *bodies]:
        assert "{" not in text, text
        assert "}" not in text, text


def test_canned_responses_cover_every_scope(store: SeededStore) -> None:
    ada = next(agent["id"] for agent in store[Agent] if agent["email"] == "ada@example.com")
    responses = store[CannedResponse]
    assert len({r["shortcut"] for r in responses}) == len(responses)
    assert "refund-policy" in {r["shortcut"] for r in responses}
    scopes = defaultdict(list)
    for response in responses:
        scopes[response["scope"]].append(response)
    assert set(scopes) == {"shared", "group", "personal"}
    assert all(r["group_id"] is None and r["owner_id"] is None for r in scopes["shared"])
    assert all(r["group_id"] and r["owner_id"] is None for r in scopes["group"])
    assert all(r["owner_id"] == ada and r["group_id"] is None for r in scopes["personal"])
    placeholders = ("{{customer.first_name}}", "{{agent.name}}", "{{ticket.number}}")
    for placeholder in placeholders:
        assert any(placeholder in r["body"] for r in responses), placeholder
    assert len({r["usage_count"] for r in responses}) > 10


def test_nothing_is_filler_text(store: SeededStore) -> None:
    for rows in store.rows.values():
        for row in rows:
            for value in row.values():
                if isinstance(value, str):
                    assert "lorem" not in value.lower()
                    assert "ipsum" not in value.lower()


def test_the_change_log_stays_empty(store: SeededStore) -> None:
    assert store[ChangeLogEntry] == []


def test_a_seed_always_gives_the_same_store(tmp_path: Path) -> None:
    first, _, _ = seed(tmp_path / "first.db", seed=11)
    second, _, _ = seed(tmp_path / "second.db", seed=11)
    other, _, _ = seed(tmp_path / "other.db", seed=12)

    def tickets(engine: Engine) -> list[tuple[Any, ...]]:
        rows = sorted(read(engine, Ticket), key=lambda ticket: ticket["number"])
        return [(t["id"], t["number"], t["subject"], t["status"], t["updated_at"]) for t in rows]

    def bodies(engine: Engine) -> list[tuple[str, str]]:
        return sorted((m["id"], m["body"]) for m in read(engine, Message))

    assert tickets(first) == tickets(second)
    assert bodies(first) == bodies(second)
    assert [t[2] for t in tickets(first)] != [t[2] for t in tickets(other)]
    for engine in (first, second, other):
        engine.dispose()


def test_refuses_a_naive_now(tmp_path: Path) -> None:
    engine = make_store(tmp_path / "store.db")
    with engine.begin() as conn, pytest.raises(ValueError, match="naive"):
        seed_demo(conn, password_hash=fake_hash, now=datetime(2025, 6, 1, 12, 0))
    engine.dispose()


def test_refuses_a_store_that_already_has_tickets(store: SeededStore) -> None:
    with store.engine.begin() as conn, pytest.raises(ValueError, match="without tickets"):
        seed_demo(conn, password_hash=fake_hash, now=NOW)
