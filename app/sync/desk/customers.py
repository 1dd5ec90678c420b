"""Customer 360: who the customer is, how to reach them, their open and past tickets."""

# S608: the SQL here is assembled from constants and runs of "?" placeholders only; every
# value is bound as a parameter, never spliced in.
# ruff: noqa: S608

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import Connection

from app.models.base import utcnow
from app.sync.desk.merged import surviving_customer
from app.sync.desk.pool import ReaderPool
from app.sync.desk.sql import dt_required, marks, stored
from app.sync.desk.tickets import ACTIVE
from app.sync.desk_types import CustomerCard, TicketBrief

CUSTOMER_TICKETS_CAP = 50
RECENT_DAYS = 90


class CustomerReader:
    """Reads a customer's card for the customer-360 panel."""

    def __init__(self, pool: ReaderPool) -> None:
        self._pool = pool

    async def customer(self, customer_id: str) -> CustomerCard | None:
        """The customer's card (None if the cache has no such customer); of a customer merged
        into another, the survivor's card (the panel follows the merge)."""
        wanted = customer_id

        def work(conn: Connection) -> CustomerCard | None:
            customer_id = surviving_customer(conn, wanted)
            r = conn.exec_driver_sql(
                "SELECT c.id, c.name, o.name, c.tier, c.language, c.timezone, c.notes, "
                "c.created_at FROM customers c "
                "LEFT JOIN organizations o ON o.id = c.organization_id WHERE c.id = ?",
                (customer_id,),
            ).first()
            if r is None:
                return None
            identities = tuple(
                (i[0], i[1])
                for i in conn.exec_driver_sql(
                    "SELECT kind, value FROM customer_identities WHERE customer_id = ? "
                    "ORDER BY kind, value",
                    (customer_id,),
                )
            )
            active = marks(ACTIVE)

            def briefs(where: str) -> tuple[TicketBrief, ...]:
                rows = conn.exec_driver_sql(
                    "SELECT id, number, subject, status, updated_at FROM tickets "
                    f"WHERE customer_id = ? AND {where} "
                    "ORDER BY updated_at DESC, id DESC LIMIT ?",
                    (customer_id, *ACTIVE, CUSTOMER_TICKETS_CAP),
                )
                return tuple(TicketBrief(t[0], t[1], t[2], t[3], dt_required(t[4])) for t in rows)

            recent = conn.exec_driver_sql(
                "SELECT count(*) FROM tickets WHERE customer_id = ? AND created_at >= ?",
                (customer_id, stored(utcnow() - timedelta(days=RECENT_DAYS))),
            ).scalar()
            return CustomerCard(
                id=r[0],
                name=r[1],
                identities=identities,
                organization=r[2],
                tier=r[3],
                language=r[4],
                timezone=r[5],
                notes=r[6],
                open_tickets=briefs(f"status IN ({active})"),
                past_tickets=briefs(f"status NOT IN ({active})"),
                tickets_last_90_days=int(recent or 0),
                customer_since=dt_required(r[7]),
            )

        return await self._pool.read(work)
