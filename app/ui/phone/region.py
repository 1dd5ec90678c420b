"""The default phone region the desk reads numbers in (numbers without a country code).

The admin keeps it as a workspace setting (`app/domain/settings.py`), synced like any
record.  A screen-pop must not wait for a query to read a caller's number, so the region is
kept at hand here: read once when the desk starts, and again whenever a setting changes.
"""

from __future__ import annotations

from weakref import WeakKeyDictionary

from PySide6.QtCore import QObject

from app.phones import DEFAULT_REGION
from app.sync.notice import ChangeNotice
from app.ui.bridge import Bridge


class _Region(QObject):
    def __init__(self, bridge: Bridge) -> None:
        super().__init__(bridge)
        self.value = DEFAULT_REGION
        self._bridge = bridge
        bridge.entitiesChanged.connect(self._changed)
        self._read()

    def _changed(self, notice: ChangeNotice) -> None:
        if notice.ids("setting"):
            self._read()

    def _read(self) -> None:
        self._bridge.run(self._bridge.finder.phone_region(), on_result=self._set)

    def _set(self, region: str) -> None:
        self.value = region


_kept: WeakKeyDictionary[Bridge, _Region] = WeakKeyDictionary()


def phone_region(bridge: Bridge) -> str:
    """The region for ``bridge``'s workspace ("GB", "US", ...); the built-in default until
    the setting has been read (the desk asks once at start-up, well before any call)."""
    kept = _kept.get(bridge)
    if kept is None:
        kept = _kept[bridge] = _Region(bridge)
    return kept.value
