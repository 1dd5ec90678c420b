"""Time tracking at the desk, with real windows over real caches and a real server: the
stopwatch in a conversation (keys and buttons, its mark on the tab, one running at a time),
its time surviving a closed tab and a new desk, "Log time…" with good and bad durations, the
ticket's totals and the agent's own across two workstations, and edits and deletions of a
colleague's entry refused in plain words.

The stopwatches run on a clock the test moves: nothing sleeps for the time to pass.
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from PySide6.QtCore import QSettings, Qt
from PySide6.QtTest import QTest
from PySide6.QtWidgets import QMessageBox
from sqlalchemy import Connection, func, select

from app.models.time_entries import T_TIME_ENTRIES
from app.ui.bridge import Bridge
from app.ui.desk.window import DeskWindow
from app.ui.timetrack.desk import NOT_YOURS, TimeTracking
from app.ui.timetrack.entry_dialog import TimeEntryDialog
from app.ui.timetrack.panel import TicketTimePanel
from tests.ui_world import signed_in_bridges, until
from tests.world import eventually, make_store, running_server

T0 = datetime.now(UTC).replace(microsecond=0) - timedelta(hours=2)


class Clock:
    """The time the stopwatches see; the test moves it."""

    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **delta: float) -> None:
        self.now += timedelta(**delta)


def settings_for(tmp: Path, name: str) -> QSettings:
    return QSettings(str(tmp / f"{name}.ini"), QSettings.Format.IniFormat)


async def open_desk(bridge: Bridge, settings: QSettings, qtbot: Any, clock: Clock) -> DeskWindow:
    window = DeskWindow(bridge, settings, "account")
    window.time_tracking.clock = clock
    qtbot.addWidget(window)
    await window.load()
    window.show()
    window.activateWindow()
    await until(window.isActiveWindow)
    return window


async def open_panel(window: DeskWindow, ticket_id: str) -> TicketTimePanel:
    window.open_ticket(ticket_id)
    await until(lambda: ticket_id in window.time_tracking.panels)
    panel = window.time_tracking.panels[ticket_id]
    view = window.tabs.view(ticket_id)
    assert view is not None
    await until(lambda: view.conversation is not None and panel.time is not None)
    return panel


async def press(window: DeskWindow, key: Qt.Key) -> None:
    """Ctrl+Shift+<key> in the open conversation, as the agent presses it (shortcuts need
    an active window)."""
    window.activateWindow()
    await until(window.isActiveWindow)
    view = window.tabs.currentWidget()
    assert view is not None
    QTest.keyClick(
        view, key, Qt.KeyboardModifier.ControlModifier | Qt.KeyboardModifier.ShiftModifier
    )


async def form(tracking: TimeTracking) -> TimeEntryDialog:
    await until(lambda: tracking.dialog is not None and tracking.dialog.isVisible())
    dialog = tracking.dialog
    assert dialog is not None
    dialog.activateWindow()  # as the window manager does with a new dialog
    await until(dialog.isActiveWindow)
    return dialog


async def entries(bridge: Bridge, ticket_id: str) -> list[tuple[int, str, str]]:
    def read(conn: Connection) -> list[tuple[int, str, str]]:
        q = select(T_TIME_ENTRIES.c.duration_s, T_TIME_ENTRIES.c.source, T_TIME_ENTRIES.c.note)
        rows = conn.execute(q.where(T_TIME_ENTRIES.c.ticket_id == ticket_id))
        return [(int(r[0]), str(r[1]), str(r[2])) for r in rows]

    return await bridge.engine.read(read)


async def has_entries(bridge: Bridge, ticket_id: str, wanted: list[tuple[int, str, str]]) -> bool:
    return await entries(bridge, ticket_id) == wanted


def stored(store: Any) -> int:
    with store.connect() as conn:
        return int(conn.execute(select(func.count()).select_from(T_TIME_ENTRIES)).scalar_one())


def test_the_stopwatch_counts_pauses_and_logs_one_entry_of_the_time_shown(
    tmp_path: Path, aloop: asyncio.AbstractEventLoop, qtbot: Any
) -> None:
    store = make_store(f"sqlite:///{tmp_path / 'server.db'}")
    clock = Clock(T0)

    async def body() -> None:
        async with (
            running_server(store) as server,
            signed_in_bridges(tmp_path, server.url, "ada@example.com") as (ada,),
        ):
            desk = await open_desk(ada, settings_for(tmp_path, "ada"), qtbot, clock)
            tracking = desk.time_tracking
            panel = await open_panel(desk, "t-1")
            assert panel.face.text() == "Not running"  # off until the agent starts it
            assert tracking.tab_mark("t-1") == ""

            await press(desk, Qt.Key.Key_S)  # start
            clock.advance(minutes=5, seconds=12)
            await until(lambda: tracking.tab_mark("t-1") == "running 5:12")
            assert panel.face.text() == "5:12"
            assert tracking.status_button.text().startswith("#1 5:12")

            QTest.mouseClick(panel.start_button, Qt.MouseButton.LeftButton)  # pause
            clock.advance(minutes=30)  # a paused stopwatch does not count
            tracking.mark_tabs()
            assert tracking.tab_mark("t-1") == "paused 5:12"
            assert panel.start_button.text() == "Resume"

            # Another ticket's stopwatch: starting it leaves the first paused; switching
            # tabs does not stop either.
            other = await open_panel(desk, "t-2")
            QTest.mouseClick(other.start_button, Qt.MouseButton.LeftButton)
            clock.advance(minutes=2)
            await press(desk, Qt.Key.Key_S)  # pause t-2 (its tab is current)
            desk.open_ticket("t-1")
            await press(desk, Qt.Key.Key_S)  # resume t-1
            clock.advance(minutes=1, seconds=48)
            await until(lambda: tracking.tab_mark("t-1") == "running 7:00")
            assert tracking.tab_mark("t-2") == "paused 2:00"
            assert tracking.stopwatches.running() is not None
            assert tracking.stopwatches.running().ticket_id == "t-1"  # type: ignore[union-attr]

            await press(desk, Qt.Key.Key_D)  # stop: the form proposes the time as shown
            dialog = await form(tracking)
            assert dialog.duration.text() == "7m"
            assert tracking.stopwatches.get("t-1") is None
            dialog.note.setText("Walked her through the router reset")
            QTest.keyClick(dialog.duration, Qt.Key.Key_Return)
            await until(lambda: tracking.dialog is None)
            logged = [(420, "stopwatch", "Walked her through the router reset")]
            await eventually(lambda: has_entries(ada, "t-1", logged))
            await until(lambda: stored(store) == 1)
            await until(lambda: panel.totals.text() == "Logged: 7 min")
            assert tracking.tab_mark("t-1") == ""

            # Stopping and cancelling the form loses nothing: the stopwatch is back, paused.
            desk.open_ticket("t-2")
            await press(desk, Qt.Key.Key_D)
            dialog = await form(tracking)
            dialog.reject()
            await until(lambda: tracking.tab_mark("t-2") == "paused 2:00")
            assert await entries(ada, "t-2") == []

    aloop.run_until_complete(body())


def test_the_stopwatch_survives_a_closed_tab_and_a_new_desk(
    tmp_path: Path, aloop: asyncio.AbstractEventLoop, qtbot: Any
) -> None:
    store = make_store(f"sqlite:///{tmp_path / 'server.db'}")
    clock = Clock(T0)

    async def body() -> None:
        async with (
            running_server(store) as server,
            signed_in_bridges(tmp_path, server.url, "ada@example.com") as (ada,),
        ):
            settings = settings_for(tmp_path, "ada")
            desk = await open_desk(ada, settings, qtbot, clock)
            panel = await open_panel(desk, "t-1")
            QTest.mouseClick(panel.start_button, Qt.MouseButton.LeftButton)
            clock.advance(minutes=3)
            desk.tabs.close_ticket("t-1")
            tracking = desk.time_tracking
            await until(lambda: tracking.status_button.text().startswith("#1 3:00"))
            tracking.show_my_time()
            my_time = tracking.my_time_dialog
            assert my_time is not None
            await until(lambda: my_time.watches.item(0, 2) is not None)
            assert [my_time.watches.item(0, c).text() for c in range(3)] == [  # type: ignore[union-attr]
                "#1 Ticket 1",
                "3:00",
                "running",
            ]
            my_time.close()
            desk.hide()

            # The desk is gone (as after a crash: nothing more was written); a new one over
            # the same settings finds the stopwatch still running.
            clock.advance(minutes=7)
            again = await open_desk(ada, settings_for(tmp_path, "ada"), qtbot, clock)
            tracking = again.time_tracking
            assert tracking.status_button.text().startswith("#1 10:00")
            panel = await open_panel(again, "t-1")
            assert panel.face.text() == "10:00"
            assert panel.start_button.text() == "Pause"

            # Opening a ticket starts nothing unless the agent asked for it ...
            await open_panel(again, "t-2")
            assert tracking.stopwatches.get("t-2") is None
            # ... and with the preference on, opening one starts its stopwatch (and pauses
            # the one running: one at a time).
            tracking.autostart_action.trigger()
            assert tracking.autostart
            await open_panel(again, "t-5")
            watch = tracking.stopwatches.get("t-5")
            assert watch is not None
            assert watch.running
            assert tracking.tab_mark("t-1") == "paused 10:00"

    aloop.run_until_complete(body())


def test_log_time_reads_durations_and_refuses_bad_ones_changing_nothing(
    tmp_path: Path, aloop: asyncio.AbstractEventLoop, qtbot: Any
) -> None:
    store = make_store(f"sqlite:///{tmp_path / 'server.db'}")
    clock = Clock(datetime.now(UTC).replace(microsecond=0))

    async def body() -> None:
        async with (
            running_server(store) as server,
            signed_in_bridges(tmp_path, server.url, "ada@example.com", "lin@example.com") as (
                ada,
                lin,
            ),
        ):
            desk = await open_desk(ada, settings_for(tmp_path, "ada"), qtbot, clock)
            tracking = desk.time_tracking
            panel = await open_panel(desk, "t-1")
            assert panel.totals.text() == "No time logged yet"
            await press(desk, Qt.Key.Key_T)
            dialog = await form(tracking)
            for typed, words in (
                ("an hour", "is not a duration"),
                ("-20", "cannot be negative"),
                ("26h", "more than a day"),
            ):
                dialog.duration.setText(typed)
                QTest.keyClick(dialog.duration, Qt.Key.Key_Return)
                assert dialog.isVisible()  # still open: nothing was sent
                assert dialog.error.isVisible()
                assert words in dialog.error.text()
            assert await entries(ada, "t-1") == []
            assert ada.engine.status.outbox == 0
            # A day in the future cannot be picked; the form keeps today.
            dialog.day.setDate(dialog.day.date().addDays(3))
            assert dialog.day.date() == dialog.day.maximumDate()
            dialog.duration.setText("1h 20m")
            dialog.note.setText("Refund paperwork")
            QTest.keyClick(dialog.duration, Qt.Key.Key_Return)
            await until(lambda: tracking.dialog is None)
            await eventually(
                lambda: has_entries(ada, "t-1", [(4800, "manual", "Refund paperwork")])
            )

            # Lin logs 45 minutes on the same ticket at her workstation: Ada's panel shows
            # the ticket's total and each agent's share; her own time counts only hers.
            lin_desk = await open_desk(lin, settings_for(tmp_path, "lin"), qtbot, clock)
            lin_panel = await open_panel(lin_desk, "t-1")
            await press(lin_desk, Qt.Key.Key_T)
            lin_form = await form(lin_desk.time_tracking)
            lin_form.duration.setText("45")
            QTest.keyClick(lin_form.duration, Qt.Key.Key_Return)
            await until(lambda: panel.totals.text() == "Logged: 2 h 5 min · you 1 h 20 min")
            await until(lambda: lin_panel.totals.text() == "Logged: 2 h 5 min · you 45 min")
            assert panel.by_agent.text() == "Per agent: Ada 1 h 20 min, Lin 45 min"
            await until(lambda: "My time today 1 h 20 min" in tracking.status_button.text())
            await until(
                lambda: "My time today 45 min" in lin_desk.time_tracking.status_button.text()
            )
            panel.list_button.click()
            assert panel.entries.rowCount() == 2
            assert {panel.entries.item(r, 1).text() for r in range(2)} == {"Ada", "Lin"}  # type: ignore[union-attr]

    aloop.run_until_complete(body())


def test_a_colleagues_entry_cannot_be_changed_and_ones_own_can(
    tmp_path: Path, aloop: asyncio.AbstractEventLoop, qtbot: Any
) -> None:
    store = make_store(f"sqlite:///{tmp_path / 'server.db'}")
    clock = Clock(datetime.now(UTC).replace(microsecond=0))
    started = (clock.now - timedelta(hours=1)).isoformat()

    async def body() -> None:
        async with (
            running_server(store) as server,
            signed_in_bridges(tmp_path, server.url, "ada@example.com", "lin@example.com") as (
                ada,
                lin,
            ),
        ):
            for bridge, entry_id, minutes in ((lin, "e-lin", 30), (ada, "e-ada", 10)):
                await bridge.engine.mutate(
                    "time_entry.add",
                    {
                        "id": entry_id,
                        "ticket_id": "t-1",
                        "started_at": started,
                        "duration_s": minutes * 60,
                        "note": "",
                    },
                )
            desk = await open_desk(ada, settings_for(tmp_path, "ada"), qtbot, clock)
            tracking = desk.time_tracking
            panel = await open_panel(desk, "t-1")
            await until(lambda: panel.time is not None and len(panel.time.entries) == 2)
            assert panel.time is not None
            rows = {e.id: r for r, e in enumerate(panel.time.entries)}
            panel.list_button.click()

            # Lin's entry: Enter (change) and Delete are refused in plain words, nothing sent.
            for key in (Qt.Key.Key_Return, Qt.Key.Key_Delete):
                panel.entries.selectRow(rows["e-lin"])
                panel.entries.setFocus()
                QTest.keyClick(panel.entries, key)
                await until(lambda: tracking.message is not None)
                assert tracking.message is not None
                assert tracking.message.text() == NOT_YOURS
                tracking.message.done(0)
                await until(lambda: tracking.message is None)
            assert tracking.dialog is None
            assert ada.engine.status.outbox == 0

            # Her own: changed to 25 minutes, then deleted after she confirms.
            panel.entries.selectRow(rows["e-ada"])
            QTest.keyClick(panel.entries, Qt.Key.Key_Return)
            dialog = await form(tracking)
            assert dialog.duration.text() == "10m"
            dialog.duration.setText("25m")
            QTest.keyClick(dialog.duration, Qt.Key.Key_Return)
            await until(lambda: panel.totals.text() == "Logged: 55 min · you 25 min")
            await ada.engine.wait_drained()
            with store.connect() as conn:
                q = select(T_TIME_ENTRIES.c.duration_s).where(T_TIME_ENTRIES.c.id == "e-ada")
                assert conn.execute(q).scalar() == 25 * 60
            assert panel.time is not None
            panel.entries.selectRow([e.id for e in panel.time.entries].index("e-ada"))
            desk.activateWindow()
            await until(desk.isActiveWindow)
            panel.entries.setFocus()
            QTest.keyClick(panel.entries, Qt.Key.Key_Delete)
            await until(lambda: tracking.message is not None)
            box = tracking.message
            assert box is not None
            assert box.text().startswith("Delete your 25 min on")
            delete = next(
                b
                for b in box.buttons()
                if box.buttonRole(b) == QMessageBox.ButtonRole.DestructiveRole
            )
            delete.click()
            await until(lambda: panel.totals.text() == "Logged: 30 min · you 0 min")
            await ada.engine.wait_drained()
            with store.connect() as conn:
                ids = set(conn.execute(select(T_TIME_ENTRIES.c.id)).scalars())
            assert ids == {"e-lin"}

    aloop.run_until_complete(body())
