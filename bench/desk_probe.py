"""The real workstation on a bench cache, measured from inside: ``python -m bench.desk_probe``.

Started by ``bench/desk.py`` with ``XDG_DATA_HOME``, ``XDG_CONFIG_HOME`` and ``XDG_STATE_HOME``
pointing into a temporary directory, ``SWITCHBOARD_TOKEN`` set (no keychain) and the profile
naming an unreachable server (``ws://127.0.0.1:9``): the desk opens from the cache and the
engine keeps reconnecting in the background, as on a workstation that starts offline.

Modes (``python -m bench.desk_probe MODE CONFIG.json``):

``prepare``
    Copy the bench cache to where the workstation keeps this account's cache, save the
    profile (server, email) and an "All tickets" saved filter in the desk's settings.
``cold``
    Start the workstation exactly as the ``switchboard`` program does (``run_workstation``:
    QApplication, logging, theme, qasync loop, ``Workstation`` → ``session.resume`` →
    ``session.open_bridge`` → ``DeskWindow.load`` → ``show``), wait until the first screen
    of the ticket list holds real rows, paint the whole window once, print the time
    (``CLOCK_MONOTONIC``, comparable with the parent's) and quit through the window's close.
``desk``
    The same start, then the interactive scenarios (open tickets, switch tabs, scroll the
    50,000-ticket list, search, remote changes) and the memory figure; one JSON result.

Results are printed as lines starting with ``@desk `` followed by JSON; anything else on
stdout is not ours.

How a "frame" is measured: the action (a wheel event, a page step, a scroll-bar jump, a tab
switch) runs in a plain Qt timer slot — not inside an asyncio task, so that processing
events is safe — followed by a synchronous ``repaint()`` of what changed and
``QApplication.processEvents()`` (the layout requests, updates and asyncio callbacks queued
meanwhile).  The frame is the wall time of the three, on the UI thread.
"""

from __future__ import annotations

import json
import os
import random
import sys
import time
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable

    from PySide6.QtCore import SignalInstance
    from PySide6.QtWidgets import QApplication, QTableView, QWidget

    from app.ui.desk.window import DeskWindow

PREFIX = "@desk "
ALL_TICKETS_KEY = "saved:bench-all-tickets"
FILL_TIMEOUT_S = 5.0
CHANGE_TIMEOUT_S = 5.0
START_TIMEOUT_S = 60.0
PHASES = {  # result key -> DeskScenarios method, in the order they run
    "open_ticket": "open_tickets",
    "tab_switch": "tab_switches",
    "list_scroll": "list_scroll",
    "search": "search",
    "remote_change": "remote_changes",
}


def emit(event: str, **fields: Any) -> None:
    """One result line for the parent (stdout, flushed at once)."""
    sys.stdout.write(PREFIX + json.dumps({"event": event, **fields}, default=str) + "\n")
    sys.stdout.flush()


def ms(seconds: float) -> float:
    return round(seconds * 1000, 3)


def rss_kib() -> tuple[int, int]:
    """This process's resident set size now and at its peak (KiB, /proc/self/status)."""
    now = peak = 0
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            now = int(line.split()[1])
        elif line.startswith("VmHWM:"):
            peak = int(line.split()[1])
    return now, peak


def rss_parts_kib() -> dict[str, int]:
    """What the resident set holds (KiB): the heap and other private memory (``anon_kib``),
    and pages of mapped files (``file_kib``: the readers map the cache, so a read of more of
    it shows here, as page cache shared with every other reader of the file)."""
    parts = {"RssAnon:": "anon_kib", "RssFile:": "file_kib"}
    out = {}
    for line in Path("/proc/self/status").read_text().splitlines():
        name = line.split(" ")[0].split("\t")[0]
        if name in parts:
            out[parts[name]] = int(line.split()[1])
    return out


# ---- prepare -------------------------------------------------------------------------------


def prepare(config: dict[str, Any]) -> None:
    """Put the cache, the profile and the saved filter where the workstation looks."""
    import shutil

    from PySide6.QtCore import QSettings

    from app.sync.desk_types import ViewSpec
    from app.sync.profile import Profile, cache_path
    from app.ui.desk.views import SavedViews
    from app.ui.main import account_key

    server, email = str(config["server"]), str(config["email"])
    target = cache_path(server, email)
    target.parent.mkdir(parents=True, exist_ok=True)
    for suffix in ("", "-wal", "-shm"):
        Path(str(target) + suffix).unlink(missing_ok=True)
    shutil.copyfile(config["pristine"], target)
    Profile(server, email).save()
    # What run_workstation's QSettings() opens (organisation and application "Switchboard").
    settings = QSettings("Switchboard", "Switchboard")
    SavedViews(settings, account_key(server, email)).save(
        [ViewSpec(ALL_TICKETS_KEY, "All tickets", saved=True)]
    )
    settings.sync()
    emit("prepared", cache_path=str(target))


# ---- start-up watcher ----------------------------------------------------------------------


def visible_rows(window: DeskWindow) -> tuple[int, int]:
    """First and last row of the ticket list on screen (-1, -2 if there are none)."""
    table = window.ticket_table
    count = window.ticket_model.rowCount()
    if count == 0:
        return -1, -2
    first = max(0, table.rowAt(0))
    last = table.rowAt(table.viewport().height() - 1)
    if last < 0:
        last = count - 1
    return first, last


def rows_filled(window: DeskWindow) -> bool:
    """Every ticket-list row on screen shows real data (not the "loading" placeholder)."""
    model = window.ticket_model
    first, last = visible_rows(window)
    return all(model.ticket(r) is not None for r in range(first, last + 1))


class StartWatcher:
    """Polls (every millisecond, on the UI thread) for the desk to become interactive.

    Interactive: the ``DeskWindow`` is shown, its list has a view whose id list arrived, and
    every row on screen holds real data.  Then the whole window is painted once
    (``repaint()``, synchronous) and ``on_ready`` is called.
    """

    def __init__(self, app: QApplication, on_ready: Callable[[DeskWindow, dict[str, int]], None]):
        from PySide6.QtCore import Qt, QTimer

        self.app = app
        self.on_ready = on_ready
        self.stamps: dict[str, int] = {}
        self.window: DeskWindow | None = None
        self._loaded = False
        self._timer = QTimer()
        self._timer.setTimerType(Qt.TimerType.PreciseTimer)
        self._timer.setInterval(1)
        self._timer.timeout.connect(self._tick)
        self._timer.start()
        self._deadline = time.monotonic() + START_TIMEOUT_S

    def _mark_loaded(self) -> None:
        self._loaded = True

    def _tick(self) -> None:
        from app.ui.desk.window import DeskWindow

        if time.monotonic() > self._deadline:
            self._timer.stop()
            emit("error", error="the desk did not become interactive", stamps=self.stamps)
            os._exit(3)
        if self.window is None:
            for widget in self.app.topLevelWidgets():
                if isinstance(widget, DeskWindow):
                    self.window = widget
                    self.stamps["window_built_ns"] = time.monotonic_ns()
                    widget.ticket_model.loaded.connect(self._mark_loaded)
                    break
            else:
                return
        window = self.window
        if not window.isVisible():
            return
        self.stamps.setdefault("shown_ns", time.monotonic_ns())
        if window.ticket_model.spec is None:
            return
        if not (self._loaded or window.ticket_model.rowCount() > 0):
            return
        self.stamps.setdefault("ids_loaded_ns", time.monotonic_ns())
        if not rows_filled(window):
            return
        self.stamps["rows_filled_ns"] = time.monotonic_ns()
        self._timer.stop()
        window.repaint()
        self.stamps["painted_ns"] = time.monotonic_ns()
        self.on_ready(window, self.stamps)


def start(mode: str, config: dict[str, Any], started_ns: int) -> int:
    """Run the workstation as ``switchboard`` does; ``mode`` says what to do once it is up."""
    imports_ns = time.monotonic_ns()
    from PySide6.QtWidgets import QApplication

    from app.ui import main as ui_main

    imported_ns = time.monotonic_ns()
    # run_workstation makes this very QApplication when there is none; making it here lets
    # the watcher's timer exist before the loop starts.
    app = QApplication.instance() or QApplication(sys.argv[:1])
    assert isinstance(app, QApplication)

    def ready(window: DeskWindow, stamps: dict[str, int]) -> None:
        stamps.update(probe_main_ns=started_ns, imports_ns=imports_ns, imported_ns=imported_ns)
        emit("interactive", stamps=stamps, pid=os.getpid())
        if mode == "cold":
            window.close()  # the real way out: drafts flushed, engine and readers closed
            return
        import asyncio

        asyncio.get_event_loop().create_task(_desk(window, config))

    watcher = StartWatcher(app, ready)
    code = ui_main.run_workstation()
    del watcher
    return code


async def _desk(window: DeskWindow, config: dict[str, Any]) -> None:
    try:
        results = await DeskScenarios(window, config).run()
    except Exception as exc:  # said to the parent, never a crash dialog nobody can close
        import traceback

        emit("error", error=f"{type(exc).__name__}: {exc}", trace=traceback.format_exc())
        os._exit(4)
    emit("results", **results)
    window.close()


# ---- the interactive scenarios -------------------------------------------------------------


def paint_watch(widget: QWidget) -> Any:
    """An event filter noting whether ``widget`` received a paint event (``.painted``)."""
    global _PaintWatch  # the class is made on first use: Qt is imported lazily here
    if _PaintWatch is None:
        from PySide6.QtCore import QEvent, QObject

        class Watch(QObject):
            def __init__(self, target: QWidget) -> None:
                super().__init__()
                self.target = target
                self.painted = False
                target.installEventFilter(self)

            def eventFilter(self, watched: QObject, event: QEvent) -> bool:
                if event.type() == QEvent.Type.Paint:
                    self.painted = True
                return False

            def remove(self) -> None:
                self.target.removeEventFilter(self)

        _PaintWatch = Watch
    return _PaintWatch(widget)


_PaintWatch: Any = None


class DeskScenarios:
    """Scenarios 2 to 6 of the desk benchmark on the running workstation (see bench/README.md)."""

    def __init__(self, window: DeskWindow, config: dict[str, Any]) -> None:
        from PySide6.QtWidgets import QApplication

        self.window = window
        self.bridge = window.bridge
        self.config = config
        self.rng = random.Random(int(config.get("seed", 7)))
        app = QApplication.instance()
        assert isinstance(app, QApplication)
        self.app = app

    async def run(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        # Each phase needs the tabs of the first; a subset helps profiling one of them.
        phases = self.config.get("phases") or list(PHASES)
        await self.pause(0.5)  # let start-up stragglers (counts, tray, indexer) finish
        for name in PHASES:
            if name in phases:
                out[name] = await getattr(self, PHASES[name])()
        now, peak = rss_kib()
        out["memory"] = {
            "rss_kib": now,
            "peak_rss_kib": peak,
            **rss_parts_kib(),
            "open_tabs": self.window.tabs.count(),
            "list_rows": self.window.ticket_model.rowCount(),
        }
        await self.bare_engines(out)
        return out

    # ---- helpers -----------------------------------------------------------------------

    async def pause(self, seconds: float) -> None:
        import asyncio

        await asyncio.sleep(seconds)

    async def frame(self, action: Callable[[], None], painted: Callable[[], QWidget]) -> float:
        """One frame (seconds), in a Qt slot: ``action``, then ``processEvents()`` — the
        layout requests, timers, asyncio callbacks and the window's update request queued
        meanwhile, which is where Qt paints — and, only if the widget ``painted()`` names
        (the one that must show the new state) got no paint event from that, its
        ``repaint()``.  (Repainting unconditionally would paint twice: an item view shown
        again lays its items out from a zero-time timer and repaints after that.)"""
        import asyncio

        from PySide6.QtCore import QTimer

        loop = asyncio.get_running_loop()
        done: asyncio.Future[float] = loop.create_future()

        def slot() -> None:
            try:
                widget = painted()
                watch = paint_watch(widget)
                t0 = time.perf_counter()
                action()
                self.app.processEvents()
                if not watch.painted:
                    widget.repaint()
                elapsed = time.perf_counter() - t0
                watch.remove()
            except BaseException as exc:  # handed to the awaiting coroutine
                done.set_exception(exc)
            else:
                done.set_result(elapsed)

        QTimer.singleShot(0, slot)
        return await done

    async def until(
        self,
        check: Callable[[], bool],
        signals: list[SignalInstance],
        then: Callable[[], None],
        timeout: float,
    ) -> float:
        """Wait until ``check()`` holds (tested whenever one of ``signals`` fires, and now);
        then run ``then`` (a repaint) at once and return ``time.perf_counter()`` after it."""
        import asyncio

        loop = asyncio.get_running_loop()
        done: asyncio.Future[float] = loop.create_future()

        def test(*_args: Any) -> None:
            if done.done() or not check():
                return
            then()
            done.set_result(time.perf_counter())

        for signal in signals:
            signal.connect(test)
        try:
            test()
            return await asyncio.wait_for(done, timeout)
        finally:
            for signal in signals:
                signal.disconnect(test)

    # ---- 2. open a ticket, switch tabs --------------------------------------------------

    async def open_one(self, ticket_id: str) -> tuple[float, int]:
        """open_ticket → the thread model filled (the view's ``loaded``) → tabs painted."""
        window = self.window
        t0 = time.perf_counter()
        window.open_ticket(ticket_id)
        view = window.tabs.view(ticket_id)
        assert view is not None
        model = view.thread_view.thread_model
        t1 = await self.until(
            lambda: view.conversation is not None and model.rowCount() > 0,
            [view.loaded],
            window.tabs.repaint,
            CHANGE_TIMEOUT_S,
        )
        return t1 - t0, model.rowCount()

    async def open_tickets(self) -> dict[str, Any]:
        long_ids = list(self.config["long_ticket_ids"])
        short_ids = list(self.config["short_ticket_ids"])
        keep_long = int(self.config.get("keep_long_tabs", 5))
        long_ms: list[float] = []
        long_messages: list[int] = []
        for i, tid in enumerate(long_ids):
            elapsed, rows = await self.open_one(tid)
            long_ms.append(ms(elapsed))
            long_messages.append(rows)
            await self.pause(0.15)
            if i >= keep_long:
                self.window.tabs.close_ticket(tid)
                await self.pause(0.1)
        short_ms: list[float] = []
        for tid in short_ids:
            elapsed, _rows = await self.open_one(tid)
            short_ms.append(ms(elapsed))
            await self.pause(0.15)
        return {
            "long_ms": long_ms,
            "long_messages": long_messages,
            "short_ms": short_ms,
            "tabs_open": self.window.tabs.count(),
        }

    def thread_viewport(self, index: int) -> QWidget:
        """The thread of the conversation in tab ``index``: what a switch must paint."""
        from app.ui.conversation.view import ConversationView

        view = self.window.tabs.widget(index)
        assert isinstance(view, ConversationView)
        return view.thread_view.viewport()

    async def tab_switches(self) -> dict[str, Any]:
        tabs = self.window.tabs
        count = tabs.count()
        switches = int(self.config.get("tab_switches", 200))
        frames: list[float] = []
        long_ids = set(self.config["long_ticket_ids"])
        to_long: list[float] = []
        for _ in range(switches):
            target = self.rng.randrange(count - 1)
            if target >= tabs.currentIndex():
                target += 1  # always a different tab
            elapsed = await self.frame(
                partial(tabs.setCurrentIndex, target), partial(self.thread_viewport, target)
            )
            frames.append(ms(elapsed))
            widget_id = tabs.current_ticket_id()
            if widget_id in long_ids:
                to_long.append(ms(elapsed))
            await self.pause(0.03)
        return {"tabs": count, "frames_ms": frames, "to_long_thread_ms": to_long}

    # ---- 3. the ticket list -------------------------------------------------------------

    async def show_all_tickets(self) -> float:
        """Choose the "All tickets" filter; seconds until its first screen is painted."""
        window = self.window
        model = window.ticket_model
        t0 = time.perf_counter()
        if not window.views.select(ALL_TICKETS_KEY):
            raise RuntimeError("the All tickets filter is not in the views panel")
        t1 = await self.until(
            lambda: (
                model.spec is not None
                and model.spec.key == ALL_TICKETS_KEY
                and model.rowCount() > 0
                and rows_filled(window)
            ),
            [model.loaded, model.rowsLoaded, model.modelReset],
            window.ticket_table.viewport().repaint,
            FILL_TIMEOUT_S,
        )
        return t1 - t0

    async def wait_filled(self, t0: float) -> float:
        window = self.window
        model = window.ticket_model
        t1 = await self.until(
            lambda: rows_filled(window),
            [model.rowsLoaded, model.dataChanged],
            window.ticket_table.viewport().repaint,
            FILL_TIMEOUT_S,
        )
        return t1 - t0

    def cache_file(self) -> Path:
        """The cache the workstation reads (what ``prepare`` put in place)."""
        from app.sync.profile import cache_path

        return cache_path(str(self.config["server"]), str(self.config["email"]))

    async def list_scroll(self) -> dict[str, Any]:
        window = self.window
        table = window.ticket_table
        show_all_s = await self.show_all_tickets()
        rows = window.ticket_model.rowCount()
        ours = await self.scroll_through(table, filled=self.wait_filled)
        return {
            "rows": rows,
            "show_all_tickets_ms": ms(show_all_s),
            **ours,
            "row_height_px": table.rowHeight(0),
        }

    async def bare_engines(self, out: dict[str, Any]) -> None:
        """The bare engines' figures for the scroll and the search (bench/bare_desk.py),
        added to those phases' results.  Run last, after the memory figure: the bare list
        holds every row's text, which would count in the desk's memory and slow what
        follows it."""
        from PySide6.QtCore import Qt

        from app.ui.search.palette import LOCAL_LIMIT
        from bench.bare_desk import bare_table, fts5_search

        if "list_scroll" in out:
            model = self.window.ticket_model
            headers = [
                str(model.headerData(c, Qt.Orientation.Horizontal))
                for c in range(model.columnCount())
            ]
            bare = bare_table(self.cache_file(), self.window.ticket_table, headers)
            try:
                frames = await self.scroll_through(bare, filled=None)
            finally:
                bare.close()
                bare.deleteLater()
            scrolled = out["list_scroll"]
            scrolled["bare_rows"] = bare.model().rowCount()
            scrolled["bare_frames_ms"] = (
                frames["wheel_frames_ms"] + frames["page_frames_ms"] + frames["jump_frames_ms"]
            )
        if "search" in out:
            queries = list(self.config["queries"])
            out["search"]["bare_ms"] = fts5_search(self.cache_file(), queries, LOCAL_LIMIT)

    async def scroll_through(
        self, table: QTableView, filled: Callable[[float], Awaitable[float]] | None
    ) -> dict[str, Any]:
        """Wheel notches, then page steps, then random scroll-bar jumps through ``table``, a
        frame each; after each jump, ``filled`` (if given) waits for the rows to show."""
        from PySide6.QtCore import QPoint, QPointF, Qt
        from PySide6.QtGui import QWheelEvent
        from PySide6.QtWidgets import QAbstractSlider

        viewport = table.viewport()
        bar = table.verticalScrollBar()
        rng = random.Random(int(self.config.get("seed", 7)))  # the same jumps for every table
        await self.pause(0.3)
        bar.setValue(0)
        await self.pause(0.2)
        pace = float(self.config.get("frame_pace_s", 0.016))
        centre = QPointF(viewport.width() / 2, viewport.height() / 2)

        def wheel() -> None:
            event = QWheelEvent(
                centre,
                QPointF(viewport.mapToGlobal(centre.toPoint())),
                QPoint(0, 0),
                QPoint(0, -120),  # one notch down
                Qt.MouseButton.NoButton,
                Qt.KeyboardModifier.NoModifier,
                Qt.ScrollPhase.NoScrollPhase,
                False,
            )
            self.app.sendEvent(viewport, event)

        wheel_frames: list[float] = []
        for _ in range(int(self.config.get("wheel_steps", 300))):
            wheel_frames.append(ms(await self.frame(wheel, lambda: viewport)))
            await self.pause(pace)
        wheel_end = bar.value()
        page_frames: list[float] = []
        for _ in range(int(self.config.get("page_steps", 100))):
            page_frames.append(
                ms(
                    await self.frame(
                        lambda: bar.triggerAction(QAbstractSlider.SliderAction.SliderPageStepAdd),
                        lambda: viewport,
                    )
                )
            )
            await self.pause(pace)
        page_end = bar.value()
        jump_frames: list[float] = []
        fill_ms: list[float] = []
        for _ in range(int(self.config.get("jumps", 60))):
            target = rng.randrange(bar.maximum() + 1)
            t0 = time.perf_counter()
            jump = partial(bar.setSliderPosition, target)
            jump_frames.append(ms(await self.frame(jump, lambda: viewport)))
            if filled is not None:
                fill_ms.append(ms(await filled(t0)))
            await self.pause(0.05)
        return {
            "wheel_frames_ms": wheel_frames,
            "page_frames_ms": page_frames,
            "jump_frames_ms": jump_frames,
            "jump_fill_ms": fill_ms,
            "wheel_scrolled_px": wheel_end,
            "pages_scrolled_px": page_end - wheel_end,
        }

    # ---- 4. search everywhere -----------------------------------------------------------

    async def search(self) -> dict[str, Any]:
        from app.ui.search.palette import LOCAL_LIMIT

        search = self.bridge.search
        timings: list[tuple[str, float, int]] = []
        for query in self.config["queries"]:
            t0 = time.perf_counter()
            results = await search.everywhere(query, LOCAL_LIMIT)
            timings.append((query, ms(time.perf_counter() - t0), len(results.hits)))
        return {"limit": LOCAL_LIMIT, "queries": timings}

    # ---- 5. a remote change -------------------------------------------------------------

    async def remote_changes(self) -> dict[str, Any]:
        window = self.window
        spec = window.ticket_model.spec
        if spec is None or spec.key != ALL_TICKETS_KEY:
            await self.show_all_tickets()
        bar = window.ticket_table.verticalScrollBar()
        bar.setValue(0)
        await self.wait_filled(time.perf_counter())
        await self.pause(0.3)
        results: list[dict[str, Any]] = []
        tabs = window.tabs
        for i in range(int(self.config.get("changes", 30))):
            tabs.setCurrentIndex(i % tabs.count())
            await self.pause(0.3)  # the shown tab catches up if it was stale; counts settle
            results.append(await self.one_change(i))
        return {
            "view": window.ticket_model.spec.title if window.ticket_model.spec else None,
            "list_rows": window.ticket_model.rowCount(),
            "changes": results,
        }

    async def one_change(self, i: int) -> dict[str, Any]:
        """A colleague's two commits reach the engine as two live ``changes`` frames read
        together: a ticket update (new subject) of a row on screen, and a reply on the ticket
        of the current tab (the message, then that ticket's new version, as the server logs
        ``message.add``).  Timed from the frames' JSON text in hand — before parsing, as
        ``FrameReader`` does — through ``SyncEngine._apply_changes`` (what ``_connect_once``
        calls for a run of ``changes`` frames), the bridge's coalesced ``entitiesChanged``,
        the list's and the tab's re-reads on the reader thread, until the list row shows the
        new subject and the thread shows the new message, both viewports painted."""
        import uuid
        from datetime import UTC, datetime

        from app.domain import wire
        from app.sync import cache
        from app.sync.desk_types import TicketColumn
        from app.ui.conversation.view import ConversationView
        from app.ui.desk.ticket_list import COLUMNS

        window = self.window
        model = window.ticket_model
        view = window.tabs.currentWidget()
        assert isinstance(view, ConversationView)
        open_ids = {
            w.ticket_id
            for k in range(window.tabs.count())
            if isinstance(w := window.tabs.widget(k), ConversationView)
        }
        first, last = visible_rows(window)
        candidates = [
            tid
            for r in range(first, last + 1)
            if (tid := model.ticket_id(r)) is not None and tid not in open_ids
        ]
        row_ticket = self.rng.choice(candidates)
        engine = self.bridge.engine

        def snapshot(conn: Any) -> tuple[Any, Any, int]:
            return (
                wire.load(conn, "ticket", row_ticket),
                wire.load(conn, "ticket", view.ticket_id),
                int(cache.get_state(conn, "cursor", 0)),
            )

        ticket_a, ticket_b, cursor = await engine.read(snapshot)
        assert ticket_a is not None
        assert ticket_b is not None
        now = datetime.now(UTC).isoformat()
        subject = f"{ticket_a['subject'].split(' [bench')[0]} [bench {i}]"
        updated_a = {
            **ticket_a,
            "subject": subject,
            "version": ticket_a["version"] + 1,
            "updated_at": now,
        }
        message_id = str(uuid.uuid4())
        message = {
            "id": message_id,
            "ticket_id": view.ticket_id,
            "kind": "reply",
            "author_type": "agent",
            "author_agent_id": "a-1",
            "author_customer_id": None,
            "body": f"Following up on this one (bench change {i}): the replacement is on its way.",
            "created_at": now,
            "delivery_state": "sent",
        }
        # As app.server.mutations.thread_grew: a reply bumps the version and updated_at,
        # sets first_response_at once and opens a new ticket.
        updated_b = {**ticket_b, "version": ticket_b["version"] + 1, "updated_at": now}
        if updated_b["first_response_at"] is None:
            updated_b["first_response_at"] = now
        if updated_b["status"] == "new":
            updated_b["status"] = "open"
        frames = [
            json.dumps(
                {
                    "type": "changes",
                    "cursor": cursor + 1,
                    "changes": [
                        {
                            "seq": cursor + 1,
                            "entity": "ticket",
                            "op": "upsert",
                            "id": row_ticket,
                            "data": updated_a,
                        },
                    ],
                }
            ),
            json.dumps(
                {
                    "type": "changes",
                    "cursor": cursor + 3,
                    "changes": [
                        {
                            "seq": cursor + 2,
                            "entity": "message",
                            "op": "upsert",
                            "id": message_id,
                            "data": message,
                        },
                        {
                            "seq": cursor + 3,
                            "entity": "ticket",
                            "op": "upsert",
                            "id": view.ticket_id,
                            "data": updated_b,
                        },
                    ],
                }
            ),
        ]
        subject_col = COLUMNS.index(TicketColumn.SUBJECT)
        thread = view.thread_view
        marks: dict[str, float] = {}

        def list_shows() -> bool:
            row = model.row_of(row_ticket)
            if row is None:
                return False
            text = model.data(model.index(row, subject_col))
            ok = isinstance(text, str) and text.endswith(subject)
            if ok:
                marks.setdefault("list", time.perf_counter())
            return ok

        def thread_shows() -> bool:
            ok = thread.thread_model.row_of(message_id) is not None
            if ok:
                marks.setdefault("thread", time.perf_counter())
            return ok

        def paint() -> None:
            window.ticket_table.viewport().repaint()
            thread.viewport().repaint()

        signals = [
            model.dataChanged,
            model.layoutChanged,
            model.rowsInserted,
            view.loaded,
            thread.thread_model.rowsInserted,
        ]
        import asyncio

        t0 = time.perf_counter()
        pages = [json.loads(raw) for raw in frames]
        waiting = asyncio.ensure_future(
            self.until(lambda: list_shows() & thread_shows(), signals, paint, CHANGE_TIMEOUT_S)
        )
        await engine._apply_changes(pages)
        applied = time.perf_counter()
        t1 = await waiting
        row_now = model.row_of(row_ticket)
        return {
            "ms": ms(t1 - t0),
            "applied_ms": ms(applied - t0),
            "list_ms": ms(marks["list"] - t0),
            "thread_ms": ms(marks["thread"] - t0),
            "thread_messages": thread.thread_model.rowCount(),
            "row_now": row_now,
        }


def main(argv: list[str] | None = None) -> int:
    started_ns = time.monotonic_ns()
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 2 or args[0] not in ("prepare", "cold", "desk"):
        print("usage: python -m bench.desk_probe prepare|cold|desk CONFIG.json", file=sys.stderr)
        return 2
    mode = args[0]
    config: dict[str, Any] = json.loads(Path(args[1]).read_text("utf-8"))
    if mode == "prepare":
        prepare(config)
        return 0
    return start(mode, config, started_ns)


if __name__ == "__main__":
    raise SystemExit(main())
