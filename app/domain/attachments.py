"""Attachments: files on messages, seen with their ticket.

An ``attachment`` row names a message, its ticket, the SHA-256 of the file's bytes, the file's
(sanitised) name, MIME type and size, and the picture's width and height for an image.  It is
made together with its message, by ``message.add`` (``args.attachments``), never alone: a
message and its files arrive at colleagues in one change, and a refusal of the message is a
refusal of its files.  Whoever writes a message with files must have stored the bytes first
(``blob_offer`` and ``blob_chunk``, app/server/blobs.py); a file whose bytes the server does not
hold is refused, so no message ever points at bytes that cannot be fetched.

The bytes are stored once however many messages use them: attachments refer to them by hash.
Any writer (a channel receiving an email, the repair desk's photos) adds files through
`add_attachments`.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import Connection, delete, exists, insert, select

from app.domain.kinds import KeepWithParent, Kind
from app.domain.mutation import CacheTx, Refused, StoreTx
from app.domain.sight import AsParent, Viewer
from app.domain.tickets import TICKET
from app.domain.wire import to_wire
from app.files import safe_file_name
from app.models.tables import T_ATTACHMENTS, T_BLOB_HOLDERS, T_BLOBS, T_MESSAGES, T_TICKETS
from app.sync import protocol as p
from app.sync.protocol import ErrorCode

Row = dict[str, Any]

ATTACHMENT = Kind(
    "attachment",
    T_ATTACHMENTS,
    AsParent("ticket", "ticket_id"),
    bootstrap=90,  # after the messages they are on
    keep=KeepWithParent("ticket", "ticket_id"),
    # On a message this workstation has not had accepted yet (queued, or refused for review).
    unsent=lambda table: table.c.message_id.in_(
        select(T_MESSAGES.c.id).where(T_MESSAGES.c.delivery_state.in_(("queued", "failed")))
    ),
    on_ticket="ticket_id",
)


def attachment_row(
    a: p.NewAttachment, message_id: str, ticket_id: str, now: Any, position: int
) -> Row:
    """Every column of the row a new attachment becomes (the same on both sides)."""
    return {
        "id": a.id,
        "message_id": message_id,
        "ticket_id": ticket_id,
        "sha256": a.sha256,
        "file_name": safe_file_name(a.file_name),
        "mime_type": a.mime_type.lower(),
        "size": a.size,
        "width": a.width,
        "height": a.height,
        "position": position,
        "created_at": now,
    }


def add_attachments(
    tx: StoreTx, ticket: Row, message_id: str, attachments: Sequence[p.NewAttachment]
) -> None:
    """Store and log the files of a message on ``ticket`` (checked by the caller).

    Refused, changing nothing (the caller's savepoint), if any file's bytes are not stored
    with exactly the size it claims, or if its id is taken.
    """
    if not attachments:
        return
    hashes = sorted({a.sha256 for a in attachments})
    found = tx.conn.execute(
        select(T_BLOBS.c.sha256, T_BLOBS.c.size).where(T_BLOBS.c.sha256.in_(hashes))
    )
    stored = {sha256: int(size) for sha256, size in found}
    ids = [a.id for a in attachments]
    if len(set(ids)) != len(ids):
        raise Refused(ErrorCode.INVALID_MUTATION, "two attachments have the same id")
    taken = tx.conn.execute(select(T_ATTACHMENTS.c.id).where(T_ATTACHMENTS.c.id.in_(ids))).first()
    if taken is not None:
        raise Refused(ErrorCode.DUPLICATE, f"attachment id {taken[0]} is taken")
    for a in attachments:
        if not tx.actor.is_server and not may_name(tx.conn, tx.viewer, a.sha256):
            # A workstation names only bytes its agent uploaded or can already see on a
            # ticket: a hash that leaked opens nothing.  Worded as "not here", as for bytes
            # that never came: the workstation sends them (and so proves it has them).
            raise Refused(
                ErrorCode.INVALID_MUTATION,
                f"the file {safe_file_name(a.file_name)} has not reached the server from this "
                "workstation; send the message again once the workstation is connected",
            )
        if a.sha256 not in stored:
            raise Refused(
                ErrorCode.INVALID_MUTATION,
                f"the file {safe_file_name(a.file_name)} has not reached the server; "
                "send the message again once the workstation is connected",
            )
        if stored[a.sha256] != a.size:
            raise Refused(
                ErrorCode.INVALID_MUTATION,
                f"the file {safe_file_name(a.file_name)} is {stored[a.sha256]} bytes on the "
                f"server, not {a.size}",
            )
    audience = ATTACHMENT.sight.audience({}, ticket)
    for position, a in enumerate(attachments):
        row = attachment_row(a, message_id, ticket["id"], tx.now, position)
        tx.conn.execute(insert(T_ATTACHMENTS), row)
        tx.log("attachment", a.id, data=to_wire("attachment", row), fields=[], audience=audience)


def may_fetch(conn: Connection, viewer: Viewer, sha256: str) -> bool:
    """Whether the viewer sees a ticket with a file of these bytes (a hash alone is no key)."""
    q = select(T_ATTACHMENTS.c.id).where(T_ATTACHMENTS.c.sha256 == sha256)
    seen = TICKET.sight.where(viewer, T_TICKETS)
    if seen is not None:
        q = q.where(
            exists(select(T_TICKETS.c.id).where(T_TICKETS.c.id == T_ATTACHMENTS.c.ticket_id, seen))
        )
    return conn.execute(q.limit(1)).first() is not None


def holds(conn: Connection, agent_id: str, sha256: str) -> bool:
    """Whether the agent uploaded these bytes whole, at some point (`BlobHolder`)."""
    found = select(T_BLOB_HOLDERS.c.sha256).where(
        T_BLOB_HOLDERS.c.sha256 == sha256, T_BLOB_HOLDERS.c.agent_id == agent_id
    )
    return conn.execute(found).first() is not None


def may_name(conn: Connection, viewer: Viewer, sha256: str) -> bool:
    """Whether the viewer may name these bytes in a message, or be told the server has them:
    they proved they hold them, or they may fetch them anyway."""
    return holds(conn, viewer.id, sha256) or may_fetch(conn, viewer, sha256)


def queue_attachments(
    tx: CacheTx, message_id: str, ticket_id: str, attachments: Sequence[p.NewAttachment]
) -> None:
    """The files of the agent's new message in the cache at once, beside the queued message
    (their bytes are already in the workstation's file store)."""
    for position, a in enumerate(attachments):
        row = attachment_row(a, message_id, ticket_id, tx.now, position)
        tx.conn.execute(delete(T_ATTACHMENTS).where(T_ATTACHMENTS.c.id == a.id))
        tx.conn.execute(insert(T_ATTACHMENTS), row)
        tx.touch("attachment", a.id, ticket_id)


KINDS = (ATTACHMENT,)
MUTATIONS = ()  # files are added with their message: ``message.add``
