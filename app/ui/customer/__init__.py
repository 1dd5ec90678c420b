"""The customer-360 side panel: who the customer of the open conversation is, how to reach
them, what time it is where they are, and their other tickets."""

from app.ui.customer.panel import CustomerPanel

__all__ = ["CustomerPanel"]
