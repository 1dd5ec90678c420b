"""Child processes: the server (``python -m app.server.cli``) and the agent swarm.

Both run from the project root with a raised open-files limit, are stopped with SIGTERM (then
SIGKILL) and never outlive the scenario that started them.  ``BENCH_PROFILE=DIR`` attaches
py-spy to the server for the measured phase of a scenario (see ``profile``).
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import json
import os
import shutil
import signal
import sys
from collections.abc import AsyncIterator
from pathlib import Path
from typing import IO, Any

from bench.common import ROOT, raise_nofile

START_TIMEOUT_S = 30.0
STOP_TIMEOUT_S = 10.0


def _env() -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = str(ROOT) + os.pathsep + env.get("PYTHONPATH", "")
    env.setdefault("PYTHONUNBUFFERED", "1")
    return env


# Loaded here, not in the child: between fork and exec only a plain C call is safe.
_LIBC = ctypes.CDLL(None, use_errno=True)
PR_SET_PDEATHSIG = 1


def _preexec() -> None:
    """In the child before exec: the bench's open-files limit, and die with the bench."""
    raise_nofile()
    _LIBC.prctl(PR_SET_PDEATHSIG, signal.SIGTERM)


def rss_kib(pid: int) -> int:
    """Resident set size of a process, from /proc/PID/status (KiB)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise RuntimeError(f"no VmRSS for pid {pid}")


def cpu_seconds(pid: int) -> float:
    """User + system CPU time a process has used so far."""
    stat = Path(f"/proc/{pid}/stat").read_text()
    fields = stat[stat.rindex(")") + 2 :].split()
    ticks = int(fields[11]) + int(fields[12])  # utime, stime (fields 14 and 15 of stat)
    return ticks / os.sysconf("SC_CLK_TCK")


async def _terminate(proc: asyncio.subprocess.Process) -> None:
    if proc.returncode is not None:
        return
    with contextlib.suppress(ProcessLookupError):
        proc.send_signal(signal.SIGTERM)
    try:
        await asyncio.wait_for(proc.wait(), STOP_TIMEOUT_S)
    except TimeoutError:
        with contextlib.suppress(ProcessLookupError):
            proc.kill()
        await proc.wait()


class ServerProcess:
    """``switchboard-server`` on 127.0.0.1 in its own process."""

    def __init__(
        self,
        db_url: str,
        workdir: Path,
        *,
        port: int = 0,
        label: str = "server",
        module: str = "app.server.cli",
    ):
        self.db_url = db_url
        self.workdir = workdir
        self.port = port
        self.label = label
        # ``bench.bare_server``: the bare websockets engine, for the fan-out baseline.
        self.module = module
        self.url = ""
        self.proc: asyncio.subprocess.Process | None = None
        self._stderr: IO[bytes] | None = None

    @property
    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid

    async def start(self) -> str:
        self._stderr = (self.workdir / f"{self.label}.stderr").open("ab")
        options = ["--db", self.db_url, "--log-level", "WARNING", "--host", "127.0.0.1"]
        if self.module != "app.server.cli":
            options = []
        self.proc = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            self.module,
            *options,
            *(["--port", str(self.port)] if options else []),
            cwd=ROOT,
            env=_env(),
            stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.PIPE,
            stderr=self._stderr,
            preexec_fn=_preexec,
        )
        assert self.proc.stdout is not None
        try:
            line = await asyncio.wait_for(self.proc.stdout.readline(), START_TIMEOUT_S)
        except TimeoutError:
            await self.stop()
            raise RuntimeError(f"{self.label} did not start: {self.stderr_tail()}") from None
        text = line.decode().strip()
        if not text.startswith("listening on "):
            await self.stop()
            raise RuntimeError(f"{self.label} did not start: {text!r} {self.stderr_tail()}")
        self.url = text.removeprefix("listening on ")
        self.port = int(self.url.rsplit(":", 1)[1])
        return self.url

    def stderr_tail(self, chars: int = 2000) -> str:
        path = self.workdir / f"{self.label}.stderr"
        return path.read_text(errors="replace")[-chars:] if path.exists() else ""

    async def stop(self) -> None:
        if self.proc is not None:
            await _terminate(self.proc)
            self.proc = None
        if self._stderr is not None:
            self._stderr.close()
            self._stderr = None

    async def __aenter__(self) -> ServerProcess:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()


class Swarm:
    """Many raw WebSocket agents in one child process (``bench.agents``, or ``module``: one
    speaking the same line protocol), driven by lines."""

    def __init__(
        self,
        workdir: Path,
        config: dict[str, Any],
        *,
        label: str = "swarm",
        module: str = "bench.agents",
    ):
        self.workdir = workdir
        self.module = module
        self.config = config
        self.label = label
        self.proc: asyncio.subprocess.Process | None = None
        self.ready = False  # it reads commands only once every agent is connected

    @property
    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid

    async def start(self, timeout: float) -> dict[str, Any]:
        """Start the swarm; returns its ``ready`` report once every agent is caught up."""
        config_path = self.workdir / f"{self.label}.json"
        config_path.write_text(json.dumps(self.config))
        stderr = (self.workdir / f"{self.label}.stderr").open("ab")
        try:
            self.proc = await asyncio.create_subprocess_exec(
                sys.executable,
                "-m",
                self.module,
                str(config_path),
                cwd=ROOT,
                env=_env(),
                stdin=asyncio.subprocess.PIPE,
                stdout=asyncio.subprocess.PIPE,
                stderr=stderr,
                preexec_fn=_preexec,
            )
        finally:
            stderr.close()
        answer = await self._read(timeout)
        self.ready = True
        return answer

    async def _read(self, timeout: float) -> dict[str, Any]:
        assert self.proc is not None
        assert self.proc.stdout is not None
        try:
            line = await asyncio.wait_for(self.proc.stdout.readline(), timeout)
        except TimeoutError:
            raise RuntimeError(f"{self.label} did not answer within {timeout} s") from None
        if not line:
            tail = (self.workdir / f"{self.label}.stderr").read_text(errors="replace")[-2000:]
            raise RuntimeError(f"{self.label} exited: {tail}")
        answer: dict[str, Any] = json.loads(line)
        return answer

    async def command(self, command: str, timeout: float = 30.0) -> dict[str, Any]:
        assert self.proc is not None
        assert self.proc.stdin is not None
        self.proc.stdin.write(command.encode() + b"\n")
        await self.proc.stdin.drain()
        return await self._read(timeout)

    async def stop(self) -> None:
        if self.proc is None:
            return
        if self.ready and self.proc.stdin is not None and self.proc.returncode is None:
            with contextlib.suppress(OSError, ConnectionError):
                self.proc.stdin.write(b"quit\n")
                await self.proc.stdin.drain()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.proc.wait(), 5)
        await _terminate(self.proc)
        self.proc = None


@contextlib.asynccontextmanager
async def profile(pid: int, name: str) -> AsyncIterator[None]:
    """With ``BENCH_PROFILE=DIR``, record a py-spy profile of ``pid`` while the block runs.

    The output is py-spy's "raw" format (collapsed stacks, one per line, with sample counts),
    per thread; ``pid`` may be this very process.
    """
    directory = os.environ.get("BENCH_PROFILE")
    spy = shutil.which("py-spy")
    if not directory or spy is None:
        yield
        return
    await asyncio.to_thread(os.makedirs, directory, exist_ok=True)
    proc = await asyncio.create_subprocess_exec(
        spy,
        "record",
        "--pid",
        str(pid),
        "--rate",
        "200",
        "--format",
        "raw",
        "--threads",
        "--nonblocking",
        "--output",
        str(Path(directory) / f"{name}.txt"),
        stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.DEVNULL,
        preexec_fn=_preexec,
    )
    await asyncio.sleep(0.5)  # let it attach
    try:
        yield
    finally:
        with contextlib.suppress(ProcessLookupError):
            proc.send_signal(signal.SIGINT)  # py-spy writes its output on SIGINT
        try:
            await asyncio.wait_for(proc.wait(), 30)
        except TimeoutError:
            await _terminate(proc)
