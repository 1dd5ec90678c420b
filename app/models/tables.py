"""Core ``Table`` handles for the mapped classes, typed once for every module that writes SQL.

The server's hot paths and the cache use SQLAlchemy Core (no identity map, no unit of work),
so they address tables rather than classes.
"""

from __future__ import annotations

from typing import cast

from sqlalchemy import Table

from app.models.attachments import Attachment, Blob, BlobHolder, BlobPart, BlobUpload
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
    WorkspaceSetting,
)
from app.models.phone import Call, Disposition
from app.models.server_tables import (
    AgentCredential,
    AuthSession,
    ChangeLogEntry,
    Counter,
    MutationResult,
    SubmissionKey,
    Workstation,
)

T_AGENTS = cast(Table, Agent.__table__)
T_GROUPS = cast(Table, Group.__table__)
T_MEMBERS = cast(Table, GroupMembership.__table__)
T_ORGS = cast(Table, Organization.__table__)
T_CUSTOMERS = cast(Table, Customer.__table__)
T_IDENTITIES = cast(Table, CustomerIdentity.__table__)
T_TICKETS = cast(Table, Ticket.__table__)
T_MESSAGES = cast(Table, Message.__table__)
T_CANNED = cast(Table, CannedResponse.__table__)
T_DRAFTS = cast(Table, Draft.__table__)
T_SETTINGS = cast(Table, WorkspaceSetting.__table__)

# Server only
T_LOG = cast(Table, ChangeLogEntry.__table__)
T_CREDENTIALS = cast(Table, AgentCredential.__table__)
T_SESSIONS = cast(Table, AuthSession.__table__)
T_WORKSTATIONS = cast(Table, Workstation.__table__)
T_RESULTS = cast(Table, MutationResult.__table__)
T_COUNTERS = cast(Table, Counter.__table__)
T_SUBMISSION_KEYS = cast(Table, SubmissionKey.__table__)

# Attachments (app/models/attachments.py): the replicated record and the server's bytes.
T_ATTACHMENTS = cast(Table, Attachment.__table__)
T_BLOBS = cast(Table, Blob.__table__)
T_BLOB_UPLOADS = cast(Table, BlobUpload.__table__)
T_BLOB_HOLDERS = cast(Table, BlobHolder.__table__)
T_BLOB_PARTS = cast(Table, BlobPart.__table__)

# The phone desk (app/models/phone.py)
T_CALLS = cast(Table, Call.__table__)
T_DISPOSITIONS = cast(Table, Disposition.__table__)
