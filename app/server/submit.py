"""The one write path: every writer's mutations are decided here.

A workstation's connection, the command line and the server's own actors (the system, each
channel) all submit a `Submission`: an actor, a declared mutation and its arguments, and
where it comes from.  Each gets the same treatment: the declaration's writers and
authorization rule, its validated arguments, its authoritative ``apply`` in a savepoint, the
change log (which names the actor and the origin: the audit trail), fan-out after commit, and
an idempotency key (a workstation's numbered mutation, or a server writer's own key) so a
submission sent twice is answered twice but applied once.

A workstation's submission carries its agent's rights as the connection captured them at
hello; the writer decides it only if they are still the agent's committed rights
(`app.server.lockout`), and refuses it for now otherwise.

In a running server the writer (`app.server.writer`) batches submissions; the command line,
which runs without a server, uses `submit_now`.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Connection, Engine, insert, select, text

from app.domain.mutation import Actor, Refused, StoreTx, Writers
from app.domain.registry import DOMAIN
from app.models.base import utcnow
from app.models.tables import T_SUBMISSION_KEYS
from app.server import auth, notify
from app.server.write_turns import write_when_free
from app.sync.protocol import ErrorCode, ProtocolError

log = logging.getLogger(__name__)

# Any constant works; all Switchboard processes sharing one PostgreSQL must use the same one.
LOG_LOCK_KEY = 0x5357424C  # "SWBL"
# The length of submission_keys.key (migration 0002): PostgreSQL refuses a longer one.
KEY_LENGTH = 200


@dataclass
class Submission:
    """One mutation submitted by a writer, and the future that takes its answer.

    A workstation's submission is identified by ``workstation_id`` and ``mutation_id``; a
    server writer's may carry ``key`` (e.g. a mailbox and message uid), under which its answer
    is kept so that submitting it again applies nothing.  The key is the writer's own: it is
    kept per writer and mutation (`stored_key`), so two channels may use the same one.
    """

    actor: Actor
    name: str
    args: dict[str, Any]
    workstation_id: str | None = None
    mutation_id: int = 0
    key: str | None = None
    future: asyncio.Future[dict[str, Any]] | None = field(default=None, repr=False)
    # False once the sending connection is closing: its client will resend on a new one.
    is_live: Callable[[], bool] = field(default=lambda: True, repr=False)


class StoreSecrets:
    """Passwords and sessions, as account mutations change them (see `AccountSecrets`)."""

    def set_password(self, conn: Connection, agent_id: str, password: str) -> None:
        auth.set_password(conn, agent_id, password)

    def end_sessions(self, conn: Connection, agent_id: str) -> None:
        auth.revoke_agent_sessions(conn, agent_id)


SECRETS = StoreSecrets()


def ack_frame(mutation_id: int, seq: int | None, result: dict[str, Any]) -> dict[str, Any]:
    """The ``ack`` of an applied mutation (``seq``: its last change-log row, if any)."""
    return {"type": "ack", "mutation_id": mutation_id, "seq": seq, "result": result}


def reject_frame(
    mutation_id: int,
    code: ErrorCode,
    message: str,
    *,
    transient: bool = False,
    details: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """A ``reject`` frame.  ``transient``: nothing was recorded, and the workstation keeps
    the mutation to send again (after reconnecting, or after ``details.retry_after``)."""
    frame: dict[str, Any] = {
        "type": "reject",
        "mutation_id": mutation_id,
        "code": code.value,
        "message": message,
    }
    if transient:
        frame["transient"] = True
    if details is not None:
        frame["details"] = details
    return frame


def refusal_frame(mutation_id: int, exc: Refused | ProtocolError) -> dict[str, Any]:
    """The ``reject`` of a refused mutation, with what the agent needs to review it."""
    details = exc.details if isinstance(exc, ProtocolError) else None
    frame = reject_frame(mutation_id, exc.code, exc.message, details=details)
    if isinstance(exc, Refused) and exc.current is not None:
        frame["current"] = exc.current
    return frame


def internal_error(mutation_id: int) -> dict[str, Any]:
    """The reject of a mutation the server failed to apply through no fault of the store's."""
    return reject_frame(
        mutation_id, ErrorCode.INTERNAL, "the server could not apply this change; try again"
    )


def serialise_log(conn: Connection, origin: str) -> None:
    """Call first in every transaction that may append to the change log."""
    # PostgreSQL hands out sequence values before commit, so two writers could commit seq 11
    # before seq 10 and a reader would skip 10 forever.  Holding this lock from the first log
    # append to commit makes seq order equal commit order.  SQLite has one writer already.
    if conn.dialect.name == "postgresql":
        conn.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": LOG_LOCK_KEY})
        notify.announce(conn, origin)  # wakes the other server processes at commit


def forbidden(sub: Submission) -> Refused | None:
    """The refusal the declaration's writers and authorization rule give ``sub``, if any.

    Every path to ``apply`` asks this, the writer's ``message.add`` fast path included.
    """
    mutation = DOMAIN.mutations.get(sub.name)
    if mutation is None:
        return None  # parsing refuses it as unknown
    if mutation.writers == Writers.SERVER and not sub.actor.is_server:
        return Refused(ErrorCode.FORBIDDEN, f"{sub.name} is made by the server only")
    if not mutation.allowed(sub.actor):
        return Refused(ErrorCode.FORBIDDEN, mutation.denied)
    return None


def permitted(sub: Submission) -> None:
    """The declaration's writers and authorization rule; raises Refused(forbidden)."""
    if (refusal := forbidden(sub)) is not None:
        raise refusal


def decide(conn: Connection, sub: Submission, logged: list[dict[str, Any]]) -> dict[str, Any]:
    """Apply one submission in its own savepoint; its ``ack`` or ``reject`` frame.

    The change-log rows it appended are added to ``logged``.  A refusal changes nothing.
    """
    tx = StoreTx(conn, sub.actor, sub.workstation_id, utcnow(), SECRETS)
    savepoint = conn.begin_nested()
    try:
        permitted(sub)
        parsed = DOMAIN.parse(sub.name, sub.args)
        result = DOMAIN.mutations[sub.name].apply(tx, parsed)
        savepoint.commit()
    except (Refused, ProtocolError) as exc:
        savepoint.rollback()
        return refusal_frame(sub.mutation_id, exc)
    except Exception:
        # A bug, not a verdict on the mutation: keep the batch alive, record the failure so a
        # replay is answered the same way, and let the writer's caller retry as a new one.
        savepoint.rollback()
        log.exception("mutation %s from %s failed", sub.name, sub.actor.origin)
        return internal_error(sub.mutation_id)
    logged.extend(tx.logged)
    return ack_frame(sub.mutation_id, tx.logged[-1]["seq"] if tx.logged else None, result)


def unparsable(sub: Submission) -> dict[str, Any] | None:
    """The ``reject`` of a submission whose name is unknown or whose arguments are invalid;
    None if they parse.

    Such a refusal depends on the frame alone, so it is not stored (an attack run left
    382,028 of them): a replay of the same frame is refused the same way again.
    """
    try:
        DOMAIN.parse(sub.name, sub.args)
    except ProtocolError as exc:
        return refusal_frame(sub.mutation_id, exc)
    return None


def stored_key(sub: Submission) -> str | None:
    """The key a server writer's answer is kept under: its own key, in the namespace of the
    writer (its origin: "channel:email") and the mutation, or None if it has no key.

    A key that would not fit the column is kept as its SHA-256 instead: a mail's Message-ID
    may be longer than the column, and it must stay idempotent all the same.  The two forms
    are marked apart ("=" the key itself, "#" its hash): a key is often chosen by a stranger
    (a sender picks their Message-ID), and one that looks like another key's hash must not
    be taken for it.
    """
    if sub.key is None:
        return None
    namespace = f"{sub.actor.origin}|{sub.name}|"
    if len(namespace) + 1 + len(sub.key) <= KEY_LENGTH:
        return f"{namespace}={sub.key}"
    return f"{namespace}#{hashlib.sha256(sub.key.encode()).hexdigest()}"


class KeyLedger:
    """The answers given to server writers' keyed submissions, inside one transaction
    (under their `stored_key`)."""

    def __init__(self, conn: Connection, keys: set[str]) -> None:
        self._known: dict[str, dict[str, Any]] = {}
        if keys:
            rows = conn.execute(
                select(T_SUBMISSION_KEYS.c.key, T_SUBMISSION_KEYS.c.answer).where(
                    T_SUBMISSION_KEYS.c.key.in_(sorted(keys))
                )
            )
            self._known = {key: answer for key, answer in rows}
        self._new: dict[str, dict[str, Any]] = {}

    def answered(self, key: str) -> dict[str, Any] | None:
        found = self._known.get(key) or self._new.get(key)
        return None if found is None else {**found, "replayed": True}

    def record(self, key: str, frame: dict[str, Any]) -> None:
        if frame.get("code") == ErrorCode.INTERNAL:
            # A server bug, not a verdict on the submission: a writer that retries once it
            # is fixed must get its change applied, not this answer again, forever.  (A
            # workstation's internal_error is kept: its mutation id is spent, and the desk
            # submits the change again as a new mutation.)
            return
        self._new[key] = frame

    def save(self, conn: Connection) -> None:
        if self._new:
            now = utcnow()
            conn.execute(
                insert(T_SUBMISSION_KEYS),
                [{"key": k, "answer": a, "created_at": now} for k, a in self._new.items()],
            )


def decide_keyed(
    conn: Connection, sub: Submission, keys: KeyLedger, logged: list[dict[str, Any]]
) -> dict[str, Any]:
    """`decide` for a server writer's submission: answered again if its key was seen."""
    key = stored_key(sub)
    if key is not None and (answer := keys.answered(key)) is not None:
        return answer
    frame = decide(conn, sub, logged)
    if key is not None:
        keys.record(key, frame)
    return frame


def submit_now(engine: Engine, sub: Submission) -> dict[str, Any]:
    """Apply one submission in its own transaction, without a running server (the command
    line).  Running servers pick its change up from the log within a second."""

    def work(conn: Connection) -> dict[str, Any]:
        logged: list[dict[str, Any]] = []
        serialise_log(conn, origin=sub.actor.origin)
        key = stored_key(sub)
        keys = KeyLedger(conn, {key} if key is not None else set())
        frame = decide_keyed(conn, sub, keys, logged)
        keys.save(conn)
        return frame

    if engine.dialect.name == "sqlite":
        # A running server may be writing flat out: take a turn at the lock (write_turns.py).
        return write_when_free(engine, work)
    with engine.begin() as conn:
        return work(conn)
