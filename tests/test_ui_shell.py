"""The workstation's shell: sign-in and sign-out, crash reporting, the status bar and the
tray — real widgets on a qasync loop against a real server on 127.0.0.1, port 0."""

from __future__ import annotations

import asyncio
import errno
import logging
import socket
import ssl
import sys
import threading
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from keyring.backends import fail
from PySide6.QtCore import QSettings, Qt
from PySide6.QtGui import QGuiApplication
from PySide6.QtWidgets import QApplication, QDialog, QWidget
from pytestqt.qtbot import QtBot

from app.server.app import SwitchboardServer
from app.sync import credentials
from app.sync.desk_types import MessageItem
from app.sync.engine import RequestFailed, SignedOut
from app.sync.notice import Touched
from app.sync.observer import ConnectionState, ConnectionStatus
from app.sync.profile import Profile, cache_path, normalize_server
from app.ui import crash, theme
from app.ui.session import (
    Session,
    SignInError,
    SignInProblem,
    UnsentChanges,
    explain_sign_in_failure,
    open_bridge,
    resume,
    sign_in,
    sign_out,
    unsent_changes,
)
from app.ui.signin import NO_KEYCHAIN_TEXT, SignInDialog, SignOutDialog
from app.ui.statusbar import DeskStatusBar, PresenceChoice, describe
from app.ui.tray import DeskTray, mention_pattern, notification_body
from tests.keychains import MemoryKeyring, keyring_backend
from tests.ui_world import (
    collect_garbage_on_the_ui_thread,  # noqa: F401 (autouse)
    signed_in_bridge,
    until,
)
from tests.world import PASSWORD, make_store, running_server

ADA = "ada@example.com"


@pytest.fixture(autouse=True)
def _logging_restored() -> Iterator[None]:
    """A test that installs the workstation's logging leaves the root logger as it was."""
    yield
    crash.uninstall_logging()


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Every directory the workstation writes to, under the test's tmp dir."""
    root = tmp_path / "home"
    monkeypatch.setenv("HOME", str(root))
    for var, sub in (
        ("XDG_CONFIG_HOME", "config"),
        ("XDG_DATA_HOME", "data"),
        ("XDG_CACHE_HOME", "cache"),
        ("XDG_STATE_HOME", "state"),
    ):
        monkeypatch.setenv(var, str(root / sub))
    monkeypatch.setenv("SWITCHBOARD_LOG_DIR", str(root / "logs"))
    monkeypatch.delenv("SWITCHBOARD_TOKEN", raising=False)
    return root


@pytest.fixture
def memory_keyring() -> Iterator[MemoryKeyring]:
    backend = MemoryKeyring()
    with keyring_backend(backend):
        yield backend


@pytest.fixture
def no_keychain() -> Iterator[None]:
    with keyring_backend(fail.Keyring()):  # type: ignore[no-untyped-call]
        yield


@pytest.fixture
def settings(tmp_path: Path) -> QSettings:
    return QSettings(str(tmp_path / "settings.ini"), QSettings.Format.IniFormat)


def files_containing(root: Path, secret: str) -> list[Path]:
    needle = secret.encode()
    return [f for f in root.rglob("*") if f.is_file() and needle in f.read_bytes()]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


async def submit(dialog: SignInDialog, server: str, email: str, password: str) -> None:
    dialog.server_edit.setText(server)
    dialog.email_edit.setText(email)
    dialog.password_edit.setText(password)
    dialog.sign_in_button.click()
    assert dialog.busy
    assert dialog.password_edit.isReadOnly()
    assert dialog.sign_in_button.text() == "Signing in…"
    await until(lambda: not dialog.busy, 20)


# ---- sign-in ---------------------------------------------------------------------------------


def test_sign_in_with_a_keychain_keeps_the_token_there(
    aloop: asyncio.AbstractEventLoop,
    qtbot: QtBot,
    tmp_path: Path,
    home: Path,
    memory_keyring: MemoryKeyring,
) -> None:
    async def body() -> None:
        store = make_store(f"sqlite:///{tmp_path / 'server.db'}")
        async with running_server(store) as server:
            dialog = SignInDialog()
            qtbot.addWidget(dialog)
            assert dialog.keychain_note.isHidden()
            assert dialog.keep_check.isChecked()
            assert dialog.keep_check.isEnabled()
            signed: list[Session] = []
            dialog.signedIn.connect(signed.append)
            await submit(dialog, server.url, ADA, PASSWORD)
            assert dialog.error_text() == ""
            assert dialog.result() == QDialog.DialogCode.Accepted.value
            session = dialog.session
            assert session is not None
            assert signed == [session]
            assert session.agent_id == "a-ada"
            assert session.remembered
            assert dialog.password_edit.text() == ""  # not kept in the widget
            assert list(memory_keyring.entries.values()) == [session.token]
            assert session.token not in repr(session)
            assert files_containing(home, session.token) == []
            assert files_containing(home, ADA)  # the profile is there: the search works
            # Next start: straight to the desk from the keychain and the cache.
            resumed = await resume()
            assert resumed is not None
            assert (resumed.token, resumed.email, resumed.cache_path) == (
                session.token,
                ADA,
                cache_path(server.url, ADA),
            )
        store.dispose()

    aloop.run_until_complete(body())


def test_sign_in_failures_are_explained(
    aloop: asyncio.AbstractEventLoop,
    qtbot: QtBot,
    tmp_path: Path,
    home: Path,
    memory_keyring: MemoryKeyring,
) -> None:
    async def body() -> None:
        store = make_store(f"sqlite:///{tmp_path / 'server.db'}")
        async with running_server(store) as server:
            dialog = SignInDialog()
            qtbot.addWidget(dialog)
            await submit(dialog, server.url, ADA, "not the password")
            assert dialog.session is None
            assert "email or password is not right" in dialog.error_text()
            # What a server says is shown as words, never as markup.
            assert dialog.error_label.textFormat() == Qt.TextFormat.PlainText
            assert dialog.password_edit.selectedText() == "not the password"
            assert memory_keyring.entries == {}
            # A failed first sign-in leaves no empty cache behind.
            assert not cache_path(server.url, ADA).exists()

            await submit(dialog, f"127.0.0.1:{free_port()}", ADA, PASSWORD)
            assert dialog.session is None
            text = dialog.error_text()
            assert "Cannot reach ws://127.0.0.1:" in text
            assert "Check the server address" in text
            assert "network" in text
            assert dialog.server_edit.isEnabled()
            assert dialog.sign_in_button.isEnabled()
        store.dispose()

    aloop.run_until_complete(body())


def test_without_a_keychain_the_dialog_says_so_and_no_file_holds_the_token(
    aloop: asyncio.AbstractEventLoop,
    qtbot: QtBot,
    tmp_path: Path,
    home: Path,
    no_keychain: None,
) -> None:
    assert not credentials.keychain_available()

    async def body() -> None:
        store = make_store(f"sqlite:///{tmp_path / 'server.db'}")
        async with running_server(store) as server:
            dialog = SignInDialog(Profile(server.url, ADA))
            qtbot.addWidget(dialog)
            # Said before signing in, not after.
            assert not dialog.keychain_note.isHidden()
            assert dialog.keychain_note.text() == NO_KEYCHAIN_TEXT
            assert not dialog.keep_check.isChecked()
            assert not dialog.keep_check.isEnabled()
            await submit(dialog, server.url, ADA, PASSWORD)
            session = dialog.session
            assert session is not None
            assert not session.remembered
            assert len(session.token) >= 32
            # The token works from memory: the desk opens and syncs.
            crash.install_logging()
            bridge = await open_bridge(session)
            await bridge.engine.wait_online(20)
            await bridge.shutdown()
            assert await resume() is None  # nothing to resume from next time
        store.dispose()
        assert (home / "data").is_dir()
        assert (home / "logs").is_dir()
        assert files_containing(home, session.token) == []
        assert files_containing(tmp_path, PASSWORD) == []

    aloop.run_until_complete(body())


# ---- sign-out --------------------------------------------------------------------------------


def cache_files(path: Path) -> list[Path]:
    return [p for p in path.parent.glob(path.name + "*") if p.is_file()]


def test_sign_out_forgets_the_token_and_never_deletes_unsent_work_silently(
    aloop: asyncio.AbstractEventLoop,
    tmp_path: Path,
    home: Path,
    memory_keyring: MemoryKeyring,
) -> None:
    async def body() -> None:
        store = make_store(f"sqlite:///{tmp_path / 'server.db'}")
        server = SwitchboardServer(store)
        await server.start("127.0.0.1", 0)
        # Online, nothing waiting: sign out and delete this computer's copy.
        session = await sign_in(server.url, ADA, PASSWORD, keep=True)
        bridge = await open_bridge(session)
        await bridge.engine.wait_online(20)
        assert cache_files(session.cache_path)
        result = await sign_out(bridge, delete_cache=True, session=session)
        assert result.ended_on_server
        assert result.cache_deleted
        assert memory_keyring.entries == {}
        assert cache_files(session.cache_path) == []

        # Offline with a reply waiting: deleting the copy is refused, nothing is touched.
        session = await sign_in(server.url, ADA, PASSWORD, keep=True)
        bridge = await open_bridge(session)
        await bridge.engine.wait_online(20)
        await server.stop()
        await until(lambda: not bridge.online)
        await bridge.engine.reply("t-1", "written on the train")
        assert await unsent_changes(bridge.engine) == 1
        with pytest.raises(UnsentChanges) as refused:
            await sign_out(bridge, delete_cache=True, session=session)
        assert refused.value.count == 1
        assert "1 change on this computer has not reached the server" in str(refused.value)
        assert list(memory_keyring.entries.values()) == [session.token]
        assert bridge.engine.cache_path.exists()
        # Signing out without deleting keeps the unsent reply for the next sign-in.
        result = await sign_out(bridge, delete_cache=False, session=session)
        assert not result.ended_on_server  # unreachable: the session expires on its own
        assert memory_keyring.entries == {}
        assert cache_files(session.cache_path)
        store.dispose()

    aloop.run_until_complete(body())


def test_sign_out_dialog_needs_a_counted_confirmation_to_lose_unsent_changes(
    qtbot: QtBot,
) -> None:
    dialog = SignOutDialog(ADA, unsent=2)
    qtbot.addWidget(dialog)
    assert "2 changes have not reached the server" in dialog.unsent_label.text()
    assert dialog.sign_out_button.isEnabled()
    assert not dialog.delete_cache
    dialog.delete_check.setChecked(True)
    assert not dialog.discard_check.isHidden()
    assert "delete my 2 unsent changes" in dialog.discard_check.text()
    assert not dialog.sign_out_button.isEnabled()
    dialog.discard_check.setChecked(True)
    assert dialog.sign_out_button.isEnabled()
    assert dialog.delete_cache
    assert dialog.discard_unsent

    calm = SignOutDialog(ADA, unsent=0)
    qtbot.addWidget(calm)
    assert calm.unsent_label.isHidden()
    calm.delete_check.setChecked(True)
    assert calm.sign_out_button.isEnabled()
    assert calm.discard_check.isHidden()


# ---- errors and crashes ----------------------------------------------------------------------


def test_explain_known_errors_in_plain_words_and_bugs_not_at_all() -> None:
    full = crash.explain(OSError(errno.ENOSPC, "No space left on device"))
    assert full is not None
    assert "disk is full" in full
    assert "Free some space" in full
    assert "Your work is safe in" in full
    wrapped = RuntimeError("commit failed")  # how SQLAlchemy wraps sqlite3's error
    wrapped.__cause__ = OSError("(sqlite3.OperationalError) database or disk is full")
    assert "disk is full" in (crash.explain(wrapped) or "")
    refused = crash.explain(ConnectionRefusedError(errno.ECONNREFUSED, "Connection refused"))
    assert refused is not None
    assert "server cannot be reached" in refused
    assert "network" in refused
    assert "Sign in again" in (crash.explain(SignedOut("session expired")) or "")
    assert "busy in another program" in (crash.explain(Exception("database is locked")) or "")
    assert "permission" in (crash.explain(PermissionError(errno.EACCES, "no", "/x")) or "")
    assert crash.explain(ZeroDivisionError("division by zero")) is None
    assert crash.explain(KeyError("ticket_id")) is None


def _a_bug() -> None:
    raise ZeroDivisionError("the rota divides by zero agents")


def test_crash_dialog_shows_the_traceback_copies_it_and_never_stacks(
    aloop: asyncio.AbstractEventLoop, qtbot: QtBot, home: Path
) -> None:
    log_path = crash.install_logging()
    assert log_path.parent == home / "logs"

    async def body() -> None:
        reporter = crash.install_excepthook(log_path, loop=asyncio.get_running_loop())
        try:
            try:
                _a_bug()
            except ZeroDivisionError as exc:
                reporter.report(exc)
            dialog = reporter.dialog
            assert dialog is not None
            assert dialog.isVisible()
            details = dialog.details_text()
            assert "ZeroDivisionError: the rota divides by zero agents" in details
            assert "_a_bug" in details
            assert str(log_path) in dialog.log_label.text()
            dialog.copy_button.click()
            assert QGuiApplication.clipboard().text() == details

            # The same error again, from a worker thread and from the loop: one dialog.
            worker = threading.Thread(target=_a_bug)
            worker.start()
            worker.join()
            await until(lambda: dialog.occurrences == 2)
            asyncio.get_running_loop().call_soon(_a_bug)
            await until(lambda: dialog.occurrences == 3)
            assert reporter.dialog is dialog
            assert "happened 3 times" in dialog.count_label.text()
            quits: list[bool] = []
            reporter.quitRequested.connect(lambda: quits.append(True))
            dialog.quit_button.click()
            assert quits == [True]
            await until(lambda: reporter.dialog is None)
            # Known errors get words, not a traceback.
            reporter.report(OSError(errno.ENOSPC, "No space left on device"))
            assert reporter.dialog is None
            assert reporter.notice is not None
            assert "disk is full" in reporter.notice.text()
            # Error text may quote data (a path, a server's words): never read as markup.
            assert reporter.notice.textFormat() == Qt.TextFormat.PlainText
            reporter.notice.close()
        finally:
            reporter.uninstall()
        for handler in logging.getLogger().handlers:
            handler.flush()
        assert "the rota divides by zero agents" in log_path.read_text("utf-8")

    aloop.run_until_complete(body())


# ---- status bar ------------------------------------------------------------------------------


def test_status_bar_follows_the_connection_and_counts_waiting_changes(
    aloop: asyncio.AbstractEventLoop,
    qtbot: QtBot,
    tmp_path: Path,
    settings: QSettings,
) -> None:
    async def body() -> None:
        store = make_store(f"sqlite:///{tmp_path / 'server.db'}")
        server = SwitchboardServer(store)
        await server.start("127.0.0.1", 0)
        port = server.port
        bridge = await signed_in_bridge(tmp_path, server.url, ADA)
        bar = DeskStatusBar(bridge, PresenceChoice(bridge, settings))
        qtbot.addWidget(bar)
        assert bar.text() == "Online"
        assert bar.retry_button.isHidden()
        assert bar.sign_in_button.isHidden()
        assert bar.presence_combo.currentText() == "Available"

        await server.stop()
        await until(lambda: bar.text().startswith("Reconnecting in "))
        assert bar.text().endswith(" s")
        assert not bar.retry_button.isHidden()
        await bridge.engine.reply("t-1", "queued while the server is down")
        await until(lambda: "Offline — 1 change waiting to send" in bar.text())

        server = SwitchboardServer(store)
        await server.start("127.0.0.1", port)
        bar.retry_button.click()  # no need to wait out the backoff
        await until(lambda: bar.text() == "Online", 20)
        assert bar.retry_button.isHidden()
        await bridge.shutdown()
        await server.stop()
        store.dispose()

    aloop.run_until_complete(body())


def test_presence_is_remembered_and_sent_again_after_a_reconnect(
    aloop: asyncio.AbstractEventLoop,
    qtbot: QtBot,
    tmp_path: Path,
    settings: QSettings,
) -> None:
    async def body() -> None:
        store = make_store(f"sqlite:///{tmp_path / 'server.db'}")
        server = SwitchboardServer(store)
        await server.start("127.0.0.1", 0)
        port = server.port
        ada = await signed_in_bridge(tmp_path, server.url, ADA)
        lin = await signed_in_bridge(tmp_path, server.url, "lin@example.com")
        bar = DeskStatusBar(ada, PresenceChoice(ada, settings))
        qtbot.addWidget(bar)
        bar.presence.set("busy")
        await until(lambda: lin.presence.get("a-ada") == "busy")
        assert settings.value("presence/a-ada") == "busy"
        assert PresenceChoice(ada, settings).status == "busy"  # the next start

        await server.stop()
        await until(lambda: not ada.online and not lin.online)
        lin.presence.clear()
        server = SwitchboardServer(store)
        await server.start("127.0.0.1", port)
        ada.engine.retry_now()
        lin.engine.retry_now()
        await until(lambda: lin.presence.get("a-ada") == "busy", 20)
        for bridge in (ada, lin):
            await bridge.shutdown()
        await server.stop()
        store.dispose()

    aloop.run_until_complete(body())


# ---- tray ------------------------------------------------------------------------------------


def test_notification_bodies_show_customer_markup_literally() -> None:
    hostile = '#12 <b>x</b><img src="http://evil.test/x.png"> & more'
    # Freedesktop notification servers (Linux, BSD) read the body as markup: escaped.
    body = notification_body(hostile, "linux")
    assert body == '#12 &lt;b&gt;x&lt;/b&gt;&lt;img src="http://evil.test/x.png"&gt; &amp; more'
    assert notification_body(hostile, "freebsd14") == body
    # Windows and macOS show the text as it is.
    assert notification_body(hostile, "win32") == hostile
    assert notification_body(hostile, "darwin") == hostile


def test_mention_pattern_matches_first_name_or_email_local_part() -> None:
    pattern = mention_pattern("Ada Lovelace", "ada.l@example.com")
    assert pattern is not None
    for text in ("@Ada can you look?", "thanks @ADA.", "cc @ada.l", "(@ada)"):
        assert pattern.search(text), text
    for text in ("@adam knows", "mail ada@example.com", "@adalovelace", "Ada"):
        assert not pattern.search(text), text


def test_tray_notifies_of_assignment_and_mentions_by_others_and_opens_the_ticket(
    aloop: asyncio.AbstractEventLoop,
    qtbot: QtBot,
    tmp_path: Path,
    settings: QSettings,
) -> None:
    async def body() -> None:
        store = make_store(f"sqlite:///{tmp_path / 'server.db'}")
        async with running_server(store) as server:
            ada = await signed_in_bridge(tmp_path, server.url, ADA)
            lin = await signed_in_bridge(tmp_path, server.url, "lin@example.com")
            window = QWidget()
            qtbot.addWidget(window)
            tray = DeskTray(ada, window, PresenceChoice(ada, settings))
            notified: list[tuple[str, str, str]] = []
            unread: list[int] = []
            opened: list[str] = []
            tray.notified.connect(lambda *n: notified.append(n))
            tray.unreadChanged.connect(unread.append)
            tray.openTicket.connect(opened.append)

            # The agent's own changes are no news.
            await ada.engine.update_ticket("t-1", {"assignee_id": None})
            await ada.engine.wait_drained(10)
            await ada.engine.update_ticket("t-1", {"assignee_id": "a-ada"})
            await ada.engine.reply("t-1", "@ada note to self", kind="note")
            await ada.engine.wait_drained(10)

            # A colleague assigns a ticket to Ada: one notification, one unread ticket.
            await lin.engine.update_ticket("t-2", {"assignee_id": "a-ada"})
            await until(lambda: len(notified) >= 1)
            assert notified[0][0] == "Ticket assigned to you"
            assert "#2 Ticket 2" in notified[0][1]
            assert notified[0][2] == "t-2"
            assert unread[-1] == 1
            assert tray.unread == {"t-2"}

            # A colleague mentions Ada in a note on her ticket.
            await lin.engine.reply("t-1", "@Ada the customer called again", kind="note")
            await until(lambda: len(notified) >= 2)
            assert notified[1][0] == "Lin mentioned you"
            assert notified[1][1] == "#1 Ticket 1: @Ada the customer called again"
            assert notified[1][2] == "t-1"
            assert unread[-1] == 2

            # Clicking the (last) notification opens its ticket and marks it read.
            tray.notification_clicked()
            assert opened == ["t-1"]
            assert tray.unread == {"t-2"}
            assert unread[-1] == 1
            tray.mark_read("t-2")
            assert unread[-1] == 0
            await ada.engine.wait_drained(10)
            assert len(notified) == 2  # nothing about Ada's own assignment or note
            for bridge in (ada, lin):
                await bridge.shutdown()
        store.dispose()

    aloop.run_until_complete(body())


# ---- smaller pieces --------------------------------------------------------------------------


def test_sign_in_refusals_and_tls_failures_are_explained() -> None:
    limited = explain_sign_in_failure(
        RequestFailed("rate_limited", "too many failed sign-ins; try again in 412 s"), "ws://x"
    )
    assert limited is not None
    assert limited.problem == SignInProblem.RATE_LIMITED
    assert limited.retry_after == 412
    assert "Wait 412 s" in str(limited)
    disabled = explain_sign_in_failure(RequestFailed("agent_disabled", "disabled"), "ws://x")
    assert disabled is not None
    assert "switched off" in str(disabled)
    tls = explain_sign_in_failure(
        ssl.SSLCertVerificationError(1, "certificate verify failed"), "wss://desk.example.com"
    )
    assert tls is not None
    assert tls.problem == SignInProblem.TLS
    assert "security certificate of wss://desk.example.com" in str(tls)
    assert explain_sign_in_failure(ZeroDivisionError(), "ws://x") is None
    assert normalize_server(" https://desk.example.com/ ") == "wss://desk.example.com"
    assert normalize_server("desk.example.com:8765") == "ws://desk.example.com:8765"


def test_rate_limited_sign_in_counts_down_before_it_may_try_again(
    aloop: asyncio.AbstractEventLoop, qtbot: QtBot, home: Path, no_keychain: None
) -> None:
    dialog = SignInDialog()
    qtbot.addWidget(dialog)
    dialog._refused(SignInError(SignInProblem.RATE_LIMITED, "Too many attempts", retry_after=2))
    assert dialog.error_text() == "Too many attempts"
    assert not dialog.sign_in_button.isEnabled()
    assert dialog.sign_in_button.text() == "Try again in 2 s"

    async def body() -> None:
        await until(lambda: dialog.sign_in_button.isEnabled(), 5)

    aloop.run_until_complete(body())
    assert dialog.sign_in_button.text() == "Sign in"


def test_theme_follows_the_chosen_mode_and_loads_every_icon(qapp: QApplication) -> None:
    before = (qapp.palette(), qapp.styleSheet(), qapp.style().objectName())
    try:
        theme.apply_theme(qapp, "dark")
        assert theme.is_dark()
        dark = theme.colors()
        assert dark.dark
        theme.apply_theme(qapp, "light")
        assert not theme.is_dark()
        light = theme.colors()
        assert light.note_background != dark.note_background
        assert "QStatusBar" in qapp.styleSheet()
        with pytest.raises(ValueError, match="theme mode"):
            theme.apply_theme(qapp, "sepia")
        for channel in ("email", "phone", "chat", "social", "web", "walk_in"):
            icon = theme.channel_icon(channel)
            assert not icon.isNull(), channel
            assert not icon.pixmap(24, 24).isNull()
        for name in ("presence-available", "presence-busy", "presence-away", "tray"):
            assert not theme.icon(name).isNull(), name
        assert not theme.app_icon().isNull()
        assert theme.icon("no-such-icon").isNull()
    finally:
        qapp.setPalette(before[0])
        qapp.setStyleSheet(before[1])
        qapp.setStyle(before[2] or "Fusion")


def test_resources_are_found_inside_a_pyinstaller_bundle(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(sys, "_MEIPASS", str(tmp_path), raising=False)
    assert theme.icon_path("tray") == tmp_path / "resources" / "icons" / "tray.svg"


def test_tray_tells_of_a_customer_reply_on_a_ticket_the_agent_owns(
    aloop: asyncio.AbstractEventLoop, qtbot: QtBot, tmp_path: Path, settings: QSettings
) -> None:
    async def body() -> None:
        store = make_store(f"sqlite:///{tmp_path / 'server.db'}")
        async with running_server(store) as server:
            ada = await signed_in_bridge(tmp_path, server.url, ADA)
            window = QWidget()
            qtbot.addWidget(window)
            tray = DeskTray(ada, window, PresenceChoice(ada, settings))
            notified: list[tuple[str, str, str]] = []
            tray.notified.connect(lambda *n: notified.append(n))
            await until(lambda: "t-1" in tray._mine)  # Ada's ticket, known at start
            rows = await ada.tickets.ticket_rows(["t-1", "t-2"])
            reply = MessageItem(
                id="m-new",
                kind="reply",
                author_type="customer",
                author_name="Customer 2",
                body="It still jams\nafter the update",
                created_at=datetime.now(UTC),
                delivery_state="delivered",
            )
            tray._message_arrived("t-1", reply, rows["t-1"])
            assert notified == [
                ("Customer 2 wrote", "#1 Ticket 1: It still jams after the update", "t-1")
            ]
            tray._message_arrived("t-2", reply, rows["t-2"])  # not hers: no news for her
            assert len(notified) == 1
            await ada.shutdown()
        store.dispose()

    aloop.run_until_complete(body())


def test_tray_reads_no_messages_during_a_catch_up_and_remembers_a_bounded_number(
    aloop: asyncio.AbstractEventLoop,
    qtbot: QtBot,
    tmp_path: Path,
    settings: QSettings,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from app.ui import tray as tray_module

    async def body() -> None:
        store = make_store(f"sqlite:///{tmp_path / 'server.db'}")
        async with running_server(store) as server:
            ada = await signed_in_bridge(tmp_path, server.url, ADA)
            window = QWidget()
            qtbot.addWidget(window)
            tray = DeskTray(ada, window, PresenceChoice(ada, settings))
            await until(lambda: "t-1" in tray._mine)
            asked: list[list[str]] = []
            real = ada.conversations.messages

            async def messages(ids: Any) -> Any:
                asked.append(list(ids))
                return await real(ids)

            monkeypatch.setattr(ada.conversations, "messages", messages)
            monkeypatch.setattr(tray_module, "SEEN_MESSAGES_MAX", 3, raising=False)
            monkeypatch.setattr(tray_module, "MESSAGE_READ_BATCH", 2, raising=False)

            # Not live (a bootstrap or catch-up): no message is read, none is remembered.
            await ada.engine.stop()
            assert not ada.online
            ada.entitiesChanged.emit(
                Touched.of(
                    ("message", "m-1", "t-1"),
                    ("message", "m-2", "t-2"),
                    ("ticket", "t-1", "t-1"),
                    ("ticket", "t-2", "t-2"),
                ).notice()
            )
            await asyncio.sleep(0.2)
            async with tray._lock:  # the change set has been examined
                pass
            assert asked == []
            assert len(tray._seen_messages) == 0

            # Live: read in small batches; the memory of examined messages stays bounded.
            ada.engine.start()
            await until(lambda: ada.online, timeout=20)
            ids = {f"m-{i}" for i in range(1, 6)}
            ada.entitiesChanged.emit(Touched.of(("message", ids, "t-1")).notice())
            await until(lambda: sum(map(len, asked)) == 5)
            async with tray._lock:
                pass
            assert all(len(batch) <= 2 for batch in asked)
            assert len(tray._seen_messages) <= 3
            await ada.shutdown()
        store.dispose()

    aloop.run_until_complete(body())


def test_status_words_for_every_connection_state() -> None:
    def words(state: ConnectionState, outbox: int = 0, left: int | None = None) -> str:
        return describe(ConnectionStatus(state, outbox=outbox), left)

    assert words(ConnectionState.ONLINE) == "Online"
    assert words(ConnectionState.ONLINE, 3) == "Online — sending 3 changes…"
    assert words(ConnectionState.SYNCING) == "Syncing…"
    assert words(ConnectionState.RECONNECTING, 0, 7) == "Reconnecting in 7 s"
    assert words(ConnectionState.RECONNECTING, 0, 0) == "Reconnecting now"
    assert (
        words(ConnectionState.RECONNECTING, 2, 4)
        == "Offline — 2 changes waiting to send · reconnecting in 4 s"
    )
    assert words(ConnectionState.OFFLINE, 1) == "Offline — 1 change waiting to send"
    assert words(ConnectionState.SIGNED_OUT) == "Signed out — sign in again"
    assert words(ConnectionState.INCOMPATIBLE) == "This server needs a newer Switchboard"
