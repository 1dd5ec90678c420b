"""Who may see and change what. Every rule the server enforces lives here.

Agents see tickets of their groups and tickets assigned to them; supervisors and admins see
everything; drafts and personal canned responses are their owner's alone; only admins manage
accounts.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from app.models.enums import Role

ALL = "all"
STAFF = "staff"
OWNER = "owner"


@dataclass(frozen=True)
class Viewer:
    """The signed-in agent a connection acts for, as the access rules need it."""

    id: str
    role: str
    group_ids: frozenset[str]
    access_version: int
    name: str = ""

    @property
    def sees_everything(self) -> bool:
        return self.role in (Role.SUPERVISOR, Role.ADMIN)

    @property
    def is_admin(self) -> bool:
        return self.role == Role.ADMIN


@dataclass(frozen=True)
class Audience:
    """Who may see one entity: a change log row carries this before and after the change."""

    kind: str
    group_id: str | None = None
    agent_id: str | None = None


EVERYONE = Audience(ALL)


def can_see(viewer: Viewer, audience: Audience) -> bool:
    if audience.kind == ALL:
        return True
    if audience.kind == OWNER:
        return viewer.id == audience.agent_id
    return (
        viewer.sees_everything
        or (audience.agent_id is not None and viewer.id == audience.agent_id)
        or (audience.group_id is not None and audience.group_id in viewer.group_ids)
    )


def ticket_audience(ticket: Mapping[Any, Any]) -> Audience:
    """Tickets and their messages: the ticket's group and its assignee (and supervisors)."""
    return Audience(STAFF, ticket.get("group_id"), ticket.get("assignee_id"))


def canned_audience(canned: Mapping[Any, Any]) -> Audience:
    scope = canned.get("scope")
    if scope == "personal":
        return Audience(OWNER, None, canned.get("owner_id"))
    if scope == "group":
        return Audience(STAFF, canned.get("group_id"), None)
    return EVERYONE


def draft_audience(draft: Mapping[str, Any]) -> Audience:
    return Audience(OWNER, None, draft.get("agent_id"))


def can_edit_canned(viewer: Viewer, canned: Mapping[str, Any]) -> bool:
    """Personal: the owner. Group: its members and supervisors. Shared: supervisors."""
    scope = canned.get("scope")
    if scope == "personal":
        return canned.get("owner_id") == viewer.id
    if scope == "group":
        return viewer.sees_everything or canned.get("group_id") in viewer.group_ids
    return viewer.sees_everything
