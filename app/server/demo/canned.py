"""The team's canned responses, from ``wording/canned_responses.toml``.

Bodies use the workstation's placeholders (``{{customer.first_name}}``); the wording follows
ABCD's guidelines and chats.
"""

from __future__ import annotations

from app.models.enums import CannedScope
from app.server.demo.office import DemoOffice
from app.server.demo.wording import wording


def add_canned_responses(office: DemoOffice) -> None:
    """Shared, team and personal responses; the personal ones are Ada's."""
    rng = office.rng
    ada = office.agent_ids["ada@example.com"]
    for response in wording("canned_responses")["canned_response"]:
        scope = CannedScope(response["scope"])
        team = response.get("team")
        office.canned_responses.append(
            {
                "id": office.new_id(),
                "title": str(response["title"]),
                "shortcut": str(response["shortcut"]),
                "body": str(response["body"]),
                "scope": scope.value,
                "group_id": office.group_ids[team] if team else None,
                "owner_id": ada if scope is CannedScope.PERSONAL else None,
                # A few responses do most of the work, as in any team.
                "usage_count": rng.choice(
                    (rng.randint(0, 15), rng.randint(15, 120), rng.randint(120, 900))
                ),
                "updated_at": office.days_ago(1, 150),
            }
        )
