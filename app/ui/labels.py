"""What the agent reads for stored values: a ticket's status, priority and channel, a
message's kind and delivery state.

One wording for the ticket list, the conversation header, the properties bar and the thread,
so a status reads the same wherever it shows.  Keys are the closed vocabularies of
``app.models.enums``; a value missing here (a newer server's) is shown as it is stored.
"""

from __future__ import annotations

from app.models.enums import Channel, DeliveryState, MessageKind, Priority, TicketStatus

STATUS_LABELS: dict[str, str] = {
    TicketStatus.NEW: "New",
    TicketStatus.OPEN: "Open",
    TicketStatus.PENDING: "Pending",
    TicketStatus.ON_HOLD: "On hold",
    TicketStatus.SOLVED: "Solved",
    TicketStatus.CLOSED: "Closed",
}
PRIORITY_LABELS: dict[str, str] = {
    Priority.LOW: "Low",
    Priority.NORMAL: "Normal",
    Priority.HIGH: "High",
    Priority.URGENT: "Urgent",
}
CHANNEL_LABELS: dict[str, str] = {
    Channel.EMAIL: "Email",
    Channel.PHONE: "Phone",
    Channel.CHAT: "Chat",
    Channel.SOCIAL: "Social",
    Channel.WEB: "Web form",
    Channel.WALK_IN: "Walk-in",
}
KIND_LABELS: dict[str, str] = {
    MessageKind.REPLY: "Reply",
    MessageKind.NOTE: "Internal note",
    MessageKind.CALL: "Call log",
    MessageKind.EVENT: "Event",
}
DELIVERY_LABELS: dict[str, str] = {
    DeliveryState.QUEUED: "Waiting to send",
    DeliveryState.SENT: "Sent",
    DeliveryState.DELIVERED: "Delivered",
    DeliveryState.FAILED: "Not sent — press Enter to review",
}
