"""The workstation's own copy of attachments' bytes, content-addressed beside the cache.

``<cache file>.files/files/ab/cdef…`` holds the file whose SHA-256 is ``abcdef…``, written once and
never changed: a file the agent attaches is copied in at once (so moving or editing the
original afterwards changes nothing that was sent), and a colleague's file is kept here once
fetched, for use offline.  A download in progress is ``partial/<sha256>`` and resumes where it
stopped; it becomes a stored file only if its bytes hash to its name.  A file opened with the
system's application is a read-only copy under ``opened/<sha256>/<file name>``, so the
application sees the real name and extension and can never change the stored bytes.

Nothing here is ever executed: the desk hands ``opened/`` copies to the system, which opens
them with the application the user chose for their type.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import stat
import uuid
from pathlib import Path

from app.files import safe_file_name, too_large_words

COPY_BUFFER = 1024 * 1024


class FileTooLarge(ValueError):
    """A file over the attachment limit; the message names the limit."""


class CorruptDownload(ValueError):
    """Fetched bytes that do not hash to what they should: dropped."""


class LocalFiles:
    """Content-addressed files under ``root``; every method blocks (run it on a thread)."""

    def __init__(self, root: Path) -> None:
        self.root = root

    def path(self, sha256: str) -> Path:
        return self.root / "files" / sha256[:2] / sha256[2:]

    def has(self, sha256: str) -> bool:
        return self.path(sha256).is_file()

    def _scratch(self) -> Path:
        folder = self.root / "partial"
        folder.mkdir(parents=True, exist_ok=True)
        return folder / f"in-{uuid.uuid4().hex}"

    def _keep(self, scratch: Path, sha256: str) -> Path:
        """Move a written and checked scratch file to its place (once: the first one stays)."""
        final = self.path(sha256)
        final.parent.mkdir(parents=True, exist_ok=True)
        if final.exists():
            scratch.unlink(missing_ok=True)
        else:
            os.chmod(scratch, stat.S_IRUSR | stat.S_IRGRP)
            os.replace(scratch, final)
        return final

    def add_file(self, source: Path, limit: int) -> tuple[str, int]:
        """Copy ``source`` in (hashing as it goes); returns (sha256, size).

        `FileTooLarge` at once if the file is over ``limit`` bytes, before anything is copied.
        """
        size = source.stat().st_size
        name = safe_file_name(source.name)
        if size > limit:
            raise FileTooLarge(too_large_words(name, size, limit))
        scratch = self._scratch()
        digest = hashlib.sha256()
        written = 0
        try:
            with source.open("rb") as src, scratch.open("wb") as dst:
                while chunk := src.read(COPY_BUFFER):
                    written += len(chunk)
                    if written > limit:  # it grew while being copied
                        raise FileTooLarge(too_large_words(name, written, limit))
                    digest.update(chunk)
                    dst.write(chunk)
                dst.flush()
                os.fsync(dst.fileno())
        except BaseException:
            scratch.unlink(missing_ok=True)
            raise
        sha256 = digest.hexdigest()
        self._keep(scratch, sha256)
        return sha256, written

    def add_bytes(self, data: bytes, name: str, limit: int) -> tuple[str, int]:
        """Keep ``data`` (a pasted screenshot); returns (sha256, size)."""
        if len(data) > limit:
            raise FileTooLarge(too_large_words(safe_file_name(name), len(data), limit))
        scratch = self._scratch()
        with scratch.open("wb") as dst:
            dst.write(data)
            dst.flush()
            os.fsync(dst.fileno())
        sha256 = hashlib.sha256(data).hexdigest()
        self._keep(scratch, sha256)
        return sha256, len(data)

    def read_chunk(self, sha256: str, offset: int, length: int) -> bytes:
        with self.path(sha256).open("rb") as f:
            f.seek(offset)
            return f.read(length)

    # ---- downloads -----------------------------------------------------------------------

    def _partial(self, sha256: str) -> Path:
        return self.root / "partial" / sha256

    def fetched_so_far(self, sha256: str, chunk: int) -> int:
        """How many bytes of a download are here already (whole chunks only)."""
        partial = self._partial(sha256)
        if not partial.exists():
            return 0
        size = partial.stat().st_size
        kept = size - size % chunk
        if kept != size:
            with partial.open("r+b") as f:
                f.truncate(kept)
        return kept

    def append_fetched(self, sha256: str, offset: int, data: bytes) -> None:
        partial = self._partial(sha256)
        partial.parent.mkdir(parents=True, exist_ok=True)
        with partial.open("r+b" if partial.exists() else "wb") as f:
            f.seek(offset)
            f.write(data)
            f.truncate()

    def finish_fetched(self, sha256: str) -> Path:
        """Check a complete download against its hash and keep it; `CorruptDownload` if not."""
        partial = self._partial(sha256)
        digest = hashlib.sha256()
        with partial.open("rb") as f:
            while chunk := f.read(COPY_BUFFER):
                digest.update(chunk)
        if digest.hexdigest() != sha256:
            partial.unlink(missing_ok=True)
            raise CorruptDownload("the file arrived damaged; it will be fetched again")
        with partial.open("rb+") as f:
            os.fsync(f.fileno())
        return self._keep(partial, sha256)

    # ---- opening -------------------------------------------------------------------------

    def copy_to_open(self, sha256: str, file_name: str) -> Path:
        """A read-only copy under its real (sanitised) name, for the system's application."""
        folder = self.root / "opened" / sha256[:16]
        target = folder / safe_file_name(file_name)
        if not target.exists():
            folder.mkdir(parents=True, exist_ok=True)
            scratch = folder / f".{uuid.uuid4().hex}"
            shutil.copyfile(self.path(sha256), scratch)
            os.chmod(scratch, stat.S_IRUSR | stat.S_IRGRP)
            os.replace(scratch, target)
        return target

    def save_as(self, sha256: str, target: Path) -> None:
        """Write a copy where the agent chose (writable: it is theirs now)."""
        scratch = target.with_name(f".{target.name}.{uuid.uuid4().hex[:8]}.part")
        shutil.copyfile(self.path(sha256), scratch)
        os.replace(scratch, target)
