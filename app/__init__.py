"""Switchboard: an offline-first workstation for customer-support teams."""

__version__ = "0.1.0"
