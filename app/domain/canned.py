"""Canned responses: reusable replies, shared, of a group, or an agent's own.

Who may see one: everyone a shared one, the group's members (and supervisors) a group one, its
owner a personal one.  Who may change one (`may_edit`): its owner a personal one, supervisors
and admins the others.  The desk asks the same `may_edit` to decide what it offers to edit.
"""

from __future__ import annotations

from collections.abc import Mapping
from operator import attrgetter
from typing import Any

from sqlalchemy import delete, insert, select, update

from app.domain.accounts import check_group
from app.domain.kinds import Kind
from app.domain.mutation import Mutation, Refused, StoreTx, id_taken
from app.domain.sight import ByScope, Everyone, Owner, Staff, Viewer
from app.domain.wire import load
from app.models.enums import CannedScope
from app.models.tables import T_CANNED
from app.sync import protocol as p
from app.sync.protocol import ErrorCode

CANNED = Kind(
    "canned_response",
    T_CANNED,
    ByScope(
        "scope",
        {
            CannedScope.PERSONAL.value: Owner("owner_id"),
            CannedScope.GROUP.value: Staff(group="group_id", agent=None),
            CannedScope.SHARED.value: Everyone(),
        },
    ),
    bootstrap=70,
)


def may_edit(viewer: Viewer, canned: Mapping[str, Any]) -> bool:
    """Personal: its owner alone.  Group and shared: supervisors and admins."""
    if canned.get("scope") == CannedScope.PERSONAL:
        return canned.get("owner_id") == viewer.id
    return viewer.sees_everything


def _canned(tx: StoreTx, canned_id: str) -> dict[str, Any]:
    row = tx.conn.execute(select(T_CANNED).where(T_CANNED.c.id == canned_id)).mappings().first()
    if row is None or not CANNED.sight.allows(tx.viewer, row):
        raise Refused(ErrorCode.NOT_FOUND, f"canned response {canned_id} does not exist")
    return dict(row)


def _log_canned(
    tx: StoreTx, canned_id: str, fields: list[str], prev: dict[str, Any] | None
) -> None:
    data = load(tx.conn, "canned_response", canned_id)
    assert data is not None
    audience = CANNED.sight.audience(data)
    previous = CANNED.sight.audience(prev) if prev is not None else None
    tx.log("canned_response", canned_id, data=data, fields=fields, audience=audience, prev=previous)


def _check_scope(tx: StoreTx, values: dict[str, Any]) -> None:
    scope = values.get("scope")
    if scope == CannedScope.GROUP:
        check_group(tx, values.get("group_id"))
        if values.get("group_id") is None:
            raise Refused(ErrorCode.INVALID_MUTATION, "a group response needs group_id")
    if not may_edit(tx.viewer, values):
        raise Refused(ErrorCode.FORBIDDEN, f"you may not manage {scope} canned responses")


def canned_create(tx: StoreTx, args: p.CannedCreateArgs) -> dict[str, Any]:
    c = args.canned
    if c.title is None or c.body is None:
        raise Refused(ErrorCode.INVALID_MUTATION, "a canned response needs a title and a body")
    values = c.model_dump(mode="json", exclude_none=True)
    values.setdefault("scope", CannedScope.PERSONAL.value)
    values["owner_id"] = tx.viewer.id if values["scope"] == CannedScope.PERSONAL else None
    if values["scope"] != CannedScope.GROUP:
        values["group_id"] = None
    _check_scope(tx, values)
    if tx.conn.execute(select(T_CANNED.c.id).where(T_CANNED.c.id == args.canned_id)).first():
        raise id_taken(args.canned_id)
    tx.conn.execute(
        insert(T_CANNED).values(id=args.canned_id, usage_count=0, updated_at=tx.now, **values)
    )
    _log_canned(tx, args.canned_id, ["*"], None)
    return {"canned_id": args.canned_id}


def canned_update(tx: StoreTx, args: p.CannedUpdateArgs) -> dict[str, Any]:
    current = _canned(tx, args.canned_id)
    if not may_edit(tx.viewer, current):
        raise Refused(ErrorCode.FORBIDDEN, "you may not edit this canned response")
    changes = p.validated_changes(p.CannedFields, args.changes)
    for name in ("title", "body", "scope", "shortcut"):
        if name in changes and changes[name] is None:
            raise Refused(ErrorCode.INVALID_MUTATION, f"{name} cannot be cleared")
    merged = {**current, **changes}
    personal = merged["scope"] == CannedScope.PERSONAL
    merged["owner_id"] = (current["owner_id"] or tx.viewer.id) if personal else None
    if merged["scope"] != CannedScope.GROUP:
        merged["group_id"] = None
    _check_scope(tx, merged)
    values = {k: merged[k] for k in ("title", "shortcut", "body", "scope", "group_id", "owner_id")}
    tx.conn.execute(
        update(T_CANNED).where(T_CANNED.c.id == args.canned_id).values(updated_at=tx.now, **values)
    )
    _log_canned(tx, args.canned_id, sorted(changes), current)
    return {"canned_id": args.canned_id}


def canned_delete(tx: StoreTx, args: p.CannedRefArgs) -> dict[str, Any]:
    current = _canned(tx, args.canned_id)
    if not may_edit(tx.viewer, current):
        raise Refused(ErrorCode.FORBIDDEN, "you may not delete this canned response")
    tx.conn.execute(delete(T_CANNED).where(T_CANNED.c.id == args.canned_id))
    audience = CANNED.sight.audience(current)
    tx.log("canned_response", args.canned_id, data=None, fields=[], audience=audience)
    return {"canned_id": args.canned_id}


def canned_use(tx: StoreTx, args: p.CannedRefArgs) -> dict[str, Any]:
    _canned(tx, args.canned_id)
    tx.conn.execute(
        update(T_CANNED)
        .where(T_CANNED.c.id == args.canned_id)
        .values(usage_count=T_CANNED.c.usage_count + 1)
    )
    _log_canned(tx, args.canned_id, ["usage_count"], None)
    return {"canned_id": args.canned_id}


def _about_canned(
    name: str, args: type[Any], apply: Any, refusal: str, **more: Any
) -> Mutation[Any]:
    """A mutation about one canned response, named by its ``canned_id``."""
    subject = attrgetter("canned_id")
    return Mutation(name, args, apply, "canned_response", refusal, subject=subject, **more)


KINDS = (CANNED,)
MUTATIONS = (
    _about_canned("canned.create", p.CannedCreateArgs, canned_create, "New canned response"),
    _about_canned(
        "canned.update",
        p.CannedUpdateArgs,
        canned_update,
        "Canned response change",
        changes=p.CannedFields,
    ),
    _about_canned("canned.delete", p.CannedRefArgs, canned_delete, "Canned response deletion"),
    _about_canned("canned.use", p.CannedRefArgs, canned_use, "Canned response use"),
)
