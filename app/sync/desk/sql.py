"""Small pieces every desk reader uses to build SQL and decode the cache's rows."""

from __future__ import annotations

import json
import unicodedata
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime
from typing import Any, TypeVar

T = TypeVar("T")

# SQLite's limit on host parameters is 32766; ids are bound in chunks well below it.
CHUNK = 500


def stored(value: datetime) -> str:
    """A datetime as the cache stores it (naive UTC text, as SQLAlchemy writes it), so
    comparisons happen in SQL on the stored text."""
    return value.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S.%f")


def dt(value: str | None) -> datetime | None:
    if value is None:
        return None
    return datetime.fromisoformat(value).replace(tzinfo=UTC)


def dt_required(value: str | None) -> datetime:
    parsed = dt(value)
    if parsed is None:
        return datetime.fromtimestamp(0, UTC)  # a replica row always has it; never crash a list
    return parsed


def from_json(value: Any) -> Any:
    if value is None or not isinstance(value, str | bytes):
        return value
    return json.loads(value)


def tags(value: Any) -> tuple[str, ...]:
    """A ticket's ``tags`` column (a JSON list) as a tuple of strings."""
    return tuple(str(tag) for tag in (from_json(value) or ()))


def folded(text: str) -> str:
    """``text`` without case or accents, for comparing as a reader would."""
    decomposed = unicodedata.normalize("NFKD", text.casefold())
    return "".join(ch for ch in decomposed if not unicodedata.combining(ch))


def marks(values: Sequence[Any]) -> str:
    """As many ``?`` placeholders as ``values``, comma-separated."""
    return ", ".join("?" for _ in values)


def like(text: str) -> str:
    """A LIKE pattern for "contains ``text``" (with ``ESCAPE '\\'``)."""
    escaped = text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


def chunks(values: Sequence[T], size: int = CHUNK) -> Iterable[Sequence[T]]:
    for start in range(0, len(values), size):
        yield values[start : start + size]
