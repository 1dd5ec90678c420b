"""Time tracking at the desk: the stopwatch in each conversation, typed-in entries, the
ticket's time and the agent's own ("My time").  ``TimeTracking`` is the public face."""

from app.ui.timetrack.desk import TimeTracking

__all__ = ["TimeTracking"]
