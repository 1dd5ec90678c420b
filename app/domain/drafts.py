"""Drafts: an agent's unsent text on a ticket, their own alone, following them between
workstations.  A bootstrap never drops a draft from a workstation's cache: it is the agent's
own work, and the server's copy arrives as an ordinary change."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Connection, delete, func, insert, select, true, update

from app.domain.kinds import Kind
from app.domain.mutation import CacheTx, Mutation, Refused, StoreTx
from app.domain.sight import Owner
from app.domain.tickets import visible_ticket
from app.domain.wire import load, upsert_many
from app.models.entities import draft_id
from app.models.tables import T_DRAFTS
from app.sync import protocol as p

# What one agent may keep in drafts (docs/protocol.md section 16): far above what a person
# writes, and a bound on what one account can make the store hold.
DRAFTS_PER_AGENT = 500
DRAFT_CHARS_PER_AGENT = 5_000_000

DRAFT = Kind(
    "draft",
    T_DRAFTS,
    Owner("agent_id"),
    bootstrap=80,
    unsent=lambda table: true(),
    on_ticket="ticket_id",
)


def draft_save(tx: StoreTx, args: p.DraftSaveArgs) -> dict[str, Any]:
    did = draft_id(tx.viewer.id, args.ticket_id)
    # A draft may outlive the agent's sight of its ticket (reassignment must not lose text),
    # but a new one needs a ticket the agent can see.
    existing = tx.conn.execute(select(T_DRAFTS.c.id).where(T_DRAFTS.c.id == did)).first()
    if existing is None:
        visible_ticket(tx, args.ticket_id, lock=False)
    within_quota(tx, did, new=existing is None, chars=len(args.body))
    values = {"kind": args.kind, "body": args.body, "updated_at": tx.now}
    done = tx.conn.execute(update(T_DRAFTS).where(T_DRAFTS.c.id == did).values(**values))
    if done.rowcount == 0:
        tx.conn.execute(
            insert(T_DRAFTS).values(
                id=did, agent_id=tx.viewer.id, ticket_id=args.ticket_id, **values
            )
        )
    data = load(tx.conn, "draft", did)
    assert data is not None
    tx.log("draft", did, data=data, fields=["body"], audience=DRAFT.sight.audience(data))
    return {"draft_id": did}


def within_quota(tx: StoreTx, did: str, *, new: bool, chars: int) -> None:
    """Refuse (``quota_exceeded``) a save that would take the agent's drafts over their
    count or their characters."""
    count, total = tx.conn.execute(
        select(func.count(), func.coalesce(func.sum(func.length(T_DRAFTS.c.body)), 0)).where(
            T_DRAFTS.c.agent_id == tx.viewer.id, T_DRAFTS.c.id != did
        )
    ).one()
    if new and count >= DRAFTS_PER_AGENT:
        raise Refused(
            p.ErrorCode.QUOTA_EXCEEDED,
            f"you already keep {count} drafts, the most allowed; send or discard some first",
        )
    if total + chars > DRAFT_CHARS_PER_AGENT:
        raise Refused(
            p.ErrorCode.QUOTA_EXCEEDED,
            f"your drafts would hold over {DRAFT_CHARS_PER_AGENT:,} characters together; "
            "send or discard some first",
        )


def draft_delete(tx: StoreTx, args: p.DraftDeleteArgs) -> dict[str, Any]:
    did = draft_id(tx.viewer.id, args.ticket_id)
    done = tx.conn.execute(delete(T_DRAFTS).where(T_DRAFTS.c.id == did))
    if done.rowcount:
        audience = DRAFT.sight.audience({"agent_id": tx.viewer.id})
        tx.log("draft", did, data=None, fields=[], audience=audience)
    return {"draft_id": did}


def draft_save_locally(tx: CacheTx, args: p.DraftSaveArgs) -> None:
    """The agent's text kept in the cache at once (a crash or restart must not lose it).

    What it replaced is kept too, for a refusal to put back (`draft_save_refused`)."""
    did = draft_id(tx.agent_id, args.ticket_id)
    tx.base = replaced_draft(tx.conn, did)
    values = {"kind": args.kind, "body": args.body, "updated_at": tx.now}
    done = tx.conn.execute(update(T_DRAFTS).where(T_DRAFTS.c.id == did).values(**values))
    if done.rowcount == 0:
        draft = {"id": did, "agent_id": tx.agent_id, "ticket_id": args.ticket_id, **values}
        tx.conn.execute(insert(T_DRAFTS).values(**draft))
    tx.touch("draft", did, args.ticket_id)


def draft_delete_locally(tx: CacheTx, args: p.DraftDeleteArgs) -> None:
    did = draft_id(tx.agent_id, args.ticket_id)
    tx.conn.execute(delete(T_DRAFTS).where(T_DRAFTS.c.id == did))
    tx.touch("draft", did, args.ticket_id)


def replaced_draft(conn: Connection, did: str) -> dict[str, Any]:
    """The base a draft save records: the draft the cache holds now, in wire form, or None.

    Not as field values: the cache restores those on the row whose id is the outbox
    entry's, and a draft is filed under its ticket's id, so its undo puts it back itself.
    The cache refreshes it to the server's draft whenever that arrives (the agent's other
    workstation may save over it meanwhile)."""
    return {"previous": load(conn, "draft", did)}


def draft_save_refused(tx: CacheTx, args: p.DraftSaveArgs) -> None:
    """Refused (a new draft on a ticket the agent may no longer see, or over their quota,
    also when replacing a draft): the server keeps what it had, so the cache goes back to
    the draft the save replaced, or to none if there was none — unless a later save or
    discard of it is queued (that one decides).  The text lives on in the refusal for the
    agent to copy."""
    if tx.queued_after:
        return
    did = draft_id(tx.agent_id, args.ticket_id)
    tx.conn.execute(delete(T_DRAFTS).where(T_DRAFTS.c.id == did))
    # Queued before drafts kept their base (no "previous"): the cache drops its copy, as then.
    previous = tx.base.get("previous")
    if isinstance(previous, dict):
        upsert_many(tx.conn, "draft", [previous])
    tx.touch("draft", did, args.ticket_id)


KINDS = (DRAFT,)
MUTATIONS = (
    Mutation(
        "draft.save",
        p.DraftSaveArgs,
        draft_save,
        kind="draft",
        refusal="Draft",
        subject=lambda a: a.ticket_id,  # a draft is filed under its ticket
        optimistic=draft_save_locally,
        undo=draft_save_refused,
    ),
    Mutation(
        "draft.delete",
        p.DraftDeleteArgs,
        draft_delete,
        kind="draft",
        refusal="Draft deletion",
        subject=lambda a: a.ticket_id,
        optimistic=draft_delete_locally,
    ),
)
