"""Live fan-out by classes of connections (hub.py, recipients.py) against `replication.present`.

The hub computes one frame per class of connections that see the same, not one per
connection.  Whatever the classes, each connection must receive exactly what `present` gives
its viewer for every change-log row, and connections of one class the very same bytes.  Raw
WebSocket clients record every frame as it arrived; the expectation is computed from the store.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sqlalchemy import Engine
from websockets.asyncio.client import ClientConnection, connect

from app.server import replication
from app.server.app import SwitchboardServer
from app.sync.protocol import PROTOCOL_MAX, PROTOCOL_MIN, SYNC_PATH, encode
from tests.world import PASSWORD, eventually, make_store, running_server

TIMEOUT = 10.0
Frame = dict[str, Any]


@dataclass
class Client:
    """One signed-in, caught-up raw connection and every frame it received after catching up."""

    email: str
    ws: ClientConnection
    cursor: int
    frames: list[str] = field(default_factory=list)
    last_mutation: int = 0

    async def record(self) -> None:
        async for message in self.ws:
            assert isinstance(message, str)
            self.frames.append(message)

    async def mutate(self, name: str, args: dict[str, Any]) -> int:
        self.last_mutation += 1
        frame = {"type": "mutation", "mutation_id": self.last_mutation, "name": name, "args": args}
        await self.ws.send(encode(frame))
        return self.last_mutation

    def parsed(self, kind: str) -> list[Frame]:
        found = [json.loads(f) for f in self.frames]
        return [f for f in found if f["type"] == kind]

    def changes_frames(self) -> list[str]:
        """The ``changes`` frames exactly as received (the hub frames them once per class)."""
        return [f for f in self.frames if json.loads(f)["type"] == "changes"]

    def answer(self, mutation_id: int) -> Frame | None:
        for frame in self.parsed("ack") + self.parsed("reject"):
            if frame["mutation_id"] == mutation_id:
                return frame
        return None


async def _receive(ws: ClientConnection, wanted: str) -> Frame:
    while True:
        frame: Frame = json.loads(await asyncio.wait_for(ws.recv(), TIMEOUT))
        assert frame["type"] != "error", frame
        if frame["type"] == wanted:
            return frame


async def open_client(
    stack: contextlib.AsyncExitStack[bool | None],
    server: SwitchboardServer,
    email: str,
    device: str,
) -> Client:
    """A connection signed in as ``email`` on ``device``, bootstrapped and caught up."""
    ws = await stack.enter_async_context(
        connect(server.url + SYNC_PATH, compression=None, max_size=None, open_timeout=TIMEOUT)
    )
    await ws.send(encode({"type": "login", "email": email, "password": PASSWORD}))
    await _receive(ws, "login_ok")
    hello = {
        "type": "hello",
        "protocol": {"min": PROTOCOL_MIN, "max": PROTOCOL_MAX},
        "device_id": device,
        "cursor": 0,
    }
    await ws.send(encode(hello))
    caught_up = await _receive(ws, "caught_up")
    return Client(email, ws, caught_up["cursor"])


async def answered(client: Client, mutation_id: int) -> Frame:
    async def check() -> Frame | None:
        return client.answer(mutation_id)

    answer = await eventually(check, TIMEOUT)
    assert answer is not None
    assert answer["type"] == "ack", answer
    return answer


def expected_changes(store: Engine, email: str, after: int) -> list[dict[str, Any]]:
    """What `present` gives this agent for every change-log row past ``after``."""
    with store.connect() as conn:
        agent_id = {
            "ada": "a-ada",
            "bob": "a-bob",
            "lin": "a-lin",
            "sam": "a-sam",
            "root": "a-root",
        }
        viewer = replication.load_viewer(conn, agent_id[email.split("@")[0]])
        assert viewer is not None
        rows = replication.read_log(conn, after, limit=10_000)
    return [change for row in rows if (change := replication.present(row, viewer)) is not None]


def received_changes(client: Client) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    for frame in client.parsed("changes"):
        out.extend(frame["changes"])
    return out


def test_each_connection_gets_exactly_what_present_gives_its_viewer(tmp_path: Path) -> None:
    store = make_store(f"sqlite:///{tmp_path / 'server.db'}")

    async def scenario() -> None:
        async with running_server(store) as server, contextlib.AsyncExitStack() as stack:
            who = [
                ("ada@example.com", "d-ada-1"),
                ("ada@example.com", "d-ada-2"),
                ("bob@example.com", "d-bob"),
                ("lin@example.com", "d-lin"),
                ("sam@example.com", "d-sam"),
                ("root@example.com", "d-root"),
            ]
            clients = [await open_client(stack, server, email, dev) for email, dev in who]
            ada1, ada2, bob, lin, sam, root = clients
            recorders = [asyncio.create_task(c.record()) for c in clients]
            start = ada1.cursor
            assert all(c.cursor == start for c in clients)

            # Round 1, pipelined from several workstations so that batches mix groups.
            sent = [
                (ada1, await ada1.mutate("message.add", note("m-f1", "t-1"))),
                (ada1, await ada1.mutate("draft.save", {"ticket_id": "t-1", "body": "ada's"})),
                (bob, await bob.mutate("message.add", note("m-f2", "t-3"))),
                (bob, await bob.mutate("draft.save", {"ticket_id": "t-4", "body": "bob's"})),
                (lin, await lin.mutate("message.add", note("m-f3", "t-5"))),
                # care ticket assigned to bob: bob gains it
                (lin, await lin.mutate("ticket.update", assign("t-2", 2, assignee_id="a-bob"))),
                # ungrouped to billing: bob and lin gain it, ada never sees it
                (sam, await sam.mutate("ticket.update", assign("t-6", 2, group_id="g-billing"))),
                (sam, await sam.mutate("message.add", note("m-f4", "t-6"))),
            ]
            for client, mutation_id in sent:
                await answered(client, mutation_id)
            # Round 2: tickets change hands between the groups and to an assignee.
            sent = [
                # billing to care: bob loses it (a delete), ada gains it
                (sam, await sam.mutate("ticket.update", assign("t-4", 2, group_id="g-care"))),
                # billing ticket assigned to ada: ada gains it
                (bob, await bob.mutate("ticket.update", assign("t-3", 3, assignee_id="a-ada"))),
                (lin, await lin.mutate("draft.save", {"ticket_id": "t-6", "body": "lin's"})),
            ]
            for client, mutation_id in sent:
                await answered(client, mutation_id)
            # Round 3: ada on the ticket she gained by assignment; unassigned again, she loses it.
            await answered(ada2, await ada2.mutate("message.add", note("m-f5", "t-3")))
            unassign = assign("t-3", 5, assignee_id=None)
            unassigned = await answered(bob, await bob.mutate("ticket.update", unassign))
            # So far no row named the supervisor or the admin: one class, the same bytes.
            for client in (sam, root):

                async def has_unassign(c: Client = client) -> bool:
                    return any(ch["seq"] == unassigned["seq"] for ch in received_changes(c))

                await eventually(has_unassign, TIMEOUT)
            assert sam.changes_frames() == root.changes_frames()
            shared = len(root.changes_frames())
            # Now one does (a draft is its owner's alone, whatever the role): two classes.
            await answered(sam, await sam.mutate("draft.save", {"ticket_id": "t-6", "body": "s"}))
            # Last, a change everyone sees: once it has arrived, everything before it has.
            last = await answered(
                sam,
                await sam.mutate(
                    "customer.update", {"customer_id": "c-1", "changes": {"notes": "VIP"}}
                ),
            )

            for client in clients:

                async def has_last(c: Client = client) -> bool:
                    return any(ch["seq"] == last["seq"] for ch in received_changes(c))

                await eventually(has_last, TIMEOUT)
            for task in recorders:
                task.cancel()
            await asyncio.gather(*recorders, return_exceptions=True)

            for client in clients:
                want = expected_changes(store, client.email, start)
                assert received_changes(client) == want, client.email
                cursors = [f["cursor"] for f in client.parsed("changes")]
                assert cursors == sorted(cursors), client.email
            # Same class, same bytes: two workstations of one agent.
            assert ada1.changes_frames() == ada2.changes_frames()
            assert sam.changes_frames()[:shared] == root.changes_frames()[:shared]
            assert sam.changes_frames()[shared:] != root.changes_frames()[shared:]
            assert ada1.changes_frames() != lin.changes_frames()

            # The expectation itself covers what the classes are about.
            def seen(c: Client) -> list[tuple[str, str, str, bool]]:
                return [
                    (ch["entity"], ch["id"], ch["op"], bool(ch.get("gained")))
                    for ch in received_changes(c)
                ]

            assert ("ticket", "t-2", "upsert", True) in seen(bob)
            assert ("ticket", "t-6", "upsert", True) in seen(bob)
            assert ("ticket", "t-4", "delete", False) in seen(bob)
            assert ("ticket", "t-4", "upsert", True) in seen(ada1)
            assert ("ticket", "t-3", "upsert", True) in seen(ada1)
            assert ("ticket", "t-3", "delete", False) in seen(ada1)
            assert not any(i in ("t-6", "m-f2", "m-f4") for _, i, _, _ in seen(ada1))
            drafts = {c.email: {i for e, i, _, _ in seen(c) if e == "draft"} for c in clients}
            assert len(drafts["ada@example.com"]) == len(drafts["bob@example.com"]) == 1
            assert len(drafts["lin@example.com"]) == 1
            assert len(drafts["sam@example.com"]) == 1
            assert drafts["root@example.com"] == set()
            assert len(received_changes(sam)) == len(expected_changes(store, "sam@", start))

    try:
        asyncio.run(scenario())
    finally:
        store.dispose()


def note(message_id: str, ticket_id: str) -> dict[str, Any]:
    return {"message": {"id": message_id, "ticket_id": ticket_id, "kind": "note", "body": "n"}}


def assign(ticket_id: str, seen: int, **changes: Any) -> dict[str, Any]:
    return {"ticket_id": ticket_id, "changes": changes, "seen_version": seen}
