"""Attachments' bytes on the server: stored once by SHA-256, uploaded and fetched in chunks.

The bytes live in the store (``blobs``, ``blob_parts``; app/models/attachments.py), so every
server process on one PostgreSQL serves every file, and they share its backups.  An upload is
staged under the uploading workstation (``blob_uploads`` and parts owned by it), one chunk per
``blob_chunk`` frame in order; after a dropped connection ``blob_offer`` tells the workstation
how much arrived, and it goes on from there.  With the last chunk the server hashes what it
received (part by part, on a reader thread: memory stays at one part) and, only if the hash is
the one offered, makes the parts the stored blob's by renaming their owner; otherwise the
upload is dropped and nothing is stored.

Chunks are requests on the workstation's own connection (docs/protocol.md, 12.3): one at a
time per upload or download, each answered before the next is sent, so a large file never
fills the connection's bounded send queue and live changes pass between its chunks.
"""

from __future__ import annotations

import binascii
import hashlib
import logging
import math
from datetime import timedelta
from typing import TYPE_CHECKING, Any

from sqlalchemy import Connection, and_, delete, exists, insert, select, tuple_, update

from app.domain.attachments import may_fetch, may_name
from app.domain.sight import Viewer
from app.files import too_large_words
from app.models.base import utcnow
from app.models.tables import (
    T_ATTACHMENTS,
    T_BLOB_HOLDERS,
    T_BLOB_PARTS,
    T_BLOB_UPLOADS,
    T_BLOBS,
)
from app.sync import protocol as p
from app.sync.protocol import BLOB_CHUNK_BYTES, ErrorCode

if TYPE_CHECKING:
    from app.server.connection import AgentConnection

log = logging.getLogger(__name__)

# An upload nobody finished within this long is dropped (its workstation starts again).
ABANDONED_AFTER = timedelta(days=7)
# Stored bytes no attachment names after this long are deleted (a few with each offer).
ORPHANED_AFTER = timedelta(days=2)
SWEEP_LIMIT = 20
STORED = ""  # the owner of a stored blob's parts
EMPTY_SHA256 = hashlib.sha256(b"").hexdigest()


class BlobRefused(Exception):
    """A blob request the server answers with an error frame."""

    def __init__(self, code: ErrorCode, message: str, **details: Any) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.details = details or None


# ---- the store ---------------------------------------------------------------------------


def stored_size(conn: Connection, sha256: str) -> int | None:
    return conn.execute(select(T_BLOBS.c.size).where(T_BLOBS.c.sha256 == sha256)).scalar()


def offer(conn: Connection, owner: str, viewer: Viewer, sha256: str, size: int) -> dict[str, Any]:
    """What the server has of these bytes: stored, or how much of this workstation's upload.

    "Stored" is told only to an agent who may name the bytes (`may_name`); anyone else
    uploads them whole, which proves they have them, before a message may name them."""
    agent_id = viewer.id
    _drop_abandoned(conn)
    drop_unreferenced(conn)
    if stored_size(conn, sha256) == size and may_name(conn, viewer, sha256):
        # Offered again: about to be named by a message.  Young again, so the sweep below
        # leaves it alone for another ORPHANED_AFTER.
        conn.execute(update(T_BLOBS).where(T_BLOBS.c.sha256 == sha256).values(created_at=utcnow()))
        return {"stored": True, "received": size}
    key = and_(T_BLOB_UPLOADS.c.owner == owner, T_BLOB_UPLOADS.c.sha256 == sha256)
    upload = conn.execute(select(T_BLOB_UPLOADS).where(key)).mappings().first()
    if upload is not None and upload["size"] == size:
        return {"stored": False, "received": int(upload["received"])}
    if upload is not None:  # the same hash offered with another size: start again
        _discard(conn, owner, sha256)
    conn.execute(
        insert(T_BLOB_UPLOADS).values(
            owner=owner,
            sha256=sha256,
            size=size,
            received=0,
            agent_id=agent_id,
            started_at=utcnow(),
        )
    )
    return {"stored": False, "received": 0}


def add_chunk(
    conn: Connection, owner: str, sha256: str, offset: int, data: bytes
) -> tuple[int, int, bool]:
    """Append one chunk to this workstation's upload; returns (received, size, stored):
    ``stored`` if the bytes were stored meanwhile (another workstation finished them)."""
    key = and_(T_BLOB_UPLOADS.c.owner == owner, T_BLOB_UPLOADS.c.sha256 == sha256)
    upload = conn.execute(select(T_BLOB_UPLOADS).where(key).with_for_update()).mappings().first()
    if upload is None:
        size = stored_size(conn, sha256)
        if size is not None:
            return int(size), int(size), True
        raise BlobRefused(ErrorCode.NOT_FOUND, "offer the file (blob_offer) before its chunks")
    received, size = int(upload["received"]), int(upload["size"])
    if offset != received:
        raise BlobRefused(
            ErrorCode.CONFLICT,
            f"the server has {received} bytes of this file; send the chunk at that offset",
            received=received,
        )
    last = received + len(data) == size
    if received + len(data) > size or (len(data) != BLOB_CHUNK_BYTES and not last) or not data:
        raise BlobRefused(
            ErrorCode.INVALID_MESSAGE,
            f"a chunk holds {BLOB_CHUNK_BYTES} bytes; the last one the rest of the size offered",
        )
    conn.execute(
        insert(T_BLOB_PARTS).values(
            owner=owner, sha256=sha256, part_no=offset // BLOB_CHUNK_BYTES, data=data
        )
    )
    conn.execute(update(T_BLOB_UPLOADS).where(key).values(received=received + len(data)))
    return received + len(data), size, False


def hash_of_upload(conn: Connection, owner: str, sha256: str, size: int) -> str:
    """The SHA-256 of an upload's parts, read one part at a time."""
    digest = hashlib.sha256()
    for part_no in range((size + BLOB_CHUNK_BYTES - 1) // BLOB_CHUNK_BYTES):
        data = conn.execute(
            select(T_BLOB_PARTS.c.data).where(
                T_BLOB_PARTS.c.owner == owner,
                T_BLOB_PARTS.c.sha256 == sha256,
                T_BLOB_PARTS.c.part_no == part_no,
            )
        ).scalar()
        digest.update(data or b"")
    return digest.hexdigest()


def finish(conn: Connection, owner: str, agent_id: str, sha256: str, size: int) -> None:
    """A checked upload becomes the stored blob (unless another finished it first); either
    way the agent has proved they hold the bytes."""
    held = select(T_BLOB_HOLDERS.c.sha256).where(
        T_BLOB_HOLDERS.c.sha256 == sha256, T_BLOB_HOLDERS.c.agent_id == agent_id
    )
    if conn.execute(held).first() is None:
        conn.execute(insert(T_BLOB_HOLDERS).values(sha256=sha256, agent_id=agent_id))
    if stored_size(conn, sha256) is not None:
        _discard(conn, owner, sha256)
        return
    conn.execute(insert(T_BLOBS).values(sha256=sha256, size=size, created_at=utcnow()))
    conn.execute(
        update(T_BLOB_PARTS)
        .where(T_BLOB_PARTS.c.owner == owner, T_BLOB_PARTS.c.sha256 == sha256)
        .values(owner=STORED)
    )
    conn.execute(
        delete(T_BLOB_UPLOADS).where(
            T_BLOB_UPLOADS.c.owner == owner, T_BLOB_UPLOADS.c.sha256 == sha256
        )
    )


def _discard(conn: Connection, owner: str, sha256: str) -> None:
    conn.execute(
        delete(T_BLOB_PARTS).where(T_BLOB_PARTS.c.owner == owner, T_BLOB_PARTS.c.sha256 == sha256)
    )
    conn.execute(
        delete(T_BLOB_UPLOADS).where(
            T_BLOB_UPLOADS.c.owner == owner, T_BLOB_UPLOADS.c.sha256 == sha256
        )
    )


def _drop_abandoned(conn: Connection) -> None:
    old = select(T_BLOB_UPLOADS.c.owner, T_BLOB_UPLOADS.c.sha256).where(
        T_BLOB_UPLOADS.c.started_at < utcnow() - ABANDONED_AFTER
    )
    if conn.execute(old.limit(1)).first() is None:
        return
    conn.execute(
        delete(T_BLOB_PARTS).where(tuple_(T_BLOB_PARTS.c.owner, T_BLOB_PARTS.c.sha256).in_(old))
    )
    conn.execute(
        delete(T_BLOB_UPLOADS).where(T_BLOB_UPLOADS.c.started_at < utcnow() - ABANDONED_AFTER)
    )


def drop_unreferenced(conn: Connection, limit: int = SWEEP_LIMIT) -> int:
    """Delete up to ``limit`` stored files no attachment names, stored (or last offered)
    more than ORPHANED_AFTER ago: the bytes of a message that was refused and discarded, or
    never sent.  A little at a time, with each offer, so no sweep ever holds the writer long.
    Returns how many went."""
    cutoff = utcnow() - ORPHANED_AFTER
    named = select(T_ATTACHMENTS.c.id).where(T_ATTACHMENTS.c.sha256 == T_BLOBS.c.sha256)
    doomed = list(
        conn.execute(
            select(T_BLOBS.c.sha256)
            .where(T_BLOBS.c.created_at < cutoff, ~exists(named))
            .limit(limit)
        ).scalars()
    )
    if doomed:
        conn.execute(
            delete(T_BLOB_PARTS).where(
                T_BLOB_PARTS.c.owner == STORED, T_BLOB_PARTS.c.sha256.in_(doomed)
            )
        )
        conn.execute(delete(T_BLOBS).where(T_BLOBS.c.sha256.in_(doomed)))
    return len(doomed)


def read_chunk(conn: Connection, sha256: str, offset: int) -> tuple[int, bytes] | None:
    """(size, the chunk at ``offset``) of a stored blob, or None if it is not stored."""
    size = stored_size(conn, sha256)
    if size is None:
        return None
    data = conn.execute(
        select(T_BLOB_PARTS.c.data).where(
            T_BLOB_PARTS.c.owner == STORED,
            T_BLOB_PARTS.c.sha256 == sha256,
            T_BLOB_PARTS.c.part_no == offset // BLOB_CHUNK_BYTES,
        )
    ).scalar()
    return int(size), bytes(data or b"")


# ---- the requests ------------------------------------------------------------------------


class BlobRequests:
    """Answers one connection's ``blob_offer``, ``blob_chunk`` and ``blob_fetch`` frames."""

    def __init__(self, connection: AgentConnection) -> None:
        self._conn = connection

    async def handle(self, frame: p.BlobOffer | p.BlobChunk | p.BlobFetch) -> None:
        try:
            if isinstance(frame, p.BlobOffer):
                answer = await self._offer(frame)
            elif isinstance(frame, p.BlobChunk):
                answer = await self._chunk(frame)
            else:
                answer = await self._fetch(frame)
        except BlobRefused as exc:
            await self._conn.error(
                exc.code, exc.message, request_id=frame.request_id, details=exc.details
            )
            return
        await self._conn.send({"request_id": frame.request_id, "sha256": frame.sha256, **answer})

    def _check_size(self, size: int) -> None:
        limit = self._conn.server.attachment_limit
        if size > limit:
            raise BlobRefused(
                ErrorCode.TOO_LARGE, too_large_words("This file", size, limit), limit=limit
            )

    async def _offer(self, frame: p.BlobOffer) -> dict[str, Any]:
        self._check_size(frame.size)
        conn = self._conn
        owner, agent = conn.workstation_id or "", conn.viewer.id
        if frame.size == 0:  # nothing to send: the hash alone says whether it is empty
            if frame.sha256 != EMPTY_SHA256:
                raise BlobRefused(ErrorCode.HASH_MISMATCH, "an empty file has another SHA-256")
            await conn.server.writer.run(lambda c: finish(c, owner, agent, frame.sha256, 0))
            return {"type": "blob_state", "size": 0, "received": 0, "stored": True}
        state = await conn.server.writer.run(
            lambda c: offer(c, owner, conn.viewer, frame.sha256, frame.size)
        )
        return {"type": "blob_state", "size": frame.size, **state}

    async def _chunk(self, frame: p.BlobChunk) -> dict[str, Any]:
        # A chunk is written by the writer like a mutation: it counts against the agent's
        # volume and rate as one (quotas.py), so no upload can take the writer from the rest.
        conn = self._conn
        wait = conn.server.quotas.admit(conn.viewer.id, len(frame.data))
        if wait > 0:
            raise BlobRefused(
                ErrorCode.RATE_LIMITED,
                f"too much sent too fast; send this chunk again in {math.ceil(wait)} s",
                retry_after=math.ceil(wait),
            )
        try:
            data = binascii.a2b_base64(frame.data, strict_mode=True)
        except binascii.Error as exc:
            raise BlobRefused(ErrorCode.INVALID_MESSAGE, f"data is not base64: {exc}") from exc
        owner, agent = conn.workstation_id or "", conn.viewer.id
        received, size, stored = await conn.server.writer.run(
            lambda c: add_chunk(c, owner, frame.sha256, frame.offset, data)
        )
        if stored:
            return {"type": "blob_state", "size": size, "received": size, "stored": True}
        self._check_size(size)
        if received < size:
            return {"type": "blob_state", "size": size, "received": received, "stored": False}
        digest = await conn.server.read(lambda c: hash_of_upload(c, owner, frame.sha256, size))
        if digest != frame.sha256:
            await conn.server.writer.run(lambda c: _discard(c, owner, frame.sha256))
            log.warning("upload from %s refused: its bytes hash to %s", owner, digest)
            raise BlobRefused(
                ErrorCode.HASH_MISMATCH,
                "the bytes received do not match their SHA-256; nothing was stored, send the "
                "file again",
            )
        await conn.server.writer.run(lambda c: finish(c, owner, agent, frame.sha256, size))
        return {"type": "blob_state", "size": size, "received": size, "stored": True}

    async def _fetch(self, frame: p.BlobFetch) -> dict[str, Any]:
        conn = self._conn
        viewer = conn.viewer
        # Asked per chunk, never remembered: the agent may lose sight of the ticket meanwhile.
        if not await conn.server.read(lambda c: may_fetch(c, viewer, frame.sha256)):
            raise BlobRefused(ErrorCode.NOT_FOUND, "no such file, or not visible to you")
        if frame.offset % BLOB_CHUNK_BYTES:
            raise BlobRefused(
                ErrorCode.INVALID_MESSAGE, f"fetch at multiples of {BLOB_CHUNK_BYTES} bytes"
            )
        found = await conn.server.read(lambda c: read_chunk(c, frame.sha256, frame.offset))
        if found is None:
            raise BlobRefused(ErrorCode.NOT_FOUND, "no such file, or not visible to you")
        size, data = found
        if frame.offset >= size and size > 0:
            raise BlobRefused(ErrorCode.INVALID_MESSAGE, f"the file has {size} bytes")
        return {
            "type": "blob_data",
            "size": size,
            "offset": frame.offset,
            "data": binascii.b2a_base64(data, newline=False).decode("ascii"),
        }
