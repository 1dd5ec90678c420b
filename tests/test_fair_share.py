"""Issue 8, an attack run: one agent must not be able to take the server from the others.

Fair share of the writer, bounded queues, per-agent rate limits and storage quotas (a flood
of mutations); password checks off the reader pool (a sign-in flood); a disable that stops an
agent's mutations at once, from the protocol and from the command line while that agent
writes flat out (SQLite and PostgreSQL); a demotion or a group removal, after which the
agent's pending mutations are decided with the rights they have now.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import sqlite3
import threading
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from functools import partial
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, func, select
from websockets.asyncio.client import ClientConnection
from websockets.exceptions import ConnectionClosed

from app.domain import drafts
from app.domain.mutation import COMMAND_LINE, SYSTEM, workstation_actor
from app.models.tables import T_GROUPS, T_LOG, T_MESSAGES, T_RESULTS, T_WORKSTATIONS
from app.server import auth, replication
from app.server.app import SwitchboardServer
from app.server.quotas import QUEUED_PER_AGENT, AgentQuotas
from app.server.submit import Submission, submit_now
from app.server.workstations import register_workstation
from app.server.writer import MAX_BATCH, StoreWriter
from app.sync import protocol
from app.sync.engine import SyncEngine
from app.sync.protocol import SYNC_PATH, encode
from tests.server_process import run_server_command
from tests.test_bad_input import (
    mutation_frame,
    next_frame,
    open_ws,
    say_hello,
    send,
    sign_in,
)
from tests.world import PASSWORD, eventually, make_store, running_server

Frame = dict[str, Any]
TIMEOUT = 20.0
UNLIMITED = AgentQuotas(per_s=1e9, burst=1e9, bytes_per_s=1e12, bytes_burst=1e12)


def note(ticket_id: str = "t-1", body: str = "internal note") -> dict[str, Any]:
    message = {"id": uuid.uuid4().hex, "ticket_id": ticket_id, "kind": "note", "body": body}
    return {"message": message}


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Engine]:
    engine = make_store(f"sqlite:///{tmp_path / 'server.db'}")
    yield engine
    engine.dispose()


@contextlib.asynccontextmanager
async def writer_with_workstations(
    store: Engine, devices: dict[str, str]
) -> AsyncIterator[StoreWriter]:
    """A started StoreWriter (no server) with these devices registered to these agents."""
    writer = StoreWriter(store, lambda rows: None)
    writer.start()
    try:
        for device, agent in devices.items():
            await writer.run(
                partial(
                    register_workstation, workstation_id=device, agent_id=agent, acked_through=0
                )
            )
        yield writer
    finally:
        await writer.stop()


def submission(
    store: Engine, agent: str, device: str, mutation_id: int, name: str, args: Any
) -> Submission:
    with store.connect() as conn:
        viewer = replication.load_viewer(conn, agent)
    assert viewer is not None
    actor = workstation_actor(viewer)
    return Submission(actor, name, args, workstation_id=device, mutation_id=mutation_id)


@contextlib.asynccontextmanager
async def writer_held(server: SwitchboardServer) -> AsyncIterator[threading.Event]:
    """The server's writer thread blocked (inside a transaction) until the event is set."""
    release = threading.Event()
    held = asyncio.get_running_loop().create_task(server.writer.run(lambda c: release.wait(30)))
    try:
        yield release
    finally:
        release.set()
        await held


@contextlib.asynccontextmanager
async def synced(server: SwitchboardServer, email: str) -> AsyncIterator[ClientConnection]:
    """A raw connection signed in as ``email``, past hello and caught up."""
    async with open_ws(server.url + SYNC_PATH) as ws:
        await sign_in(ws, email)
        await say_hello(ws)
        yield ws


def answers_kept_and_last_id(store: Engine) -> tuple[int, int]:
    """How many answers the store keeps, and the highest mutation id it has processed."""
    with store.connect() as conn:
        kept = conn.execute(select(func.count()).select_from(T_RESULTS)).scalar_one()
        last = conn.execute(select(func.max(T_WORKSTATIONS.c.last_mutation_id))).scalar_one()
    return int(kept), int(last)


class Answers:
    """Every frame a raw connection receives, in order, read by a task."""

    def __init__(self, ws: ClientConnection) -> None:
        self.ws = ws
        self.frames: list[Frame] = []
        self.arrived = asyncio.Event()
        self.task = asyncio.get_running_loop().create_task(self._read())

    async def _read(self) -> None:
        with contextlib.suppress(ConnectionClosed):
            async for raw in self.ws:
                self.frames.append(json.loads(raw))
                self.arrived.set()

    def of(self, *types: str) -> list[Frame]:
        return [f for f in self.frames if f["type"] in types]

    async def until(self, check: Callable[[], bool]) -> None:
        async with asyncio.timeout(TIMEOUT):
            while not check():
                self.arrived.clear()
                await self.arrived.wait()


# ---- 4. fair share, bounded queues, rate limits, storage quotas -----------------------------


def test_a_colleague_is_not_put_behind_a_flooding_agents_backlog(store: Engine) -> None:
    async def scenario() -> None:
        async with writer_with_workstations(store, {"d-ada": "a-ada", "d-lin": "a-lin"}) as writer:
            flood = [
                writer.enqueue(submission(store, "a-ada", "d-ada", i, "message.add", note()))
                for i in range(1, MAX_BATCH + 101)
            ]
            colleague = writer.enqueue(
                submission(store, "a-lin", "d-lin", 1, "message.add", note())
            )
            assert (await colleague)["type"] == "ack"
            # Answered with the first batch, while most of the flood before it still waits.
            assert sum(f.done() for f in flood) < MAX_BATCH
            assert all(a["type"] == "ack" for a in await asyncio.gather(*flood))

    asyncio.run(scenario())


def test_a_flooding_connection_is_not_read_while_its_agent_queue_is_full(store: Engine) -> None:
    flood = QUEUED_PER_AGENT + 100

    async def scenario() -> None:
        async with (
            running_server(store, quotas=UNLIMITED) as server,
            synced(server, "ada@example.com") as ws,
            synced(server, "lin@example.com") as colleague,
        ):
            answers = Answers(ws)
            async with writer_held(server) as release:
                for i in range(1, flood + 1):
                    await send(ws, mutation_frame(i, "message.add", note()))
                await send(ws, {"type": "search", "request_id": "r-1", "query": "Ticket"})

                async def full() -> bool:
                    return server.writer.queued("a-ada") >= QUEUED_PER_AGENT or bool(answers.frames)

                await eventually(full)
                # A colleague is served meanwhile (and the server's loop has gone round).
                await send(colleague, {"type": "search", "request_id": "r", "query": "1"})
                await next_frame(colleague, "search_results")
                # The flood stopped at the bound; the search behind it is not even read.
                assert server.writer.queued("a-ada") == QUEUED_PER_AGENT
                assert answers.of("search_results") == []
                release.set()
            await answers.until(lambda: len(answers.of("ack", "search_results")) > flood)
            answers.task.cancel()

    asyncio.run(scenario())


def test_over_its_rate_an_agent_is_refused_in_order_transiently_and_nothing_is_kept(
    store: Engine,
) -> None:
    async def scenario() -> None:
        quotas = AgentQuotas(per_s=0.01, burst=3)
        async with (
            running_server(store, quotas=quotas) as server,
            synced(server, "ada@example.com") as ws,
        ):
            answers = Answers(ws)
            for i in range(1, 7):
                await send(ws, mutation_frame(i, "message.add", note()))
            await answers.until(lambda: len(answers.of("ack", "reject")) == 4)
            got = answers.of("ack", "reject")
            assert [a["mutation_id"] for a in got] == [1, 2, 3, 4]  # the ack before the refusal
            assert [a["type"] for a in got[:3]] == ["ack"] * 3
            refused = got[3]
            assert (refused["code"], refused["transient"]) == ("rate_limited", True)
            assert refused["details"]["retry_after"] == 100  # one mutation at 0.01/s
            # Nothing more is read from this connection until then: 5 and 6 wait unread.
            await send(ws, {"type": "search", "request_id": "r", "query": "1"})
            async with synced(server, "lin@example.com") as colleague:
                await send(colleague, {"type": "search", "request_id": "r", "query": "1"})
                await next_frame(colleague, "search_results")
            assert answers.of("ack", "reject", "search_results") == got
            answers.task.cancel()
        assert answers_kept_and_last_id(store) == (3, 3)

    asyncio.run(scenario())


def test_a_workstation_over_its_rate_backs_off_and_loses_nothing(
    store: Engine, tmp_path: Path
) -> None:
    notes = 14

    async def scenario() -> None:
        quotas = AgentQuotas(per_s=8, burst=6)
        async with running_server(store, quotas=quotas) as server:
            engine = SyncEngine(tmp_path / "ada.cache.db", server.url)
            await engine.open()
            await engine.login("ada@example.com", PASSWORD)
            engine.start()
            try:
                await engine.wait_online(TIMEOUT)
                for i in range(notes):
                    await engine.reply("t-1", f"steady note {i}", kind="note")
                await engine.wait_drained(TIMEOUT)
                assert await engine.refusals() == []
            finally:
                await engine.close()
            assert quotas.refused > 0, "the rate limit was never reached: the test proves nothing"
        with store.connect() as conn:
            bodies = conn.execute(
                select(T_MESSAGES.c.body).where(T_MESSAGES.c.body.like("steady note %"))
            ).scalars()
            assert sorted(bodies) == sorted(f"steady note {i}" for i in range(notes))

    asyncio.run(scenario())


def test_refusals_decided_by_the_frame_alone_are_not_stored(store: Engine) -> None:
    async def scenario() -> None:
        async with running_server(store) as server, open_ws(server.url + SYNC_PATH) as ws:
            await sign_in(ws, "ada@example.com")
            await say_hello(ws)
            answers = Answers(ws)
            sent = [
                mutation_frame(1, "no.such.mutation", {}),
                mutation_frame(2, "message.add", {"message": {"id": "m-x"}}),
                mutation_frame(1, "no.such.mutation", {}),  # a replay
            ]
            for frame in sent:
                await send(ws, frame)
            await answers.until(lambda: len(answers.of("reject")) == 3)
            first, second, again = answers.of("reject")
            assert first["code"] == second["code"] == "invalid_mutation"
            assert again == {**first, "replayed": True}
            answers.task.cancel()
        assert answers_kept_and_last_id(store) == (0, 2)

    asyncio.run(scenario())


def test_drafts_are_limited_in_number_and_size_per_agent(
    store: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(drafts, "DRAFTS_PER_AGENT", 2)
    monkeypatch.setattr(drafts, "DRAFT_CHARS_PER_AGENT", 100)

    def save(ticket_id: str, body: str) -> Frame:
        args = {"ticket_id": ticket_id, "body": body}
        return submit_now(store, submission(store, "a-ada", "d-ada", 0, "draft.save", args))

    with store.begin() as conn:
        register_workstation(conn, "d-ada", "a-ada", 0)
    assert save("t-1", "a" * 40)["type"] == "ack"
    assert save("t-2", "b" * 40)["type"] == "ack"
    third = save("t-5", "c")
    assert (third["code"], third["type"]) == ("quota_exceeded", "reject")
    assert save("t-1", "a" * 60)["type"] == "ack"  # replacing one: 60 + 40 characters
    too_long = save("t-2", "b" * 41)
    assert too_long["code"] == "quota_exceeded"


# ---- 5. sign-ins never hold up reads ---------------------------------------------------------


def test_reads_are_served_while_password_checks_are_stuck_and_extra_sign_ins_are_refused(
    store: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    hashing = threading.Event()

    def slow_verify(password_hash: str, password: str) -> bool:
        hashing.wait(30)  # argon2 under a flood: as slow as it gets
        return False

    async def scenario() -> None:
        async with running_server(store) as server, synced(server, "lin@example.com") as colleague:
            monkeypatch.setattr(auth, "_verify", slow_verify)
            flood: list[ClientConnection] = []
            async with contextlib.AsyncExitStack() as stack:
                for _ in range(20):
                    ws = await stack.enter_async_context(open_ws(server.url + SYNC_PATH))
                    await send(ws, {"type": "login", "email": "x@y.z", "password": "nope"})
                    flood.append(ws)
                try:
                    # More sign-ins than may wait: the last ones are told at once.
                    busy = [
                        json.loads(await asyncio.wait_for(ws.recv(), TIMEOUT)) for ws in flood[-2:]
                    ]
                    for answer in busy:
                        assert answer["code"] == "server_busy", answer
                        assert answer["details"]["retry_after"] >= 1
                    # The readers are free: a search is answered while hashing is stuck.
                    await send(colleague, {"type": "search", "request_id": "r", "query": "1"})
                    while True:
                        frame = json.loads(await asyncio.wait_for(colleague.recv(), 5))
                        if frame["type"] == "search_results":
                            break
                finally:
                    hashing.set()
                for ws in flood[:-2]:
                    answer = json.loads(await asyncio.wait_for(ws.recv(), TIMEOUT))
                    assert answer["code"] == "invalid_credentials", answer

    asyncio.run(scenario())


# ---- 6. a disable, or a change of role or groups, takes effect at once ---------------------


def disable(agent_id: str) -> tuple[str, dict[str, Any]]:
    return "agent.update", {"agent_id": agent_id, "changes": {"active": False}}


def test_mutations_behind_a_disable_in_the_same_batch_are_not_applied(store: Engine) -> None:
    async def scenario() -> None:
        devices = {"d-root": "a-root", "d-ada": "a-ada"}
        async with writer_with_workstations(store, devices) as writer:
            before = [writer.enqueue(submission(store, "a-ada", "d-ada", 1, "message.add", note()))]
            admin = writer.enqueue(submission(store, "a-root", "d-root", 1, *disable("a-ada")))
            after = [
                writer.enqueue(submission(store, "a-ada", "d-ada", i, "message.add", note()))
                for i in range(2, 12)
            ]
            assert (await before[0])["type"] == "ack"
            assert (await admin)["type"] == "ack"
            for answer in await asyncio.gather(*after):
                assert (answer["code"], answer["transient"]) == ("agent_disabled", True)
        with store.connect() as conn:
            written = select(func.count()).where(T_MESSAGES.c.author_agent_id == "a-ada")
            assert conn.execute(written.select_from(T_MESSAGES)).scalar() == 1
            assert (
                conn.execute(
                    select(func.max(T_WORKSTATIONS.c.last_mutation_id)).where(
                        T_WORKSTATIONS.c.id == "d-ada"
                    )
                ).scalar()
                == 1
            )

    asyncio.run(scenario())


def demote(agent_id: str) -> tuple[str, dict[str, Any]]:
    return "agent.update", {"agent_id": agent_id, "changes": {"role": "agent"}}


def new_group(group_id: str) -> tuple[str, dict[str, Any]]:
    return "group.create", {"group_id": group_id, "name": group_id}


def test_an_admin_demoted_earlier_in_the_batch_cannot_use_the_rights_they_lost(
    store: Engine,
) -> None:
    """The connection captured root as an admin; the command line demotes them in the same
    batch as their own queued account changes, which must be decided with the new role."""

    async def scenario() -> None:
        async with writer_with_workstations(store, {"d-root": "a-root"}) as writer:
            before = writer.enqueue(submission(store, "a-root", "d-root", 1, *new_group("g-a")))
            demoted = writer.enqueue(Submission(COMMAND_LINE, *demote("a-root")))
            after = [
                writer.enqueue(submission(store, "a-root", "d-root", i, *new_group(f"g-{i}")))
                for i in range(2, 5)
            ]
            assert (await before)["type"] == "ack"
            assert (await demoted)["type"] == "ack"
            for answer in await asyncio.gather(*after):
                assert (answer["code"], answer["transient"]) == ("access_changed", True)
        with store.connect() as conn:
            groups = set(conn.execute(select(T_GROUPS.c.id)).scalars())
            assert groups == {"g-care", "g-billing", "g-a"}
            last = select(T_WORKSTATIONS.c.last_mutation_id).where(T_WORKSTATIONS.c.id == "d-root")
            assert conn.execute(last).scalar() == 1  # the refused ids are free for the resend

    asyncio.run(scenario())


def test_an_agent_removed_from_a_group_by_another_process_is_refused_then_decided_anew(
    store: Engine,
) -> None:
    """ada's connection captured her groups (care); the command line, another process,
    moves her to billing.  Her note on a care ticket, queued with the old rights, is not
    applied (the message.add fast path included); sent again with her rights as they are
    now, it is refused for good, and a note on a billing ticket is applied."""

    async def scenario() -> None:
        async with writer_with_workstations(store, {"d-ada": "a-ada"}) as writer:
            stale = submission(store, "a-ada", "d-ada", 1, "message.add", note("t-2"))
            moved = submit_now(
                store,
                Submission(
                    COMMAND_LINE,
                    "agent.update",
                    {"agent_id": "a-ada", "changes": {"group_ids": ["g-billing"]}},
                ),
            )
            assert moved["type"] == "ack"
            refused = await writer.enqueue(stale)
            assert (refused["code"], refused["transient"]) == ("access_changed", True)
            # The workstation reconnects (its connection now carries her new rights) and
            # sends the same mutation again.
            again = submission(store, "a-ada", "d-ada", 1, "message.add", stale.args)
            billing = submission(store, "a-ada", "d-ada", 2, "message.add", note("t-3"))
            answers = await asyncio.gather(writer.enqueue(again), writer.enqueue(billing))
            assert [a.get("code", a["type"]) for a in answers] == ["not_found", "ack"]
        with store.connect() as conn:
            written = select(T_MESSAGES.c.ticket_id).where(T_MESSAGES.c.author_agent_id == "a-ada")
            assert list(conn.execute(written).scalars()) == ["t-3"]

    asyncio.run(scenario())


def test_a_workstation_is_told_its_rights_changed_and_its_mutation_waits_for_the_new_ones(
    store: Engine,
) -> None:
    """Over the wire: root removes ada from care while her note on a care ticket waits in
    the same batch.  She gets a transient access_changed, her connection is closed with
    4009, and the note sent again on a new connection is decided with her new rights."""

    async def scenario() -> None:
        async with running_server(store, quotas=UNLIMITED) as server:
            async with (
                synced(server, "root@example.com") as root,
                synced(server, "ada@example.com") as ada,
            ):
                move = {"agent_id": "a-ada", "changes": {"group_ids": ["g-billing"]}}
                note_args = note("t-2")

                async def queued(writer: str, count: int) -> bool:
                    return server.writer.queued(writer) == count

                async with writer_held(server):
                    # A batch taken first waits behind the hold: the next one then holds
                    # root's change and ada's note, in this order.
                    plug = server.writer.enqueue(Submission(SYSTEM, *new_group("g-plug")))
                    await eventually(partial(queued, "system", 0), TIMEOUT)
                    await send(root, mutation_frame(1, "agent.update", move))
                    await eventually(partial(queued, "a-root", 1), TIMEOUT)
                    await send(ada, mutation_frame(1, "message.add", note_args))
                    await eventually(partial(queued, "a-ada", 1), TIMEOUT)
                assert (await plug)["type"] == "ack"
                assert (await next_frame(root, "ack", "reject"))["type"] == "ack"
                refused = await next_frame(ada, "ack", "reject")
                assert (refused["code"], refused["transient"]) == ("access_changed", True)
                with pytest.raises(ConnectionClosed):
                    await next_frame(ada)
                assert ada.close_code == protocol.CloseCode.ACCESS_CHANGED
            async with synced(server, "ada@example.com") as ada:
                await send(ada, mutation_frame(1, "message.add", note_args))
                answer = await next_frame(ada, "ack", "reject")
                assert (answer["code"], answer.get("transient")) == ("not_found", None)
        with store.connect() as conn:
            written = select(func.count()).where(T_MESSAGES.c.author_agent_id == "a-ada")
            assert conn.execute(written.select_from(T_MESSAGES)).scalar() == 0

    asyncio.run(scenario())


def test_a_command_line_write_survives_a_server_commit_between_its_read_and_write(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """What failed in the attack run: the command line's transaction read the agent, the
    server committed a batch, and the write then failed (SQLite cannot upgrade a snapshot
    that is no longer the newest), answered as "the server could not apply this change"."""
    path = tmp_path / "server.db"
    store = make_store(f"sqlite:///{path}")
    server_committed: list[bool] = []
    validated = protocol.validated_changes

    def server_commits_meanwhile(*args: Any) -> Any:
        db = sqlite3.connect(path, timeout=0, isolation_level=None)
        try:
            db.execute("BEGIN IMMEDIATE")
            db.execute("UPDATE agents SET name = name || '.' WHERE id = 'a-lin'")
            db.execute("COMMIT")
            server_committed.append(True)
        except sqlite3.OperationalError:
            server_committed.append(False)  # the command line holds the write lock
        finally:
            db.close()
        return validated(*args)

    monkeypatch.setattr(protocol, "validated_changes", server_commits_meanwhile)
    try:
        answer = submit_now(store, Submission(COMMAND_LINE, *disable("a-ada")))
    finally:
        store.dispose()
    assert answer["type"] == "ack", answer
    assert server_committed == [False]


async def _write_flat_out(ws: ClientConnection, ticket_id: str, stop: asyncio.Event) -> int:
    """Pipeline notes (64 unanswered at most) until ``stop`` or the connection ends; how many
    were acknowledged."""
    window = asyncio.Semaphore(64)
    acked = 0

    async def receive() -> None:
        nonlocal acked
        try:
            async for raw in ws:
                frame = json.loads(raw)
                if frame["type"] in ("ack", "reject"):
                    acked += frame["type"] == "ack"
                    window.release()
        finally:
            window.release()  # the sender may be waiting for room

    receiver = asyncio.get_running_loop().create_task(receive())
    with contextlib.suppress(ConnectionClosed):
        mutation_id = 0
        while not stop.is_set() and not receiver.done():
            await window.acquire()
            mutation_id += 1
            await ws.send(encode(mutation_frame(mutation_id, "message.add", note(ticket_id))))
    await ws.close()
    with contextlib.suppress(ConnectionClosed):
        await asyncio.wait_for(receiver, TIMEOUT)
    return acked


# Three agents write flat out; the command line disables the first of them meanwhile.
WRITERS = {"ada@example.com": "t-1", "lin@example.com": "t-2", "bob@example.com": "t-3"}


def _disable_under_load(url: str, store: Engine) -> None:
    async def scenario() -> None:
        async with contextlib.AsyncExitStack() as stack:
            server = await stack.enter_async_context(running_server(store, quotas=UNLIMITED))
            stop = asyncio.Event()
            writing = []
            for email, ticket_id in WRITERS.items():
                ws = await stack.enter_async_context(synced(server, email))
                writing.append(asyncio.create_task(_write_flat_out(ws, ticket_id, stop)))

            async def flat_out() -> bool:
                return server.hub.head > 3_000  # well under way

            await eventually(flat_out, TIMEOUT)
            done = await asyncio.to_thread(
                run_server_command, ["--db", url, "agent", "disable", "ada@example.com"]
            )
            stop.set()
            acked = await asyncio.gather(*writing)
            assert done.returncode == 0, done.stderr
            assert all(acked)
        with store.connect() as conn:
            disabled_at, last_note = conn.execute(
                select(
                    func.max(T_LOG.c.seq).filter(T_LOG.c.entity_id == "a-ada"),
                    func.max(T_LOG.c.seq).filter(
                        T_LOG.c.entity == "message", T_LOG.c.actor_id == "a-ada"
                    ),
                )
            ).one()
        assert last_note < disabled_at, "a note of ada's was applied after her disable"

    asyncio.run(scenario())


def test_the_command_line_disables_an_agent_writing_flat_out_on_sqlite(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'server.db'}"
    store = make_store(url)
    try:
        _disable_under_load(url, store)
    finally:
        store.dispose()


def test_the_command_line_disables_an_agent_writing_flat_out_on_postgresql(pg_url: str) -> None:
    store = make_store(pg_url)
    try:
        _disable_under_load(pg_url, store)
    finally:
        store.dispose()
