"""Sessions: resuming from the keychain, signing in and signing out (plain asyncio, no widgets).

The session token — never the password — is kept in the OS keychain when the agent asks to
stay signed in.  Where the computer has no keychain the token lives in this process's memory
only (``Session.token``) and nowhere on disk, and the sign-in dialog says so beforehand.

Signing in binds the cache to the agent: the engine that logs in opens the very cache file
(one per server and account) the desk will use, and records the agent's id in it.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import re
import shutil
import ssl
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING

from websockets.exceptions import (
    ConnectionClosed,
    InvalidHandshake,
    InvalidStatus,
    InvalidURI,
)

from app.sync import cache, credentials
from app.sync import protocol as p
from app.sync.engine import NotASwitchboardServer, RequestFailed, SyncEngine
from app.sync.engine.attachments import files_folder
from app.sync.observer import ConnectionState
from app.sync.profile import Profile, cache_path, normalize_server, tls_context

if TYPE_CHECKING:
    from PySide6.QtCore import QObject

    from app.ui.bridge import Bridge

log = logging.getLogger(__name__)
END_SESSION_WAIT_S = 8.0
DRAIN_BEFORE_SIGN_OUT_S = 5.0
CACHE_SUFFIXES = ("", "-wal", "-shm", "-journal")


@dataclass
class Session:
    """One signed-in agent on one server.  ``remembered``: the token is in the OS keychain
    (else only in this object, for this run)."""

    server: str
    email: str
    token: str = field(repr=False)  # never in a log line or a crash report
    agent_id: str | None
    cache_path: Path
    remembered: bool

    @property
    def profile(self) -> Profile:
        return Profile(self.server, self.email)


class SignInProblem(StrEnum):
    """Why a sign-in failed, for the dialog to choose which field to point at."""

    UNREACHABLE = "unreachable"
    CREDENTIALS = "credentials"
    RATE_LIMITED = "rate_limited"
    DISABLED = "disabled"
    INCOMPATIBLE = "incompatible"
    TLS = "tls"
    NOT_A_SERVER = "not_a_server"
    ADDRESS = "address"


class SignInError(Exception):
    """A sign-in that failed for a reason the agent can act on; ``str()`` says what happened
    and what to do, in plain words."""

    def __init__(self, problem: SignInProblem, text: str, retry_after: int | None = None):
        super().__init__(text)
        self.problem = problem
        self.retry_after = retry_after


class UnsentChanges(Exception):
    """Deleting the cache would throw away changes the server has not received yet."""

    def __init__(self, count: int) -> None:
        many = count != 1
        super().__init__(
            f"{count} change{'s' if many else ''} on this computer "
            f"ha{'ve' if many else 's'} not reached the server yet"
        )
        self.count = count


@dataclass(frozen=True)
class SignOutResult:
    ended_on_server: bool  # False: the server was unreachable; the session ends when it expires
    cache_deleted: bool


# ---- resuming ----------------------------------------------------------------------------


async def resume(profile: Profile | None = None) -> Session | None:
    """The last session, if it can open the desk at once (even offline): its token is in the
    keychain (or in ``SWITCHBOARD_TOKEN``) and its cache exists.  ``None``: show sign-in."""
    if profile is None:
        profile = await asyncio.to_thread(Profile.load)
        if profile is None:
            return None
    # SWITCHBOARD_TOKEN: a box without a keychain may pass a session in the environment.
    token = os.environ.get("SWITCHBOARD_TOKEN") or await asyncio.to_thread(
        credentials.load_token, profile.server, profile.email
    )
    path = cache_path(profile.server, profile.email)
    if not token or not path.exists():
        return None
    return Session(
        server=profile.server,
        email=profile.email,
        token=token,
        agent_id=None,  # the engine reads it from the cache when it opens
        cache_path=path,
        remembered=True,
    )


# ---- signing in --------------------------------------------------------------------------

_RETRY_AFTER = re.compile(r"(\d+)\s*s\b")


def _retry_seconds(message: str) -> int | None:
    found = _RETRY_AFTER.search(message)
    return int(found.group(1)) if found else None


def _refused(exc: RequestFailed) -> SignInError:
    code = exc.code
    if code == p.ErrorCode.INVALID_CREDENTIALS:
        return SignInError(
            SignInProblem.CREDENTIALS,
            "The email or password is not right. Check both (is Caps Lock on?) and try again.",
        )
    if code == p.ErrorCode.RATE_LIMITED:
        wait = _retry_seconds(str(exc)) or 60
        return SignInError(
            SignInProblem.RATE_LIMITED,
            f"Too many sign-in attempts. Wait {wait} s, then try again.",
            retry_after=wait,
        )
    if code == p.ErrorCode.AGENT_DISABLED:
        return SignInError(
            SignInProblem.DISABLED,
            "This account is switched off. Ask your supervisor or administrator to turn it on.",
        )
    if code in (
        p.ErrorCode.PROTOCOL_UNSUPPORTED,
        p.ErrorCode.UNKNOWN_TYPE,
        p.ErrorCode.INVALID_MESSAGE,
    ):
        return SignInError(
            SignInProblem.INCOMPATIBLE,
            "This server runs a version of Switchboard this app cannot talk to. "
            "Install the Switchboard version your team uses, or ask IT.",
        )
    return SignInError(SignInProblem.NOT_A_SERVER, f"The server refused the sign-in: {exc}")


def explain_sign_in_failure(exc: BaseException, server: str) -> SignInError | None:
    """The plain-words reason for a failed ``engine.login``; None if it is a bug."""
    if isinstance(exc, SignInError):
        return exc
    if isinstance(exc, RequestFailed):
        return _refused(exc)
    if isinstance(exc, ssl.SSLCertVerificationError | ssl.SSLError):
        reason = getattr(exc, "verify_message", None) or getattr(exc, "reason", None) or exc
        return SignInError(
            SignInProblem.TLS,
            f"The security certificate of {server} could not be trusted ({reason}). "
            "Check the address; if your company uses its own certificates, ask IT to "
            "install them on this computer.",
        )
    if isinstance(exc, InvalidURI):
        return SignInError(
            SignInProblem.ADDRESS,
            "That is not a server address. Type it like desk.example.com:8765.",
        )
    if isinstance(exc, InvalidStatus):
        if exc.response.status_code == 426:
            return SignInError(
                SignInProblem.INCOMPATIBLE,
                "This server needs a newer Switchboard. Install the version your team uses.",
            )
        return SignInError(
            SignInProblem.NOT_A_SERVER,
            f"{server} answered, but it is not a Switchboard server "
            f"(HTTP {exc.response.status_code}). Check the address.",
        )
    if isinstance(exc, InvalidHandshake | ConnectionClosed | NotASwitchboardServer):
        return SignInError(
            SignInProblem.NOT_A_SERVER,
            f"{server} did not answer like a Switchboard server. Check the address.",
        )
    if isinstance(exc, OSError | TimeoutError):
        return SignInError(
            SignInProblem.UNREACHABLE,
            f"Cannot reach {server}. Check the server address and that this computer is "
            "connected to the network, then try again.",
        )
    return None


async def sign_in(server: str, email: str, password: str, keep: bool) -> Session:
    """Exchange the password for a session token; raises ``SignInError`` in plain words.

    ``keep``: store the token in the OS keychain (``Session.remembered`` says whether that
    worked; without a keychain the token stays in the returned object only).  The profile
    (server and email, nothing secret) is saved for the next start either way.
    """
    server = normalize_server(server)
    email = email.strip()
    if not server:
        raise SignInError(
            SignInProblem.ADDRESS, "Type the server address, like desk.example.com:8765."
        )
    if not email or not password:
        raise SignInError(SignInProblem.CREDENTIALS, "Type your email and your password.")
    path = cache_path(server, email)
    fresh = not path.exists()
    engine = SyncEngine(path, server, ssl_context=tls_context(server))
    await engine.open()
    ok = False
    try:
        token = await engine.login(email, password)
        ok = True
    except Exception as exc:
        explained = explain_sign_in_failure(exc, server)
        if explained is None:
            raise
        raise explained from exc
    finally:
        await engine.close()
        if not ok and fresh:
            # A mistyped address or password must not leave an empty cache behind.
            await _delete_cache_files(path)
    agent_id = engine.agent_id
    remembered = False
    if keep:
        remembered = await asyncio.to_thread(credentials.store_token, server, email, token)
    else:
        # "Keep me signed in" unticked: a token kept by an earlier sign-in must go too.
        await asyncio.to_thread(credentials.delete_token, server, email)
    await asyncio.to_thread(Profile(server, email).save)
    return Session(server, email, token, agent_id, path, remembered)


def new_engine(session: Session) -> SyncEngine:
    """The sync engine for a session (not yet opened)."""
    return SyncEngine(
        session.cache_path,
        session.server,
        token=session.token,
        ssl_context=tls_context(session.server),
    )


async def open_bridge(session: Session, parent: QObject | None = None) -> Bridge:
    """Open the desk for a session: engine and readers on its cache, syncing started.

    Works offline: the desk shows the cache at once and the engine keeps reconnecting.
    """
    from app.sync.desk import DeskReaders  # imported here: only the desk needs the readers
    from app.ui.bridge import Bridge

    engine = new_engine(session)
    await engine.open()
    if engine.agent_id is None:
        await engine.close()
        raise SignInError(
            SignInProblem.CREDENTIALS, "This computer's copy is not signed in. Sign in again."
        )
    session.agent_id = engine.agent_id
    desk = await DeskReaders.open(engine.cache_path, engine.agent_id)
    bridge = Bridge(engine, desk, parent)
    engine.start()
    return bridge


# ---- signing out -------------------------------------------------------------------------


async def unsent_changes(engine: SyncEngine) -> int:
    """How many local changes the server has not acknowledged yet."""
    return int(await engine.read(cache.outbox_count))


async def _end_session(engine: SyncEngine) -> bool:
    try:
        return await engine.end_session(END_SESSION_WAIT_S)
    except (OSError, InvalidHandshake, ConnectionClosed, TimeoutError) as exc:
        log.info("could not end the session on the server: %s", exc)
        return False


async def _delete_cache_files(path: Path) -> None:
    for suffix in CACHE_SUFFIXES:
        await asyncio.to_thread(Path(str(path) + suffix).unlink, missing_ok=True)
    # The attachments kept for it (app/sync/local_files.py) go with it.
    await asyncio.to_thread(shutil.rmtree, files_folder(path), ignore_errors=True)


async def sign_out(
    target: Bridge | SyncEngine,
    *,
    delete_cache: bool,
    session: Session | None = None,
    discard_unsent: bool = False,
) -> SignOutResult:
    """End the session on the server (best effort), forget the token, close the desk.

    ``target``: the desk's bridge (drafts are saved and the readers closed too) or a bare
    engine.  ``session``: whose keychain entry to delete (default: the saved profile).
    ``delete_cache``: also delete this computer's copy of the tickets — refused with
    ``UnsentChanges`` while changes wait to be sent, unless ``discard_unsent`` (the agent
    confirmed losing them).  Nothing is touched when it refuses.
    """
    bridge = None if isinstance(target, SyncEngine) else target
    engine = target if isinstance(target, SyncEngine) else target.engine
    if bridge is not None:
        # Drafts saved and started work (a reply, a bulk change) written before counting
        # what would be lost: nothing may land in the outbox after the count.
        await bridge.settle()
    if delete_cache:
        if engine.status.state == ConnectionState.ONLINE:
            # Online: give the outbox a moment to drain rather than asking about it.
            with contextlib.suppress(TimeoutError):
                await engine.wait_drained(DRAIN_BEFORE_SIGN_OUT_S)
        waiting = await unsent_changes(engine)
        if waiting and not discard_unsent:
            raise UnsentChanges(waiting)
    ended = await _end_session(engine)
    if bridge is not None:
        await bridge.shutdown()
    else:
        await engine.close()
    if session is not None:
        server, email = session.server, session.email
    else:
        profile = await asyncio.to_thread(Profile.load)
        server, email = (profile.server, profile.email) if profile else (engine.server_url, "")
    if email:
        await asyncio.to_thread(credentials.delete_token, server, email)
    engine.token = None
    if session is not None:
        session.token = ""
    if delete_cache:
        await _delete_cache_files(engine.cache_path)
    return SignOutResult(ended_on_server=ended, cache_deleted=delete_cache)
