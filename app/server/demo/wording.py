"""The demo's wording: names, phrases and templates kept as TOML under ``wording/``.

What the demo says is data, not logic, so it lives in one file per subject and a writer can
change it without reading the generator.  The files are read through ``importlib.resources``,
which finds them in a source checkout, a wheel and a frozen (PyInstaller) build alike.
"""

from __future__ import annotations

import tomllib
from collections.abc import Mapping
from functools import cache
from importlib import resources
from typing import Any


@cache
def wording(subject: str) -> Mapping[str, Any]:
    """``wording/<subject>.toml``, parsed once per process."""
    path = resources.files("app.server.demo") / "wording" / f"{subject}.toml"
    return tomllib.loads(path.read_text(encoding="utf-8"))


def texts(values: Any) -> tuple[str, ...]:
    """A TOML array of strings as a tuple, so the demo's choices stay immutable."""
    return tuple(str(value) for value in values)


def span(values: Any) -> tuple[int, int]:
    """A TOML ``[low, high]`` pair of whole numbers."""
    low, high = values
    return int(low), int(high)
