"""Small helpers shared by the scenarios: results, percentiles, limits, temp dirs."""

from __future__ import annotations

import contextlib
import math
import os
import resource
import shutil
import tempfile
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent  # the project (holds app/ and bench/)
NOFILE_WANTED = 65536


def raise_nofile(wanted: int = NOFILE_WANTED) -> int:
    """Raise this process's open-files soft limit as far as the hard limit allows."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    target = wanted if hard == resource.RLIM_INFINITY else min(wanted, hard)
    if soft < target:
        resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
        soft = target
    return soft


def percentile(sorted_values: Sequence[float], pct: float) -> float:
    """The nearest-rank percentile of already sorted values (nan if there are none)."""
    if not sorted_values:
        return math.nan
    rank = max(1, math.ceil(pct / 100 * len(sorted_values)))
    return float(sorted_values[min(rank, len(sorted_values)) - 1])


def summarise(values: Sequence[float]) -> dict[str, float]:
    """n, p50, p90, p99, max and mean of ``values`` (rounded for printing)."""
    ordered = sorted(values)
    if not ordered:
        return {"n": 0}
    return {
        "n": len(ordered),
        "p50": round(percentile(ordered, 50), 3),
        "p90": round(percentile(ordered, 90), 3),
        "p99": round(percentile(ordered, 99), 3),
        "max": round(ordered[-1], 3),
        "mean": round(sum(ordered) / len(ordered), 3),
    }


@dataclass(frozen=True)
class Bare:
    """The same work done by the bare engine underneath, with nothing of ours in the way."""

    what: str
    figure: float


@dataclass
class Result:
    """One scenario's line: the headline figure against its target, plus detail."""

    scenario: str
    figure: float
    unit: str
    target: float
    # "max": the figure must not exceed the target; "min": it must reach it.
    kind: str = "max"
    detail: dict[str, Any] = field(default_factory=dict)
    extra_ok: bool = True  # further conditions (e.g. a second percentile, verified counts)
    # The bare engine's figure for the same work, measured in the same run: absolute times
    # vary from machine to machine, the ratio between the two holds.
    bare: Bare | None = None

    @property
    def met(self) -> bool:
        if math.isnan(self.figure):
            return False
        ok = self.figure <= self.target if self.kind == "max" else self.figure >= self.target
        return ok and self.extra_ok

    def as_json(self) -> dict[str, Any]:
        return {
            "scenario": self.scenario,
            "figure": round(self.figure, 3),
            "unit": self.unit,
            "target": self.target,
            "target_is": "at most" if self.kind == "max" else "at least",
            "met": self.met,
            **self._against_bare(),
            **self.detail,
        }

    def _against_bare(self) -> dict[str, Any]:
        if self.bare is None:
            return {}
        ratio = self.figure / self.bare.figure if self.bare.figure else math.nan
        return {
            "bare": {"what": self.bare.what, "figure": round(self.bare.figure, 3)},
            # ours / bare, in the figure's unit: for times >= 1 is the cost of our layers;
            # for rates <= 1 is the share of the engine's rate we keep.
            "ratio": round(ratio, 2),
        }


@contextlib.contextmanager
def temp_dir(prefix: str) -> Iterator[Path]:
    """A temporary directory, removed afterwards whatever happens."""
    path = Path(tempfile.mkdtemp(prefix=f"switchboard-bench-{prefix}-"))
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)


def system_busy_seconds() -> float:
    """CPU seconds the whole machine has spent busy (all cores), from /proc/stat."""
    fields = Path("/proc/stat").read_text().splitlines()[0].split()[1:]
    user, nice, system, _idle, _iowait, irq, softirq, steal = (int(f) for f in fields[:8])
    return (user + nice + system + irq + softirq + steal) / os.sysconf("SC_CLK_TCK")


def own_cpu_seconds() -> float:
    """CPU seconds used by this process and its finished (reaped) children."""
    me = resource.getrusage(resource.RUSAGE_SELF)
    kids = resource.getrusage(resource.RUSAGE_CHILDREN)
    return me.ru_utime + me.ru_stime + kids.ru_utime + kids.ru_stime
