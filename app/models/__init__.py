"""The data model shared by the server store and the workstation cache.

Typed SQLAlchemy 2.x mappings only; no Qt and no networking here.
"""

from app.models import attachments as attachments  # registers its tables on Base
from app.models.base import Base, utcnow
from app.models.entities import (
    Agent,
    CannedResponse,
    Customer,
    CustomerIdentity,
    Draft,
    Group,
    GroupMembership,
    Message,
    Organization,
    Ticket,
)

__all__ = [
    "Agent",
    "Base",
    "CannedResponse",
    "Customer",
    "CustomerIdentity",
    "Draft",
    "Group",
    "GroupMembership",
    "Message",
    "Organization",
    "Ticket",
    "utcnow",
]
