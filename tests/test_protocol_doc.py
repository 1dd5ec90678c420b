"""``docs/protocol.md`` is enough to write a client: this one was written from it alone.

The client below speaks to a real server with nothing but ``websockets`` and ``json`` (and
``urllib`` for ``GET /healthz``).  It imports nothing from ``app.sync`` or ``app.models``; the
last test checks that.  ``tests.world`` is used only to seed a store and start the server.

It follows the document step by step: sign in on an anonymous connection, reconnect with the
bearer token, ``hello`` with a version window, apply the bootstrap and delete what it did not
mention, apply catch-up and live pages together with their cursor, send mutations and match
their answers by id, replay one, meet a conflict, and resume from the cursor without a
bootstrap.  Nothing sleeps: every wait is for a frame, with a timeout.
"""

from __future__ import annotations

import ast
import asyncio
import json
import re
import urllib.error
import urllib.request
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed, InvalidStatus

from tests.world import AGENTS, PASSWORD, TICKETS, served_world

Frame = dict[str, Any]
PROTOCOL = {"min": 1, "max": 1}
TIMEOUT = 10.0
MAX_FRAME_BYTES = 1024 * 1024
# Section 8.3: the order in which a bootstrap sends the entity kinds.
BOOTSTRAP_ORDER = [
    "group",
    "agent",
    "organization",
    "customer",
    "ticket",
    "message",
    "call",
    "canned_response",
    "disposition",
    "draft",
    "attachment",
    "time_entry",
    "mention",
    "setting",
]


# ---- the minimal client ---------------------------------------------------------------------


class Replica:
    """The local copy: entity -> id -> row, kept as section 8.1 says."""

    def __init__(self) -> None:
        self.rows: dict[str, dict[str, Frame]] = {}

    def apply(self, changes: list[Frame]) -> None:
        for change in changes:
            table = self.rows.setdefault(change["entity"], {})
            if change["op"] == "upsert":
                table[change["id"]] = change["data"]  # a full snapshot: replace, never merge
                continue
            table.pop(change["id"], None)
            if change["entity"] == "ticket":  # its messages are not sent one by one
                messages = self.rows.get("message", {})
                for message_id in [
                    m for m, row in messages.items() if row["ticket_id"] == change["id"]
                ]:
                    del messages[message_id]

    def keep_only(self, seen: set[tuple[str, str]]) -> None:
        for entity, table in self.rows.items():
            for entity_id in [i for i in table if (entity, i) not in seen]:
                del table[entity_id]

    def ids(self, entity: str) -> set[str]:
        return set(self.rows.get(entity, {}))

    def get(self, entity: str, entity_id: str) -> Frame:
        return self.rows[entity][entity_id]


class Client:
    """One connection, its replica and its cursor; ``recv`` applies what it receives."""

    def __init__(self, ws: ClientConnection, replica: Replica, cursor: int = 0) -> None:
        self.ws = ws
        self.replica = replica
        self.cursor = cursor
        self.access_version = 0
        self.welcome: Frame = {}
        self.bootstrap_pages: list[Frame] = []
        self._seen: set[tuple[str, str]] | None = None

    async def send(self, frame: Frame) -> None:
        await self.ws.send(json.dumps(frame))

    async def recv(self) -> Frame:
        raw = await asyncio.wait_for(self.ws.recv(), TIMEOUT)
        assert isinstance(raw, str), "frames are JSON text frames"
        frame = json.loads(raw)
        assert isinstance(frame, dict)
        assert isinstance(frame.get("type"), str)
        self._process(frame)
        return frame

    def _process(self, frame: Frame) -> None:
        kind = frame["type"]
        if kind == "welcome":
            self.welcome = frame
            self._seen = set() if frame["bootstrap"] else None
        elif kind == "changes" and frame.get("bootstrap"):
            assert self._seen is not None, "bootstrap pages come only after a bootstrapping welcome"
            self.bootstrap_pages.append(frame)
            self.replica.apply(frame["changes"])
            self._seen.update((ch["entity"], ch["id"]) for ch in frame["changes"])
        elif kind == "changes":
            # One transaction in a real client: the page and the cursor together.
            self.replica.apply(frame["changes"])
            self.cursor = max(self.cursor, frame["cursor"])
        elif kind == "bootstrap_done":
            assert self._seen is not None
            self.replica.keep_only(self._seen)
            self.cursor = frame["cursor"]  # plain assignment (section 8.3)
            self.access_version = self.welcome["access_version"]
            self._seen = None
        elif kind == "caught_up":
            self.cursor = max(self.cursor, frame["cursor"])

    async def until(self, wanted: Callable[[Frame], bool]) -> tuple[Frame, list[Frame]]:
        """The next frame ``wanted`` accepts, and the frames received before it."""
        before: list[Frame] = []
        while True:
            frame = await self.recv()
            if wanted(frame):
                return frame, before
            before.append(frame)

    async def hello(self, device_id: str, *, acked_through: int = 0) -> list[Frame]:
        """Say hello and read up to ``caught_up``; returns every frame from ``welcome`` on."""
        await self.send(
            {
                "type": "hello",
                "protocol": PROTOCOL,
                "device_id": device_id,
                "cursor": self.cursor,
                "access_version": self.access_version,
                "acked_through": acked_through,
                "client": "protocol-doc-test/1",
            }
        )
        caught_up, before = await self.until(lambda f: f["type"] == "caught_up")
        return [*before, caught_up]

    async def mutate(self, mutation_id: int, name: str, args: Frame) -> Frame:
        """Send one mutation and return its answer (other frames are applied meanwhile)."""
        await self.send(
            {"type": "mutation", "mutation_id": mutation_id, "name": name, "args": args}
        )
        answer, _ = await self.until(
            lambda f: f["type"] in ("ack", "reject") and f["mutation_id"] == mutation_id
        )
        return answer

    async def reach(self, seq: int) -> None:
        """Read (and apply) frames until the cursor covers ``seq``."""
        while self.cursor < seq:
            await self.recv()

    async def closed(self) -> int | None:
        """Read until the server closes the connection; its close code."""
        try:
            while True:
                await self.recv()
        except ConnectionClosed:
            return self.ws.close_code


def open_sync(url: str, token: str | None = None) -> connect:
    """``connect`` as section 2.2 says: bearer header (never in the URL), large frames OK."""
    headers = {"Authorization": f"Bearer {token}"} if token is not None else None
    return connect(
        url, additional_headers=headers, max_size=None, compression=None, open_timeout=TIMEOUT
    )


async def sign_in(url: str, email: str) -> Frame:
    async with open_sync(url) as ws:
        await ws.send(json.dumps({"type": "login", "email": email, "password": PASSWORD}))
        answer = json.loads(await asyncio.wait_for(ws.recv(), TIMEOUT))
    assert isinstance(answer, dict)
    assert answer["type"] == "login_ok", answer
    assert isinstance(answer["token"], str)
    assert answer["token"]
    return answer


async def refused_handshake(url: str, headers: dict[str, str]) -> tuple[int, Frame]:
    """The HTTP status and JSON body of a handshake the server must refuse."""
    try:
        async with connect(url, additional_headers=headers, open_timeout=TIMEOUT):
            pass
    except InvalidStatus as exc:
        body = json.loads(bytes(exc.response.body or b"{}"))
        assert isinstance(body, dict)
        return exc.response.status_code, body
    raise AssertionError("the handshake was accepted")


def http_get(url: str) -> tuple[int, str, Frame]:
    try:
        with urllib.request.urlopen(url, timeout=TIMEOUT) as response:
            return response.status, response.headers["Content-Type"], json.loads(response.read())
    except urllib.error.HTTPError as err:
        with err:
            return err.code, err.headers["Content-Type"], json.loads(err.read())


async def healthz(server_url: str) -> Frame:
    status, content_type, body = await asyncio.to_thread(
        http_get, "http" + server_url.removeprefix("ws") + "/healthz"
    )
    assert (status, content_type) == (200, "application/json")
    assert body["status"] == "ok"
    assert isinstance(body["seq"], int)
    assert isinstance(body["connections"], int)
    return body


# ---- the documented session -----------------------------------------------------------------


def visible_tickets(email: str) -> set[str]:
    """Section 9 applied to the seeded world: the agent's groups, or assigned to them."""
    agent_id, _role, groups = AGENTS[email]
    return {
        tid
        for tid, (_n, group, assignee, _s) in TICKETS.items()
        if group in groups or assignee == agent_id
    }


def check_bootstrap(client: Client, frames: list[Frame]) -> None:
    welcome = client.welcome
    assert frames[0] is welcome
    assert welcome["bootstrap"] is True
    kinds = [f["type"] for f in frames]
    done = kinds.index("bootstrap_done")
    assert set(kinds[1:done]) == {"changes"}
    assert frames[done]["cursor"] == welcome["head"]
    assert kinds[-1] == "caught_up"
    order: list[str] = []
    ids: dict[str, list[str]] = {}
    for page in client.bootstrap_pages:
        assert page["bootstrap"] is True
        assert "cursor" not in page
        entities = {ch["entity"] for ch in page["changes"]}
        assert len(entities) == 1, "a page never mixes entity kinds"
        assert len(page["changes"]) <= 500
        for change in page["changes"]:
            assert "seq" not in change
            assert change["op"] == "upsert"
            assert change["data"]["id"] == change["id"]
            ids.setdefault(change["entity"], []).append(change["id"])
        order.extend(entities)
    assert order == sorted(order, key=BOOTSTRAP_ORDER.index)
    for entity, sent in ids.items():
        assert sent == sorted(sent), f"{entity} rows come in id order"


def test_a_client_written_from_the_document_syncs(tmp_path: Path) -> None:
    async def scenario() -> None:
        async with served_world(tmp_path) as world:
            sync_url = world.url + "/sync"
            assert (await healthz(world.url))["seq"] == 0

            # Section 3.1: sign in anonymously, get a token, reconnect with the bearer header.
            ada_login = await sign_in(sync_url, "ada@example.com")
            assert ada_login["agent_id"] == "a-ada"
            lin_login = await sign_in(sync_url, "lin@example.com")

            async with open_sync(sync_url, lin_login["token"]) as lin_ws:
                lin = Client(lin_ws, Replica())
                await lin.hello("doc-client-lin")
                assert lin.replica.ids("ticket") == visible_tickets("lin@example.com")

                ada_replica = Replica()
                async with open_sync(sync_url, ada_login["token"]) as ada_ws:
                    ada = Client(ada_ws, ada_replica)
                    frames = await ada.hello("doc-client-ada")
                    welcome = ada.welcome
                    assert welcome["protocol"] == 1
                    assert (welcome["agent_id"], welcome["role"]) == ("a-ada", "agent")
                    check_bootstrap(ada, frames)
                    assert ada.cursor == welcome["head"] == 0
                    assert ada.access_version == welcome["access_version"] >= 1

                    # Only what section 9 lets Ada see; aggregates on agents and customers.
                    assert ada.replica.ids("ticket") == visible_tickets("ada@example.com")
                    assert ada.replica.get("agent", "a-ada")["group_ids"] == ["g-care"]
                    assert {m["ticket_id"] for m in ada.replica.rows["message"].values()} == (
                        ada.replica.ids("ticket")
                    )
                    customer_id = ada.replica.get("ticket", "t-1")["customer_id"]
                    assert ada.replica.get("customer", customer_id)["identities"]

                    snapshot = await ada.recv()
                    assert snapshot["type"] == "presence_snapshot"
                    assert {a["agent_id"] for a in snapshot["agents"]} == {"a-lin"}

                    # Section 11: a public reply names the ticket version Ada saw.
                    seen = ada.replica.get("ticket", "t-1")["version"]
                    reply = {
                        "message": {
                            "id": "4a0c6f1e-8d2b-4c3a-9e5f-1b7d2c8e6a90",
                            "ticket_id": "t-1",
                            "kind": "reply",
                            "body": "We have shipped a replacement.",
                        },
                        "seen_version": seen,
                    }
                    ack = await ada.mutate(1, "message.add", reply)
                    assert ack["type"] == "ack", ack
                    assert ack["result"] == {
                        "ticket_id": "t-1",
                        "message_id": reply["message"]["id"],
                        "version": seen + 1,
                    }
                    assert isinstance(ack["seq"], int)
                    assert "replayed" not in ack

                    # Lin receives it live, as a changes frame with a cursor.
                    live, _ = await lin.until(
                        lambda f: (
                            f["type"] == "changes"
                            and any(ch["id"] == reply["message"]["id"] for ch in f["changes"])
                        )
                    )
                    change = next(ch for ch in live["changes"] if ch["entity"] == "message")
                    assert change["op"] == "upsert"
                    assert change["seq"] <= live["cursor"]
                    assert change["data"]["body"] == "We have shipped a replacement."
                    assert change["data"]["author_agent_id"] == "a-ada"
                    assert lin.replica.get("ticket", "t-1")["version"] == seen + 1
                    # Ada's own change comes back through the same stream.
                    await ada.reach(ack["seq"])
                    assert reply["message"]["id"] in ada.replica.ids("message")

                    # Section 11.4: the same mutation id again gets the same answer, replayed.
                    again = await ada.mutate(1, "message.add", reply)
                    assert again == {**ack, "replayed": True}

                    # Lin changes the ticket (from another device) ...
                    lin_ack = await lin.mutate(
                        1,
                        "ticket.update",
                        {
                            "ticket_id": "t-1",
                            "changes": {"priority": "high"},
                            "seen_version": lin.replica.get("ticket", "t-1")["version"],
                        },
                    )
                    assert lin_ack["type"] == "ack", lin_ack
                    assert lin_ack["result"]["changed"] == ["priority"]
                    await ada.reach(lin_ack["seq"])
                    now = ada.replica.get("ticket", "t-1")
                    assert (now["priority"], now["version"]) == ("high", seen + 2)

                    # ... so a priority change on the version before Lin's is a conflict
                    # (section 11.7: the same field, changed by someone else) ...
                    stale = await ada.mutate(
                        2,
                        "ticket.update",
                        {
                            "ticket_id": "t-1",
                            "changes": {"priority": "low"},
                            "seen_version": seen + 1,
                        },
                    )
                    assert stale["type"] == "reject", stale
                    assert stale["code"] == "conflict"
                    assert "transient" not in stale
                    assert stale["current"]["ticket"]["version"] == seen + 2
                    assert stale["current"]["fields"] == {"priority": "high"}
                    assert ada.replica.get("ticket", "t-1")["priority"] == "high"
                    # ... and a status change on that version is not: Lin left it alone.
                    kept = await ada.mutate(
                        3,
                        "ticket.update",
                        {
                            "ticket_id": "t-1",
                            "changes": {"status": "pending"},
                            "seen_version": seen + 1,
                        },
                    )
                    assert kept["type"] == "ack", kept
                    assert kept["result"]["changed"] == ["status"]
                    await ada.reach(kept["seq"])
                    now = ada.replica.get("ticket", "t-1")
                    assert (now["status"], now["priority"]) == ("pending", "high")
                    last_cursor = ada.cursor

                assert (await healthz(world.url))["seq"] == last_cursor

                # Section 8.4: reconnect with the cursor: catch-up, no bootstrap.
                async with open_sync(sync_url, ada_login["token"]) as ada_ws:
                    ada = Client(ada_ws, ada_replica, cursor=last_cursor)
                    ada.access_version = welcome["access_version"]
                    frames = await ada.hello("doc-client-ada", acked_through=2)
                    assert [f["type"] for f in frames] == ["welcome", "caught_up"]
                    assert ada.welcome["bootstrap"] is False
                    assert ada.welcome["head"] == last_cursor
                    assert frames[-1]["cursor"] == last_cursor == ada.cursor
                    assert ada.bootstrap_pages == []
                    assert (await ada.recv())["type"] == "presence_snapshot"

                    # acked_through=2 let the server forget answers 1 and 2.
                    pruned = await ada.mutate(1, "message.add", reply)
                    assert pruned == {
                        "type": "ack",
                        "mutation_id": 1,
                        "seq": None,
                        "result": {},
                        "replayed": True,
                    }

                    # Section 3.2: logout closes with 1000 and revokes the token.
                    await ada.send({"type": "logout"})
                    assert await ada.closed() == 1000

                status, body = await refused_handshake(
                    sync_url, {"Authorization": f"Bearer {ada_login['token']}"}
                )
                assert (status, body["code"]) == (401, "session_revoked")

    asyncio.run(scenario())


def test_http_side_and_refusals_are_as_documented(tmp_path: Path) -> None:
    async def scenario() -> None:
        async with served_world(tmp_path) as world:
            sync_url = world.url + "/sync"
            health = await healthz(world.url)
            assert set(health) == {"status", "seq", "connections"}
            # Section 2.1: the server closes after answering, and says so to keep-alive clients.
            url = "http" + world.url.removeprefix("ws") + "/healthz"
            headers = await asyncio.to_thread(lambda: urllib.request.urlopen(url).headers)
            assert headers["Connection"] == "close"
            status, content_type, body = await asyncio.to_thread(
                http_get, "http" + world.url.removeprefix("ws") + "/nowhere"
            )
            assert (status, content_type, body["code"]) == (404, "application/json", "not_found")

            # Section 3.3: refused tokens never get a WebSocket.
            for header in ("Bearer not-a-token", "Basic YWRhOnNlY3JldA=="):
                status, body = await refused_handshake(sync_url, {"Authorization": header})
                assert (status, body["code"]) == (401, "token_invalid")
                assert isinstance(body["message"], str)

            async with open_sync(sync_url) as ws:
                client = Client(ws, Replica())
                # Section 5: anonymous connections accept only login.
                await client.send(
                    {"type": "hello", "protocol": PROTOCOL, "device_id": "d-1", "cursor": 0}
                )
                assert (await client.recv())["code"] == "not_authenticated"
                # Section 4: unknown fields are rejected, the connection stays open.
                await client.send(
                    {"type": "login", "email": "ada@example.com", "password": "x", "extra": 1}
                )
                error = await client.recv()
                assert (error["type"], error["code"]) == ("error", "invalid_message")
                assert error["details"][0]["loc"] == "login.extra"
                await client.send({"type": "login", "email": "ada@example.com", "password": "x"})
                assert (await client.recv())["code"] == "invalid_credentials"
                await client.send(
                    {"type": "login", "email": "ADA@example.com", "password": PASSWORD}
                )
                assert (await client.recv())["type"] == "login_ok"
                await client.send({"type": "search", "request_id": "r-1", "query": "x"})
                assert (await client.recv())["code"] == "hello_required"
                # Section 6: no common version -> protocol_unsupported, then close 4002.
                await client.send(
                    {
                        "type": "hello",
                        "protocol": {"min": 2, "max": 3},
                        "device_id": "d-1",
                        "cursor": 0,
                    }
                )
                error = await client.recv()
                assert error["code"] == "protocol_unsupported"
                assert error["details"] == PROTOCOL
                assert await client.closed() == 4002

            # Section 4: a frame over 1 MiB closes the connection with 1009.
            async with open_sync(sync_url) as ws:
                await ws.send("x" * (MAX_FRAME_BYTES + 1))
                assert await Client(ws, Replica()).closed() == 1009

    asyncio.run(scenario())


def test_the_client_uses_only_websockets_and_json() -> None:
    tree = ast.parse(Path(__file__).read_text(encoding="utf-8"))
    imported: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            imported.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            imported.add(node.module or "")
    assert not {m for m in imported if m == "app" or m.startswith("app.")}
    assert {m for m in imported if m.startswith("tests")} == {"tests.world"}
    assert {m.split(".")[0] for m in imported} <= {
        "__future__",
        "ast",
        "asyncio",
        "collections",
        "json",
        "pathlib",
        "re",  # reading the document's tables
        "tests",
        "typing",
        "urllib",
        "websockets",
    }


def test_answers_arrive_in_order_and_after_their_changes(tmp_path: Path) -> None:
    """Section 11.3: a pipelined run of mutations is answered in order, and each ack comes only
    after the `changes` frame carrying its seq (a client may drop its overlay on the ack)."""

    async def scenario() -> None:
        async with served_world(tmp_path) as world:
            sync_url = world.url + "/sync"
            login = await sign_in(sync_url, "ada@example.com")
            async with open_sync(sync_url, login["token"]) as ws:
                ada = Client(ws, Replica())
                await ada.hello("doc-client-order")
                count = 60
                for i in range(1, count + 1):
                    args: Frame = {"ticket_id": "t-1", "changes": {"tags": [f"tag{i}"]}}
                    if i % 3 == 0:  # some answers carry no seq: nothing changed
                        args = {"ticket_id": "t-1", "changes": {"priority": "normal"}}
                    await ada.send(
                        {
                            "type": "mutation",
                            "mutation_id": i,
                            "name": "ticket.update",
                            "args": {**args, "seen_version": 0},
                        }
                    )
                answered: list[int] = []
                while len(answered) < count:
                    frame = await ada.recv()  # applies changes frames, moving the cursor
                    if frame["type"] in ("ack", "reject"):
                        assert frame["type"] == "ack", frame
                        answered.append(frame["mutation_id"])
                        assert ada.cursor >= (frame["seq"] or 0), frame
                assert answered == list(range(1, count + 1))
                assert ada.replica.get("ticket", "t-1")["tags"] == [f"tag{count - 1}"]

    asyncio.run(scenario())


# ---- section 16: the limits hold as documented ----------------------------------------------

DOC = Path(__file__).parents[1] / "docs" / "protocol.md"


def documented_limit(what: str) -> str:
    """The value of the row of section 16's table whose first cell starts with ``what``."""
    text = DOC.read_text(encoding="utf-8")
    section = text.split("## 16. Limits and timings", 1)[1].split("\n## ", 1)[0]
    for line in section.splitlines():
        cells = [cell.strip() for cell in line.strip().strip("|").split("|")]
        if len(cells) >= 2 and cells[0].startswith(what):
            return cells[1]
    raise AssertionError(f"section 16 has no row for {what!r}")


def run_against_server(tmp_path: Path, body: Callable[[str], Awaitable[None]]) -> None:
    """Run ``body`` with the ``/sync`` URL of a server on a freshly seeded store."""

    async def scenario() -> None:
        async with served_world(tmp_path) as world:
            await body(world.url + "/sync")

    asyncio.run(scenario())


def test_limits_hold_as_documented(tmp_path: Path) -> None:
    """Section 16's nesting and integer limits, the Origin rule of 2.2, tried on a server."""
    depth_match = re.search(r"≤ (\d+) levels", documented_limit("Client → server nesting"))
    int_match = re.search(r"0 … 2\^(\d+) \u2212 1", documented_limit("Integers"))
    assert depth_match is not None
    assert int_match is not None
    depth, largest = int(depth_match[1]), 2 ** int(int_match[1]) - 1
    assert "403" in documented_limit("`Origin` header")

    def nested_search(levels: int) -> str:
        """A search frame nested ``levels`` deep (the frame object being the first level)."""
        inner = "[" * (levels - 1) + "]" * (levels - 1)
        return '{"type": "search", "request_id": "r-deep", "query": "x", "limit": ' + inner + "}"

    async def scenario(sync_url: str) -> None:
        status, body = await refused_handshake(sync_url, {"Origin": "https://elsewhere.test"})
        assert (status, body["code"]) == (403, "origin_forbidden")
        login = await sign_in(sync_url, "ada@example.com")
        async with open_sync(sync_url, login["token"]) as ws:
            client = Client(ws, Replica())
            await client.hello("doc-client-limits")

            async def error_for(frame: Frame | str) -> Frame:
                await ws.send(frame if isinstance(frame, str) else json.dumps(frame))
                error, _ = await client.until(lambda f: f["type"] == "error")
                return error

            # Nesting up to the limit is parsed (and this frame then refused as invalid).
            assert (await error_for(nested_search(depth)))["code"] == "invalid_message"
            assert (await error_for(nested_search(depth + 1)))["code"] == "malformed_json"
            # Brackets inside strings are text, not nesting.
            await client.send({"type": "search", "request_id": "r-b", "query": "[" * 99})
            found, _ = await client.until(lambda f: f["type"] == "search_results")
            assert found["request_id"] == "r-b"

            draft = {"ticket_id": "t-1", "body": "at the edge"}
            assert (await client.mutate(largest, "draft.save", draft))["type"] == "ack"
            too_large = {"type": "mutation", "mutation_id": largest + 1, "name": "draft.save"}
            error = await error_for({**too_large, "args": draft})
            assert error["code"] == "invalid_message"
            assert "mutation_id" not in error
            fetch = {"type": "fetch_ticket", "request_id": "r-n", "number": largest + 1}
            error = await error_for(fetch)
            assert error["code"] == "invalid_message"
            assert "request_id" not in error  # section 12: the frame was not understood
            error = await error_for({**fetch, "number": largest})
            assert (error["code"], error["request_id"]) == ("not_found", "r-n")

    run_against_server(tmp_path, scenario)


def test_bootstrap_rows_come_in_id_order_across_pages(tmp_path: Path) -> None:
    """Section 8.3 with more tickets than one chunk, created in an order that is not theirs."""
    count = 620

    async def scenario(sync_url: str) -> None:
        login = await sign_in(sync_url, "ada@example.com")
        async with open_sync(sync_url, login["token"]) as ws:
            creator = Client(ws, Replica())
            await creator.hello("doc-client-creator")
            for i in range(1, count + 1):
                ticket = {
                    "id": f"tk-{i * 7919 % count:04d}",  # a shuffled order
                    "subject": f"Ticket {i}",
                    "channel": "email",
                    "group_id": "g-care",
                }
                frame = {"mutation_id": i, "name": "ticket.create", "args": {"ticket": ticket}}
                await creator.send({"type": "mutation", **frame})
            answer, _ = await creator.until(lambda f: f.get("mutation_id") == count)
            assert answer["type"] == "ack", answer
        async with open_sync(sync_url, login["token"]) as ws:
            client = Client(ws, Replica())
            check_bootstrap(client, await client.hello("doc-client-reader"))
            assert len(client.replica.ids("ticket")) > 500

    run_against_server(tmp_path, scenario)
