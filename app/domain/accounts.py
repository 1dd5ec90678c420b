"""Groups and agents: their kinds, and the account mutations only admins may make.

An agent carries the ids of their groups; changing role, groups or ``active`` bumps their
``access_version``, which makes their workstations rebuild what they replicate.  Disabling an
agent or changing their password ends their sessions at once (`StoreTx.secrets`).
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import delete, insert, select, update

from app.domain.kinds import Aggregate, Kind
from app.domain.mutation import Mutation, Refused, StoreTx, admins
from app.domain.sight import EVERYONE, Everyone
from app.domain.wire import load
from app.models.enums import Role
from app.models.tables import T_AGENTS, T_GROUPS, T_MEMBERS
from app.sync import protocol as p
from app.sync.protocol import ErrorCode

GROUP = Kind("group", T_GROUPS, Everyone(), bootstrap=10)
AGENT = Kind(
    "agent",
    T_AGENTS,
    Everyone(),
    bootstrap=20,
    aggregates=(Aggregate("group_ids", T_MEMBERS, "agent_id", ("group_id",), ("group_id",)),),
)


def check_agent(tx: StoreTx, agent_id: str | None) -> None:
    """Refuse an assignment to an agent who does not exist or is disabled."""
    if agent_id is None:
        return
    row = tx.conn.execute(select(T_AGENTS.c.active).where(T_AGENTS.c.id == agent_id)).first()
    if row is None or not row.active:
        raise Refused(ErrorCode.INVALID_MUTATION, f"agent {agent_id} does not exist or is disabled")


def check_group(tx: StoreTx, group_id: str | None) -> None:
    """Refuse a reference to a group that does not exist."""
    if group_id is None:
        return
    if tx.conn.execute(select(T_GROUPS.c.id).where(T_GROUPS.c.id == group_id)).first() is None:
        raise Refused(ErrorCode.INVALID_MUTATION, f"group {group_id} does not exist")


def _set_groups(tx: StoreTx, agent_id: str, group_ids: list[str]) -> None:
    for gid in group_ids:
        check_group(tx, gid)
    tx.conn.execute(delete(T_MEMBERS).where(T_MEMBERS.c.agent_id == agent_id))
    if group_ids:
        rows = [{"agent_id": agent_id, "group_id": g} for g in sorted(set(group_ids))]
        tx.conn.execute(insert(T_MEMBERS), rows)


def _log_agent(tx: StoreTx, agent_id: str, fields: list[str]) -> None:
    tx.log(
        "agent", agent_id, data=load(tx.conn, "agent", agent_id), fields=fields, audience=EVERYONE
    )


def _email_taken(tx: StoreTx, email: str, agent_id: str) -> bool:
    other = tx.conn.execute(select(T_AGENTS.c.id).where(T_AGENTS.c.email == email)).scalar()
    return other is not None and other != agent_id


def agent_create(tx: StoreTx, args: p.AgentCreateArgs) -> dict[str, Any]:
    a = args.agent
    if a.name is None or a.email is None or a.password is None:
        raise Refused(ErrorCode.INVALID_MUTATION, "a new agent needs a name, email and password")
    email = a.email.strip().lower()
    if (
        _email_taken(tx, email, args.agent_id)
        or tx.conn.execute(select(T_AGENTS.c.id).where(T_AGENTS.c.id == args.agent_id)).first()
    ):
        raise Refused(ErrorCode.DUPLICATE, f"an agent with email {email} already exists")
    tx.conn.execute(
        insert(T_AGENTS).values(
            id=args.agent_id,
            name=a.name,
            email=email,
            role=(a.role or Role.AGENT).value,
            active=True if a.active is None else a.active,
            timezone=a.timezone or "UTC",
            access_version=1,
            updated_at=tx.now,
        )
    )
    _set_groups(tx, args.agent_id, list(a.group_ids or []))
    tx.account_secrets().set_password(tx.conn, args.agent_id, a.password)
    _log_agent(tx, args.agent_id, ["*"])
    return {"agent_id": args.agent_id}


def agent_update(tx: StoreTx, args: p.AgentUpdateArgs) -> dict[str, Any]:
    row = tx.conn.execute(select(T_AGENTS).where(T_AGENTS.c.id == args.agent_id)).mappings().first()
    if row is None:
        raise Refused(ErrorCode.NOT_FOUND, f"agent {args.agent_id} does not exist")
    parsed = p.AgentFields.model_validate(args.changes, strict=False)
    changes = p.validated_changes(p.AgentFields, args.changes)
    password = changes.pop("password", None)
    group_ids = changes.pop("group_ids", None)
    for name, value in list(changes.items()):
        if value is None:
            raise Refused(ErrorCode.INVALID_MUTATION, f"{name} cannot be cleared")
    if "email" in changes:
        changes["email"] = changes["email"].strip().lower()
        if _email_taken(tx, changes["email"], args.agent_id):
            raise Refused(ErrorCode.DUPLICATE, f"an agent with email {changes['email']} exists")
    if args.agent_id == tx.viewer.id and (changes.get("active") is False or "role" in changes):
        raise Refused(ErrorCode.FORBIDDEN, "you cannot disable yourself or change your own role")
    access_changed = group_ids is not None or "role" in changes or "active" in changes
    if access_changed:
        changes["access_version"] = row["access_version"] + 1
    tx.conn.execute(
        update(T_AGENTS).where(T_AGENTS.c.id == args.agent_id).values(updated_at=tx.now, **changes)
    )
    if group_ids is not None:
        _set_groups(tx, args.agent_id, list(parsed.group_ids or []))
    if password is not None:
        tx.account_secrets().set_password(tx.conn, args.agent_id, password)
    if changes.get("active") is False or password is not None:
        tx.account_secrets().end_sessions(tx.conn, args.agent_id)
    _log_agent(tx, args.agent_id, sorted(args.changes))
    return {"agent_id": args.agent_id}


def group_create(tx: StoreTx, args: p.GroupCreateArgs) -> dict[str, Any]:
    taken = tx.conn.execute(
        select(T_GROUPS.c.id).where(
            (T_GROUPS.c.id == args.group_id) | (T_GROUPS.c.name == args.name)
        )
    ).first()
    if taken:
        raise Refused(ErrorCode.DUPLICATE, f"a group named {args.name!r} already exists")
    tx.conn.execute(
        insert(T_GROUPS).values(
            id=args.group_id, name=args.name, description=args.description, updated_at=tx.now
        )
    )
    data = load(tx.conn, "group", args.group_id)
    tx.log("group", args.group_id, data=data, fields=["*"], audience=EVERYONE)
    return {"group_id": args.group_id}


def _for_admins(
    name: str, args: type[Any], apply: Any, kind: str, refusal: str, **more: Any
) -> Mutation[Any]:
    """An account mutation: only admins (and the server's own actors) may make it."""
    denied = "only admins manage accounts and groups"
    return Mutation(name, args, apply, kind, refusal, allowed=admins, denied=denied, **more)


KINDS = (GROUP, AGENT)
MUTATIONS = (
    _for_admins(
        "agent.create",
        p.AgentCreateArgs,
        agent_create,
        "agent",
        "New agent",
        subject=lambda a: a.agent_id,
    ),
    _for_admins(
        "agent.update",
        p.AgentUpdateArgs,
        agent_update,
        "agent",
        "Agent change",
        subject=lambda a: a.agent_id,
        changes=p.AgentFields,
    ),
    _for_admins(
        "group.create",
        p.GroupCreateArgs,
        group_create,
        "group",
        "New group",
        subject=lambda a: a.group_id,
    ),
)
