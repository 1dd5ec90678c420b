"""The default phone region the desk reads numbers in (numbers without a country code).

One small function, so the workspace setting (kept by the admin, synced like any record)
can replace the built-in default in one place.
"""

from __future__ import annotations

from app.phones import DEFAULT_REGION
from app.ui.bridge import Bridge


def phone_region(bridge: Bridge) -> str:
    """The region for ``bridge``'s workspace ("GB", "US", ...)."""
    del bridge  # the workspace setting is read from here once it exists
    return DEFAULT_REGION
