"""Records merged into others, as the desk reads them: a merged customer or ticket is shown
as the one it was merged into (the survivor), followed along a chain of merges."""

from __future__ import annotations

from sqlalchemy import Connection

# A chain of merges is followed this far (the server refuses a loop; a cache mid-sync may
# hold one for a moment).
MAX_CHAIN = 20


def _survivor(conn: Connection, table: str, record_id: str) -> str:
    current = record_id
    for _ in range(MAX_CHAIN):
        merged = conn.exec_driver_sql(
            f"SELECT merged_into FROM {table} WHERE id = ?",  # noqa: S608 (a constant name)
            (current,),
        ).scalar()
        if merged is None:
            return current
        current = str(merged)
    return current


def surviving_customer(conn: Connection, customer_id: str) -> str:
    """The customer the desk shows for ``customer_id``."""
    return _survivor(conn, "customers", customer_id)


def surviving_ticket(conn: Connection, ticket_id: str) -> str:
    """The ticket a merged ticket went into (itself if it was not merged)."""
    return _survivor(conn, "tickets", ticket_id)
