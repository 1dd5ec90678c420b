"""Search everywhere (Ctrl+K): tickets, customers and messages in the local cache, and older
tickets on the server."""

from app.ui.search.palette import SearchPalette

__all__ = ["SearchPalette"]
