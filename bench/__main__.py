"""``python -m bench [NAME ...]``: run the scenarios, one JSON line per result."""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import signal
import sys
import time
from collections.abc import Awaitable, Callable

from bench import abuse, catchup, desk, fanout, memory, offline, screen_pop, throughput
from bench.common import Result, own_cpu_seconds, raise_nofile, system_busy_seconds

Scenario = Callable[[], Awaitable[list[Result]]]

# name -> (runner, names of the lines it prints)
SCENARIOS: dict[str, Scenario] = {
    "fanout_latency": fanout.run,
    "writer_throughput": throughput.run,
    "catchup_100k": catchup.run_catchup,
    "bootstrap_100k": catchup.run_bootstrap,
    "offline_1000": offline.run,
    "idle_connection_memory": memory.run,
    "flood_fairness": abuse.run_flood_fairness,
    "signin_flood": abuse.run_signin_flood,
    # desk_*: the workstation on a 50k-ticket cache (bench/desk.py); "desk" prints six lines
    "desk_cold_start": desk.run_cold_start,
    "desk": desk.run_desk,
    # the phone desk: `switchboard call incoming` → the caller's record painted, 50k customers
    "screen_pop": screen_pop.run,
}
TIMEOUT_S = 180.0  # a hard stop per scenario; each is designed to take well under a minute
QUIET_CPU_PCT = 30.0  # "quiet": the rest of the machine uses less than this much of one core


def wait_for_quiet(max_wait_s: float) -> float:
    """Wait (up to ``max_wait_s``) until other processes leave the machine quiet; seconds waited.

    The figures are only meaningful on an otherwise idle machine: a test suite running next to
    the bench takes the cores the server and clients need.
    """
    started = time.perf_counter()
    while time.perf_counter() - started < max_wait_s:
        busy = system_busy_seconds()
        time.sleep(1.0)
        if (system_busy_seconds() - busy) * 100 < QUIET_CPU_PCT:
            break
    return round(time.perf_counter() - started, 1)


def _run_one(name: str, quiet_wait_s: float) -> list[dict[str, object]]:
    waited = wait_for_quiet(quiet_wait_s) if quiet_wait_s > 0 else 0.0
    started = time.perf_counter()
    busy, own = system_busy_seconds(), own_cpu_seconds()

    def machine() -> dict[str, object]:
        elapsed = time.perf_counter() - started
        others = (system_busy_seconds() - busy) - (own_cpu_seconds() - own)
        return {
            "elapsed_s": round(elapsed, 1),
            # CPU used meanwhile by processes that are not the bench's (100 = one core).
            "other_load_cpu_pct": round(max(0.0, 100 * others / elapsed), 1),
            "waited_for_quiet_s": waited,
        }

    try:
        results = asyncio.run(asyncio.wait_for(SCENARIOS[name](), TIMEOUT_S))
    except Exception as exc:
        error = f"{type(exc).__name__}: {exc}"[:2000]
        return [{"scenario": name, "met": False, "error": error, **machine()}]
    extra = machine()
    return [{**r.as_json(), **extra} for r in results]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    parser.add_argument(
        "names", nargs="*", help=f"scenarios (default: all): {', '.join(SCENARIOS)}"
    )
    parser.add_argument(
        "--quiet-wait",
        type=float,
        default=30.0,
        metavar="S",
        help="before each scenario, wait up to S seconds for other processes to go quiet",
    )
    args = parser.parse_args(argv)
    unknown = [n for n in args.names if n not in SCENARIOS]
    if unknown:
        parser.error(
            f"unknown scenario(s) {', '.join(unknown)}; choose from {', '.join(SCENARIOS)}"
        )
    logging.basicConfig(level=logging.WARNING)
    raise_nofile()
    # SIGTERM like Ctrl+C: the running scenario is cancelled and cleans up (children, temp dirs).
    signal.signal(signal.SIGTERM, signal.default_int_handler)
    all_met = True
    for name in args.names or list(SCENARIOS):
        for line in _run_one(name, args.quiet_wait):
            all_met = all_met and bool(line.get("met"))
            sys.stdout.write(json.dumps(line) + "\n")
            sys.stdout.flush()
    return 0 if all_met else 1


if __name__ == "__main__":
    raise SystemExit(main())
