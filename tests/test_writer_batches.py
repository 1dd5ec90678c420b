"""The writer's fast path for runs of ``message.add`` (message_batch.py) against the generic one.

The same mixed sequence of mutations goes through the real StoreWriter three ways, each on its
own freshly seeded store:

* ``batch``: every mutation queued at once, so the writer takes them as one batch and plans
  the runs of ``message.add`` in memory;
* ``single``: one mutation per batch (each answer awaited before the next is queued), so a run
  is never longer than one mutation;
* ``plain``: each mutation through the writer's own generic path (`writer.answer_alone`, the
  code every mutation the fast path declines goes to), in its own write transaction.  Queueing
  one mutation per batch does not get there: a lone ``message.add`` is still planned and
  written by `MessageRun`, so the generic handler has to be called the way the writer calls it.

Answers, change-log rows and the stored rows must be the same, timestamps aside, also when
``message.add``'s declaration forbids some writers (the fast path asks the same rule).  A
further test makes one message of a run fail at write time (a database trigger, not a mock) and
checks that the run does not half-apply.
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
import logging
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime
from functools import partial
from pathlib import Path
from typing import Any, Literal

import pytest
from sqlalchemy import Connection, Engine, Table, select, text

from app.domain.mutation import Actor, Writers, workstation_actor
from app.domain.registry import DOMAIN
from app.models.tables import T_DRAFTS, T_LOG, T_MESSAGES, T_RESULTS, T_TICKETS, T_WORKSTATIONS
from app.server import replication
from app.server.submit import KeyLedger, Submission, serialise_log
from app.server.workstations import WorkstationLedger, register_workstation
from app.server.writer import StoreUnavailable, StoreWriter, answer_alone
from app.sync.protocol import encode
from tests.world import make_store

Mode = Literal["batch", "single", "plain"]
Answer = dict[str, Any]

DEVICES = {"d-ada": "a-ada", "d-bob": "a-bob", "d-lin": "a-lin", "d-sam": "a-sam"}


@dataclass(frozen=True)
class Step:
    """One mutation sent by ``device``; ``replay`` sends the device's mutation of that id again."""

    device: str
    name: str
    args: dict[str, Any]
    replay: int | None = None


def note(device: str, message_id: str, ticket_id: str, body: str = "internal note") -> Step:
    message = {"id": message_id, "ticket_id": ticket_id, "kind": "note", "body": body}
    return Step(device, "message.add", {"message": message})


def reply(device: str, message_id: str, ticket_id: str, seen: int | None) -> Step:
    message = {"id": message_id, "ticket_id": ticket_id, "kind": "reply", "body": "Dear customer"}
    args: dict[str, Any] = {"message": message}
    if seen is not None:
        args["seen_version"] = seen
    return Step(device, "message.add", args)


def update(device: str, ticket_id: str, seen: int, **changes: Any) -> Step:
    args = {"ticket_id": ticket_id, "changes": changes, "seen_version": seen}
    return Step(device, "ticket.update", args)


def draft(device: str, ticket_id: str, body: str) -> Step:
    return Step(device, "draft.save", {"ticket_id": ticket_id, "kind": "reply", "body": body})


def replay(device: str, mutation_id: int) -> Step:
    return Step(device, "", {}, replay=mutation_id)


# Every seeded ticket starts at version 2.  The verdict each step must get, whichever path.
MIXED: list[tuple[Step, str]] = [
    (note("d-ada", "m-a1", "t-1"), "ack"),  # t-1 v3 (ada #1)
    (reply("d-ada", "m-a2", "t-2", 2), "ack"),  # t-2 v3, new -> open
    (note("d-bob", "m-b0", "t-1"), "not_found"),  # care ticket: bob is billing only
    (note("d-ada", "m-a3", "t-99"), "not_found"),  # no such ticket
    # ada's note (planned in this run, v3) is internal: no reason to refuse a reply. t-1 v4
    (reply("d-lin", "m-l1", "t-1", 2), "ack"),
    (note("d-ada", "m-1", "t-1"), "duplicate"),  # the seeded customer message's id
    (reply("d-ada", "m-a4", "t-1", 2), "conflict"),  # lin's public reply (planned) is v4
    (replay("d-ada", 1), "ack replayed"),
    (note("d-bob", "m-b1", "t-3"), "ack"),  # t-3 v3
    (note("d-bob", "m-b1", "t-4"), "duplicate"),  # taken earlier in the same run
    (replay("d-bob", 1), "not_found replayed"),
    (reply("d-lin", "m-l2", "t-4", 2), "ack"),  # t-4 v3, new -> open
    (update("d-ada", "t-1", 2, status="pending"), "ack"),  # t-1 v5: lin's v4 left status be
    (draft("d-lin", "t-2", "Let me check with billing"), "ack"),
    (update("d-sam", "t-6", 2, group_id="g-care"), "ack"),  # t-6 v3, now ada's group sees it
    (note("d-ada", "m-a5", "t-6"), "ack"),  # t-6 v4: visible since the update above
    (reply("d-lin", "m-l3", "t-1", 5), "ack"),  # t-1 v6
    (reply("d-ada", "m-a6", "t-1", 5), "conflict"),  # lin's v6, planned in this run
    (note("d-ada", "m-a7", "t-1", body=""), "invalid_mutation"),  # fails validation
    (
        Step(
            "d-ada",
            "message.add",
            {"message": {"id": "m-a8", "ticket_id": "t-1", "kind": "event", "body": "x"}},
        ),
        "invalid_mutation",  # only the server writes system events
    ),
    (reply("d-ada", "m-a9", "t-2", None), "invalid_mutation"),  # a reply needs seen_version
    (update("d-ada", "t-1", 5, assignee_id="a-bob"), "ack"),  # lin's v6 left it be: t-1 v7
    (draft("d-ada", "t-3", "not my ticket"), "not_found"),
    (note("d-ada", "m-a10", "t-2"), "ack"),  # t-2 v4
    (reply("d-ada", "m-a11", "t-2", 3), "ack"),  # t-2 v5: v4 was ada's own
    (note("d-lin", "m-l4", "t-2"), "ack"),  # t-2 v6
    (replay("d-ada", 7), "ack replayed"),
    (update("d-sam", "t-2", 0, status="pending"), "conflict"),  # ada's reply opened it (v3)
    (note("d-sam", "m-s1", "t-3"), "ack"),  # a supervisor sees every ticket: t-3 v4
    (note("d-ada", "m-a12", "t-4"), "not_found"),  # billing
    (reply("d-bob", "m-b2", "t-3", 4), "ack"),  # t-3 v5, pending stays pending
    (update("d-lin", "t-1", 5, assignee_id="a-lin"), "conflict"),  # ada's v7 assigned it
    (update("d-lin", "t-1", 5, priority="high"), "ack"),  # nobody else's priority: t-1 v8
]


def requests(
    steps: list[Step], viewers: dict[str, Any], loop: asyncio.AbstractEventLoop
) -> list[Submission]:
    """The writer requests for ``steps``, numbered per device as a workstation numbers them."""
    sent: dict[tuple[str, int], Step] = {}
    last: dict[str, int] = {}
    out = []
    for step in steps:
        if step.replay is not None:
            mutation_id, original = step.replay, sent[(step.device, step.replay)]
        else:
            mutation_id = last[step.device] = last.get(step.device, 0) + 1
            original = sent[(step.device, mutation_id)] = step
        out.append(
            Submission(
                workstation_actor(viewers[DEVICES[step.device]]),
                original.name,
                original.args,
                workstation_id=step.device,
                mutation_id=mutation_id,
                future=loop.create_future(),
            )
        )
    return out


async def register_workstations(engine: Engine, writer: StoreWriter) -> dict[str, Any]:
    """Say hello for every device of DEVICES; the viewer of each agent."""
    with engine.connect() as conn:
        viewers = {a: replication.load_viewer(conn, a) for a in DEVICES.values()}
    for device, agent in DEVICES.items():
        await writer.run(
            partial(register_workstation, workstation_id=device, agent_id=agent, acked_through=0)
        )
    return viewers


def _answer_plainly(writer: StoreWriter, req: Submission, conn: Connection) -> Answer:
    # What StoreWriter._apply does around a mutation the fast path declined.
    serialise_log(conn, writer.origin)
    ledger = WorkstationLedger(conn, {req.workstation_id or ""})
    answer = answer_alone(conn, req, ledger, KeyLedger(conn, set()), [])
    ledger.save(conn)
    return answer


async def send_through_writer(engine: Engine, steps: list[Step], mode: Mode) -> list[Answer]:
    """Each step's answer, as the client would decode it."""
    loop = asyncio.get_running_loop()
    batches: list[list[dict[str, Any]]] = []
    writer = StoreWriter(engine, batches.append)
    writer.start()
    try:
        reqs = requests(steps, await register_workstations(engine, writer), loop)
        answers: list[Answer] = []
        if mode == "batch":
            futures = [writer.enqueue(req) for req in reqs]
            answers = list(await asyncio.gather(*futures))
            assert len(batches) == 1, "the mutations were meant to form one batch"
        elif mode == "single":
            for req in reqs:
                answers.append(await writer.enqueue(req))
        else:
            for req in reqs:
                answers.append(await writer.run(partial(_answer_plainly, writer, req)))
    finally:
        await writer.stop()
    return [json.loads(encode(a)) for a in answers]


def verdict(answer: Answer) -> str:
    word = "ack" if answer["type"] == "ack" else str(answer["code"])
    return f"{word} replayed" if answer.get("replayed") else word


def without_times(value: Any) -> Any:
    """``value`` with every timestamp replaced by a marker (a missing one stays None)."""
    if isinstance(value, dict):
        return {
            k: ("<time>" if k.endswith("_at") and v is not None else without_times(v))
            for k, v in value.items()
        }
    if isinstance(value, list):
        return [without_times(v) for v in value]
    if isinstance(value, datetime):
        return "<time>"
    return value


def rows(conn: Connection, table: Table, *order: str) -> list[dict[str, Any]]:
    query = select(table).order_by(*(table.c[name] for name in order))
    return [without_times(dict(r)) for r in conn.execute(query).mappings()]


def stored(engine: Engine) -> dict[str, list[dict[str, Any]]]:
    """Everything the mutations may have changed, timestamps aside."""
    with engine.connect() as conn:
        return {
            "log": rows(conn, T_LOG, "seq"),
            "messages": rows(conn, T_MESSAGES, "id"),
            "tickets": rows(conn, T_TICKETS, "id"),
            "drafts": rows(conn, T_DRAFTS, "id"),
            "devices": rows(conn, T_WORKSTATIONS, "id"),
            "results": rows(conn, T_RESULTS, "workstation_id", "mutation_id"),
        }


StoreFactory = Callable[[], Engine]


@pytest.fixture
def sqlite_stores(tmp_path: Path) -> Iterator[StoreFactory]:
    """Freshly seeded SQLite stores, one file each."""
    made: list[Engine] = []

    def fresh() -> Engine:
        made.append(make_store(f"sqlite:///{tmp_path / f'server-{len(made)}.db'}"))
        return made[-1]

    yield fresh
    for engine in made:
        engine.dispose()


@pytest.fixture
def pg_stores(pg_url: str) -> Iterator[StoreFactory]:
    """Freshly seeded PostgreSQL stores, one after the other in the test's database."""
    made: list[Engine] = []

    def fresh() -> Engine:
        if made:
            made[-1].dispose()
            with made[-1].begin() as conn:
                conn.execute(text("DROP SCHEMA public CASCADE; CREATE SCHEMA public"))
            made[-1].dispose()
        made.append(make_store(pg_url))
        return made[-1]

    yield fresh
    for engine in made:
        engine.dispose()


def _same_results_every_way(fresh: StoreFactory, caplog: pytest.LogCaptureFixture) -> None:
    steps = [step for step, _ in MIXED]
    outcomes = {}
    for mode in ("batch", "single", "plain"):
        engine = fresh()
        with caplog.at_level(logging.ERROR, logger="app.server.writer"):
            answers = asyncio.run(send_through_writer(engine, steps, mode))
        outcomes[mode] = (without_times(answers), stored(engine))
    # A plan the store then refuses would be redone by the generic handler and hide here.
    assert not caplog.records, "the writer fell back or failed: " + caplog.text
    answers, state = outcomes["plain"]
    # The verdicts themselves, so that both paths being wrong the same way fails too.
    assert [verdict(a) for a in answers] == [want for _, want in MIXED]
    first_reply = next(r for r in state["log"] if r["entity_id"] == "t-2")
    assert first_reply["fields"] == ["thread", "public_thread", "first_response_at", "status"]
    assert first_reply["data"]["status"] == "open"
    # 12 messages, 4 ticket updates each with its trail event (a message), 1 draft
    assert len(state["log"]) == 2 * 12 + 4 * 2 + 1
    for mode in ("batch", "single"):
        assert outcomes[mode][0] == answers, f"{mode}: answers differ from the generic path"
        for table, want in state.items():
            assert outcomes[mode][1][table] == want, f"{mode}: {table} differ"


def test_fast_path_matches_generic_handler_on_sqlite(
    sqlite_stores: StoreFactory, caplog: pytest.LogCaptureFixture
) -> None:
    _same_results_every_way(sqlite_stores, caplog)


@pytest.mark.postgres
def test_fast_path_matches_generic_handler_on_postgres(
    pg_stores: StoreFactory, caplog: pytest.LogCaptureFixture
) -> None:
    _same_results_every_way(pg_stores, caplog)


# --------------------------------------------------------------------------------------------
# A declaration that forbids: both paths ask the same rule
# --------------------------------------------------------------------------------------------


def staff_only(actor: Actor) -> bool:
    """A desk where only supervisors and admins add to threads."""
    return actor.viewer.sees_everything


STAFF_ONLY = "only supervisors write in threads here"
# The verdicts under a message.add that supervisors alone may make.
RULED: list[tuple[Step, str]] = [
    (note("d-sam", "m-r1", "t-1"), "ack"),
    (note("d-ada", "m-r2", "t-1"), "forbidden"),
    (note("d-lin", "m-r3", "t-2"), "forbidden"),
    (note("d-sam", "m-r4", "t-3"), "ack"),
    (replay("d-ada", 1), "forbidden replayed"),
    (note("d-sam", "m-r5", "t-1"), "ack"),
    (draft("d-lin", "t-2", "a draft is not a message"), "ack"),
]


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"allowed": staff_only, "denied": STAFF_ONLY}, STAFF_ONLY),
        ({"writers": Writers.SERVER}, "message.add is made by the server only"),
    ],
    ids=["authorization-rule", "server-writers-only"],
)
def test_a_declaration_that_forbids_is_obeyed_by_the_fast_path_too(
    sqlite_stores: StoreFactory,
    monkeypatch: pytest.MonkeyPatch,
    change: dict[str, Any],
    message: str,
) -> None:
    declared = DOMAIN.mutations["message.add"]
    monkeypatch.setitem(DOMAIN.mutations, "message.add", dataclasses.replace(declared, **change))
    steps = [step for step, _ in RULED]
    wanted = [want for _, want in RULED]
    if "writers" in change:  # then nobody at a workstation may, supervisors included
        wanted = [w if s.name == "draft.save" else w.replace("ack", "forbidden") for s, w in RULED]
    outcomes = {}
    for mode in ("batch", "single", "plain"):
        engine = sqlite_stores()
        answers = asyncio.run(send_through_writer(engine, steps, mode))
        outcomes[mode] = (without_times(answers), stored(engine))
    answers, state = outcomes["plain"]
    assert [verdict(a) for a in answers] == wanted
    assert {a["message"] for a in answers if a["type"] == "reject"} == {message}
    for mode in ("batch", "single"):
        assert outcomes[mode][0] == answers, f"{mode}: answers differ from the generic path"
        for table, want in state.items():
            assert outcomes[mode][1][table] == want, f"{mode}: {table} differ"


# --------------------------------------------------------------------------------------------
# A run whose write fails
# --------------------------------------------------------------------------------------------

EXPLODES = "this body makes the database refuse the row"

SQLITE_TRIGGER = f"""
CREATE TRIGGER refuse_message BEFORE INSERT ON messages
WHEN NEW.body = '{EXPLODES}'
BEGIN SELECT RAISE(ABORT, 'refused by test trigger'); END
"""
PG_TRIGGER = [
    f"""
    CREATE FUNCTION refuse_message() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
        IF NEW.body = '{EXPLODES}' THEN RAISE EXCEPTION 'refused by test trigger'; END IF;
        RETURN NEW;
    END $$
    """,
    """
    CREATE TRIGGER refuse_message BEFORE INSERT ON messages
    FOR EACH ROW EXECUTE FUNCTION refuse_message()
    """,
]

FAILING_RUN: list[tuple[Step, str]] = [
    (note("d-ada", "m-x1", "t-1"), "ack"),  # t-1 v3
    (note("d-ada", "m-x2", "t-1", body=EXPLODES), "internal_error"),
    (note("d-bob", "m-x3", "t-3"), "ack"),  # t-3 v3
    (reply("d-lin", "m-x4", "t-2", 2), "ack"),  # t-2 v3
    (replay("d-ada", 2), "internal_error replayed"),
    (note("d-ada", "m-x5", "t-1"), "ack"),  # t-1 v4
    (draft("d-lin", "t-1", "after the run"), "ack"),
]


def refuse_some_messages(engine: Engine) -> None:
    with engine.begin() as conn:
        if conn.dialect.name == "sqlite":
            conn.execute(text(SQLITE_TRIGGER))
        else:
            for statement in PG_TRIGGER:
                conn.execute(text(statement))


def _failed_write_applies_nothing_of_the_failed_one(fresh: StoreFactory) -> None:
    steps = [step for step, _ in FAILING_RUN]
    outcomes = {}
    for mode in ("batch", "plain"):
        engine = fresh()
        refuse_some_messages(engine)
        answers = asyncio.run(send_through_writer(engine, steps, mode))
        outcomes[mode] = (without_times(answers), stored(engine))
    answers, state = outcomes["batch"]
    assert [verdict(a) for a in answers] == [want for _, want in FAILING_RUN]
    messages = {m["id"]: m for m in state["messages"]}
    assert {"m-x1", "m-x3", "m-x4", "m-x5"} <= messages.keys()
    assert "m-x2" not in messages
    versions = {t["id"]: t["version"] for t in state["tickets"]}
    assert (versions["t-1"], versions["t-2"], versions["t-3"]) == (4, 3, 3)
    log = state["log"]
    assert all(row["entity_id"] != "m-x2" for row in log)
    assert [(r["entity"], r["entity_id"]) for r in log] == [
        ("message", "m-x1"), ("ticket", "t-1"),
        ("message", "m-x3"), ("ticket", "t-3"),
        ("message", "m-x4"), ("ticket", "t-2"),
        ("message", "m-x5"), ("ticket", "t-1"),
        ("draft", log[-1]["entity_id"]),
    ]  # fmt: skip
    assert [r["ticket_version"] for r in log if r["entity_id"] == "t-1"] == [3, 4]
    # Each ack points at its own ticket row, and the ticket data logged is what was stored.
    by_seq = {r["seq"]: r for r in log}
    for answer in answers:
        if answer["type"] == "ack" and "message_id" in answer["result"]:
            row = by_seq[answer["seq"]]
            assert (row["entity_id"], row["ticket_version"]) == (
                answer["result"]["ticket_id"],
                answer["result"]["version"],
            )
    last_t1 = [r for r in log if r["entity_id"] == "t-1"][-1]["data"]
    assert (last_t1["version"], last_t1["status"]) == (4, "open")
    # The generic path gives the same, but for seqs a rolled-back insert may have used up.
    plain_answers, plain_state = outcomes["plain"]
    assert [verdict(a) for a in plain_answers] == [verdict(a) for a in answers]
    for table in ("messages", "tickets", "drafts", "devices"):
        assert plain_state[table] == state[table], table
    assert _without_seqs(plain_state["log"]) == _without_seqs(log)


def _without_seqs(log: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [{k: v for k, v in row.items() if k != "seq"} for row in log]


def test_a_run_whose_write_fails_does_not_half_apply_on_sqlite(
    sqlite_stores: StoreFactory,
) -> None:
    _failed_write_applies_nothing_of_the_failed_one(sqlite_stores)


@pytest.mark.postgres
def test_a_run_whose_write_fails_does_not_half_apply_on_postgres(pg_stores: StoreFactory) -> None:
    _failed_write_applies_nothing_of_the_failed_one(pg_stores)


# --------------------------------------------------------------------------------------------
# A batch whose transaction fails
# --------------------------------------------------------------------------------------------

# The store refuses to keep the ack of Bob's first mutation, at the end of the batch's
# transaction (where no savepoint isolates a mutation): one mutation fails the whole batch.
REFUSE_BOBS_ACK = """
CREATE TRIGGER refuse_bobs_ack BEFORE INSERT ON mutation_results
WHEN NEW.workstation_id = 'd-bob' AND NEW.mutation_id = 1 AND NEW.result LIKE '%"type": "ack"%'
BEGIN SELECT RAISE(ABORT, 'refused by test trigger'); END
"""
# Beyond a 64-bit column: fails the batch when the device's last mutation id is saved.  The
# protocol refuses such ids before they reach the writer; the writer must cope anyway.
TOO_LARGE = 2**63


async def answers_of(
    engine: Engine, batch: list[tuple[str, int, Step]], before: Callable[[StoreWriter], Any]
) -> tuple[list[Answer | str], list[list[dict[str, Any]]]]:
    """Each mutation's answer (or "transient"), all queued as one batch; and the commits."""
    loop = asyncio.get_running_loop()
    commits: list[list[dict[str, Any]]] = []
    writer = StoreWriter(engine, commits.append)
    writer.start()
    try:
        viewers = await register_workstations(engine, writer)
        await before(writer)
        reqs = [
            Submission(
                workstation_actor(viewers[DEVICES[device]]), step.name, step.args,
                workstation_id=device, mutation_id=mutation_id, future=loop.create_future(),
            )
            for device, mutation_id, step in batch
        ]  # fmt: skip
        futures = [writer.enqueue(req) for req in reqs]
        outcomes = await asyncio.gather(*futures, return_exceptions=True)
    finally:
        await writer.stop()
    answers: list[Answer | str] = []
    for outcome in outcomes:
        if isinstance(outcome, StoreUnavailable):
            answers.append("transient")
        else:
            assert isinstance(outcome, dict), outcome
            answers.append(json.loads(encode(outcome)))
    return answers, commits


def test_a_failed_batch_refuses_only_the_mutation_that_failed_it(
    sqlite_stores: StoreFactory, caplog: pytest.LogCaptureFixture
) -> None:
    engine = sqlite_stores()
    with engine.begin() as conn:
        conn.execute(text(REFUSE_BOBS_ACK))
    batch = [
        ("d-ada", 1, note("d-ada", "m-y1", "t-1")),
        ("d-bob", 1, note("d-bob", "m-y2", "t-3")),  # its ack cannot be stored
        ("d-lin", 1, note("d-lin", "m-y3", "t-4")),
        ("d-sam", TOO_LARGE, draft("d-sam", "t-2", "too large an id")),
        ("d-sam", TOO_LARGE + 1, draft("d-sam", "t-2", "and another")),
        ("d-ada", 2, draft("d-ada", "t-1", "after the failure")),
        ("d-bob", 2, update("d-bob", "t-4", 2, priority="high")),
    ]

    async def nothing(writer: StoreWriter) -> None:
        pass

    with caplog.at_level(logging.ERROR, logger="app.server.writer"):
        answers, commits = asyncio.run(answers_of(engine, batch, nothing))
    assert [a if isinstance(a, str) else verdict(a) for a in answers] == [
        "ack",
        "internal_error",  # refused for good, not "transient" forever
        "ack",
        "internal_error",
        "internal_error",
        "ack",
        "ack",  # Bob's device goes on
    ]
    assert "write batch of 7 mutations failed" in caplog.text
    state = stored(engine)
    assert {m["id"] for m in state["messages"]} >= {"m-y1", "m-y3"}
    assert "m-y2" not in {m["id"] for m in state["messages"]}
    results = {(r["workstation_id"], r["mutation_id"]): r["result"] for r in state["results"]}
    assert results[("d-bob", 1)]["code"] == "internal_error"  # a resend gets the same
    assert ("d-sam", TOO_LARGE) not in results  # cannot be stored: answered unrecorded
    devices = {d["id"]: d["last_mutation_id"] for d in state["devices"]}
    assert devices == {"d-ada": 2, "d-bob": 2, "d-lin": 1, "d-sam": 0}
    # The commits reach the fan-out in seq order, each mutation's rows together.
    seqs = [row["seq"] for commit in commits for row in commit]
    assert seqs == sorted(seqs)
    assert len(seqs) == len(state["log"])


def test_a_batch_failed_by_the_store_is_refused_for_now(sqlite_stores: StoreFactory) -> None:
    """Disk full is the store's fault, not the mutations': resent later, they go through."""
    engine = sqlite_stores()
    batch = [
        ("d-ada", 1, note("d-ada", "m-z1", "t-1")),
        ("d-lin", 1, note("d-lin", "m-z2", "t-4", body="x" * 200_000)),
    ]

    async def disk_full(writer: StoreWriter) -> None:
        # The writer's own connection may not grow the file: SQLite's "database or disk is
        # full", without filling a disk.
        await writer.run(lambda c: c.exec_driver_sql("PRAGMA max_page_count = 1"))

    answers, commits = asyncio.run(answers_of(engine, batch, disk_full))
    assert answers == ["transient", "transient"]
    assert commits == []
    state = stored(engine)
    assert state["results"] == []
    assert {m["id"] for m in state["messages"]}.isdisjoint({"m-z1", "m-z2"})
