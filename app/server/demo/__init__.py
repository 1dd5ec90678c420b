"""Demo data for a fresh server store: a support office with six months of history.

``seed_demo`` fills an empty store with three teams and their agents, two hundred customers
and a thousand tickets whose threads read like real support work.  The wording comes from
ABCD, the Action-Based Conversations Dataset (asappresearch/abcd, MIT licence, copied into
``app/server/demo_data/``): its guidelines give each kind of ticket its flow, situation and
policies, its knowledge base the actions an agent takes in order, and its sample chats the tone
of both sides (three of them become tickets almost word for word).  The walk-in repair desk is
not in ABCD and is written here.

The generator is code, one concern per module (``staff``, ``customers``, ``tickets``,
``threads``, ``repairs``, ``showcase``, ``canned``, ``abcd``); what it says is data, in
``wording/*.toml``.  Everything is drawn from ``random.Random(seed)``, ids included, so a seed
always produces the same store; only the timestamps move with ``now``.
"""

from app.server.demo.customers import CUSTOMER_COUNT, ORGANIZATION_COUNT
from app.server.demo.queue import TICKET_COUNT
from app.server.demo.seed import DemoSummary, seed_demo
from app.server.demo.staff import (
    BILLING_AND_ORDERS,
    CUSTOMER_CARE,
    DEMO_AGENTS,
    DEMO_PASSWORD,
    REPAIRS_DESK,
)

__all__ = [
    "BILLING_AND_ORDERS",
    "CUSTOMER_CARE",
    "CUSTOMER_COUNT",
    "DEMO_AGENTS",
    "DEMO_PASSWORD",
    "ORGANIZATION_COUNT",
    "REPAIRS_DESK",
    "TICKET_COUNT",
    "DemoSummary",
    "seed_demo",
]
