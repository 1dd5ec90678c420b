"""Finding customers as the agent types, over the whole cache (every customer is kept):
by name, email address, organization or phone number in any format — for the customer
picker, the new-ticket form and the phone desk's screen-pop — and reading one for the editor.

Each lookup uses an index: a phone number typed in any form is normalised with the
workspace's region (`app.phones.try_e164`) and found by value
(``ix_customer_identities_value``); part of a number by its digits; an address by its prefix
(the same index); a name by the desk's FTS5 index of customers (``fts_customers``, indexed
words and prefixes); an organization by name (a small table), its customers by
``ix_customers_organization_id``.  With 50,000 customers a lookup takes a few milliseconds.
"""

# S608: the SQL here is assembled from constants and runs of "?" placeholders only.
# ruff: noqa: S608

from __future__ import annotations

import re

from sqlalchemy import Connection

from app import phones
from app.domain.settings import PHONE_REGION, SPECS
from app.sync.desk.indexer import SearchIndexer
from app.sync.desk.pool import ReaderPool
from app.sync.desk.sql import like, marks
from app.sync.desk_types import CustomerForm, CustomerMatch, IdentityItem, OrganizationItem
from app.sync.search_index import match_expression

FIND_LIMIT = 8
_LETTERS = re.compile(r"[^\W\d_]")
_NOT_DIGIT = re.compile(r"\D")
SINGLE_OWNER_KINDS = ("email", "social", "chat")


def _region(conn: Connection) -> str:
    value = conn.exec_driver_sql(
        "SELECT value FROM workspace_settings WHERE id = ?", (PHONE_REGION,)
    ).scalar()
    return str(value) if value else SPECS[PHONE_REGION].default


class CustomerFinder:
    """Finds customers in the cache and reads one for the editor."""

    def __init__(self, pool: ReaderPool, indexer: SearchIndexer) -> None:
        self._pool = pool
        self._indexer = indexer

    async def phone_region(self) -> str:
        """The workspace's region for numbers without a country code ("US" by default)."""
        return await self._pool.read(_region)

    async def find(self, query: str, limit: int = FIND_LIMIT) -> tuple[CustomerMatch, ...]:
        """Customers matching ``query``, best first: the exact phone number, then addresses
        starting with it, names containing its words (as prefixes), organizations."""
        text = query.strip()
        if not text or limit <= 0:
            return ()
        await self._indexer.before_read()  # a customer created a moment ago is found too
        return await self._pool.read(lambda conn: _find(conn, text, limit))

    async def with_phone(self, number: str) -> tuple[CustomerMatch, ...]:
        """Every customer who answers ``number`` (any format): a shared number has several."""

        def work(conn: Connection) -> tuple[CustomerMatch, ...]:
            e164 = phones.try_e164(number, _region(conn))
            if e164 is None:
                return ()
            ids = conn.exec_driver_sql(
                "SELECT customer_id FROM customer_identities WHERE value = ? AND kind = 'phone'",
                (e164,),
            ).scalars()
            return _matches(conn, {str(i): e164 for i in ids})

        return await self._pool.read(work)

    async def form(self, customer_id: str) -> CustomerForm | None:
        """The customer as the editor shows them (None if the cache has no such customer)."""

        def work(conn: Connection) -> CustomerForm | None:
            r = conn.exec_driver_sql(
                "SELECT c.id, c.name, c.organization_id, o.name, c.tier, c.language, "
                "c.timezone, c.notes FROM customers c "
                "LEFT JOIN organizations o ON o.id = c.organization_id WHERE c.id = ?",
                (customer_id,),
            ).first()
            if r is None:
                return None
            identities = tuple(
                IdentityItem(i[0], i[1], i[2])
                for i in conn.exec_driver_sql(
                    "SELECT id, kind, value FROM customer_identities WHERE customer_id = ? "
                    "ORDER BY CASE kind WHEN 'email' THEN 0 WHEN 'phone' THEN 1 ELSE 2 END, "
                    "rowid",
                    (customer_id,),
                )
            )
            return CustomerForm(r[0], r[1], r[2], r[3], r[4], r[5], r[6], r[7], identities)

        return await self._pool.read(work)

    async def organizations(self) -> tuple[OrganizationItem, ...]:
        """Every organization, by name."""

        def work(conn: Connection) -> tuple[OrganizationItem, ...]:
            return tuple(
                OrganizationItem(r[0], r[1], r[2])
                for r in conn.exec_driver_sql(
                    "SELECT id, name, domain FROM organizations ORDER BY name COLLATE NOCASE, id"
                )
            )

        return await self._pool.read(work)

    async def owner(self, kind: str, value: str, but: str | None) -> tuple[str, str] | None:
        """(id, name) of the customer other than ``but`` who holds this email address or
        handle (stored form); phone numbers may be shared, so never for a phone."""
        if kind not in SINGLE_OWNER_KINDS:
            return None

        def work(conn: Connection) -> tuple[str, str] | None:
            r = conn.exec_driver_sql(
                "SELECT c.id, c.name FROM customer_identities i "
                "JOIN customers c ON c.id = i.customer_id "
                "WHERE i.value = ? AND i.kind = ? AND c.id IS NOT ? LIMIT 1",
                (value, kind, but),
            ).first()
            return None if r is None else (str(r[0]), str(r[1]))

        return await self._pool.read(work)


def _find(conn: Connection, text: str, limit: int) -> tuple[CustomerMatch, ...]:
    found: dict[str, str] = {}  # customer id -> what matched, best first

    def add(rows: object) -> None:
        for customer_id, matched in rows:  # type: ignore[attr-defined]
            if len(found) < limit:
                found.setdefault(str(customer_id), str(matched))

    number = text[4:] if text[:4].lower() == "tel:" else text  # a softphone's tel: URI
    digits = _NOT_DIGIT.sub("", number)
    if digits and not _LETTERS.search(number):
        e164 = phones.try_e164(text, _region(conn))
        if e164 is not None:
            add(
                conn.exec_driver_sql(
                    "SELECT customer_id, value FROM customer_identities "
                    "WHERE value = ? AND kind = 'phone' LIMIT ?",
                    (e164, limit),
                )
            )
        # Part of a number, as said on the phone ("7946 0018"); without a trunk prefix
        # ("020 ..." is stored "+4420..."), so the digits are found inside the E.164 form.
        tail = digits.lstrip("0")
        if len(tail) >= 4 and not found:  # a whole number found is the answer
            add(
                conn.exec_driver_sql(
                    "SELECT customer_id, value FROM customer_identities "
                    "WHERE kind = 'phone' AND value LIKE ? ESCAPE '\\' LIMIT ?",
                    (like(tail), limit),
                )
            )
    if "@" in text and len(found) < limit:
        start = text.lower()
        add(
            conn.exec_driver_sql(
                "SELECT customer_id, value FROM customer_identities "
                "WHERE value >= ? AND value < ? AND kind = 'email' ORDER BY value LIMIT ?",
                (start, start + "\U0010ffff", limit),
            )
        )
    match = match_expression(text, min_prefix=1)
    if match is not None and len(found) < limit:
        add(
            conn.exec_driver_sql(
                "SELECT c.id, c.name FROM fts_customers "
                "JOIN customers c ON c.rowid = fts_customers.rowid "
                "WHERE fts_customers MATCH ? ORDER BY rank LIMIT ?",
                (match, limit),
            )
        )
    if len(found) < limit and _LETTERS.search(text):
        # Organizations are few: those named first, then their customers by the index.
        orgs: dict[str, str] = {
            str(r[0]): str(r[1])
            for r in conn.exec_driver_sql(
                "SELECT id, name FROM organizations WHERE name LIKE ? ESCAPE '\\' LIMIT ?",
                (like(text), limit),
            )
        }
        if orgs:
            members = conn.exec_driver_sql(
                "SELECT id, organization_id FROM customers "
                f"WHERE organization_id IN ({marks(list(orgs))}) LIMIT ?",
                (*orgs, limit),
            )
            add([(cid, orgs[org]) for cid, org in members])
    return _matches(conn, found)


def _matches(conn: Connection, found: dict[str, str]) -> tuple[CustomerMatch, ...]:
    """The customers of ``found`` (in its order) with their organization and identities."""
    if not found:
        return ()
    ids = list(found)
    rows = {
        r[0]: r
        for r in conn.exec_driver_sql(
            "SELECT c.id, c.name, o.name FROM customers c "
            f"LEFT JOIN organizations o ON o.id = c.organization_id WHERE c.id IN ({marks(ids)})",
            tuple(ids),
        )
    }
    reach: dict[str, dict[str, list[str]]] = {i: {"email": [], "phone": []} for i in ids}
    for customer_id, kind, value in conn.exec_driver_sql(
        "SELECT customer_id, kind, value FROM customer_identities "
        f"WHERE customer_id IN ({marks(ids)}) AND kind IN ('email', 'phone') ORDER BY rowid",
        tuple(ids),
    ):
        reach[customer_id][kind].append(value)
    return tuple(
        CustomerMatch(
            id=i,
            name=rows[i][1],
            organization=rows[i][2],
            emails=tuple(reach[i]["email"]),
            phones=tuple(reach[i]["phone"]),
            matched=found[i],
        )
        for i in ids
        if i in rows
    )
