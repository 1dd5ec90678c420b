"""Open conversations: tabs and pop-out windows, each with its thread, composer, properties,
collision banner and the review of refused changes.  ``ConversationTabs`` is the public face."""

from app.ui.conversation.tabs import ConversationTabs

__all__ = ["ConversationTabs"]
