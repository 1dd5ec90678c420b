"""ABCD, the Action-Based Conversations Dataset, as the demo reads it.

The dataset itself (asappresearch/abcd, MIT licence) is copied into ``app/server/demo_data/``:
its guidelines give each kind of ticket its flow, situation and policies, its knowledge base the
actions an agent takes in order, and its sample chats the tone of both sides.  How the demo words
those actions and kinds of ticket is ours, in ``wording/actions.toml`` and
``wording/intents.toml``.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from functools import cache
from importlib import resources
from typing import Any, Final

from app.server.demo.staff import TEAMS
from app.server.demo.wording import texts, wording

# The FAQ flows: their questions come from guidelines.json rather than from our wording.
SINGLE_ITEM_QUERY: Final = "Single-Item Query"
STOREWIDE_QUERY: Final = "Storewide Query"


@dataclass(frozen=True)
class Step:
    """One ABCD agent action as it shows in a thread: what the agent asks, what the customer
    answers, and the system line the action leaves behind (any of them may be absent)."""

    ask: str | None
    answer: str | None
    event: str | None


@dataclass(frozen=True)
class Flow:
    """An ABCD flow as the office works it: the team, its share of the queue, its ticket tag."""

    team: str
    weight: int
    tag: str


@dataclass(frozen=True)
class Intent:
    """One ABCD subflow as a kind of ticket: how customers word it and how agents close it.

    ``key`` names it in kb.json and the sample chats; ``flow``/``subflow`` in guidelines.json.
    ``slots`` fill or override context values for this kind of ticket, ``steps`` replace the
    generic wording of an action where this subflow needs its own.
    """

    key: str
    flow: str
    subflow: str
    subjects: tuple[str, ...]
    openers: tuple[str, ...]
    resolutions: tuple[str, ...]
    slots: Mapping[str, str] = field(default_factory=dict)
    steps: Mapping[str, Step] = field(default_factory=dict)


def _steps(table: Mapping[str, Any]) -> dict[str, Step]:
    return {
        action: Step(ask=step.get("ask"), answer=step.get("answer"), event=step.get("event"))
        for action, step in table.items()
    }


def _flows() -> dict[str, Flow]:
    flows = {
        name: Flow(team=str(flow["team"]), weight=int(flow["weight"]), tag=str(flow["tag"]))
        for name, flow in wording("intents")["flow"].items()
    }
    for name, flow in flows.items():
        if flow.team not in TEAMS:
            raise ValueError(f"intents.toml: flow {name!r} goes to unknown team {flow.team!r}")
    return flows


def _intents() -> tuple[Intent, ...]:
    """The intents of intents.toml; one may take its resolutions and steps from a ``shared``
    table, as the three kinds of return share theirs."""
    document = wording("intents")
    intents = []
    for entry in document["intent"]:
        shared = document["shared"][entry["shared"]] if "shared" in entry else {}
        intents.append(
            Intent(
                key=str(entry["key"]),
                flow=str(entry["flow"]),
                subflow=str(entry["subflow"]),
                subjects=texts(entry["subjects"]),
                openers=texts(entry["openers"]),
                resolutions=texts(entry.get("resolutions", shared.get("resolutions"))),
                slots={key: str(value) for key, value in entry.get("slots", {}).items()},
                steps=_steps({**shared.get("steps", {}), **entry.get("steps", {})}),
            )
        )
    return tuple(intents)


# Keyed by the action names of kb.json.  The asks and events keep ABCD's wording: the events are
# the dataset's own action lines, the asks are the sample chats' agents' phrasing.
STEPS: Final[Mapping[str, Step]] = _steps(wording("actions")["step"])
# Which team works each flow, how much of the queue it makes up, and the tag it gives a ticket.
FLOWS: Final[Mapping[str, Flow]] = _flows()
INTENTS: Final[tuple[Intent, ...]] = _intents()
INTENTS_BY_KEY: Final[Mapping[str, Intent]] = {intent.key: intent for intent in INTENTS}


@dataclass(frozen=True)
class AbcdCorpus:
    """The parts of ABCD the demo reads: guidelines, the knowledge base, the sample chats."""

    guidelines: Mapping[str, Any]
    kb: Mapping[str, list[str]]
    chats: Sequence[Mapping[str, Any]]

    def subflow(self, intent: Intent) -> Mapping[str, Any]:
        subflow: Mapping[str, Any] = self.guidelines[intent.flow]["subflows"][intent.subflow]
        return subflow

    def actions(self, intent: Intent) -> list[str]:
        return list(self.kb[intent.key])

    def situation(self, intent: Intent) -> str | None:
        """The guideline's first sentence when it describes what the customer is facing."""
        first = re.split(r"(?<=\.)\s+", self.subflow(intent)["instructions"][0])[0]
        if first.startswith(("Start", "In all", "To get", "Help", "Let", "The main effort")):
            return None
        return str(first)

    def policies(self, intent: Intent, level: str) -> list[str]:
        """Membership rules of the subflow's guideline that apply to a ``level`` member."""
        found: list[str] = []
        for action in self.subflow(intent)["actions"]:
            for line in action["subtext"]:
                rule = str(line).split(" <or> ")[0].replace(": > ", ": ").split(" > ")[0].strip()
                if "[" in rule or ":" not in rule[:60]:
                    continue
                if level.capitalize() in rule.split(":")[0]:
                    found.append(rule.removeprefix("If ").rstrip("."))
        return found

    def questions(self, intent: Intent) -> list[str]:
        """The FAQ questions a customer asks in this subflow (empty outside the FAQ flows)."""
        if intent.flow not in (SINGLE_ITEM_QUERY, STOREWIDE_QUERY):
            return []
        listed = str(self.subflow(intent)["instructions"][1])
        return [q.strip().rstrip("?") for q in listed.split(", ") if q.strip()]


@cache
def corpus() -> AbcdCorpus:
    """The ABCD files of ``app/server/demo_data/``, read and checked once per process."""
    folder = resources.files("app.server") / "demo_data"

    def load(name: str) -> Any:
        return json.loads((folder / name).read_text(encoding="utf-8"))

    abcd = AbcdCorpus(
        guidelines=load("guidelines.json"), kb=load("kb.json"), chats=load("abcd_sample.json")
    )
    # intents.toml names ABCD's flows by hand; fail here, not halfway through a seed, if a data
    # file and the wording ever disagree.
    for intent in INTENTS:
        abcd.subflow(intent)
        abcd.actions(intent)
    return abcd
