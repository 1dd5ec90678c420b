"""Whole desks against a real server: two agents at once, offline work across a restart, and
a workstation killed while its agent types.

Each desk is the real main window over its own cache file, driven with key presses and
combo-box choices as an agent would; nothing is refreshed by hand.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import subprocess
import sys
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from PySide6.QtCore import QSettings, QSize, Qt
from PySide6.QtTest import QTest
from PySide6.QtWidgets import QApplication
from sqlalchemy import Engine, func, select
from websockets.asyncio.client import connect
from websockets.exceptions import InvalidStatus

from app.models.tables import T_MESSAGES
from app.server.app import SwitchboardServer
from app.sync.desk import DeskReaders
from app.sync.engine import SyncEngine
from app.sync.protocol import SYNC_PATH
from app.ui.bridge import Bridge
from app.ui.conversation.view import ConversationView
from app.ui.desk.ticket_list import COLUMN_WIDTHS, COLUMNS, HEADERS
from app.ui.desk.widths import SUBJECT_MIN, first_size, fitted_widths
from app.ui.desk.window import DeskWindow
from tests.ui_world import signed_in_bridge, signed_in_bridges, until
from tests.world import PASSWORD, make_store, running_server

pytestmark = pytest.mark.slow
CARE_QUEUE = "group:g-care"


def settings_for(tmp: Path, name: str) -> QSettings:
    return QSettings(str(tmp / f"{name}.ini"), QSettings.Format.IniFormat)


async def open_desk(bridge: Bridge, settings: QSettings, qtbot: Any) -> DeskWindow:
    window = DeskWindow(bridge, settings, "account")
    qtbot.addWidget(window)
    await window.load()
    window.show()
    return window


async def open_conversation(window: DeskWindow, ticket_id: str) -> ConversationView:
    window.open_ticket(ticket_id)
    view = window.tabs.view(ticket_id)
    assert view is not None
    await until(lambda: view.thread_view.thread_model.rowCount() > 0)
    return view


async def press_send(window: DeskWindow, view: ConversationView) -> None:
    """Ctrl+Enter in the composer, as the agent presses it (shortcuts need an active window)."""
    window.activateWindow()
    await until(window.isActiveWindow)
    view.composer.editor.setFocus()
    QTest.keyClick(view.composer.editor, Qt.Key.Key_Return, Qt.KeyboardModifier.ControlModifier)


def bodies(view: ConversationView) -> list[str]:
    model = view.thread_view.thread_model
    return [model.message(r).body for r in range(model.rowCount())]


async def desk_on_screen(
    bridge: Bridge, settings: QSettings, qtbot: Any, width: int, height: int
) -> DeskWindow:
    """The desk as it opens on a screen of ``width`` x ``height``: a window manager keeps a
    window within the screen (the tests' offscreen screen is smaller, so the size is given)."""
    window = DeskWindow(bridge, settings, "account")
    qtbot.addWidget(window)
    await window.load()
    window.show()  # fitted to the tests' screen, then given the size of the one pretended
    window.resize(width, height)
    await until(lambda: window.ticket_model.rowCount() > 0)
    return window


def unreadable(desk: DeskWindow) -> str:
    """What keeps the ticket list's subjects from being read ("" if nothing does): a subject
    column below its least width, or columns running out of the list's view."""
    table = desk.ticket_table
    header = table.horizontalHeader()
    widths = {HEADERS[c]: header.sectionSize(i) for i, c in enumerate(COLUMNS)}
    if widths["Subject"] < SUBJECT_MIN:
        return f"the subject is {widths['Subject']} px: {widths}, panels {desk.main.sizes()}"
    if sum(widths.values()) > table.viewport().width():
        return f"columns {widths} overflow the list's {table.viewport().width()} px"
    return ""


async def assert_readable(desk: DeskWindow) -> None:
    with contextlib.suppress(AssertionError):  # the layout settles within a few events
        await until(lambda: not unreadable(desk), timeout=3)
    assert unreadable(desk) == ""


def test_the_subject_stays_readable_on_a_1280x720_screen(
    tmp_path: Path, aloop: asyncio.AbstractEventLoop, qtbot: Any
) -> None:
    """On a 1280x720 laptop the side panels and the other columns give up width before the
    subject does: on a first start and with a layout saved at 1440x900."""
    store = make_store(f"sqlite:///{tmp_path / 'server.db'}")

    async def body() -> None:
        async with (
            running_server(store) as server,
            signed_in_bridges(tmp_path, server.url, "ada@example.com") as (ada,),
        ):
            first = await desk_on_screen(ada, settings_for(tmp_path, "new"), qtbot, 1280, 720)
            await assert_readable(first)
            first.hide()

            # At 1440x900 no column gives up width.
            wide_settings = settings_for(tmp_path, "wide")
            wide = await desk_on_screen(ada, wide_settings, qtbot, 1440, 900)
            await assert_readable(wide)
            table = wide.ticket_table
            for column, (wanted, _least) in COLUMN_WIDTHS.items():
                # (Never narrower than its header's title: see test_ui_fit.)
                want = max(wanted, table.header_width(column))
                assert table.columnWidth(COLUMNS.index(column)) == want, column
            wide.save_state()
            wide.hide()

            # That layout restored on the 1280x720 screen.
            again = await desk_on_screen(ada, wide_settings, qtbot, 1280, 720)
            await assert_readable(again)

    aloop.run_until_complete(body())


def test_a_new_window_fits_the_screen_and_narrow_columns_share_the_shortfall() -> None:
    assert first_size(QSize(1280, 720)) == QSize(1280, 720)
    assert first_size(QSize(1920, 1080)) == QSize(1440, 900)
    assert first_size(QSize(1366, 1024)) == QSize(1366, 900)
    wanted, least = {"customer": 150, "status": 76}, {"customer": 104, "status": 76}
    assert fitted_widths(wanted, least, 300) == wanted  # room enough
    assert fitted_widths(wanted, least, 203) == {"customer": 127, "status": 76}
    assert fitted_widths(wanted, least, 100) == least  # never below the least


def test_two_agents_see_each_other_live_and_a_stale_change_goes_to_review(
    tmp_path: Path, aloop: asyncio.AbstractEventLoop, qtbot: Any
) -> None:
    store = make_store(f"sqlite:///{tmp_path / 'server.db'}")

    async def body() -> None:
        async with (
            running_server(store) as server,
            signed_in_bridges(tmp_path, server.url, "ada@example.com", "lin@example.com") as (
                ada,
                lin,
            ),
        ):
            desk_a = await open_desk(ada, settings_for(tmp_path, "ada"), qtbot)
            desk_b = await open_desk(lin, settings_for(tmp_path, "lin"), qtbot)
            assert desk_b.views.select(CARE_QUEUE)
            await until(lambda: desk_b.ticket_model.row_of("t-1") is not None)
            on_a = await open_conversation(desk_a, "t-1")
            on_b = await open_conversation(desk_b, "t-1")
            # Lin sees Ada open the ticket, then type.
            await until(lambda: "Ada" in on_b.banner.text())
            QTest.keyClicks(on_a.composer.editor, "We have shipped a replacement.")
            await until(lambda: on_b.banner.typing)
            assert "typing" in on_b.banner.text().lower()
            # Ada sends with Ctrl+Enter: Lin's open tab shows the reply without a refresh,
            # and Lin's list moves the ticket to the top (last updated first).
            await press_send(desk_a, on_a)
            await until(lambda: "We have shipped a replacement." in bodies(on_b))
            await until(lambda: desk_b.ticket_model.ticket_id(0) == "t-1")
            assert on_a.composer.text() == ""

            # Lin's view goes stale: offline, Lin changes the status while Ada (online)
            # changes it first.  The server refuses Lin's change; Lin's tab shows it for
            # review instead of overwriting Ada's.
            await lin.engine.stop()
            status_a = on_a.properties.status
            status_a.setCurrentIndex(status_a.findData("pending"))
            status_a.activated.emit(status_a.currentIndex())
            await ada.engine.wait_drained(10)
            status_b = on_b.properties.status
            status_b.setCurrentIndex(status_b.findData("solved"))
            status_b.activated.emit(status_b.currentIndex())
            await until(
                lambda: (
                    desk_b.ticket_model.ticket(desk_b.ticket_model.row_of("t-1") or 0) is not None
                )
            )
            lin.engine.start()
            await until(lambda: bool(on_b.review.cards), timeout=15)
            card = next(iter(on_b.review.cards.values()))
            assert card.refusal.code == "conflict"
            assert set(card.buttons) >= {"resend", "edit", "discard"}
            # What the agent sees now is the server's status (Ada's), not their own.
            await until(lambda: on_b.properties.status.currentData() == "pending")

    aloop.run_until_complete(body())


def test_offline_reply_and_status_survive_a_restart_and_are_sent_once(
    tmp_path: Path, aloop: asyncio.AbstractEventLoop, qtbot: Any
) -> None:
    store = make_store(f"sqlite:///{tmp_path / 'server.db'}")
    text = "Offline answer: your repair is ready for pick-up."

    async def body() -> None:
        async with running_server(store) as first:
            url = first.url
            port = int(url.rsplit(":", 1)[1])
            ada = await signed_in_bridge(tmp_path, url, "ada@example.com")
            desk = await open_desk(ada, settings_for(tmp_path, "ada"), qtbot)
            view = await open_conversation(desk, "t-1")
        # The server is gone.  Ada writes a reply and changes the status anyway.
        await until(lambda: not ada.online)
        QTest.keyClicks(view.composer.editor, text)
        await press_send(desk, view)
        await until(lambda: text in bodies(view))
        status = view.properties.status
        status.setCurrentIndex(status.findData("pending"))
        status.activated.emit(status.currentIndex())
        QTest.keyClicks(view.composer.editor, "A second thought, not sent yet")
        await until(
            lambda: "2 changes" in desk.status.text() or "changes waiting" in desk.status.text()
        )
        # Closing the desk saves the half-written second reply as a draft.
        desk.close()
        await until(lambda: not desk.isVisible())
        token = ada.engine.token
        await ada.shutdown()

        # A new workstation process on the same cache: the tab, the queued work and the
        # draft are all there before the server is back.
        again = await reopened_bridge(tmp_path, url, token)
        desk2 = await open_desk(again, settings_for(tmp_path, "ada"), qtbot)
        view2 = desk2.tabs.view("t-1")
        assert view2 is not None
        await until(lambda: text in bodies(view2))
        await until(lambda: view2.composer.text() == "A second thought, not sent yet")
        again.engine.start()
        async with server_on(store, port):
            await again.engine.wait_online(20)
            await again.engine.wait_drained(20)
            await until(lambda: view2.properties.status.currentData() == "pending")
        with store.connect() as conn:
            sent = conn.execute(
                select(func.count()).select_from(T_MESSAGES).where(T_MESSAGES.c.body == text)
            ).scalar()
        assert sent == 1  # exactly once, though the engine restarted with it queued
        draft = (await again.conversations.conversation("t-1")).draft  # type: ignore[union-attr]
        assert draft is not None
        assert draft.body == "A second thought, not sent yet"
        await again.shutdown()

    aloop.run_until_complete(body())


@contextlib.asynccontextmanager
async def server_on(store: Engine, port: int) -> AsyncIterator[SwitchboardServer]:
    """A server on a given port: the workstation reconnects to the address it knows."""
    server = SwitchboardServer(store)
    await server.start("127.0.0.1", port)
    try:
        yield server
    finally:
        await server.stop()


async def reopened_bridge(tmp: Path, url: str, token: str | None) -> Bridge:
    """Ada's cache (the file signed_in_bridge gave her) in a new engine, not yet syncing."""
    engine = SyncEngine(tmp / "ada.cache.db", url, token=token)
    await engine.open()
    assert engine.agent_id is not None
    readers = await DeskReaders.open(engine.cache_path, engine.agent_id)
    bridge = Bridge(engine, readers)
    await bridge.reload_directory()
    return bridge


# ---- crash safety ----------------------------------------------------------------------------

TYPIST = Path(__file__).with_name("ui_typist.py")


def test_killed_while_typing_the_draft_is_there_after_restart(
    tmp_path: Path, aloop: asyncio.AbstractEventLoop, qtbot: Any
) -> None:
    """SIGKILL in the middle of typing: at most the last 500 ms of keystrokes may be lost."""
    store = make_store(f"sqlite:///{tmp_path / 'server.db'}")

    async def body() -> None:
        async with running_server(store) as server:
            env = {**os.environ, "QT_QPA_PLATFORM": "offscreen", "PYTHONUNBUFFERED": "1"}
            typist = subprocess.Popen(  # noqa: ASYNC220 (one start, then read off-loop)
                [sys.executable, str(TYPIST), server.url, str(tmp_path), PASSWORD],
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
                env=env,
            )
            typed: list[tuple[float, int]] = []  # (monotonic time, characters typed by then)
            try:
                assert typist.stdout is not None
                loop = asyncio.get_running_loop()
                while True:
                    line = await loop.run_in_executor(None, typist.stdout.readline)
                    assert line, "the typist ended before typing"
                    if line.startswith("typed "):
                        typed.append((time.monotonic(), int(line.split()[1])))
                    if len(typed) >= 60:  # ~1.2 s of typing at 50 characters a second
                        break
                killed_at = time.monotonic()
                typist.send_signal(signal.SIGKILL)
                typist.wait(10)
            finally:
                if typist.poll() is None:
                    typist.kill()
                    typist.wait()
                for stream in (typist.stdout, typist.stderr):
                    if stream is not None:
                        stream.close()
            # Every keystroke typed 500 ms before the kill must be in the cache.
            promised = max((n for t, n in typed if t <= killed_at - 0.5), default=0)
            assert promised > 0
            readers = await DeskReaders.open(tmp_path / "typist.cache.db", "a-ada")
            try:
                conversation = await readers.conversations.conversation("t-1")
            finally:
                await readers.close()
            assert conversation is not None
            assert conversation.draft is not None
            from tests.ui_typist import TEXT

            saved = conversation.draft.body
            assert TEXT.startswith(saved)
            assert len(saved) >= promised, (len(saved), promised)

            # And the desk, opened again, shows it in the composer of the restored tab.
            ada = await signed_in_bridge(tmp_path, server.url, "ada@example.com", name="typist")
            try:
                desk = await open_desk(ada, settings_for(tmp_path, "typist"), qtbot)
                view = desk.tabs.view("t-1") or await open_conversation(desk, "t-1")
                await until(lambda: view.composer.text() == saved)
            finally:
                await ada.shutdown()

    aloop.run_until_complete(body())


# ---- signing out from the desk -----------------------------------------------------------------


def _isolated_home(tmp: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    for var, sub in (
        ("HOME", "home"),
        ("XDG_CONFIG_HOME", "home/config"),
        ("XDG_DATA_HOME", "home/data"),
        ("XDG_STATE_HOME", "home/state"),
        ("XDG_CACHE_HOME", "home/cache"),
    ):
        monkeypatch.setenv(var, str(tmp / sub))
    monkeypatch.setenv("SWITCHBOARD_LOG_DIR", str(tmp / "home" / "logs"))
    monkeypatch.delenv("SWITCHBOARD_TOKEN", raising=False)


async def ada_at_her_desk(tmp: Path, url: str) -> tuple[Any, Any, asyncio.Future[str], DeskWindow]:
    """Ada signed in through the real start-up path (``Workstation``), her desk online:
    (session, workstation, the desk's outcome to await, the window)."""
    from app.ui import session
    from app.ui.main import Workstation

    current = await session.sign_in(url, "ada@example.com", PASSWORD, keep=False)
    app = QApplication.instance()
    assert isinstance(app, QApplication)
    workstation = Workstation(app, settings_for(tmp, "ws"))
    desk = asyncio.ensure_future(workstation._desk(current))
    await until(lambda: workstation.window is not None and workstation.window.isVisible())
    window = workstation.window
    assert window is not None
    await window.bridge.engine.wait_online(20)
    return current, workstation, desk, window


def test_sign_out_from_the_desk_ends_the_session_and_deletes_the_copy(
    tmp_path: Path,
    aloop: asyncio.AbstractEventLoop,
    qtbot: Any,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """File ▸ Sign out, confirmed with "also delete this computer's copy": the desk closes,
    the session is over on the server, the token and the cache files are gone, and the
    workstation goes back to signing in — with nothing left hanging."""

    from app.ui.signin import SignOutDialog

    _isolated_home(tmp_path, monkeypatch)
    store = make_store(f"sqlite:///{tmp_path / 'server.db'}")

    async def body() -> None:
        async with running_server(store) as server:
            current, workstation, desk, window = await ada_at_her_desk(tmp_path, server.url)
            token = current.token
            window.signOutRequested.emit()

            def dialog() -> SignOutDialog | None:
                found = [w for w in QApplication.topLevelWidgets() if isinstance(w, SignOutDialog)]
                return found[0] if found and found[0].isVisible() else None

            await until(lambda: dialog() is not None)
            confirm = dialog()
            assert confirm is not None
            confirm.delete_check.setChecked(True)
            confirm.sign_out_button.click()
            assert await asyncio.wait_for(desk, 30) == "signed_out"
            assert workstation.window is None
            assert not current.cache_path.exists()
            assert current.token == ""
            # The session is over on the server: its token no longer opens a connection.
            with pytest.raises(InvalidStatus) as refused:
                async with connect(
                    server.url + SYNC_PATH,
                    additional_headers={"Authorization": f"Bearer {token}"},
                ):
                    pass
            assert refused.value.response.status_code == 401

    aloop.run_until_complete(body())


def test_a_refused_bulk_change_with_no_tab_open_is_counted_and_reviewable(
    tmp_path: Path, aloop: asyncio.AbstractEventLoop, qtbot: Any, qtmodeltester: Any
) -> None:
    """A stale status change made from the list (no tab of that ticket open) is refused: the
    status bar counts it, the review list shows it, and discarding it clears the count."""
    store = make_store(f"sqlite:///{tmp_path / 'server.db'}")

    async def body() -> None:
        async with (
            running_server(store) as server,
            signed_in_bridges(tmp_path, server.url, "ada@example.com", "lin@example.com") as (
                ada,
                lin,
            ),
        ):
            desk = await open_desk(ada, settings_for(tmp_path, "ada"), qtbot)
            assert desk.views.select(CARE_QUEUE)
            await until(lambda: desk.ticket_model.row_of("t-2") is not None)
            await ada.engine.stop()
            await lin.engine.update_ticket("t-2", {"status": "pending"})
            await lin.engine.wait_drained(10)
            desk.ticket_table.select_ids(["t-2"])
            desk.ticket_table.bulk_update({"status": "solved"})
            await until(lambda: "1 change" in desk.status.text())
            ada.engine.start()
            await until(lambda: desk.refusals.isVisible(), timeout=20)
            assert desk.refusals.text() == "1 refused"
            desk.review_refusals()
            dialog = desk._refusals_dialog
            assert dialog is not None
            await until(lambda: dialog.model.rowCount() == 1)
            qtmodeltester.check(dialog.model)
            assert dialog.model.index(0, 0).data().startswith("#2 ")
            assert "someone else changed this ticket first" in dialog.model.index(0, 2).data()
            dialog.discard_current()  # a status change holds no text: no question asked
            await until(lambda: not desk.refusals.isVisible())

    aloop.run_until_complete(body())


def test_an_ended_session_leads_back_to_sign_in_keeping_the_local_copy(
    tmp_path: Path,
    aloop: asyncio.AbstractEventLoop,
    qtbot: Any,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The server ends the session (an admin disabled the agent, a password changed): the
    status bar offers "Sign in"; choosing it closes the desk for the sign-in dialog and
    keeps this computer's copy, with any work not yet sent."""

    from app.sync.observer import ConnectionState

    _isolated_home(tmp_path, monkeypatch)
    store = make_store(f"sqlite:///{tmp_path / 'server.db'}")

    async def body() -> None:
        async with running_server(store) as server:
            current, _workstation, desk, window = await ada_at_her_desk(tmp_path, server.url)
            # An admin changes Ada's password: the server ends her sessions (close 4001).
            root = await signed_in_bridge(tmp_path, server.url, "root@example.com")
            await root.engine.mutate(
                "agent.update",
                {"agent_id": "a-ada", "changes": {"password": "a new password 42"}},
            )
            await root.engine.wait_drained(10)
            await root.shutdown()
            await until(lambda: window.bridge.status.state == ConnectionState.SIGNED_OUT)
            window.status.signInRequested.emit()  # the agent clicks "Sign in"
            assert await asyncio.wait_for(desk, 30) == "sign_in_again"
            assert current.cache_path.exists()

    aloop.run_until_complete(body())
