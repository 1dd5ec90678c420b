"""Click-to-call: a phone number is a ``tel:`` link, handed to the system's softphone.

``QDesktopServices.openUrl(QUrl("tel:+442079460018"))`` asks the operating system for the
application registered for ``tel:`` (MicroSIP, Zoiper, 3CX, Teams, FaceTime...), which
dials.  The desk starts an outbound call log at the same moment (`PhoneDesk.dial`).
"""

from __future__ import annotations

import html

from PySide6.QtCore import QUrl
from PySide6.QtGui import QDesktopServices

from app.phones import display


def tel_url(e164: str) -> QUrl:
    """The ``tel:`` URL of an E.164 number (RFC 3966: global numbers keep their "+")."""
    return QUrl(f"tel:{e164}")


def tel_link(e164: str, region: str) -> str:
    """Rich text for a label: the number as the desk shows it, as a ``tel:`` link."""
    shown = html.escape(display(e164, region))
    return f'<a href="tel:{html.escape(e164)}">{shown}</a>'


def number_of(url: QUrl | str) -> str | None:
    """The number a ``tel:`` link dials, or None for any other link."""
    text = url.toString() if isinstance(url, QUrl) else url
    if not text.lower().startswith("tel:"):
        return None
    return text[4:].split(";", 1)[0] or None


def hand_to_softphone(e164: str) -> bool:
    """Open the ``tel:`` URL with the system's softphone; False if none is registered."""
    return QDesktopServices.openUrl(tel_url(e164))
