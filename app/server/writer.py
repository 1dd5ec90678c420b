"""The store's single writer: mutations from every connection, applied in batched transactions.

One thread owns all writes (SQLite allows one writer anyway, and batching many mutations into
one commit is what makes thousands of acknowledged mutations per second possible).  Each
mutation is all or nothing, so a rejected one changes nothing while its neighbours commit:
runs of ``message.add`` are checked in full before anything is written (message_batch.py),
and every other mutation gets its own savepoint.  A mutation is acknowledged only after its
transaction has committed, and answered again, not applied again, if sent twice (devices.py).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any, TypeVar

from sqlalchemy import Connection, Engine, text
from sqlalchemy.exc import DBAPIError, InterfaceError, OperationalError

from app.models.base import utcnow
from app.models.sqlite import WRITE
from app.server import notify
from app.server.access import Viewer
from app.server.devices import DeviceLedger, ack_frame
from app.server.devices import register_device as register_device  # older import path
from app.server.message_batch import MessageRun
from app.server.mutations import HANDLERS, MutationRejected, WriteContext
from app.sync import protocol as p
from app.sync.protocol import ErrorCode

log = logging.getLogger(__name__)
T = TypeVar("T")

MAX_BATCH = 500
# Any constant works; all Switchboard processes sharing one PostgreSQL must use the same one.
LOG_LOCK_KEY = 0x5357424C  # "SWBL"


class StoreUnavailable(Exception):
    """A mutation was not stored (the write failed); the client must reconnect and resend."""


def is_store_outage(exc: BaseException) -> bool:
    """Whether a failed write is the store's fault (disk full, I/O error, database locked, lost
    connection) rather than the data's (a constraint, a value the column cannot hold, a bug).

    The first is worth a resend once the store is back; the second would fail again.
    """
    return isinstance(exc, DBAPIError) and (
        exc.connection_invalidated or isinstance(exc, OperationalError | InterfaceError)
    )


@dataclass
class MutationRequest:
    """One mutation waiting for the writer, and the future that takes its answer."""

    viewer: Viewer
    device_id: str
    mutation_id: int
    name: str
    args: dict[str, Any]
    future: asyncio.Future[dict[str, Any]] = field(repr=False)
    # False once the sending connection is closing: its client will resend on a new one.
    is_live: Callable[[], bool] = field(default=lambda: True, repr=False)


def serialise_log(conn: Connection, origin: str) -> None:
    """Call first in every transaction that may append to the change log."""
    # PostgreSQL hands out sequence values before commit, so two writers could commit seq 11
    # before seq 10 and a reader would skip 10 forever.  Holding this lock from the first log
    # append to commit makes seq order equal commit order.  SQLite has one writer already.
    if conn.dialect.name == "postgresql":
        conn.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": LOG_LOCK_KEY})
        notify.announce(conn, origin)  # wakes the other server processes at commit


class StoreWriter:
    """Runs every write on one thread, batching concurrent mutations into one transaction."""

    def __init__(
        self,
        engine: Engine,
        on_commit: Callable[[list[dict[str, Any]]], None],
        origin: str = "writer",
    ) -> None:
        self.origin = origin  # names this process in its commit notifications
        self._engine = (
            engine.execution_options(**WRITE) if engine.dialect.name == "sqlite" else engine
        )
        self._on_commit = on_commit
        self._executor = ThreadPoolExecutor(1, thread_name_prefix="store-writer")
        self._queue: asyncio.Queue[MutationRequest] = asyncio.Queue()
        self._task: asyncio.Task[None] | None = None
        # Devices whose mutation failed to commit: nothing later from them may be applied
        # before they reconnect and resend in order, or the failed one would be skipped.
        self._blocked: set[str] = set()
        # The writer thread's own connection, kept open: checking one out of the pool for
        # every batch costs as much as a small batch's statements.  Used on that thread only.
        self._conn: Connection | None = None

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="store-writer")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
        while not self._queue.empty():
            req = self._queue.get_nowait()
            if not req.future.done():
                req.future.set_exception(ConnectionError("server shutting down"))
        await asyncio.get_running_loop().run_in_executor(self._executor, self._close)
        self._executor.shutdown(wait=True)

    @contextlib.contextmanager
    def _begin(self) -> Iterator[Connection]:
        """A write transaction on the writer thread's connection (call on that thread)."""
        if self._conn is None:
            self._conn = self._engine.connect()
        conn = self._conn
        try:
            with conn.begin():
                yield conn
        except DBAPIError:
            self._close()  # the database failed: the next transaction starts on a new connection
            raise

    def _close(self) -> None:
        conn, self._conn = self._conn, None
        if conn is not None:
            conn.close()

    def enqueue(self, req: MutationRequest) -> None:
        """Queue a mutation; ``req.future`` gets its ``ack`` or ``reject`` frame once committed
        (or StoreUnavailable)."""
        self._queue.put_nowait(req)

    async def run(self, fn: Callable[[Connection], T]) -> T:
        """Run ``fn`` in its own write transaction on the writer thread."""

        def work() -> T:
            with self._begin() as conn:
                return fn(conn)

        return await asyncio.get_running_loop().run_in_executor(self._executor, work)

    def _must_refuse(self, req: MutationRequest) -> bool:
        return req.device_id in self._blocked or not req.is_live()

    def unblock(self, device_id: str) -> None:
        """The device said hello again: it will resend everything unanswered, in order."""
        self._blocked.discard(device_id)

    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            batch = [await self._queue.get()]
            while len(batch) < MAX_BATCH and not self._queue.empty():
                batch.append(self._queue.get_nowait())
            refused, batch = _partition(batch, self._must_refuse)
            for req in refused:
                if not req.future.done():
                    req.future.set_exception(StoreUnavailable(req.device_id))
            if not batch:
                continue
            try:
                frames, logged = await loop.run_in_executor(self._executor, self._apply, batch)
            except Exception as exc:
                log.exception("write batch of %d mutations failed", len(batch))
                if is_store_outage(exc):
                    self._refuse_for_now(batch)
                else:
                    # One mutation's data may have failed the transaction: it must not take
                    # everyone else's down with it.
                    await self._apply_one_by_one(batch)
                continue
            self._answered(batch, frames, logged)

    def _answered(
        self, batch: list[MutationRequest], frames: list[dict[str, Any]], logged: list[Any]
    ) -> None:
        for req, frame in zip(batch, frames, strict=True):
            if not req.future.done():
                req.future.set_result(frame)
        if logged:
            self._on_commit(logged)

    def _refuse_for_now(self, batch: list[MutationRequest]) -> None:
        """Nothing of ``batch`` was committed or acknowledged: each client resends after
        reconnecting, and until then nothing newer of theirs is applied."""
        for req in batch:
            self._blocked.add(req.device_id)
            if not req.future.done():
                req.future.set_exception(StoreUnavailable(req.device_id))

    async def _apply_one_by_one(self, batch: list[MutationRequest]) -> None:
        """Apply a failed batch again, each mutation in its own transaction.

        The mutation that fails alone is the culprit: if the store is at fault it is refused
        for now, with everything after it (the store is down); otherwise it is refused for
        good, as a server bug (``internal_error``, recorded like any answer).
        """
        loop = asyncio.get_running_loop()
        for i, req in enumerate(batch):
            if self._must_refuse(req):
                self._refuse_for_now([req])
                continue
            try:
                frames, logged = await loop.run_in_executor(self._executor, self._apply, [req])
            except Exception as exc:
                if is_store_outage(exc):
                    self._refuse_for_now(batch[i:])
                    return
                log.exception(
                    "mutation %s from device %s failed its transaction", req.name, req.device_id
                )
                try:
                    frame = await loop.run_in_executor(self._executor, self._refuse_for_good, req)
                except Exception as again:
                    if is_store_outage(again):
                        self._refuse_for_now(batch[i:])
                        return
                    # Not even the refusal can be stored (the mutation id itself, say): answer
                    # it unrecorded; it changed nothing, and a resend fails the same way.
                    log.exception("could not record the refusal of %s", req.name)
                    frame = internal_error(req.mutation_id)
                frames, logged = [frame], []
            self._answered([req], frames, logged)

    def _refuse_for_good(self, req: MutationRequest) -> dict[str, Any]:
        """Record ``internal_error`` as the answer to ``req``, in its own transaction."""
        with self._begin() as conn:
            ledger = DeviceLedger(conn, {req.device_id})
            if not ledger.is_new(req.device_id, req.mutation_id):
                return ledger.replayed(conn, req.device_id, req.mutation_id)
            ledger.claim(req.device_id, req.mutation_id)
            frame = internal_error(req.mutation_id)
            ledger.record(req.device_id, req.mutation_id, frame)
            ledger.save(conn)
        return frame

    def _apply(
        self, batch: list[MutationRequest]
    ) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
        """Apply a batch in one transaction; returns each request's answer and the log rows.

        Consecutive ``message.add`` mutations are planned together and written with one
        statement per table (`MessageRun`); every other mutation, and any that the fast path
        declines, is applied on its own in a savepoint.  Order is kept throughout: a run is
        written before the next mutation outside it is applied.
        """
        answers: list[dict[str, Any] | None] = [None] * len(batch)
        logged: list[dict[str, Any]] = []
        with self._begin() as conn:
            # Taken for the whole batch, outside the savepoints: a lock taken inside one that is
            # rolled back would be released early.
            serialise_log(conn, self.origin)
            ledger = DeviceLedger(conn, {req.device_id for req in batch})
            notes = [_message_args(req) for req in batch]
            run: MessageRun | None = None
            members: list[int] = []  # indexes of the requests planned in `run`, not yet written
            for i, req in enumerate(batch):
                args = notes[i]
                if args is not None and ledger.is_new(req.device_id, req.mutation_id):
                    if run is None:
                        run = MessageRun(conn, _messages_ahead(notes, i))
                    planned = run.plan(req.viewer, req.device_id, args, utcnow())
                    if planned is not None:
                        ledger.claim(req.device_id, req.mutation_id)
                        members.append(i)
                        continue
                if not self._write_run(conn, run, members, batch, ledger, answers, logged):
                    run = None
                members = []
                before = len(logged)
                answers[i] = self._answer(conn, req, ledger, logged)
                if args is None or len(logged) > before:
                    # Past the mutations the run read ahead for, or the store changed under it.
                    run = None
            self._write_run(conn, run, members, batch, ledger, answers, logged)
            ledger.save(conn)
        frames = [a for a in answers if a is not None]
        if len(frames) != len(batch):
            raise RuntimeError("a mutation of the batch was left unanswered")
        return frames, logged

    def _write_run(
        self,
        conn: Connection,
        run: MessageRun | None,
        members: list[int],
        batch: list[MutationRequest],
        ledger: DeviceLedger,
        answers: list[dict[str, Any] | None],
        logged: list[dict[str, Any]],
    ) -> bool:
        """Write what ``run`` planned; False if it failed and the run must not be used again."""
        if run is None or not members:
            return True
        savepoint = conn.begin_nested()
        try:
            planned = run.write()
            savepoint.commit()
        except Exception:
            # A bug or a constraint the plan did not foresee: nothing of the run stays, and
            # each of its mutations gets its own verdict from the generic handler.
            savepoint.rollback()
            log.exception("writing %d planned messages failed; applying one by one", len(members))
            for i in members:
                answers[i] = self._apply_new(conn, batch[i], ledger, logged)
            return False
        for i, done in zip(members, planned, strict=True):
            frame = ack_frame(batch[i].mutation_id, done.log[-1]["seq"], done.result)
            ledger.record(batch[i].device_id, batch[i].mutation_id, frame)
            answers[i] = frame
            logged.extend(done.log)
        return True

    def _answer(
        self,
        conn: Connection,
        req: MutationRequest,
        ledger: DeviceLedger,
        logged: list[dict[str, Any]],
    ) -> dict[str, Any]:
        if not ledger.is_new(req.device_id, req.mutation_id):
            return ledger.replayed(conn, req.device_id, req.mutation_id)
        ledger.claim(req.device_id, req.mutation_id)
        return self._apply_new(conn, req, ledger, logged)

    def _apply_new(
        self,
        conn: Connection,
        req: MutationRequest,
        ledger: DeviceLedger,
        logged: list[dict[str, Any]],
    ) -> dict[str, Any]:
        """Apply one mutation in its own savepoint with its generic handler."""
        ctx = WriteContext(conn, req.viewer, req.device_id, utcnow())
        savepoint = conn.begin_nested()
        frame: dict[str, Any]
        try:
            parsed = p.parse_mutation_args(req.name, req.args)
            result = HANDLERS[req.name](ctx, parsed)
            savepoint.commit()
            frame = ack_frame(
                req.mutation_id, ctx.logged[-1]["seq"] if ctx.logged else None, result
            )
            logged.extend(ctx.logged)
        except (MutationRejected, p.ProtocolError) as exc:
            savepoint.rollback()
            frame = {
                "type": "reject",
                "mutation_id": req.mutation_id,
                "code": exc.code.value,
                "message": exc.message,
            }
            extra = exc.current if isinstance(exc, MutationRejected) else exc.details
            if extra is not None:
                frame["current" if isinstance(exc, MutationRejected) else "details"] = extra
        except Exception:
            # A bug, not a verdict on the mutation: keep the batch alive, record the failure so a
            # replay is answered the same way, and let the agent retry as a new mutation.
            savepoint.rollback()
            log.exception("mutation %s from device %s failed", req.name, req.device_id)
            frame = internal_error(req.mutation_id)
        ledger.record(req.device_id, req.mutation_id, frame)
        return frame


def internal_error(mutation_id: int) -> dict[str, Any]:
    """The reject of a mutation the server failed to apply through no fault of the store's."""
    return {
        "type": "reject",
        "mutation_id": mutation_id,
        "code": ErrorCode.INTERNAL.value,
        "message": "the server could not apply this change; try again",
    }


def _messages_ahead(notes: list[p.MessageAddArgs | None], start: int) -> list[p.MessageAddArgs]:
    """The ``message.add`` arguments from ``start`` up to the first other mutation."""
    ahead: list[p.MessageAddArgs] = []
    for args in notes[start:]:
        if args is None:
            break
        ahead.append(args)
    return ahead


def _message_args(req: MutationRequest) -> p.MessageAddArgs | None:
    """A ``message.add``'s parsed arguments (None for anything else, or if they are invalid)."""
    if req.name != "message.add":
        return None
    try:
        args = p.parse_mutation_args(req.name, req.args)
    except p.ProtocolError:
        return None  # the generic path parses again and rejects it
    return args if isinstance(args, p.MessageAddArgs) else None


def _partition(
    batch: list[MutationRequest], refuse: Callable[[MutationRequest], bool]
) -> tuple[list[MutationRequest], list[MutationRequest]]:
    refused: list[MutationRequest] = []
    kept: list[MutationRequest] = []
    for req in batch:
        (refused if refuse(req) else kept).append(req)
    return refused, kept
