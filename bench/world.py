"""Bench worlds: a store with many agents in one group, tickets, messages and session tokens.

Rows are written with SQLAlchemy Core bulk inserts (like ``tests/world.py``), every agent
shares one argon2 hash, and tokens are minted directly in the store with
``auth.create_session``.  A change-log head above zero comes from a real mutation run through
the server's own handlers, so clients can say hello with ``cursor = head`` and skip bootstrap.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, insert

from app.domain.mutation import Actor, ActorKind
from app.domain.sight import Viewer
from app.models.base import utcnow
from app.models.tables import (
    T_AGENTS,
    T_COUNTERS,
    T_CREDENTIALS,
    T_CUSTOMERS,
    T_GROUPS,
    T_MEMBERS,
    T_MESSAGES,
    T_TICKETS,
)
from app.server import auth, replication
from app.server.store import open_store
from app.server.submit import Submission, decide

PASSWORD = "bench password 7"
_HASH = auth.hash_password(PASSWORD)  # one argon2 hash for every bench agent
GROUP = "g-bench"
ADMIN_ID = "a-admin"
ADMIN = Viewer(id=ADMIN_ID, role="admin", group_ids=frozenset(), access_version=1, name="Admin")
CHUNK = 5000


@dataclass
class World:
    """What a scenario needs to know about the store it built."""

    url: str
    engine: Engine
    agent_ids: list[str]
    ticket_ids: list[str]
    tokens: dict[str, str] = field(default_factory=dict)

    def head(self) -> int:
        with self.engine.connect() as conn:
            return replication.head_seq(conn)

    @property
    def path(self) -> Path:
        """The store's SQLite file."""
        return Path(self.url.removeprefix("sqlite:///"))


def agent_id(i: int) -> str:
    return f"a-{i:05d}"


def ticket_id(i: int) -> str:
    return f"t-{i:05d}"


def _chunked(rows: Sequence[dict[str, Any]]) -> Iterable[Sequence[dict[str, Any]]]:
    for start in range(0, len(rows), CHUNK):
        yield rows[start : start + CHUNK]


def build_world(
    directory: Path,
    *,
    agents: int,
    tickets: int,
    messages_per_ticket: int = 1,
    customers: int = 10,
    name: str = "server.db",
) -> World:
    """Create and migrate an SQLite store in ``directory`` and fill it.

    Agents ``a-00000``... are plain agents in group ``g-bench``; tickets ``t-00000``... are open
    tickets of that group, so every agent sees every ticket.  There is also an admin, ``a-admin``.
    """
    url = f"sqlite:///{directory / name}"
    engine = open_store(url)
    now = utcnow()
    created = now - timedelta(days=1)
    agent_ids = [agent_id(i) for i in range(agents)]
    ticket_ids = [ticket_id(i) for i in range(tickets)]
    with engine.begin() as conn:
        conn.execute(
            insert(T_GROUPS), [{"id": GROUP, "name": "Bench", "description": "", "updated_at": now}]
        )
        agent_rows: list[dict[str, Any]] = [
            {
                "id": aid,
                "name": f"Agent {i}",
                "email": f"agent{i}@bench.test",
                "role": "agent",
                "active": True,
                "timezone": "UTC",
                "access_version": 1,
                "updated_at": now,
            }
            for i, aid in enumerate(agent_ids)
        ]
        agent_rows.append(
            {
                "id": ADMIN_ID,
                "name": "Admin",
                "email": "admin@bench.test",
                "role": "admin",
                "active": True,
                "timezone": "UTC",
                "access_version": 1,
                "updated_at": now,
            }
        )
        for chunk in _chunked(agent_rows):
            conn.execute(insert(T_AGENTS), list(chunk))
        creds = [{"agent_id": r["id"], "password_hash": _HASH} for r in agent_rows]
        for chunk in _chunked(creds):
            conn.execute(insert(T_CREDENTIALS), list(chunk))
        members = [{"agent_id": aid, "group_id": GROUP} for aid in agent_ids]
        for chunk in _chunked(members):
            conn.execute(insert(T_MEMBERS), list(chunk))
        conn.execute(
            insert(T_CUSTOMERS),
            [
                {
                    "id": f"c-{i}",
                    "name": f"Customer {i}",
                    "tier": "standard",
                    "language": "en",
                    "timezone": "UTC",
                    "notes": "",
                    "created_at": created,
                    "updated_at": created,
                }
                for i in range(customers)
            ],
        )
        ticket_rows: list[dict[str, Any]] = [
            {
                "id": tid,
                "number": i + 1,
                "subject": f"Bench ticket {i + 1}: the parcel never arrived",
                "status": "open",
                "priority": "normal",
                "channel": "email",
                "customer_id": f"c-{i % customers}",
                "assignee_id": None,
                "group_id": GROUP,
                "tags": [],
                "created_at": created,
                "updated_at": created,
                "first_response_at": None,
                "solved_at": None,
                "version": 1,
            }
            for i, tid in enumerate(ticket_ids)
        ]
        for chunk in _chunked(ticket_rows):
            conn.execute(insert(T_TICKETS), list(chunk))
        body = "Hello, my order still has not arrived and the tracking page shows nothing. " * 2
        message_rows: list[dict[str, Any]] = [
            {
                "id": f"m-{i:05d}-{j}",
                "ticket_id": tid,
                "kind": "reply",
                "author_type": "customer",
                "author_agent_id": None,
                "author_customer_id": f"c-{i % customers}",
                "body": body,
                "created_at": created + timedelta(seconds=j),
                "delivery_state": "delivered",
            }
            for i, tid in enumerate(ticket_ids)
            for j in range(messages_per_ticket)
        ]
        for chunk in _chunked(message_rows):
            conn.execute(insert(T_MESSAGES), list(chunk))
        conn.execute(insert(T_COUNTERS).values(name="ticket_number", value=len(ticket_ids)))
    return World(url, engine, agent_ids, ticket_ids)


def mint_tokens(world: World, agent_ids: Iterable[str]) -> dict[str, str]:
    """Session tokens for these agents, created directly in the store."""
    out: dict[str, str] = {}
    with world.engine.begin() as conn:
        for aid in agent_ids:
            token, _info = auth.create_session(conn, aid)
            out[aid] = token
    world.tokens.update(out)
    return out


def real_mutation(
    world: World,
    name: str,
    args: dict[str, Any],
    viewer: Viewer = ADMIN,
    workstation_id: str | None = None,
) -> list[dict[str, Any]]:
    """Run one mutation through the server's one write path; returns its change-log rows."""
    actor = Actor(viewer, ActorKind.WORKSTATION, ActorKind.WORKSTATION.value)
    logged: list[dict[str, Any]] = []
    with world.engine.begin() as conn:
        answer = decide(conn, Submission(actor, name, args, workstation_id=workstation_id), logged)
    if answer["type"] != "ack":
        raise RuntimeError(f"{name} refused: {answer}")
    return logged


def create_shared_ticket(world: World, tid: str = "t-shared") -> str:
    """A ticket in ``g-bench`` created by a real ``ticket.create`` (so the log head is > 0)."""
    real_mutation(
        world,
        "ticket.create",
        {
            "ticket": {
                "id": tid,
                "subject": "Shared bench ticket",
                "channel": "email",
                "group_id": GROUP,
            }
        },
    )
    return tid
