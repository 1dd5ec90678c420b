"""Sign-in after a wrong password: the keyboard path a new agent takes, with a real server.

Typing the right password after an error and pressing Enter must sign in (never cancel and
close the workstation), and the error must not squeeze the fields it explains."""

from __future__ import annotations

import asyncio
import gc
from collections.abc import Iterator
from pathlib import Path

import pytest
from PySide6.QtCore import Qt
from PySide6.QtTest import QTest
from PySide6.QtWidgets import QApplication, QDialog
from pytestqt.qtbot import QtBot

from app.sync.profile import Profile
from app.ui import crash
from app.ui.signin import SignInDialog
from tests.keychains import MemoryKeyring, keyring_backend
from tests.ui_world import until
from tests.world import PASSWORD, make_store, running_server


@pytest.fixture(autouse=True)
def collect_garbage_on_the_ui_thread(qapp: QApplication) -> Iterator[None]:
    """As in the workstation (``crash.install_ui_thread_gc``): Python's cycle collector runs
    on the UI thread only.  Left to run on a later test's database or server thread, it would
    destroy this test's widgets there, and Qt crashes when their events are next processed."""
    gc.collect()
    collector = crash.install_ui_thread_gc(qapp)
    try:
        yield
    finally:
        collector.uninstall()
        collector.deleteLater()
        gc.collect()


ADA = "ada@example.com"


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    root = tmp_path / "home"
    monkeypatch.setenv("HOME", str(root))
    for var, sub in (("XDG_CONFIG_HOME", "config"), ("XDG_DATA_HOME", "data")):
        monkeypatch.setenv(var, str(root / sub))
    monkeypatch.setenv("XDG_CACHE_HOME", str(root / "cache"))
    monkeypatch.delenv("SWITCHBOARD_TOKEN", raising=False)
    return root


def test_enter_after_a_wrong_password_signs_in_with_the_right_one(
    aloop: asyncio.AbstractEventLoop, qtbot: QtBot, tmp_path: Path, home: Path
) -> None:
    async def body() -> None:
        store = make_store(f"sqlite:///{tmp_path / 'server.db'}")
        async with running_server(store) as server:
            dialog = SignInDialog(Profile(server.url, ADA), keychain=False)
            qtbot.addWidget(dialog)
            dialog.show()
            dialog.activateWindow()
            await until(lambda: QApplication.focusWidget() is dialog.password_edit, 5)
            before = {
                e: e.height() for e in (dialog.server_edit, dialog.email_edit, dialog.password_edit)
            }
            QTest.keyClicks(dialog.password_edit, "not the password")
            QTest.keyClick(dialog.password_edit, Qt.Key.Key_Return)
            assert dialog.busy
            await until(lambda: not dialog.busy, 20)
            assert "email or password is not right" in dialog.error_text()
            assert dialog.isVisible()
            # Back on the password, its text selected: typing replaces it.
            assert QApplication.focusWidget() is dialog.password_edit
            assert dialog.password_edit.selectedText() == "not the password"
            assert not dialog.cancel_button.isDefault()
            assert not dialog.cancel_button.autoDefault()
            # The error has its own room: no field shrinks below what its text needs.
            QApplication.processEvents()
            for edit, height in before.items():
                assert edit.height() >= height
                assert edit.height() >= edit.sizeHint().height()
            QTest.keyClicks(dialog.password_edit, PASSWORD)
            assert dialog.password_edit.text() == PASSWORD
            QTest.keyClick(dialog.password_edit, Qt.Key.Key_Return)
            await until(lambda: dialog.session is not None or not dialog.isVisible(), 20)
            assert dialog.session is not None
            assert dialog.result() == QDialog.DialogCode.Accepted.value
        store.dispose()

    with keyring_backend(MemoryKeyring()):
        aloop.run_until_complete(body())
