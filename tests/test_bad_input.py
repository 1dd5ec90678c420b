"""Bad input of every kind gets its documented error, and none of it changes the store.

Real server on 127.0.0.1 port 0 with an SQLite file; raw WebSocket frames, so nothing in the
workstation's engine can tidy the input up first.  Each scenario is an ``async def`` taking a
`World`: the parametrized tests run each one on a fresh server, and the last test throws every
one of them at a single server, which must still be healthy and serve a workstation afterwards.

"Nothing changed" is checked by comparing every row of every store table before and after,
except the server's bookkeeping (sessions, devices, kept mutation answers), which some cases
legitimately touch; the cases that must not touch it either name it explicitly.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import secrets
import urllib.request
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from dataclasses import dataclass
from datetime import timedelta
from functools import partial
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, MetaData, Table, select, update
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed, InvalidStatus
from websockets.typing import Origin

from app.models.base import utcnow
from app.models.entities import Agent, Message
from app.models.server_tables import AuthSession
from app.server import auth
from app.server.app import SwitchboardServer
from app.server.connection import MAX_BAD_FRAMES
from app.sync import queries
from app.sync.protocol import (
    MAX_FRAME_BYTES,
    MAX_NESTING,
    MAX_WIRE_INT,
    PROTOCOL_MAX,
    PROTOCOL_MIN,
    SYNC_PATH,
    CloseCode,
    ErrorCode,
    encode,
)
from tests.world import PASSWORD, eventually, make_store, running_server, workstation

TIMEOUT = 10.0  # seconds to wait for any one answer; a hang fails instead of stalling
MESSAGE_TOO_BIG = 1009

# Who plays which part.  Distinct accounts, so all scenarios can share one server.
ADA = "ada@example.com"  # agent in g-care: the usual suspect
ROOT = "root@example.com"  # admin: a bystander on another connection
BOB = "bob@example.com"  # gets disabled
SAM = "sam@example.com"  # gets rate-limited
LIN = "lin@example.com"  # gets rate-limited under differently spelled emails

# Frames the server pushes on its own to a synced connection; never an answer to a request.
PUSHES = frozenset({"presence", "presence_snapshot", "viewing", "changes"})
# Tables a refused input may still write: a sign-in creates a session, a hello registers a
# device, and the answer to every mutation (a reject too) is kept so a replay gets it again.
BOOKKEEPING = ("sessions", "workstations", "mutation_results")
T_SESSIONS: Table = AuthSession.__table__  # type: ignore[assignment]
T_AGENTS: Table = Agent.__table__  # type: ignore[assignment]

Frame = dict[str, Any]
Snapshot = dict[str, list[dict[str, Any]]]


# --------------------------------------------------------------------------------------------
# Helpers
# --------------------------------------------------------------------------------------------


def store_fingerprint(engine: Engine, *also: str) -> Snapshot:
    """Every row of every store table, in primary-key order; bookkeeping only if in ``also``."""
    meta = MetaData()
    meta.reflect(bind=engine)
    snapshot: Snapshot = {}
    with engine.connect() as conn:
        for table in meta.sorted_tables:
            if table.name in BOOKKEEPING and table.name not in also:
                continue
            order = list(table.primary_key.columns) or list(table.columns)
            rows = conn.execute(select(table).order_by(*order)).mappings()
            snapshot[table.name] = [dict(row) for row in rows]
    assert {"tickets", "messages", "change_log"} <= snapshot.keys()  # reflection found them
    return snapshot


@contextlib.contextmanager
def store_unchanged(engine: Engine, *also: str) -> Iterator[None]:
    """Assert that the block leaves the store (and the bookkeeping tables named) untouched."""
    before = store_fingerprint(engine, *also)
    yield
    after = store_fingerprint(engine, *also)
    changed = sorted(
        name for name in before.keys() | after.keys() if before.get(name) != after.get(name)
    )
    assert not changed, f"refused input changed these tables: {changed}"


@dataclass
class World:
    server: SwitchboardServer
    store: Engine
    tmp: Path

    @property
    def url(self) -> str:
        return self.server.url + SYNC_PATH


Scenario = Callable[[World], Awaitable[None]]


def run(tmp_path: Path, *scenarios: Scenario, **server_options: Any) -> None:
    """Run the scenarios one after another against one fresh server."""

    async def main() -> None:
        store = make_store(f"sqlite:///{tmp_path / 'server.db'}")
        try:
            async with running_server(store, **server_options) as server:
                world = World(server, store, tmp_path)
                for scenario in scenarios:
                    await scenario(world)
        finally:
            store.dispose()

    asyncio.run(main())


@contextlib.asynccontextmanager
async def open_ws(
    url: str, *, token: str | None = None, origin: str | None = None
) -> AsyncIterator[ClientConnection]:
    headers = {"Authorization": f"Bearer {token}"} if token else None
    async with connect(
        url,
        additional_headers=headers,
        origin=Origin(origin) if origin else None,
        compression=None,
        max_size=None,
        open_timeout=TIMEOUT,
    ) as ws:
        yield ws


async def send(ws: ClientConnection, frame: Frame | str | bytes) -> None:
    await ws.send(encode(frame) if isinstance(frame, dict) else frame)


async def next_frame(ws: ClientConnection, *wanted: str, skip: frozenset[str] = PUSHES) -> Frame:
    """The next frame of a ``wanted`` type; pushes are skipped, anything else fails."""
    while True:
        frame: Frame = json.loads(await asyncio.wait_for(ws.recv(), TIMEOUT))
        if frame["type"] in wanted:
            return frame
        assert frame["type"] in skip, f"expected one of {wanted}, got {frame}"


async def expect_error(ws: ClientConnection, code: ErrorCode) -> Frame:
    frame = await next_frame(ws, "error")
    assert frame["code"] == code.value, frame
    return frame


async def expect_close(ws: ClientConnection, code: int) -> None:
    """The server closes the connection with ``code``; only pushes may come before."""
    with pytest.raises(ConnectionClosed):
        await next_frame(ws)
    assert ws.close_code == code, (ws.close_code, ws.close_reason)


def detail_locs(frame: Frame) -> list[str]:
    return [str(d["loc"]) for d in frame["details"]]


def hello_frame(**overrides: Any) -> Frame:
    frame: Frame = {
        "type": "hello",
        "protocol": {"min": PROTOCOL_MIN, "max": PROTOCOL_MAX},
        "device_id": f"dev-{uuid.uuid4().hex[:12]}",
        "cursor": 0,
    }
    return {**frame, **overrides}


def login_frame(email: str, password: str = PASSWORD) -> Frame:
    return {"type": "login", "email": email, "password": password}


def mutation_frame(mutation_id: int, name: str, args: dict[str, Any]) -> Frame:
    return {"type": "mutation", "mutation_id": mutation_id, "name": name, "args": args}


def fetch_frame(ticket_id: str = "t-1") -> Frame:
    return {"type": "fetch_ticket", "request_id": f"r-{ticket_id}", "ticket_id": ticket_id}


async def sign_in(ws: ClientConnection, email: str, password: str = PASSWORD) -> Frame:
    await send(ws, login_frame(email, password))
    return await next_frame(ws, "login_ok")


async def say_hello(ws: ClientConnection, device_id: str | None = None) -> Frame:
    await send(ws, hello_frame(**({"device_id": device_id} if device_id else {})))
    welcome = await next_frame(ws, "welcome")
    await next_frame(ws, "caught_up", skip=PUSHES | {"bootstrap_done"})
    return welcome


async def raw_session(url: str, email: str) -> str:
    """Sign in on a throwaway connection; the session token."""
    async with open_ws(url) as ws:
        token: str = (await sign_in(ws, email))["token"]
    return token


@contextlib.asynccontextmanager
async def synced(world: World, email: str) -> AsyncIterator[ClientConnection]:
    """A connection signed in as ``email``, past hello and caught up, with a new device id."""
    async with open_ws(world.url) as ws:
        await sign_in(ws, email)
        await say_hello(ws)
        yield ws


async def still_usable(ws: ClientConnection) -> None:
    """A synced connection still answers a valid request."""
    await send(ws, fetch_frame("t-1"))
    answer = await next_frame(ws, "ticket")
    assert answer["ticket"]["id"] == "t-1"


async def mutate(ws: ClientConnection, mutation_id: int, name: str, args: dict[str, Any]) -> Frame:
    await send(ws, mutation_frame(mutation_id, name, args))
    answer = await next_frame(ws, "ack", "reject")
    assert answer["mutation_id"] == mutation_id, answer
    return answer


async def refused_handshake(
    url: str, authorization: str | None = None, *, origin: str | None = None, status: int = 401
) -> Frame:
    """The JSON body of a handshake the server refuses (with 401, unless told otherwise)."""
    headers = {"Authorization": authorization} if authorization is not None else None
    with pytest.raises(InvalidStatus) as refused:
        await connect(
            url,
            additional_headers=headers,
            origin=Origin(origin) if origin else None,
            open_timeout=TIMEOUT,
        )
    response = refused.value.response
    assert response.status_code == status
    assert response.headers["Content-Type"] == "application/json"
    body: Frame = json.loads(response.body or b"")
    assert set(body) == {"code", "message"}
    return body


def set_session(world: World, token: str, **values: Any) -> None:
    with world.store.begin() as conn:
        done = conn.execute(
            update(T_SESSIONS)
            .where(T_SESSIONS.c.token_hash == auth.token_hash(token))
            .values(**values)
        )
        assert done.rowcount == 1


def set_agent_active(world: World, agent_id: str, active: bool) -> None:
    with world.store.begin() as conn:
        conn.execute(update(T_AGENTS).where(T_AGENTS.c.id == agent_id).values(active=active))


# --------------------------------------------------------------------------------------------
# 1. Frames that are not protocol frames at all
# --------------------------------------------------------------------------------------------


def nested_login(depth: int) -> str:
    """A login frame whose ``email`` is arrays nested so that the frame is ``depth`` deep."""
    return '{"type": "login", "email": ' + "[" * (depth - 1) + "]" * (depth - 1) + "}"


NOT_FRAMES = [
    pytest.param("{not json", ErrorCode.MALFORMED_JSON, id="malformed-json"),
    pytest.param("", ErrorCode.MALFORMED_JSON, id="empty-text"),
    pytest.param(b"\xff\xfe\x00{", ErrorCode.MALFORMED_JSON, id="binary-invalid-utf8"),
    pytest.param('[{"type": "hello"}]', ErrorCode.MALFORMED_JSON, id="json-array"),
    pytest.param('"login"', ErrorCode.MALFORMED_JSON, id="json-string"),
    pytest.param('{"email": "ada@example.com"}', ErrorCode.INVALID_MESSAGE, id="missing-type"),
    pytest.param('{"type": 7}', ErrorCode.INVALID_MESSAGE, id="type-not-a-string"),
    pytest.param('{"type": "teleport"}', ErrorCode.UNKNOWN_TYPE, id="unknown-type"),
    pytest.param('{"type": "welcome"}', ErrorCode.UNKNOWN_TYPE, id="server-only-type"),
    # 2 KB of brackets once raised RecursionError: close 1011, and no error frame.
    pytest.param("[" * 1000 + "]" * 1000, ErrorCode.MALFORMED_JSON, id="nested-1000-deep"),
    pytest.param(nested_login(MAX_NESTING + 1), ErrorCode.MALFORMED_JSON, id="nested-too-deep"),
    pytest.param(nested_login(MAX_NESTING), ErrorCode.INVALID_MESSAGE, id="nested-at-the-limit"),
]


async def not_a_frame_when_anonymous(raw: str | bytes, code: ErrorCode, world: World) -> None:
    async with open_ws(world.url) as ws:
        with store_unchanged(world.store, *BOOKKEEPING):
            await send(ws, raw)
            await expect_error(ws, code)
        await sign_in(ws, ADA)  # the connection is still usable


async def not_a_frame_when_synced(raw: str | bytes, code: ErrorCode, world: World) -> None:
    async with synced(world, ADA) as ws:
        with store_unchanged(world.store, *BOOKKEEPING):
            await send(ws, raw)
            await expect_error(ws, code)
        await still_usable(ws)


@pytest.mark.parametrize(("raw", "code"), NOT_FRAMES)
def test_not_a_frame_is_answered_and_the_anonymous_connection_goes_on(
    tmp_path: Path, raw: str | bytes, code: ErrorCode
) -> None:
    run(tmp_path, partial(not_a_frame_when_anonymous, raw, code))


@pytest.mark.parametrize(("raw", "code"), NOT_FRAMES)
def test_not_a_frame_is_answered_and_the_synced_connection_goes_on(
    tmp_path: Path, raw: str | bytes, code: ErrorCode
) -> None:
    run(tmp_path, partial(not_a_frame_when_synced, raw, code))


async def too_many_bad_frames(world: World) -> None:
    async with synced(world, ADA) as ws:
        with store_unchanged(world.store, *BOOKKEEPING):
            # One short of the limit, then a good frame: the count starts again.
            for _ in range(MAX_BAD_FRAMES - 1):
                await send(ws, "{not json")
                await expect_error(ws, ErrorCode.MALFORMED_JSON)
            await still_usable(ws)
            for _ in range(MAX_BAD_FRAMES):
                await send(ws, '{"type": "teleport"}')
                await expect_error(ws, ErrorCode.UNKNOWN_TYPE)
            await expect_close(ws, CloseCode.BAD_REQUEST)


def test_a_stream_of_bad_frames_ends_the_connection_with_4000(tmp_path: Path) -> None:
    run(tmp_path, too_many_bad_frames)


async def refusals_between_bad_frames(world: World) -> None:
    """Frames refused for the connection's state neither count as bad nor reset the count."""

    async def bad_frames_around(ws: ClientConnection, refused: Frame, code: ErrorCode) -> None:
        for _ in range(MAX_BAD_FRAMES - 1):
            await send(ws, "{not json")
            await expect_error(ws, ErrorCode.MALFORMED_JSON)
            await send(ws, refused)
            await expect_error(ws, code)
        await send(ws, "{not json")
        await expect_error(ws, ErrorCode.MALFORMED_JSON)
        await expect_close(ws, CloseCode.BAD_REQUEST)

    async with open_ws(world.url) as ws:
        await bad_frames_around(ws, hello_frame(), ErrorCode.NOT_AUTHENTICATED)
    async with open_ws(world.url) as ws:
        await sign_in(ws, ADA)
        await bad_frames_around(ws, fetch_frame(), ErrorCode.HELLO_REQUIRED)
    async with synced(world, ADA) as ws:
        await bad_frames_around(ws, login_frame(ADA), ErrorCode.ALREADY_AUTHENTICATED)
    async with synced(world, ADA) as ws:
        await bad_frames_around(ws, hello_frame(), ErrorCode.INVALID_MESSAGE)  # a second hello


def test_refusals_for_the_state_do_not_reset_the_bad_frame_count(tmp_path: Path) -> None:
    run(tmp_path, refusals_between_bad_frames)


# --------------------------------------------------------------------------------------------
# 2. Frames with fields of the wrong type, out of range, or unknown
# --------------------------------------------------------------------------------------------

WRONG_FIELDS = [
    pytest.param(hello_frame(cursor="0"), "hello.cursor", id="hello-cursor-string"),
    pytest.param(hello_frame(cursor=-1), "hello.cursor", id="hello-cursor-negative"),
    pytest.param(hello_frame(cursor=1.5), "hello.cursor", id="hello-cursor-float"),
    pytest.param(
        hello_frame(protocol={"min": "1", "max": 1}), "hello.protocol.min", id="hello-protocol-str"
    ),
    pytest.param(hello_frame(device_id="has spaces"), "hello.device_id", id="hello-device-id"),
    pytest.param(hello_frame(compress=True), "hello.compress", id="hello-extra-field"),
    pytest.param(
        mutation_frame(0, "draft.delete", {"ticket_id": "t-1"}),
        "mutation.mutation_id",
        id="mutation-id-zero",
    ),
    pytest.param(
        mutation_frame(-3, "draft.delete", {"ticket_id": "t-1"}),
        "mutation.mutation_id",
        id="mutation-id-negative",
    ),
    pytest.param(
        {**mutation_frame(1, "draft.delete", {"ticket_id": "t-1"}), "mutation_id": "1"},
        "mutation.mutation_id",
        id="mutation-id-string",
    ),
    pytest.param(
        {**mutation_frame(1, "draft.delete", {"ticket_id": "t-1"}), "mutation_id": True},
        "mutation.mutation_id",
        id="mutation-id-bool",
    ),
    pytest.param(
        {**mutation_frame(1, "draft.delete", {}), "args": ["t-1"]},
        "mutation.args",
        id="mutation-args-list",
    ),
    pytest.param({**login_frame(ADA), "remember": True}, "login.remember", id="login-extra-field"),
    pytest.param(
        {"type": "search", "request_id": "r", "query": "x", "limit": 10_000},
        "search.limit",
        id="search-limit-too-high",
    ),
    pytest.param(
        {"type": "fetch_ticket", "request_id": "r", "number": "1"},
        "fetch_ticket.number",
        id="fetch-number-string",
    ),
    pytest.param({"type": "presence", "status": "asleep"}, "presence.status", id="presence-enum"),
    # Integers beyond the documented range (0..2^53-1) once reached the store and failed the
    # writer's whole batch, or closed the connection with 1011.
    pytest.param(
        mutation_frame(2**63, "draft.delete", {"ticket_id": "t-1"}),
        "mutation.mutation_id",
        id="mutation-id-2^63",
    ),
    pytest.param(
        mutation_frame(MAX_WIRE_INT + 1, "draft.delete", {"ticket_id": "t-1"}),
        "mutation.mutation_id",
        id="mutation-id-2^53",
    ),
    pytest.param(hello_frame(cursor=2**64), "hello.cursor", id="hello-cursor-2^64"),
    pytest.param(
        hello_frame(acked_through=2**63), "hello.acked_through", id="hello-acked-through-2^63"
    ),
    pytest.param(
        hello_frame(access_version=MAX_WIRE_INT + 1),
        "hello.access_version",
        id="hello-access-version-2^53",
    ),
    pytest.param(
        hello_frame(protocol={"min": 1, "max": 2**64}),
        "hello.protocol.max",
        id="hello-protocol-2^64",
    ),
    pytest.param(
        {"type": "fetch_ticket", "request_id": "r", "number": 2**64},
        "fetch_ticket.number",
        id="fetch-number-2^64",
    ),
]


async def wrong_field(frame: Frame, field: str, world: World) -> None:
    async with open_ws(world.url) as ws:
        await sign_in(ws, ADA)
        with store_unchanged(world.store, *BOOKKEEPING):
            await send(ws, frame)
            error = await expect_error(ws, ErrorCode.INVALID_MESSAGE)
        assert field in detail_locs(error), error
        assert "mutation_id" not in error  # a malformed envelope is not an answer to a mutation
        await say_hello(ws)  # the connection is still usable


@pytest.mark.parametrize(("frame", "field"), WRONG_FIELDS)
def test_wrong_field_is_invalid_message_naming_the_field(
    tmp_path: Path, frame: Frame, field: str
) -> None:
    run(tmp_path, partial(wrong_field, frame, field))


# --------------------------------------------------------------------------------------------
# 3. Frames that are too large
# --------------------------------------------------------------------------------------------


async def oversize_frame(world: World) -> None:
    async with synced(world, ROOT) as bystander, synced(world, ADA) as ws:
        note = {"id": "m-huge", "ticket_id": "t-1", "kind": "note", "body": "x" * MAX_FRAME_BYTES}
        raw = encode(mutation_frame(1, "message.add", {"message": note}))
        assert len(raw.encode()) > MAX_FRAME_BYTES
        with store_unchanged(world.store, *BOOKKEEPING):
            with contextlib.suppress(ConnectionClosed):  # the server may hang up mid-send
                await send(ws, raw)
            await expect_close(ws, MESSAGE_TOO_BIG)
        # Everyone else is served as before, and the agent can simply connect again.
        await still_usable(bystander)
    async with synced(world, ADA) as again:
        await still_usable(again)


async def frame_at_the_limit(world: World) -> None:
    async with synced(world, ADA) as ws:
        head, tail = '{"type":"search","request_id":"r","query":"', '"}'
        raw = head + "x" * (MAX_FRAME_BYTES - len(head) - len(tail)) + tail
        assert len(raw.encode()) == MAX_FRAME_BYTES
        with store_unchanged(world.store, *BOOKKEEPING):
            await send(ws, raw)
            error = await expect_error(ws, ErrorCode.INVALID_MESSAGE)  # read, then refused
        assert "search.query" in detail_locs(error)
        await still_usable(ws)


def test_oversize_frame_closes_with_1009_and_others_are_still_served(tmp_path: Path) -> None:
    run(tmp_path, oversize_frame)


def test_frame_of_exactly_the_maximum_size_is_read(tmp_path: Path) -> None:
    run(tmp_path, frame_at_the_limit)


# --------------------------------------------------------------------------------------------
# 4. No common protocol version
# --------------------------------------------------------------------------------------------


async def protocol_out_of_window(world: World) -> None:
    async with open_ws(world.url) as ws:
        await sign_in(ws, ADA)
        with store_unchanged(world.store, *BOOKKEEPING):  # no device registered either
            await send(ws, hello_frame(protocol={"min": 99, "max": 120}))
            error = await expect_error(ws, ErrorCode.PROTOCOL_UNSUPPORTED)
            await expect_close(ws, CloseCode.PROTOCOL_UNSUPPORTED)
        assert error["details"] == {"min": PROTOCOL_MIN, "max": PROTOCOL_MAX}


def test_protocol_out_of_window_is_refused_and_closed_with_4002(tmp_path: Path) -> None:
    run(tmp_path, protocol_out_of_window)


# --------------------------------------------------------------------------------------------
# 5. Tokens: forged, malformed, revoked, expired, of a disabled agent, or in the URL
# --------------------------------------------------------------------------------------------

BAD_AUTHORIZATION = [
    pytest.param(f"Bearer {secrets.token_urlsafe(32)}", id="forged-token"),
    pytest.param("Basic eHl6OnBhc3N3b3Jk", id="basic-scheme"),
    pytest.param("Token abcdef", id="other-scheme"),
    pytest.param("Bearer", id="bearer-without-token"),
    pytest.param(f"Bearer {'a' * 201}", id="token-too-long"),
]


async def bad_authorization(header: str, world: World) -> None:
    with store_unchanged(world.store, *BOOKKEEPING):
        body = await refused_handshake(world.url, header)
    assert body["code"] == ErrorCode.TOKEN_INVALID.value


@pytest.mark.parametrize("header", BAD_AUTHORIZATION)
def test_bad_authorization_header_is_401_token_invalid(tmp_path: Path, header: str) -> None:
    run(tmp_path, partial(bad_authorization, header))


async def log_out(world: World, token: str) -> None:
    async with open_ws(world.url, token=token) as ws:
        await send(ws, {"type": "logout"})
        await expect_close(ws, 1000)


async def expire(world: World, token: str) -> None:
    set_session(world, token, expires_at=utcnow() - timedelta(minutes=1))


async def leave_idle(world: World, token: str) -> None:
    set_session(world, token, last_seen_at=utcnow() - auth.SESSION_IDLE - timedelta(minutes=1))


async def disable_bob(world: World, token: str) -> None:
    set_agent_active(world, "a-bob", False)
    with world.store.begin() as conn:  # as disabling does: the sessions end too
        auth.revoke_agent_sessions(conn, "a-bob")


SessionEnd = Callable[[World, str], Awaitable[None]]
SESSION_ENDINGS = [
    pytest.param(ADA, log_out, ErrorCode.SESSION_REVOKED, id="revoked-by-logout"),
    pytest.param(ADA, expire, ErrorCode.SESSION_EXPIRED, id="past-absolute-expiry"),
    pytest.param(ADA, leave_idle, ErrorCode.SESSION_EXPIRED, id="idle-too-long"),
    pytest.param(BOB, disable_bob, ErrorCode.AGENT_DISABLED, id="agent-disabled"),
]


async def ended_session(email: str, end: SessionEnd, code: ErrorCode, world: World) -> None:
    token = await raw_session(world.url, email)
    async with open_ws(world.url, token=token) as ws:  # the token works, until...
        await say_hello(ws)
    await end(world, token)
    # ...it is refused, and refusing it neither revives nor touches the session.
    with store_unchanged(world.store, *BOOKKEEPING):
        body = await refused_handshake(world.url, f"Bearer {token}")
    assert body["code"] == code.value


@pytest.mark.parametrize(("email", "end", "code"), SESSION_ENDINGS)
def test_ended_session_is_401_with_its_reason(
    tmp_path: Path, email: str, end: SessionEnd, code: ErrorCode
) -> None:
    run(tmp_path, partial(ended_session, email, end, code))


async def disabled_agent_signs_in(world: World) -> None:
    set_agent_active(world, "a-bob", False)
    async with open_ws(world.url) as ws:
        with store_unchanged(world.store, *BOOKKEEPING):
            await send(ws, login_frame(BOB))
            await expect_error(ws, ErrorCode.AGENT_DISABLED)
            await send(ws, hello_frame())  # still anonymous
            await expect_error(ws, ErrorCode.NOT_AUTHENTICATED)


def test_disabled_agent_cannot_sign_in_with_the_right_password(tmp_path: Path) -> None:
    run(tmp_path, disabled_agent_signs_in)


async def token_in_url(world: World) -> None:
    token = await raw_session(world.url, ADA)
    for query in (f"token={token}", f"access_token={token}", f"authorization=Bearer%20{token}"):
        async with open_ws(f"{world.url}?{query}") as ws:
            with store_unchanged(world.store, *BOOKKEEPING):
                await send(ws, hello_frame())
                await expect_error(ws, ErrorCode.NOT_AUTHENTICATED)


def test_token_in_the_url_is_ignored(tmp_path: Path) -> None:
    run(tmp_path, token_in_url)


ALLOWED_ORIGIN = "https://desk.example.com"


async def foreign_origin(world: World) -> None:
    """A browser page elsewhere cannot open the sync endpoint, signed in or not."""
    token = await raw_session(world.url, ADA)
    with store_unchanged(world.store, *BOOKKEEPING):
        for origin, authorization in (
            ("https://evil.example.com", None),
            ("https://evil.example.com", f"Bearer {token}"),
            ("null", None),  # a sandboxed frame or a file:// page
            (ALLOWED_ORIGIN + ":8443", None),  # another origin, however alike
        ):
            body = await refused_handshake(world.url, authorization, origin=origin, status=403)
            assert body["code"] == ErrorCode.ORIGIN_FORBIDDEN.value, body
    async with open_ws(world.url, token=token, origin=ALLOWED_ORIGIN) as ws:
        await say_hello(ws)  # allowed by the server's allow-list
    async with open_ws(world.url, token=token) as ws:
        await say_hello(ws)  # no Origin: the workstation


def test_websocket_from_an_origin_not_allowed_is_403(tmp_path: Path) -> None:
    run(tmp_path, foreign_origin, allowed_origins=[ALLOWED_ORIGIN])


async def silent_connections(world: World) -> None:
    """Connections that do not sign in, or then say hello, in time are closed."""
    timeout = world.server.hello_timeout
    token = await raw_session(world.url, ADA)
    async with synced(world, ROOT) as working:
        with store_unchanged(world.store, *BOOKKEEPING):
            async with (
                open_ws(world.url) as anonymous,
                open_ws(world.url, token=token) as signed_in,
            ):
                await expect_close(anonymous, CloseCode.BAD_REQUEST)
                assert anonymous.close_reason == f"no hello within {timeout:g} s"
                await expect_close(signed_in, CloseCode.BAD_REQUEST)
        await still_usable(working)  # it said hello in time: opened first, still open


def test_connection_without_hello_is_closed_after_the_timeout(tmp_path: Path) -> None:
    run(tmp_path, silent_connections, hello_timeout=0.5)


# --------------------------------------------------------------------------------------------
# 6. Frames out of order, and failed sign-ins
# --------------------------------------------------------------------------------------------

ONLY_AFTER_HELLO = [
    pytest.param(mutation_frame(1, "draft.delete", {"ticket_id": "t-1"}), id="mutation"),
    pytest.param(fetch_frame(), id="fetch_ticket"),
    pytest.param({"type": "search", "request_id": "r", "query": "Ticket"}, id="search"),
    pytest.param({"type": "presence", "status": "busy"}, id="presence"),
    pytest.param({"type": "viewing", "ticket_id": "t-1", "typing": True}, id="viewing"),
]
ONLY_AFTER_SIGN_IN = [
    pytest.param(hello_frame(), id="hello"),
    pytest.param({"type": "logout"}, id="logout"),
    *ONLY_AFTER_HELLO,
]


async def before_sign_in(frame: Frame, world: World) -> None:
    async with open_ws(world.url) as ws:
        with store_unchanged(world.store, *BOOKKEEPING):
            await send(ws, frame)
            await expect_error(ws, ErrorCode.NOT_AUTHENTICATED)
        await sign_in(ws, ADA)


async def before_hello(frame: Frame, world: World) -> None:
    async with open_ws(world.url) as ws:
        await sign_in(ws, ADA)
        with store_unchanged(world.store, *BOOKKEEPING):
            await send(ws, frame)
            await expect_error(ws, ErrorCode.HELLO_REQUIRED)
        await say_hello(ws)


async def presence_after_hello(world: World) -> None:
    """The frames refused above are fine once in order; presence, say, reaches everyone."""
    async with synced(world, ROOT) as bystander, synced(world, ADA) as ws:
        await send(ws, {"type": "presence", "status": "busy"})
        for conn in (ws, bystander):
            while (await next_frame(conn, "presence")) != {
                "type": "presence",
                "agent_id": "a-ada",
                "status": "busy",
            }:
                pass


def test_presence_after_hello_is_accepted(tmp_path: Path) -> None:
    run(tmp_path, presence_after_hello)


@pytest.mark.parametrize("frame", ONLY_AFTER_SIGN_IN)
def test_frame_before_sign_in_is_not_authenticated(tmp_path: Path, frame: Frame) -> None:
    run(tmp_path, partial(before_sign_in, frame))


@pytest.mark.parametrize("frame", ONLY_AFTER_HELLO)
def test_frame_before_hello_is_hello_required(tmp_path: Path, frame: Frame) -> None:
    run(tmp_path, partial(before_hello, frame))


async def repeated_sign_in_and_hello(world: World) -> None:
    async with open_ws(world.url) as ws:
        await sign_in(ws, ADA)
        with store_unchanged(world.store, *BOOKKEEPING):
            for email in (ADA, ROOT):
                await send(ws, login_frame(email))
                await expect_error(ws, ErrorCode.ALREADY_AUTHENTICATED)
        await say_hello(ws)
        with store_unchanged(world.store, *BOOKKEEPING):
            await send(ws, hello_frame())
            await expect_error(ws, ErrorCode.INVALID_MESSAGE)
        await still_usable(ws)


def test_second_login_or_hello_on_a_connection_is_refused(tmp_path: Path) -> None:
    run(tmp_path, repeated_sign_in_and_hello)


async def wrong_credentials(world: World) -> None:
    async with open_ws(world.url) as ws:
        with store_unchanged(world.store, *BOOKKEEPING):
            await send(ws, login_frame(ADA, "not the password"))
            wrong = await expect_error(ws, ErrorCode.INVALID_CREDENTIALS)
            await send(ws, login_frame("nobody@example.com"))
            unknown = await expect_error(ws, ErrorCode.INVALID_CREDENTIALS)
        assert wrong["message"] == unknown["message"]  # which accounts exist is not told
        await sign_in(ws, ADA)


def test_wrong_password_or_unknown_email_is_invalid_credentials(tmp_path: Path) -> None:
    run(tmp_path, wrong_credentials)


async def rate_limited(spellings: tuple[str, ...], world: World) -> None:
    """Five failures for one account; the sixth attempt waits, even with the right password."""

    def spelling(attempt: int) -> str:
        return spellings[attempt % len(spellings)]

    async with open_ws(world.url) as ws:
        with store_unchanged(world.store, *BOOKKEEPING):
            for attempt in range(5):
                await send(ws, login_frame(spelling(attempt), "not the password"))
                await expect_error(ws, ErrorCode.INVALID_CREDENTIALS)
            for attempt, password in ((5, "not the password"), (6, PASSWORD)):
                await send(ws, login_frame(spelling(attempt), password))
                limited = await expect_error(ws, ErrorCode.RATE_LIMITED)
                retry_after = limited["details"]["retry_after"]
                assert isinstance(retry_after, int)
                assert 0 < retry_after <= 15 * 60 + 1
        await sign_in(ws, ADA)  # another account, from the same address, is not held up


RATE_LIMITS = [
    pytest.param((SAM,), id="same-spelling"),
    # The server signs "Lin@Example.Com " in as lin, so it must count as lin's failure too.
    pytest.param(
        ("LIN@example.com", " lin@example.com", "lin@example.com  ", "Lin@Example.Com"),
        id="spelled-differently",
    ),
]


@pytest.mark.parametrize("spellings", RATE_LIMITS)
def test_sixth_failed_login_is_rate_limited(tmp_path: Path, spellings: tuple[str, ...]) -> None:
    run(tmp_path, partial(rate_limited, spellings))


async def someone_elses_device_id(world: World) -> None:
    """A hello with another agent's device id is refused without disturbing that agent."""
    device_id = f"dev-{uuid.uuid4().hex[:12]}"
    async with open_ws(world.url) as owner:
        await sign_in(owner, ADA)
        await say_hello(owner, device_id)
        async with open_ws(world.url) as intruder:
            await sign_in(intruder, ROOT)
            with store_unchanged(world.store, *BOOKKEEPING):
                await send(intruder, hello_frame(device_id=device_id))
                await expect_error(intruder, ErrorCode.DEVICE_MISMATCH)
                await expect_close(intruder, CloseCode.BAD_REQUEST)
        await still_usable(owner)  # was closed: "replaced by a newer connection"
        assert (await mutate(owner, 1, "draft.delete", {"ticket_id": "t-1"}))["type"] == "ack"


def test_hello_with_another_agents_device_id_leaves_that_agent_connected(tmp_path: Path) -> None:
    run(tmp_path, someone_elses_device_id)


# --------------------------------------------------------------------------------------------
# 7. Mutations the agent may not make, or that make no sense
# --------------------------------------------------------------------------------------------


def new_ticket(**overrides: Any) -> dict[str, Any]:
    ticket = {"id": "t-new", "subject": "Refund", "channel": "email", "group_id": "g-care"}
    return {"ticket": {**ticket, **overrides}}


def new_message(**overrides: Any) -> dict[str, Any]:
    message = {"id": "m-new", "ticket_id": "t-1", "kind": "note", "body": "Looking into it."}
    return {"message": {**message, **overrides}}


def ticket_changes(ticket_id: str, **changes: Any) -> dict[str, Any]:
    return {"ticket_id": ticket_id, "changes": changes, "seen_version": 2}


NEW_AGENT = {"name": "Eve", "email": "eve@example.com", "password": "long enough 1"}
REFUSED_MUTATIONS = [
    # name, args, code, a field the details must name (or None)
    pytest.param(
        "ticket.update",
        ticket_changes("t-3", status="open"),
        ErrorCode.NOT_FOUND,
        None,
        id="update-invisible-ticket",
    ),
    pytest.param(
        "ticket.update",
        ticket_changes("t-404", status="open"),
        ErrorCode.NOT_FOUND,
        None,
        id="update-missing-ticket",
    ),
    pytest.param(
        "message.add",
        new_message(ticket_id="t-4"),
        ErrorCode.NOT_FOUND,
        None,
        id="note-on-invisible-ticket",
    ),
    pytest.param(
        "ticket.create",
        new_ticket(group_id="g-billing"),
        ErrorCode.FORBIDDEN,
        None,
        id="create-ticket-in-other-group",
    ),
    pytest.param(
        "ticket.create",
        new_ticket(group_id=None),
        ErrorCode.FORBIDDEN,
        None,
        id="create-ungrouped-ticket",
    ),
    pytest.param(
        "agent.create",
        {"agent_id": "a-eve", "agent": {**NEW_AGENT, "role": "admin"}},
        ErrorCode.FORBIDDEN,
        None,
        id="agent-create",
    ),
    pytest.param(
        "agent.update",
        {"agent_id": "a-ada", "changes": {"role": "admin"}},
        ErrorCode.FORBIDDEN,
        None,
        id="agent-update-own-role",
    ),
    pytest.param(
        "group.create",
        {"group_id": "g-new", "name": "Newcomers"},
        ErrorCode.FORBIDDEN,
        None,
        id="group-create",
    ),
    pytest.param(
        "ticket.explode",
        {"ticket_id": "t-1"},
        ErrorCode.INVALID_MUTATION,
        None,
        id="unknown-mutation",
    ),
    pytest.param(
        "ticket.update",
        ticket_changes("t-1", status="exploded"),
        ErrorCode.INVALID_MUTATION,
        "status",
        id="status-exploded",
    ),
    pytest.param(
        "ticket.update",
        ticket_changes("t-1", colour="red"),
        ErrorCode.INVALID_MUTATION,
        "colour",
        id="unknown-ticket-field",
    ),
    pytest.param(
        "ticket.update",
        {"ticket_id": "t-1", "changes": {"priority": "high"}},
        ErrorCode.INVALID_MUTATION,
        "seen_version",
        id="missing-seen-version",
    ),
    pytest.param(
        "message.add",
        new_message(body=""),
        ErrorCode.INVALID_MUTATION,
        "message.body",
        id="empty-body",
    ),
    pytest.param(
        "ticket.create",
        new_ticket(subject="x" * 501),
        ErrorCode.INVALID_MUTATION,
        "ticket.subject",
        id="subject-too-long",
    ),
    pytest.param(
        "message.add",
        new_message(kind="event", body="Assigned to Ada"),
        ErrorCode.INVALID_MUTATION,
        None,
        id="event-message",
    ),
    pytest.param(
        "message.add",
        new_message(kind="reply", body="Hello!"),
        ErrorCode.INVALID_MUTATION,
        None,
        id="reply-without-seen-version",
    ),
    pytest.param(
        "ticket.update",
        {**ticket_changes("t-1", status="open"), "seen_version": 2**64},
        ErrorCode.INVALID_MUTATION,
        "seen_version",
        id="seen-version-2^64",
    ),
    pytest.param(
        "message.add",
        {**new_message(kind="reply"), "seen_version": MAX_WIRE_INT + 1},
        ErrorCode.INVALID_MUTATION,
        "seen_version",
        id="reply-seen-version-2^53",
    ),
    pytest.param(
        "message.add",
        new_message(id="m-1"),
        ErrorCode.DUPLICATE,
        None,
        id="duplicate-message-id",
    ),
    pytest.param(
        "ticket.create",
        new_ticket(id="t-2"),
        ErrorCode.DUPLICATE,
        None,
        id="duplicate-ticket-id",
    ),
]


async def refused_mutation(
    name: str, args: dict[str, Any], code: ErrorCode, field: str | None, world: World
) -> None:
    token = await raw_session(world.url, ADA)
    device_id = f"dev-{uuid.uuid4().hex[:12]}"
    # Bookkeeping may change (the reject is kept for replays); nothing else may.
    with store_unchanged(world.store):
        async with open_ws(world.url, token=token) as ws:
            await say_hello(ws, device_id)
            reject = await mutate(ws, 1, name, args)
            assert reject["type"] == "reject", reject
            assert reject["code"] == code.value, reject
            assert "replayed" not in reject
            if field is not None:
                assert field in detail_locs(reject), reject
            # The same mutation again, as after a lost answer: the same verdict, marked replayed.
            assert await mutate(ws, 1, name, args) == {**reject, "replayed": True}
            await still_usable(ws)
        async with open_ws(world.url, token=token) as ws:  # and after reconnecting
            await say_hello(ws, device_id)
            assert await mutate(ws, 1, name, args) == {**reject, "replayed": True}


@pytest.mark.parametrize(("name", "args", "code", "field"), REFUSED_MUTATIONS)
def test_refused_mutation_changes_nothing_and_replays_the_same(
    tmp_path: Path, name: str, args: dict[str, Any], code: ErrorCode, field: str | None
) -> None:
    run(tmp_path, partial(refused_mutation, name, args, code, field))


async def integers_at_the_edge(world: World) -> None:
    """An integer beyond 2^53-1 is refused alone; the largest one allowed is stored as any."""
    async with synced(world, ROOT) as bystander, synced(world, ADA) as ws:
        with store_unchanged(world.store):  # the bystander's answer is kept, nothing else
            # Back to back: both would share a write batch if the bad one got that far.
            await send(ws, mutation_frame(2**63, "draft.save", {"ticket_id": "t-1", "body": "x"}))
            await send(bystander, mutation_frame(1, "draft.delete", {"ticket_id": "t-2"}))
            error = await expect_error(ws, ErrorCode.INVALID_MESSAGE)
            assert "mutation.mutation_id" in detail_locs(error), error
            answer = await next_frame(bystander, "ack", "reject")
        assert (answer["type"], answer["mutation_id"]) == ("ack", 1), answer
        ack = await mutate(ws, MAX_WIRE_INT, "draft.save", {"ticket_id": "t-1", "body": "x"})
        assert ack["type"] == "ack", ack
        await still_usable(ws)
        await still_usable(bystander)
    token = await raw_session(world.url, ADA)
    async with open_ws(world.url, token=token) as ws:
        await send(ws, hello_frame(cursor=MAX_WIRE_INT))
        welcome = await next_frame(ws, "welcome")
        assert welcome["bootstrap"] is True  # a cursor beyond the head: from another store


def test_integer_beyond_the_documented_range_is_refused_alone(tmp_path: Path) -> None:
    run(tmp_path, integers_at_the_edge)


def new_canned(canned_id: str) -> dict[str, Any]:
    return {"canned_id": canned_id, "canned": {"title": "Mine", "body": "Hello"}}  # personal


async def taken_ids(world: World) -> None:
    """A new ticket, message or canned response with an id that is taken is refused the same
    way whether or not the agent may see the row that has it, and the refusal names no row."""
    creates: list[tuple[str, Callable[[str], dict[str, Any]], str, str]] = [
        # (name, its args for an id, the id of a row Ada cannot see, of one she can)
        ("ticket.create", lambda i: new_ticket(id=i), "t-3", "t-2"),
        ("message.add", lambda i: new_message(id=i), "m-3", "m-2"),  # t-3's, t-2's messages
        ("canned.create", new_canned, "cr-root", "cr-ada"),
    ]
    async with synced(world, ROOT) as root:  # an admin's personal response: only theirs
        assert (await mutate(root, 1, "canned.create", new_canned("cr-root")))["type"] == "ack"
    async with synced(world, ADA) as ws:
        assert (await mutate(ws, 1, "canned.create", new_canned("cr-ada")))["type"] == "ack"
        mutation_id = 1
        with store_unchanged(world.store):
            for name, args, hidden, seen in creates:
                messages = []
                for taken in (hidden, seen):
                    mutation_id += 1
                    answer = await mutate(ws, mutation_id, name, args(taken))
                    assert answer["code"] == ErrorCode.DUPLICATE.value, answer
                    assert "current" not in answer
                    messages.append(answer["message"].replace(taken, "<id>"))
                assert messages[0] == messages[1]
                for word in ("ticket", "message", "canned", "exists"):
                    assert word not in messages[0]


def test_a_taken_id_is_refused_alike_whether_its_row_is_visible_or_not(tmp_path: Path) -> None:
    run(tmp_path, taken_ids)


# --------------------------------------------------------------------------------------------
# 8. All of the above against one server, which stays healthy
# --------------------------------------------------------------------------------------------


async def still_healthy(world: World) -> None:
    def get_health() -> tuple[int, Frame]:
        url = f"http://127.0.0.1:{world.server.port}/healthz"
        with urllib.request.urlopen(url, timeout=TIMEOUT) as response:
            return int(response.status), json.loads(response.read())

    status, health = await asyncio.to_thread(get_health)
    assert status == 200
    assert health["status"] == "ok"

    ada, seen = await workstation(world.tmp, world.server.url, ADA)
    try:
        assert {t["number"] for t in await ada.read(queries.ticket_list)} == {1, 2, 5}
        message_id = await ada.reply("t-1", "Still here after all that.")

        async def delivered() -> bool:
            return bool((await ada.read(queries.sync_status))["outbox"] == 0)

        await eventually(delivered)
    finally:
        await ada.close()
    assert seen.refused == []
    with world.store.connect() as conn:
        body = conn.execute(select(Message.body).where(Message.id == message_id)).scalar()
    assert body == "Still here after all that."


def every_bad_input() -> list[Scenario]:
    def each(scenario: Callable[..., Awaitable[None]], params: list[Any]) -> list[Scenario]:
        return [partial(scenario, *param.values) for param in params]

    return [
        *each(not_a_frame_when_anonymous, NOT_FRAMES),
        *each(not_a_frame_when_synced, NOT_FRAMES),
        too_many_bad_frames,
        refusals_between_bad_frames,
        *each(wrong_field, WRONG_FIELDS),
        oversize_frame,
        frame_at_the_limit,
        protocol_out_of_window,
        *each(bad_authorization, BAD_AUTHORIZATION),
        *each(ended_session, SESSION_ENDINGS),
        disabled_agent_signs_in,
        token_in_url,
        *each(before_sign_in, ONLY_AFTER_SIGN_IN),
        *each(before_hello, ONLY_AFTER_HELLO),
        presence_after_hello,
        repeated_sign_in_and_hello,
        someone_elses_device_id,
        wrong_credentials,
        *each(rate_limited, RATE_LIMITS),
        *each(refused_mutation, REFUSED_MUTATIONS),
        integers_at_the_edge,
        taken_ids,
    ]


@pytest.mark.slow
def test_server_that_saw_all_of_it_is_still_healthy(tmp_path: Path) -> None:
    run(tmp_path, *every_bad_input(), still_healthy)
