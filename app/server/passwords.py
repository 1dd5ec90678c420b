"""Password checks on their own threads, so that sign-ins never hold up reads.

Verifying an argon2 hash is deliberately slow and memory-hungry.  On the reader pool an
anonymous sign-in flood put a signed-in colleague's search behind it (3 ms became 1,409 ms in
an attack run).  Here checks run on a small pool of their own, at a lower CPU priority where
the system allows it (argon2's own lane threads inherit it), and only a bounded number may
wait: beyond that a sign-in is answered at once with a transient ``server_busy`` and a
``retry_after``, instead of queueing without bound.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import sys
import threading
from concurrent.futures import ThreadPoolExecutor

from sqlalchemy import Engine

from app.server import auth
from app.sync.protocol import ErrorCode

CHECK_THREADS = 2
WAITING_CHECKS = 16  # sign-ins allowed to wait for a thread; more are refused at once
RETRY_AFTER_S = 1
NICENESS = 10  # above the server's other threads' 0: reads and writes come first


def _lower_priority() -> None:
    # Linux gives every thread its own nice value; elsewhere this would renice the process.
    if sys.platform == "linux":
        with contextlib.suppress(OSError):
            os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), NICENESS)


class PasswordChecks:
    """Checks sign-in credentials against the store, off the reader pool, with a bound."""

    def __init__(
        self, engine: Engine, threads: int = CHECK_THREADS, waiting: int = WAITING_CHECKS
    ) -> None:
        self._engine = engine
        self._executor = ThreadPoolExecutor(
            threads, thread_name_prefix="password-check", initializer=_lower_priority
        )
        self._capacity = threads + waiting
        self._pending = 0

    async def check(self, email: str, password: str) -> str:
        """The agent id for these credentials; raises `auth.AuthError` (``server_busy`` when
        too many sign-ins are already waiting)."""
        if self._pending >= self._capacity:
            raise auth.AuthError(
                ErrorCode.SERVER_BUSY,
                "the server is busy signing others in; try again in a moment",
                details={"retry_after": RETRY_AFTER_S},
            )

        def work() -> str:
            with self._engine.connect() as conn:
                return auth.check_password(conn, email, password)

        self._pending += 1
        try:
            return await asyncio.get_running_loop().run_in_executor(self._executor, work)
        finally:
            self._pending -= 1

    def shutdown(self) -> None:
        self._executor.shutdown(wait=True)
