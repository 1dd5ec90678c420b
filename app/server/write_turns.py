"""Taking turns at SQLite's one write lock with other processes.

The server's writer commits batch after batch.  Another process that wants to write (the
command line: ``switchboard-server agent disable``) gets the lock only while no batch holds
it; SQLite's own busy handler sleeps between its attempts (longer and longer, up to 100 ms)
and at full speed the lock is free only for moments, so the command line timed out behind
the server.  Both halves take part: the writer, after holding the lock for HOLD_S with no
pause, leaves it free for GAP_S; the other process asks for it every POLL_S itself (SQLite
does not wait for it) until DEADLINE_S.  PostgreSQL queues the writers of the log's advisory
lock in order (`app.server.submit.serialise_log`), so none of this is needed there.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TypeVar

from sqlalchemy import Connection, Engine
from sqlalchemy.exc import OperationalError

from app.models.sqlite import BUSY_TIMEOUT_MS, WRITE

T = TypeVar("T")

HOLD_S = 0.1  # the writer holds the lock at most this long without a gap ...
GAP_S = 0.003  # ... then leaves it free this long (about 3 % of a flat-out writer's time)
POLL_S = 0.0005  # another process asks for the lock this often ...
DEADLINE_S = 30.0  # ... and gives up after this long


class WriterTurns:
    """The server writer's half: call `before_begin` and `after_end` around each of its
    transactions, on its thread."""

    def __init__(self, enabled: bool) -> None:
        self.enabled = enabled
        self._held_since = time.monotonic()
        self._ended = 0.0

    def before_begin(self) -> None:
        if not self.enabled:
            return
        now = time.monotonic()
        if now - self._ended >= GAP_S:
            self._held_since = now  # the lock has been free long enough since the last one
        elif now - self._held_since >= HOLD_S:
            time.sleep(GAP_S)  # the writer thread waits; the event loop goes on
            self._held_since = time.monotonic()

    def after_end(self) -> None:
        self._ended = time.monotonic()


def _locked(exc: OperationalError) -> bool:
    return "locked" in str(exc.orig) or "busy" in str(exc.orig)


def write_when_free(engine: Engine, fn: Callable[[Connection], T]) -> T:
    """Run ``fn`` in a write transaction on an SQLite store that a running server may be
    writing to flat out; raises OperationalError if the lock stayed taken for DEADLINE_S."""
    with engine.connect() as conn:
        driver = conn.connection.driver_connection
        assert driver is not None
        driver.execute("PRAGMA busy_timeout=0")  # we wait ourselves, in short steps
        try:
            deadline = time.monotonic() + DEADLINE_S
            while True:
                try:
                    with conn.execution_options(**WRITE).begin():
                        return fn(conn)
                except OperationalError as exc:
                    if not _locked(exc) or time.monotonic() > deadline:
                        raise
                time.sleep(POLL_S)
        finally:
            driver.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}")
