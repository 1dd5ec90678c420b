"""Property: whatever agents do — edits, replies, drafts, going offline, restarting their
workstation, the server restarting — once everyone is back online every cache equals the
server's view of what that agent may see, and no mutation is lost or applied twice."""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import tempfile
from functools import partial
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, rule
from sqlalchemy import Engine, func, select

from app.domain import wire
from app.models.tables import T_DRAFTS, T_MESSAGES, T_TICKETS
from app.server.app import SwitchboardServer
from app.sync.cache_tables import T_REFUSALS
from app.sync.engine import NotOnThisWorkstation, SyncEngine
from tests.world import AGENTS, PASSWORD, TICKETS, make_store, visible_rows

CLIENTS = ["ada@example.com", "bob@example.com", "sam@example.com"]
AGENT_IDS = [AGENTS[e][0] for e in AGENTS]
TICKET_IDS = sorted(TICKETS)
words = st.text(alphabet="abcdefghij klmnop", min_size=1, max_size=20).map(str.strip).filter(bool)


def server_view(store: Engine, agent_id: str) -> dict[str, Any]:
    visible = visible_rows(store, agent_id)
    with store.connect() as conn:
        drafts = {
            r["ticket_id"]: r["body"]
            for r in conn.execute(
                select(T_DRAFTS).where(T_DRAFTS.c.agent_id == agent_id)
            ).mappings()
        }
    return {
        "tickets": visible["tickets"],
        "messages": {i: (m["ticket_id"], m["body"]) for i, m in visible["messages"].items()},
        "drafts": drafts,
    }


def cache_view(conn: Any) -> dict[str, Any]:
    tickets = {
        r["id"]: wire.to_wire("ticket", r) for r in conn.execute(select(T_TICKETS)).mappings()
    }
    messages = {
        r["id"]: (r["ticket_id"], r["body"])
        for r in conn.execute(select(T_MESSAGES)).mappings()
        if r["delivery_state"] != "failed"  # refused replies stay local, for review
    }
    drafts = {r["ticket_id"]: r["body"] for r in conn.execute(select(T_DRAFTS)).mappings()}
    return {"tickets": tickets, "messages": messages, "drafts": drafts}


def refusals_of(conn: Any, message_id: str) -> int:
    rows = conn.execute(select(T_REFUSALS.c.args)).scalars()
    return sum(1 for args in rows if args.get("message", {}).get("id") == message_id)


class Workplace(RuleBasedStateMachine):
    """Three workstations and one server, driven at random."""

    def __init__(self) -> None:
        super().__init__()
        self.loop = asyncio.new_event_loop()
        self.tmp = Path(tempfile.mkdtemp(prefix="sb-conv-"))
        self.store = make_store(f"sqlite:///{self.tmp / 'server.db'}")
        self.server: SwitchboardServer | None = None
        self.port = 0
        self.engines: dict[str, SyncEngine] = {}
        self.tokens: dict[str, str] = {}
        self.online: dict[str, bool] = {}
        self.sent_messages: dict[str, str] = {}  # message id -> client

    def run(self, coro: Any) -> Any:
        return self.loop.run_until_complete(asyncio.wait_for(coro, 60))

    async def _start_server(self) -> None:
        self.server = SwitchboardServer(self.store)
        await self.server.start("127.0.0.1", self.port)
        self.port = self.server.port

    def _url(self) -> str:
        return f"ws://127.0.0.1:{self.port}"

    async def _open(self, email: str) -> SyncEngine:
        engine = SyncEngine(self.tmp / f"{email}.db", self._url(), token=self.tokens.get(email))
        await engine.open()
        return engine

    @initialize()
    def start(self) -> None:
        async def go() -> None:
            await self._start_server()
            for email in CLIENTS:
                engine = await self._open(email)
                self.tokens[email] = await engine.login(email, PASSWORD)
                engine.start()
                await engine.wait_online(20)
                self.engines[email] = engine
                self.online[email] = True

        self.run(go())

    # ---- what agents do ------------------------------------------------------------------

    @rule(
        client=st.sampled_from(CLIENTS),
        ticket=st.sampled_from(TICKET_IDS),
        text=words,
        kind=st.sampled_from(["reply", "note"]),
    )
    def write_message(self, client: str, ticket: str, text: str, kind: str) -> None:
        async def go() -> None:
            try:
                message_id = await self.engines[client].reply(ticket, text, kind=kind)
            except NotOnThisWorkstation:
                return  # not in this agent's cache (never was, or a live change just took it)
            self.sent_messages[message_id] = client

        self.run(go())

    @rule(
        client=st.sampled_from(CLIENTS),
        ticket=st.sampled_from(TICKET_IDS),
        field=st.sampled_from(["status", "priority", "assignee_id", "group_id", "tags"]),
        data=st.data(),
    )
    def edit_ticket(self, client: str, ticket: str, field: str, data: st.DataObject) -> None:
        values = {
            "status": st.sampled_from(["new", "open", "pending", "on_hold", "solved"]),
            "priority": st.sampled_from(["low", "normal", "high", "urgent"]),
            "assignee_id": st.sampled_from([None, *AGENT_IDS]),
            "group_id": st.sampled_from([None, "g-care", "g-billing"]),
            "tags": st.lists(st.sampled_from(["vip", "refund", "late"]), max_size=2, unique=True),
        }
        value = data.draw(values[field])

        async def go() -> None:
            with contextlib.suppress(NotOnThisWorkstation):  # not in this agent's cache, as above
                await self.engines[client].update_ticket(ticket, {field: value})

        self.run(go())

    @rule(client=st.sampled_from(CLIENTS), ticket=st.sampled_from(TICKET_IDS), text=words)
    def type_draft(self, client: str, ticket: str, text: str) -> None:
        self.run(self.engines[client].save_draft(ticket, text))

    # ---- what goes wrong -----------------------------------------------------------------

    @rule(client=st.sampled_from(CLIENTS))
    def go_offline(self, client: str) -> None:
        if self.online[client]:
            self.run(self.engines[client].stop())
            self.online[client] = False

    @rule(client=st.sampled_from(CLIENTS))
    def come_back(self, client: str) -> None:
        if not self.online[client]:

            async def go() -> None:
                self.engines[client].start()  # needs the running loop

            self.run(go())
            self.online[client] = True

    @rule(client=st.sampled_from(CLIENTS))
    def restart_workstation(self, client: str) -> None:
        async def go() -> None:
            await self.engines[client].close()
            engine = await self._open(client)
            self.engines[client] = engine
            if self.online[client]:
                engine.start()

        self.run(go())

    @rule()
    def restart_server(self) -> None:
        async def go() -> None:
            assert self.server is not None
            await self.server.stop()
            await self._start_server()
            for engine in self.engines.values():
                engine.retry_now()

        self.run(go())

    # ---- the property --------------------------------------------------------------------

    def teardown(self) -> None:
        try:
            if self.engines:
                self.run(self._converge_and_check())
        finally:

            async def close() -> None:
                for engine in self.engines.values():
                    await engine.close()
                if self.server is not None:
                    await self.server.stop()

            self.loop.run_until_complete(close())
            self.loop.close()
            self.store.dispose()
            shutil.rmtree(self.tmp, ignore_errors=True)

    async def _converge_and_check(self) -> None:
        for engine in self.engines.values():
            engine.start()
            engine.retry_now()
        for engine in self.engines.values():
            await engine.wait_online(30)
            await engine.wait_drained(30)
        for email, engine in self.engines.items():
            agent_id = AGENTS[email][0]
            loop = asyncio.get_running_loop()
            deadline = loop.time() + 15
            while True:
                expected = server_view(self.store, agent_id)
                actual = await engine.read(cache_view)
                if actual == expected or loop.time() > deadline:
                    break
                await asyncio.sleep(0.02)
            assert actual["tickets"] == expected["tickets"], email
            assert actual["messages"] == expected["messages"], email
            assert actual["drafts"] == expected["drafts"], email
        # Every message a workstation wrote is on the server exactly once, or was refused
        # (and kept, with its text, for the agent to review).
        with self.store.connect() as conn:
            counts: dict[str, int] = dict(
                conn.execute(
                    select(T_MESSAGES.c.id, func.count())
                    .where(T_MESSAGES.c.id.in_(list(self.sent_messages)))
                    .group_by(T_MESSAGES.c.id)
                ).all()
            )
        for message_id, client in self.sent_messages.items():
            if counts.get(message_id) == 1:
                continue
            refused = await self.engines[client].read(partial(refusals_of, message_id=message_id))
            assert counts.get(message_id) is None, message_id
            assert refused == 1, message_id


TestWorkplace = Workplace.TestCase
TestWorkplace.settings = settings(
    max_examples=int(os.environ.get("SWITCHBOARD_CONVERGENCE_EXAMPLES", "12")),
    stateful_step_count=20,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)
