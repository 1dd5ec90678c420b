"""How each channel shapes a thread: its pace, its greetings and sign-offs, phone calls."""

from __future__ import annotations

import random
from collections.abc import Mapping

from app.models.enums import AuthorType, Channel, MessageKind
from app.server.demo.context import capitalized
from app.server.demo.office import Entry


def gap(rng: random.Random, entry: Entry, channel: Channel) -> int:
    """Seconds between the previous message and ``entry``, as the channel paces a thread."""
    if entry.delay is not None:
        return rng.randint(*entry.delay)
    if entry.kind is MessageKind.NOTE:
        return rng.randint(60, 1800)
    if channel is Channel.CHAT:
        return rng.randint(20, 240)
    if channel in (Channel.PHONE, Channel.WALK_IN):
        return rng.randint(900, 6 * 3600)
    # Email, web and social: answers come within about a working day.
    return rng.randint(1200, 26 * 3600)


def log_first_reply_as_call(rng: random.Random, entries: list[Entry], summary: str) -> None:
    """On the phone the first answer is a call, logged by the agent who made it; what the
    customer answered was said on that call, so it leaves the thread."""
    for index, entry in enumerate(entries):
        if entry.author is AuthorType.AGENT and entry.kind is MessageKind.REPLY:
            entry.kind = MessageKind.CALL
            entry.body = f"Outbound call, {rng.randint(2, 14)} min: {summary}"
            following = entries[index + 1 : index + 2]
            if following and following[0].author is AuthorType.CUSTOMER:
                del entries[index + 1]
            return


def dress(
    rng: random.Random, entries: list[Entry], channel: Channel, context: Mapping[str, str]
) -> list[Entry]:
    """Word the public messages as the channel would carry them (greetings, sign-offs)."""
    first = context["first"]
    for index, entry in enumerate(entries):
        if entry.kind is not MessageKind.REPLY:
            continue
        if entry.author is AuthorType.CUSTOMER:
            if channel is Channel.EMAIL and index == 0:
                entry.body = f"Hi,\n\n{entry.body}\n\nThanks,\n{first}"
            elif channel is Channel.EMAIL and len(entry.body) > 40:
                entry.body = f"{entry.body}\n\n{first}"
            elif index == 0 and channel is Channel.WEB:
                entry.body = (
                    f"Contact form\nName: {context['name']}\nEmail: {context['email']}\n\n"
                    f"{entry.body}"
                )
            elif index == 0 and channel is Channel.SOCIAL:
                entry.body = f"@AcmeBrands {entry.body}"
            elif index == 0 and channel is Channel.PHONE:
                entry.body = (
                    f"Voicemail, {rng.randint(15, 90)} s: {entry.body} Please call me"
                    f" back on {context['phone']}."
                )
        elif entry.agent is not None:
            if channel in (Channel.EMAIL, Channel.WEB):
                entry.body = (
                    f"Hi {first},\n\n{capitalized(entry.body)}\n\nBest regards,\n"
                    f"{entry.agent.first_name}"
                )
            elif channel is Channel.SOCIAL:
                initials = "".join(part[0] for part in entry.agent.name.split())
                entry.body = f"{capitalized(entry.body)} ^{initials}"
    return entries
