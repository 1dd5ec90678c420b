"""The PySide6 workstation: widgets and item models.

Widgets get plain data from the sync engine through one bridge object and never touch the
database (see docs/architecture.md). The window itself is the next milestone.
"""
