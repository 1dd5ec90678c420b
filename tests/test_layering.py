"""The layer rules of ``docs/architecture.md``, checked on every module under ``app/``.

Each ``.py`` file is parsed with :mod:`ast` (never imported, so a broken layer cannot hide
behind an import error) and every import is resolved to an absolute dotted name: ``import x``,
``from x import y`` (recorded as ``x.y``, so ``from app.sync import protocol`` is told apart
from ``from app.sync import outbox``), relative imports resolved against the module's package,
imports inside functions and ``if TYPE_CHECKING:`` blocks, and literal
``importlib.import_module("x")`` / ``__import__("x")`` calls.

The rules are data (:data:`FORBIDDEN_IMPORTS`), so changing a rule means changing the table
here and in the document together.  A module belongs to the longest package prefix in the
table; a new top-level package under ``app/`` falls under the strict ``app`` rule until it is
given its own row.
"""

from __future__ import annotations

import ast
import sys
from dataclasses import dataclass
from functools import cache
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parent.parent
APP_DIR = REPO_ROOT / "app"

QT = ("PySide6", "shiboken6", "qasync")

# Package (or module) prefix -> module prefixes it must never import.
FORBIDDEN_IMPORTS: dict[str, tuple[str, ...]] = {
    # `app/__init__.py` runs in every process (workstation and headless server), so it must be
    # as plain as the strictest layer; unlisted packages under app/ land here too.
    "app": (*QT, "keyring", "app.sync", "app.server", "app.ui", "app.cli"),
    # Shared by the server store and the workstation cache: the server imports it, so it
    # inherits the server's bans, and it sits below every other layer.
    "app.models": (*QT, "keyring", "websockets", "app.sync", "app.server", "app.ui", "app.cli"),
    # The domain's declarations, read by both the server store and the workstation cache: above
    # the data model and the protocol, below both programs.
    "app.domain": (*QT, "keyring", "websockets", "app.sync", "app.server", "app.ui", "app.cli"),
    # Plain asyncio, testable without a display; the server uses its protocol module.
    "app.sync": (*QT, "app.ui", "app.server", "app.cli"),
    # Runs headless on machines without Qt or an OS keychain; shares only the protocol with
    # the workstation, never the client engine.
    "app.server": (*QT, "keyring", "app.sync", "app.ui", "app.cli"),
    # The UI thread must never run a query: it reaches data only through the bridge to the
    # sync engine and receives plain data objects, never live ORM rows.
    "app.ui": (
        "sqlalchemy",
        "alembic",
        "psycopg",
        "sqlite3",
        "app.server",
        "app.models",
        "app.domain",
        "app.cli",
    ),
    # The composition root wires everything together, including the embedded demo server.
    "app.cli": (),
    # The program's entry point: a call event goes to app.desk_link, anything else to app.cli;
    # it imports nothing else itself.
    "app.launch": (*QT, "keyring", "sqlalchemy", "app.sync", "app.server", "app.ui"),
    # Runs on every ring a softphone reports: the standard library only, to start fast.
    "app.desk_link": (
        *QT,
        "keyring",
        "sqlalchemy",
        "pydantic",
        "websockets",
        "phonenumbers",
        "app.sync",
        "app.server",
        "app.ui",
        "app.cli",
        "app.models",
        "app.domain",
    ),
}

# Narrow exceptions to a forbidden prefix above: package prefix -> module prefixes allowed.
ALLOWED_EXCEPTIONS: dict[str, tuple[str, ...]] = {
    "app.server": ("app.sync.protocol",),
    "app.domain": ("app.sync.protocol",),
    "app.ui": ("app.models.enums",),
}

# The protocol is loaded by both the server and the workstation; importing it also runs
# `app/sync/__init__.py`.  Both may import only these (plus the standard library).
PROTOCOL_MODULES = ("app.sync.protocol", "app.sync")
PROTOCOL_MAY_IMPORT = ("app.sync.protocol", "app.models.enums", "pydantic")


@dataclass(frozen=True)
class Import:
    """One import found in a source file, resolved to an absolute dotted name."""

    path: str
    line: int
    name: str
    statement: str

    def __str__(self) -> str:
        return f"{self.path}:{self.line}: {self.name}  ({self.statement})"


@dataclass(frozen=True)
class SourceModule:
    """A module under ``app/`` with the imports it makes."""

    name: str
    path: str
    imports: tuple[Import, ...]


def module_name(relative_path: str) -> tuple[str, bool]:
    """The dotted module name for a repo-relative path, and whether it is a package."""
    parts = relative_path.removesuffix(".py").split("/")
    if parts[-1] == "__init__":
        return ".".join(parts[:-1]), True
    return ".".join(parts), False


def resolve_relative(module: str, is_package: bool, level: int, target: str | None) -> str:
    """The absolute name of ``from <level dots><target> import ...`` inside ``module``."""
    package = module if is_package else module.rpartition(".")[0]
    parts = package.split(".") if package else []
    if level - 1 >= len(parts):
        raise ValueError(f"relative import beyond the top-level package in {module}")
    base = ".".join(parts[: len(parts) - (level - 1)])
    return f"{base}.{target}" if target else base


def find_imports(source: str, relative_path: str) -> tuple[Import, ...]:
    """Every import in ``source``, which is attributed to ``relative_path`` under the repo."""
    module, is_package = module_name(relative_path)
    found: list[Import] = []
    for node in ast.walk(ast.parse(source, filename=relative_path)):
        names: list[str] = []
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = (
                resolve_relative(module, is_package, node.level, node.module)
                if node.level
                else node.module or ""
            )
            names = [base if alias.name == "*" else f"{base}.{alias.name}" for alias in node.names]
        elif isinstance(node, ast.Call) and _is_dynamic_import(node):
            first = node.args[0]
            if isinstance(first, ast.Constant) and isinstance(first.value, str):
                names = [first.value]
        found.extend(
            Import(relative_path, getattr(node, "lineno", 0), name, ast.unparse(node))
            for name in names
        )
    return tuple(found)


def _is_dynamic_import(call: ast.Call) -> bool:
    """Whether ``call`` is ``importlib.import_module(...)`` or ``__import__(...)``."""
    if not call.args:
        return False
    func = call.func
    if isinstance(func, ast.Attribute):
        return func.attr == "import_module"
    return isinstance(func, ast.Name) and func.id in {"import_module", "__import__"}


def is_under(name: str, prefix: str) -> bool:
    """Whether dotted ``name`` is ``prefix`` or inside it (``PySide6x`` is not in ``PySide6``)."""
    return name == prefix or name.startswith(prefix + ".")


def rule_for(module: str) -> str:
    """The most specific package in :data:`FORBIDDEN_IMPORTS` that ``module`` belongs to."""
    owners = [package for package in FORBIDDEN_IMPORTS if is_under(module, package)]
    if not owners:
        raise ValueError(f"{module} is outside app/")
    return max(owners, key=len)


def layer_violations(module: str, imports: tuple[Import, ...]) -> list[Import]:
    """The imports in ``module`` that its layer forbids."""
    package = rule_for(module)
    forbidden = FORBIDDEN_IMPORTS[package]
    allowed = ALLOWED_EXCEPTIONS.get(package, ())
    return [
        found
        for found in imports
        if any(is_under(found.name, prefix) for prefix in forbidden)
        and not any(is_under(found.name, prefix) for prefix in allowed)
    ]


def protocol_violations(imports: tuple[Import, ...]) -> list[Import]:
    """Imports outside the standard library, pydantic, the enums and the protocol itself."""
    return [
        found
        for found in imports
        if found.name.partition(".")[0] not in sys.stdlib_module_names
        and not any(is_under(found.name, prefix) for prefix in PROTOCOL_MAY_IMPORT)
    ]


def report(title: str, violations: list[Import]) -> str:
    """A failure message: one ``file:line: name (statement)`` per offending import."""
    return "\n".join([title, *(f"  {found}" for found in violations)])


@cache
def app_modules() -> tuple[SourceModule, ...]:
    """Every module currently under ``app/``, parsed."""
    modules = []
    for path in sorted(APP_DIR.rglob("*.py")):
        relative = path.relative_to(REPO_ROOT).as_posix()
        imports = find_imports(path.read_text(encoding="utf-8"), relative)
        modules.append(SourceModule(module_name(relative)[0], relative, imports))
    return tuple(modules)


def test_walker_sees_the_tree() -> None:
    """Guard against a walker that silently checks nothing (wrong root, no files found)."""
    names = {module.name for module in app_modules()}
    assert {"app", "app.models.enums", "app.sync.protocol"} <= names, sorted(names)
    protocol = next(module for module in app_modules() if module.name == "app.sync.protocol")
    assert any(found.name.startswith("pydantic.") for found in protocol.imports)


@pytest.mark.parametrize(
    "package", sorted(package for package, banned in FORBIDDEN_IMPORTS.items() if banned)
)
def test_layer_imports(package: str) -> None:
    """No module in ``package`` imports what docs/architecture.md forbids for it."""
    violations = [
        found
        for module in app_modules()
        if rule_for(module.name) == package
        for found in layer_violations(module.name, module.imports)
    ]
    title = f"{package} must not import {', '.join(FORBIDDEN_IMPORTS[package])}"
    if package in ALLOWED_EXCEPTIONS:
        title += f" (except {', '.join(ALLOWED_EXCEPTIONS[package])})"
    title += " -- see docs/architecture.md:"
    assert not violations, report(title, violations)


@pytest.mark.parametrize("protocol_module", PROTOCOL_MODULES)
def test_protocol_imports_only_stdlib_pydantic_and_enums(protocol_module: str) -> None:
    """The shared protocol never pulls the client engine (or anything else) into the server."""
    violations = [
        found
        for module in app_modules()
        if module.name == protocol_module
        for found in protocol_violations(module.imports)
    ]
    title = f"{protocol_module} may import only the standard library and {PROTOCOL_MAY_IMPORT}:"
    assert not violations, report(title, violations)


def test_checker_reports_qt_in_models() -> None:
    """The checker can fail: Qt imported from a models module is reported with file:line."""
    path = "app/models/ticket_view.py"
    imports = find_imports('"""A module."""\nfrom PySide6 import QtCore\n', path)
    violations = layer_violations(module_name(path)[0], imports)
    assert [found.name for found in violations] == ["PySide6.QtCore"]
    message = report("app.models:", violations)
    assert "app/models/ticket_view.py:2: PySide6.QtCore  (from PySide6 import QtCore)" in message


@pytest.mark.parametrize(
    ("path", "source", "expected"),
    [
        pytest.param("app/sync/outbox.py", "import qasync\n", ["qasync"], id="qasync-in-sync"),
        pytest.param(
            "app/server/hub.py",
            "from ..sync import outbox\nfrom .store import open_store\n",
            ["app.sync.outbox"],
            id="relative-import",
        ),
        pytest.param(
            "app/sync/__init__.py",
            "from . import engine\nfrom .cache import Cache\n",
            [],
            id="relative-in-package-init",
        ),
        pytest.param(
            "app/server/hub.py",
            "from app.sync import protocol\nimport app.sync.protocol as wire\n",
            [],
            id="server-may-use-protocol",
        ),
        pytest.param("app/server/hub.py", "import keyring\n", ["keyring"], id="keyring-in-server"),
        pytest.param(
            "app/ui/inbox.py",
            "def load() -> None:\n    import sqlalchemy.orm\n",
            ["sqlalchemy.orm"],
            id="inside-function",
        ),
        pytest.param(
            "app/sync/engine.py",
            "from typing import TYPE_CHECKING\n"
            "if TYPE_CHECKING:\n"
            "    from app.ui.bridge import Bridge\n",
            ["app.ui.bridge.Bridge"],
            id="type-checking-block",
        ),
        pytest.param(
            "app/ui/inbox.py",
            "from app.models import Ticket\nfrom app.models.enums import Channel\n",
            ["app.models.Ticket"],
            id="ui-gets-enums-not-orm",
        ),
        pytest.param(
            "app/models/cache.py",
            "import importlib\nimportlib.import_module('PySide6.QtWidgets')\n",
            ["PySide6.QtWidgets"],
            id="dynamic-import",
        ),
        pytest.param("app/models/cache.py", "import PySide6x\n", [], id="prefix-boundary"),
        pytest.param("app/reports/csat.py", "import keyring\n", ["keyring"], id="unlisted-package"),
        pytest.param(
            "app/cli.py",
            "from app.server import store\nfrom PySide6 import QtWidgets\n",
            [],
            id="composition-root",
        ),
    ],
)
def test_checker_cases(path: str, source: str, expected: list[str]) -> None:
    """Each kind of import is resolved and judged as the table says."""
    violations = layer_violations(module_name(path)[0], find_imports(source, path))
    assert [found.name for found in violations] == expected


def test_relative_import_resolution() -> None:
    """Relative imports resolve against the package, for modules and package ``__init__``s."""
    assert resolve_relative("app.sync.engine", False, 1, "cache") == "app.sync.cache"
    assert resolve_relative("app.sync", True, 1, "cache") == "app.sync.cache"
    assert resolve_relative("app.server.hub", False, 2, None) == "app"
    with pytest.raises(ValueError, match="beyond the top-level package"):
        resolve_relative("app.cli", False, 2, "x")


def test_protocol_checker_reports_client_engine() -> None:
    """The protocol check can fail: the client engine or websockets in the protocol are caught."""
    source = (
        "import json\nfrom pydantic import BaseModel\nfrom app.models.enums import Channel\n"
        "from . import protocol\nfrom .outbox import Outbox\nimport websockets\n"
    )
    violations = protocol_violations(find_imports(source, "app/sync/protocol.py"))
    assert [found.name for found in violations] == ["app.sync.outbox.Outbox", "websockets"]
