"""The Qt binding itself: PySide6 6.12.0 lost a reference to ``True`` or ``None`` on every
signal delivered to a Python slot, and after a few hundred the interpreter aborted — a desk
would crash minutes into a shift.  pyproject.toml excludes that release; this test fails on
any release that brings the bug back (it runs in a child process, since the bug aborts)."""

from __future__ import annotations

import os
import subprocess
import sys

PROBE = """
import sys
from PySide6.QtCore import QCoreApplication, QObject, Signal

app = QCoreApplication([])

class Source(QObject):
    flag = Signal(bool)
    value = Signal(object)

source = Source()
source.flag.connect(lambda v: None)
source.value.connect(lambda v: None)
before = sys.getrefcount(True), sys.getrefcount(None)
for _ in range(2000):
    source.flag.emit(True)
    source.value.emit(None)
after = sys.getrefcount(True), sys.getrefcount(None)
print(before[0] - after[0], before[1] - after[1])
"""


def test_signals_keep_their_references() -> None:
    done = subprocess.run(
        [sys.executable, "-c", PROBE],
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, "QT_QPA_PLATFORM": "offscreen"},
        check=False,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    lost_true, lost_none = (int(n) for n in done.stdout.split())
    assert abs(lost_true) < 10
    assert abs(lost_none) < 10
