"""The phone desk with real widgets against a real server: a ring from `switchboard call
incoming` or a ``switchboard://`` link (real subprocesses) pops the caller in a running
desk; bad rings are refused with nothing done; unknown and shared numbers; the call log is
saved through the server; click-to-call hands a ``tel:`` URL to the softphone."""

from __future__ import annotations

import asyncio
import gc
import os
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from PySide6.QtCore import QObject, QSettings, Qt, QUrl, Slot
from PySide6.QtGui import QDesktopServices
from PySide6.QtTest import QTest
from PySide6.QtWidgets import QApplication
from sqlalchemy import Engine, insert, select

from app import desk_link
from app.models.base import utcnow
from app.models.tables import T_CALLS, T_DISPOSITIONS, T_IDENTITIES, T_SETTINGS, T_TICKETS
from app.sync import queries
from app.ui.bridge import Bridge
from app.ui.customer.editor import CustomerEditor
from app.ui.desk.window import DeskWindow
from app.ui.phone.caller_picker import CallerPicker
from tests.ui_world import signed_in_bridges, until
from tests.world import make_store, running_server

CALLER = "+442079460018"  # Customer 3's number
UNKNOWN = "+442079460999"
LAUNCH = [sys.executable, "-m", "app.launch"]
REPO = Path(__file__).resolve().parent.parent


@pytest.fixture(autouse=True)
def _desk_socket(monkeypatch: pytest.MonkeyPatch, qapp: Any) -> Iterator[str]:
    """Each test's desk listens on its own socket (another engineer's desk may be running)."""
    name = f"sbd-test-{uuid.uuid4().hex[:10]}"
    monkeypatch.setenv(desk_link.ENV_NAME, name)
    before = qapp.quitOnLastWindowClosed()
    qapp.setQuitOnLastWindowClosed(False)
    yield name
    qapp.setQuitOnLastWindowClosed(before)
    gc.collect()


def phone_store(tmp_path: Path) -> Engine:
    store = make_store(f"sqlite:///{tmp_path / 'server.db'}")
    with store.begin() as conn:
        conn.execute(
            insert(T_IDENTITIES).values(id="ci-3p", customer_id="c-3", kind="phone", value=CALLER)
        )
        conn.execute(
            insert(T_DISPOSITIONS),
            [
                {"id": "d-resolved", "name": "Resolved", "position": 1, "active": True},
                {"id": "d-callback", "name": "Callback needed", "position": 2, "active": True},
            ],
        )
    return store


async def ring(*args: str) -> subprocess.CompletedProcess[str]:
    """Run the command a softphone runs, as a real process, while the desk's loop runs."""
    return await asyncio.to_thread(
        subprocess.run,
        [*LAUNCH, *args],
        capture_output=True,
        text=True,
        timeout=30,
        env=os.environ.copy(),
        cwd=REPO,
    )


async def open_desk(bridge: Bridge, tmp_path: Path, qtbot: Any) -> DeskWindow:
    settings = QSettings(str(tmp_path / "desk.ini"), QSettings.Format.IniFormat)
    window = DeskWindow(bridge, settings, "account")
    qtbot.addWidget(window)
    await window.load()
    window.resize(1280, 720)
    window.show()
    assert window.phone.take_calls()
    return window


def test_a_ring_from_the_command_pops_the_caller_and_the_call_is_logged(
    tmp_path: Path, aloop: asyncio.AbstractEventLoop, qtbot: Any
) -> None:
    store = phone_store(tmp_path)

    async def body() -> None:
        async with (
            running_server(store) as server,
            signed_in_bridges(tmp_path, server.url, "ada@example.com") as (bridge,),
        ):
            window = await open_desk(bridge, tmp_path, qtbot)
            phone = window.phone
            popped: list[str] = []
            phone.popped.connect(popped.append)
            done = await ring("call", "incoming", "--from", "+44 20 7946 0018", "--to", "0000")
            assert done.returncode == 0, done.stderr
            assert "+44 20 7946 0018 shown on the desk" in done.stdout
            await until(lambda: popped == ["c-3"])
            # The customer record, their open tickets, and the call log with its timer.
            await until(lambda: window.customer.card is not None)
            card = window.customer.card
            assert card is not None
            assert card.name == "Customer 3"
            assert [t.id for t in card.open_tickets] == ["t-2"]
            assert window.customer.open_tickets.rowCount() == 1
            await until(lambda: window.tabs.view("t-2") is not None)  # their latest open ticket
            call = phone.panel.call
            assert call is not None
            assert call.running
            assert call.direction == "inbound"
            assert call.number == CALLER
            assert phone.dock.isVisible()
            await until(lambda: phone.panel.timer_label.text() == "00:01", timeout=5)
            assert phone.on_call.isVisible()
            assert "00:01" in phone.on_call.text()
            assert "00:01" in phone.dock.windowTitle()
            await until(lambda: phone.panel.ticket.count() == 2)  # t-2, or a new ticket
            assert phone.panel.ticket.currentData() == "t-2"

            # Wrap-up: the disposition is required.
            phone.panel.notes.setPlainText("Printer still jams; sent a new drum.")
            phone.panel.save()
            assert phone.panel.problem.isVisible()
            assert "disposition" in phone.panel.problem.text()
            assert phone.panel.call is not None  # nothing was saved
            phone.panel.end_call()
            assert not phone.panel.call.running
            ended = phone.panel.elapsed_text
            await asyncio.sleep(1.1)  # the timer stays stopped
            assert phone.panel.elapsed_text == ended
            phone.panel.disposition.setCurrentIndex(phone.panel.disposition.findText("Resolved"))
            phone.panel.save()
            await until(lambda: phone.panel.call is None)
            assert not phone.dock.isVisible()

            def logged() -> Any:
                with store.connect() as conn:
                    return conn.execute(select(T_CALLS)).mappings().first()

            await until(lambda: logged() is not None)
            row = logged()
            assert row["ticket_id"] == "t-2"
            assert row["customer_id"] == "c-3"
            assert row["disposition_id"] == "d-resolved"
            assert row["notes"] == "Printer still jams; sent a new drum."
            assert row["duration_s"] >= 1
            assert window.tabs.view("t-2") is not None  # the ticket opened with its call

    aloop.run_until_complete(body())
    store.dispose()


def test_a_switchboard_link_pops_the_caller_and_bad_rings_change_nothing(
    tmp_path: Path, aloop: asyncio.AbstractEventLoop, qtbot: Any
) -> None:
    store = phone_store(tmp_path)

    async def body() -> None:
        async with (
            running_server(store) as server,
            signed_in_bridges(tmp_path, server.url, "ada@example.com") as (bridge,),
        ):
            window = await open_desk(bridge, tmp_path, qtbot)
            phone = window.phone
            popped: list[str] = []
            phone.popped.connect(popped.append)
            refused = [
                ("switchboard://call/incoming?from=%2B44+20+7946+0018&from=1",),  # twice
                ("switchboard://call/incoming?to=%2B442079460000",),  # no caller
                ("switchboard://call/hangup?from=%2B442079460018",),
                ("switchboard://call/incoming?from=%2B442079460018&x=1",),
                ("switchboard://call/incoming?from=%3Cscript%3E",),
                ("https://call/incoming?from=%2B442079460018",),
                ("call", "incoming", "--from", "12; rm -rf ~"),
                ("call", "incoming", "--from", "+1 555"),  # digits, but no number: the desk says
                ("call", "incoming", "--from", "+999 1234 5678"),
            ]
            for args in refused:
                done = await ring(*args)
                assert done.returncode == desk_link.EXIT_REFUSED, (args, done.stdout)
                assert "nothing was done" in done.stderr, args
            assert phone.panel.call is None
            assert popped == []
            assert not phone.dock.isVisible()

            link = "switchboard://call/incoming?from=%2B442079460018&to=%2B442079460000"
            done = await ring(link)
            assert done.returncode == 0, done.stderr
            await until(lambda: popped == ["c-3"])
            call = phone.panel.call
            assert call is not None
            assert call.line == "+442079460000"
            assert window.customer.customer_id == "c-3"

            # A second ring while this call is logged does not take the call log over.
            done = await ring("call", "incoming", "--from", UNKNOWN)
            assert done.returncode == 0
            assert "another call" in done.stdout
            assert phone.panel.call is call

            # No desk on the socket: a plain message and status 3.
            env_name = desk_link.ENV_NAME
            os.environ[env_name] = f"sbd-none-{uuid.uuid4().hex[:8]}"
            done = await ring("call", "incoming", "--from", CALLER)
            assert done.returncode == desk_link.EXIT_NO_DESK
            assert "not running" in done.stderr

    aloop.run_until_complete(body())
    store.dispose()


def test_an_unknown_caller_offers_a_new_customer_and_a_new_ticket(
    tmp_path: Path, aloop: asyncio.AbstractEventLoop, qtbot: Any
) -> None:
    store = phone_store(tmp_path)

    async def body() -> None:
        async with (
            running_server(store) as server,
            signed_in_bridges(tmp_path, server.url, "ada@example.com") as (bridge,),
        ):
            window = await open_desk(bridge, tmp_path, qtbot)
            phone = window.phone
            popped: list[str] = []
            asked: list[str] = []
            phone.popped.connect(popped.append)
            phone.newCustomerRequested.connect(asked.append)
            done = await ring("call", "incoming", "--from", "020 7946 0999")  # read as US: no
            assert done.returncode == desk_link.EXIT_REFUSED
            done = await ring("call", "incoming", "--from", "tel:+44-20-7946-0999")
            assert done.returncode == 0, done.stderr
            await until(lambda: popped == [""])
            panel = phone.panel
            assert panel.customer_label.text() == "Unknown caller +44 20 7946 0999"
            assert panel.new_customer_button.isVisible()
            panel.new_customer_button.click()

            def logged() -> Any:
                with store.connect() as conn:
                    call = conn.execute(select(T_CALLS)).mappings().first()
                    if call is None:
                        return None
                    ticket = conn.execute(
                        select(T_TICKETS).where(T_TICKETS.c.id == call["ticket_id"])
                    )
                    return call, ticket.mappings().one()

            assert asked == [UNKNOWN]
            # The customer editor opens with the number; once saved, the call is theirs.
            editor = window.findChild(CustomerEditor)
            assert isinstance(editor, CustomerEditor)
            await until(lambda: editor.ready)
            assert [row.stored for row in editor.rows if row.kind.value == "phone"] == [UNKNOWN]
            editor.name_edit.setText("Nora Night")
            editor.save()
            await until(lambda: panel.customer_label.text() == "Nora Night")
            assert panel.call is not None
            new_customer = panel.call.customer_id
            assert new_customer is not None
            assert not panel.new_customer_button.isVisible()
            await until(lambda: window.customer.customer_id == new_customer)
            # A new customer, no open ticket: the call goes on a new ticket, named from the notes.
            assert panel.ticket.currentData() == "__new__"
            panel.notes.setPlainText("Wants a quote for 40 headsets\nCall back Friday")
            assert panel.subject.text() == "Wants a quote for 40 headsets"
            panel.disposition.setCurrentIndex(panel.disposition.findText("Callback needed"))
            # The network drops as the agent saves: the new ticket and the call wait in the
            # outbox, the ticket opens at once with its call entry, and both go once, later.
            await bridge.engine.wait_drained(20)  # the new customer reached the server
            await bridge.engine.stop()
            panel.save()
            await until(lambda: panel.call is None)
            assert logged() is None
            status = await bridge.engine.read(queries.sync_status)
            assert status["outbox"] == 2
            opened = window.tabs.current_ticket_id()
            assert opened is not None
            view = window.tabs.view(opened)
            assert view is not None
            await until(lambda: view.thread_view.thread_model.rowCount() == 1)
            entry = view.thread_view.thread_model.message(0)
            assert entry.kind == "call"
            assert entry.body.startswith("Inbound call from +44 20 7946 0999 · ")
            bridge.engine.start()
            await bridge.engine.wait_online(20)
            await bridge.engine.wait_drained(20)

            await until(lambda: logged() is not None)
            call, ticket = logged()
            assert call["customer_number"] == UNKNOWN
            assert call["customer_id"] == new_customer
            assert ticket["subject"] == "Wants a quote for 40 headsets"
            assert ticket["channel"] == "phone"
            assert ticket["assignee_id"] == "a-ada"
            with store.connect() as conn:  # sent once each
                assert len(conn.execute(select(T_CALLS)).all()) == 1
                same = select(T_TICKETS).where(T_TICKETS.c.subject == ticket["subject"])
                assert len(conn.execute(same).all()) == 1

            # A link macOS hands the running app (an open-URL event) pops the same way.
            assert "unknown" in phone.open_link("switchboard://call/hangup?from=1234")
            assert phone.panel.call is None
            assert "link not used" in window.statusBar().currentMessage()
            phone.open_link("switchboard://call/incoming?from=+442079460018")
            await until(lambda: popped == ["", "c-3"])

    aloop.run_until_complete(body())
    store.dispose()


def test_a_number_shared_by_two_customers_lets_the_agent_pick(
    tmp_path: Path, aloop: asyncio.AbstractEventLoop, qtbot: Any
) -> None:
    store = phone_store(tmp_path)
    with store.begin() as conn:  # a household's landline: Customer 1 shares Customer 3's
        conn.execute(
            insert(T_IDENTITIES).values(id="ci-1p", customer_id="c-1", kind="phone", value=CALLER)
        )

    async def body() -> None:
        async with (
            running_server(store) as server,
            signed_in_bridges(tmp_path, server.url, "ada@example.com") as (bridge,),
        ):
            window = await open_desk(bridge, tmp_path, qtbot)
            phone = window.phone
            popped: list[str] = []
            phone.popped.connect(popped.append)
            done = await ring("call", "incoming", "--from", "+44 20 7946 0018")
            assert done.returncode == 0, done.stderr
            await until(lambda: window.findChild(CallerPicker) is not None)
            picker = window.findChild(CallerPicker)
            assert picker is not None
            await until(picker.isVisible)
            assert phone.panel.call is not None
            assert phone.panel.call.running  # the timer runs while the agent picks
            assert picker.list.count() == 2
            lines = [picker.list.item(r).text() for r in range(2)]
            assert lines[0].startswith("Customer 1  ·  ")
            assert lines[1].startswith("Customer 3  ·  1 open ticket  ·  last: #")
            picker.list.setCurrentRow(1)
            picker.accept()
            await until(lambda: popped == ["c-3"])
            assert phone.panel.call.customer_id == "c-3"
            assert phone.panel.customer_label.text() == "Customer 3"
            await until(lambda: window.customer.customer_id == "c-3")

            # Not sure who it is: the call goes on without a customer, and can be picked later.
            phone.panel.discard()
            await ring("call", "incoming", "--from", CALLER)
            await until(lambda: window.findChild(CallerPicker) is not None)
            picker = window.findChild(CallerPicker)
            assert picker is not None
            picker.reject()
            await until(lambda: popped == ["c-3", ""])
            assert phone.panel.call is not None
            assert phone.panel.call.customer_id is None

    aloop.run_until_complete(body())
    store.dispose()


class _Softphone(QObject):
    """Where the system would hand a ``tel:`` URL: this test's stand-in softphone."""

    def __init__(self) -> None:
        super().__init__()
        self.dialled: list[str] = []

    @Slot(QUrl)
    def dial(self, url: QUrl) -> None:
        self.dialled.append(url.toString())


def test_click_to_call_hands_a_tel_url_to_the_softphone_and_starts_an_outbound_log(
    tmp_path: Path, aloop: asyncio.AbstractEventLoop, qtbot: Any
) -> None:
    store = phone_store(tmp_path)
    softphone = _Softphone()
    QDesktopServices.setUrlHandler("tel", softphone, "dial")  # type: ignore[arg-type]

    async def body() -> None:
        async with (
            running_server(store) as server,
            signed_in_bridges(tmp_path, server.url, "ada@example.com") as (bridge,),
        ):
            window = await open_desk(bridge, tmp_path, qtbot)
            customer = window.customer
            customer.show_customer("c-3")
            await until(lambda: customer.identities.rowCount() == 2)
            rows = [customer.identities.row_at(customer.identities.index(r, 0)) for r in (0, 1)]
            phone_row = next(i for i, row in enumerate(rows) if row and row[0] == "phone")
            view = customer.identity_view
            view.setCurrentIndex(customer.identities.index(phone_row, 0))
            view.activated.emit(view.currentIndex())  # Enter, or the platform's click
            assert softphone.dialled == [f"tel:{CALLER}"]
            call = window.phone.panel.call
            assert call is not None
            assert call.direction == "outbound"
            assert call.customer_id == "c-3"
            assert window.phone.panel.direction.currentData() == "outbound"
            # The call log's number is a tel: link too (it only dials: the log is running).
            link = window.phone.panel.number_link
            assert f'href="tel:{CALLER}"' in link.text()
            link.linkActivated.emit(f"tel:{CALLER}")
            assert softphone.dialled == [f"tel:{CALLER}"] * 2
            assert window.phone.panel.call is call
            window.phone.panel.discard()
            assert window.phone.panel.call is None

            # Keyboard-first: Ctrl+Shift+L logs a call with the customer on screen, its timer
            # running; Ctrl+Shift+E ends it.
            window.activateWindow()
            await until(window.isActiveWindow)
            modifiers = Qt.KeyboardModifier.ControlModifier | Qt.KeyboardModifier.ShiftModifier
            QTest.keyClick(window, Qt.Key.Key_L, modifiers)
            call = window.phone.panel.call
            assert call is not None
            assert call.running
            assert (call.customer_id, call.number) == ("c-3", CALLER)
            QTest.keyClick(window, Qt.Key.Key_E, modifiers)
            assert not call.running
            window.phone.panel.discard()

    try:
        aloop.run_until_complete(body())
    finally:
        QDesktopServices.unsetUrlHandler("tel")
        store.dispose()
    QApplication.processEvents()


def test_a_national_number_is_read_in_the_workspace_region_and_a_new_caller_is_saved(
    tmp_path: Path, aloop: asyncio.AbstractEventLoop, qtbot: Any
) -> None:
    """With the admin's region GB, "020 7946 0018" is Customer 3; an unknown caller's "New
    customer…" opens the customer form with the number, and once saved the call is theirs."""
    store = phone_store(tmp_path)
    with store.begin() as conn:
        conn.execute(insert(T_SETTINGS).values(id="phone-region", value="GB", updated_at=utcnow()))

    async def body() -> None:
        async with (
            running_server(store) as server,
            signed_in_bridges(tmp_path, server.url, "ada@example.com") as (bridge,),
        ):
            window = await open_desk(bridge, tmp_path, qtbot)
            phone = window.phone
            popped: list[str] = []
            phone.popped.connect(popped.append)
            await until(lambda: phone.region.value == "GB")
            phone.handle_incoming(desk_link.IncomingCall("020 7946 0018"))
            await until(lambda: popped == ["c-3"])
            phone.panel.discard()

            phone.handle_incoming(desk_link.IncomingCall("020 7946 0999"))
            await until(lambda: popped == ["c-3", ""])
            # The panel says whose record it is not: no customer has this number yet.
            context = window.customer.context_label.text()
            assert context == "On the phone: 020 7946 0999, not a customer yet"
            phone.panel.new_customer_button.click()
            editor = window.findChild(CustomerEditor)
            assert editor is not None
            await until(lambda: editor.ready)
            phones = [row for row in editor.rows if row.kind == "phone"]
            assert [row.stored for row in phones] == [UNKNOWN]
            editor.name_edit.setText("Nora Quinn")
            editor.save()
            await until(lambda: phone.panel.call is not None and phone.panel.call.customer_id)
            assert phone.panel.customer_label.text() == "Nora Quinn"
            call = phone.panel.call
            assert call is not None
            await bridge.engine.wait_drained(20)
            with store.connect() as conn:
                owner = conn.execute(
                    select(T_IDENTITIES.c.customer_id).where(T_IDENTITIES.c.value == UNKNOWN)
                ).scalar()
            assert owner == call.customer_id

    aloop.run_until_complete(body())
    store.dispose()
