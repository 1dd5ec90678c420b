"""The KnownError family: what the desk says in plain words, and what is a bug.

The engine raises a `KnownError` for what the agent can act on (a ticket no longer on this
workstation, an invalid change, no connection); the desk shows its text.  A plain ``KeyError``
or ``ValueError`` is a bug and goes to the crash dialog (`crash.explain` gives it no words).
"""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from app.sync.engine import KnownError, NotConnected, NotOnThisWorkstation, SyncEngine
from app.sync.engine.errors import InvalidChange
from app.ui.crash import explain
from tests.world import make_store, running_server, workstation


def test_the_engine_raises_known_errors_in_plain_words(tmp_path: Path) -> None:
    store = make_store(f"sqlite:///{tmp_path / 'server.db'}")

    async def body() -> None:
        async with running_server(store) as server:
            ada, _ = await workstation(tmp_path, server.url, "ada@example.com")
            try:
                with pytest.raises(NotOnThisWorkstation, match="no longer on this workstation"):
                    await ada.reply("t-nowhere", "Hello")
                with pytest.raises(InvalidChange, match="priority"):
                    await ada.update_ticket("t-1", {"priority": "whenever"})
                with pytest.raises(InvalidChange, match="unknown mutation"):
                    await ada.mutate("ticket.explode", {})
                assert await ada.read(lambda c: 0) == 0  # the engine is still fine
            finally:
                await ada.close()
            offline = SyncEngine(tmp_path / "offline.cache.db", server.url)
            await offline.open()
            try:
                with pytest.raises(NotConnected):
                    await offline.fetch_ticket(number=1)
            finally:
                await offline.close()

    asyncio.run(body())


def test_the_crash_dialog_words_known_errors_and_only_those() -> None:
    words = explain(NotOnThisWorkstation("this ticket is no longer on this workstation"))
    assert words == "That did not work: this ticket is no longer on this workstation."
    assert isinstance(NotConnected("offline"), KnownError)
    assert explain(KeyError("t-1")) is None  # a bug: the crash dialog, with its traceback
    assert explain(ValueError("bad")) is None


def test_an_engine_pointed_at_another_address_connects_there(tmp_path: Path) -> None:
    """Setting ``server_url`` after construction (a server back on another port) is used by
    every part of the engine (it once stayed on the facade and the engine dialled "/sync")."""
    store = make_store(f"sqlite:///{tmp_path / 'server.db'}")

    async def body() -> None:
        async with running_server(store) as server:
            ada, _ = await workstation(tmp_path, server.url, "ada@example.com")
            token = ada.token
            await ada.close()
            again = SyncEngine(tmp_path / "ada.cache.db", "", token=token)
            await again.open()
            try:
                again.server_url = server.url + "/"
                assert again.server_url == server.url
                again.start()
                await again.wait_online(20)
            finally:
                await again.close()

    asyncio.run(body())
