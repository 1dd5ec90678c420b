"""Attachments: the replicated ``attachments`` record, and the server's store of file bytes.

An attachment row says which message a file belongs to and what it is (name, type, size,
picture size); the bytes themselves are content-addressed by their SHA-256 and kept once,
however many messages use them.  The bytes live in the server store itself (``blobs`` and
``blob_parts``), cut into parts of at most ``PART_BYTES``, so every server process sharing one
PostgreSQL reaches them and no part is ever read whole into memory with the rest
(docs/architecture.md, "Attachments").  The three ``blob*`` tables are never replicated.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, ForeignKey, Index, Integer, LargeBinary, String
from sqlalchemy.orm import Mapped, mapped_column

from app.models.base import Base, IdColumn, utcnow

Sha256Column = String(64)
# One stored part: what one transfer chunk carries (app/sync/protocol.py, BLOB_CHUNK_BYTES).
PART_BYTES = 256 * 1024


class Attachment(Base):
    """A file on a message: what the thread shows, and the hash that finds its bytes."""

    __tablename__ = "attachments"
    __table_args__ = (
        Index("ix_attachments_ticket_id", "ticket_id"),
        Index("ix_attachments_message_id", "message_id"),
        Index("ix_attachments_sha256", "sha256"),
    )

    id: Mapped[str] = mapped_column(IdColumn, primary_key=True)
    message_id: Mapped[str] = mapped_column(IdColumn, ForeignKey("messages.id", ondelete="CASCADE"))
    ticket_id: Mapped[str] = mapped_column(IdColumn, ForeignKey("tickets.id", ondelete="CASCADE"))
    sha256: Mapped[str] = mapped_column(Sha256Column)
    file_name: Mapped[str] = mapped_column(String(255))
    mime_type: Mapped[str] = mapped_column(String(127))
    size: Mapped[int] = mapped_column(BigInteger)
    width: Mapped[int | None] = mapped_column(Integer, default=None)
    height: Mapped[int | None] = mapped_column(Integer, default=None)
    # Its place among the message's files, in the order the agent attached them.
    position: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class Blob(Base):
    """A file's bytes, complete and checked against their hash (server only)."""

    __tablename__ = "blobs"

    sha256: Mapped[str] = mapped_column(Sha256Column, primary_key=True)
    size: Mapped[int] = mapped_column(BigInteger)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class BlobHolder(Base):
    """An agent who proved they hold a file's bytes by uploading them whole (checked against
    the hash): only they, and whoever sees a ticket with the file, may name the hash in a
    message.  A hash alone is no key: it leaks (a forwarded mail, a colleague who moved)."""

    __tablename__ = "blob_holders"

    sha256: Mapped[str] = mapped_column(Sha256Column, primary_key=True)
    agent_id: Mapped[str] = mapped_column(IdColumn, primary_key=True)


class BlobUpload(Base):
    """An upload in progress from one workstation: resumed from ``received`` after a drop."""

    __tablename__ = "blob_uploads"

    owner: Mapped[str] = mapped_column(IdColumn, primary_key=True)  # the workstation
    sha256: Mapped[str] = mapped_column(Sha256Column, primary_key=True)
    size: Mapped[int] = mapped_column(BigInteger)
    received: Mapped[int] = mapped_column(BigInteger, default=0)
    agent_id: Mapped[str] = mapped_column(IdColumn)
    started_at: Mapped[datetime] = mapped_column(default=utcnow)


class BlobPart(Base):
    """One part of a file's bytes, in order.  ``owner`` is "" for a stored blob's parts and
    the uploading workstation's id while the upload is in progress: finishing an upload only
    renames its parts' owner, it never copies the bytes."""

    __tablename__ = "blob_parts"

    owner: Mapped[str] = mapped_column(IdColumn, primary_key=True)
    sha256: Mapped[str] = mapped_column(Sha256Column, primary_key=True)
    part_no: Mapped[int] = mapped_column(Integer, primary_key=True)
    data: Mapped[bytes] = mapped_column(LargeBinary)
