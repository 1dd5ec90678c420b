"""Wake-ups between server processes sharing one PostgreSQL store.

Every transaction that appends to the change log sends ``NOTIFY switchboard_log, ORIGIN``
(PostgreSQL delivers it at commit, and folds repeats within one transaction into one).  Each
server process LISTENs and, on a notification from another origin, reads the log's head and
lets its hub catch up (its own commits reach its hub directly).

The payload names only the sender: a notification says "look", and the log itself says
what.  A notification lost while the listening connection was down costs nothing: the
listener looks once after every (re)connect, and the server also looks on a slow timer.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable

import psycopg
from sqlalchemy import Connection, Engine, text

log = logging.getLogger(__name__)

CHANNEL = "switchboard_log"
RETRY_S = (0.5, 1.0, 2.0, 5.0)  # reconnect delays of the listening connection


def announce(conn: Connection, origin: str) -> None:
    """Tell the other server processes, at commit, that the change log grew."""
    if conn.dialect.name == "postgresql":
        conn.execute(
            text("SELECT pg_notify(:channel, :origin)"), {"channel": CHANNEL, "origin": origin}
        )


def listens(engine: Engine) -> bool:
    return engine.dialect.name == "postgresql"


class CommitListener:
    """A dedicated autocommit connection LISTENing for ``announce``; calls ``wake`` on each
    notification that ``origin`` did not send."""

    def __init__(self, engine: Engine, origin: str, wake: Callable[[], None]) -> None:
        # The store's URL in libpq form: psycopg takes it as is, minus SQLAlchemy's driver name.
        self._conninfo = engine.url.set(drivername="postgresql").render_as_string(
            hide_password=False
        )
        self._origin = origin
        self._wake = wake
        self.connected = asyncio.Event()

    async def run(self) -> None:
        failures = 0
        while True:
            try:
                async with await psycopg.AsyncConnection.connect(
                    self._conninfo, autocommit=True, connect_timeout=10
                ) as conn:
                    await conn.execute(f"LISTEN {CHANNEL}")
                    failures = 0
                    self.connected.set()
                    self._wake()  # whatever was committed while we were not listening
                    async for note in conn.notifies():
                        if note.payload != self._origin:
                            self._wake()
            except Exception as exc:
                # Never give up: without the listener the other processes' changes arrive
                # only with the once-a-second poll.
                self.connected.clear()
                delay = RETRY_S[min(failures, len(RETRY_S) - 1)]
                failures += 1
                expected = isinstance(exc, psycopg.Error | OSError)
                log.log(
                    logging.WARNING if expected else logging.ERROR,
                    "commit listener stopped (%r); retry in %.1f s",
                    exc,
                    delay,
                    exc_info=not expected,
                )
                await asyncio.sleep(delay)
