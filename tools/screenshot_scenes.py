"""The scenes of ``make screenshots`` (imported by tools/screenshots.py once the environment
is isolated, so platform directories already point at a temporary home)."""

from __future__ import annotations

import asyncio
from pathlib import Path

from PySide6.QtCore import QPoint, QSettings
from PySide6.QtGui import QPainter, QPixmap
from PySide6.QtTest import QTest
from PySide6.QtWidgets import QApplication, QWidget

from app.cli import EmbeddedServer
from app.sync.desk_types import TicketSort, ViewSpec
from app.ui import session, theme
from app.ui.bridge import Bridge
from app.ui.conversation.view import ConversationView
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


async def conversation(window: DeskWindow, ticket_id: str) -> ConversationView:
    window.open_ticket(ticket_id)
    view = window.tabs.view(ticket_id)
    assert view is not None
    await until(lambda: view.thread_view.thread_model.rowCount() > 0)
    return view


def save(shot: QPixmap, out: Path, name: str) -> None:
    path = out / f"{name}.png"
    shot.save(str(path))
    print(f"wrote {path}")


async def scenes(out: Path, size: tuple[int, int], url: str) -> tuple[Bridge, DeskWindow]:
    ada = await signed_in(url, "ada@example.com")
    lin = await signed_in(url, "lin@example.com")
    settings = QSettings(str(Path.home() / "screenshots.ini"), QSettings.Format.IniFormat)
    settings.clear()
    window = DeskWindow(ada, settings, "screenshots")
    window.resize(*size)
    await window.load()
    window.show()
    window.resize(*size)
    model = window.ticket_model
    await until(lambda: model.rowCount() > 0 and model.ticket(0) is not None)

    # 1. The desk: the agent's open tickets, three conversations open, the last one current.
    ids = [t for r in range(min(12, model.rowCount())) if (t := model.ticket_id(r))]
    for tid in ids[:3]:
        await conversation(window, tid)
    window.ticket_table.select_ids(ids[2:3])
    await settle(1.0)
    save(window.grab(), out, "desk")

    # 2. The customer panel: a VIP's conversation, with their history beside it.
    vip = await _ticket_of_tier(ada, ("vip", "gold"), skip=set(ids[:3]))
    if vip is not None:
        await conversation(window, vip)
        await settle(0.8)
    save(window.grab(), out, "customer")

    # 3. Canned responses: "/" typed in the composer opens the picker, filtered as typed.
    current = window.tabs.current_ticket_id()
    assert current is not None
    view = window.tabs.view(current)
    assert view is not None
    QTest.keyClicks(view.composer.editor, "/")
    await until(window.canned.isVisible)
    QTest.keyClicks(window.canned.search_edit, "refund")
    await settle(0.8)
    save(compose(window, window.canned), out, "canned")
    window.canned.reject()
    view.composer.editor.clear()

    # 4. Search everywhere (Ctrl+K).
    window.search.open()
    QTest.keyClicks(window.search.query_edit, "refund jacket")
    await settle(0.8)
    save(compose(window, window.search), out, "search")
    window.search.hide()

    # 5. A conflict: Lin changes the status while Ada, offline for a moment, changes it too.
    target = ids[3] if len(ids) > 3 else ids[0]
    on_ada = await conversation(window, target)
    await ada.engine.stop()
    lin_row = (await lin.tickets.ticket_rows([target]))[target]
    await lin.engine.update_ticket(target, {"status": "pending"}, seen_version=lin_row.version)
    await lin.engine.wait_drained(10)
    status = on_ada.properties.status
    status.setCurrentIndex(status.findData("solved"))
    status.activated.emit(status.currentIndex())
    ada.engine.start()
    await until(lambda: bool(on_ada.review.cards), timeout=30)
    await settle(0.8)
    save(window.grab(), out, "conflict")

    # 6. Dark, following a system in dark mode.
    app = QApplication.instance()
    assert isinstance(app, QApplication)
    theme.apply_theme(app, "dark")
    await settle(0.8)
    save(window.grab(), out, "dark")
    theme.apply_theme(app, "light")

    await lin.shutdown()
    return ada, window


async def offline_scene(ada: Bridge, window: DeskWindow, out: Path, server: EmbeddedServer) -> None:
    """The server has gone; a reply (sent with "set pending") waits to be sent."""
    await asyncio.to_thread(server.stop)
    await until(lambda: not ada.online, timeout=30)
    model = window.ticket_model
    target = next(t for r in range(5, 20) if (t := model.ticket_id(r)))
    view = await conversation(window, target)
    view.composer.editor.insertPlainText("Thanks for your patience — we have issued the refund.")
    view.send("pending")
    await settle(1.5)
    save(window.grab(), out, "offline")


async def _ticket_of_tier(bridge: Bridge, tiers: tuple[str, ...], skip: set[str]) -> str | None:
    """One of the agent's open tickets (not in ``skip``) of a VIP (or gold) customer with a
    history, VIPs first."""
    spec = ViewSpec(key="shots", title="", assignee="me", statuses=("open", "new"))
    ids = await bridge.tickets.ticket_ids(spec, TicketSort())
    rows = await bridge.tickets.ticket_rows(ids[:200])
    for tier in tiers:
        for tid in ids[:200]:
            row = rows.get(tid)
            if tid in skip or row is None or row.customer_id is None:
                continue
            card = await bridge.customers.customer(row.customer_id)
            if card is not None and card.tier == tier and len(card.past_tickets) > 3:
                return tid
    return None


async def all_scenes(out: Path, size: tuple[int, int], server: EmbeddedServer) -> None:
    await asyncio.to_thread(out.mkdir, parents=True, exist_ok=True)
    ada, window = await scenes(out, size, server.url)
    await time_tracking_scene(ada, window, out)
    await offline_scene(ada, window, out, server)
    window.hide()
    await ada.shutdown()


def run_scenes(out: Path, size: tuple[int, int]) -> int:
    import qasync

    app = QApplication.instance() or QApplication([])
    assert isinstance(app, QApplication)
    app.setQuitOnLastWindowClosed(False)
    theme.apply_theme(app, "light")
    server = EmbeddedServer(0)
    server.start()
    loop = qasync.QEventLoop(app)
    asyncio.set_event_loop(loop)
    try:
        with loop:
            loop.run_until_complete(all_scenes(out, size, server))
    finally:
        server.stop()
    return 0


async def time_tracking_scene(ada: Bridge, window: DeskWindow, out: Path) -> None:
    """A ticket with its stopwatch running (12 minutes in, shown on its tab and in the status
    bar) and the time already logged on it, its entries open."""
    from datetime import UTC, datetime, timedelta

    from app.ui.timetrack.stopwatch import wall_clock

    model = window.ticket_model
    target = next(t for r in range(4, 20) if (t := model.ticket_id(r)))
    await conversation(window, target)
    now = datetime.now(UTC).replace(microsecond=0)
    for minutes, minutes_ago, note, source in (
        (25, 26 * 60, "Checked the order history and the courier's tracking", "manual"),
        (8, 40, "Called the customer back about the missing parcel", "stopwatch"),
    ):
        await ada.engine.mutate(
            "time_entry.add",
            {
                "id": f"shot-{target[:8]}-{minutes}",
                "ticket_id": target,
                "started_at": (now - timedelta(minutes=minutes_ago)).isoformat(),
                "duration_s": minutes * 60,
                "note": note,
                "source": source,
            },
        )
    tracking = window.time_tracking
    panel = tracking.panels[target]
    await until(lambda: panel.time is not None and len(panel.time.entries) == 2)
    tracking.clock = lambda: datetime.now(UTC) - timedelta(minutes=12, seconds=34)
    tracking.toggle(target)
    tracking.clock = wall_clock
    panel.list_button.setChecked(True)
    await settle(1.2)
    save(window.grab(), out, "time_tracking")
    tracking.stopwatches.discard(target)
    panel.list_button.setChecked(False)
