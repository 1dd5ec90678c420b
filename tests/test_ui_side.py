"""The side tools of the desk: the customer-360 panel, the canned-response picker and editor,
and the Ctrl+K search palette — real widgets against a real server and real caches."""

from __future__ import annotations

import asyncio
import gc
import random
from collections.abc import Callable, Iterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from PySide6.QtCore import Qt
from PySide6.QtGui import QGuiApplication, QTextCursor
from sqlalchemy import Engine, insert, select, update

from app.models.base import utcnow
from app.models.tables import T_CANNED, T_CUSTOMERS, T_IDENTITIES, T_MESSAGES, T_TICKETS
from app.sync.desk_types import CannedItem, TicketBrief
from app.sync.observer import ConnectionState
from app.ui.bridge import Bridge
from app.ui.canned.editor import CannedEditor
from app.ui.canned.picker import CannedModel, CannedPicker, preview_html
from app.ui.customer.panel import CustomerPanel, IdentityModel, TicketBriefModel, local_time_text
from app.ui.search.palette import (
    PaletteRow,
    RowKind,
    SearchPalette,
    SearchResultsModel,
    SnippetHtmlRole,
    TitleHtmlRole,
    snippet_html,
    snippet_text,
)
from tests.ui_world import signed_in_bridges, until
from tests.world import make_store, running_server

HOSTILE = (
    '<script>alert("x")</script>',
    '<img src="http://evil.test/x.png" onerror=alert(1)>',
    '"',
    "'; DROP TABLE tickets; --",
    "NEAR(a b) OR NOT AND *",
    "(((",
    "a:b ^c -d +e",
    "[[]]",
    "\x00\x01\u202e",
    "ü" * 5000,
    "#",
    "#99999999999999999999",
    "   ",
    "{{customer.first_name}}",
)


@pytest.fixture(autouse=True)
def _ui_hygiene(qapp: Any) -> Iterator[None]:
    """The picker and palette are the only windows here; closing one must not quit the app
    (and stop the loop) as closing the last window would (the desk's window stays open)."""
    before = qapp.quitOnLastWindowClosed()
    qapp.setQuitOnLastWindowClosed(False)
    yield
    qapp.setQuitOnLastWindowClosed(before)
    # Widgets and bridges sit in reference cycles (slots that close over ``self``): collect
    # them here, on the GUI thread, rather than whenever a database thread happens to
    # trigger the collector — Qt objects must be destroyed on the thread that owns them.
    gc.collect()


def side_store(tmp_path: Path) -> Engine:
    """The test world plus what the side tools need: a VIP customer with a phone, a ticket
    with a telling subject, a message with rare words, and canned responses."""
    store = make_store(f"sqlite:///{tmp_path / 'server.db'}")
    now = utcnow()
    with store.begin() as conn:
        conn.execute(
            update(T_CUSTOMERS)
            .where(T_CUSTOMERS.c.id == "c-3")
            .values(name="Grace Hopper", tier="vip", timezone="Europe/Berlin", language="de")
        )
        conn.execute(
            insert(T_IDENTITIES).values(
                id="ci-3p", customer_id="c-3", kind="phone", value="+4930123456"
            )
        )
        conn.execute(
            update(T_TICKETS).where(T_TICKETS.c.id == "t-2").values(subject="Printer jams")
        )
        conn.execute(
            insert(T_MESSAGES).values(
                id="m-flux",
                ticket_id="t-2",
                kind="reply",
                author_type="customer",
                author_customer_id="c-3",
                body="The flux capacitor <b>hums</b> at night",
                created_at=now - timedelta(hours=1),
                delivery_state="delivered",
            )
        )
        conn.execute(
            insert(T_CANNED),
            [
                {
                    "id": "cr-ship",
                    "title": "Shipped",
                    "shortcut": "ship",
                    "body": "Hi {{customer.first_name}}, ticket {{ticket.number}} has shipped."
                    " {{unknown.thing}} — {{agent.name}}",
                    "scope": "shared",
                    "usage_count": 1,
                    "updated_at": now,
                },
                {
                    "id": "cr-refund",
                    "title": "Refund issued",
                    "shortcut": "refund",
                    "body": "Your refund is on its way.",
                    "scope": "shared",
                    "usage_count": 1,
                    "updated_at": now,
                },
                {
                    "id": "cr-lin",
                    "title": "Lin's own",
                    "shortcut": "lin",
                    "body": "Only Lin sees this.",
                    "scope": "personal",
                    "owner_id": "a-lin",
                    "usage_count": 9,
                    "updated_at": now,
                },
            ],
        )
    return store


# ---- models -------------------------------------------------------------------------------


def _brief(n: int, status: str = "open") -> TicketBrief:
    return TicketBrief(f"t-{n}", n, f"Subject {n}", status, datetime(2026, 1, 1, tzinfo=UTC))


def test_keyed_list_model_updates_in_place_and_passes_the_model_tester(
    qtmodeltester: Any,
) -> None:
    model = TicketBriefModel()
    qtmodeltester.check(model)
    resets: list[int] = []
    model.modelReset.connect(lambda: resets.append(1))
    rng = random.Random(7)
    for _ in range(200):
        rows = [_brief(n, rng.choice(["open", "pending"])) for n in rng.sample(range(12), 7)]
        model.set_rows(rows)
        assert list(model.rows) == rows
        assert [model.index(r, 0).data(Qt.ItemDataRole.UserRole + 1) for r in range(7)] == [
            r.id for r in rows
        ]
    qtmodeltester.check(model)
    assert resets == []
    # A persistent index (what a selection holds) follows its row through a move.
    model.set_rows([_brief(1), _brief(2), _brief(3)])
    from PySide6.QtCore import QPersistentModelIndex

    held = QPersistentModelIndex(model.index(2, 0))
    model.set_rows([_brief(3), _brief(1), replace(_brief(2), subject="Changed")])
    assert held.row() == 0
    assert "Changed" in str(model.index(2, 0).data())

    identities = IdentityModel()
    identities.set_rows([("email", "a@b.test"), ("phone", "+1555")])
    qtmodeltester.check(identities)
    assert identities.index(1, 0).data(Qt.ItemDataRole.EditRole) == "+1555"

    canned = CannedModel()
    canned.set_rows(
        [CannedItem("x", "Title", "sc", "Body", "shared", None, None, 3, False)] * 2
    )  # duplicate ids are kept once
    assert canned.rowCount() == 1
    qtmodeltester.check(canned)


def test_search_results_model_passes_the_model_tester(qtmodeltester: Any) -> None:
    model = SearchResultsModel()
    qtmodeltester.check(model)
    model.set_rows(
        [
            PaletteRow(RowKind.HEADER, "Tickets"),
            PaletteRow(
                RowKind.HIT, "#1 <b>x</b>", "a \x02b\x03 c", hit_kind="ticket", ticket_id="t"
            ),
            PaletteRow(RowKind.SERVER_ACTION, "Search older tickets on the server"),
        ]
    )
    qtmodeltester.check(model)
    model.replace(2, 1, [PaletteRow(RowKind.NOTICE, "Searching the server…")])
    model.replace(
        2, 1, [PaletteRow(RowKind.HEADER, "On the server"), PaletteRow(RowKind.NOTICE, "x")]
    )
    qtmodeltester.check(model)
    assert model.flags(model.index(0, 0)) & Qt.ItemFlag.ItemIsSelectable == Qt.ItemFlag(0)
    assert model.flags(model.index(1, 0)) & Qt.ItemFlag.ItemIsSelectable
    assert model.index(1, 0).data(TitleHtmlRole) == "#1 &lt;b&gt;x&lt;/b&gt;"
    assert model.index(1, 0).data(SnippetHtmlRole) == "a <b>b</b> c"
    model.set_rows(
        [PaletteRow(RowKind.HIT, "#1 <i>x</i> y", title_marks="<i>x</i> \x02y\x03", ticket_id="t")]
    )
    assert model.index(0, 0).data(TitleHtmlRole) == "#1 &lt;i&gt;x&lt;/i&gt; <b>y</b>"
    assert model.index(0, 0).data() == "#1 <i>x</i> y"


def test_snippets_are_escaped_and_only_matches_are_bold() -> None:
    assert snippet_html("the \x02printer\x03 jams") == "the <b>printer</b> jams"
    assert snippet_html("<script>\x02x\x03</script>") == "&lt;script&gt;<b>x</b>&lt;/script&gt;"
    assert snippet_html('a "b" & \x02c') == "a &quot;b&quot; &amp; <b>c</b>"
    assert snippet_html("stray \x03 and\nnewline") == "stray  and newline"
    # Brackets are text (a mail's "[EXTERNAL]"), never a match.
    assert snippet_html("[EXTERNAL] your \x02refund\x03 [1]") == (
        "[EXTERNAL] your <b>refund</b> [1]"
    )
    assert snippet_text("[EXTERNAL] your \x02refund\x03") == "[EXTERNAL] your refund"
    for text in HOSTILE:
        out = snippet_html(text).replace("<b>", "").replace("</b>", "")
        assert "<" not in out
        assert ">" not in out


def _shown(tip: str) -> str:
    """What a Qt tooltip shows for ``tip`` (Qt guesses whether it is rich text)."""
    from PySide6 import QtGui

    doc = QtGui.QTextDocument()
    if QtGui.Qt.mightBeRichText(tip):
        doc.setHtml(tip)
    else:
        doc.setPlainText(tip)
    return doc.toPlainText()


def test_tooltips_of_customer_text_show_markup_literally(qapp: Any) -> None:
    hostile = '<b>x</b><img src="http://evil.test/x.png">'
    briefs = TicketBriefModel()
    briefs.set_rows([replace(_brief(12), subject=hostile)])
    identities = IdentityModel()
    identities.set_rows([("email", hostile)])
    results = SearchResultsModel()
    results.set_rows([PaletteRow(RowKind.HIT, f"#12 {hostile}", hostile, ticket_id="t-12")])
    for model, literal in (
        (briefs, f"Ticket 12: {hostile} (open"),
        (identities, f"Email {hostile} (Ctrl+C copies it)"),
        (results, f"#12 {hostile}"),
    ):
        index = model.index(0, 0)
        tip = index.data(Qt.ItemDataRole.ToolTipRole)
        assert literal in _shown(tip), model
        assert "<img" not in tip  # escaped: nothing is fetched or drawn
        # Screen readers get the plain words, not escaped ones.
        assert literal in index.data(Qt.ItemDataRole.AccessibleTextRole)
    # Plain text stays as it was (escaping it would show the entities).
    briefs.set_rows([replace(_brief(1), subject="Tom & Jerry")])
    tip = briefs.index(0, 0).data(Qt.ItemDataRole.ToolTipRole)
    assert tip.startswith("Ticket 1: Tom & Jerry (")
    assert _shown(tip) == tip


def test_local_time_of_the_customer() -> None:
    noon = datetime(2026, 11, 23, 12, 5, tzinfo=UTC)
    assert local_time_text("Europe/Berlin", noon) == "13:05 local (UTC+1)"
    assert local_time_text("Asia/Kolkata", noon) == "17:35 local (UTC+5:30)"
    assert local_time_text("America/New_York", noon) == "07:05 local (UTC-5)"
    assert local_time_text("UTC", noon) == "12:05 local (UTC)"
    assert local_time_text("Not/AZone", noon) == ""
    assert local_time_text("", noon) == ""


def test_unknown_placeholders_are_highlighted_not_dropped() -> None:
    html = preview_html(
        "Hi <Ada>, {{Unknown.Thing}} and {{ticket.number}}", ("unknown.thing",), "#fc0"
    )
    assert "&lt;Ada&gt;" in html
    assert "background-color:#fc0; font-weight:bold'>{{Unknown.Thing}}</span>" in html
    assert "{{ticket.number}}" in html
    assert html.count("<span") == 1


# ---- customer panel -----------------------------------------------------------------------


def test_customer_panel_follows_the_customer_live(
    tmp_path: Path, aloop: asyncio.AbstractEventLoop, qtbot: Any, qtmodeltester: Any
) -> None:
    store = side_store(tmp_path)

    async def body() -> None:
        async with (
            running_server(store) as server,
            signed_in_bridges(tmp_path, server.url, "ada@example.com", "lin@example.com") as (
                ada,
                lin,
            ),
        ):
            noon = datetime(2026, 11, 23, 12, 5, tzinfo=UTC)
            panel = CustomerPanel(ada, clock=lambda: noon)
            qtbot.addWidget(panel)
            panel.show()
            assert "Open a conversation" in panel._empty.text()

            panel.show_customer("c-3")
            await until(lambda: panel.card is not None)
            assert panel.name_label.text() == "Grace Hopper"
            assert panel.tier_badge.text() == "★ VIP"
            assert panel.local_time_label.text() == "13:05 local (UTC+1)"
            assert panel.language_label.text() == "German (de)"
            assert list(panel.identities.rows) == [
                ("email", "customer3@mail.test"),
                ("phone", "+4930123456"),
            ]
            assert [t.id for t in panel.open_tickets.rows] == ["t-2"]
            assert [t.id for t in panel.past_tickets.rows] == ["t-5"]
            assert panel.totals_label.text() == "2 tickets in the last 90 days"
            qtmodeltester.check(panel.open_tickets)
            qtmodeltester.check(panel.identities)

            # Identities are copyable.
            panel.identity_view.setCurrentIndex(panel.identities.index(1, 0))
            panel.copy_identity()
            assert QGuiApplication.clipboard().text() == "+4930123456"

            # Another agent changes the customer: the panel follows, without a reset.
            resets: list[int] = []
            panel.identities.modelReset.connect(lambda: resets.append(1))
            await lin.engine.mutate(
                "customer.update",
                {
                    "customer_id": "c-3",
                    "changes": {
                        "notes": "Prefers a call <b>after</b> 3pm",
                        "tier": "gold",
                        "identities": [
                            {"id": "ci-3", "kind": "email", "value": "customer3@mail.test"},
                            {"id": "ci-3x", "kind": "chat", "value": "grace#1"},
                        ],
                    },
                },
            )
            await until(lambda: "Prefers a call" in panel.notes_label.text())
            assert panel.notes_label.textFormat() == Qt.TextFormat.PlainText
            assert panel.tier_badge.text() == "Gold"
            assert panel.tier_badge.textFormat() == Qt.TextFormat.PlainText  # data
            assert ("chat", "grace#1") in panel.identities.rows
            assert ("phone", "+4930123456") not in panel.identities.rows
            assert resets == []

            # ... and one of the customer's tickets: the solved one is reopened.
            await lin.engine.update_ticket("t-5", {"status": "open"})
            await until(lambda: [t.id for t in panel.past_tickets.rows] == [])
            assert {t.id for t in panel.open_tickets.rows} == {"t-2", "t-5"}

            # Enter on a ticket asks the window to open it.
            opened: list[str] = []
            panel.openTicket.connect(opened.append)
            panel.open_view.setFocus()
            panel.open_view.setCurrentIndex(panel.open_tickets.index(1, 0))
            qtbot.keyClick(panel.open_view, Qt.Key.Key_Return)
            assert opened == [panel.open_tickets.rows[1].id]

            # A past ticket too (ada solves t-2: it moves to the past list).
            await ada.engine.update_ticket("t-2", {"status": "solved"})
            await until(lambda: [t.id for t in panel.past_tickets.rows] == ["t-2"])
            where = panel.past_view.visualRect(panel.past_tickets.index(0, 0)).center()
            qtbot.mouseDClick(panel.past_view.viewport(), Qt.MouseButton.LeftButton, pos=where)
            assert opened[-1] == "t-2"

            # No tab open: the empty state; an unknown customer says so.
            panel.show_customer(None)
            assert panel.card is None
            assert "Open a conversation" in panel._empty.text()
            panel.show_customer("c-nobody")
            await until(lambda: "not on this workstation" in panel._empty.text())

    aloop.run_until_complete(body())


# ---- canned responses ---------------------------------------------------------------------


def test_canned_picker_filters_fills_and_counts_use(
    tmp_path: Path, aloop: asyncio.AbstractEventLoop, qtbot: Any, qtmodeltester: Any
) -> None:
    store = side_store(tmp_path)

    async def body() -> None:
        async with (
            running_server(store) as server,
            signed_in_bridges(tmp_path, server.url, "ada@example.com") as (ada,),
        ):
            picker = CannedPicker(ada)
            qtbot.addWidget(picker)
            picker.pick("t-2")
            # Most used first, then by title; Lin's personal one is not Ada's to see.
            await until(lambda: [i.id for i in picker.model.rows] == ["cr-refund", "cr-ship"])
            qtmodeltester.check(picker.model)
            assert not picker.edit_button.isEnabled()  # shared: an agent may not edit it

            qtbot.keyClicks(picker.search_edit, "SHIP")
            await until(lambda: [i.id for i in picker.model.rows] == ["cr-ship"])
            await until(lambda: picker._context is not None)
            assert "Hi Grace, ticket 2 has shipped." in picker.preview.toPlainText()
            assert "{{unknown.thing}}" in picker.preview.toPlainText()
            assert "background-color" in picker.preview.toHtml()
            assert picker.unknown_label.isVisibleTo(picker)
            assert "{{unknown.thing}}" in picker.unknown_label.text()

            # A filter over the body, too.
            picker.search_edit.setText("on its way")
            await until(lambda: [i.id for i in picker.model.rows] == ["cr-refund"])
            picker.search_edit.setText("ship")
            await until(lambda: [i.id for i in picker.model.rows] == ["cr-ship"])

            chosen: list[tuple[str, str, tuple[str, ...]]] = []
            picker.chosen.connect(lambda t, text, unknown: chosen.append((t, text, unknown)))
            qtbot.keyClick(picker.search_edit, Qt.Key.Key_Return)
            assert chosen == [
                (
                    "t-2",
                    "Hi Grace, ticket 2 has shipped. {{unknown.thing}} — Ada",
                    ("unknown.thing",),
                )
            ]
            assert not picker.isVisible()

            # The use is counted on the server and comes back: "Shipped" is now first.
            def used() -> Any:
                with store.connect() as conn:
                    return conn.execute(
                        select(T_CANNED.c.usage_count).where(T_CANNED.c.id == "cr-ship")
                    ).scalar()

            await until(lambda: used() == 2)

            # The awaitable form: Escape gives None, Enter the filled text.
            waiting = asyncio.ensure_future(picker.choose("t-2", "/"))
            await until(lambda: picker.isVisible() and picker.search_edit.text() == "")
            await until(lambda: [i.id for i in picker.model.rows] == ["cr-ship", "cr-refund"])
            qtbot.keyClick(picker, Qt.Key.Key_Escape)
            assert await waiting is None
            waiting = asyncio.ensure_future(picker.choose("t-2", "refund"))
            await until(lambda: [i.id for i in picker.model.rows] == ["cr-refund"])
            qtbot.keyClick(picker.search_edit, Qt.Key.Key_Return)
            assert await waiting == ("Your refund is on its way.", ())
            await ada.engine.wait_drained()

    aloop.run_until_complete(body())


def test_canned_create_edit_delete_round_trip_through_the_server(
    tmp_path: Path, aloop: asyncio.AbstractEventLoop, qtbot: Any
) -> None:
    store = side_store(tmp_path)

    def server_row(canned_id: str) -> Any:
        with store.connect() as conn:
            return conn.execute(select(T_CANNED).where(T_CANNED.c.id == canned_id)).first()

    async def body() -> None:
        async with (
            running_server(store) as server,
            signed_in_bridges(tmp_path, server.url, "ada@example.com", "sam@example.com") as (
                ada,
                sam,
            ),
        ):
            picker = CannedPicker(ada)
            qtbot.addWidget(picker)
            picker.pick("t-2")
            await until(lambda: picker.model.rowCount() == 2)

            # New: an agent may only keep personal responses.
            picker.new_response()
            editor = picker.editor
            assert isinstance(editor, CannedEditor)
            assert editor.scope_combo.count() == 1
            assert not editor.scope_combo.isEnabled()
            assert editor.placeholder_list.count() >= 10
            editor.save()  # empty: says what is missing, queues nothing
            assert "title" in editor.error_label.text()
            assert editor.isVisible()
            editor.title_edit.setText("Greeting")
            editor.shortcut_edit.setText("/hi")
            editor.body_edit.setPlainText("Hello ")
            editor.body_edit.moveCursor(QTextCursor.MoveOperation.End)
            editor.placeholder_list.setCurrentRow(1)  # customer.first_name
            editor.insert_placeholder()
            assert editor.body_edit.toPlainText() == "Hello {{customer.first_name}}"
            created: list[str] = []
            editor.saved.connect(created.append)
            editor.save()
            await until(lambda: bool(created))
            canned_id = created[0]
            await until(lambda: picker.model.row_of(canned_id) >= 0)
            row = server_row(canned_id)
            assert row is not None
            assert (row.scope, row.owner_id, row.shortcut) == ("personal", "a-ada", "hi")
            assert picker.select(canned_id)
            assert picker.edit_button.isEnabled()
            assert picker.delete_button.isEnabled()
            await until(lambda: "Hello Grace" in picker.preview.toPlainText())

            # Edit it.
            picker.edit_current()
            editor = picker.editor
            assert isinstance(editor, CannedEditor)
            assert editor.title_edit.text() == "Greeting"
            editor.title_edit.setText("Warm greeting")
            editor.save()
            await until(lambda: any(i.title == "Warm greeting" for i in picker.model.rows))
            assert server_row(canned_id).title == "Warm greeting"

            # Delete it (confirmed).
            picker.select(canned_id)
            picker.request_delete()
            from PySide6.QtWidgets import QMessageBox

            box = picker.findChild(QMessageBox)
            assert box is not None
            box.button(QMessageBox.StandardButton.Yes).click()
            await until(lambda: picker.model.row_of(canned_id) < 0)
            assert server_row(canned_id) is None

            picker.select("cr-ship")

            # A supervisor may make shared and group responses.
            lead = CannedEditor(sam)
            qtbot.addWidget(lead)
            scopes = [lead.scope_combo.itemData(i) for i in range(lead.scope_combo.count())]
            assert ("shared", None) in scopes
            assert ("group", "g-care") in scopes
            lead.title_edit.setText("Care hours")
            lead.body_edit.setPlainText("We are here 9 to 5.")
            lead.scope_combo.setCurrentIndex(scopes.index(("group", "g-care")))
            saved: list[str] = []
            lead.saved.connect(saved.append)
            lead.save()
            await until(lambda: bool(saved))
            await sam.engine.wait_drained()
            row = server_row(saved[0])
            assert (row.scope, row.group_id) == ("group", "g-care")
            # ... and Ada, in Care, sees it arrive in her open picker, her choice kept.
            await until(lambda: picker.model.row_of(saved[0]) >= 0)
            current = picker.current_item()
            assert current is not None
            assert current.id == "cr-ship"

    aloop.run_until_complete(body())


def test_canned_edit_rights_are_the_servers_own_rule(
    tmp_path: Path, aloop: asyncio.AbstractEventLoop, qtbot: Any
) -> None:
    """Ada (an agent in Care) and Sam (a supervisor) look at Care's group response: the
    picker lets each edit it, and the editor offers each the scopes, exactly as the server
    then decides when they try."""
    store = side_store(tmp_path)
    with store.begin() as conn:
        conn.execute(
            insert(T_CANNED).values(
                id="cr-care",
                title="Care hours",
                shortcut="hours",
                body="We are here 9 to 5.",
                scope="group",
                group_id="g-care",
                usage_count=0,
                updated_at=utcnow(),
            )
        )
    tried = [("personal", None), ("shared", None), ("group", "g-care"), ("group", "g-billing")]

    async def look_and_try(bridge: Bridge) -> None:
        picker = CannedPicker(bridge)
        qtbot.addWidget(picker)
        picker.pick("t-2")
        await until(lambda: picker.model.row_of("cr-care") >= 0)
        assert picker.select("cr-care")
        item = picker.current_item()
        assert item is not None
        offers_edit = picker.edit_button.isEnabled()
        assert offers_edit == item.editable == picker.delete_button.isEnabled()
        editor = CannedEditor(bridge)
        qtbot.addWidget(editor)
        combo = editor.scope_combo
        offered = {tuple(combo.itemData(i)) for i in range(combo.count())}

        # Now ask the server: a response of every scope, and a change of Care's.
        for n, (scope, group_id) in enumerate(tried):
            canned = {"title": f"Try {n}", "body": "Text", "scope": scope}
            if group_id is not None:
                canned["group_id"] = group_id
            args = {"canned_id": f"try-{bridge.agent_id}-{n}", "canned": canned}
            await bridge.engine.mutate("canned.create", args)
        change = {"canned_id": "cr-care", "changes": {"title": "Care hours (new)"}}
        await bridge.engine.mutate("canned.update", change)
        await bridge.engine.wait_drained()
        refused = await bridge.conversations.refusals()
        assert {r.code for r in refused} <= {"forbidden"}
        refused_scopes = {
            (r.args["canned"]["scope"], r.args["canned"].get("group_id"))
            for r in refused
            if r.name == "canned.create"
        }
        assert offered == set(tried) - refused_scopes
        assert offers_edit == ("canned.update" not in {r.name for r in refused})

    async def body() -> None:
        async with (
            running_server(store) as server,
            signed_in_bridges(tmp_path, server.url, "ada@example.com", "sam@example.com") as (
                ada,
                sam,
            ),
        ):
            for bridge in (ada, sam):
                await look_and_try(bridge)
            # The rule itself: an agent keeps personal responses only, a supervisor any.
            assert ada.canned.scopes(ada.directory) == (("personal", None),)
            assert set(sam.canned.scopes(sam.directory)) == set(tried)

    aloop.run_until_complete(body())


# ---- search palette -----------------------------------------------------------------------


def _hits(palette: SearchPalette) -> list[PaletteRow]:
    return [r for r in palette.model.rows if r.kind == RowKind.HIT]


def _current(palette: SearchPalette) -> PaletteRow | None:
    return palette.model.row_at(palette.results_view.currentIndex())


async def _search(
    palette: SearchPalette, query: str, found: Callable[[], object] = lambda: True
) -> None:
    """Type ``query`` and wait for its results to show ``found()``.

    The desk's search indexer indexes new rows in the background and a search never waits long for
    it, so right after sign-in an answer may be partial: search again until it is whole.
    """
    shown: list[str] = []
    palette.resultsShown.connect(shown.append)
    try:
        palette.query_edit.setText(query)
        await until(lambda: query.strip() in shown)
        while not found():
            shown.clear()
            palette._search_now()
            await until(lambda: query.strip() in shown)
    finally:
        palette.resultsShown.disconnect(shown.append)


def test_search_palette_finds_opens_and_asks_the_server(
    tmp_path: Path, aloop: asyncio.AbstractEventLoop, qtbot: Any, qtmodeltester: Any
) -> None:
    store = side_store(tmp_path)

    async def body() -> None:
        async with (
            running_server(store) as server,
            signed_in_bridges(tmp_path, server.url, "ada@example.com") as (ada,),
        ):
            palette = SearchPalette(ada)
            qtbot.addWidget(palette)
            tickets: list[str] = []
            customers: list[str] = []
            palette.openTicket.connect(tickets.append)
            palette.openCustomer.connect(customers.append)
            palette.open()
            assert palette.isVisible()

            # A number jumps to the ticket: it is first and current; Enter opens it.
            qtbot.keyClicks(palette.query_edit, "#2")
            qtbot.keyClick(palette.query_edit, Qt.Key.Key_Return)  # before the debounce
            await until(lambda: tickets == ["t-2"])
            assert not palette.isVisible()
            assert "ms" in palette.status_label.text()
            qtmodeltester.check(palette.model)

            # A subject word.
            palette.open()
            await _search(palette, "printer", lambda: _hits(palette))
            top = _hits(palette)[0]
            assert (top.hit_kind, top.ticket_id) == ("ticket", "t-2")
            index = palette.model.index(palette.model.rows.index(_hits(palette)[0]), 0)
            # The match is in the subject: marked there, not repeated as a snippet.
            assert str(index.data(TitleHtmlRole)) == "#2 <b>Printer</b> jams"
            assert index.data(SnippetHtmlRole) == ""

            # A customer's email: Enter on the customer opens the customer.
            await _search(
                palette,
                "customer3@mail.test",
                lambda: any(h.customer_id == "c-3" for h in _hits(palette)),
            )
            assert any(h.customer_id == "c-3" for h in _hits(palette))
            while (row := _current(palette)) is not None and row.hit_kind != "customer":
                qtbot.keyClick(palette.query_edit, Qt.Key.Key_Down)
            qtbot.keyClick(palette.query_edit, Qt.Key.Key_Return)
            assert customers == ["c-3"]

            # Message text, under "Messages", with its markup shown as text.
            palette.open()
            await _search(palette, "flux capacitor", lambda: _hits(palette))
            hit = next(h for h in _hits(palette) if h.hit_kind == "message")
            assert hit.ticket_id == "t-2"
            headers = [r.title for r in palette.model.rows if r.kind == RowKind.HEADER]
            assert headers == ["Messages"]
            row_index = palette.model.index(palette.model.rows.index(hit), 0)
            assert "&lt;b&gt;" in str(row_index.data(SnippetHtmlRole))

            # Up and Down skip headers and stop at the ends.
            qtbot.keyClick(palette.query_edit, Qt.Key.Key_Up)
            first = _current(palette)
            assert first is not None
            assert first.selectable

            # Stale answers never replace newer ones.
            shown: list[str] = []
            palette.resultsShown.connect(shown.append)
            palette.query_edit.setText("printer")
            palette._search_now()
            palette.query_edit.setText("flux")
            palette._search_now()
            await until(lambda: "flux" in shown)
            assert shown == ["flux"]
            palette.resultsShown.disconnect(shown.append)

            # Hostile queries: no crash, nothing interpreted as markup.
            for query in HOSTILE:
                palette.query_edit.setText(query)
                palette._search_now()
                if wanted := palette.query_edit.text().strip():
                    await until(lambda q=wanted: palette._query == q)  # type: ignore[misc]
                for n in range(palette.model.rowCount()):
                    for role in (TitleHtmlRole, SnippetHtmlRole):
                        text = str(palette.model.index(n, 0).data(role) or "")
                        assert "<script" not in text
                        assert "<img" not in text
                qtmodeltester.check(palette.model)

            # Older tickets on the server; opening one fetches it first.
            await _search(palette, "Ticket", lambda: len(_hits(palette)) >= 2)
            action = palette.model.find(RowKind.SERVER_ACTION)
            assert palette.model.rows[action].title == "Search older tickets on the server"
            server_shown: list[str] = []
            palette.serverResultsShown.connect(server_shown.append)
            palette._activate_index(palette.model.index(action, 0))
            await until(lambda: server_shown == ["Ticket"])
            server_hits = [r for r in palette.model.rows if r.kind == RowKind.SERVER_HIT]
            assert {r.ticket_id for r in server_hits} == {"t-1", "t-5"}  # t-2 is "Printer…"
            assert any(r.title == "On the server" for r in palette.model.rows)
            qtmodeltester.check(palette.model)
            palette._activate_index(
                palette.model.index(palette.model.rows.index(server_hits[0]), 0)
            )
            await until(lambda: tickets[-1] == server_hits[0].ticket_id)

            # A number that is not on this workstation: offer to fetch it; the server
            # says it is not Ada's to see, in plain words.
            palette.open()
            await _search(palette, "3")
            fetch = palette.model.find(RowKind.FETCH_NUMBER)
            assert fetch >= 0
            palette._activate_index(palette.model.index(fetch, 0))
            await until(lambda: "no such ticket" in palette.status_label.text())

            # Offline: the server rows say so and cannot be chosen.
            await ada.engine.stop()
            await until(lambda: ada.status.state != ConnectionState.ONLINE)
            action = palette.model.find(RowKind.SERVER_ACTION)
            assert palette.model.rows[action].title.startswith("Offline")
            assert not palette.model.flags(palette.model.index(action, 0)) & (
                Qt.ItemFlag.ItemIsSelectable
            )
            fetch = palette.model.find(RowKind.FETCH_NUMBER)
            assert "offline" in palette.model.rows[fetch].title
            await _search(palette, "printer ")
            action = palette.model.find(RowKind.SERVER_ACTION)
            assert "Offline" in palette.model.rows[action].title
            palette.search_server()  # does nothing harmful offline
            assert palette.model.find(RowKind.SERVER_ACTION) == action

    aloop.run_until_complete(body())


def test_search_palette_recovers_when_the_local_search_fails(
    tmp_path: Path, aloop: asyncio.AbstractEventLoop, qtbot: Any, monkeypatch: Any
) -> None:
    store = side_store(tmp_path)

    async def body() -> None:
        async with (
            running_server(store) as server,
            signed_in_bridges(tmp_path, server.url, "ada@example.com") as (ada,),
        ):
            palette = SearchPalette(ada)
            qtbot.addWidget(palette)
            tickets: list[str] = []
            palette.openTicket.connect(tickets.append)
            real = ada.search.everywhere
            failing = [True]

            async def search(query: str, limit: int = 50) -> Any:
                if failing[0]:
                    raise OSError("disk I/O error")
                return await real(query, limit)

            monkeypatch.setattr(ada.search, "everywhere", search)
            palette.open()
            shown: list[str] = []
            palette.resultsShown.connect(shown.append)
            qtbot.keyClicks(palette.query_edit, "#2")
            qtbot.keyClick(palette.query_edit, Qt.Key.Key_Return)  # waits for the answer
            await until(lambda: "#2" in shown)
            assert tickets == []
            assert "failed" in palette.status_label.text()
            assert "disk I/O error" in palette.status_label.text()
            assert not palette._searching
            # The server can still be asked; the failure is said in a row, too.
            kinds = [r.kind for r in palette.model.rows]
            assert RowKind.NOTICE in kinds
            assert RowKind.SERVER_ACTION in kinds

            # The search works again: Enter opens what it finds (it did not stay stuck).
            failing[0] = False
            shown.clear()
            palette._search_now()
            await until(lambda: "#2" in shown)
            qtbot.keyClick(palette.query_edit, Qt.Key.Key_Return)
            await until(lambda: tickets == ["t-2"])

    aloop.run_until_complete(body())
