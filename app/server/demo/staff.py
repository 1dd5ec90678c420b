"""The demo office's staff: three teams, the agents who work them, and their accounts."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Final

from app.models.enums import Role
from app.server.demo.wording import texts, wording

if TYPE_CHECKING:
    from app.server.demo.office import DemoOffice

# Published in the README for trying the app out; it guards nothing but demo data.
DEMO_PASSWORD: Final = "demo"  # noqa: S105

# The generator routes work to these teams by name, so the names live in code; their
# descriptions are wording (staff.toml).
CUSTOMER_CARE: Final = "Customer Care"
BILLING_AND_ORDERS: Final = "Billing & Orders"
REPAIRS_DESK: Final = "Repairs Desk"
TEAMS: Final = (CUSTOMER_CARE, BILLING_AND_ORDERS, REPAIRS_DESK)


@dataclass(frozen=True)
class StaffMember:
    """A demo agent as staff.toml describes them; ``groups`` are the teams they work in."""

    name: str
    email: str
    role: Role
    timezone: str
    groups: tuple[str, ...]

    @property
    def first_name(self) -> str:
        return self.name.split()[0]


def _load_staff() -> tuple[StaffMember, ...]:
    staff = tuple(
        StaffMember(
            name=str(member["name"]),
            email=str(member["email"]),
            role=Role(member["role"]),
            timezone=str(member["timezone"]),
            groups=texts(member["teams"]),
        )
        for member in wording("staff")["staff"]
    )
    # A typo in a team name would otherwise surface as a KeyError deep inside a seed.
    for member in staff:
        if unknown := set(member.groups) - set(TEAMS):
            raise ValueError(f"staff.toml: {member.name} works in unknown teams {unknown}")
    return staff


STAFF: Final = _load_staff()
TEAM_DESCRIPTIONS: Final[Mapping[str, str]] = {
    team: str(wording("staff")["team_descriptions"][team]) for team in TEAMS
}
DEMO_AGENTS: Final[tuple[str, ...]] = tuple(member.email for member in STAFF)


def staff_member(email: str) -> StaffMember:
    return next(member for member in STAFF if member.email == email)


def supervisor() -> StaffMember:
    return next(member for member in STAFF if member.role is Role.SUPERVISOR)


def workers(group: str) -> list[tuple[StaffMember, int]]:
    """Who picks up the group's tickets: its agents, and now and then a supervisor."""
    weights = {Role.AGENT: 10, Role.SUPERVISOR: 1, Role.ADMIN: 0}
    return [(m, weights[m.role]) for m in STAFF if group in m.groups and weights[m.role]]


def add_staff(office: DemoOffice) -> None:
    """The teams, the agents' accounts and who belongs to which team."""
    for name in TEAMS:
        office.group_ids[name] = office.new_id()
        office.groups.append(
            {
                "id": office.group_ids[name],
                "name": name,
                "description": TEAM_DESCRIPTIONS[name],
                "updated_at": office.days_ago(200, 400),
            }
        )
    for member in STAFF:
        office.agent_ids[member.email] = office.new_id()
        office.agents.append(
            {
                "id": office.agent_ids[member.email],
                "name": member.name,
                "email": member.email,
                "role": member.role.value,
                "active": True,
                "timezone": member.timezone,
                "access_version": 1,
                "updated_at": office.days_ago(190, 365),
            }
        )
        office.memberships.extend(
            {"agent_id": office.agent_ids[member.email], "group_id": office.group_ids[group]}
            for group in member.groups
        )
