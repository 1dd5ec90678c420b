"""Customers and new tickets at the desk: the customer editor, the customer picker, the
new-ticket form and the customer panel beside the open ticket — real widgets, a real server
on port 0 and real caches, online and offline."""

from __future__ import annotations

import asyncio
import gc
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from PySide6.QtCore import QSettings, Qt
from PySide6.QtTest import QTest
from sqlalchemy import Engine, insert, select

from app.models.base import utcnow
from app.models.enums import IdentityKind
from app.models.tables import (
    T_CUSTOMERS,
    T_IDENTITIES,
    T_MESSAGES,
    T_ORGS,
    T_SETTINGS,
    T_TICKETS,
)
from app.sync.desk_types import CustomerMatch
from app.ui.customer.editor import CustomerEditor
from app.ui.customer.picker import CustomerPicker, prefill_of
from app.ui.desk.window import DeskWindow
from app.ui.intake.new_ticket import LAST_CHANNEL_KEY, NewTicketDialog, parse_tags
from tests.ui_world import signed_in_bridges, until
from tests.world import make_store, running_server


@pytest.fixture(autouse=True)
def _ui_hygiene(qapp: Any) -> Iterator[None]:
    before = qapp.quitOnLastWindowClosed()
    qapp.setQuitOnLastWindowClosed(False)
    yield
    qapp.setQuitOnLastWindowClosed(before)
    gc.collect()


def customer_store(tmp_path: Path) -> Engine:
    """The test world in a London office: numbers without a country code are British; Grace
    (c-3) has a phone and works at Navy Ltd; a family shares a landline."""
    store = make_store(f"sqlite:///{tmp_path / 'server.db'}")
    now = utcnow()
    with store.begin() as conn:
        conn.execute(insert(T_SETTINGS).values(id="phone-region", value="GB", updated_at=now))
        conn.execute(insert(T_ORGS).values(id="o-navy", name="Navy Ltd", notes="", updated_at=now))
        for cid, name, org in (
            ("c-grace", "Grace Hopper", "o-navy"),
            ("c-mum", "Molly Weasley", None),
            ("c-son", "Ron Weasley", None),
        ):
            conn.execute(
                insert(T_CUSTOMERS).values(
                    id=cid,
                    name=name,
                    organization_id=org,
                    tier="standard",
                    language="en",
                    timezone="Europe/London",
                    notes="",
                    created_at=now,
                    updated_at=now,
                )
            )
        conn.execute(
            insert(T_IDENTITIES),
            [
                {
                    "id": "i-g1",
                    "customer_id": "c-grace",
                    "kind": "email",
                    "value": "grace@navy.test",
                },
                {"id": "i-g2", "customer_id": "c-grace", "kind": "phone", "value": "+442079460018"},
                {"id": "i-m1", "customer_id": "c-mum", "kind": "phone", "value": "+442079460555"},
                {"id": "i-s1", "customer_id": "c-son", "kind": "phone", "value": "+442079460555"},
            ],
        )
    return store


def store_customer(store: Engine, name: str) -> dict[str, Any] | None:
    with store.connect() as conn:
        row = conn.execute(select(T_CUSTOMERS).where(T_CUSTOMERS.c.name == name)).mappings().first()
        if row is None:
            return None
        identities = conn.execute(
            select(T_IDENTITIES.c.kind, T_IDENTITIES.c.value)
            .where(T_IDENTITIES.c.customer_id == row["id"])
            .order_by(T_IDENTITIES.c.kind, T_IDENTITIES.c.value)
        ).all()
    return {**row, "identities": [tuple(i) for i in identities]}


async def ready(editor: CustomerEditor) -> None:
    await until(lambda: editor.ready)


def test_new_customer_online_and_offline_with_phones_checked_as_typed(
    tmp_path: Path, aloop: asyncio.AbstractEventLoop, qtbot: Any
) -> None:
    store = customer_store(tmp_path)

    async def body() -> None:
        async with (
            running_server(store) as server,
            signed_in_bridges(tmp_path, server.url, "ada@example.com") as (ada,),
        ):
            # The phone desk's unknown caller: prefilled with the number as it came.
            editor = CustomerEditor.for_new(ada, None, phone="020 7946 0999")
            qtbot.addWidget(editor)
            editor.show()
            await ready(editor)
            email_row, phone_row = editor.rows
            assert phone_row.kind == IdentityKind.PHONE
            assert phone_row.stored == "+442079460999"
            assert phone_row.note.text() == "Saved as +442079460999  (020 7946 0999)"

            # A bad number: said in plain words, and Save queues nothing.
            phone_row.value_edit.setText("020 79")
            assert phone_row.stored is None
            assert phone_row.note.text() == "“020 79” is not a phone number in use"
            QTest.keyClicks(editor.name_edit, "Nora Night")
            email_row.value_edit.setText("Nora@Example.com")
            editor.save()
            assert editor.error_label.isVisible()
            assert "020 79" in editor.error_label.text()
            assert editor.result() == 0  # still open
            assert (
                await ada.engine.read(
                    lambda c: c.execute(
                        select(T_CUSTOMERS.c.id).where(T_CUSTOMERS.c.name == "Nora Night")
                    ).first()
                )
                is None
            )

            phone_row.value_edit.setText("+44 20 7946 0999")
            saved: list[str] = []
            editor.saved.connect(saved.append)
            editor.organization_combo.setEditText("Night Owls")  # a new organization
            assert "will be added" in editor.organization_note.text()
            editor.timezone_edit.setText("Europe/London")
            QTest.keyClick(editor.name_edit, Qt.Key.Key_Return)  # Enter saves
            await until(lambda: saved)
            await ada.engine.wait_drained(10)
            nora = store_customer(store, "Nora Night")
            assert nora is not None
            assert nora["identities"] == [("email", "nora@example.com"), ("phone", "+442079460999")]
            assert nora["timezone"] == "Europe/London"
            with store.connect() as conn:
                org = conn.execute(
                    select(T_ORGS.c.name).where(T_ORGS.c.id == nora["organization_id"])
                ).scalar()
            assert org == "Night Owls"

            # Offline: shown at once (found by the picker), sent once back online.
            await ada.engine.stop()
            offline = CustomerEditor.for_new(ada, None, name="Otto Offline")
            qtbot.addWidget(offline)
            offline.show()
            await ready(offline)
            offline.rows[0].value_edit.setText("otto@off.test")
            offline.organization_combo.setEditText("navy ltd")  # the existing one, case aside
            assert not offline.organization_note.isVisible()
            got: list[str] = []
            offline.saved.connect(got.append)
            offline.save()
            await until(lambda: got)
            form = await ada.finder.form(got[0])
            assert form is not None
            assert form.name == "Otto Offline"
            assert form.organization_id == "o-navy"
            assert [m.id for m in await ada.finder.find("otto@")] == [got[0]]
            assert store_customer(store, "Otto Offline") is None
            ada.engine.start()
            await ada.engine.wait_online(20)
            await ada.engine.wait_drained(10)
            otto = store_customer(store, "Otto Offline")
            assert otto is not None
            assert otto["id"] == got[0]
            assert otto["identities"] == [("email", "otto@off.test")]

    aloop.run_until_complete(body())


def test_edit_a_customer_duplicate_email_and_shared_phone(
    tmp_path: Path, aloop: asyncio.AbstractEventLoop, qtbot: Any
) -> None:
    store = customer_store(tmp_path)

    async def body() -> None:
        async with (
            running_server(store) as server,
            signed_in_bridges(tmp_path, server.url, "ada@example.com") as (ada,),
        ):
            editor = CustomerEditor.for_customer(ada, None, "c-son")
            qtbot.addWidget(editor)
            editor.show()
            await ready(editor)
            assert editor.windowTitle() == "Edit customer — Ron Weasley"
            assert [(r.kind, r.value) for r in editor.rows] == [
                (IdentityKind.PHONE, "+442079460555")
            ]
            # The family landline: another customer has it, which is fine — and said.
            await until(lambda: "Molly Weasley has this number too" in editor.rows[0].note.text())

            # Grace's address: refused here, saying who has it, with a way to open her.
            row = editor.add_identity(IdentityKind.EMAIL)
            row.value_edit.setText("GRACE@navy.test")
            await until(lambda: row.owner is not None)
            assert row.note.text() == "This email address already belongs to Grace Hopper."
            assert row.open_owner.text() == "Open Grace Hopper"
            editor.save()
            assert "already belongs to Grace Hopper" in editor.error_label.text()
            opened: list[str] = []
            editor.openCustomer.connect(opened.append)
            row.open_owner.click()
            assert opened == ["c-grace"]

            editor = CustomerEditor.for_customer(ada, None, "c-son")
            qtbot.addWidget(editor)
            editor.show()
            await ready(editor)
            editor.name_edit.setText("Ronald Weasley")
            editor.tier_combo.setCurrentIndex(editor.tier_combo.findData("gold"))
            editor.notes_edit.setPlainText("Calls from the family landline")
            mobile = editor.add_identity(IdentityKind.PHONE)
            mobile.value_edit.setText("07911 123456")
            assert mobile.stored == "+447911123456"
            saved: list[str] = []
            editor.saved.connect(saved.append)
            editor.save()
            await until(lambda: saved == ["c-son"])
            # Shown at once in the cache, then on the server.
            form = await ada.finder.form("c-son")
            assert form is not None
            assert form.name == "Ronald Weasley"
            await ada.engine.wait_drained(10)
            ron = store_customer(store, "Ronald Weasley")
            assert ron is not None
            assert (ron["tier"], ron["notes"]) == ("gold", "Calls from the family landline")
            assert ron["identities"] == [("phone", "+442079460555"), ("phone", "+447911123456")]
            # Both still answer the landline: the phone desk lets the agent pick.
            sharing = await ada.finder.with_phone("020 7946 0555")
            assert {m.name for m in sharing} == {"Molly Weasley", "Ronald Weasley"}

    aloop.run_until_complete(body())


def test_the_picker_finds_by_name_email_organization_and_phone_in_any_format(
    tmp_path: Path, aloop: asyncio.AbstractEventLoop, qtbot: Any
) -> None:
    store = customer_store(tmp_path)
    assert prefill_of("ann@x.test") == {"email": "ann@x.test"}
    assert prefill_of("(020) 7946-0018") == {"phone": "(020) 7946-0018"}
    assert prefill_of("Ann Smith") == {"name": "Ann Smith"}

    async def body() -> None:
        async with (
            running_server(store) as server,
            signed_in_bridges(tmp_path, server.url, "ada@example.com") as (ada,),
        ):
            picker = CustomerPicker(ada)
            qtbot.addWidget(picker)
            picker.show()
            picker.line.setFocus()

            async def names(text: str) -> list[str | None]:
                picker.search(text)
                await until(lambda: picker.model.typed == text)
                return [r.name if isinstance(r, CustomerMatch) else None for r in picker.model.rows]

            assert await names("gra") == ["Grace Hopper", None]  # a name's prefix
            assert await names("hopper g") == ["Grace Hopper", None]
            assert await names("grace@na") == ["Grace Hopper", None]  # an address
            assert await names("navy") == ["Grace Hopper", None]  # address and organization
            for typed in (
                "020 7946 0018",
                "+44 20 7946 0018",
                "00442079460018",
                "tel:+442079460018",
                "7946 0018",
            ):
                assert await names(typed) == ["Grace Hopper", None], typed
            assert set(await names("020 7946 0555")) == {"Molly Weasley", "Ron Weasley", None}
            assert await names("Zebedee") == [None]
            assert picker.model.data(picker.model.index(0, 0)) == "Create customer “Zebedee”…"

            # Typed, then Down and Enter choose, as an agent does.
            QTest.keyClicks(picker.line, "weasley mol")
            await until(lambda: picker.suggestions_shown() and picker.model.rowCount() == 2)
            chosen: list[Any] = []
            picker.customerChosen.connect(chosen.append)
            popup = picker.completer.popup()
            assert popup is not None
            QTest.keyClick(popup, Qt.Key.Key_Return)
            await until(lambda: chosen)
            assert chosen[-1] is not None
            assert chosen[-1].id == "c-mum"
            assert picker.customer is not None
            assert picker.customer.id == "c-mum"
            assert picker.line.text().startswith("Molly Weasley")

            # The last entry creates one, prefilled from what was typed.
            picker.line.clear()
            picker.search("+1 415 555 0132")
            await until(lambda: picker.model.typed == "+1 415 555 0132")
            picker.choose_row(picker.model.rowCount() - 1)
            editor = picker.editor
            assert editor is not None
            qtbot.addWidget(editor)
            await ready(editor)
            assert editor.rows[1].stored == "+14155550132"
            editor.name_edit.setText("Pat Caller")
            editor.save()
            await until(
                lambda: picker.customer is not None and picker.customer.name == "Pat Caller"
            )

    aloop.run_until_complete(body())


def test_new_ticket_online_and_offline_is_numbered_once_synced(
    tmp_path: Path, aloop: asyncio.AbstractEventLoop, qtbot: Any
) -> None:
    store = customer_store(tmp_path)
    assert parse_tags("Billing, refund  billing") == ["billing", "refund"]

    async def body() -> None:
        async with (
            running_server(store) as server,
            signed_in_bridges(tmp_path, server.url, "ada@example.com") as (ada,),
        ):
            settings = QSettings(str(tmp_path / "desk.ini"), QSettings.Format.IniFormat)
            window = DeskWindow(ada, settings, "account")
            qtbot.addWidget(window)
            await window.load()
            window.show()
            window.activateWindow()
            await until(window.isActiveWindow)

            QTest.keyClick(window, Qt.Key.Key_N, Qt.KeyboardModifier.ControlModifier)
            await until(lambda: isinstance(window.findChild(NewTicketDialog), NewTicketDialog))
            dialog = window.findChild(NewTicketDialog)
            assert isinstance(dialog, NewTicketDialog)
            # The agent's own group and the agent themself by default.
            assert dialog.group_combo.currentData() == "g-care"
            assert dialog.assignee_combo.currentData() == "a-ada"
            dialog.channel_combo.setCurrentIndex(dialog.channel_combo.findData("phone"))
            assert dialog.note_radio.isChecked()  # on the phone: what the caller said
            assert "caller said" in dialog.body_edit.placeholderText()
            QTest.keyClicks(dialog.picker.line, "7946 0018")
            await until(lambda: dialog.picker.suggestions_shown())
            popup = dialog.picker.completer.popup()
            assert popup is not None
            QTest.keyClick(popup, Qt.Key.Key_Return)
            await until(lambda: dialog.picker.customer is not None)
            dialog.subject_edit.setText("Router keeps dropping")
            dialog.body_edit.setPlainText("Caller says the router drops every evening.")
            dialog.priority_combo.setCurrentIndex(dialog.priority_combo.findData("high"))
            dialog.tags_edit.setText("router, evening")
            dialog.create_ticket()
            await until(lambda: dialog.ticket_id is not None)
            ticket_id = dialog.ticket_id
            assert ticket_id is not None
            await until(lambda: window.tabs.current_ticket_id() == ticket_id)
            assert settings.value(LAST_CHANNEL_KEY) == "phone"
            await ada.engine.wait_drained(10)
            with store.connect() as conn:
                row = (
                    conn.execute(select(T_TICKETS).where(T_TICKETS.c.id == ticket_id))
                    .mappings()
                    .one()
                )
                first = conn.execute(
                    select(T_MESSAGES.c.kind, T_MESSAGES.c.body).where(
                        T_MESSAGES.c.ticket_id == ticket_id
                    )
                ).all()
            assert (row["channel"], row["customer_id"], row["priority"]) == (
                "phone",
                "c-grace",
                "high",
            )
            assert (row["group_id"], row["assignee_id"], row["tags"]) == (
                "g-care",
                "a-ada",
                ["router", "evening"],
            )
            assert [tuple(m) for m in first] == [
                ("note", "Caller says the router drops every evening.")
            ]
            number = row["number"]
            await until(lambda: window.customer.context == f"Customer on #{number}")

            # Offline: the tab opens at once, unnumbered; once synced, numbered, sent once.
            await ada.engine.stop()
            offline = window.new_ticket()
            assert offline.channel == "phone"  # the last channel used
            offline.channel_combo.setCurrentIndex(offline.channel_combo.findData("walk_in"))
            offline.subject_edit.setText("Walk-in: broken screen")
            QTest.keyClick(offline.subject_edit, Qt.Key.Key_Return)  # Enter creates, once
            await until(lambda: offline.ticket_id is not None)
            walk_in = offline.ticket_id
            assert walk_in is not None
            await until(lambda: window.tabs.current_ticket_id() == walk_in)
            view = window.tabs.view(walk_in)
            assert view is not None
            await until(lambda: view.conversation is not None)
            assert view.conversation is not None
            assert view.conversation.ticket.number is None
            await until(lambda: window.customer.context == "No customer on the new ticket yet.")
            ada.engine.start()
            await ada.engine.wait_online(20)
            await ada.engine.wait_drained(10)
            await until(
                lambda: (
                    view.conversation is not None and view.conversation.ticket.number is not None
                )
            )
            with store.connect() as conn:
                numbers = conn.execute(
                    select(T_TICKETS.c.number).where(
                        T_TICKETS.c.subject == "Walk-in: broken screen"
                    )
                ).all()
            assert len(numbers) == 1
            assert view.conversation.ticket.number == numbers[0][0] == number + 1

    aloop.run_until_complete(body())


def test_the_customer_panel_shows_the_current_tabs_customer_and_says_whose(
    tmp_path: Path, aloop: asyncio.AbstractEventLoop, qtbot: Any
) -> None:
    """Defect 4: the window asked for a tab's ticket and showed the answer's customer even
    when the agent had moved to another tab meanwhile.  Ticket 1 has a long thread (its read
    answers last); the agent opens it and at once ticket 2: the panel must show ticket 2's
    customer, and say so; a customer opened from search says it is not the ticket's."""
    store = customer_store(tmp_path)
    long_ago = utcnow() - timedelta(days=1)
    with store.begin() as conn:
        conn.execute(
            insert(T_MESSAGES),
            [
                {
                    "id": f"m-long-{i}",
                    "ticket_id": "t-1",
                    "kind": "reply",
                    "author_type": "customer",
                    "author_customer_id": "c-2",
                    "body": f"line {i} " + "words " * 40,
                    "created_at": long_ago + timedelta(seconds=i),
                    "delivery_state": "delivered",
                }
                for i in range(4000)
            ],
        )

    async def body() -> None:
        async with (
            running_server(store) as server,
            signed_in_bridges(tmp_path, server.url, "lin@example.com") as (lin,),
        ):
            settings = QSettings(str(tmp_path / "desk.ini"), QSettings.Format.IniFormat)
            window = DeskWindow(lin, settings, "account")
            qtbot.addWidget(window)
            await window.load()
            window.show()
            window.open_ticket("t-1")  # customer c-2, a long read
            window.open_ticket("t-2")  # customer c-3, quick
            one, two = window.tabs.view("t-1"), window.tabs.view("t-2")
            assert one is not None
            assert two is not None
            await until(lambda: one.conversation is not None and two.conversation is not None)
            await until(lambda: window.customer.card is not None)
            for _ in range(20):  # every answer in: none may replace the current tab's
                await asyncio.sleep(0.02)
            assert window.tabs.current_ticket_id() == "t-2"
            assert window.customer.customer_id == "c-3"
            assert window.customer.card is not None
            assert window.customer.card.id == "c-3"
            assert window.customer.context == "Customer on #2"
            assert window.customer.context_label.text() == "Customer on #2"

            window.tabs.setCurrentIndex(window.tabs.indexOf(one))
            await until(
                lambda: window.customer.card is not None and window.customer.card.id == "c-2"
            )
            assert window.customer.context == "Customer on #1"

            # From search: another customer, and the panel says it is not the ticket's.
            window.search.openCustomer.emit("c-grace")
            await until(
                lambda: window.customer.card is not None and window.customer.card.id == "c-grace"
            )
            assert window.customer.context == "Opened from search — not the open ticket's customer"
            # A London number reads as Londoners write it; copying takes the stored form.
            phone = window.customer.identities.index(1, 0)
            assert phone.data() == "Phone:  020 7946 0018"
            assert phone.data(Qt.ItemDataRole.EditRole) == "+442079460018"
            window.tabs.setCurrentIndex(window.tabs.indexOf(two))
            await until(
                lambda: window.customer.card is not None and window.customer.card.id == "c-3"
            )
            assert window.customer.context == "Customer on #2"

            # Edit from the panel opens the editor on that customer.
            window.customer.edit_button.click()
            editor = window.findChild(CustomerEditor)
            assert isinstance(editor, CustomerEditor)
            await until(lambda: editor.ready)
            assert editor.customer_id == "c-3"
            editor.reject()

    aloop.run_until_complete(body())
