"""Local changes: the agent's edits, applied to the cache and queued in the outbox in one
transaction, so they work offline and survive a crash (replies, ticket fields, tags, drafts,
new tickets, any other mutation)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

from pydantic import ValidationError
from sqlalchemy import Connection, delete, insert, select, update

from app.domain.registry import DOMAIN
from app.models.base import new_id, utcnow
from app.models.entities import draft_id
from app.models.tables import T_DRAFTS, T_MESSAGES, T_TICKETS
from app.sync import cache
from app.sync import protocol as p
from app.sync.engine.context import EngineContext
from app.sync.engine.errors import InvalidChange, not_on_this_workstation
from app.sync.notice import Touched
from app.sync.observer import ConnectionState

T = TypeVar("T")


class LocalChanges:
    """The agent's changes, each one local transaction with its outbox row."""

    def __init__(self, ctx: EngineContext) -> None:
        self._ctx = ctx

    @staticmethod
    def enqueue(
        conn: Connection,
        name: str,
        args: dict[str, Any],
        entity: str,
        entity_id: str,
        **extra: Any,
    ) -> int:
        """Queue a mutation in the caller's transaction; returns its id."""
        try:
            DOMAIN.parse(name, args)  # never queue what the server must refuse as invalid
        except p.ProtocolError as exc:
            raise InvalidChange(_in_words(exc.message, exc.details)) from exc
        mutation_id = cache.enqueue(
            conn, name, args, entity, entity_id, extra.get("patch"), extra.get("base")
        )
        return mutation_id

    async def local(self, fn: Callable[[Connection], T], changed: Touched) -> T:
        """Run ``fn`` (a change and its outbox rows) in one transaction, wake the sender and
        tell the observer what changed."""
        ctx = self._ctx
        result = await ctx.db(fn)
        ctx.outbox_ready.set()
        ctx.observer.entities_changed(changed.notice())
        status = ctx.status
        if status.state != ConnectionState.ONLINE:
            outbox = await ctx.read(cache.outbox_count)
            ctx.set_status(status.state, status.detail, status.retry_in, outbox)
        return result

    async def reply(
        self,
        ticket_id: str,
        body: str,
        *,
        kind: str = "reply",
        seen_version: int | None = None,
        clears_draft: bool = True,
    ) -> str:
        """Queue a public reply or internal note; returns the message id."""
        agent_id = self._ctx.require_agent()
        message_id = new_id()

        def work(conn: Connection) -> None:
            version = conn.execute(
                select(T_TICKETS.c.version).where(T_TICKETS.c.id == ticket_id)
            ).scalar()
            if version is None:
                raise not_on_this_workstation(ticket_id)
            args: dict[str, Any] = {
                "message": {"id": message_id, "ticket_id": ticket_id, "kind": kind, "body": body}
            }
            if kind == "reply":
                args["seen_version"] = version if seen_version is None else seen_version
            self.enqueue(conn, "message.add", args, "message", message_id)
            conn.execute(
                insert(T_MESSAGES).values(
                    id=message_id,
                    ticket_id=ticket_id,
                    kind=kind,
                    author_type="agent",
                    author_agent_id=agent_id,
                    body=body,
                    created_at=utcnow(),
                    delivery_state="queued",
                )
            )
            if clears_draft:
                # The draft goes with the send, after it in the outbox: the text lives on in
                # the queued message (kept, marked failed, if the server refuses it), and
                # whatever the agent types next is a new draft.
                self._discard_draft(conn, agent_id, ticket_id, only_if_any=True)

        changed = Touched.of(("message", message_id, ticket_id), ("ticket", ticket_id, ticket_id))
        if clears_draft:
            changed.add("draft", draft_id(agent_id, ticket_id), ticket_id)
        await self.local(work, changed)
        return message_id

    async def update_ticket(
        self, ticket_id: str, changes: dict[str, Any], seen_version: int | None = None
    ) -> int:
        """Queue a change of ticket fields, applied to the cache at once."""
        normalised = _ticket_changes(changes)

        def work(conn: Connection) -> int:
            row = (
                conn.execute(select(T_TICKETS).where(T_TICKETS.c.id == ticket_id))
                .mappings()
                .first()
            )
            if row is None:
                raise not_on_this_workstation(ticket_id)
            base = {k: row[k] for k in normalised}
            args = {
                "ticket_id": ticket_id,
                "changes": normalised,
                "seen_version": row["version"] if seen_version is None else seen_version,
            }
            mutation_id = self.enqueue(
                conn, "ticket.update", args, "ticket", ticket_id, patch=normalised, base=base
            )
            conn.execute(update(T_TICKETS).where(T_TICKETS.c.id == ticket_id).values(**normalised))
            return mutation_id

        return await self.local(work, Touched.of(("ticket", ticket_id, ticket_id)))

    async def add_tag(self, ticket_id: str, tag: str) -> int | None:
        """Add ``tag`` to the ticket's tags as the cache has them *now* (read in the same
        transaction as the change), for bulk tagging: a list row not loaded yet, or loaded
        before a colleague's tag arrived, must not decide the other tags.  None if the
        ticket already has it.  (Tags are last-writer-wins on the server: see
        docs/protocol.md 11.7.)"""
        normalised = _ticket_changes({"tags": [tag]})
        tag = normalised["tags"][0]

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
            changes = {"tags": [*tags, tag]}
            args = {"ticket_id": ticket_id, "changes": changes, "seen_version": row["version"]}
            mutation_id = self.enqueue(
                conn, "ticket.update", args, "ticket", ticket_id, patch=changes, base={"tags": tags}
            )
            conn.execute(update(T_TICKETS).where(T_TICKETS.c.id == ticket_id).values(**changes))
            return mutation_id

        return await self.local(work, Touched.of(("ticket", ticket_id, ticket_id)))

    async def save_draft(self, ticket_id: str, body: str, kind: str = "reply") -> None:
        """Keep the agent's unsent text (call it debounced while typing)."""
        agent_id = self._ctx.require_agent()
        did = draft_id(agent_id, ticket_id)

        def work(conn: Connection) -> None:
            now = utcnow()
            done = conn.execute(
                update(T_DRAFTS)
                .where(T_DRAFTS.c.id == did)
                .values(body=body, kind=kind, updated_at=now)
            )
            if done.rowcount == 0:
                conn.execute(
                    insert(T_DRAFTS).values(
                        id=did,
                        agent_id=agent_id,
                        ticket_id=ticket_id,
                        kind=kind,
                        body=body,
                        updated_at=now,
                    )
                )
            args = {"ticket_id": ticket_id, "kind": kind, "body": body}
            if not cache.coalesce_draft(conn, ticket_id, args):
                self.enqueue(conn, "draft.save", args, "draft", ticket_id)

        await self.local(work, Touched.of(("draft", did, ticket_id)))

    async def discard_draft(self, ticket_id: str) -> None:
        agent_id = self._ctx.require_agent()
        did = draft_id(agent_id, ticket_id)

        await self.local(
            lambda conn: self._discard_draft(conn, agent_id, ticket_id),
            Touched.of(("draft", did, ticket_id)),
        )

    def _discard_draft(
        self, conn: Connection, agent_id: str, ticket_id: str, *, only_if_any: bool = False
    ) -> None:
        """Delete the draft here and queue its deletion on the server.

        ``only_if_any``: skip the server round trip when this workstation knows of no draft
        (a reply typed without one, the usual case).
        """
        done = conn.execute(delete(T_DRAFTS).where(T_DRAFTS.c.id == draft_id(agent_id, ticket_id)))
        if only_if_any and not done.rowcount and not cache.draft_work_queued(conn, ticket_id):
            return
        self.enqueue(conn, "draft.delete", {"ticket_id": ticket_id}, "draft", ticket_id)

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
        agent_id = self._ctx.require_agent()
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
        message_id = new_id() if first_message else None
        if first_message:
            args["message"] = {
                "id": message_id,
                "ticket_id": ticket_id,
                "kind": message_kind,
                "body": first_message,
            }

        def work(conn: Connection) -> None:
            self.enqueue(conn, "ticket.create", args, "ticket", ticket_id)
            now = utcnow()
            conn.execute(
                insert(T_TICKETS).values(
                    id=ticket_id,
                    number=None,
                    subject=subject,
                    status="new",
                    priority=priority,
                    channel=channel,
                    customer_id=customer_id,
                    assignee_id=assignee_id,
                    group_id=group_id,
                    tags=[],
                    created_at=now,
                    updated_at=now,
                    version=0,
                )
            )
            if message_id:
                conn.execute(
                    insert(T_MESSAGES).values(
                        id=message_id,
                        ticket_id=ticket_id,
                        kind=message_kind,
                        author_type="agent",
                        author_agent_id=agent_id,
                        body=first_message,
                        created_at=now,
                        delivery_state="queued",
                    )
                )

        changed = Touched.of(("ticket", ticket_id, ticket_id))
        if message_id:
            changed.add("message", message_id, ticket_id)
        await self.local(work, changed)
        return ticket_id

    async def mutate(self, name: str, args: dict[str, Any], entity: str, entity_id: str) -> int:
        """Queue any other mutation (customers, canned responses, accounts) without an
        optimistic change; the cache updates when the server's change arrives."""
        return await self.local(lambda c: self.enqueue(c, name, args, entity, entity_id), Touched())


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
