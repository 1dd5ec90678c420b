"""``make screenshots``: the workstation's main states, rendered to docs/screenshots/*.png.

Runs the real thing offscreen at 1440x900: the embedded demo server on its own thread, the
desk signed in as Ada, and a second agent (Lin) on the same server to cause the live changes
and the conflict.  Nothing here is staged with fake data: every pixel comes from the demo
store through the sync engine and the cache, as an agent would see it.
"""

from __future__ import annotations

import asyncio
import os
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "docs" / "screenshots"
SIZE = (1440, 900)


def _isolate(home: Path) -> None:
    """Keep the run's caches, settings and keychain away from the developer's own."""
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    os.environ["HOME"] = str(home)
    os.environ["XDG_DATA_HOME"] = str(home / "data")
    os.environ["XDG_CONFIG_HOME"] = str(home / "config")
    os.environ["XDG_STATE_HOME"] = str(home / "state")
    os.environ["XDG_CACHE_HOME"] = str(home / "cache")
    os.environ["PYTHON_KEYRING_BACKEND"] = "keyring.backends.fail.Keyring"
    os.environ["SWITCHBOARD_LOG_DIR"] = str(home / "logs")


async def until(check: Callable[[], object], timeout: float = 20.0) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not check():
        if loop.time() > deadline:
            raise TimeoutError("the desk did not reach the state to photograph")
        await asyncio.sleep(0.02)


async def settle(seconds: float = 0.6) -> None:
    """Let pending reads land and repaints happen."""
    await asyncio.sleep(seconds)


def main() -> int:
    with tempfile.TemporaryDirectory(prefix="switchboard-shots-") as tmp:
        _isolate(Path(tmp))
        sys.path.insert(0, str(ROOT))
        from tools.screenshot_scenes import run_scenes

        return run_scenes(OUT, SIZE)


if __name__ == "__main__":
    raise SystemExit(main())
