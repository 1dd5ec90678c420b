"""A workstation that types into a conversation until it is killed (tests/test_ui_e2e.py).

Run as ``python tests/ui_typist.py SERVER_URL DIR PASSWORD``: signs Ada in with the cache
``DIR/typist.cache.db``, opens ticket t-1 in the real desk and types ``TEXT`` into the composer
at about 50 characters a second, printing ``typed N`` after each character.
"""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path

TEXT = (
    "Hello Customer 2, thank you for your patience while we looked into this. "
    "The replacement part arrived this morning and the technician has fitted it; "
    "the device passed every test, so you can collect it any time before six today."
)


async def type_until_killed(url: str, tmp: Path) -> None:
    from PySide6.QtCore import QSettings
    from PySide6.QtTest import QTest

    from app.ui.desk.window import DeskWindow
    from tests.ui_world import signed_in_bridge, until

    bridge = await signed_in_bridge(tmp, url, "ada@example.com", name="typist")
    window = DeskWindow(
        bridge, QSettings(str(tmp / "typist.ini"), QSettings.Format.IniFormat), "account"
    )
    await window.load()
    window.show()
    window.open_ticket("t-1")
    view = window.tabs.view("t-1")
    assert view is not None
    await until(lambda: view.thread_view.thread_model.rowCount() > 0)
    window.save_state()  # the tab comes back after the crash, as after any restart
    for n, char in enumerate(TEXT, 1):
        QTest.keyClicks(view.composer.editor, char)
        print(f"typed {n}", flush=True)
        await asyncio.sleep(0.02)
    await asyncio.Event().wait()  # keep running until killed


def main() -> None:
    import qasync
    from PySide6.QtWidgets import QApplication

    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
    app = QApplication([])
    loop = qasync.QEventLoop(app)
    asyncio.set_event_loop(loop)
    with loop:
        loop.run_until_complete(type_until_killed(sys.argv[1], Path(sys.argv[2])))


if __name__ == "__main__":
    main()
