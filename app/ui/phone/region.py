"""The workspace's default phone region, as the phone desk reads numbers in it.

The admin sets it (the ``phone_region`` setting, synced like any record); numbers written
without a country code ("020 7946 0018") are read in it.  A ring must be answered at once
(the command waits for the desk's word), so the region is kept here, read when the desk
opens and again whenever a setting changes, rather than read per ring.
"""

from __future__ import annotations

from PySide6.QtCore import QObject

from app.phones import DEFAULT_REGION
from app.sync.notice import ChangeNotice
from app.ui.bridge import Bridge


class PhoneRegion(QObject):
    """The region (``value``: "GB", "US", ...) for one bridge's workspace, kept current."""

    def __init__(self, bridge: Bridge, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._bridge = bridge
        self.value = DEFAULT_REGION
        bridge.entitiesChanged.connect(self._changed)
        self.reload()

    def reload(self) -> None:
        self._bridge.run(self._bridge.finder.phone_region(), on_result=self._set)

    def _set(self, region: str) -> None:
        self.value = region

    def _changed(self, notice: ChangeNotice) -> None:
        if "setting" in notice.entities:
            self.reload()
