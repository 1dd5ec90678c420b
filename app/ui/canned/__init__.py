"""Canned responses: the picker the composer opens ("/" or Ctrl+.) and the editor for
creating and changing them."""

from app.ui.canned.editor import CannedEditor
from app.ui.canned.picker import CannedPicker

__all__ = ["CannedEditor", "CannedPicker"]
