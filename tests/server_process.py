"""The real `switchboard-server` and `switchboard` programs as subprocesses, and a bare
protocol client, for tests that need whole processes (signals, crashes, command lines)."""

from __future__ import annotations

import contextlib
import http.client
import json
import os
import queue
import re
import signal
import ssl
import subprocess
import sys
import threading
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from websockets.asyncio.client import ClientConnection, connect

from app.sync import protocol as p

PYTHON = sys.executable
# The console scripts `pip install -e .` put next to the interpreter running the tests.
SERVER_SCRIPT = str(Path(PYTHON).with_name("switchboard-server"))
WORKSTATION_SCRIPT = str(Path(PYTHON).with_name("switchboard"))
LISTENING = re.compile(r"^listening on (?P<scheme>wss?)://(?P<host>[0-9.]+):(?P<port>\d+)$")


@dataclass
class ServerProcess:
    """A running `switchboard-server`; ``url`` comes from the line it printed."""

    proc: subprocess.Popen[str]
    url: str
    stderr_path: Path
    _stdout: queue.Queue[str | None] = field(repr=False)
    _reader: threading.Thread = field(repr=False)

    @property
    def port(self) -> int:
        return int(self.url.rsplit(":", 1)[1])

    def stop(self, sig: signal.Signals = signal.SIGTERM, timeout: float = 10.0) -> int:
        """Send ``sig`` and wait for the exit code (TimeoutExpired if it does not exit)."""
        self.proc.send_signal(sig)
        return self.proc.wait(timeout)

    def crash(self) -> None:
        """SIGKILL: no shutdown code runs, as in a power-cut-free crash."""
        self.proc.kill()
        self.proc.wait(10)

    def further_stdout(self) -> list[str]:
        """Lines printed after the listening line (call once the process has exited)."""
        self._reader.join(10)
        lines: list[str] = []
        while (line := self._stdout.get_nowait()) is not None:
            lines.append(line)
        return lines

    def stderr(self) -> str:
        return self.stderr_path.read_text("utf-8", errors="replace")

    def close(self) -> None:
        """Kill the process if it still runs, and release its pipe."""
        if self.proc.poll() is None:
            self.crash()
        self._reader.join(10)
        if self.proc.stdout is not None:
            self.proc.stdout.close()


def _pump(stream: Any, out: queue.Queue[str | None]) -> None:
    for line in stream:
        out.put(line.rstrip("\n"))
    out.put(None)


def start_server(
    args: Sequence[str],
    log_dir: Path,
    *,
    env: Mapping[str, str] | None = None,
    timeout: float = 30.0,
) -> ServerProcess:
    """Run ``switchboard-server ARGS`` and wait for its ``listening on`` line."""
    log_dir.mkdir(parents=True, exist_ok=True)
    index = len(list(log_dir.glob("server-*.log")))
    stderr_path = log_dir / f"server-{index}.log"
    with stderr_path.open("w") as stderr:
        proc = subprocess.Popen(
            [SERVER_SCRIPT, *args],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=stderr,
            text=True,
            env=dict(env) if env is not None else None,
        )
    lines: queue.Queue[str | None] = queue.Queue()
    reader = threading.Thread(target=_pump, args=(proc.stdout, lines), daemon=True)
    reader.start()
    server = ServerProcess(proc, "", stderr_path, lines, reader)
    try:
        first = lines.get(timeout=timeout)
    except queue.Empty:
        first = f"(nothing in {timeout} s)"
    match = LISTENING.match(first or "")
    if match is None:
        server.close()
        raise AssertionError(
            f"expected a listening line, got {first!r} (exit code {proc.returncode}):\n"
            + server.stderr()
        )
    server.url = f"{match['scheme']}://{match['host']}:{match['port']}"
    return server


@contextlib.contextmanager
def server_process(
    args: Sequence[str], log_dir: Path, *, env: Mapping[str, str] | None = None
) -> Iterator[ServerProcess]:
    """``start_server`` that never leaves the process behind, whatever the test does."""
    server = start_server(args, log_dir, env=env)
    try:
        yield server
    finally:
        server.close()


def run_server_command(
    args: Sequence[str], *, stdin: str = "", timeout: float = 60.0
) -> subprocess.CompletedProcess[str]:
    """Run a one-shot ``switchboard-server`` command (init, agent ...) to completion."""
    return subprocess.run(
        [SERVER_SCRIPT, *args],
        input=stdin,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def health(url: str, ssl_context: ssl.SSLContext | None = None) -> tuple[int, str, Any]:
    """GET /healthz of the server at ``url``: (status, content type, decoded body)."""
    host, port = url.split("://", 1)[1].rsplit(":", 1)
    conn: http.client.HTTPConnection
    if url.startswith("wss://"):
        conn = http.client.HTTPSConnection(host, int(port), timeout=10, context=ssl_context)
    else:
        conn = http.client.HTTPConnection(host, int(port), timeout=10)
    try:
        conn.request("GET", p.HEALTH_PATH)
        response = conn.getresponse()
        body = response.read()
        return response.status, response.getheader("Content-Type", ""), json.loads(body)
    finally:
        conn.close()


# ---- the workstation command line -----------------------------------------------------------


def workstation_env(home: Path, **extra: str) -> dict[str, str]:
    """An environment whose config and data directories live under ``home`` (nothing of the
    developer's own profile, cache or keychain is read or written)."""
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("XDG_", "SWITCHBOARD_", "PYTHON_KEYRING", "KEYRING_"))
    }
    env.update(
        HOME=str(home),
        XDG_CONFIG_HOME=str(home / "config"),
        XDG_DATA_HOME=str(home / "data"),
        XDG_CACHE_HOME=str(home / "cache"),
        XDG_STATE_HOME=str(home / "state"),
        # No OS keychain on a test machine: the "fail" backend is what a headless box has.
        PYTHON_KEYRING_BACKEND="keyring.backends.fail.Keyring",
    )
    env.update(extra)
    return env


def run_workstation(
    args: Sequence[str], env: Mapping[str, str], *, stdin: str = "", timeout: float = 60.0
) -> subprocess.CompletedProcess[str]:
    """Run ``switchboard ARGS`` to completion."""
    return subprocess.run(
        [WORKSTATION_SCRIPT, *args],
        input=stdin,
        capture_output=True,
        text=True,
        timeout=timeout,
        env=dict(env),
        check=False,
    )


# ---- a bare protocol client -------------------------------------------------------------------


async def sign_in(url: str, email: str, password: str) -> str:
    """A session token, from a ``login`` frame on a fresh connection."""
    async with connect(url + p.SYNC_PATH, open_timeout=10) as ws:
        await ws.send(p.encode({"type": "login", "email": email, "password": password}))
        answer = json.loads(await ws.recv())
    assert answer["type"] == "login_ok", answer
    return str(answer["token"])


async def open_synced(
    url: str, token: str, device_id: str, *, acked_through: int = 0
) -> ClientConnection:
    """A connection that has said hello and read everything up to ``caught_up``."""
    ws = await connect(
        url + p.SYNC_PATH,
        additional_headers={"Authorization": f"Bearer {token}"},
        open_timeout=10,
        max_size=p.MAX_SERVER_FRAME_BYTES,
    )
    await ws.send(
        p.encode(
            {
                "type": "hello",
                "protocol": {"min": p.PROTOCOL_MIN, "max": p.PROTOCOL_MAX},
                "device_id": device_id,
                "cursor": 0,
                "acked_through": acked_through,
            }
        )
    )
    while True:
        frame = json.loads(await ws.recv())
        if frame["type"] == "caught_up":
            return ws
        assert frame["type"] in ("welcome", "changes", "bootstrap_done"), frame
