"""Keeping what the agent types: every keystroke reaches the cache within ``MAX_LAG_S``.

The composer calls ``typed()`` on every change.  Writing each keystroke would cost a local
transaction (and an outbox row) per character; waiting for a pause in typing (a plain
debounce) would let a fast typist go unsaved indefinitely.  So the first unsaved change arms a
timer and, when it fires, the text as it is *then* is saved: a crash loses at most
``MAX_LAG_S`` of typing, however long the agent keeps typing.

Clearing the composer discards the draft (on the server too); ``flush()`` saves everything at
once, for closing a tab or the workstation.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass

from app.sync.engine import SyncEngine

log = logging.getLogger(__name__)

MAX_LAG_S = 0.5  # the promise: typing is in the cache at most this long after it happened
SAVE_AFTER_S = 0.3  # when the timer fires; the rest of MAX_LAG_S is the save itself


@dataclass
class _Unsaved:
    body: str
    kind: str
    timer: asyncio.TimerHandle


class DraftKeeper:
    """Saves composer text for one engine, per ticket, at most ``MAX_LAG_S`` behind typing."""

    def __init__(self, engine: SyncEngine, save_after_s: float = SAVE_AFTER_S) -> None:
        self._engine = engine
        self._save_after_s = save_after_s
        self._unsaved: dict[str, _Unsaved] = {}
        self._saving: set[asyncio.Task[None]] = set()

    def typed(self, ticket_id: str, body: str, kind: str = "reply") -> None:
        """The composer of ``ticket_id`` now holds ``body``; call on every change."""
        pending = self._unsaved.get(ticket_id)
        if pending is not None:
            pending.body, pending.kind = body, kind  # the armed timer will save this text
            return
        timer = asyncio.get_running_loop().call_later(self._save_after_s, self._fire, ticket_id)
        self._unsaved[ticket_id] = _Unsaved(body, kind, timer)

    def unsaved(self, ticket_id: str) -> bool:
        return ticket_id in self._unsaved

    def _fire(self, ticket_id: str) -> None:
        task = asyncio.get_running_loop().create_task(self._save(ticket_id))
        self._saving.add(task)
        task.add_done_callback(self._saving.discard)

    async def _save(self, ticket_id: str) -> None:
        pending = self._unsaved.pop(ticket_id, None)
        if pending is None:
            return
        pending.timer.cancel()
        try:
            if pending.body.strip():
                await self._engine.save_draft(ticket_id, pending.body, pending.kind)
            else:
                await self._engine.discard_draft(ticket_id)
        except asyncio.CancelledError:
            # Cancelled before the save ran (its queued job is dropped with it): the text
            # goes back to the unsaved with a timer of its own, unless newer text is there.
            if ticket_id not in self._unsaved:
                self.typed(ticket_id, pending.body, pending.kind)
            raise
        except Exception:
            # Keep the text in memory and try again: losing it silently is the one thing a
            # draft keeper must never do (a full disk, a locked cache file...).
            log.exception("could not save the draft of ticket %s; retrying", ticket_id)
            if ticket_id not in self._unsaved:
                self.typed(ticket_id, pending.body, pending.kind)

    async def flush(self, ticket_id: str | None = None) -> None:
        """Save now: one ticket's text (closing its tab) or everyone's (closing the window)."""
        ids = [ticket_id] if ticket_id is not None else list(self._unsaved)
        for tid in ids:
            await self._save(tid)
        if self._saving:
            await asyncio.gather(*self._saving, return_exceptions=True)

    def forget(self, ticket_id: str) -> None:
        """The text was sent (the engine clears the stored draft): drop unsaved keystrokes."""
        pending = self._unsaved.pop(ticket_id, None)
        if pending is not None:
            pending.timer.cancel()
