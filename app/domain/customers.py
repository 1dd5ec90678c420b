"""Organizations and customers: their kinds and the customer mutations.

A customer carries their identities (email addresses, phone numbers, handles).  An email
address or a handle belongs to one customer at a time; a phone number may be shared by
several (a family landline, an office switchboard).  The server stores every phone number in
E.164, read with the workspace's phone region (`app.domain.settings`), and every email
address in lower case: a number that cannot be a phone number, or text that cannot be an
address, is refused in plain words and changes nothing.  Every workstation keeps every
customer: the phone desk finds any caller offline.
"""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import Field
from sqlalchemy import (
    Connection,
    delete,
    func,
    insert,
    select,
    update,
)

from app import emails, phones
from app.domain.kinds import Aggregate, KeepAll, Kind, queued_here
from app.domain.mutation import CacheTx, Mutation, NotInCache, Refused, StoreTx, id_taken
from app.domain.settings import phone_region
from app.domain.sight import EVERYONE, Everyone
from app.domain.tombstones import refuse_if_merged
from app.domain.wire import delete_many, load, to_wire
from app.models.enums import IdentityKind
from app.models.tables import T_CUSTOMERS, T_IDENTITIES, T_ORGS
from app.sync import protocol as p
from app.sync.protocol import ErrorCode

ORGANIZATION = Kind(
    "organization",
    T_ORGS,
    Everyone(),
    bootstrap=30,
    unsent=queued_here("organization", "organization.create"),
)
CUSTOMER = Kind(
    "customer",
    T_CUSTOMERS,
    Everyone(),
    bootstrap=40,
    # Every customer: a caller must be found offline, whether or not they have a ticket here.
    keep=KeepAll(),
    unsent=queued_here("customer", "customer.create"),
    aggregates=(
        Aggregate(
            "identities",
            T_IDENTITIES,
            "customer_id",
            ("id", "kind", "value"),
            ("kind", "value"),
            # An email address that moved customers may still sit on the old one until its
            # change arrives; REPLACE lets the newest owner win instead of failing the whole
            # page.  Phone numbers may be shared, so they never conflict.
            on_conflict="REPLACE",
        ),
    ),
)
# Of these an identity has one owner; a phone number may have several.
SINGLE_OWNER = frozenset({IdentityKind.EMAIL, IdentityKind.SOCIAL, IdentityKind.CHAT})
IDENTITY_WORDS = {
    IdentityKind.EMAIL: "email address",
    IdentityKind.PHONE: "phone number",
    IdentityKind.SOCIAL: "social handle",
    IdentityKind.CHAT: "chat handle",
}


class OrganizationCreateArgs(p.WireModel):
    organization_id: p.Id
    name: Annotated[str, Field(min_length=1, max_length=200)]
    domain: Annotated[str, Field(max_length=255)] | None = None


def normal_identity(kind: IdentityKind, value: str, region: str) -> str:
    """The form the store keeps: E.164 for a phone, lower case for an email address,
    trimmed for a handle.  Raises ValueError (`BadPhoneNumber`, `BadEmail`) in plain words."""
    if kind == IdentityKind.PHONE:
        return phones.to_e164(value, region)
    if kind == IdentityKind.EMAIL:
        return emails.normal_email(value)
    text = value.strip()
    if not text:
        raise ValueError(f"A {IDENTITY_WORDS[kind]} cannot be empty")
    return text


def normal_identities(
    identities: list[p.IdentityIn], region: str, *, strict: bool = True
) -> list[p.IdentityIn]:
    """``identities`` in stored form, each (kind, value) once.  ``strict``: a value that
    cannot be stored raises ValueError; otherwise it is kept as typed (a workstation's
    optimistic copy: the server's answer decides)."""
    out: list[p.IdentityIn] = []
    seen: set[tuple[str, str]] = set()
    for ident in identities:
        try:
            value = normal_identity(ident.kind, ident.value, region)
        except ValueError:
            if strict:
                raise
            value = ident.value
        if (ident.kind.value, value) in seen:
            continue  # the same number typed twice in two forms
        seen.add((ident.kind.value, value))
        out.append(ident.model_copy(update={"value": value}))
    return out


def _check_organization(tx: StoreTx, organization_id: str | None) -> None:
    if organization_id is None:
        return
    found = tx.conn.execute(select(T_ORGS.c.id).where(T_ORGS.c.id == organization_id)).first()
    if found is None:
        raise Refused(ErrorCode.INVALID_MUTATION, f"organization {organization_id} does not exist")


def _stored_identities(tx: StoreTx, identities: list[p.IdentityIn]) -> list[p.IdentityIn]:
    try:
        return normal_identities(identities, phone_region(tx.conn))
    except ValueError as exc:
        raise Refused(ErrorCode.INVALID_MUTATION, str(exc)) from None


def identity_owner(
    conn: Connection, kind: IdentityKind, value: str, but: str | None
) -> tuple[str, str] | None:
    """(id, name) of the customer other than ``but`` who holds a single-owner identity."""
    if kind not in SINGLE_OWNER:
        return None
    q = (
        select(T_CUSTOMERS.c.id, T_CUSTOMERS.c.name)
        .join(T_IDENTITIES, T_IDENTITIES.c.customer_id == T_CUSTOMERS.c.id)
        .where(T_IDENTITIES.c.kind == kind.value, T_IDENTITIES.c.value == value)
    )
    if but is not None:
        q = q.where(T_CUSTOMERS.c.id != but)
    row = conn.execute(q.limit(1)).first()
    return None if row is None else (str(row[0]), str(row[1]))


def _set_identities(tx: StoreTx, customer_id: str, identities: list[p.IdentityIn]) -> None:
    for ident in identities:
        owner = identity_owner(tx.conn, ident.kind, ident.value, customer_id)
        if owner is not None:
            raise Refused(
                ErrorCode.DUPLICATE,
                f"{IDENTITY_WORDS[ident.kind]} {ident.value} already belongs to {owner[1]}",
                {"customer_id": owner[0], "name": owner[1]},
            )
    tx.conn.execute(delete(T_IDENTITIES).where(T_IDENTITIES.c.customer_id == customer_id))
    if identities:
        tx.conn.execute(
            insert(T_IDENTITIES),
            [
                {"id": i.id, "customer_id": customer_id, "kind": i.kind.value, "value": i.value}
                for i in identities
            ],
        )


def _log_customer(tx: StoreTx, customer_id: str, fields: list[str]) -> None:
    data = load(tx.conn, "customer", customer_id)
    tx.log("customer", customer_id, data=data, fields=fields, audience=EVERYONE)


def customer_create(tx: StoreTx, args: p.CustomerCreateArgs) -> dict[str, Any]:
    c = args.customer
    if c.name is None or not c.name.strip():
        raise Refused(ErrorCode.INVALID_MUTATION, "a new customer needs a name")
    if tx.conn.execute(
        select(T_CUSTOMERS.c.id).where(T_CUSTOMERS.c.id == args.customer_id)
    ).first():
        raise Refused(ErrorCode.DUPLICATE, f"customer {args.customer_id} already exists")
    identities = _stored_identities(tx, list(c.identities or []))
    values = c.model_dump(mode="json", exclude_none=True, exclude={"identities"})
    values["name"] = c.name.strip()
    _check_organization(tx, values.get("organization_id"))
    tx.conn.execute(
        insert(T_CUSTOMERS).values(
            id=args.customer_id, created_at=tx.now, updated_at=tx.now, **values
        )
    )
    _set_identities(tx, args.customer_id, identities)
    _log_customer(tx, args.customer_id, ["*"])
    return {"customer_id": args.customer_id}


def customer_update(tx: StoreTx, args: p.CustomerUpdateArgs) -> dict[str, Any]:
    if not tx.conn.execute(
        select(T_CUSTOMERS.c.id).where(T_CUSTOMERS.c.id == args.customer_id)
    ).first():
        raise Refused(ErrorCode.NOT_FOUND, f"customer {args.customer_id} does not exist")
    refuse_if_merged(tx, args.customer_id)
    parsed = p.CustomerFields.model_validate(args.changes, strict=False)
    changes = p.validated_changes(p.CustomerFields, args.changes)
    identities = changes.pop("identities", None)
    stored = None if identities is None else _stored_identities(tx, list(parsed.identities or []))
    _check_organization(tx, changes.get("organization_id"))
    if "name" in changes:
        if changes["name"] is None or not str(changes["name"]).strip():
            raise Refused(ErrorCode.INVALID_MUTATION, "name cannot be cleared")
        changes["name"] = str(changes["name"]).strip()
    for name in ("tier", "language", "timezone", "notes"):
        if name in changes and changes[name] is None:
            raise Refused(ErrorCode.INVALID_MUTATION, f"{name} cannot be cleared")
    tx.conn.execute(
        update(T_CUSTOMERS)
        .where(T_CUSTOMERS.c.id == args.customer_id)
        .values(updated_at=tx.now, **changes)
    )
    if stored is not None:
        _set_identities(tx, args.customer_id, stored)
    _log_customer(tx, args.customer_id, sorted(args.changes))
    return {"customer_id": args.customer_id}


def organization_create(tx: StoreTx, args: OrganizationCreateArgs) -> dict[str, Any]:
    name = args.name.strip()
    if not name:
        raise Refused(ErrorCode.INVALID_MUTATION, "a new organization needs a name")
    if tx.conn.execute(select(T_ORGS.c.id).where(T_ORGS.c.id == args.organization_id)).first():
        raise id_taken(args.organization_id)
    same = tx.conn.execute(
        select(T_ORGS.c.id).where(func.lower(T_ORGS.c.name) == name.lower())
    ).scalar()
    if same is not None:
        raise Refused(
            ErrorCode.DUPLICATE,
            f"there is already an organization called {name}",
            {"organization_id": same},
        )
    domain = (args.domain or "").strip().lower() or None
    tx.conn.execute(
        insert(T_ORGS).values(
            id=args.organization_id, name=name, domain=domain, notes="", updated_at=tx.now
        )
    )
    data = load(tx.conn, "organization", args.organization_id)
    tx.log("organization", args.organization_id, data=data, fields=["*"], audience=EVERYONE)
    return {"organization_id": args.organization_id}


# ---- on the workstation: the agent sees a new or changed customer at once -----------------


def _write_identities(
    conn: Connection, customer_id: str, identities: list[p.IdentityIn] | list[dict[str, Any]]
) -> None:
    rows = [
        {"customer_id": customer_id, **(i if isinstance(i, dict) else i.model_dump(mode="json"))}
        for i in identities
    ]
    conn.execute(delete(T_IDENTITIES).where(T_IDENTITIES.c.customer_id == customer_id))
    if rows:
        # An address a colleague holds stays theirs here: the server's answer decides.
        conn.execute(insert(T_IDENTITIES).prefix_with("OR IGNORE"), rows)


def customer_create_locally(tx: CacheTx, args: p.CustomerCreateArgs) -> None:
    c = args.customer
    values = c.model_dump(mode="json", exclude_none=True, exclude={"identities"})
    values.setdefault("name", "")
    tx.conn.execute(
        insert(T_CUSTOMERS).values(
            id=args.customer_id, created_at=tx.now, updated_at=tx.now, **values
        )
    )
    region = phone_region(tx.conn)
    _write_identities(
        tx.conn, args.customer_id, normal_identities(list(c.identities or []), region, strict=False)
    )
    tx.touch("customer", args.customer_id)


def customer_create_refused(tx: CacheTx, args: p.CustomerCreateArgs) -> None:
    """Refused: the server never had the customer, so neither may the cache."""
    tx.conn.execute(delete(T_IDENTITIES).where(T_IDENTITIES.c.customer_id == args.customer_id))
    delete_many(tx.conn, "customer", [args.customer_id])
    tx.touch("customer", args.customer_id)


def customer_update_locally(tx: CacheTx, args: p.CustomerUpdateArgs) -> None:
    changes = p.validated_changes(p.CustomerFields, args.changes)
    found = tx.conn.execute(select(T_CUSTOMERS).where(T_CUSTOMERS.c.id == args.customer_id))
    current = found.mappings().first()
    if current is None:
        raise NotInCache("customer", args.customer_id)
    identities = changes.pop("identities", None)
    wire_now = to_wire("customer", current)
    tx.patch = changes
    tx.base = {k: wire_now[k] for k in changes}
    if changes:
        tx.conn.execute(
            update(T_CUSTOMERS).where(T_CUSTOMERS.c.id == args.customer_id).values(**changes)
        )
    if identities is not None:
        parsed = p.CustomerFields.model_validate(args.changes, strict=False)
        before = tx.conn.execute(
            select(T_IDENTITIES.c.id, T_IDENTITIES.c.kind, T_IDENTITIES.c.value).where(
                T_IDENTITIES.c.customer_id == args.customer_id
            )
        ).mappings()
        # Not a column: the cache leaves it to the undo below.
        tx.base["identities_before"] = [dict(r) for r in before]
        region = phone_region(tx.conn)
        _write_identities(
            tx.conn,
            args.customer_id,
            normal_identities(list(parsed.identities or []), region, strict=False),
        )
    tx.touch("customer", args.customer_id)


def customer_update_refused(tx: CacheTx, args: p.CustomerUpdateArgs) -> None:
    """Refused: the identities it wrote go back to what they were (the fields the cache
    restores itself), unless a later change of the customer still waits."""
    before = tx.base.get("identities_before")
    if tx.queued_after or not isinstance(before, list):
        return
    _write_identities(tx.conn, args.customer_id, before)
    tx.touch("customer", args.customer_id)


def organization_create_locally(tx: CacheTx, args: OrganizationCreateArgs) -> None:
    tx.conn.execute(
        insert(T_ORGS).values(
            id=args.organization_id,
            name=args.name.strip(),
            domain=(args.domain or "").strip().lower() or None,
            notes="",
            updated_at=tx.now,
        )
    )
    tx.touch("organization", args.organization_id)


def organization_create_refused(tx: CacheTx, args: OrganizationCreateArgs) -> None:
    tx.conn.execute(
        update(T_CUSTOMERS)
        .where(T_CUSTOMERS.c.organization_id == args.organization_id)
        .values(organization_id=None)
    )
    delete_many(tx.conn, "organization", [args.organization_id])
    tx.touch("organization", args.organization_id)


KINDS = (ORGANIZATION, CUSTOMER)
MUTATIONS = (
    Mutation(
        "customer.create",
        p.CustomerCreateArgs,
        customer_create,
        kind="customer",
        refusal="New customer",
        subject=lambda a: a.customer_id,
        optimistic=customer_create_locally,
        undo=customer_create_refused,
    ),
    Mutation(
        "customer.update",
        p.CustomerUpdateArgs,
        customer_update,
        kind="customer",
        refusal="Customer change",
        changes=p.CustomerFields,
        subject=lambda a: a.customer_id,
        optimistic=customer_update_locally,
        undo=customer_update_refused,
    ),
    Mutation(
        "organization.create",
        OrganizationCreateArgs,
        organization_create,
        kind="organization",
        refusal="New organization",
        subject=lambda a: a.organization_id,
        optimistic=organization_create_locally,
        undo=organization_create_refused,
    ),
)
