"""Attachments in the desk, with real widgets against a real server on port 0.

Ada attaches a picture and a PDF to a reply (and a pasted screenshot she then removes); a
file over the server's limit is refused at once in words that name the limit.  Lin's desk
shows the picture as a thumbnail (fetched because it was shown, decoded off the UI thread)
and the PDF as a chip that is fetched only when opened, says "Unavailable offline" when it
cannot be, and opens offline once it was fetched.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

from PySide6.QtCore import QMimeData, QPoint, QPointF, Qt, QUrl
from PySide6.QtGui import QColor, QDragEnterEvent, QDropEvent, QGuiApplication, QImage
from PySide6.QtTest import QTest
from PySide6.QtWidgets import QApplication
from sqlalchemy import func, select

from app.models.tables import T_ATTACHMENTS, T_BLOBS
from app.sync.engine.attachments import AttachedFile
from app.ui.bridge import Bridge
from app.ui.conversation.attachments import screenshot_name
from app.ui.conversation.view import ConversationView
from tests.ui_world import signed_in_bridge, until
from tests.world import make_store, running_server

LIMIT = 300_000


def _picture(path: Path) -> Path:
    image = QImage(640, 400, QImage.Format.Format_RGB32)
    image.fill(QColor("#2f6fdf"))
    assert image.save(str(path), "PNG")  # type: ignore[call-overload]  # the stubs say bytes
    return path


def _pdf(path: Path, size: int = 40_000) -> Path:
    path.write_bytes(b"%PDF-1.4\n" + bytes(range(256)) * (size // 256))
    return path


_KEPT: dict[int, int] = {}


def _kept(bridge: Bridge) -> int:
    """How many composer files the engine keeps for t-1 (read in the background)."""

    def read(files: list[AttachedFile]) -> None:
        _KEPT[id(bridge)] = len(files)

    bridge.run(bridge.engine.attachments.composer_files("t-1"), on_result=read)
    return _KEPT.get(id(bridge), -1)


def _view(bridge: Bridge, qtbot: Any, ticket_id: str = "t-1") -> ConversationView:
    view = ConversationView(bridge, ticket_id)
    qtbot.addWidget(view)
    view.resize(1000, 700)
    view.show()
    return view


def test_attach_send_and_see_files_on_another_desk(
    tmp_path: Path, aloop: asyncio.AbstractEventLoop, qtbot: Any
) -> None:
    store = make_store(f"sqlite:///{tmp_path / 'server.db'}")
    picture = _picture(tmp_path / "router lights.png")
    pdf = _pdf(tmp_path / "warranty.pdf")
    huge = tmp_path / "recording.wav"
    huge.write_bytes(b"\0" * (LIMIT + 1))

    async def body() -> None:
        async with running_server(store, attachment_limit=LIMIT) as server:
            ada = await signed_in_bridge(tmp_path / "ada", server.url, "ada@example.com")
            lin = await signed_in_bridge(tmp_path / "lin", server.url, "lin@example.com")
            try:
                view = _view(ada, qtbot)
                await until(lambda: view.conversation is not None)
                composer, tray = view.composer, view.attachments.tray
                assert not composer.send_button.isEnabled()
                # Over the limit: refused at once, the limit in the words, no chip.
                view.attachments.attach_paths([huge])
                await until(lambda: composer.notice.isVisibleTo(view))
                assert "at most 300 KB" in composer.notice.label.text()
                assert "recording.wav" in composer.notice.label.text()
                view.attachments.attach_paths([picture, pdf])
                await until(lambda: len(tray.chips) == 2)
                assert [c.attached.file_name for c in tray.chips] == [
                    "router lights.png",
                    "warranty.pdf",
                ]
                assert tray.chips[0].attached.width == 640
                assert composer.send_button.isEnabled()  # files alone can be sent
                # A pasted screenshot becomes a named PNG chip; its remove button takes it off.
                shot = QImage(300, 200, QImage.Format.Format_RGB32)
                shot.fill(QColor("white"))
                QGuiApplication.clipboard().setImage(shot)
                composer.editor.setFocus()
                QTest.keyClick(composer.editor, Qt.Key.Key_V, Qt.KeyboardModifier.ControlModifier)
                await until(lambda: len(tray.chips) == 3)
                name = tray.chips[2].attached.file_name
                assert name.startswith("Screenshot ")
                assert name.endswith(".png")
                assert composer.editor.toPlainText() == ""  # the picture did not go in as text
                QTest.mouseClick(tray.chips[2].remove_button, Qt.MouseButton.LeftButton)
                await until(lambda: len(tray.chips) == 2)

                # Files dropped on the thread are attached too (a drop on the text as well).
                dropped = _pdf(tmp_path / "dropped.pdf", 3000)
                mime = QMimeData()
                mime.setUrls([QUrl.fromLocalFile(str(dropped))])
                target = view.thread_view.viewport()
                spot = QPointF(target.rect().center())
                buttons, mods = Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier
                enter = QDragEnterEvent(
                    spot.toPoint(), Qt.DropAction.CopyAction, mime, buttons, mods
                )
                QApplication.sendEvent(target, enter)
                assert enter.isAccepted()
                drop = QDropEvent(spot, Qt.DropAction.CopyAction, mime, buttons, mods)
                QApplication.sendEvent(target, drop)
                await until(lambda: len(tray.chips) == 3)
                assert tray.chips[2].attached.file_name == "dropped.pdf"
                QTest.mouseClick(tray.chips[2].remove_button, Qt.MouseButton.LeftButton)
                await until(lambda: len(tray.chips) == 2)

                # The tab closes before sending: its files are kept, and come back with it.
                await until(lambda: _kept(ada) == 2)
                view.shutdown()
                view.close()
                view = _view(ada, qtbot)
                composer, tray = view.composer, view.attachments.tray
                await until(lambda: len(tray.chips) == 2 and view.conversation is not None)
                view.activateWindow()  # the keys below go to this window's shortcuts
                composer.editor.setFocus()
                await until(lambda: QApplication.activeWindow() is view)
                assert [c.attached.file_name for c in tray.chips] == [
                    "router lights.png",
                    "warranty.pdf",
                ]

                QTest.keyClicks(composer.editor, "Photo and warranty attached.")
                QTest.keyClick(
                    composer.editor, Qt.Key.Key_Return, Qt.KeyboardModifier.ControlModifier
                )
                await until(lambda: not tray.chips and not tray.isVisible())
                # In the thread at once, files and all (still waiting to be sent).
                mine = view.attachments.thread_files
                await until(lambda: [len(v) for v in mine.by_message.values()] == [2])
                await ada.engine.wait_drained()
                with store.connect() as conn:
                    # Two: the screenshot removed before sending never left the workstation.
                    assert conn.execute(select(func.count()).select_from(T_BLOBS)).scalar() == 2
                    names = set(conn.execute(select(T_ATTACHMENTS.c.file_name)).scalars())
                assert names == {"router lights.png", "warranty.pdf"}
                names_in_order = ("router lights.png", "warranty.pdf")

                # Lin's desk: the picture is a thumbnail once shown; the PDF waits to be opened.
                other = _view(lin, qtbot)
                files = other.attachments.thread_files
                await until(lambda: sum(len(v) for v in files.by_message.values()) == 2, 20)
                (item_png, item_pdf) = next(iter(files.by_message.values()))  # as attached
                assert (item_png.file_name, item_pdf.file_name) == names_in_order
                model = other.thread_view.thread_model
                # The files and the thread are read apart: the message's row may come second.
                await until(lambda: model.row_of(item_png.message_id) is not None)
                row = model.row_of(item_png.message_id)
                assert row is not None
                spoken = str(model.index(row).data(Qt.ItemDataRole.AccessibleTextRole))
                assert "Attached files: router lights.png (" in spoken
                assert "), warranty.pdf (40 KB)" in spoken
                other.thread_view.scrollToBottom()
                other.thread_view.viewport().update()
                await until(lambda: files.has_thumbnail(item_png.sha256), 20)
                assert not files._thumbs[item_png.sha256].isNull()
                assert lin.engine.attachments.local_path(item_pdf.sha256) is None

                opened: list[QUrl] = []

                def record(url: QUrl) -> bool:
                    opened.append(url)
                    return True

                files.open_url = record
                await lin.engine.stop()  # offline, never fetched: unavailable, said so
                files.open(item_pdf)
                await until(lambda: other.composer.notice.isVisibleTo(other))
                assert "unavailable offline" in other.composer.notice.label.text()
                assert files._state_text(item_pdf) == "Unavailable offline"
                assert opened == []

                lin.engine.start()
                await lin.engine.wait_online(20)
                other.thread_view.viewport().repaint()
                hits = [r for r, i in files._hits.values().__iter__().__next__() if i == item_pdf]
                assert hits, "the PDF chip was painted"
                QTest.mouseDClick(
                    other.thread_view.viewport(), Qt.MouseButton.LeftButton, pos=hits[0].center()
                )
                await until(lambda: len(opened) == 1, 20)
                path = Path(opened[0].toLocalFile())
                assert path.name == "warranty.pdf"
                assert path.read_bytes() == pdf.read_bytes()  # noqa: ASYNC240 (a small file)

                await lin.engine.stop()  # kept: it opens offline now
                files.open(item_pdf)
                await until(lambda: len(opened) == 2)
                assert opened[1] == opened[0]
                # Programs are never opened, only saved.
                assert files.item_at(QPoint(-5, -5)) is None
            finally:
                await ada.shutdown()
                await lin.shutdown()

    aloop.run_until_complete(body())


def test_screenshot_names_read_like_the_systems() -> None:
    from datetime import datetime

    assert (
        screenshot_name(datetime(2026, 12, 8, 14, 2, 9)) == "Screenshot 2026-12-08 at 14.02.09.png"
    )
