"""The one QObject between the widgets and the sync engine (see docs/workstation.md).

The engine's observer callbacks run on the asyncio loop, which qasync runs on the Qt thread,
so they are turned into Qt signals directly.  Change notifications are coalesced: a catch-up
page or a burst of live changes becomes one ``entitiesChanged`` per event-loop turn, so a list
re-reads once, not once per frame.  What it carries is the engine's ``ChangeNotice`` (plain,
frozen data): the changed rows by entity and the tickets they are on.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Coroutine
from typing import Any, TypeVar

from PySide6.QtCore import QObject, Signal

from app.sync.desk import DeskReaders
from app.sync.desk.attachments import AttachmentReader
from app.sync.desk.time_entries import TimeEntriesReader
from app.sync.desk_types import Directory, Refusal
from app.sync.drafts import DraftKeeper
from app.sync.engine import SyncEngine
from app.sync.notice import ChangeNotice, Touched
from app.sync.observer import ConnectionState, ConnectionStatus, SyncObserver

log = logging.getLogger(__name__)
T = TypeVar("T")
SHUTDOWN_WAIT_S = 10.0


class _Observer(SyncObserver):
    """Forwards the engine's callbacks to the bridge (a QObject cannot also be the observer
    base class without mixing metaclasses)."""

    def __init__(self, bridge: Bridge) -> None:
        self._bridge = bridge

    def connection_changed(self, status: ConnectionStatus) -> None:
        self._bridge.status = status
        self._bridge.connectionChanged.emit(status)

    def entities_changed(self, notice: ChangeNotice) -> None:
        self._bridge.note_changed(notice)

    def change_refused(self, refusal: Refusal) -> None:
        self._bridge.refused.emit(refusal)

    def presence_changed(self, agent_id: str, status: str) -> None:
        self._bridge.presence[agent_id] = status
        self._bridge.presenceChanged.emit(agent_id, status)

    def viewing_changed(self, agent_id: str, ticket_id: str | None, typing: bool) -> None:
        if ticket_id is None:
            self._bridge.viewing.pop(agent_id, None)
        else:
            self._bridge.viewing[agent_id] = (ticket_id, typing)
        self._bridge.viewingChanged.emit(agent_id, ticket_id, typing)

    def error(self, message: str) -> None:
        self._bridge.errorRaised.emit(message)


class Bridge(QObject):
    """Owns the engine, the desk readers and the draft keeper for one signed-in agent.

    Reads go through one reader per area: ``tickets`` (views and the ticket list),
    ``conversations``, ``customers``, ``canned`` and ``search``; writes through ``engine``.
    """

    connectionChanged = Signal(object)  # ConnectionStatus
    entitiesChanged = Signal(object)  # ChangeNotice: changed ids by entity, and their tickets
    refused = Signal(object)  # desk_types.Refusal
    presenceChanged = Signal(str, str)  # agent id, status
    viewingChanged = Signal(str, object, bool)  # agent id, ticket id or None, typing
    errorRaised = Signal(str)  # something the agent should hear about, in plain words
    directoryChanged = Signal(object)  # Directory
    taskFailed = Signal(object)  # an exception no caller handled (the crash reporter listens)

    def __init__(self, engine: SyncEngine, desk: DeskReaders, parent: QObject | None = None):
        super().__init__(parent)
        self.engine = engine
        self.tickets = desk.tickets
        self.conversations = desk.conversations
        self.customers = desk.customers
        self.canned = desk.canned
        self.search = desk.search
        self.attachments = AttachmentReader(desk.pool)  # files on messages
        self.phone = desk.phone  # the phone desk: callers by number, dispositions
        self.mentions = desk.mentions
        self.finder = desk.finder  # customers as the agent types; one for the editor
        self.time_entries = TimeEntriesReader(desk.pool)
        self._desk = desk
        self.drafts = DraftKeeper(engine)
        self.status = engine.status
        self.directory = Directory(me=None, agents=(), groups=())
        self.presence: dict[str, str] = {}
        self.viewing: dict[str, tuple[str, bool]] = {}  # agent id -> (ticket id, typing)
        self._pending: list[ChangeNotice] = []
        self._flush_scheduled = False
        self._tasks: set[asyncio.Task[Any]] = set()
        self._shut_down = False
        engine.observer = _Observer(self)

    @property
    def agent_id(self) -> str | None:
        return self.engine.agent_id

    @property
    def online(self) -> bool:
        return self.status.state == ConnectionState.ONLINE

    # ---- change notifications ----------------------------------------------------------

    def note_changed(self, notice: ChangeNotice) -> None:
        """Collect changes; emit them once this loop turn is over."""
        if notice:
            self._pending.append(notice)
        if not self._flush_scheduled:
            self._flush_scheduled = True
            asyncio.get_running_loop().call_soon(self._flush)

    def _flush(self) -> None:
        self._flush_scheduled = False
        pending, self._pending = self._pending, []
        if not pending:
            return
        if len(pending) == 1:  # the usual case: nothing to merge
            notice = pending[0]
        else:
            merged = Touched()
            for each in pending:
                merged.merge(each)
            notice = merged.notice()
        if {"agent", "group"} & notice.entities.keys():
            self.run(self.reload_directory())
        self.entitiesChanged.emit(notice)

    async def reload_directory(self) -> Directory:
        self.directory = await self._desk.directory.directory()
        self.directoryChanged.emit(self.directory)
        return self.directory

    def agent_name(self, agent_id: str | None) -> str:
        for agent in self.directory.agents:
            if agent.id == agent_id:
                return agent.name
        return ""

    def viewers_of(self, ticket_id: str) -> list[tuple[str, bool]]:
        """Colleagues on this ticket now: (agent id, typing), never the agent themself."""
        return [
            (agent, typing)
            for agent, (tid, typing) in self.viewing.items()
            if tid == ticket_id and agent != self.agent_id
        ]

    # ---- running coroutines from widgets -----------------------------------------------

    def run(
        self,
        coro: Coroutine[Any, Any, T],
        *,
        on_result: Callable[[T], None] | None = None,
        on_error: Callable[[BaseException], None] | None = None,
    ) -> asyncio.Task[T] | None:
        """Start ``coro`` on the loop; its result goes to ``on_result`` on the UI thread.

        An exception goes to ``on_error`` if given, else to ``taskFailed`` (the crash
        reporter): nothing fails silently.  After ``shutdown()`` (a timer firing while the
        window closes) nothing starts and None is returned: the databases are closed.
        """
        if self._shut_down or not loop_running():
            coro.close()
            return None
        task = asyncio.get_event_loop().create_task(coro)
        self._tasks.add(task)

        def done(t: asyncio.Task[T]) -> None:
            self._tasks.discard(t)
            if t.cancelled():
                return
            exc = t.exception()
            if exc is not None:
                if on_error is not None:
                    on_error(exc)
                else:
                    log.error("background task failed", exc_info=exc)
                    self.taskFailed.emit(exc)
                return
            if on_result is not None:
                on_result(t.result())

        task.add_done_callback(done)
        return task

    async def settle(self) -> set[asyncio.Task[Any]]:
        """Save every draft and wait (up to ``SHUTDOWN_WAIT_S``) for work already started;
        returns what is still running.  New work is not refused: the desk stays usable."""
        await self.drafts.flush()
        here = asyncio.current_task()
        running = [t for t in self._tasks if t is not here]
        if not running:
            return set()
        _done, pending = await asyncio.wait(running, timeout=SHUTDOWN_WAIT_S)
        return pending

    async def shutdown(self) -> None:
        """Save every draft, let started work finish, stop syncing, close the databases.

        Work already started (a reply, a bulk change over many tickets) is waited for, not
        cancelled: cancelling a task whose write is queued for the cache thread would drop
        the write.  Only what is still running after ``SHUTDOWN_WAIT_S`` (a server search
        waiting for an answer) is cancelled.
        """
        self._shut_down = True
        pending = await self.settle()
        for task in pending:
            log.warning("cancelling %s at shutdown", task.get_coro())
            task.cancel()
        await asyncio.gather(*pending, return_exceptions=True)
        await self.drafts.flush()  # anything typed into a composer while that work finished
        await self.engine.close()
        await self._desk.close()


def loop_running() -> bool:
    """Whether the workstation's asyncio loop is running (false while it shuts down)."""
    try:
        return asyncio.get_event_loop().is_running()
    except RuntimeError:  # no loop at all: the workstation is shutting down
        return False
