"""A small, known world for tests: groups, agents, customers and tickets, plus helpers to run
a real server on 127.0.0.1 port 0 and real workstation engines against it."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any, TypeVar

from sqlalchemy import Connection, Engine, insert, select

from app.domain import wire
from app.domain.tickets import TICKET
from app.models.base import utcnow
from app.models.tables import (
    T_AGENTS,
    T_COUNTERS,
    T_CREDENTIALS,
    T_CUSTOMERS,
    T_GROUPS,
    T_IDENTITIES,
    T_MEMBERS,
    T_MESSAGES,
    T_TICKETS,
)
from app.server import auth, replication
from app.server.app import SwitchboardServer
from app.server.store import open_store
from app.sync.desk_types import Refusal
from app.sync.engine import SyncEngine
from app.sync.notice import ChangeNotice
from app.sync.observer import SyncObserver

T = TypeVar("T")
PASSWORD = "correct horse 7"
_HASH = auth.hash_password(PASSWORD)  # one argon2 hash for every test agent: tests stay fast

GROUPS = {"care": "g-care", "billing": "g-billing"}
# email -> (id, role, groups)
AGENTS = {
    "ada@example.com": ("a-ada", "agent", ["g-care"]),
    "lin@example.com": ("a-lin", "agent", ["g-care", "g-billing"]),
    "bob@example.com": ("a-bob", "agent", ["g-billing"]),
    "sam@example.com": ("a-sam", "supervisor", []),
    "root@example.com": ("a-root", "admin", []),
}
# id -> (number, group, assignee, status)
TICKETS: dict[str, tuple[int, str | None, str | None, str]] = {
    "t-1": (1, "g-care", "a-ada", "open"),
    "t-2": (2, "g-care", None, "new"),
    "t-3": (3, "g-billing", "a-bob", "pending"),
    "t-4": (4, "g-billing", None, "new"),
    "t-5": (5, "g-care", "a-lin", "solved"),
    "t-6": (6, None, None, "new"),
}


def seed_world(conn: Connection) -> None:
    now = utcnow()
    conn.execute(
        insert(T_GROUPS),
        [
            {"id": gid, "name": name.title(), "description": "", "updated_at": now}
            for name, gid in GROUPS.items()
        ],
    )
    for email, (aid, role, groups) in AGENTS.items():
        conn.execute(
            insert(T_AGENTS).values(
                id=aid,
                name=email.split("@")[0].title(),
                email=email,
                role=role,
                active=True,
                timezone="UTC",
                access_version=1,
                updated_at=now,
            )
        )
        conn.execute(insert(T_CREDENTIALS).values(agent_id=aid, password_hash=_HASH))
        for gid in groups:
            conn.execute(insert(T_MEMBERS).values(agent_id=aid, group_id=gid))
    for i in range(1, 4):
        conn.execute(
            insert(T_CUSTOMERS).values(
                id=f"c-{i}",
                name=f"Customer {i}",
                tier="standard",
                language="en",
                timezone="UTC",
                notes="",
                created_at=now,
                updated_at=now,
            )
        )
        conn.execute(
            insert(T_IDENTITIES).values(
                id=f"ci-{i}", customer_id=f"c-{i}", kind="email", value=f"customer{i}@mail.test"
            )
        )
    for tid, (number, ticket_group, assignee, status) in TICKETS.items():
        conn.execute(
            insert(T_TICKETS).values(
                id=tid,
                number=number,
                subject=f"Ticket {number}",
                status=status,
                priority="normal",
                channel="email",
                customer_id=f"c-{number % 3 + 1}",
                assignee_id=assignee,
                group_id=ticket_group,
                tags=[],
                created_at=now - timedelta(days=2),
                updated_at=now - timedelta(days=1),
                version=2,
            )
        )
        conn.execute(
            insert(T_MESSAGES).values(
                id=f"m-{number}",
                ticket_id=tid,
                kind="reply",
                author_type="customer",
                author_customer_id=f"c-{number % 3 + 1}",
                body=f"Help with {number}",
                created_at=now - timedelta(days=2),
                delivery_state="delivered",
            )
        )
    conn.execute(insert(T_COUNTERS).values(name="ticket_number", value=len(TICKETS)))


def make_store(url: str) -> Engine:
    engine = open_store(url)
    with engine.begin() as conn:
        seed_world(conn)
    return engine


@contextlib.asynccontextmanager
async def running_server(engine: Engine, **kwargs: Any) -> AsyncIterator[SwitchboardServer]:
    server = SwitchboardServer(engine, **kwargs)
    await server.start("127.0.0.1", 0)
    try:
        yield server
    finally:
        await server.stop()


@dataclass
class Recorder(SyncObserver):
    """Observer that remembers what it was told, and lets a test wait for it."""

    refused: list[Refusal] = field(default_factory=list)
    changed: list[ChangeNotice] = field(default_factory=list)
    viewing: list[tuple[str, str | None, bool]] = field(default_factory=list)
    presence: dict[str, str] = field(default_factory=dict)

    def entities_changed(self, notice: ChangeNotice) -> None:
        self.changed.append(notice)

    def change_refused(self, refusal: Refusal) -> None:
        self.refused.append(refusal)

    def viewing_changed(self, agent_id: str, ticket_id: str | None, typing: bool) -> None:
        self.viewing.append((agent_id, ticket_id, typing))

    def presence_changed(self, agent_id: str, status: str) -> None:
        self.presence[agent_id] = status


async def workstation(
    tmp: Path, server_url: str, email: str, *, name: str | None = None
) -> tuple[SyncEngine, Recorder]:
    """A signed-in, started engine with its own cache file."""
    recorder = Recorder()
    engine = SyncEngine(
        tmp / f"{name or email.split('@')[0]}.cache.db", server_url, observer=recorder
    )
    await engine.open()
    await engine.login(email, PASSWORD)
    engine.start()
    await engine.wait_online(20)
    return engine, recorder


@dataclass
class ServedWorld:
    """The test world in a store, a real server over it, and the workstations started
    through ``workstation`` (closed for the test when it ends, passed or failed)."""

    tmp: Path
    store: Engine
    server: SwitchboardServer
    engines: list[SyncEngine] = field(default_factory=list)

    @property
    def url(self) -> str:
        return self.server.url

    async def workstation(
        self, email: str, *, name: str | None = None
    ) -> tuple[SyncEngine, Recorder]:
        """A signed-in, started engine of this server, with its own cache file."""
        engine, recorder = await workstation(self.tmp, self.server.url, email, name=name)
        self.engines.append(engine)
        return engine, recorder


@contextlib.asynccontextmanager
async def served_world(
    tmp: Path, *, store_url: str | None = None, **server_options: Any
) -> AsyncIterator[ServedWorld]:
    """The test world in a store (a SQLite file under ``tmp`` unless ``store_url`` names
    another), served on 127.0.0.1 port 0.  On the way out the world's workstations close,
    the server stops and the store is disposed of."""
    store = make_store(store_url or f"sqlite:///{tmp / 'server.db'}")
    try:
        async with running_server(store, **server_options) as server:
            world = ServedWorld(tmp, store, server)
            try:
                yield world
            finally:
                for engine in world.engines:
                    await engine.close()  # again if the test closed it: harmless
    finally:
        store.dispose()


async def eventually(check: Callable[[], Awaitable[T]], timeout: float = 10.0) -> T:
    """Poll an async condition until it returns something truthy (no fixed sleeps)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while True:
        value = await check()
        if value:
            return value
        if loop.time() > deadline:
            raise AssertionError("condition not met in time")
        await asyncio.sleep(0.01)


def visible_rows(store: Engine, agent_id: str) -> dict[str, Any]:
    """The server's rows an agent may see, in wire form (datetimes as the protocol sends them)."""
    with store.connect() as conn:
        viewer = replication.load_viewer(conn, agent_id)
        assert viewer is not None
        tickets = {
            r["id"]: wire.to_wire("ticket", r)
            for r in conn.execute(select(T_TICKETS)).mappings()
            if TICKET.sight.allows(viewer, r)
        }
        messages = {
            r["id"]: wire.to_wire("message", r)
            for r in conn.execute(select(T_MESSAGES)).mappings()
            if r["ticket_id"] in tickets
        }
    return {"tickets": tickets, "messages": messages}
