"""The scenes of ``make screenshots`` (imported by tools/screenshots.py once the environment
is isolated, so platform directories already point at a temporary home)."""

from __future__ import annotations

import asyncio
from pathlib import Path

from PySide6.QtCore import QPoint, QSettings
from PySide6.QtGui import QPainter, QPixmap
from PySide6.QtWidgets import QApplication, QWidget

from app.cli import EmbeddedServer
from app.ui import session, theme
from app.ui.bridge import Bridge
from app.ui.desk.window import DeskWindow
from tools.screenshots import settle, until

DEMO_PASSWORD = "demo"  # noqa: S105 (the published demo password)


def compose(window: QWidget, *popups: QWidget) -> QPixmap:
    """The window with its open popups painted where they are, as the screen would show."""
    shot = window.grab()
    painter = QPainter(shot)
    for popup in popups:
        if popup.isVisible():
            where = popup.mapToGlobal(QPoint(0, 0)) - window.mapToGlobal(QPoint(0, 0))
            painter.drawPixmap(where, popup.grab())
    painter.end()
    return shot


async def signed_in(url: str, email: str) -> Bridge:
    current = await session.sign_in(url, email, DEMO_PASSWORD, keep=False)
    bridge = await session.open_bridge(current)
    await bridge.engine.wait_online(120)
    await bridge.reload_directory()
    return bridge


async def scenes(out: Path, size: tuple[int, int], url: str) -> None:
    out.mkdir(parents=True, exist_ok=True)
    ada = await signed_in(url, "ada@example.com")
    settings = QSettings(str(out.parent / ".screenshots-settings.ini"), QSettings.Format.IniFormat)
    settings.clear()
    window = DeskWindow(ada, settings, "screenshots")
    window.resize(*size)
    await window.load()
    window.show()
    window.resize(*size)
    model = window.ticket_model
    await until(lambda: model.rowCount() > 0 and model.ticket(0) is not None)
    # Open three of the agent's tickets, the last one current.
    ids = [model.ticket_id(r) for r in range(min(3, model.rowCount()))]
    for tid in ids:
        if tid:
            window.open_ticket(tid)
    window.ticket_table.select_ids([i for i in ids[-1:] if i])
    await settle(1.5)
    window.grab().save(str(out / "desk.png"))
    print(f"wrote {out / 'desk.png'}")


def run_scenes(out: Path, size: tuple[int, int]) -> int:
    import qasync

    app = QApplication.instance() or QApplication([])
    assert isinstance(app, QApplication)
    theme.apply_theme(app, "light")
    server = EmbeddedServer(0)
    url = server.start()
    loop = qasync.QEventLoop(app)
    asyncio.set_event_loop(loop)
    try:
        with loop:
            loop.run_until_complete(scenes(out, size, url))
    finally:
        server.stop()
    return 0
