"""Organizations and customers: their kinds and the customer mutations.

A customer carries their identities (email addresses, phone numbers, handles); an identity
belongs to one customer at a time.  A workstation keeps the customers of the tickets it keeps.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import delete, insert, select, update

from app.domain.kinds import Aggregate, KeepReferenced, Kind
from app.domain.mutation import Mutation, Refused, StoreTx
from app.domain.sight import EVERYONE, Everyone
from app.domain.tombstones import refuse_if_merged
from app.domain.wire import load
from app.models.tables import T_CUSTOMERS, T_IDENTITIES, T_ORGS
from app.sync import protocol as p
from app.sync.protocol import ErrorCode

ORGANIZATION = Kind("organization", T_ORGS, Everyone(), bootstrap=30)
CUSTOMER = Kind(
    "customer",
    T_CUSTOMERS,
    Everyone(),
    bootstrap=40,
    keep=KeepReferenced(by="ticket", column="customer_id"),
    aggregates=(
        Aggregate(
            "identities",
            T_IDENTITIES,
            "customer_id",
            ("id", "kind", "value"),
            ("kind", "value"),
            # An identity that moved customers may still sit on the old one until its change
            # arrives; REPLACE lets the newest owner win instead of failing the whole page.
            on_conflict="REPLACE",
        ),
    ),
)


def _check_organization(tx: StoreTx, organization_id: str | None) -> None:
    if organization_id is None:
        return
    found = tx.conn.execute(select(T_ORGS.c.id).where(T_ORGS.c.id == organization_id)).first()
    if found is None:
        raise Refused(ErrorCode.INVALID_MUTATION, f"organization {organization_id} does not exist")


def _set_identities(tx: StoreTx, customer_id: str, identities: list[p.IdentityIn]) -> None:
    for ident in identities:
        owner = tx.conn.execute(
            select(T_IDENTITIES.c.customer_id).where(
                T_IDENTITIES.c.kind == ident.kind.value, T_IDENTITIES.c.value == ident.value
            )
        ).scalar()
        if owner is not None and owner != customer_id:
            raise Refused(
                ErrorCode.DUPLICATE,
                f"{ident.kind.value} {ident.value} already belongs to another customer",
                {"customer_id": owner},
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
    if c.name is None:
        raise Refused(ErrorCode.INVALID_MUTATION, "a new customer needs a name")
    if tx.conn.execute(
        select(T_CUSTOMERS.c.id).where(T_CUSTOMERS.c.id == args.customer_id)
    ).first():
        raise Refused(ErrorCode.DUPLICATE, f"customer {args.customer_id} already exists")
    values = c.model_dump(mode="json", exclude_none=True, exclude={"identities"})
    _check_organization(tx, values.get("organization_id"))
    tx.conn.execute(
        insert(T_CUSTOMERS).values(
            id=args.customer_id, created_at=tx.now, updated_at=tx.now, **values
        )
    )
    _set_identities(tx, args.customer_id, list(c.identities or []))
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
    _check_organization(tx, changes.get("organization_id"))
    if changes.get("name", "") is None:
        raise Refused(ErrorCode.INVALID_MUTATION, "name cannot be cleared")
    for name in ("tier", "language", "timezone", "notes"):
        if name in changes and changes[name] is None:
            raise Refused(ErrorCode.INVALID_MUTATION, f"{name} cannot be cleared")
    tx.conn.execute(
        update(T_CUSTOMERS)
        .where(T_CUSTOMERS.c.id == args.customer_id)
        .values(updated_at=tx.now, **changes)
    )
    if identities is not None:
        _set_identities(tx, args.customer_id, list(parsed.identities or []))
    _log_customer(tx, args.customer_id, sorted(args.changes))
    return {"customer_id": args.customer_id}


KINDS = (ORGANIZATION, CUSTOMER)
MUTATIONS = (
    Mutation(
        "customer.create",
        p.CustomerCreateArgs,
        customer_create,
        kind="customer",
        refusal="New customer",
        subject=lambda a: a.customer_id,
    ),
    Mutation(
        "customer.update",
        p.CustomerUpdateArgs,
        customer_update,
        kind="customer",
        refusal="Customer change",
        changes=p.CustomerFields,
        subject=lambda a: a.customer_id,
    ),
)
