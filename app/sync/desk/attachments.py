"""The files on a ticket's messages, as the thread shows them."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Connection

from app.sync.desk.pool import ReaderPool
from app.sync.desk.sql import dt_required


@dataclass(frozen=True)
class AttachmentItem:
    """One file on a message (plain data for the UI thread)."""

    id: str
    message_id: str
    sha256: str
    file_name: str
    mime_type: str
    size: int
    width: int | None
    height: int | None
    created_at: datetime

    @property
    def is_image(self) -> bool:
        """A picture the thread shows as a thumbnail (formats every Qt build reads)."""
        return self.mime_type in ("image/png", "image/jpeg", "image/gif", "image/bmp") or (
            self.mime_type == "image/webp"
        )


class AttachmentReader:
    """Reads the attachments of a ticket."""

    def __init__(self, pool: ReaderPool) -> None:
        self._pool = pool

    async def of_ticket(self, ticket_id: str) -> dict[str, tuple[AttachmentItem, ...]]:
        """Message id -> its files, in the order they were attached."""

        def work(conn: Connection) -> dict[str, tuple[AttachmentItem, ...]]:
            out: dict[str, list[AttachmentItem]] = {}
            rows = conn.exec_driver_sql(
                "SELECT id, message_id, sha256, file_name, mime_type, size, width, height, "
                "created_at FROM attachments WHERE ticket_id = ? ORDER BY message_id, position, id",
                (ticket_id,),
            )
            for r in rows:
                item = AttachmentItem(
                    id=r[0],
                    message_id=r[1],
                    sha256=r[2],
                    file_name=r[3],
                    mime_type=r[4],
                    size=int(r[5]),
                    width=r[6],
                    height=r[7],
                    created_at=dt_required(r[8]),
                )
                out.setdefault(item.message_id, []).append(item)
            return {k: tuple(v) for k, v in out.items()}

        return await self._pool.read(work)
