"""Workstation UI tests: a real server, real caches, real widgets on one qasync loop.

A test builds a ``Bridge`` (engine + desk readers + draft keeper) signed in to a real server
on 127.0.0.1 port 0, hands it to the widget under test and drives the loop with
``aloop.run_until_complete(body())`` (the ``aloop`` fixture is in conftest.py).
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path

import pytest
from PySide6.QtWidgets import QApplication

from app.sync.desk import DeskReaders
from app.ui import crash
from app.ui.bridge import Bridge
from tests.world import workstation


async def signed_in_bridge(
    tmp: Path, server_url: str, email: str, *, name: str | None = None
) -> Bridge:
    """A bridge for ``email`` (password ``tests.world.PASSWORD``), online and caught up."""
    engine, _ = await workstation(tmp, server_url, email, name=name)
    assert engine.agent_id is not None
    readers = await DeskReaders.open(engine.cache_path, engine.agent_id)
    bridge = Bridge(engine, readers)
    await bridge.reload_directory()
    return bridge


async def until(check: Callable[[], object], timeout: float = 10.0) -> None:
    """Let the loop (Qt events included) run until ``check()`` is truthy."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not check():
        if loop.time() > deadline:
            raise AssertionError("condition not met in time")
        await asyncio.sleep(0.01)


@contextlib.asynccontextmanager
async def signed_in_bridges(
    tmp: Path, server_url: str, *emails: str
) -> AsyncIterator[tuple[Bridge, ...]]:
    """``signed_in_bridge`` for each of ``emails``; every bridge is shut down afterwards."""
    bridges: list[Bridge] = []
    try:
        for email in emails:
            bridges.append(await signed_in_bridge(tmp, server_url, email))
        yield tuple(bridges)
    finally:
        for bridge in bridges:
            await bridge.shutdown()


@pytest.fixture(autouse=True)
def collect_garbage_on_the_ui_thread(qapp: QApplication) -> Iterator[None]:
    """As in the workstation (``crash.install_ui_thread_gc``): Python's cycle collector runs
    on the UI thread only.  Left to run on the cache or server thread, it destroys widgets
    there, and their timers later fire on freed memory.  A module that imports it uses it
    for every test."""
    gc.collect()
    collector = crash.install_ui_thread_gc(qapp)
    assert not gc.isenabled()
    try:
        yield
    finally:
        collector.uninstall()
        collector.deleteLater()
        gc.collect()
