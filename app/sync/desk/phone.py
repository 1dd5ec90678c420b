"""The phone desk's reads: who is calling (by the E.164 number), the dispositions offered.

A screen-pop must answer within a few milliseconds with 50,000 customers in the cache: the
caller is found through the identities' (kind, value) index, one indexed lookup, then one
row per matching customer (name, organization, last ticket).  One number may belong to
several customers (a family, a switchboard): every match is returned, and the agent picks.
"""

# S608: the SQL here is assembled from constants only; every value is bound as a parameter.
# ruff: noqa: S608

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Connection

from app.sync.desk.pool import ReaderPool
from app.sync.desk.sql import dt, marks
from app.sync.desk.tickets import ACTIVE

MATCHES_CAP = 20  # a number shared by more customers than this is a switchboard: show 20


@dataclass(frozen=True)
class Caller:
    """A customer a phone number belongs to, as the agent picks among several."""

    customer_id: str
    name: str
    organization: str | None
    open_tickets: int
    # The customer's most recently updated ticket: number (None: not yet numbered), subject.
    last_ticket_number: int | None
    last_ticket_subject: str | None
    last_ticket_at: datetime | None


@dataclass(frozen=True)
class DispositionItem:
    """A wrap-up code the admin offers."""

    id: str
    name: str


class PhoneReader:
    """Reads for the phone desk; every method may be awaited from the UI's loop."""

    def __init__(self, pool: ReaderPool) -> None:
        self._pool = pool

    async def callers(self, e164: str) -> tuple[Caller, ...]:
        """Every customer with the phone number ``e164``, by name (at most ``MATCHES_CAP``)."""

        def work(conn: Connection) -> tuple[Caller, ...]:
            return callers_of(conn, e164)

        return await self._pool.read(work)

    async def dispositions(self) -> tuple[DispositionItem, ...]:
        """The dispositions offered now, in the admin's order."""

        def work(conn: Connection) -> tuple[DispositionItem, ...]:
            rows = conn.exec_driver_sql(
                "SELECT id, name FROM dispositions WHERE active = 1 ORDER BY position, name"
            )
            return tuple(DispositionItem(r[0], r[1]) for r in rows)

        return await self._pool.read(work)


def callers_of(conn: Connection, e164: str) -> tuple[Caller, ...]:
    """`PhoneReader.callers` on a connection in hand (the benchmark times this too)."""
    rows = conn.exec_driver_sql(
        "SELECT c.id, c.name, o.name FROM customer_identities i "
        "JOIN customers c ON c.id = i.customer_id "
        "LEFT JOIN organizations o ON o.id = c.organization_id "
        "WHERE i.kind = 'phone' AND i.value = ? ORDER BY c.name, c.id LIMIT ?",
        (e164, MATCHES_CAP),
    ).all()
    out = []
    active = marks(ACTIVE)
    for customer_id, name, organization in rows:
        last = conn.exec_driver_sql(
            "SELECT number, subject, updated_at FROM tickets WHERE customer_id = ? "
            "ORDER BY updated_at DESC, id DESC LIMIT 1",
            (customer_id,),
        ).first()
        open_count = conn.exec_driver_sql(
            f"SELECT count(*) FROM tickets WHERE customer_id = ? AND status IN ({active})",
            (customer_id, *ACTIVE),
        ).scalar()
        out.append(
            Caller(
                customer_id=customer_id,
                name=name,
                organization=organization,
                open_tickets=int(open_count or 0),
                last_ticket_number=last[0] if last else None,
                last_ticket_subject=last[1] if last else None,
                last_ticket_at=dt(last[2]) if last else None,
            )
        )
    return tuple(out)
