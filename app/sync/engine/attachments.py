"""Attachments on the workstation: files copied in when attached, bytes sent before the
message that names them, colleagues' files fetched when first shown or opened.

Uploads and downloads are chunked requests on the live connection (docs/protocol.md, 12.3),
one chunk in flight per file: the frames of live changes and of other requests pass between
chunks, and the server's bounded send queue never holds more than one chunk per download.

The outbox sends a ``message.add`` only after the bytes of each of its files are stored on
the server (`before_sending`).  Nothing is uploaded before the agent sends: a file attached
and removed again (a screenshot pasted by mistake) never leaves the workstation.  A dropped
connection leaves an upload half done on the server; the next one asks how much arrived and
goes on from there.
"""

from __future__ import annotations

import asyncio
import binascii
import logging
import uuid
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from websockets.asyncio.client import ClientConnection
from websockets.exceptions import ConnectionClosed

from app.files import DEFAULT_ATTACHMENT_LIMIT, safe_file_name
from app.sync import cache
from app.sync import protocol as p
from app.sync.engine.context import EngineContext
from app.sync.engine.errors import KnownError, NotConnected, RequestFailed
from app.sync.local_files import CorruptDownload, FileTooLarge, LocalFiles
from app.sync.observer import ConnectionState

log = logging.getLogger(__name__)

CHUNK_TIMEOUT_S = 60.0
# Progress of a transfer: (sha256, bytes done, bytes in all, whether it is an upload).
Progress = Callable[[str, int, int, bool], None]


def _composer_key(ticket_id: str) -> str:
    return f"composer_files:{ticket_id}"


def files_folder(cache_path: Path) -> Path:
    """Where the attachments of the cache at ``cache_path`` are kept: beside it, one folder
    per cache (per server and account), so signing out with the cache deleted takes them too."""
    return cache_path.with_name(cache_path.name + ".files")


class AttachmentTooLarge(KnownError, ValueError):
    """A file over the server's attachment limit; the message names the limit."""


class AttachmentUnavailable(KnownError):
    """A colleague's file that is not on this workstation and cannot be fetched now."""


class SentTooFast(RequestFailed):
    """A chunk over the agent's share of the server for now: send it again later."""

    def __init__(self, code: str, message: str, retry_after: float) -> None:
        super().__init__(code, message)
        self.retry_after = retry_after


@dataclass(frozen=True)
class AttachedFile:
    """A file copied into the workstation's store, ready to go on a message."""

    sha256: str
    size: int
    file_name: str
    mime_type: str
    width: int | None = None
    height: int | None = None

    def as_args(self) -> dict[str, Any]:
        """Its ``attachments`` entry of ``message.add`` (a fresh id each time)."""
        args: dict[str, Any] = {
            "id": str(uuid.uuid4()),
            "sha256": self.sha256,
            "file_name": self.file_name,
            "mime_type": self.mime_type,
            "size": self.size,
        }
        if self.width and self.height:
            args["width"], args["height"] = self.width, self.height
        return args


class Attachments:
    """The workstation's side of attachments: its file store and the transfers."""

    def __init__(self, ctx: EngineContext) -> None:
        self._ctx = ctx
        self.files = LocalFiles(files_folder(ctx.cache_path))
        self._waiting: dict[str, asyncio.Future[dict[str, Any]]] = {}
        self._uploads: dict[str, asyncio.Task[None]] = {}
        self._fetches: dict[str, asyncio.Task[Path]] = {}
        self._limit: int | None = None
        # Told of every chunk moved (the desk shows "Downloading… 40 %").
        self.on_progress: Progress | None = None

    # ---- the limit -----------------------------------------------------------------------

    async def limit(self) -> int:
        """The server's attachment limit, as last told (its default before ever told)."""
        if self._limit is None:
            stored = await self._ctx.read(lambda c: cache.get_state(c, "attachment_limit"))
            self._limit = int(stored) if stored else DEFAULT_ATTACHMENT_LIMIT
        return self._limit

    async def welcome(self, frame: dict[str, Any]) -> None:
        limit = frame.get("attachment_limit")
        if isinstance(limit, int) and limit > 0 and limit != self._limit:
            self._limit = limit
            await self._ctx.db(lambda c: cache.set_state(c, "attachment_limit", limit))

    # ---- attaching -----------------------------------------------------------------------

    async def attach_file(
        self,
        source: Path,
        mime_type: str,
        *,
        width: int | None = None,
        height: int | None = None,
        file_name: str | None = None,
    ) -> AttachedFile:
        """Copy ``source`` into the store now; `AttachmentTooLarge` if over the limit."""
        limit = await self.limit()
        try:
            sha256, size = await asyncio.to_thread(self.files.add_file, source, limit)
        except FileTooLarge as exc:
            raise AttachmentTooLarge(str(exc)) from exc
        name = safe_file_name(file_name or source.name)
        return self._attached(AttachedFile(sha256, size, name, mime_type, width, height))

    async def attach_bytes(
        self,
        data: bytes,
        file_name: str,
        mime_type: str,
        *,
        width: int | None = None,
        height: int | None = None,
    ) -> AttachedFile:
        """Keep ``data`` (a pasted screenshot) as a file; `AttachmentTooLarge` if too big."""
        limit = await self.limit()
        try:
            sha256, size = await asyncio.to_thread(self.files.add_bytes, data, file_name, limit)
        except FileTooLarge as exc:
            raise AttachmentTooLarge(str(exc)) from exc
        name = safe_file_name(file_name)
        return self._attached(AttachedFile(sha256, size, name, mime_type, width, height))

    def _attached(self, attached: AttachedFile) -> AttachedFile:
        # Nothing leaves the workstation yet: a file removed before sending (a screenshot
        # pasted by mistake) must never reach the server.  The outbox uploads it with its
        # message (`before_sending`).
        return attached

    # ---- the composer's files, kept until sent --------------------------------------------

    async def composer_files(self, ticket_id: str) -> list[AttachedFile]:
        """The files attached in the composer of ``ticket_id`` and not sent yet (kept on this
        workstation, so a crash or a closed tab loses none; those whose copy is gone are
        left out)."""
        kept = await self._ctx.read(lambda c: cache.get_state(c, _composer_key(ticket_id)))
        files = []
        for entry in kept if isinstance(kept, list) else ():
            try:
                attached = AttachedFile(**entry)
            except TypeError:
                continue  # written by another version: the agent attaches it again
            if await asyncio.to_thread(self.files.has, attached.sha256):
                files.append(attached)
        return files

    async def keep_composer_files(self, ticket_id: str, files: Sequence[AttachedFile]) -> None:
        value = [asdict(f) for f in files] or None
        await self._ctx.db(lambda c: cache.set_state(c, _composer_key(ticket_id), value))

    # ---- requests ------------------------------------------------------------------------

    async def _request(self, ws: ClientConnection, frame: dict[str, Any]) -> dict[str, Any]:
        request_id = f"blob-{uuid.uuid4().hex}"
        future: asyncio.Future[dict[str, Any]] = asyncio.get_running_loop().create_future()
        self._waiting[request_id] = future
        try:
            await ws.send(p.encode({**frame, "request_id": request_id}))
            return await asyncio.wait_for(future, CHUNK_TIMEOUT_S)
        except ConnectionClosed as exc:
            raise NotConnected("the connection to the server was lost") from exc
        finally:
            self._waiting.pop(request_id, None)

    def answer(self, frame: dict[str, Any]) -> bool:
        """A ``blob_state``, ``blob_data`` or ``error`` frame: whether it answered one of ours."""
        future = self._waiting.pop(str(frame.get("request_id")), None)
        if future is None:
            return False
        if not future.done():
            if frame.get("type") == "error":
                code, message = str(frame.get("code", "")), str(frame.get("message", ""))
                details = frame.get("details")
                if code == p.ErrorCode.RATE_LIMITED and isinstance(details, dict):
                    wait = details.get("retry_after")
                    wait = float(wait) if isinstance(wait, int | float) else 1.0
                    future.set_exception(SentTooFast(code, message, wait))
                else:
                    future.set_exception(RequestFailed(code, message))
            else:
                future.set_result(frame)
        return True

    def fail_all(self) -> None:
        """The connection is gone: no answer will come."""
        for future in self._waiting.values():
            if not future.done():
                future.set_exception(NotConnected("the connection to the server was lost"))
        self._waiting.clear()

    # ---- uploads -------------------------------------------------------------------------

    async def upload(self, ws: ClientConnection, sha256: str, size: int) -> None:
        """Store the file's bytes on the server (once per file, however many ask)."""
        running = self._uploads.get(sha256)
        if running is None or (running.done() and running.exception() is not None):
            running = asyncio.get_running_loop().create_task(self._upload(ws, sha256, size))
            self._uploads[sha256] = running
            running.add_done_callback(lambda t: self._forget_upload(sha256, t))
        await asyncio.shield(running)

    def _forget_upload(self, sha256: str, task: asyncio.Task[None]) -> None:
        if self._uploads.get(sha256) is task:
            del self._uploads[sha256]
        if not task.cancelled():
            task.exception()  # retrieved: an early upload's failure is not an error

    async def _upload(self, ws: ClientConnection, sha256: str, size: int) -> None:
        state = await self._request(ws, {"type": "blob_offer", "sha256": sha256, "size": size})
        received = int(state["received"])
        while not state.get("stored"):
            data = await asyncio.to_thread(
                self.files.read_chunk, sha256, received, p.BLOB_CHUNK_BYTES
            )
            frame = {
                "type": "blob_chunk",
                "sha256": sha256,
                "offset": received,
                "data": binascii.b2a_base64(data, newline=False).decode("ascii"),
            }
            try:
                state = await self._request(ws, frame)
            except SentTooFast as exc:  # over this agent's share for now: the same chunk later
                await asyncio.sleep(min(exc.retry_after, 30.0))
                continue
            received = int(state["received"])
            if self.on_progress is not None:
                self.on_progress(sha256, received, size, True)

    async def before_sending(self, ws: ClientConnection, row: dict[str, Any]) -> None:
        """Store the bytes of every file an outbox row names before the row is sent.

        A file the server refuses (over its limit, or bytes that do not match their hash) is
        left out here: the server then refuses the message, the agent sees why, and the text
        is kept for review.  A lost connection raises: the row is sent on the next one.
        """
        if row.get("name") != "message.add":
            return
        for attached in row.get("args", {}).get("attachments") or ():
            sha256, size = str(attached.get("sha256")), int(attached.get("size", 0))
            if not await asyncio.to_thread(self.files.has, sha256):
                log.warning("file %s of an outbox message is not on this workstation", sha256)
                continue
            try:
                await self.upload(ws, sha256, size)
            except RequestFailed as exc:
                log.warning("the server refused the file %s: %s", sha256[:12], exc)
            except OSError as exc:  # the stored copy went missing or unreadable meanwhile
                log.warning("the file %s cannot be read here: %s", sha256[:12], exc)
            except TimeoutError as exc:
                # No answer on a connection that looks alive: start a fresh one, or the
                # outbox would wait behind this file until the next reconnect.
                log.warning("no answer while uploading %s; reconnecting", sha256[:12])
                await ws.close()
                raise NotConnected("the server stopped answering") from exc

    # ---- fetching ------------------------------------------------------------------------

    def local_path(self, sha256: str) -> Path | None:
        """The stored file, if this workstation has it (blocks briefly on the disk)."""
        path = self.files.path(sha256)
        return path if path.is_file() else None

    async def fetch(self, sha256: str) -> Path:
        """The file, fetched from the server now if it is not here yet (resumed if a fetch
        was cut off); `AttachmentUnavailable` offline."""
        if await asyncio.to_thread(self.files.has, sha256):
            return self.files.path(sha256)
        running = self._fetches.get(sha256)
        if running is None:
            running = asyncio.get_running_loop().create_task(self._fetch(sha256))
            self._fetches[sha256] = running
            running.add_done_callback(lambda _t: self._fetches.pop(sha256, None))
        return await asyncio.shield(running)

    async def _fetch(self, sha256: str) -> Path:
        ctx = self._ctx
        ws = ctx.ws
        if ws is None or ctx.status.state not in (ConnectionState.ONLINE, ConnectionState.SYNCING):
            raise AttachmentUnavailable("unavailable offline: it is fetched when you reconnect")
        files = self.files
        offset = await asyncio.to_thread(files.fetched_so_far, sha256, p.BLOB_CHUNK_BYTES)
        size = None
        while size is None or offset < size:
            try:
                frame = await self._request(
                    ws, {"type": "blob_fetch", "sha256": sha256, "offset": offset}
                )
            except NotConnected as exc:
                raise AttachmentUnavailable(
                    "the connection was lost while fetching; it goes on when you reconnect"
                ) from exc
            except RequestFailed as exc:
                raise AttachmentUnavailable(f"the server cannot send this file: {exc}") from exc
            size = int(frame["size"])
            data = binascii.a2b_base64(str(frame["data"]))
            if size and not data:
                raise AttachmentUnavailable("the server sent an empty part of the file")
            await asyncio.to_thread(files.append_fetched, sha256, offset, data)
            offset += len(data)
            if self.on_progress is not None:
                self.on_progress(sha256, offset, size, False)
        try:
            return await asyncio.to_thread(files.finish_fetched, sha256)
        except CorruptDownload as exc:
            raise AttachmentUnavailable(str(exc)) from exc

    async def copy_to_open(self, sha256: str, file_name: str) -> Path:
        """A read-only copy under the file's own name, for the system's application."""
        await self.fetch(sha256)
        return await asyncio.to_thread(self.files.copy_to_open, sha256, file_name)

    async def save_as(self, sha256: str, target: Path) -> None:
        await self.fetch(sha256)
        await asyncio.to_thread(self.files.save_as, sha256, target)
