"""Local changes: the agent's edits, applied to the cache and queued in the outbox in one
transaction, so they work offline and survive a crash (replies, ticket fields, tags, drafts,
new tickets, any other mutation)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

from pydantic import ValidationError
from sqlalchemy import Connection, select

from app.domain.drafts import draft_save_locally
from app.domain.mutation import CacheTx, NotInCache
from app.domain.registry import DOMAIN
from app.models.base import new_id, utcnow
from app.models.entities import draft_id
from app.models.tables import T_DRAFTS, T_TICKETS
from app.sync import cache
from app.sync import protocol as p
from app.sync.engine.context import EngineContext
from app.sync.engine.errors import InvalidChange, not_on_this_workstation
from app.sync.notice import Touched
from app.sync.observer import ConnectionState

T = TypeVar("T")


class LocalChanges:
    """The agent's changes, each one local transaction with its outbox row.

    Each change is a declared mutation (`app.domain`): `apply` validates it, runs its
    declared optimistic apply on the cache, and queues it, all in the caller's transaction.
    The methods below only build a mutation's arguments from what the desk has at hand.
    """

    def __init__(self, ctx: EngineContext) -> None:
        self._ctx = ctx

    def apply(
        self, conn: Connection, name: str, args: dict[str, Any], touched: Touched | None = None
    ) -> int:
        """Validate ``args``, apply the mutation to the cache as its declaration says, and
        queue it, in the caller's transaction; returns its mutation id.  What it wrote is
        added to ``touched``."""
        try:
            parsed = DOMAIN.parse(name, args)  # never queue what the server must refuse
        except p.ProtocolError as exc:
            raise InvalidChange(_in_words(exc.message, exc.details)) from exc
        mutation = DOMAIN.mutations[name]
        tx = CacheTx(conn, self._ctx.require_agent(), utcnow())
        if mutation.optimistic is not None:
            try:
                mutation.optimistic(tx, parsed)
            except NotInCache as exc:
                raise not_on_this_workstation(exc.record_id) from exc
        if touched is not None:
            for kind, record_id, ticket_id in tx.touched:
                touched.add(kind, record_id, ticket_id)
        subject = mutation.subject_of(parsed)
        return cache.enqueue(conn, name, args, mutation.kind, subject, tx.patch, tx.base)

    async def local(self, fn: Callable[[Connection], T], changed: Touched) -> T:
        """Run ``fn`` (a change and its outbox rows) in one transaction, wake the sender and
        tell the observer what changed (``fn`` may add to ``changed``)."""
        ctx = self._ctx
        result = await ctx.db(fn)
        ctx.outbox_ready.set()
        ctx.observer.entities_changed(changed.notice())
        status = ctx.status
        if status.state != ConnectionState.ONLINE:
            outbox = await ctx.read(cache.changes_waiting)
            ctx.set_status(status.state, status.detail, status.retry_in, outbox)
        return result

    async def mutate(self, name: str, args: dict[str, Any]) -> int:
        """Make any declared mutation: applied to the cache at once where its declaration has
        an optimistic apply, else when the server's change arrives."""
        changed = Touched()
        return await self.local(lambda conn: self.apply(conn, name, args, changed), changed)

    async def reply(
        self,
        ticket_id: str,
        body: str,
        *,
        kind: str = "reply",
        seen_version: int | None = None,
        clears_draft: bool = True,
        attachments: list[dict[str, Any]] | None = None,
    ) -> str:
        """Queue a public reply or internal note (with ``attachments``, each an
        ``AttachedFile.as_args()``); returns the message id."""
        agent_id = self._ctx.require_agent()
        message_id = new_id()
        changed = Touched()

        def work(conn: Connection) -> None:
            version = cached_version(conn, ticket_id)
            args: dict[str, Any] = {
                "message": {"id": message_id, "ticket_id": ticket_id, "kind": kind, "body": body}
            }
            if kind == "reply":
                args["seen_version"] = version if seen_version is None else seen_version
            if attachments:
                args["attachments"] = attachments
            self.apply(conn, "message.add", args, changed)
            if clears_draft:
                # The draft goes with the send, after it in the outbox: the text lives on in
                # the queued message (kept, marked failed, if the server refuses it), and
                # whatever the agent types next is a new draft.
                self._discard_draft(conn, agent_id, ticket_id, changed, only_if_any=True)

        await self.local(work, changed)
        return message_id

    async def update_ticket(
        self, ticket_id: str, changes: dict[str, Any], seen_version: int | None = None
    ) -> int:
        """Queue a change of ticket fields, applied to the cache at once."""
        normalised = _ticket_changes(changes)
        changed = Touched()

        def work(conn: Connection) -> int:
            version = cached_version(conn, ticket_id)
            args = {
                "ticket_id": ticket_id,
                "changes": normalised,
                "seen_version": version if seen_version is None else seen_version,
            }
            return self.apply(conn, "ticket.update", args, changed)

        return await self.local(work, changed)

    async def add_tag(self, ticket_id: str, tag: str) -> int | None:
        """Add ``tag`` to the ticket's tags as the cache has them *now* (read in the same
        transaction as the change), for bulk tagging: a list row not loaded yet, or loaded
        before a colleague's tag arrived, must not decide the other tags.  None if the
        ticket already has it.  (The server refuses it as a conflict if a colleague
        changed the tags after that version: see docs/protocol.md 11.7.)"""
        tag = _ticket_changes({"tags": [tag]})["tags"][0]
        changed = Touched()

        def work(conn: Connection) -> int | None:
            row = (
                conn.execute(
                    select(T_TICKETS.c.tags, T_TICKETS.c.version).where(T_TICKETS.c.id == ticket_id)
                )
                .mappings()
                .first()
            )
            if row is None:
                raise not_on_this_workstation(ticket_id)
            tags = list(row["tags"] or [])
            if tag in tags:
                return None
            args = {
                "ticket_id": ticket_id,
                "changes": {"tags": [*tags, tag]},
                "seen_version": row["version"],
            }
            return self.apply(conn, "ticket.update", args, changed)

        return await self.local(work, changed)

    async def save_draft(self, ticket_id: str, body: str, kind: str = "reply") -> None:
        """Keep the agent's unsent text (call it debounced while typing)."""
        changed = Touched()
        args = {"ticket_id": ticket_id, "kind": kind, "body": body}

        def work(conn: Connection) -> None:
            # Typing saves often: fold into the unsent save of this draft, if there is one.
            if cache.coalesce_draft(conn, ticket_id, args):
                agent_id = self._ctx.require_agent()
                draft_save_locally(
                    CacheTx(conn, agent_id, utcnow()), p.DraftSaveArgs.model_validate(args)
                )
                changed.add("draft", draft_id(agent_id, ticket_id), ticket_id)
            else:
                self.apply(conn, "draft.save", args, changed)

        await self.local(work, changed)

    async def discard_draft(self, ticket_id: str) -> None:
        agent_id = self._ctx.require_agent()
        changed = Touched()
        await self.local(
            lambda conn: self._discard_draft(conn, agent_id, ticket_id, changed), changed
        )

    def _discard_draft(
        self,
        conn: Connection,
        agent_id: str,
        ticket_id: str,
        changed: Touched,
        *,
        only_if_any: bool = False,
    ) -> None:
        """Delete the draft here and queue its deletion on the server.

        ``only_if_any``: skip the server round trip when this workstation knows of no draft
        (a reply typed without one, the usual case).
        """
        did = draft_id(agent_id, ticket_id)
        exists = conn.execute(select(T_DRAFTS.c.id).where(T_DRAFTS.c.id == did)).first()
        if only_if_any and exists is None and not cache.draft_work_queued(conn, ticket_id):
            return
        self.apply(conn, "draft.delete", {"ticket_id": ticket_id}, changed)

    async def create_ticket(
        self,
        subject: str,
        channel: str,
        *,
        group_id: str | None,
        customer_id: str | None = None,
        assignee_id: str | None = None,
        priority: str = "normal",
        first_message: str | None = None,
        message_kind: str = "reply",
    ) -> str:
        """Open a ticket (works offline; the server numbers it when it arrives)."""
        ticket_id = new_id()
        ticket: dict[str, Any] = {
            "id": ticket_id,
            "subject": subject,
            "channel": channel,
            "priority": priority,
            "customer_id": customer_id,
            "group_id": group_id,
            "assignee_id": assignee_id,
            "tags": [],
        }
        args: dict[str, Any] = {"ticket": ticket}
        if first_message:
            args["message"] = {
                "id": new_id(),
                "ticket_id": ticket_id,
                "kind": message_kind,
                "body": first_message,
            }
        await self.mutate("ticket.create", args)
        return ticket_id


def cached_version(conn: Connection, ticket_id: str) -> int:
    """The version of the ticket the cache holds: what a change made now was made against."""
    version = conn.execute(select(T_TICKETS.c.version).where(T_TICKETS.c.id == ticket_id)).scalar()
    if version is None:
        raise not_on_this_workstation(ticket_id)
    return int(version)


def _ticket_changes(changes: dict[str, Any]) -> dict[str, Any]:
    """Ticket field changes, checked and normalised; `InvalidChange` if the server would
    refuse them."""
    try:
        return p.validated_changes(p.TicketChanges, changes)
    except ValidationError as exc:
        raise InvalidChange(_in_words("invalid ticket change", p.describe(exc))) from exc


def _in_words(message: str, details: Any) -> str:
    """A refusal of invalid input with the fields it names ("subject: too long")."""
    if not isinstance(details, list):
        return message
    reasons = [f"{d.get('loc', '')}: {d.get('msg', '')}" for d in details if isinstance(d, dict)]
    return f"{message} ({'; '.join(reasons)})" if reasons else message
