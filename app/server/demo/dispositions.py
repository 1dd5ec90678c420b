"""The demo's call dispositions: the wrap-up codes a real contact centre starts with."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

DEMO_DISPOSITIONS = (
    "Resolved",
    "Callback needed",
    "Escalated",
    "Follow-up email sent",
    "Voicemail",
    "No answer",
    "Wrong number",
    "Dropped call",
)
# Stable ids, so that a demo reseeded on another machine names the same dispositions.
_NAMESPACE = uuid.UUID("5b0f6c1e-2d4a-4c8e-9f3b-7a6d5e4c3b2a")


def demo_dispositions(now: datetime) -> list[dict[str, Any]]:
    """The rows of ``dispositions`` the demo starts with, in wrap-up order."""
    return [
        {
            "id": str(uuid.uuid5(_NAMESPACE, name)),
            "name": name,
            "position": i,
            "active": True,
            "updated_at": now,
        }
        for i, name in enumerate(DEMO_DISPOSITIONS, start=1)
    ]
