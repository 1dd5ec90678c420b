"""@mentions, end to end with real widgets and a real server: "@" in a note offers the team
and inserts the token; the server records the mention (not for replies, the author, or an
address's "@"); the mentioned agent finds it in the Mentions list with its unread count, is
told when it arrives, and reading it (opening its ticket) is recorded; mentions are
highlighted in the thread."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

from PySide6.QtCore import QRect, QSettings, Qt
from PySide6.QtGui import QColor, QImage, QPainter
from PySide6.QtTest import QTest
from pytestqt.qtbot import QtBot
from sqlalchemy import select

from app.models.entities import Mention
from app.models.enums import MessageKind
from app.ui.desk.window import DeskWindow
from app.ui.mentions.highlight import draw_body, mention_spans
from tests.ui_world import (
    collect_garbage_on_the_ui_thread,  # noqa: F401 (autouse)
    signed_in_bridges,
    until,
)
from tests.world import make_store, running_server


def _stored_mentions(store: Any) -> list[tuple[str, str | None, str, bool]]:
    with store.connect() as conn:
        rows = conn.execute(
            select(Mention.agent_id, Mention.by_agent_id, Mention.ticket_id, Mention.seen_at)
        ).all()
    return sorted((r[0], r[1], r[2], r[3] is not None) for r in rows)


async def _desk(bridge: Any, tmp: Path, name: str, qtbot: QtBot) -> DeskWindow:
    settings = QSettings(str(tmp / f"{name}.ini"), QSettings.Format.IniFormat)
    window = DeskWindow(bridge, settings, name)
    qtbot.addWidget(window)
    await window.load()
    window.show()
    return window


def test_a_mention_is_offered_recorded_found_and_read(
    tmp_path: Path, aloop: asyncio.AbstractEventLoop, qtbot: QtBot
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
            ada_desk = await _desk(ada, tmp_path, "ada", qtbot)
            panel = ada_desk.views.mentions
            assert panel.title.text() == "Mentions"
            assert panel.empty.isVisibleTo(panel)
            told: list[str] = []
            ada_desk.tray.notified.connect(lambda title, _text, _tid: told.append(title))

            # Lin, in an internal note, types "@ad": Ada is offered, Enter inserts her handle.
            lin_desk = await _desk(lin, tmp_path, "lin", qtbot)
            lin_desk.open_ticket("t-1")
            view = lin_desk.tabs.view("t-1")
            assert view is not None
            await until(lambda: view.conversation is not None)
            composer = view.composer
            composer.set_kind(MessageKind.NOTE)
            lin_desk.activateWindow()
            composer.editor.setFocus()
            QTest.keyClicks(composer.editor, "Could you check this, @ad")
            completer = view.mentions
            await until(lambda: completer.popup.isVisible(), 3)
            assert str(completer.popup.currentIndex().data()) == "Ada (@ada)"
            QTest.keyClick(completer.popup, Qt.Key.Key_Return)
            await until(lambda: composer.editor.toPlainText() == "Could you check this, @ada ")
            assert not completer.popup.isVisible()
            # In a public reply "@" offers nobody: the customer must not read handles.
            composer.set_kind(MessageKind.REPLY)
            QTest.keyClicks(composer.editor, "@li")
            assert not completer.popup.isVisible()
            composer.set_kind(MessageKind.NOTE)

            # Sent as a note; a reply naming Ada, Lin's own handle and an address do not count.
            await lin.engine.reply("t-1", composer.editor.toPlainText(), kind="note")
            await lin.engine.reply("t-1", "@ada will follow up")  # a public reply
            await lin.engine.reply(
                "t-1", "Reminder to self @lin; mail ada@example.com", kind="note"
            )
            await lin.engine.wait_drained()
            assert _stored_mentions(store) == [("a-ada", "a-lin", "t-1", False)]

            # Ada finds it: counted, listed, and told on the desk.
            await until(lambda: panel.unread == 1, 10)
            assert panel.title.text() == "Mentions (1 unread)"
            row = panel.list.item(0)
            assert row is not None
            assert row.text().startswith("Lin on #1 Ticket 1: “Could you check this, @ada")
            assert row.font().bold()
            # Told as it arrives: by the tray, or on the desk where there is no tray.
            await until(lambda: told == ["Lin mentioned you"])

            # Enter opens the ticket and marks the mention read, here and on the server.
            # The list is rebuilt as changes arrive: activate the row shown now.
            panel.list.setCurrentRow(0)
            row = panel.list.item(0)
            assert row is not None
            panel.list.itemActivated.emit(row)
            await until(lambda: ada_desk.tabs.current_ticket_id() == "t-1")
            await until(lambda: panel.unread == 0, 10)
            assert panel.title.text() == "Mentions"
            await ada.engine.wait_drained()
            assert _stored_mentions(store) == [("a-ada", "a-lin", "t-1", True)]
            await ada_desk.tabs.close_all()
            await lin_desk.tabs.close_all()

    aloop.run_until_complete(body())


def test_mentions_are_highlighted_where_the_thread_paints_them(qapp: Any) -> None:
    text = "Thanks @ada — see lin@example.com and @bob."
    assert [text[s : s + n] for s, n in mention_spans(text)] == ["@ada", "@bob"]
    accent = QColor("#ff0000")

    def reds(body: str) -> int:
        image = QImage(400, 60, QImage.Format.Format_ARGB32)
        image.fill(QColor("white"))
        painter = QPainter(image)
        painter.setPen(QColor("black"))
        draw_body(painter, QRect(0, 0, 400, 60), int(Qt.TextFlag.TextWordWrap), body, accent)
        painter.end()
        return sum(
            1
            for x in range(image.width())
            for y in range(image.height())
            if (c := image.pixelColor(x, y)).red() > 200 and c.green() < 120
        )

    assert reds(text) > 20
    assert reds("Thanks, see lin@example.com") == 0
