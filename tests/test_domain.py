"""The domain's declarations (app/domain): complete, and each sight rule one rule.

A kind's sight rule is read two ways: in Python (fan-out and catch-up check the audience a
change-log row carries; mutations check rows in hand) and in SQL (bootstrap, search).  Here
both readings are checked against each other on every combination of rows and viewers that
matters, so they cannot drift apart as the two copies of the ticket rule once did, down to a
canned response whose scope this version does not know (nobody sees it, either way).
"""

from __future__ import annotations

import dataclasses
import itertools
import logging

import pytest
from sqlalchemy import Column, Engine, MetaData, String, Table, insert, select

from app.domain import wire
from app.domain.canned import CANNED, may_edit
from app.domain.drafts import DRAFT
from app.domain.kinds import KeepWithParent, Kind
from app.domain.mutation import Mutation
from app.domain.registry import DOMAIN
from app.domain.sight import AsParent, ByScope, Staff, Viewer, can_see
from app.domain.tickets import MESSAGE, TICKET
from app.models.base import utcnow
from app.models.tables import T_AGENTS, T_CANNED, T_DRAFTS, T_GROUPS, T_MESSAGES, T_TICKETS
from app.server.store import open_store
from app.sync.protocol import WireModel
from tests.test_protocol_doc import BOOTSTRAP_ORDER

GROUPS = ("g-1", "g-2", None)
AGENTS = ("a-1", "a-2", None)
# Scopes a canned response may have: this version's, one it does not know (a newer server's,
# sharing the store), and none.
SCOPES = ("shared", "group", "personal", "team", "")
VIEWERS = [
    Viewer("a-1", "agent", frozenset({"g-1"}), 1),
    Viewer("a-2", "agent", frozenset({"g-1", "g-2"}), 1),
    Viewer("a-3", "agent", frozenset(), 1),
    Viewer("a-s", "supervisor", frozenset(), 1),
    Viewer("a-x", "admin", frozenset({"g-2"}), 1),
]


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> Engine:
    """A real store with every (group, agent) combination of tickets, messages, canned
    responses and drafts."""
    engine = open_store(f"sqlite:///{tmp_path_factory.mktemp('sight') / 'server.db'}")
    now = utcnow()
    with engine.begin() as conn:
        for gid in GROUPS[:2]:
            conn.execute(insert(T_GROUPS).values(id=gid, name=gid, updated_at=now))
        for aid in ("a-1", "a-2", "a-3"):
            conn.execute(
                insert(T_AGENTS).values(id=aid, name=aid, email=f"{aid}@x.test", updated_at=now)
            )
        for n, (group, agent) in enumerate(itertools.product(GROUPS, AGENTS)):
            conn.execute(
                insert(T_TICKETS).values(
                    id=f"t-{n}",
                    number=n + 1,
                    subject="s",
                    channel="email",
                    group_id=group,
                    assignee_id=agent,
                    tags=[],
                    created_at=now,
                    updated_at=now,
                )
            )
            conn.execute(
                insert(T_MESSAGES).values(
                    id=f"m-{n}",
                    ticket_id=f"t-{n}",
                    kind="reply",
                    author_type="customer",
                    body="b",
                    created_at=now,
                )
            )
        scopes = itertools.product(SCOPES, GROUPS, AGENTS)
        for n, (scope, group, owner) in enumerate(scopes):
            conn.execute(
                insert(T_CANNED).values(
                    id=f"c-{n}",
                    title="t",
                    body="b",
                    scope=scope,
                    group_id=group,
                    owner_id=owner,
                    updated_at=now,
                )
            )
        for n, agent in enumerate(("a-1", "a-2", "a-3")):
            conn.execute(
                insert(T_DRAFTS).values(
                    id=f"d-{n}", agent_id=agent, ticket_id="t-0", body="b", updated_at=now
                )
            )
    return engine


@pytest.mark.parametrize("kind", [TICKET, MESSAGE, CANNED, DRAFT], ids=lambda k: k.name)
@pytest.mark.parametrize("viewer", VIEWERS, ids=lambda v: f"{v.role}-{v.id}")
def test_sight_reads_the_same_in_python_and_in_sql(
    store: Engine, kind: Kind, viewer: Viewer
) -> None:
    with store.connect() as conn:
        rows = [dict(r) for r in conn.execute(select(kind.table)).mappings()]
        tickets = {r["id"]: dict(r) for r in conn.execute(select(T_TICKETS)).mappings()}
        q = select(kind.table.c.id)
        condition = kind.sight.where(viewer, kind.table)
        if condition is not None:
            q = q.where(condition)
        by_sql = set(conn.execute(q).scalars())
    parent = (lambda r: tickets[r["ticket_id"]]) if kind is MESSAGE else (lambda r: None)
    by_python = {r["id"] for r in rows if kind.sight.allows(viewer, r, parent(r))}
    assert by_sql == by_python
    assert rows, "no rows to compare"
    if kind is TICKET and viewer.role == "agent" and viewer.group_ids:
        assert 0 < len(by_sql) < len(rows)  # the rule does select something, not all


def test_every_registry_is_derived_from_the_declarations() -> None:
    assert wire.ENTITIES is DOMAIN.kinds
    assert list(wire.ENTITIES) == BOOTSTRAP_ORDER  # as docs/protocol.md 8.3 says
    for mutation in DOMAIN.mutations.values():
        assert mutation.kind in DOMAIN.kinds, mutation.name
        assert mutation.refusal, mutation.name
        assert issubclass(mutation.args, WireModel), mutation.name


def test_a_half_declared_kind_cannot_be_registered() -> None:
    table = Table("half", MetaData(), Column("id", String(36), primary_key=True))
    with pytest.raises(ValueError, match="names no column 'group_id'"):
        Kind("half", table, Staff(group="group_id", agent=None), bootstrap=99)
    no_id = Table("no_id", MetaData(), Column("key", String(36), primary_key=True))
    with pytest.raises(ValueError, match="needs an 'id' column"):
        Kind("no_id", no_id, Staff(group=None, agent=None), bootstrap=99)
    orphan = Kind(
        "orphan",
        Table(
            "orphan",
            MetaData(),
            Column("id", String(36), primary_key=True),
            Column("box_id", String(36)),
        ),
        AsParent("box", "box_id"),
        bootstrap=99,
        keep=KeepWithParent("box", "box_id"),
    )
    with pytest.raises(ValueError, match="undeclared kind 'box'"):
        DOMAIN.add([orphan])
    assert "orphan" not in DOMAIN.kinds


def test_a_mutation_about_an_undeclared_kind_cannot_be_registered() -> None:
    class Args(WireModel):
        id: str

    stray = Mutation(
        "stray.make", Args, lambda tx, a: {}, kind="stray", refusal="Stray", subject=lambda a: a.id
    )
    with pytest.raises(ValueError, match="undeclared kind 'stray'"):
        DOMAIN.add((), [stray])
    assert "stray.make" not in DOMAIN.mutations
    vague = Mutation("ticket.poke", Args, lambda tx, a: {}, kind="ticket", refusal="Poke")
    with pytest.raises(ValueError, match="does not say which record it is about"):
        DOMAIN.add((), [vague])
    assert "ticket.poke" not in DOMAIN.mutations


def test_canned_edit_rule_is_one_rule() -> None:
    agent = VIEWERS[0]
    lead = VIEWERS[3]
    mine = {"scope": "personal", "owner_id": agent.id}
    group = {"scope": "group", "group_id": "g-1"}
    shared = {"scope": "shared"}
    assert [may_edit(agent, c) for c in (mine, group, shared)] == [True, False, False]
    assert [may_edit(lead, c) for c in (mine, group, shared)] == [False, True, True]


def test_a_canned_response_of_an_unknown_scope_is_nobodys_and_is_logged_once(
    store: Engine, caplog: pytest.LogCaptureFixture
) -> None:
    with store.connect() as conn:
        unknown = [
            dict(r)
            for r in conn.execute(
                select(T_CANNED).where(T_CANNED.c.scope.in_(("team", "")))
            ).mappings()
        ]
    assert unknown
    assert isinstance(CANNED.sight, ByScope)
    sight = dataclasses.replace(CANNED.sight)  # the same rule, with nothing logged yet
    with caplog.at_level(logging.WARNING, logger="app.domain.sight"):
        for row in unknown * 2:
            audience = sight.audience(row)
            assert not any(can_see(v, audience) for v in VIEWERS), row
            assert not any(sight.allows(v, row) for v in VIEWERS), row
    warned = sorted(r.getMessage() for r in caplog.records)
    assert warned == [
        "no sight rule for scope='': nobody sees such rows",
        "no sight rule for scope='team': nobody sees such rows",
    ]
