"""Applying a client's mutation to the store, server-authoritatively.

Each mutation runs inside the caller's transaction (a savepoint per mutation), checks the
access rules, changes the rows and appends one change-log row per changed entity.  A mutation
that cannot be applied raises `MutationRejected`; the caller rolls its savepoint back, so a
rejected mutation changes nothing.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, delete, func, insert, select, update

from app.models import wire
from app.models.entities import (
    draft_id,
)
from app.models.enums import AuthorType, MessageKind, Role, TicketStatus
from app.models.tables import (
    T_AGENTS,
    T_CANNED,
    T_COUNTERS,
    T_CUSTOMERS,
    T_DRAFTS,
    T_GROUPS,
    T_IDENTITIES,
    T_LOG,
    T_MEMBERS,
    T_MESSAGES,
    T_ORGS,
    T_TICKETS,
)
from app.server import access, auth
from app.server.access import Audience, Viewer
from app.sync import protocol as p
from app.sync.protocol import ErrorCode

# Built once: executing a prepared statement with a parameter dict skips building and hashing a
# new statement per row (the change log gets one or two rows per mutation).
LOG_INSERT = insert(T_LOG).returning(T_LOG.c.seq)


class MutationRejected(Exception):
    """A mutation the server will not apply, with its documented error code."""

    def __init__(self, code: ErrorCode, message: str, current: Any = None) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.current = current


@dataclass
class WriteContext:
    """One mutation's view of the transaction: who acts, from where, and what it changed."""

    conn: Connection
    viewer: Viewer
    device_id: str | None
    now: datetime
    logged: list[dict[str, Any]] = field(default_factory=list)

    def log(
        self,
        entity: str,
        entity_id: str,
        *,
        data: dict[str, Any] | None,
        fields: list[str],
        audience: Audience,
        prev: Audience | None = None,
        ticket_version: int | None = None,
    ) -> None:
        """Append a change row; the database assigns its seq."""
        row = log_row(
            self.viewer,
            self.device_id,
            self.now,
            entity,
            entity_id,
            data=data,
            fields=fields,
            audience=audience,
            prev=prev,
            ticket_version=ticket_version,
        )
        row["seq"] = self.conn.execute(LOG_INSERT, row).scalar_one()
        self.logged.append(row)


def log_row(
    viewer: Viewer,
    device_id: str | None,
    now: datetime,
    entity: str,
    entity_id: str,
    *,
    data: dict[str, Any] | None,
    fields: list[str],
    audience: Audience,
    prev: Audience | None = None,
    ticket_version: int | None = None,
) -> dict[str, Any]:
    """The change-log row (without its seq) for one changed entity."""
    changed = prev is not None and prev != audience
    return {
        "entity": entity,
        "entity_id": entity_id,
        "op": "delete" if data is None else "upsert",
        "fields": fields,
        "data": data,
        "actor_id": viewer.id,
        "device_id": device_id,
        "ticket_version": ticket_version,
        "created_at": now,
        "audience": audience.kind,
        "group_id": audience.group_id,
        "agent_id": audience.agent_id,
        "audience_changed": changed,
        "prev_audience": prev.kind if changed and prev else None,
        "prev_group_id": prev.group_id if changed and prev else None,
        "prev_agent_id": prev.agent_id if changed and prev else None,
    }


def _reject(code: ErrorCode, message: str, current: Any = None) -> MutationRejected:
    return MutationRejected(code, message, current)


def _id_taken(entity_id: str) -> MutationRejected:
    # The same answer whether or not the agent may see the row that has the id: that it is
    # taken is all any id collision tells, never what holds it or whose it is.
    return _reject(ErrorCode.DUPLICATE, f"the id {entity_id} is already taken; use a new id")


def _load(conn: Connection, entity: str, entity_id: str) -> dict[str, Any] | None:
    return wire.load(conn, entity, entity_id)


def _visible_ticket(ctx: WriteContext, ticket_id: str, *, lock: bool = True) -> dict[str, Any]:
    q = select(T_TICKETS).where(T_TICKETS.c.id == ticket_id)
    if lock:
        q = q.with_for_update()  # PostgreSQL: serialise guarded checks on one ticket
    row = ctx.conn.execute(q).mappings().first()
    if row is None or not access.can_see(ctx.viewer, access.ticket_audience(row)):
        raise _reject(ErrorCode.NOT_FOUND, f"ticket {ticket_id} does not exist or is not visible")
    return dict(row)


def _stale_by_others(ctx: WriteContext, ticket: dict[str, Any], seen: int) -> bool:
    """Whether someone else changed the ticket after version ``seen``.

    The agent's own queued changes bump the version too; they must not count as a collision.
    """
    if seen >= ticket["version"]:
        return False
    return changed_by_others(ctx.conn, ticket["id"], seen, ctx.device_id)


def changed_by_others(conn: Connection, ticket_id: str, seen: int, device_id: str | None) -> bool:
    """Whether the log holds a version of the ticket after ``seen`` from another device."""
    other = conn.execute(
        select(T_LOG.c.seq)
        .where(
            T_LOG.c.entity == "ticket",
            T_LOG.c.entity_id == ticket_id,
            T_LOG.c.ticket_version > seen,
            (T_LOG.c.device_id != device_id) | T_LOG.c.device_id.is_(None),
        )
        .limit(1)
    ).first()
    return other is not None


def _log_ticket(
    ctx: WriteContext, ticket_id: str, fields: list[str], prev: Audience | None = None
) -> dict[str, Any]:
    data = _load(ctx.conn, "ticket", ticket_id)
    assert data is not None  # we changed it in this very transaction
    ctx.log(
        "ticket",
        ticket_id,
        data=data,
        fields=fields,
        audience=access.ticket_audience(data),
        prev=prev,
        ticket_version=data["version"],
    )
    return data


def _check_agent(ctx: WriteContext, agent_id: str | None) -> None:
    if agent_id is None:
        return
    row = ctx.conn.execute(select(T_AGENTS.c.active).where(T_AGENTS.c.id == agent_id)).first()
    if row is None or not row.active:
        raise _reject(ErrorCode.INVALID_MUTATION, f"agent {agent_id} does not exist or is disabled")


def _check_group(ctx: WriteContext, group_id: str | None) -> None:
    if group_id is None:
        return
    if ctx.conn.execute(select(T_GROUPS.c.id).where(T_GROUPS.c.id == group_id)).first() is None:
        raise _reject(ErrorCode.INVALID_MUTATION, f"group {group_id} does not exist")


def _next_number(ctx: WriteContext) -> int:
    # UPDATE ... RETURNING holds the row lock to commit, so numbers are unique across servers.
    value = ctx.conn.execute(
        update(T_COUNTERS)
        .where(T_COUNTERS.c.name == "ticket_number")
        .values(value=T_COUNTERS.c.value + 1)
        .returning(T_COUNTERS.c.value)
    ).scalar()
    if value is None:
        highest = ctx.conn.execute(select(func.max(T_TICKETS.c.number))).scalar() or 0
        value = highest + 1
        ctx.conn.execute(insert(T_COUNTERS).values(name="ticket_number", value=value))
    return int(value)


def new_message_row(msg: p.NewMessage, author_id: str, now: datetime) -> dict[str, Any]:
    """Every column of the messages row an agent's new message becomes."""
    return {
        "id": msg.id,
        "ticket_id": msg.ticket_id,
        "kind": msg.kind.value,
        "author_type": AuthorType.AGENT.value,
        "author_agent_id": author_id,
        "author_customer_id": None,
        "body": msg.body,
        "created_at": now,
        "delivery_state": "sent",
    }


def _insert_message(ctx: WriteContext, msg: p.NewMessage, ticket: dict[str, Any]) -> None:
    if ctx.conn.execute(select(T_MESSAGES.c.id).where(T_MESSAGES.c.id == msg.id)).first():
        raise _id_taken(msg.id)
    if msg.kind == MessageKind.EVENT:
        raise _reject(ErrorCode.INVALID_MUTATION, "system events are written by the server only")
    row = new_message_row(msg, ctx.viewer.id, ctx.now)
    row["ticket_id"] = ticket["id"]
    ctx.conn.execute(insert(T_MESSAGES), row)
    data = wire.to_wire("message", row)  # exactly what was written: no need to read it back
    ctx.log("message", msg.id, data=data, fields=[], audience=access.ticket_audience(ticket))


def thread_grew(
    ticket: dict[str, Any], kind: MessageKind, now: datetime
) -> tuple[dict[str, Any], list[str]]:
    """The ticket columns a new message changes, and the field names its log row lists."""
    values: dict[str, Any] = {"version": ticket["version"] + 1, "updated_at": now}
    fields = ["thread"]
    if kind == MessageKind.REPLY:
        if ticket["first_response_at"] is None:
            values["first_response_at"] = now
            fields.append("first_response_at")
        if ticket["status"] == TicketStatus.NEW:
            values["status"] = TicketStatus.OPEN.value
            fields.append("status")
    return values, fields


# --------------------------------------------------------------------------------------------
# Tickets and messages
# --------------------------------------------------------------------------------------------


def ticket_create(ctx: WriteContext, args: p.TicketCreateArgs) -> dict[str, Any]:
    t = args.ticket
    _check_group(ctx, t.group_id)
    _check_agent(ctx, t.assignee_id)
    may = (
        ctx.viewer.sees_everything
        or (t.group_id is not None and t.group_id in ctx.viewer.group_ids)
        or t.assignee_id == ctx.viewer.id
    )
    if not may:
        raise _reject(ErrorCode.FORBIDDEN, "a ticket must go to one of your groups or to you")
    if ctx.conn.execute(select(T_TICKETS.c.id).where(T_TICKETS.c.id == t.id)).first():
        raise _id_taken(t.id)
    if (
        t.customer_id is not None
        and not ctx.conn.execute(
            select(T_CUSTOMERS.c.id).where(T_CUSTOMERS.c.id == t.customer_id)
        ).first()
    ):
        raise _reject(ErrorCode.INVALID_MUTATION, f"customer {t.customer_id} does not exist")
    number = _next_number(ctx)
    ctx.conn.execute(
        insert(T_TICKETS).values(
            id=t.id,
            number=number,
            subject=t.subject,
            status=t.status.value,
            priority=t.priority.value,
            channel=t.channel.value,
            customer_id=t.customer_id,
            group_id=t.group_id,
            assignee_id=t.assignee_id,
            tags=list(t.tags),
            created_at=ctx.now,
            updated_at=ctx.now,
            solved_at=ctx.now if t.status in (TicketStatus.SOLVED, TicketStatus.CLOSED) else None,
            version=1,
        )
    )
    ticket = _log_ticket(ctx, t.id, ["*"])
    if args.message is not None:
        if args.message.ticket_id != t.id:
            raise _reject(ErrorCode.INVALID_MUTATION, "the first message must be on the new ticket")
        _insert_message(ctx, args.message, ticket)
    return {"ticket_id": t.id, "number": number, "version": 1}


def ticket_update(ctx: WriteContext, args: p.TicketUpdateArgs) -> dict[str, Any]:
    ticket = _visible_ticket(ctx, args.ticket_id)
    changes = p.validated_changes("ticket.update", args.changes)
    if not changes:
        raise _reject(ErrorCode.INVALID_MUTATION, "no changes given")
    guarded = sorted(p.GUARDED_TICKET_FIELDS & changes.keys())
    if guarded and _stale_by_others(ctx, ticket, args.seen_version):
        current = wire.to_wire("ticket", ticket)
        raise _reject(
            ErrorCode.CONFLICT,
            f"ticket #{ticket['number']} changed since you saw it "
            f"(version {args.seen_version}, now {ticket['version']})",
            {"ticket": current, "fields": {f: current[f] for f in guarded}},
        )
    if "assignee_id" in changes:
        _check_agent(ctx, changes["assignee_id"])
    if "group_id" in changes:
        _check_group(ctx, changes["group_id"])
    if changes.get("subject") is None:
        changes.pop("subject", None)
    for name in ("status", "priority", "tags"):
        if name in changes and changes[name] is None:
            raise _reject(ErrorCode.INVALID_MUTATION, f"{name} cannot be cleared")
    values: dict[str, Any] = {k: v for k, v in changes.items() if ticket.get(k) != v}
    if not values:  # nothing actually differs: acknowledge without a new version
        return {"ticket_id": ticket["id"], "version": ticket["version"], "changed": []}
    if "status" in values:
        solved = values["status"] in (TicketStatus.SOLVED, TicketStatus.CLOSED)
        solved_at = (ticket["solved_at"] or ctx.now) if solved else None
        if solved_at != ticket["solved_at"]:
            values["solved_at"] = solved_at
    values["version"] = ticket["version"] + 1
    values["updated_at"] = ctx.now
    ctx.conn.execute(update(T_TICKETS).where(T_TICKETS.c.id == ticket["id"]).values(**values))
    fields = sorted(k for k in values if k not in ("version", "updated_at"))
    prev = access.ticket_audience(ticket)
    _log_ticket(ctx, ticket["id"], fields, prev=prev)
    return {"ticket_id": ticket["id"], "version": values["version"], "changed": fields}


def message_add(ctx: WriteContext, args: p.MessageAddArgs) -> dict[str, Any]:
    msg = args.message
    ticket = _visible_ticket(ctx, msg.ticket_id)
    if msg.kind == MessageKind.REPLY:
        if args.seen_version is None:
            raise _reject(ErrorCode.INVALID_MUTATION, "a public reply needs seen_version")
        if _stale_by_others(ctx, ticket, args.seen_version):
            newer = ctx.conn.execute(
                select(T_MESSAGES)
                .where(T_MESSAGES.c.ticket_id == ticket["id"])
                .order_by(T_MESSAGES.c.created_at.desc())
                .limit(5)
            ).mappings()
            raise _reject(
                ErrorCode.CONFLICT,
                f"ticket #{ticket['number']} changed since you saw it "
                f"(version {args.seen_version}, now {ticket['version']})",
                {
                    "ticket": wire.to_wire("ticket", ticket),
                    "latest_messages": [wire.to_wire("message", m) for m in newer],
                },
            )
    _insert_message(ctx, msg, ticket)
    values, fields = thread_grew(ticket, msg.kind, ctx.now)
    ctx.conn.execute(update(T_TICKETS).where(T_TICKETS.c.id == ticket["id"]).values(**values))
    ctx.log(
        "ticket",
        ticket["id"],
        data=wire.to_wire("ticket", {**ticket, **values}),  # the row as just written
        fields=fields,
        audience=access.ticket_audience(ticket),
        ticket_version=values["version"],
    )
    return message_added(ticket["id"], msg.id, values["version"])


def message_added(ticket_id: str, message_id: str, version: int) -> dict[str, Any]:
    """The result of a ``message.add``."""
    return {"ticket_id": ticket_id, "message_id": message_id, "version": version}


# --------------------------------------------------------------------------------------------
# Drafts
# --------------------------------------------------------------------------------------------


def draft_save(ctx: WriteContext, args: p.DraftSaveArgs) -> dict[str, Any]:
    did = draft_id(ctx.viewer.id, args.ticket_id)
    # A draft may outlive the agent's sight of its ticket (reassignment must not lose text),
    # but a new one needs a ticket the agent can see.
    existing = ctx.conn.execute(select(T_DRAFTS.c.id).where(T_DRAFTS.c.id == did)).first()
    if existing is None:
        _visible_ticket(ctx, args.ticket_id, lock=False)
    values = {"kind": args.kind, "body": args.body, "updated_at": ctx.now}
    done = ctx.conn.execute(update(T_DRAFTS).where(T_DRAFTS.c.id == did).values(**values))
    if done.rowcount == 0:
        ctx.conn.execute(
            insert(T_DRAFTS).values(
                id=did, agent_id=ctx.viewer.id, ticket_id=args.ticket_id, **values
            )
        )
    data = _load(ctx.conn, "draft", did)
    assert data is not None
    ctx.log("draft", did, data=data, fields=["body"], audience=access.draft_audience(data))
    return {"draft_id": did}


def draft_delete(ctx: WriteContext, args: p.DraftDeleteArgs) -> dict[str, Any]:
    did = draft_id(ctx.viewer.id, args.ticket_id)
    done = ctx.conn.execute(delete(T_DRAFTS).where(T_DRAFTS.c.id == did))
    if done.rowcount:
        audience = Audience(access.OWNER, None, ctx.viewer.id)
        ctx.log("draft", did, data=None, fields=[], audience=audience)
    return {"draft_id": did}


# --------------------------------------------------------------------------------------------
# Customers
# --------------------------------------------------------------------------------------------


def _check_organization(ctx: WriteContext, organization_id: str | None) -> None:
    if organization_id is None:
        return
    found = ctx.conn.execute(select(T_ORGS.c.id).where(T_ORGS.c.id == organization_id)).first()
    if found is None:
        raise _reject(ErrorCode.INVALID_MUTATION, f"organization {organization_id} does not exist")


def _set_identities(ctx: WriteContext, customer_id: str, identities: list[p.IdentityIn]) -> None:
    for ident in identities:
        owner = ctx.conn.execute(
            select(T_IDENTITIES.c.customer_id).where(
                T_IDENTITIES.c.kind == ident.kind.value, T_IDENTITIES.c.value == ident.value
            )
        ).scalar()
        if owner is not None and owner != customer_id:
            raise _reject(
                ErrorCode.DUPLICATE,
                f"{ident.kind.value} {ident.value} already belongs to another customer",
                {"customer_id": owner},
            )
    ctx.conn.execute(delete(T_IDENTITIES).where(T_IDENTITIES.c.customer_id == customer_id))
    if identities:
        ctx.conn.execute(
            insert(T_IDENTITIES),
            [
                {"id": i.id, "customer_id": customer_id, "kind": i.kind.value, "value": i.value}
                for i in identities
            ],
        )


def _log_customer(ctx: WriteContext, customer_id: str, fields: list[str]) -> None:
    data = _load(ctx.conn, "customer", customer_id)
    ctx.log("customer", customer_id, data=data, fields=fields, audience=access.EVERYONE)


def customer_create(ctx: WriteContext, args: p.CustomerCreateArgs) -> dict[str, Any]:
    c = args.customer
    if c.name is None:
        raise _reject(ErrorCode.INVALID_MUTATION, "a new customer needs a name")
    if ctx.conn.execute(
        select(T_CUSTOMERS.c.id).where(T_CUSTOMERS.c.id == args.customer_id)
    ).first():
        raise _reject(ErrorCode.DUPLICATE, f"customer {args.customer_id} already exists")
    values = c.model_dump(mode="json", exclude_none=True, exclude={"identities"})
    _check_organization(ctx, values.get("organization_id"))
    ctx.conn.execute(
        insert(T_CUSTOMERS).values(
            id=args.customer_id, created_at=ctx.now, updated_at=ctx.now, **values
        )
    )
    _set_identities(ctx, args.customer_id, list(c.identities or []))
    _log_customer(ctx, args.customer_id, ["*"])
    return {"customer_id": args.customer_id}


def customer_update(ctx: WriteContext, args: p.CustomerUpdateArgs) -> dict[str, Any]:
    if not ctx.conn.execute(
        select(T_CUSTOMERS.c.id).where(T_CUSTOMERS.c.id == args.customer_id)
    ).first():
        raise _reject(ErrorCode.NOT_FOUND, f"customer {args.customer_id} does not exist")
    parsed = p.CustomerFields.model_validate(args.changes, strict=False)
    changes = p.validated_changes("customer.update", args.changes)
    identities = changes.pop("identities", None)
    _check_organization(ctx, changes.get("organization_id"))
    if changes.get("name", "") is None:
        raise _reject(ErrorCode.INVALID_MUTATION, "name cannot be cleared")
    for name in ("tier", "language", "timezone", "notes"):
        if name in changes and changes[name] is None:
            raise _reject(ErrorCode.INVALID_MUTATION, f"{name} cannot be cleared")
    ctx.conn.execute(
        update(T_CUSTOMERS)
        .where(T_CUSTOMERS.c.id == args.customer_id)
        .values(updated_at=ctx.now, **changes)
    )
    if identities is not None:
        _set_identities(ctx, args.customer_id, list(parsed.identities or []))
    _log_customer(ctx, args.customer_id, sorted(args.changes))
    return {"customer_id": args.customer_id}


# --------------------------------------------------------------------------------------------
# Canned responses
# --------------------------------------------------------------------------------------------


def _canned(ctx: WriteContext, canned_id: str) -> dict[str, Any]:
    row = ctx.conn.execute(select(T_CANNED).where(T_CANNED.c.id == canned_id)).mappings().first()
    if row is None or not access.can_see(ctx.viewer, access.canned_audience(row)):
        raise _reject(ErrorCode.NOT_FOUND, f"canned response {canned_id} does not exist")
    return dict(row)


def _log_canned(
    ctx: WriteContext, canned_id: str, fields: list[str], prev: Audience | None
) -> None:
    data = _load(ctx.conn, "canned_response", canned_id)
    assert data is not None
    audience = access.canned_audience(data)
    ctx.log("canned_response", canned_id, data=data, fields=fields, audience=audience, prev=prev)


def _check_canned_scope(ctx: WriteContext, values: dict[str, Any]) -> None:
    scope = values.get("scope")
    if scope == "group":
        _check_group(ctx, values.get("group_id"))
        if values.get("group_id") is None:
            raise _reject(ErrorCode.INVALID_MUTATION, "a group response needs group_id")
    if not access.can_edit_canned(ctx.viewer, values):
        raise _reject(ErrorCode.FORBIDDEN, f"you may not manage {scope} canned responses here")


def canned_create(ctx: WriteContext, args: p.CannedCreateArgs) -> dict[str, Any]:
    c = args.canned
    if c.title is None or c.body is None:
        raise _reject(ErrorCode.INVALID_MUTATION, "a canned response needs a title and a body")
    values = c.model_dump(mode="json", exclude_none=True)
    values.setdefault("scope", "personal")
    values["owner_id"] = ctx.viewer.id if values["scope"] == "personal" else None
    if values["scope"] != "group":
        values["group_id"] = None
    _check_canned_scope(ctx, values)
    if ctx.conn.execute(select(T_CANNED.c.id).where(T_CANNED.c.id == args.canned_id)).first():
        raise _id_taken(args.canned_id)
    ctx.conn.execute(
        insert(T_CANNED).values(id=args.canned_id, usage_count=0, updated_at=ctx.now, **values)
    )
    _log_canned(ctx, args.canned_id, ["*"], None)
    return {"canned_id": args.canned_id}


def canned_update(ctx: WriteContext, args: p.CannedUpdateArgs) -> dict[str, Any]:
    current = _canned(ctx, args.canned_id)
    if not access.can_edit_canned(ctx.viewer, current):
        raise _reject(ErrorCode.FORBIDDEN, "you may not edit this canned response")
    changes = p.validated_changes("canned.update", args.changes)
    for name in ("title", "body", "scope", "shortcut"):
        if name in changes and changes[name] is None:
            raise _reject(ErrorCode.INVALID_MUTATION, f"{name} cannot be cleared")
    merged = {**current, **changes}
    merged["owner_id"] = (
        (current["owner_id"] or ctx.viewer.id) if merged["scope"] == "personal" else None
    )
    if merged["scope"] != "group":
        merged["group_id"] = None
    _check_canned_scope(ctx, merged)
    values = {k: merged[k] for k in ("title", "shortcut", "body", "scope", "group_id", "owner_id")}
    ctx.conn.execute(
        update(T_CANNED).where(T_CANNED.c.id == args.canned_id).values(updated_at=ctx.now, **values)
    )
    _log_canned(ctx, args.canned_id, sorted(changes), access.canned_audience(current))
    return {"canned_id": args.canned_id}


def canned_delete(ctx: WriteContext, args: p.CannedRefArgs) -> dict[str, Any]:
    current = _canned(ctx, args.canned_id)
    if not access.can_edit_canned(ctx.viewer, current):
        raise _reject(ErrorCode.FORBIDDEN, "you may not delete this canned response")
    ctx.conn.execute(delete(T_CANNED).where(T_CANNED.c.id == args.canned_id))
    audience = access.canned_audience(current)
    ctx.log("canned_response", args.canned_id, data=None, fields=[], audience=audience)
    return {"canned_id": args.canned_id}


def canned_use(ctx: WriteContext, args: p.CannedRefArgs) -> dict[str, Any]:
    _canned(ctx, args.canned_id)
    ctx.conn.execute(
        update(T_CANNED)
        .where(T_CANNED.c.id == args.canned_id)
        .values(usage_count=T_CANNED.c.usage_count + 1)
    )
    _log_canned(ctx, args.canned_id, ["usage_count"], None)
    return {"canned_id": args.canned_id}


# --------------------------------------------------------------------------------------------
# Accounts (admins only)
# --------------------------------------------------------------------------------------------


def _require_admin(ctx: WriteContext) -> None:
    if not ctx.viewer.is_admin:
        raise _reject(ErrorCode.FORBIDDEN, "only admins manage accounts and groups")


def _set_groups(ctx: WriteContext, agent_id: str, group_ids: list[str]) -> None:
    for gid in group_ids:
        _check_group(ctx, gid)
    ctx.conn.execute(delete(T_MEMBERS).where(T_MEMBERS.c.agent_id == agent_id))
    if group_ids:
        rows = [{"agent_id": agent_id, "group_id": g} for g in sorted(set(group_ids))]
        ctx.conn.execute(insert(T_MEMBERS), rows)


def _log_agent(ctx: WriteContext, agent_id: str, fields: list[str]) -> None:
    data = _load(ctx.conn, "agent", agent_id)
    ctx.log("agent", agent_id, data=data, fields=fields, audience=access.EVERYONE)


def _email_taken(ctx: WriteContext, email: str, agent_id: str) -> bool:
    other = ctx.conn.execute(select(T_AGENTS.c.id).where(T_AGENTS.c.email == email)).scalar()
    return other is not None and other != agent_id


def agent_create(ctx: WriteContext, args: p.AgentCreateArgs) -> dict[str, Any]:
    _require_admin(ctx)
    a = args.agent
    if a.name is None or a.email is None or a.password is None:
        raise _reject(ErrorCode.INVALID_MUTATION, "a new agent needs a name, email and password")
    email = a.email.strip().lower()
    if (
        _email_taken(ctx, email, args.agent_id)
        or ctx.conn.execute(select(T_AGENTS.c.id).where(T_AGENTS.c.id == args.agent_id)).first()
    ):
        raise _reject(ErrorCode.DUPLICATE, f"an agent with email {email} already exists")
    ctx.conn.execute(
        insert(T_AGENTS).values(
            id=args.agent_id,
            name=a.name,
            email=email,
            role=(a.role or Role.AGENT).value,
            active=True if a.active is None else a.active,
            timezone=a.timezone or "UTC",
            access_version=1,
            updated_at=ctx.now,
        )
    )
    _set_groups(ctx, args.agent_id, list(a.group_ids or []))
    auth.set_password(ctx.conn, args.agent_id, a.password)
    _log_agent(ctx, args.agent_id, ["*"])
    return {"agent_id": args.agent_id}


def agent_update(ctx: WriteContext, args: p.AgentUpdateArgs) -> dict[str, Any]:
    _require_admin(ctx)
    row = (
        ctx.conn.execute(select(T_AGENTS).where(T_AGENTS.c.id == args.agent_id)).mappings().first()
    )
    if row is None:
        raise _reject(ErrorCode.NOT_FOUND, f"agent {args.agent_id} does not exist")
    parsed = p.AgentFields.model_validate(args.changes, strict=False)
    changes = p.validated_changes("agent.update", args.changes)
    password = changes.pop("password", None)
    group_ids = changes.pop("group_ids", None)
    for name, value in list(changes.items()):
        if value is None:
            raise _reject(ErrorCode.INVALID_MUTATION, f"{name} cannot be cleared")
    if "email" in changes:
        changes["email"] = changes["email"].strip().lower()
        if _email_taken(ctx, changes["email"], args.agent_id):
            raise _reject(ErrorCode.DUPLICATE, f"an agent with email {changes['email']} exists")
    if args.agent_id == ctx.viewer.id and (changes.get("active") is False or "role" in changes):
        raise _reject(ErrorCode.FORBIDDEN, "you cannot disable yourself or change your own role")
    access_changed = group_ids is not None or "role" in changes or "active" in changes
    if access_changed:
        changes["access_version"] = row["access_version"] + 1
    ctx.conn.execute(
        update(T_AGENTS).where(T_AGENTS.c.id == args.agent_id).values(updated_at=ctx.now, **changes)
    )
    if group_ids is not None:
        _set_groups(ctx, args.agent_id, list(parsed.group_ids or []))
    if password is not None:
        auth.set_password(ctx.conn, args.agent_id, password)
    if changes.get("active") is False or password is not None:
        auth.revoke_agent_sessions(ctx.conn, args.agent_id)
    _log_agent(ctx, args.agent_id, sorted(args.changes))
    return {"agent_id": args.agent_id}


def group_create(ctx: WriteContext, args: p.GroupCreateArgs) -> dict[str, Any]:
    _require_admin(ctx)
    taken = ctx.conn.execute(
        select(T_GROUPS.c.id).where(
            (T_GROUPS.c.id == args.group_id) | (T_GROUPS.c.name == args.name)
        )
    ).first()
    if taken:
        raise _reject(ErrorCode.DUPLICATE, f"a group named {args.name!r} already exists")
    ctx.conn.execute(
        insert(T_GROUPS).values(
            id=args.group_id, name=args.name, description=args.description, updated_at=ctx.now
        )
    )
    data = _load(ctx.conn, "group", args.group_id)
    ctx.log("group", args.group_id, data=data, fields=["*"], audience=access.EVERYONE)
    return {"group_id": args.group_id}


HANDLERS: dict[str, Callable[[WriteContext, Any], dict[str, Any]]] = {
    "ticket.create": ticket_create,
    "ticket.update": ticket_update,
    "message.add": message_add,
    "draft.save": draft_save,
    "draft.delete": draft_delete,
    "customer.create": customer_create,
    "customer.update": customer_update,
    "canned.create": canned_create,
    "canned.update": canned_update,
    "canned.delete": canned_delete,
    "canned.use": canned_use,
    "agent.create": agent_create,
    "agent.update": agent_update,
    "group.create": group_create,
}
assert set(HANDLERS) == set(p.MUTATION_ARGS), "every protocol mutation needs a handler"
