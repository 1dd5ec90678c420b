"""The outbox on the wire: sending queued local changes in order, settling the server's
acks and rejects.

A row leaves the outbox only when the server has answered it; the server deduplicates by
mutation id, so what a lost connection leaves unanswered is simply sent again.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
from functools import partial
from typing import Any

from sqlalchemy import Connection
from websockets.asyncio.client import ClientConnection

from app.domain.registry import DOMAIN
from app.models.base import utcnow
from app.models.entities import draft_id
from app.sync import cache
from app.sync import protocol as p
from app.sync.desk_types import Refusal, ticket_of
from app.sync.engine.attachments import Attachments
from app.sync.engine.context import EngineContext
from app.sync.notice import Touched
from app.sync.observer import ConnectionState

log = logging.getLogger(__name__)

OUTBOX_BATCH = 200


class OutboxSender:
    """Sends the outbox over a connection and settles the answers in the cache."""

    def __init__(self, ctx: EngineContext, attachments: Attachments | None = None) -> None:
        self._ctx = ctx
        self._attachments = attachments

    async def wait_drained(self, timeout: float = 30.0) -> None:
        """Wait until the server has answered everything in the outbox."""
        ctx = self._ctx
        async with asyncio.timeout(timeout):
            while await ctx.read(cache.outbox_count):
                ctx.settled.clear()
                if not await ctx.read(cache.outbox_count):
                    break
                await ctx.settled.wait()

    async def send(self, ws: ClientConnection) -> None:
        """Send every outbox row in order, then each new one as it is written."""
        ctx = self._ctx
        last_sent = 0
        while True:
            ctx.outbox_ready.clear()
            batch = await ctx.db(partial(cache.outbox_batch, after=last_sent, limit=OUTBOX_BATCH))
            if not batch:
                await ctx.outbox_ready.wait()
                continue
            for row in batch:
                if self._attachments is not None:  # a message's files before the message
                    await self._attachments.before_sending(ws, row)
                await ws.send(p.encode({"type": "mutation", **row}))
            last_sent = batch[-1]["mutation_id"]

    async def settle(self, ws: ClientConnection, answers: list[dict[str, Any]]) -> None:
        """Settle consecutive acks and rejects in one transaction (one fsync for all)."""
        ctx = self._ctx
        if answers[0]["type"] == "reject" and answers[0].get("transient"):
            # Not stored by the server: reconnecting resends it under the same id.  (A
            # transient reject always comes alone: see frames.run_key.)
            # Over our rate (rate_limited): reconnect no sooner than the server asked.
            details = answers[0].get("details")
            if isinstance(details, dict) and isinstance(details.get("retry_after"), int | float):
                ctx.retry_after = float(details["retry_after"])
            log.warning(
                "mutation %s refused for now (%s); reconnecting to send it again",
                answers[0]["mutation_id"],
                answers[0].get("code"),
            )
            await ws.close()
            return

        def work(conn: Connection) -> tuple[list[dict[str, Any] | None], int]:
            return _settle_in_cache(conn, answers), cache.changes_waiting(conn)

        entries, outbox = await ctx.db(work)
        ctx.settled.set()
        changed = Touched()
        rejected: list[Refusal] = []
        for frame, entry in zip(answers, entries, strict=True):
            if entry is None:
                continue  # answered before (a replay)
            ticket_id = ticket_of(entry["args"])
            entity_id = entry["entity_id"]
            if entry["entity"] == "draft":  # queued under its ticket's id: name the draft row
                entity_id = draft_id(ctx.require_agent(), entity_id)
            changed.add(entry["entity"], entity_id, ticket_id)
            message = entry["args"].get("message")
            if entry["name"] in ("message.add", "ticket.create") and message:
                # Sent, or failed: the message shows its delivery state.
                changed.add("message", message["id"], ticket_id)
            for kind, record_id, on_ticket in entry.get("undone", ()):
                changed.add(kind, record_id, on_ticket)  # what a refusal took back
            if frame["type"] == "reject":
                rejected.append(
                    Refusal(
                        frame["mutation_id"],
                        entry["name"],
                        frame.get("code", ""),
                        frame.get("message", ""),
                        entry["args"],
                        frame.get("current"),
                        utcnow(),
                        DOMAIN.refusal(entry["name"], entry["args"]),
                    )
                )
        if not changed:
            return
        ctx.observer.entities_changed(changed.notice())
        for refusal in rejected:
            ctx.observer.change_refused(refusal)
        if ctx.status.state == ConnectionState.ONLINE:
            ctx.set_status(ConnectionState.ONLINE, outbox=outbox)


def _settle_in_cache(
    conn: Connection, answers: list[dict[str, Any]]
) -> list[dict[str, Any] | None]:
    """Settle answers in order: each run of acks at once, each reject on its own."""
    entries: list[dict[str, Any] | None] = []
    for is_ack, run in itertools.groupby(answers, key=lambda a: a["type"] == "ack"):
        frames = list(run)
        if not is_ack:
            entries.extend(cache.settle(conn, frame) for frame in frames)
            continue
        entries.extend(cache.settle_acks(conn, [frame["mutation_id"] for frame in frames]))
    return entries
