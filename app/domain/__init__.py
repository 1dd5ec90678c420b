"""The support domain, declared once: each kind of record and each mutation.

One module per area (accounts, customers, tickets and their threads, drafts, canned
responses) declares its ``KINDS`` and ``MUTATIONS``; they are registered here, in
`app.domain.registry.DOMAIN`, from which every other registry is derived.  Both the server
store and the workstation cache read these declarations (they share their tables).  How to
add a kind or a mutation: docs/architecture.md, "Add a kind" and "Add a mutation".
"""

from app.domain import (
    accounts,
    attachments,
    canned,
    customer_merge,
    customers,
    drafts,
    mentions,
    messages,
    phone,
    settings,
    ticket_merge,
    tickets,
    time_entries,
)
from app.domain.registry import DOMAIN

_AREAS = (
    accounts,
    customers,
    tickets,
    messages,
    drafts,
    canned,
    attachments,
    phone,
    mentions,
    settings,
    time_entries,
    customer_merge,
    ticket_merge,
)
DOMAIN.add(
    [kind for area in _AREAS for kind in area.KINDS],
    [mutation for area in _AREAS for mutation in area.MUTATIONS],
)

__all__ = ["DOMAIN"]
