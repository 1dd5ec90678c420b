"""The store's single writer: submissions from every writer, applied in batched transactions.

Workstation connections and the server's own actors (`StoreWriter.submit`) hand their
submissions (`app.server.submit.Submission`) to this writer; each is decided by the one write
path (`app.server.submit.decide`).  One thread owns all writes (SQLite allows one writer
anyway, and batching many mutations into one commit is what makes thousands of acknowledged
mutations per second possible).  Each mutation is all or nothing, so a refused one changes
nothing while its neighbours commit: runs of ``message.add`` are checked in full before
anything is written (message_batch.py), and every other mutation gets its own savepoint.  A
mutation is acknowledged only after its transaction has committed, and answered again, not
applied again, if sent twice (workstations.py).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from functools import partial
from typing import Any, TypeVar

from sqlalchemy import Connection, Engine
from sqlalchemy.exc import DBAPIError, InterfaceError, OperationalError

from app.domain.mutation import Actor
from app.domain.registry import DOMAIN
from app.models.base import utcnow
from app.models.sqlite import WRITE
from app.server.fairness import FairQueue
from app.server.lockout import Lockout
from app.server.message_batch import MessageRun
from app.server.quotas import QUEUED_PER_AGENT
from app.server.submit import (
    KeyLedger,
    Submission,
    ack_frame,
    decide,
    decide_keyed,
    forbidden,
    internal_error,
    serialise_log,
    stored_key,
    unparsable,
)
from app.server.workstations import WorkstationLedger
from app.server.write_turns import WriterTurns
from app.sync import protocol as p

log = logging.getLogger(__name__)
T = TypeVar("T")

MAX_BATCH = 500


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
        # Per writer, each bounded, with a fair share of every batch (fairness.py).
        self._queue = FairQueue(QUEUED_PER_AGENT)
        self._task: asyncio.Task[None] | None = None
        # Devices whose mutation failed to commit: nothing later from them may be applied
        # before they reconnect and resend in order, or the failed one would be skipped.
        self._blocked: set[str] = set()
        # The writer thread's own connection, kept open: checking one out of the pool for
        # every batch costs as much as a small batch's statements.  Used on that thread only.
        self._conn: Connection | None = None
        # On SQLite, gaps between back-to-back batches let other processes write too.
        self._turns = WriterTurns(engine.dialect.name == "sqlite")

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="store-writer")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
        while not self._queue.empty():
            req = self._queue.get_nowait()
            if req.future is not None and not req.future.done():
                req.future.set_exception(ConnectionError("server shutting down"))
        await asyncio.get_running_loop().run_in_executor(self._executor, self._close)
        self._executor.shutdown(wait=True)

    @contextlib.contextmanager
    def _begin(self) -> Iterator[Connection]:
        """A write transaction on the writer thread's connection (call on that thread)."""
        if self._conn is None:
            self._conn = self._engine.connect()
        conn = self._conn
        self._turns.before_begin()
        try:
            with conn.begin():
                yield conn
        except DBAPIError:
            self._close()  # the database failed: the next transaction starts on a new connection
            raise
        finally:
            self._turns.after_end()

    def _close(self) -> None:
        conn, self._conn = self._conn, None
        if conn is not None:
            conn.close()

    def enqueue(self, req: Submission) -> asyncio.Future[dict[str, Any]]:
        """Queue a submission; its future (``req.future``, made here if it has none) gets its
        ``ack`` or ``reject`` frame once committed (or StoreUnavailable)."""
        if req.future is None:
            req.future = asyncio.get_running_loop().create_future()
        self._queue.put_nowait(req)
        return req.future

    def queued(self, agent_id: str) -> int:
        """How many of the agent's submissions wait for the writer."""
        return self._queue.queued(agent_id)

    async def room_for(self, agent_id: str) -> None:
        """Return once the agent's queue is below its bound (`QUEUED_PER_AGENT`): a connection
        awaits this before reading its next frame, so a flood waits in the sender's socket."""
        await self._queue.room(agent_id)

    async def submit(
        self, actor: Actor, name: str, args: dict[str, Any], *, key: str | None = None
    ) -> dict[str, Any]:
        """Submit a mutation as one of the server's own actors; its ``ack`` or ``reject``.

        ``key`` makes it idempotent: submitted again under the same key, it is answered with
        the first answer and applied once (e.g. a mail fetched twice).  Keys are this actor's
        own for this mutation (another channel's "1" is another key), and an
        ``internal_error`` (a server bug) is not kept: submitted again, it is decided again.
        """
        if not actor.is_server:
            raise ValueError("workstations submit through their connection")
        return await self.enqueue(Submission(actor, name, args, key=key))

    async def run(self, fn: Callable[[Connection], T]) -> T:
        """Run ``fn`` in its own write transaction on the writer thread."""

        def work() -> T:
            with self._begin() as conn:
                return fn(conn)

        return await asyncio.get_running_loop().run_in_executor(self._executor, work)

    def _must_refuse(self, req: Submission) -> bool:
        return req.workstation_id in self._blocked or not req.is_live()

    def unblock(self, workstation_id: str) -> None:
        """The device said hello again: it will resend everything unanswered, in order."""
        self._blocked.discard(workstation_id)

    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            batch = await self._queue.take(MAX_BATCH)
            refused, batch = _partition(batch, self._must_refuse)
            for req in refused:
                _fail(req)
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
        self, batch: list[Submission], frames: list[dict[str, Any]], logged: list[Any]
    ) -> None:
        for req, frame in zip(batch, frames, strict=True):
            if req.future is not None and not req.future.done():
                req.future.set_result(frame)
        if logged:
            self._on_commit(logged)

    def _refuse_for_now(self, batch: list[Submission]) -> None:
        """Nothing of ``batch`` was committed or acknowledged: each client resends after
        reconnecting, and until then nothing newer of theirs is applied."""
        for req in batch:
            if req.workstation_id is not None:
                self._blocked.add(req.workstation_id)
            _fail(req)

    async def _apply_one_by_one(self, batch: list[Submission]) -> None:
        """Apply a failed batch again, each mutation in its own transaction.

        The mutation that fails alone is the culprit: if the store is at fault it is refused
        for now, with everything after it (the store is down); otherwise it is refused for
        good, as a server bug (``internal_error``, kept for a workstation's mutation id; a
        server writer may submit its key again).
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
                log.exception("mutation %s from %s failed its transaction", req.name, req.actor)
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

    def _refuse_for_good(self, req: Submission) -> dict[str, Any]:
        """Answer ``req`` with ``internal_error``, kept for a workstation's mutation id, in
        its own transaction (a keyed answer given meanwhile is answered again)."""
        with self._begin() as conn:
            workstation = req.workstation_id
            ledger = WorkstationLedger(conn, {workstation} if workstation else set())
            key = stored_key(req)
            keys = KeyLedger(conn, {key} if key is not None else set())
            if workstation is not None and not ledger.is_new(workstation, req.mutation_id):
                return ledger.replayed(conn, workstation, req.mutation_id)
            if key is not None and (answer := keys.answered(key)) is not None:
                return answer
            frame = internal_error(req.mutation_id)
            if workstation is not None:
                ledger.claim(workstation, req.mutation_id)
                ledger.record(workstation, req.mutation_id, frame)
            ledger.save(conn)
        return frame

    def _apply(self, batch: list[Submission]) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
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
            # In this transaction: others' disables and demotions count (lockout.py).
            lockout = Lockout(conn, batch)
            ledger = WorkstationLedger(conn, {r.workstation_id for r in batch if r.workstation_id})
            keys = KeyLedger(conn, {k for r in batch if (k := stored_key(r)) is not None})
            notes = [_message_args(req) for req in batch]
            run: MessageRun | None = None
            members: list[int] = []  # indexes of the requests planned in `run`, not yet written
            for i, req in enumerate(batch):
                if (refusal := lockout.refusal(req)) is not None:
                    answers[i] = refusal
                    continue
                args = notes[i]
                workstation = req.workstation_id
                # The fast path plans only what the one write path would let through to
                # `apply`; a mutation its declaration forbids is refused there, as any other.
                if (
                    args is not None
                    and workstation
                    and ledger.is_new(workstation, req.mutation_id)
                    and forbidden(req) is None
                ):
                    if run is None:
                        run = MessageRun(conn, _messages_ahead(notes, i))
                    planned = run.plan(req.actor, workstation, args, utcnow())
                    if planned is not None:
                        ledger.claim(workstation, req.mutation_id)
                        members.append(i)
                        continue
                if not self._write_run(conn, run, members, batch, ledger, answers, logged):
                    run = None
                members = []
                before = len(logged)
                answers[i] = answer_alone(conn, req, ledger, keys, logged)
                lockout.follow(logged[before:])
                if args is None or len(logged) > before:
                    # Past the mutations the run read ahead for, or the store changed under it.
                    run = None
            self._write_run(conn, run, members, batch, ledger, answers, logged)
            ledger.save(conn)
            keys.save(conn)
        frames = [a for a in answers if a is not None]
        if len(frames) != len(batch):
            raise RuntimeError("a mutation of the batch was left unanswered")
        return frames, logged

    def _write_run(
        self,
        conn: Connection,
        run: MessageRun | None,
        members: list[int],
        batch: list[Submission],
        ledger: WorkstationLedger,
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
                answers[i] = _decide_workstation(conn, batch[i], ledger, logged)
            return False
        for i, done in zip(members, planned, strict=True):
            req = batch[i]
            frame = ack_frame(req.mutation_id, done.log[-1]["seq"], done.result)
            ledger.record(req.workstation_id or "", req.mutation_id, frame)
            answers[i] = frame
            logged.extend(done.log)
        return True


def _fail(req: Submission) -> None:
    if req.future is not None and not req.future.done():
        req.future.set_exception(StoreUnavailable(req.workstation_id or req.actor.origin))


def answer_alone(
    conn: Connection,
    req: Submission,
    ledger: WorkstationLedger,
    keys: KeyLedger,
    logged: list[dict[str, Any]],
) -> dict[str, Any]:
    """The answer to one submission outside a message run: a replay's stored answer, or
    the one write path's verdict."""
    workstation = req.workstation_id
    if workstation is None:
        return decide_keyed(conn, req, keys, logged)
    if not ledger.is_new(workstation, req.mutation_id):
        return ledger.replayed(conn, workstation, req.mutation_id, partial(unparsable, req))
    ledger.claim(workstation, req.mutation_id)
    return _decide_workstation(conn, req, ledger, logged)


def _decide_workstation(
    conn: Connection, req: Submission, ledger: WorkstationLedger, logged: list[dict[str, Any]]
) -> dict[str, Any]:
    """Decide a workstation's submission and keep its answer for a replay."""
    frame = decide(conn, req, logged)
    if frame.get("code") != p.ErrorCode.INVALID_MUTATION or unparsable(req) is None:
        ledger.record(req.workstation_id or "", req.mutation_id, frame)
    return frame


def _messages_ahead(notes: list[p.MessageAddArgs | None], start: int) -> list[p.MessageAddArgs]:
    """The ``message.add`` arguments from ``start`` up to the first other mutation."""
    ahead: list[p.MessageAddArgs] = []
    for args in notes[start:]:
        if args is None:
            break
        ahead.append(args)
    return ahead


def _message_args(req: Submission) -> p.MessageAddArgs | None:
    """A workstation's ``message.add``'s parsed arguments (None for anything else, or if they
    are invalid: the one write path then refuses it)."""
    if req.name != "message.add" or req.workstation_id is None:
        return None
    try:
        args = DOMAIN.parse(req.name, req.args)
    except p.ProtocolError:
        return None  # the generic path parses again and rejects it
    return args if isinstance(args, p.MessageAddArgs) else None


def _partition(
    batch: list[Submission], refuse: Callable[[Submission], bool]
) -> tuple[list[Submission], list[Submission]]:
    refused: list[Submission] = []
    kept: list[Submission] = []
    for req in batch:
        (refused if refuse(req) else kept).append(req)
    return refused, kept
