"""Passwords, session tokens and the login rate limit.

Passwords are hashed with argon2id.  A session token is 256 random bits handed to the
workstation once; the store keeps only its SHA-256, so a stolen database reveals no token.
Sessions end after a period of inactivity, at an absolute expiry, on logout, or the moment an
admin disables the agent.
"""

from __future__ import annotations

import hashlib
import secrets
import time
from collections import deque
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError
from sqlalchemy import Connection, insert, select, update

from app.models.base import new_id, utcnow
from app.models.tables import T_AGENTS, T_CREDENTIALS, T_SESSIONS
from app.sync.protocol import ErrorCode

_hasher = PasswordHasher()  # argon2id with the library's current recommended parameters

SESSION_IDLE = timedelta(days=14)
SESSION_ABSOLUTE = timedelta(days=30)
# Touching last_seen on every reconnect would turn reads into writes; once an hour is plenty.
TOUCH_INTERVAL = timedelta(hours=1)


class AuthError(Exception):
    """A login or token that is refused; ``code`` is the documented protocol error."""

    def __init__(
        self, code: ErrorCode, message: str, details: dict[str, Any] | None = None
    ) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.details = details  # e.g. retry_after, sent with the error frame


def hash_password(password: str) -> str:
    return str(_hasher.hash(password))


def _verify(password_hash: str, password: str) -> bool:
    try:
        return bool(_hasher.verify(password_hash, password))
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return False


# A real hash to verify against when the account does not exist, so timing does not tell.
_DUMMY_HASH = hash_password(secrets.token_urlsafe(16))


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def parse_bearer(header: str | None) -> str | None:
    """The token of an ``Authorization: Bearer <token>`` header, or None."""
    if not header:
        return None
    scheme, _, token = header.partition(" ")
    token = token.strip()
    if scheme.lower() != "bearer" or not token or len(token) > 200:
        return None
    return token


@dataclass(frozen=True)
class SessionInfo:
    session_id: str
    agent_id: str
    expires_at: datetime


def check_password(conn: Connection, email: str, password: str) -> str:
    """The agent id for these credentials; raises AuthError. Read-only."""
    row = conn.execute(
        select(T_AGENTS.c.id, T_AGENTS.c.active, T_CREDENTIALS.c.password_hash)
        .select_from(T_AGENTS.outerjoin(T_CREDENTIALS, T_CREDENTIALS.c.agent_id == T_AGENTS.c.id))
        .where(T_AGENTS.c.email == email.strip().lower())
    ).first()
    if row is None or row.password_hash is None:
        _verify(_DUMMY_HASH, password)
        raise AuthError(ErrorCode.INVALID_CREDENTIALS, "wrong email or password")
    if not _verify(row.password_hash, password):
        raise AuthError(ErrorCode.INVALID_CREDENTIALS, "wrong email or password")
    if not row.active:
        raise AuthError(ErrorCode.AGENT_DISABLED, "this account has been disabled")
    return str(row.id)


def create_session(conn: Connection, agent_id: str) -> tuple[str, SessionInfo]:
    """A new session; returns the token (shown once) and what the store keeps."""
    token = secrets.token_urlsafe(32)
    now = utcnow()
    info = SessionInfo(new_id(), agent_id, now + SESSION_ABSOLUTE)
    conn.execute(
        insert(T_SESSIONS).values(
            id=info.session_id,
            agent_id=agent_id,
            token_hash=token_hash(token),
            created_at=now,
            last_seen_at=now,
            expires_at=info.expires_at,
        )
    )
    return token, info


def resolve_token(conn: Connection, token: str) -> tuple[SessionInfo, bool]:
    """The live session behind ``token`` and whether its last_seen should be touched.

    Raises AuthError with token_invalid, session_expired, session_revoked or agent_disabled.
    """
    row = conn.execute(
        select(T_SESSIONS, T_AGENTS.c.active)
        .join(T_AGENTS, T_AGENTS.c.id == T_SESSIONS.c.agent_id)
        .where(T_SESSIONS.c.token_hash == token_hash(token))
    ).first()
    if row is None:
        raise AuthError(ErrorCode.TOKEN_INVALID, "the session token is not valid")
    now = utcnow()
    # Disabling an account also revokes its sessions: say the more useful of the two.
    if not row.active:
        raise AuthError(ErrorCode.AGENT_DISABLED, "this account has been disabled")
    if row.revoked_at is not None:
        raise AuthError(ErrorCode.SESSION_REVOKED, "this session was signed out")
    expires_at = min(row.expires_at, row.last_seen_at + SESSION_IDLE)
    if now >= expires_at:
        raise AuthError(ErrorCode.SESSION_EXPIRED, "the session has expired; sign in again")
    info = SessionInfo(row.id, row.agent_id, expires_at)
    return info, now - row.last_seen_at >= TOUCH_INTERVAL


def touch_session(conn: Connection, session_id: str) -> datetime:
    """Record activity on a session; returns its new expiry (idle window from now)."""
    now = utcnow()
    conn.execute(update(T_SESSIONS).where(T_SESSIONS.c.id == session_id).values(last_seen_at=now))
    absolute: datetime = conn.execute(
        select(T_SESSIONS.c.expires_at).where(T_SESSIONS.c.id == session_id)
    ).scalar_one()
    return min(absolute, now + SESSION_IDLE)


def keep_alive(conn: Connection, session_id: str) -> SessionInfo:
    """An open connection counts as activity: extend the session, or raise AuthError if it was
    revoked, expired or its agent disabled meanwhile."""
    row = conn.execute(
        select(T_SESSIONS, T_AGENTS.c.active)
        .join(T_AGENTS, T_AGENTS.c.id == T_SESSIONS.c.agent_id)
        .where(T_SESSIONS.c.id == session_id)
    ).first()
    if row is not None and not row.active:
        raise AuthError(ErrorCode.AGENT_DISABLED, "this account has been disabled")
    if row is None or row.revoked_at is not None:
        raise AuthError(ErrorCode.SESSION_REVOKED, "this session was signed out")
    if utcnow() >= min(row.expires_at, row.last_seen_at + SESSION_IDLE):
        raise AuthError(ErrorCode.SESSION_EXPIRED, "the session has expired; sign in again")
    return SessionInfo(row.id, row.agent_id, touch_session(conn, session_id))


def revoke_session(conn: Connection, session_id: str) -> None:
    conn.execute(
        update(T_SESSIONS)
        .where(T_SESSIONS.c.id == session_id, T_SESSIONS.c.revoked_at.is_(None))
        .values(revoked_at=utcnow())
    )


def revoke_agent_sessions(conn: Connection, agent_id: str) -> None:
    conn.execute(
        update(T_SESSIONS)
        .where(T_SESSIONS.c.agent_id == agent_id, T_SESSIONS.c.revoked_at.is_(None))
        .values(revoked_at=utcnow())
    )


def set_password(conn: Connection, agent_id: str, password: str) -> None:
    hashed = hash_password(password)
    done = conn.execute(
        update(T_CREDENTIALS)
        .where(T_CREDENTIALS.c.agent_id == agent_id)
        .values(password_hash=hashed, updated_at=utcnow())
    )
    if done.rowcount == 0:
        conn.execute(insert(T_CREDENTIALS).values(agent_id=agent_id, password_hash=hashed))


@dataclass
class LoginThrottle:
    """Failed logins per account and per address in a sliding window.

    Kept in memory: a server restart forgets it, which only ever helps a legitimate user.
    """

    per_account: int = 5
    per_address: int = 20
    window_s: float = 15 * 60
    _failures: dict[str, deque[float]] = field(default_factory=dict)

    def _recent(self, key: str, now: float) -> deque[float]:
        q = self._failures.setdefault(key, deque())
        while q and now - q[0] > self.window_s:
            q.popleft()
        return q

    def retry_after(self, email: str, address: str, now: float | None = None) -> float:
        """Seconds until another attempt is allowed (0 if allowed now)."""
        now = time.monotonic() if now is None else now
        waits = [0.0]
        for key, limit in (
            ("a:" + email.lower(), self.per_account),
            ("ip:" + address, self.per_address),
        ):
            q = self._recent(key, now)
            if len(q) >= limit:
                waits.append(q[0] + self.window_s - now)
        return max(waits)

    def failed(self, email: str, address: str, now: float | None = None) -> None:
        now = time.monotonic() if now is None else now
        for key in ("a:" + email.lower(), "ip:" + address):
            self._recent(key, now).append(now)

    def succeeded(self, email: str) -> None:
        self._failures.pop("a:" + email.lower(), None)
