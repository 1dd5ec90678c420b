"""Starting the workstation: one QApplication, one qasync loop, sign-in or the saved session.

The desk opens from the local cache at once, even with the server unreachable, and syncs in
the background.  Signing out comes back here and shows the sign-in dialog again; closing the
window waits until every draft is saved, then quits.
"""

from __future__ import annotations

import asyncio
import gc
import hashlib
import logging
import os
import sys
import time
from collections.abc import Callable, Coroutine
from pathlib import Path
from typing import Any

from PySide6.QtCore import QCoreApplication, QSettings
from PySide6.QtWidgets import QApplication, QMessageBox

from app import desk_link
from app.sync import credentials
from app.sync.profile import Profile
from app.ui import crash, session, theme
from app.ui.desk.window import DeskWindow
from app.ui.signin import confirm_and_sign_out, run_sign_in

log = logging.getLogger(__name__)
STARTED = time.perf_counter()  # for the start-up figure in the log


def account_key(server: str, email: str) -> str:
    """A settings key for one account on one server (no address or email in clear)."""
    return hashlib.sha256(f"{server.rstrip('/')}|{email.lower()}".encode()).hexdigest()[:16]


class Workstation:
    """Runs sign-in → desk → (sign out → sign-in …) until the agent quits."""

    def __init__(self, app: QApplication, settings: QSettings) -> None:
        self.app = app
        self.settings = settings
        self.window: DeskWindow | None = None
        self.reporter: crash.CrashReporter | None = None
        self._flows: set[asyncio.Task[None]] = set()
        self._signing_out = False

    def quit(self) -> None:
        """Quit as the window's close does: drafts saved, then out."""
        if self.window is not None:
            self.window.close()
        else:
            self.app.quit()

    async def run(
        self, *, server: str | None = None, email: str | None = None, password: str | None = None
    ) -> int:
        auto = (server, email, password) if server and email and password else None
        while True:
            current = await self._session(auto, server, email)
            auto = None
            if current is None:
                log.info("sign-in cancelled by the agent: quitting")  # never a silent exit
                return 0
            outcome = await self._desk(current)
            if outcome == "quit":
                return 0

    async def _session(
        self,
        auto: tuple[str, str, str] | None,
        server: str | None,
        email: str | None,
    ) -> session.Session | None:
        if auto is not None:
            try:
                return await session.sign_in(*auto, keep=False)
            except session.SignInError as exc:
                log.warning("automatic sign-in failed: %s", exc)
        elif server is None and email is None:
            resumed = await session.resume()
            if resumed is not None:
                return resumed
        profile = None
        if server or email:
            saved = await asyncio.to_thread(Profile.load)
            profile = Profile(
                server or (saved.server if saved else ""), email or (saved.email if saved else "")
            )
        return await run_sign_in(profile)

    async def _desk(self, current: session.Session) -> str:
        try:
            bridge = await session.open_bridge(current)
        except session.SignInError as exc:
            QMessageBox.information(None, "Sign in again", str(exc))
            return "signed_out"
        await bridge.reload_directory()
        if self.reporter is not None:
            bridge.taskFailed.connect(self.reporter.report)
        window = DeskWindow(bridge, self.settings, account_key(current.server, current.email))
        self.window = window
        outcome: asyncio.Future[str] = asyncio.get_running_loop().create_future()

        def finish(result: str) -> None:
            if not outcome.done():
                outcome.set_result(result)

        window.closed.connect(lambda: finish("quit"))
        # Not through bridge.run: signing out shuts the bridge down; these flows outlive it.
        window.signOutRequested.connect(
            lambda: self._start(self._sign_out(window, current, finish))
        )
        window.signInAgainRequested.connect(
            lambda: self._start(self._sign_in_again(window, current, finish))
        )
        await window.load()
        window.show()
        window.phone.take_calls()  # rings from softphones: `switchboard call incoming`
        pending = os.environ.pop(desk_link.PENDING_ENV, "")
        if pending:  # the desk was started by a switchboard:// link: its call pops now
            window.phone.open_link(pending)
        log.info("desk interactive %.0f ms after start", (time.perf_counter() - STARTED) * 1000)
        # What start-up built (modules, the first list pages, the restored tabs) lives as long
        # as the desk: out of the collector's sight, a full collection stays a few ms instead
        # of a pause of 100 ms or more in the middle of a frame.
        gc.freeze()
        result = await outcome
        window.phone.stop_taking_calls()
        if result != "signed_out":  # signing out has shut the bridge down already
            await bridge.shutdown()
        window.deleteLater()
        self.window = None
        return result

    def _start(self, coro: Coroutine[Any, Any, None]) -> None:
        """Run a flow that outlives the desk's bridge; its errors reach the crash reporter."""
        task = asyncio.get_running_loop().create_task(coro)
        self._flows.add(task)

        def done(t: asyncio.Task[None]) -> None:
            self._flows.discard(t)
            if not t.cancelled() and t.exception() is not None and self.reporter is not None:
                self.reporter.report(t.exception())  # type: ignore[arg-type]

        task.add_done_callback(done)

    async def _sign_out(
        self, window: DeskWindow, current: session.Session, finish: Callable[[str], None]
    ) -> None:
        """File ▸ Sign out: ask (deleting the local copy is offered), then sign out."""
        if self._signing_out:
            return
        self._signing_out = True
        window.save_state()  # the open tabs come back at the next sign-in
        await window.bridge.drafts.flush()  # drafts reach the cache (and the outbox) first
        # The desk is frozen while the dialog is up and the session ends: a reply typed in
        # those seconds would land after the count of unsent changes the agent was shown.
        window.freeze(True)
        try:
            result = await confirm_and_sign_out(window.bridge, current, window)
        except session.UnsentChanges as exc:
            window.freeze(False)
            QMessageBox.warning(window, "Not signed out", f"{exc}. Nothing was deleted.")
            return
        finally:
            self._signing_out = False
        if result is None:
            window.freeze(False)
            return
        window.tray.hide()
        window.hide()
        finish("signed_out")

    async def _sign_in_again(
        self, window: DeskWindow, current: session.Session, finish: Callable[[str], None]
    ) -> None:
        """The session ended on the server (expired, revoked): keep the local copy and its
        unsent work, forget the dead token, and show the sign-in dialog."""
        window.save_state()
        await window.bridge.drafts.flush()
        await asyncio.to_thread(credentials.delete_token, current.server, current.email)
        window.tray.hide()
        window.hide()
        finish("sign_in_again")


def _display_available() -> bool:
    if not sys.platform.startswith("linux") or os.environ.get("QT_QPA_PLATFORM"):
        return True  # Windows and macOS always have one; a chosen platform knows best
    return bool(os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY"))


def run_workstation(
    *,
    server: str | None = None,
    email: str | None = None,
    password: str | None = None,
    cache: Path | None = None,
) -> int:
    """The ``switchboard`` program: returns its exit code when the agent quits."""
    if not _display_available():
        print(
            "Switchboard needs a desktop session to open its window (no display found). "
            "On a server, `switchboard demo --headless` runs the demo without one.",
            file=sys.stderr,
        )
        return 2
    del cache  # one cache per server and account, chosen by the session
    QCoreApplication.setOrganizationName("Switchboard")
    QCoreApplication.setApplicationName("Switchboard")
    app = QApplication.instance() or QApplication(sys.argv[:1])
    assert isinstance(app, QApplication)
    app.setQuitOnLastWindowClosed(False)  # the desk decides: drafts are saved first
    app.setWindowIcon(theme.app_icon())
    # Linux desktops find the app's launcher (and its taskbar badge) by this name.
    app.setDesktopFileName("switchboard")
    log_path = crash.install_logging()
    # Qt objects must die on the UI thread: the cycle collector runs there, on a timer.
    collector = crash.install_ui_thread_gc(app)
    settings = QSettings()
    theme.apply_theme(app, str(settings.value("appearance", "system")))

    import qasync

    loop = qasync.QEventLoop(app)
    asyncio.set_event_loop(loop)
    workstation = Workstation(app, settings)
    workstation.reporter = crash.install_excepthook(log_path, loop=loop)
    workstation.reporter.quitRequested.connect(workstation.quit)
    with loop:
        done = loop.run_until_complete(
            workstation.run(server=server, email=email, password=password)
        )
    collector.uninstall()
    return int(done)
