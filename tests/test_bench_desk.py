"""The desk benchmark runs end to end on a small cache and reports every figure.

A smoke test of ``bench/desk.py`` and ``bench/desk_probe.py``: 2,000 tickets and 30,000
messages, one cold start and a few of each interaction, so that a change to the workstation
that breaks the probe (a renamed method, a start-up that never becomes interactive) shows up
here rather than in a ``make bench`` run.  The figures themselves depend on the machine and
are not checked against the targets.
"""

from __future__ import annotations

import asyncio
import math
from pathlib import Path

import pytest

from bench import desk
from bench.common import Result

pytestmark = pytest.mark.slow


def test_desk_probe_reports_every_figure_on_a_small_cache(tmp_path: Path) -> None:
    scale = desk.Scale(
        tickets=2_000,
        messages=30_000,  # 40 threads of 500+, and a few messages on every other ticket
        cold_runs=1,
        long_tabs=6,  # the last one is closed again: 5 long threads stay open
        short_tabs=2,
        tab_switches=20,
        wheel_steps=20,
        page_steps=5,
        jumps=3,
        changes=3,
        cache_root=tmp_path / "caches",  # not the kept 50k build under /tmp
    )

    async def body() -> list[Result]:
        return [*await desk.run_cold_start(scale), *await desk.run_desk(scale)]

    results = asyncio.run(asyncio.wait_for(body(), 120))
    by_name = {r.scenario: r for r in results}
    assert list(by_name) == [
        "desk_cold_start",
        "desk_open_ticket",
        "desk_tab_switch",
        "desk_list_scroll",
        "desk_search",
        "desk_remote_change",
        "desk_memory",
    ]
    for result in results:
        assert math.isfinite(result.figure), result.as_json()
        assert result.figure > 0, result.as_json()
        assert result.as_json()["target"] == result.target
    assert len(by_name["desk_cold_start"].detail["runs_ms"]) == 1
    opened = by_name["desk_open_ticket"].detail
    assert opened["long_threads"]["n"] == 6
    assert min(opened["thread_messages"]) >= 500
    assert opened["short_threads"]["n"] == 2
    assert by_name["desk_tab_switch"].detail["frames"]["n"] == 20
    scrolled = by_name["desk_list_scroll"].detail
    assert scrolled["list_rows"] == 2_000  # "All tickets": the whole cache
    assert scrolled["wheel"]["n"] == 20
    assert scrolled["jump_to_rows_filled_ms"]["n"] == 3
    searched = by_name["desk_search"].detail
    assert searched["timings"]["n"] >= 40
    # The scroll and the search are measured beside their bare engines, in the same run.
    for name in ("desk_list_scroll", "desk_search"):
        line = by_name[name].as_json()
        assert line["bare"]["figure"] > 0, line
        assert math.isfinite(line["ratio"]), line
    assert "2000 rows" in by_name["desk_list_scroll"].as_json()["bare"]["what"]
    changed = by_name["desk_remote_change"].detail
    assert changed["total"]["n"] == 3
    assert changed["view"] == "All tickets"
    assert by_name["desk_memory"].detail["open_tabs"] == 7  # 5 long threads, 2 short
