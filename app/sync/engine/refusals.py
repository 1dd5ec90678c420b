"""Refused changes: the ones the server rejected, kept for the agent to review, send again
("send anyway" after a conflict) or dismiss (the desk's "Discard")."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Connection, delete, select

from app.models.base import new_id
from app.models.tables import T_ATTACHMENTS, T_MESSAGES
from app.sync import queries
from app.sync.cache_tables import T_REFUSALS
from app.sync.desk_types import ticket_of
from app.sync.engine.context import EngineContext
from app.sync.engine.errors import (
    CannotResend,
    NotOnThisWorkstation,
)
from app.sync.engine.local import LocalChanges, cached_version
from app.sync.notice import Touched


class Refusals:
    """The agent's refused changes: list, resend, dismiss."""

    def __init__(self, ctx: EngineContext, local: LocalChanges) -> None:
        self._ctx = ctx
        self._local = local

    async def refusals(self) -> list[dict[str, Any]]:
        return await self._ctx.read(queries.refusals)

    async def resend_refused(self, mutation_id: int) -> int:
        """Queue a refused change again ("send anyway" after a conflict), now against the
        ticket's current cached version: the agent has reviewed what changed meanwhile.

        A ``message.add``: the failed local message is removed and the same text queued as a
        new message (a new id: the server has already answered the old one).  A
        ``ticket.update``: the same changes, applied to the cache again.  The refusal goes
        too, all in one local transaction.  Returns the new mutation id.  Raises
        `NotOnThisWorkstation` if there is no such refusal or its ticket left the cache,
        `CannotResend` for other kinds of change.  Observers hear of the message, the ticket
        and the ``refusal``.
        """
        changed = Touched()

        def work(conn: Connection) -> int:
            name, args = self._refusal(conn, mutation_id)
            changed.add("refusal", str(mutation_id), ticket_of(args))
            if name == "message.add":
                message = dict(args["message"])
                ticket_id = str(message["ticket_id"])
                version = cached_version(conn, ticket_id)
                old_id = str(message["id"])
                conn.execute(
                    delete(T_MESSAGES).where(
                        T_MESSAGES.c.id == old_id, T_MESSAGES.c.delivery_state == "failed"
                    )
                )
                message["id"] = new_id()
                new_args: dict[str, Any] = {"message": message}
                if "seen_version" in args:  # replies are guarded, notes are not
                    new_args["seen_version"] = version
                if args.get("attachments"):  # its files go with it, under new ids too
                    conn.execute(delete(T_ATTACHMENTS).where(T_ATTACHMENTS.c.message_id == old_id))
                    new_args["attachments"] = [
                        {**a, "id": new_id()} for a in args["attachments"] if isinstance(a, dict)
                    ]
                resent = self._local.apply(conn, "message.add", new_args, changed)
                changed.add("message", old_id, ticket_id)
            elif name == "ticket.update":
                ticket_id = str(args["ticket_id"])
                version = cached_version(conn, ticket_id)
                new_args = {
                    "ticket_id": ticket_id,
                    "changes": args["changes"],
                    "seen_version": version,
                }
                resent = self._local.apply(conn, "ticket.update", new_args, changed)
            else:
                raise CannotResend(
                    "this kind of change cannot be sent again; copy its text instead"
                )
            changed.add("ticket", ticket_id, ticket_id)
            conn.execute(delete(T_REFUSALS).where(T_REFUSALS.c.mutation_id == mutation_id))
            return resent

        # ``changed`` is filled in by ``work`` before ``local`` reports it.
        return await self._local.local(work, changed)

    async def dismiss_refusal(self, mutation_id: int) -> None:
        """The agent is done with a refused change (the desk's "Discard", or "Edit" once the
        text is back in the composer): the refusal goes, and with it the failed copy a refused
        reply or note left in its thread, as a mail client drops a failed send when it is
        discarded; until then the text could be copied, edited or sent again.  (There is no
        way to drop the refusal alone: it would leave a "not sent" message that nothing can
        review or remove.)  Nothing happens if it is already gone."""
        changed = Touched()

        def work(conn: Connection) -> None:
            try:
                name, args = self._refusal(conn, mutation_id)
            except NotOnThisWorkstation:
                changed.add("refusal", str(mutation_id))
                return
            changed.add("refusal", str(mutation_id), ticket_of(args))
            if name == "message.add":
                message = args["message"]
                conn.execute(
                    delete(T_MESSAGES).where(
                        T_MESSAGES.c.id == message["id"], T_MESSAGES.c.delivery_state == "failed"
                    )
                )
                ticket_id = str(message["ticket_id"])
                changed.add("message", str(message["id"]), ticket_id)
                changed.add("ticket", ticket_id, ticket_id)
            conn.execute(delete(T_REFUSALS).where(T_REFUSALS.c.mutation_id == mutation_id))

        await self._ctx.db(work)
        self._ctx.observer.entities_changed(changed.notice())

    @staticmethod
    def _refusal(conn: Connection, mutation_id: int) -> tuple[str, dict[str, Any]]:
        row = conn.execute(
            select(T_REFUSALS.c.name, T_REFUSALS.c.args).where(
                T_REFUSALS.c.mutation_id == mutation_id
            )
        ).first()
        if row is None:
            raise NotOnThisWorkstation("that refused change is no longer on this workstation")
        return str(row.name), dict(row.args)
