"""@mentions: an agent named in a colleague's internal note, recorded so they find it later.

A note's ``@handle`` names an agent by the local part of their email ("@ada" for
ada@example.com) or by their first name where no other active agent shares it.  Mentions are
recorded by the server as it adds the note (`record_mentions`, from ``message.add``): whoever
wrote the note, from whichever workstation, online or queued offline, the rows are the same,
and their id is derived from (message, agent), so a replay names the same mention.  Only
internal notes mention: a reply goes to the customer, who must not see agents' handles, as in
Zendesk and Front.

A mention is seen by the mentioned agent alone (``Owner``); ``mention.seen`` marks it read.
"""

from __future__ import annotations

import re
from typing import Any, cast

from sqlalchemy import Connection, Table, insert, select, update

from app.domain.kinds import Kind
from app.domain.mutation import CacheTx, Mutation, NotInCache, Refused, StoreTx
from app.domain.sight import Owner
from app.domain.wire import load, to_wire
from app.models.entities import Mention, mention_id
from app.models.enums import MessageKind
from app.models.tables import T_AGENTS
from app.sync.protocol import ErrorCode, Id, WireModel

T_MENTIONS = cast(Table, Mention.__table__)
Row = dict[str, Any]

MENTION = Kind(
    "mention",
    T_MENTIONS,
    Owner("agent_id"),
    bootstrap=95,  # after attachments (90)
    on_ticket="ticket_id",
)

# "@ada", "@ada.lovelace", "@Lin": not the "@" inside an address (lin@example.com).
MENTION_TOKEN = re.compile(r"(?<![\w@.])@([\w][\w.-]*)")


def handle_of(email: str) -> str:
    """The handle the composer inserts for an agent: their email's local part."""
    return email.split("@", 1)[0]


def tokens_in(body: str) -> set[str]:
    """The ``@handle`` tokens of a text, lower case, without trailing punctuation."""
    return {t.rstrip(".-").lower() for t in MENTION_TOKEN.findall(body)}


def agents_named(agents: list[tuple[str, str, str]], tokens: set[str]) -> list[str]:
    """The ids of the agents (id, name, email) the tokens name: by email local part, or by
    first name where only one agent has it."""
    if not tokens:
        return []
    first_names: dict[str, list[str]] = {}
    for agent_id, name, _email in agents:
        first = name.split()[0].lower() if name.split() else ""
        if first:
            first_names.setdefault(first, []).append(agent_id)
    found: list[str] = []
    for agent_id, name, email in agents:
        first = name.split()[0].lower() if name.split() else ""
        by_handle = handle_of(email).lower() in tokens
        by_name = first in tokens and len(first_names.get(first, [])) == 1
        if by_handle or by_name:
            found.append(agent_id)
    return sorted(found)


def mentioned_agents(conn: Connection, body: str, author_id: str | None) -> list[str]:
    """The active agents ``body`` mentions, never its author."""
    tokens = tokens_in(body)
    if not tokens:
        return []
    rows = conn.execute(
        select(T_AGENTS.c.id, T_AGENTS.c.name, T_AGENTS.c.email).where(T_AGENTS.c.active)
    ).all()
    agents = [(str(r[0]), str(r[1] or ""), str(r[2] or "")) for r in rows]
    return [a for a in agents_named(agents, tokens) if a != author_id]


def record_mentions(tx: StoreTx, message: Row) -> None:
    """Record (and log, to each mentioned agent) the mentions of an agent's new note."""
    if message["kind"] != MessageKind.NOTE.value:
        return
    author = message["author_agent_id"]
    for agent_id in mentioned_agents(tx.conn, message["body"], author):
        mid = mention_id(message["id"], agent_id)
        taken = tx.conn.execute(select(T_MENTIONS.c.id).where(T_MENTIONS.c.id == mid)).first()
        if taken is not None:
            continue
        row = {
            "id": mid,
            "agent_id": agent_id,
            "by_agent_id": author,
            "ticket_id": message["ticket_id"],
            "message_id": message["id"],
            "created_at": tx.now,
            "seen_at": None,
        }
        tx.conn.execute(insert(T_MENTIONS).values(**row))
        data = to_wire("mention", row)
        tx.log("mention", mid, data=data, fields=["*"], audience=MENTION.sight.audience(data))


# ---- marking a mention seen --------------------------------------------------------------


class MentionSeenArgs(WireModel):
    mention_id: Id


def mention_seen(tx: StoreTx, args: MentionSeenArgs) -> Row:
    found = tx.conn.execute(select(T_MENTIONS).where(T_MENTIONS.c.id == args.mention_id))
    row = found.mappings().first()
    if row is None or row["agent_id"] != tx.viewer.id:
        raise Refused(ErrorCode.NOT_FOUND, f"mention {args.mention_id} does not exist")
    if row["seen_at"] is not None:  # seen on another workstation first: nothing to change
        return {"mention_id": args.mention_id, "changed": []}
    tx.conn.execute(
        update(T_MENTIONS).where(T_MENTIONS.c.id == args.mention_id).values(seen_at=tx.now)
    )
    data = load(tx.conn, "mention", args.mention_id)
    assert data is not None  # changed in this very transaction
    audience = MENTION.sight.audience(data)
    tx.log("mention", args.mention_id, data=data, fields=["seen_at"], audience=audience)
    return {"mention_id": args.mention_id, "changed": ["seen_at"]}


def mention_seen_locally(tx: CacheTx, args: MentionSeenArgs) -> None:
    """Read at once (the unread count drops as the agent opens it); put back if refused."""
    found = tx.conn.execute(
        select(T_MENTIONS.c.seen_at, T_MENTIONS.c.ticket_id).where(
            T_MENTIONS.c.id == args.mention_id
        )
    ).first()
    if found is None:
        raise NotInCache("mention", args.mention_id)
    # In wire form (ISO text), as the outbox keeps them.
    before = found[0]
    tx.base = {"seen_at": before.isoformat() if before is not None else None}
    tx.patch = {"seen_at": tx.now.isoformat()}
    tx.conn.execute(
        update(T_MENTIONS).where(T_MENTIONS.c.id == args.mention_id).values(seen_at=tx.now)
    )
    tx.touch("mention", args.mention_id, found[1])


KINDS = (MENTION,)
MUTATIONS = (
    Mutation(
        "mention.seen",
        MentionSeenArgs,
        mention_seen,
        kind="mention",
        refusal="Mention read",
        subject=lambda a: a.mention_id,
        optimistic=mention_seen_locally,
    ),
)
