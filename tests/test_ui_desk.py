"""The desk's lists: the lazy ticket list and the views panel, against a real server and cache."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest
from PySide6.QtCore import QSettings

from app.sync.desk_types import TicketColumn, TicketSort, ViewSpec
from app.ui.desk.ticket_list import COLUMNS, TicketListModel, TicketTable, _runs
from app.ui.desk.views import SavedViews, ViewsModel, ViewsPanel
from tests.ui_world import signed_in_bridges, until
from tests.world import make_store, running_server

ALL = ViewSpec(key="all", title="All")


def test_runs_group_positions() -> None:
    assert _runs([]) == []
    assert _runs([3, 4, 5, 9, 11, 12]) == [(3, 5), (9, 9), (11, 12)]


def test_ticket_list_model_is_a_correct_model_and_updates_in_place(
    tmp_path: Path, aloop: asyncio.AbstractEventLoop, qtmodeltester: Any, qtbot: Any
) -> None:
    store = make_store(f"sqlite:///{tmp_path / 'server.db'}")

    async def body() -> None:
        async with (
            running_server(store) as server,
            signed_in_bridges(tmp_path, server.url, "ada@example.com", "lin@example.com") as (
                ada,
                lin,
            ),
        ):
            model = TicketListModel(ada)
            table = TicketTable(ada, model)
            qtbot.addWidget(table)
            table.resize(900, 400)
            table.show()
            await model.show_view(ALL, TicketSort(TicketColumn.NUMBER, descending=False))
            rows = [model.ticket(r) for r in range(model.rowCount())]
            numbers = [r.number or 0 for r in rows if r is not None]
            # the three Care tickets Ada may see, in number order
            assert numbers == [1, 2, 5]
            qtmodeltester.check(model)

            # Select two tickets; a colleague changes one of them and moves another out
            # of sight: the rows update in place, no reset, the selection stays on its ids.
            resets: list[int] = []
            model.modelReset.connect(lambda: resets.append(1))
            table.select_ids(["t-1", "t-2"])
            assert table.selected_ids() == ["t-1", "t-2"]
            await lin.engine.update_ticket("t-2", {"priority": "urgent"})
            await until(
                lambda: (
                    (r := model.ticket(model.row_of("t-2") or 0)) is not None
                    and r.priority == "urgent"
                )
            )
            assert resets == []
            assert table.selected_ids() == ["t-1", "t-2"]
            col = COLUMNS.index(TicketColumn.PRIORITY)
            assert model.index(model.row_of("t-2") or 0, col).data() == "Urgent"
            qtmodeltester.check(model)

    aloop.run_until_complete(body())


def test_sorting_moves_rows_and_keeps_the_selection(
    tmp_path: Path, aloop: asyncio.AbstractEventLoop, qtbot: Any
) -> None:
    store = make_store(f"sqlite:///{tmp_path / 'server.db'}")

    async def body() -> None:
        async with (
            running_server(store) as server,
            signed_in_bridges(tmp_path, server.url, "ada@example.com") as (ada,),
        ):
            model = TicketListModel(ada)
            table = TicketTable(ada, model)
            qtbot.addWidget(table)
            table.show()
            await model.show_view(ALL, TicketSort(TicketColumn.UPDATED))
            table.select_ids(["t-2"])
            # A ticket updated now goes to the top of "last updated first", live.
            await ada.engine.update_ticket("t-2", {"status": "open"})
            await until(lambda: model.ticket_id(0) == "t-2")
            assert table.selected_ids() == ["t-2"]
            # The model applied a move (layoutChanged), not a reset.
            col = COLUMNS.index(TicketColumn.STATUS)
            await until(lambda: model.index(0, col).data() == "Open")

    aloop.run_until_complete(body())


def test_views_have_live_counts_and_saved_filters_persist(
    tmp_path: Path, aloop: asyncio.AbstractEventLoop, qtmodeltester: Any, qtbot: Any
) -> None:
    store = make_store(f"sqlite:///{tmp_path / 'server.db'}")
    settings = QSettings(str(tmp_path / "settings.ini"), QSettings.Format.IniFormat)

    async def body() -> None:
        async with (
            running_server(store) as server,
            signed_in_bridges(tmp_path, server.url, "ada@example.com") as (ada,),
        ):
            saved = SavedViews(settings, "acct")
            saved.save(
                [ViewSpec(key="saved:1", title="Urgent", priorities=("urgent",), saved=True)]
            )
            panel = ViewsPanel(ada, saved)
            qtbot.addWidget(panel)
            chosen: list[ViewSpec] = []
            panel.viewChosen.connect(chosen.append)
            await panel.load()
            model: ViewsModel = panel.model
            qtmodeltester.check(model)
            keys = [model.spec(r).key for r in range(model.rowCount())]  # type: ignore[union-attr]
            assert keys[0] == "mine"
            assert "unassigned" in keys
            assert keys[-1] == "saved:1"
            assert chosen
            assert chosen[-1].key == "mine"

            def count(key: str) -> int:
                return int(model.index(model.row_of(key) or 0).data(model_count_role()))

            urgent_before = count("saved:1")
            await ada.engine.update_ticket("t-1", {"priority": "urgent"})
            await until(lambda: count("saved:1") == urgent_before + 1)
            # The saved filter survives a restart (a new SavedViews over the same settings).
            assert [s.title for s in SavedViews(settings, "acct").load()] == ["Urgent"]

    aloop.run_until_complete(body())


def model_count_role() -> int:
    from app.ui.desk.views import CountRole

    return int(CountRole)


def test_bulk_tagging_keeps_the_tags_a_row_was_not_showing(
    tmp_path: Path, aloop: asyncio.AbstractEventLoop, qtbot: Any
) -> None:
    """Tagging a selection adds to each ticket's tags as the cache has them, not as the list
    row had them — a row of a page never read (Ctrl+A on a long view) has none to go by."""
    store = make_store(f"sqlite:///{tmp_path / 'server.db'}")

    async def body() -> None:
        async with (
            running_server(store) as server,
            signed_in_bridges(tmp_path, server.url, "ada@example.com", "lin@example.com") as (
                ada,
                lin,
            ),
        ):
            model = TicketListModel(ada)
            table = TicketTable(ada, model)
            qtbot.addWidget(table)
            await model.show_view(ALL, TicketSort(TicketColumn.NUMBER, descending=False))
            await lin.engine.update_ticket("t-1", {"tags": ["vip"]})
            await until(lambda: (r := model.ticket_by_id("t-1")) is not None and r.tags == ("vip",))
            model._rows.clear()  # as if these rows' page had never been read
            table.select_ids(["t-1", "t-2"])
            table.bulk_update({"add_tag": "callback"})
            await ada.engine.wait_drained(10)

            async def tags_of(tid: str) -> tuple[str, ...]:
                rows = await ada.tickets.ticket_rows([tid])
                return rows[tid].tags

            await until_async(lambda: tags_of("t-1"), ("vip", "callback"))
            await until_async(lambda: tags_of("t-2"), ("callback",))

    aloop.run_until_complete(body())


async def until_async(read: Any, expected: Any, timeout: float = 10.0) -> None:
    deadline = asyncio.get_running_loop().time() + timeout
    while (value := await read()) != expected:
        assert asyncio.get_running_loop().time() < deadline, value
        await asyncio.sleep(0.02)


def test_reordering_in_place_matches_any_new_order_and_keeps_held_rows(
    tmp_path: Path, aloop: asyncio.AbstractEventLoop
) -> None:
    """The list's diff (common head and tail, then removes, a reorder and inserts inside the
    window between them) turns any order into any other, and a held row (the selection)
    stays on its ticket — checked against many random edits of a 3,000-row list."""
    import random

    from PySide6.QtCore import QPersistentModelIndex

    store = make_store(f"sqlite:///{tmp_path / 'server.db'}")

    async def body() -> None:
        async with (
            running_server(store) as server,
            signed_in_bridges(tmp_path, server.url, "ada@example.com") as (ada,),
        ):
            # (no model tester attached here: it re-checks all 3,000 rows on every signal;
            # the first test of this module runs it over the same operations)
            model = TicketListModel(ada)
            rng = random.Random(7)
            pool = [f"t-{i}" for i in range(4000)]
            order = pool[:3000]
            model._apply_order(list(order))  # from empty: inserts only
            assert model._ids == order
            for _ in range(200):
                new = list(order)
                for _edit in range(rng.randint(1, 4)):
                    kind = rng.random()
                    if kind < 0.4 and new:  # a ticket moves (updated: to the top)
                        tid = new.pop(rng.randrange(len(new)))
                        new.insert(rng.choice([0, rng.randrange(len(new) + 1)]), tid)
                    elif kind < 0.7 and new:  # leaves the view
                        new.pop(rng.randrange(len(new)))
                    else:  # joins it
                        present = set(new)
                        outside = [t for t in pool if t not in present]
                        if outside:
                            new.insert(rng.randrange(len(new) + 1), rng.choice(outside))
                held = {
                    tid: QPersistentModelIndex(model.index(model.row_of(tid) or 0, 0))
                    for tid in rng.sample(order, 3)
                }
                model._apply_order(list(new))
                assert model._ids == new
                for tid, index in held.items():
                    if tid in new:
                        assert index.isValid()
                        assert model.ticket_id(index.row()) == tid
                    else:
                        assert not index.isValid()
                order = new

    aloop.run_until_complete(body())


def test_moving_changed_tickets_to_their_places_matches_any_change_and_keeps_held_rows(
    tmp_path: Path, aloop: asyncio.AbstractEventLoop
) -> None:
    """The live-change path (a few changed tickets moved, dropped or added at the places the
    view gives them, nothing else looked at) gives the order a full read would, keeps a held
    row (the selection) on its ticket, and refuses, changing nothing, when the count says
    other tickets moved too — checked against many random changes of a 3,000-row list."""
    import random

    from PySide6.QtCore import QPersistentModelIndex

    store = make_store(f"sqlite:///{tmp_path / 'server.db'}")

    async def body() -> None:
        async with (
            running_server(store) as server,
            signed_in_bridges(tmp_path, server.url, "ada@example.com") as (ada,),
        ):
            model = TicketListModel(ada)
            rng = random.Random(11)
            pool = [f"t-{i}" for i in range(4000)]
            order = pool[:3000]
            model._apply_order(list(order))
            for _ in range(300):
                changed = set(rng.sample(pool, rng.randint(1, 8)))
                rest = [t for t in order if t not in changed]
                joining = [t for t in changed if rng.random() < 0.8]  # the others leave
                new = list(rest)
                for tid in joining:
                    new.insert(rng.choice([0, rng.randrange(len(new) + 1)]), tid)
                places = {t: (new.index(t) if t in joining else None) for t in changed}
                held = {
                    tid: QPersistentModelIndex(model.index(model.row_of(tid) or 0, 0))
                    for tid in rng.sample(order, 3)
                }
                # a count that does not add up: refused, nothing changed
                assert not model._move_to_places(len(new) + 1, places, {})
                assert model._ids == order
                assert model._move_to_places(len(new), places, {})
                assert model._ids == new
                for tid, index in held.items():
                    if tid in new:
                        assert index.isValid()
                        assert model.ticket_id(index.row()) == tid
                    else:
                        assert not index.isValid()
                order = new

    aloop.run_until_complete(body())


@pytest.mark.parametrize(
    "sort",
    [
        TicketSort(TicketColumn.UPDATED),
        TicketSort(TicketColumn.PRIORITY, descending=False),
        TicketSort(TicketColumn.STATUS),
    ],
)
def test_placing_changed_tickets_gives_the_order_a_full_read_gives(
    tmp_path: Path,
    aloop: asyncio.AbstractEventLoop,
    monkeypatch: pytest.MonkeyPatch,
    sort: TicketSort,
) -> None:
    """The large-list path (ask where the changed tickets stand now) agrees with re-reading
    the whole view, as tickets change, join and leave it."""
    from app.ui.desk import ticket_list

    monkeypatch.setattr(ticket_list, "PLACE_FROM", 0)  # this world's list is short
    store = make_store(f"sqlite:///{tmp_path / 'server.db'}")
    view = ViewSpec(key="active", title="Active", statuses=("new", "open", "pending"))

    async def body() -> None:
        async with (
            running_server(store) as server,
            signed_in_bridges(tmp_path, server.url, "ada@example.com", "lin@example.com") as (
                ada,
                lin,
            ),
        ):
            model = TicketListModel(ada)
            await model.show_view(view, sort)
            for tid, changes in [
                ("t-2", {"priority": "urgent"}),
                ("t-1", {"status": "pending"}),
                ("t-5", {"status": "open"}),  # joins the view
                ("t-2", {"status": "solved"}),  # leaves it
                ("t-1", {"priority": "low"}),
            ]:
                await lin.engine.update_ticket(tid, changes)
                await lin.engine.wait_drained(10)

                async def agreed() -> bool:
                    return model._ids == await ada.tickets.ticket_ids(view, sort)

                await until_async(agreed, True)

    aloop.run_until_complete(body())
