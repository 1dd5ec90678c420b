"""The scenes of ``make screenshots`` (imported by tools/screenshots.py once the environment
is isolated, so platform directories already point at a temporary home)."""

from __future__ import annotations

import asyncio
from pathlib import Path

from PySide6.QtCore import QPoint, QSettings
from PySide6.QtGui import QColor, QPainter, QPixmap
from PySide6.QtTest import QTest
from PySide6.QtWidgets import QApplication, QWidget

from app import phones
from app.cli import EmbeddedServer
from app.sync.desk_types import TicketSort, ViewSpec
from app.ui import session, theme
from app.ui.bridge import Bridge
from app.ui.conversation.thread import ThreadRole
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


async def attachments_scene(ada: Bridge, window: DeskWindow, out: Path) -> None:
    """A ticket whose customer sent a photo and a PDF: a thumbnail and a file chip in the
    thread, and a file attached to the reply being written."""
    model = window.ticket_model
    ids = [t for r in range(model.rowCount()) if (t := model.ticket_id(r))]
    target = None
    for tid in ids:
        if await ada.attachments.of_ticket(tid):
            target = tid
            break
    if target is None:
        print("no ticket with attachments in the demo: attachments.png not written")
        return
    view = await conversation(window, target)
    files = view.attachments.thread_files
    await until(lambda: bool(files.by_message))
    # Fetched when shown: bring the customer's message into view.
    thread = view.thread_view
    row = thread.thread_model.row_of(next(iter(files.by_message)))
    if row is not None:
        thread.scrollTo(thread.thread_model.index(row))
    pictures = [i for items in files.by_message.values() for i in items if i.is_image]
    await until(lambda: all(files.has_thumbnail(i.sha256) for i in pictures), timeout=30)
    view.composer.editor.insertPlainText("Sorry about that! Here is your prepaid return label.")
    label = Path.home() / "Return label.pdf"
    label.write_bytes(b"%PDF-1.4\n" + b"0" * 48_000)
    view.attachments.attach_paths([label])
    await until(lambda: bool(view.attachments.tray.chips))
    await settle(0.6)
    # The customer's message with its files, its bottom at the bottom of the thread.
    if row is not None:
        rect = thread.visualRect(thread.thread_model.index(row))
        bar = thread.verticalScrollBar()
        bar.setValue(bar.value() + rect.bottom() - thread.viewport().height() + 6)
    await settle(0.6)
    save(window.grab(), out, "attachments")
    view.attachments.tray.set_files(())
    view.composer.editor.clear()


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
    await merge_scenes(ada, window, out)
    await attachments_scene(ada, window, out)
    await phone_scenes(ada, window, out)
    await new_ticket_scene(ada, window, out)
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


async def merge_scenes(ada: Bridge, window: DeskWindow, out: Path) -> None:
    """The activity trail of a ticket whose priority and assignee changed; then "Merge…" in
    the customer panel, with a likely duplicate (same first name) chosen beside the caller."""
    from app.ui.customer.merge import CustomerMergeDialog

    model = window.ticket_model
    current = next(t for r in range(4, 20) if (t := model.ticket_id(r)))
    view = await conversation(window, current)
    ticket = view.conversation.ticket if view.conversation else None
    if ticket is not None:
        priority = "urgent" if ticket.priority != "urgent" else "high"
        await ada.engine.update_ticket(current, {"priority": priority, "status": "pending"})
        await until(
            lambda: (
                sum(
                    view.thread_view.thread_model.index(r).data(ThreadRole.KIND) == "event"
                    for r in range(view.thread_view.thread_model.rowCount())
                )
                >= 2
            ),
            timeout=30,
        )
        view.thread_view.scrollToBottom()
        await settle(0.8)
        save(window.grab(), out, "trail")
    panel = window.customer
    await until(lambda: panel.card is not None, timeout=30)
    card = panel.card
    assert card is not None
    panel.merge_button.click()
    dialogs = panel.findChildren(CustomerMergeDialog)
    if not dialogs:
        return
    dialog = dialogs[-1]
    for word in (card.name.split()[0], card.name.split()[-1]):
        dialog.query.setText(word)
        try:
            await until(lambda: dialog.results.count() > 0, timeout=5)
        except TimeoutError:
            continue
        break
    if dialog.results.count():
        dialog.results.setCurrentRow(0)
        await until(lambda: dialog.other is not None, timeout=10)
    await settle(0.8)
    save(compose(window, dialog), out, "customer-merge")
    dialog.reject()  # the demo's customers stay as they are


async def phone_scenes(ada: Bridge, window: DeskWindow, out: Path) -> None:
    """The phone desk: a ring pops a known caller (their record and open tickets, the call
    log with its timer running), then the call log mid-call with notes and a disposition."""
    from app.desk_link import IncomingCall

    spec = ViewSpec(key="shots-phone", title="", assignee="me", statuses=("open", "new"))
    ids = await ada.tickets.ticket_ids(spec, TicketSort())
    rows = await ada.tickets.ticket_rows(ids[:200])
    number = None
    for tid in ids[:200]:
        row = rows.get(tid)
        if row is None or row.customer_id is None:
            continue
        card = await ada.customers.customer(row.customer_id)
        phones = [v for k, v in card.identities if k == "phone"] if card else []
        if card is not None and phones and card.open_tickets and card.past_tickets:
            number = phones[0]
            break
    if number is None:
        print("no demo customer with a phone number and open tickets: phone scenes skipped")
        return
    phone = window.phone
    popped: list[str] = []
    phone.popped.connect(popped.append)
    phone.handle_incoming(IncomingCall(number))
    await until(lambda: bool(popped) and window.customer.card is not None)
    await settle(2.2)  # the timer has counted a few seconds
    save(window.grab(), out, "screen-pop")

    panel = phone.panel
    panel.notes.setFocus()
    panel.notes.insertPlainText(
        "Order arrived with a cracked screen. Photos sent by email; customer wants a "
        "replacement rather than a refund.\nPromised a call back once the courier is booked."
    )
    panel.disposition.setCurrentIndex(panel.disposition.findText("Callback needed"))
    await settle(1.2)
    save(window.grab(), out, "call-log")
    panel.discard()


async def new_ticket_scene(ada: Bridge, window: DeskWindow, out: Path) -> None:
    """New ticket (Ctrl+N) on the phone: the caller's number typed into the customer field
    finds the family that shares that landline, with "Create customer" last."""
    shared = await ada.engine.read(
        lambda conn: conn.exec_driver_sql(
            "SELECT value FROM customer_identities WHERE kind = 'phone' "
            "GROUP BY value HAVING count(*) > 1 ORDER BY value LIMIT 1"
        ).scalar()
    )
    dialog = window.new_ticket(channel="phone")
    await settle(0.3)
    dialog.picker.line.setFocus()
    typed = phones.display(str(shared), "US") if shared else "555"
    QTest.keyClicks(dialog.picker.line, typed)
    await until(dialog.picker.suggestions_shown)
    await settle(0.8)
    popup = dialog.picker.completer.popup()
    assert popup is not None
    save(modal(window, dialog, popup), out, "new-ticket")
    dialog.reject()


def modal(window: QWidget, dialog: QWidget, *popups: QWidget) -> QPixmap:
    """The window dimmed under a dialog with its frame, and the dialog's popups on top, as a
    modal dialog looks on screen (offscreen, window managers draw no frames)."""
    shot = window.grab()
    painter = QPainter(shot)
    painter.fillRect(shot.rect(), QColor(0, 0, 0, 70))
    where = dialog.mapToGlobal(QPoint(0, 0)) - window.mapToGlobal(QPoint(0, 0))
    painter.drawPixmap(where, dialog.grab())
    painter.setPen(QColor(0, 0, 0, 120))
    painter.drawRect(where.x() - 1, where.y() - 1, dialog.width() + 1, dialog.height() + 1)
    for popup in popups:
        if popup.isVisible():
            at = popup.mapToGlobal(QPoint(0, 0)) - window.mapToGlobal(QPoint(0, 0))
            painter.drawPixmap(at, popup.grab())
    painter.end()
    return shot


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
