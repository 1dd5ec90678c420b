"""The three ABCD sample chats as open chat tickets, nearly word for word.

They are the demo's showcase: the agents who sign in first (Ada, Lin) find a live conversation
in their own team's queue.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Final

from app.models.enums import AuthorType, Channel, MessageKind, Priority, TicketStatus
from app.server.demo.abcd import FLOWS, INTENTS_BY_KEY
from app.server.demo.context import Product, capitalized, ticket_context
from app.server.demo.customers import local_phone
from app.server.demo.office import DemoOffice, Entry, PlannedTicket
from app.server.demo.queue import MAX_THREAD
from app.server.demo.staff import BILLING_AND_ORDERS, CUSTOMER_CARE, staff_member

# Who is working the sample chats' customers right now, by the chat's team.
_SHOWCASE_AGENTS: Final[Mapping[str, str]] = {
    BILLING_AND_ORDERS: "ada@example.com",
    CUSTOMER_CARE: "lin@example.com",
}


def showcase_tickets(office: DemoOffice) -> list[PlannedTicket]:
    """The sample chats as tickets; their customers are the first profiles, in chat order."""
    planned = []
    for index, chat in enumerate(office.corpus.chats):
        scenario = chat["scenario"]
        customer = office.profiles[index]
        subflow = str(scenario["subflow"])
        key = re.sub(r"_\d+$", "", subflow)
        intent = INTENTS_BY_KEY[key]
        names = scenario["product"]["names"]
        product: Product | None = None
        if names:
            brand, item = str(names[0]).split(" ", 1)
            product = (brand, item, int(scenario["product"]["amounts"][0]))
        context = ticket_context(office, intent, customer, product)
        if order_id := scenario["order"].get("order_id"):
            context["order_id"] = str(order_id)
        if key != subflow:  # "timing_4": the FAQ question the customer asked
            questions = office.corpus.questions(intent)
            qnum = int(subflow.rsplit("_", 1)[1])
            context["question"] = capitalized(questions[qnum - 1])
            context["qnum"] = str(qnum)
        flow = FLOWS[intent.flow]
        agent = staff_member(_SHOWCASE_AGENTS[flow.team])

        entries: list[Entry] = []
        abcd_phone = str(scenario["personal"].get("phone", ""))
        for speaker, text in chat["original"]:
            text = str(text).replace("@email.com", "@example.com")
            if abcd_phone and customer.phone:
                text = text.replace(abcd_phone, local_phone(customer.phone))
            if speaker == "action":
                entries.append(Entry(MessageKind.EVENT, AuthorType.SYSTEM, text, delay=(3, 30)))
                continue
            author = AuthorType.CUSTOMER if speaker == "customer" else AuthorType.AGENT
            if entries and entries[-1].author is author:
                entries[-1].body += "\n" + text
            elif entries or author is AuthorType.CUSTOMER:  # threads open with the customer
                entries.append(
                    Entry(
                        MessageKind.REPLY,
                        author,
                        text,
                        agent if author is AuthorType.AGENT else None,
                    )
                )
        entries = entries[:MAX_THREAD]
        while entries[-1].author is not AuthorType.CUSTOMER:
            entries.pop()
        planned.append(
            PlannedTicket(
                id=office.new_id(),
                subject=intent.subjects[0].format_map(context),
                status=TicketStatus.OPEN,
                priority=Priority.NORMAL,
                channel=Channel.CHAT,
                customer=customer,
                group=flow.team,
                assignee=agent,
                tags=[flow.tag, key.replace("_", "-"), "abcd-sample"],
                entries=entries,
                created_at=office.days_ago(0.1, 1.5),
            )
        )
    return planned
