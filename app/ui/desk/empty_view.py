"""What an empty ticket list says: why it is empty and what happens next, never a blank.

A built-in view is empty because there is nothing to do ("No tickets waiting in Billing. New
ones appear here as they arrive."); an agent's own filter is empty because nothing matches
what it asks for, and it says what that is and how to change it.
"""

from __future__ import annotations

from PySide6.QtCore import QRect, Qt
from PySide6.QtGui import QPainter, QPalette
from PySide6.QtWidgets import QAbstractScrollArea

from app.sync.desk_types import Directory, ViewSpec
from app.ui.labels import CHANNEL_LABELS, PRIORITY_LABELS, STATUS_LABELS


def _group_name(spec: ViewSpec, directory: Directory | None) -> str:
    group_id = spec.key.removeprefix("group:")
    for group in directory.groups if directory is not None else ():
        if group.id == group_id:
            return group.name
    return spec.title.removesuffix(" queue") or "this queue"


def _filters(spec: ViewSpec, directory: Directory | None) -> list[str]:
    """A saved filter's conditions in words ("status Open or Pending", "tagged vip")."""
    said: list[str] = []

    def either(values: tuple[str, ...], labels: dict[str, str]) -> str:
        return " or ".join(labels.get(v, v) for v in values)

    if spec.statuses:
        said.append(f"status {either(spec.statuses, STATUS_LABELS)}")
    if spec.priorities:
        said.append(f"priority {either(spec.priorities, PRIORITY_LABELS)}")
    if spec.channels:
        said.append(f"channel {either(spec.channels, CHANNEL_LABELS)}")
    if spec.assignee == "me":
        said.append("assigned to you")
    elif spec.assignee == "none":
        said.append("unassigned")
    elif spec.assignee:
        names = {a.id: a.name for a in (directory.agents if directory else ())}
        said.append(f"assigned to {names.get(spec.assignee, 'a colleague')}")
    if spec.group_ids:
        names = {g.id: g.name for g in (directory.groups if directory else ())}
        groups = " or ".join(
            "your groups" if g == "mine" else names.get(g, "a group") for g in spec.group_ids
        )
        said.append(f"in {groups}")
    if spec.tags:
        said.append("tagged " + " or ".join(spec.tags))
    if spec.text:
        said.append(f"with “{spec.text}” in the subject or customer")
    if spec.solved_within_days is not None:
        said.append(f"solved in the last {spec.solved_within_days} days")
    return said


def empty_view_text(spec: ViewSpec | None, directory: Directory | None = None) -> str:
    """Why ``spec`` lists no tickets, and what to expect or do, in an agent's words."""
    if spec is None:
        return "Choose a view on the left to list its tickets."
    if spec.saved:
        conditions = _filters(spec, directory)
        asked = f" ({'; '.join(conditions)})" if conditions else ""
        return (
            f"No tickets match the filter “{spec.title}”{asked}. Tickets that match appear "
            "here as they change. To widen it, right-click the filter and choose Edit filter."
        )
    if spec.key == "mine":
        return (
            "No open tickets assigned to you. Take one from your queue, or press "
            "Ctrl+Shift+M on a selected ticket to assign it to yourself."
        )
    if spec.key == "unassigned":
        return "Every ticket in your groups has someone on it. New ones appear here as they arrive."
    if spec.key.startswith("group:"):
        name = _group_name(spec, directory)
        return f"No tickets waiting in {name}. New ones appear here as they arrive."
    if spec.key == "pending":
        return (
            "No tickets of yours are waiting on a customer. Set a ticket to Pending when you "
            "need the customer to answer; it comes back here."
        )
    if spec.key == "solved":
        days = spec.solved_within_days
        within = f" in the last {days} days" if days else ""
        return f"You have solved no tickets{within}. Tickets you solve appear here."
    return f"No tickets in {spec.title}. New ones appear here as they arrive."


def paint_empty_text(area: QAbstractScrollArea, text: str) -> None:
    """Paint ``text`` centred in ``area``'s viewport, in the placeholder colour, wrapped."""
    viewport = area.viewport()
    painter = QPainter(viewport)
    painter.setPen(area.palette().color(QPalette.ColorRole.PlaceholderText))
    margin = 24
    rect = viewport.rect().adjusted(margin, margin, -margin, -margin)
    room = QRect(rect.x(), rect.y(), min(rect.width(), 460), rect.height())
    room.moveCenter(rect.center())
    painter.drawText(room, int(Qt.AlignmentFlag.AlignCenter | Qt.TextFlag.TextWordWrap), text)
    painter.end()
