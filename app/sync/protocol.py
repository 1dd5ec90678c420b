"""The Switchboard sync protocol, shared by the workstation and the server.

`docs/protocol.md` is the normative description; this module is its executable form.
Every frame is one JSON object (a WebSocket text frame) with a ``type``.  Inbound frames are
validated here with pydantic, so a malformed one is answered with a precise error and never
reaches the store.
"""

from __future__ import annotations

import json
import re
from enum import IntEnum, StrEnum
from itertools import accumulate
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, ValidationError

from app.models.enums import (
    CannedScope,
    Channel,
    IdentityKind,
    MessageKind,
    Presence,
    Priority,
    Role,
    TicketStatus,
    Tier,
)

# The protocol versions this build speaks; peers negotiate the highest common one.
PROTOCOL_MIN = 1
PROTOCOL_MAX = 1

SYNC_PATH = "/sync"
HEALTH_PATH = "/healthz"
MAX_FRAME_BYTES = 1024 * 1024  # client frames: larger ones close the connection with 1009
# Server frames: pages are cut at PAGE_BYTES, but one change (a message of MAX_BODY_CHARS) or a
# fetched ticket's whole thread can be larger, so clients accept up to this.
MAX_SERVER_FRAME_BYTES = 64 * 1024 * 1024
PAGE_BYTES = 512 * 1024
MAX_BODY_CHARS = 200_000  # a message or draft body
PAGE_SIZE = 500  # changes per catch-up page
# Arrays and objects nest at most this deep in a frame (the frame object itself is level 1).  The
# deepest real frame is 6; json.loads recurses per level and fails near 1,000 levels.
MAX_NESTING = 32
SEARCH_LIMIT = 200

# Every integer on the wire, in either direction, is in 0..MAX_WIRE_INT: exact as a JSON number
# in every language (JavaScript's doubles included) and well inside the store's 64-bit columns,
# so no client integer can fail a write that other agents' mutations share.
MAX_WIRE_INT = 2**53 - 1
WireInt = Annotated[int, Field(ge=0, le=MAX_WIRE_INT)]  # cursors, versions, acked_through
PositiveWireInt = Annotated[int, Field(ge=1, le=MAX_WIRE_INT)]  # mutation ids, ticket numbers

Id = Annotated[str, Field(min_length=1, max_length=36, pattern=r"^[A-Za-z0-9_.:-]+$")]
Text = Annotated[str, Field(max_length=MAX_BODY_CHARS)]
ShortText = Annotated[str, Field(max_length=500)]
Tag = Annotated[str, Field(min_length=1, max_length=64)]


class ErrorCode(StrEnum):
    """Machine-readable reasons in ``error`` and ``reject`` frames."""

    MALFORMED_JSON = "malformed_json"
    UNKNOWN_TYPE = "unknown_type"
    INVALID_MESSAGE = "invalid_message"
    FRAME_TOO_LARGE = "frame_too_large"
    PROTOCOL_UNSUPPORTED = "protocol_unsupported"
    NOT_AUTHENTICATED = "not_authenticated"
    ALREADY_AUTHENTICATED = "already_authenticated"
    HELLO_REQUIRED = "hello_required"
    INVALID_CREDENTIALS = "invalid_credentials"
    RATE_LIMITED = "rate_limited"
    TOKEN_INVALID = "token_invalid"  # noqa: S105 (an error code, not a secret)
    SESSION_EXPIRED = "session_expired"
    SESSION_REVOKED = "session_revoked"
    AGENT_DISABLED = "agent_disabled"
    ACCESS_CHANGED = "access_changed"
    ORIGIN_FORBIDDEN = "origin_forbidden"  # HTTP 403 at the handshake
    DEVICE_MISMATCH = "device_mismatch"
    FORBIDDEN = "forbidden"
    NOT_FOUND = "not_found"
    CONFLICT = "conflict"
    INVALID_MUTATION = "invalid_mutation"
    DUPLICATE = "duplicate"
    QUOTA_EXCEEDED = "quota_exceeded"
    SERVER_BUSY = "server_busy"
    INTERNAL = "internal_error"
    TOO_LARGE = "too_large"  # an attachment over the server's limit
    HASH_MISMATCH = "hash_mismatch"  # uploaded bytes that are not what their hash says


class CloseCode(IntEnum):
    """WebSocket close codes the server uses, beyond the standard ones (1000, 1001, 1009, 1011)."""

    BAD_REQUEST = 4000  # the connection cannot continue (e.g. a frame before hello)
    SESSION_ENDED = 4001  # token expired or revoked, agent disabled: sign in again
    PROTOCOL_UNSUPPORTED = 4002  # no common protocol version: upgrade the workstation
    TOO_SLOW = 4008  # the send queue overflowed: reconnect and resume from the cursor
    ACCESS_CHANGED = 4009  # role or groups changed: reconnect; the cache will be rebuilt


class ProtocolError(Exception):
    """An inbound frame that cannot be accepted; carries the documented error code."""

    def __init__(self, code: ErrorCode, message: str, details: Any = None) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.details = details


class _Frame(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)


# The base of every frame and mutation-argument model: unknown fields are refused.
WireModel = _Frame


# --------------------------------------------------------------------------------------------
# Client -> server
# --------------------------------------------------------------------------------------------


class VersionWindow(_Frame):
    min: PositiveWireInt
    max: PositiveWireInt


class Login(_Frame):
    type: Literal["login"]
    email: Annotated[str, Field(min_length=3, max_length=320)]
    password: Annotated[str, Field(min_length=1, max_length=1024)]


class Hello(_Frame):
    type: Literal["hello"]
    protocol: VersionWindow
    device_id: Id
    cursor: WireInt
    access_version: WireInt = 0
    acked_through: WireInt = 0
    client: ShortText = ""


class Mutation(_Frame):
    type: Literal["mutation"]
    mutation_id: PositiveWireInt
    name: Annotated[str, Field(max_length=64)]
    args: dict[str, Any]


class FetchTicket(_Frame):
    type: Literal["fetch_ticket"]
    request_id: Annotated[str, Field(max_length=64)]
    number: PositiveWireInt | None = None
    ticket_id: Id | None = None


class Search(_Frame):
    type: Literal["search"]
    request_id: Annotated[str, Field(max_length=64)]
    query: Annotated[str, Field(min_length=1, max_length=200)]
    limit: int = Field(default=50, ge=1, le=SEARCH_LIMIT)


class SetPresence(_Frame):
    type: Literal["presence"]
    # Frames arrive as parsed JSON, where an enum is a plain string; strict mode would demand a
    # Presence instance and refuse every presence frame (found by tests/test_bad_input.py).
    status: Presence = Field(strict=False)


class Viewing(_Frame):
    type: Literal["viewing"]
    ticket_id: Id | None
    typing: bool = False


class Logout(_Frame):
    type: Literal["logout"]


# ---- attachments' bytes (section 12.3): chunked requests on the same connection ------------

# One chunk of a file in a ``blob_chunk`` or ``blob_data`` frame; base64 makes it about 350 KB
# of text, well inside MAX_FRAME_BYTES, and short enough that other frames pass between chunks.
BLOB_CHUNK_BYTES = 256 * 1024
Sha256 = Annotated[str, Field(pattern=r"^[0-9a-f]{64}$")]
RequestId = Annotated[str, Field(max_length=64)]


class BlobOffer(_Frame):
    """ "I have these bytes to upload": answered with what the server has of them."""

    type: Literal["blob_offer"]
    request_id: RequestId
    sha256: Sha256
    size: WireInt


class BlobChunk(_Frame):
    """The next chunk of an upload, at ``offset`` (what the server said it has received)."""

    type: Literal["blob_chunk"]
    request_id: RequestId
    sha256: Sha256
    offset: WireInt
    data: Annotated[str, Field(max_length=(BLOB_CHUNK_BYTES + 2) // 3 * 4)]  # base64


class BlobFetch(_Frame):
    """One chunk of stored bytes, from ``offset``."""

    type: Literal["blob_fetch"]
    request_id: RequestId
    sha256: Sha256
    offset: WireInt = 0


ClientFrame = Annotated[
    Login
    | Hello
    | Mutation
    | FetchTicket
    | Search
    | SetPresence
    | Viewing
    | Logout
    | BlobOffer
    | BlobChunk
    | BlobFetch,
    Field(discriminator="type"),
]
_client_frame: TypeAdapter[ClientFrame] = TypeAdapter(ClientFrame)
CLIENT_TYPES = frozenset(
    {"login", "hello", "mutation", "fetch_ticket", "search", "presence", "viewing", "logout"}
    | {"blob_offer", "blob_chunk", "blob_fetch"}
)


# --------------------------------------------------------------------------------------------
# Mutation arguments (the ``args`` of a ``mutation`` frame, by ``name``)
# --------------------------------------------------------------------------------------------


class NewMessage(_Frame):
    id: Id
    ticket_id: Id
    kind: MessageKind
    body: Annotated[str, Field(min_length=1, max_length=MAX_BODY_CHARS)]


class NewTicket(_Frame):
    id: Id
    subject: Annotated[str, Field(min_length=1, max_length=500)]
    channel: Channel
    status: TicketStatus = TicketStatus.NEW
    priority: Priority = Priority.NORMAL
    customer_id: Id | None = None
    group_id: Id | None = None
    assignee_id: Id | None = None
    tags: list[Tag] = Field(default_factory=list, max_length=50)


class TicketChanges(_Frame):
    subject: Annotated[str, Field(min_length=1, max_length=500)] | None = None
    status: TicketStatus | None = None
    priority: Priority | None = None
    assignee_id: Id | None = None
    group_id: Id | None = None
    tags: list[Tag] | None = Field(default=None, max_length=50)


class TicketCreateArgs(_Frame):
    ticket: NewTicket
    message: NewMessage | None = None


class TicketUpdateArgs(_Frame):
    ticket_id: Id
    # Only the fields present are changed; ``null`` clears assignee or group.
    changes: dict[str, Any]
    seen_version: WireInt


class NewAttachment(_Frame):
    """A file on a new message: its bytes must be stored (``blob_offer``/``blob_chunk``) first."""

    id: Id
    sha256: Sha256
    file_name: Annotated[str, Field(min_length=1, max_length=255)]
    mime_type: Annotated[str, Field(min_length=3, max_length=127, pattern=r"^[\w.+-]+/[\w.+-]+$")]
    size: WireInt
    width: Annotated[int, Field(ge=1, le=100_000)] | None = None
    height: Annotated[int, Field(ge=1, le=100_000)] | None = None


class MessageAddArgs(_Frame):
    message: NewMessage
    # Required for a public reply: the ticket version the agent last saw.
    seen_version: WireInt | None = None
    # Files on the message (section 10.10); their bytes reach the server before the message.
    attachments: list[NewAttachment] = Field(default_factory=list, max_length=20)


class DraftSaveArgs(_Frame):
    ticket_id: Id
    kind: Literal["reply", "note"] = "reply"
    body: Text


class DraftDeleteArgs(_Frame):
    ticket_id: Id


class IdentityIn(_Frame):
    id: Id
    kind: IdentityKind
    value: Annotated[str, Field(min_length=1, max_length=320)]


class CustomerFields(_Frame):
    name: Annotated[str, Field(min_length=1, max_length=200)] | None = None
    organization_id: Id | None = None
    tier: Tier | None = None
    language: Annotated[str, Field(max_length=16)] | None = None
    timezone: Annotated[str, Field(max_length=64)] | None = None
    notes: Text | None = None
    identities: list[IdentityIn] | None = Field(default=None, max_length=50)


class CustomerCreateArgs(_Frame):
    customer_id: Id
    customer: CustomerFields


class CustomerUpdateArgs(_Frame):
    customer_id: Id
    changes: dict[str, Any]


class CannedFields(_Frame):
    title: Annotated[str, Field(min_length=1, max_length=200)] | None = None
    shortcut: Annotated[str, Field(max_length=64)] | None = None
    body: Annotated[str, Field(min_length=1, max_length=MAX_BODY_CHARS)] | None = None
    scope: CannedScope | None = None
    group_id: Id | None = None


class CannedCreateArgs(_Frame):
    canned_id: Id
    canned: CannedFields


class CannedUpdateArgs(_Frame):
    canned_id: Id
    changes: dict[str, Any]


class CannedRefArgs(_Frame):
    canned_id: Id


class AgentFields(_Frame):
    name: Annotated[str, Field(min_length=1, max_length=200)] | None = None
    email: Annotated[str, Field(min_length=3, max_length=320)] | None = None
    role: Role | None = None
    active: bool | None = None
    timezone: Annotated[str, Field(max_length=64)] | None = None
    group_ids: list[Id] | None = Field(default=None, max_length=100)
    password: Annotated[str, Field(min_length=8, max_length=1024)] | None = None


class AgentCreateArgs(_Frame):
    agent_id: Id
    agent: AgentFields


class AgentUpdateArgs(_Frame):
    agent_id: Id
    changes: dict[str, Any]


class GroupCreateArgs(_Frame):
    group_id: Id
    name: Annotated[str, Field(min_length=1, max_length=120)]
    description: ShortText = ""


# Ticket fields whose change needs the version the agent saw (collision guard): every one,
# checked field by field — a change of a field a colleague changed since is a conflict.
GUARDED_TICKET_FIELDS = frozenset(TicketChanges.model_fields)


def describe(exc: ValidationError) -> list[dict[str, Any]]:
    """A validation error as the wire's ``details``: which field, and what is wrong."""
    return [
        {"loc": ".".join(str(p) for p in err["loc"]), "msg": err["msg"]}
        for err in exc.errors(include_url=False, include_input=False)
    ]


def invalid_arguments(name: str, exc: ValidationError) -> ProtocolError:
    """The ``invalid_mutation`` error for arguments that failed validation."""
    return ProtocolError(ErrorCode.INVALID_MUTATION, f"invalid arguments for {name}", describe(exc))


def validated_changes(model: type[BaseModel], changes: dict[str, Any]) -> dict[str, Any]:
    """The ``changes`` of an update checked against its field ``model`` and normalised (enums
    to strings), keeping explicit nulls."""
    parsed = model.model_validate(changes, strict=False)
    return {k: v for k, v in parsed.model_dump(mode="json").items() if k in changes}


# --------------------------------------------------------------------------------------------
# Encoding and decoding
# --------------------------------------------------------------------------------------------


def encode(frame: dict[str, Any]) -> str:
    """One frame as compact JSON text."""
    return json.dumps(frame, separators=(",", ":"), ensure_ascii=False)


_JSON_STRING = re.compile(r'"[^"\\]*(?:\\.[^"\\]*)*"')
_NOT_A_BRACKET = re.compile(r"[^\[\]{}]+")
_LEVEL_CHANGE = {"[": 1, "{": 1, "]": -1, "}": -1}.__getitem__


def nesting_depth(text: str) -> int:
    """How deep the arrays and objects of JSON ``text`` nest, counted without recursion.

    Brackets inside strings are not counted; for text that is not JSON the answer is only an
    estimate, and parsing it fails anyway.
    """
    brackets = _NOT_A_BRACKET.sub("", _JSON_STRING.sub("", text))
    return max(accumulate(map(_LEVEL_CHANGE, brackets)), default=0)


def decode_json(raw: str | bytes) -> dict[str, Any]:
    """Parse a frame's JSON into a dict with a string ``type``; nothing more is checked."""
    if isinstance(raw, bytes):
        try:
            raw = raw.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise ProtocolError(ErrorCode.MALFORMED_JSON, "frame is not UTF-8 text") from exc
    # Counting brackets is cheap, and fewer of them than the limit cannot nest too deep.
    if raw.count("[") + raw.count("{") > MAX_NESTING and nesting_depth(raw) > MAX_NESTING:
        raise ProtocolError(
            ErrorCode.MALFORMED_JSON, f"frame nests deeper than {MAX_NESTING} levels"
        )
    try:
        obj = json.loads(raw)
    except ValueError as exc:
        raise ProtocolError(ErrorCode.MALFORMED_JSON, f"frame is not valid JSON: {exc}") from exc
    if not isinstance(obj, dict):
        raise ProtocolError(ErrorCode.MALFORMED_JSON, "frame must be a JSON object")
    frame_type = obj.get("type")
    if not isinstance(frame_type, str):
        raise ProtocolError(ErrorCode.INVALID_MESSAGE, "frame has no string 'type'")
    return obj


def parse_client_frame(raw: str | bytes) -> ClientFrame:
    """Decode and validate a client frame; raises ProtocolError with the documented code."""
    obj = decode_json(raw)
    if obj["type"] not in CLIENT_TYPES:
        raise ProtocolError(ErrorCode.UNKNOWN_TYPE, f"unknown frame type {obj['type']!r}")
    try:
        return _client_frame.validate_python(obj)
    except ValidationError as exc:
        raise ProtocolError(
            ErrorCode.INVALID_MESSAGE, f"invalid {obj['type']!r} frame", describe(exc)
        ) from exc


def negotiate(window: VersionWindow) -> int | None:
    """The highest protocol version both sides speak, or None."""
    high = min(window.max, PROTOCOL_MAX)
    return high if high >= max(window.min, PROTOCOL_MIN) else None


def error_frame(
    code: ErrorCode, message: str, *, details: Any = None, request_id: str | None = None
) -> dict[str, Any]:
    frame: dict[str, Any] = {"type": "error", "code": code.value, "message": message}
    if details is not None:
        frame["details"] = details
    if request_id is not None:
        frame["request_id"] = request_id
    return frame
