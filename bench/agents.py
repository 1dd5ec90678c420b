"""The agent swarm: many authenticated WebSocket agents in one process (``python -m bench.agents``).

Each agent is a bare ``asyncio.Protocol`` speaking just enough RFC 6455 for a client that only
listens: the upgrade request with its bearer token, masked text frames out (hello, pongs,
close), unmasked frames in.  This is several times cheaper per frame than a general client, so
on a 2-core machine the swarm does not steal the CPU the server needs, and what is measured is
the server.  ``data_received`` only stamps the arrival time (CLOCK_MONOTONIC, system-wide on
Linux) and queues the bytes; parsing runs in a later loop iteration, so a burst of arrivals on
hundreds of sockets is stamped before any of them is parsed.

Config (a JSON file, argv[1]): url, head, access_version, tokens (list), marker (the prefix of
timestamped note bodies, ``PREFIX:SEND_NS:N``), concurrency (parallel handshakes).

Protocol on stdout (one JSON object per line): ``ready`` once every agent is caught up (or
failed); then one answer per command read on stdin: ``report`` (latency summary), ``reset``
(forget latencies so far), ``quit``.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import json
import os
import re
import select
import socket
import struct
import sys
import time
import uuid
from collections import Counter
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from bench.common import raise_nofile, summarise

HANDSHAKE_TIMEOUT_S = 60.0
WS_GUID = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
TEXT, CLOSE, PING, PONG = 0x1, 0x8, 0x9, 0xA
BURST_S = 0.002  # after the first arrival, how long to let a burst gather before reading it
# Linux: SO_TIMESTAMPNS (SCM_TIMESTAMPNS), a struct timespec per recvmsg; the socket module
# does not name it.
SO_TIMESTAMPNS = getattr(socket, "SO_TIMESTAMPNS", 35)
TIMESTAMP_SPACE = socket.CMSG_SPACE(16)


def _client_frame(opcode: int, payload: bytes) -> bytes:
    """A masked client frame (RFC 6455 section 5.2)."""
    n = len(payload)
    if n < 126:
        header = bytes([0x80 | opcode, 0x80 | n])
    elif n < 65536:
        header = bytes([0x80 | opcode, 0x80 | 126]) + n.to_bytes(2, "big")
    else:
        header = bytes([0x80 | opcode, 0x80 | 127]) + n.to_bytes(8, "big")
    key = os.urandom(4)
    stream = (key * (n // 4 + 1))[:n]
    masked = (int.from_bytes(payload, "big") ^ int.from_bytes(stream, "big")).to_bytes(n, "big")
    return header + key + masked


class Stats:
    """What the whole swarm saw."""

    def __init__(self, marker: str) -> None:
        self.marker = re.compile(rb'"body":"' + re.escape(marker.encode()) + rb":(\d+):(\d+)\"")
        self.latencies_ms: list[float] = []  # send -> bytes at the agent's socket
        self.read_latencies_ms: list[float] = []  # send -> this process read them
        self.per_mutation: Counter[int] = Counter()
        self.frames: Counter[str] = Counter()
        self.bytes_in = 0

    def changes(self, arrived_ns: int, read_ns: int, payload: bytes) -> None:
        for match in self.marker.finditer(payload):
            sent = int(match.group(1))
            self.latencies_ms.append((arrived_ns - sent) / 1e6)
            self.read_latencies_ms.append((read_ns - sent) / 1e6)
            self.per_mutation[int(match.group(2))] += 1


class Agent(asyncio.Protocol):
    """One signed-in workstation that says hello at ``head`` and then just listens."""

    def __init__(self, swarm: Swarm, token: str) -> None:
        self.swarm = swarm
        self.token = token
        self.key = base64.b64encode(os.urandom(16))
        self.transport: asyncio.Transport | None = None
        self.inbox: list[tuple[int, bytes]] = []
        self.scheduled = False
        self.buffer = bytearray()
        self.open = False
        self.fragments: list[bytes] = []
        self.caught_up: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self.closed = False

    # ---- asyncio.Protocol ----------------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport
        # The kernel stamps each segment as it reaches the socket (see _listen).
        transport.get_extra_info("socket").setsockopt(socket.SOL_SOCKET, SO_TIMESTAMPNS, 1)
        request = (
            f"GET /sync HTTP/1.1\r\nHost: {self.swarm.host}:{self.swarm.port}\r\n"
            "Upgrade: websocket\r\nConnection: Upgrade\r\n"
            f"Sec-WebSocket-Key: {self.key.decode()}\r\nSec-WebSocket-Version: 13\r\n"
            f"Authorization: Bearer {self.token}\r\n\r\n"
        )
        transport.write(request.encode())

    def data_received(self, data: bytes) -> None:
        self.inbox.append((time.monotonic_ns(), data))
        if not self.scheduled:
            self.scheduled = True
            asyncio.get_running_loop().call_soon(self.process)

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        if not self.caught_up.done():
            self.caught_up.set_exception(ConnectionError(f"connection lost: {exc}"))

    # ---- processing ----------------------------------------------------------------------

    def fail(self, why: str) -> None:
        if not self.caught_up.done():
            self.caught_up.set_exception(RuntimeError(why))
        if self.transport is not None:
            self.transport.close()

    def process(self) -> None:
        self.scheduled = False
        inbox, self.inbox = self.inbox, []
        for arrived, data in inbox:
            self.swarm.stats.bytes_in += len(data)
            self.buffer += data
            if not self.open and not self.handshake():
                continue
            self.frames(arrived, arrived)

    def handshake(self) -> bool:
        end = self.buffer.find(b"\r\n\r\n")
        if end < 0:
            return False
        head = bytes(self.buffer[:end]).decode("latin-1")
        del self.buffer[: end + 4]
        accept = base64.b64encode(hashlib.sha1(self.key + WS_GUID).digest()).decode()
        if not head.startswith("HTTP/1.1 101") or accept not in head:
            self.fail(f"upgrade refused: {head.splitlines()[0] if head else head!r}")
            return False
        self.open = True
        hello = {
            "type": "hello",
            "protocol": {"min": 1, "max": 1},
            "device_id": str(uuid.uuid4()),
            "cursor": self.swarm.head,
            "access_version": self.swarm.access_version,
            "client": "bench-swarm",
        }
        self.send(TEXT, json.dumps(hello).encode())
        return True

    def frames(self, arrived: int, read: int) -> None:
        buf = self.buffer
        pos = 0
        while len(buf) - pos >= 2:
            first, second = buf[pos], buf[pos + 1]
            length = second & 0x7F
            start = pos + 2
            if length == 126:
                if len(buf) - pos < 4:
                    break
                length = int.from_bytes(buf[pos + 2 : pos + 4], "big")
                start = pos + 4
            elif length == 127:
                if len(buf) - pos < 10:
                    break
                length = int.from_bytes(buf[pos + 2 : pos + 10], "big")
                start = pos + 10
            if len(buf) < start + length:
                break
            payload = bytes(buf[start : start + length])
            pos = start + length
            opcode = first & 0x0F
            if opcode == PING:
                self.send(PONG, payload)
            elif opcode == CLOSE:
                self.send(CLOSE, payload[:2])
                if self.transport is not None:
                    self.transport.close()
            elif opcode in (TEXT, 0x0):
                self.fragments.append(payload)
                if first & 0x80:
                    message = b"".join(self.fragments)
                    self.fragments = []
                    self.on_text(arrived, read, message)
        if pos:
            del buf[:pos]

    def on_text(self, arrived: int, read: int, payload: bytes) -> None:
        stats = self.swarm.stats
        end = payload.find(b'"', 9)
        kind = payload[9:end].decode() if payload.startswith(b'{"type":"') else "?"
        stats.frames[kind] += 1
        if kind == "changes":
            stats.changes(arrived, read, payload)
        elif kind == "caught_up" and not self.caught_up.done():
            self.caught_up.set_result(None)
        elif kind == "welcome" and b'"bootstrap":true' in payload:
            self.fail("the server asked for a bootstrap")
        elif kind == "error" and not self.caught_up.done():
            self.fail(payload.decode(errors="replace")[:300])

    def send(self, opcode: int, payload: bytes) -> None:
        if self.transport is not None and not self.transport.is_closing():
            self.transport.write(_client_frame(opcode, payload))

    def close(self) -> None:
        if self.transport is not None and not self.transport.is_closing():
            self.send(CLOSE, (1000).to_bytes(2, "big") + b"bench done")
            self.transport.close()


class Swarm:
    def __init__(self, config: dict[str, Any]) -> None:
        self.url: str = config["url"]
        parts = urlsplit(self.url)
        self.host: str = parts.hostname or "127.0.0.1"
        self.port: int = parts.port or 80
        self.head: int = int(config["head"])
        self.access_version: int = int(config.get("access_version", 1))
        self.tokens: list[str] = list(config["tokens"])
        self.concurrency: int = int(config.get("concurrency", 64))
        self.stats = Stats(str(config.get("marker", "bench")))
        self.agents: list[Agent] = []
        self.errors: Counter[str] = Counter()

    async def connect_all(self) -> dict[str, Any]:
        loop = asyncio.get_running_loop()
        gate = asyncio.Semaphore(self.concurrency)
        started = time.perf_counter()
        times: list[float] = []

        async def one(token: str) -> None:
            async with gate:
                t0 = time.perf_counter()
                try:
                    _transport, agent = await loop.create_connection(
                        lambda: Agent(self, token), self.host, self.port
                    )
                    self.agents.append(agent)
                    await asyncio.wait_for(agent.caught_up, HANDSHAKE_TIMEOUT_S)
                    times.append((time.perf_counter() - t0) * 1000)
                except Exception as exc:
                    self.errors[f"{type(exc).__name__}: {exc}"[:200]] += 1

        await asyncio.gather(*(one(t) for t in self.tokens))
        return {
            "event": "ready",
            "connected": len(times),
            "failed": sum(self.errors.values()),
            "errors": dict(self.errors.most_common(3)),
            "connect_s": round(time.perf_counter() - started, 3),
            "handshake_ms": summarise(times),
            "frames": dict(self.stats.frames),
        }

    def report(self) -> dict[str, Any]:
        stats = self.stats
        per = list(stats.per_mutation.values())
        return {
            "event": "report",
            "latency_ms": summarise(stats.latencies_ms),
            "read_latency_ms": summarise(stats.read_latencies_ms),
            "mutations_seen": len(per),
            "min_deliveries_per_mutation": min(per) if per else 0,
            "short_mutations": sorted(n for n, c in stats.per_mutation.items() if c < max(per))[:10]
            if per
            else [],
            "missing_mutations": sorted(
                set(range(max(stats.per_mutation) + 1)) - set(stats.per_mutation)
            )[:10]
            if per
            else [],
            "frames": dict(stats.frames),
            "bytes_in": stats.bytes_in,
            "still_open": sum(not a.closed for a in self.agents),
        }

    def reset(self) -> dict[str, Any]:
        self.stats.latencies_ms.clear()
        self.stats.read_latencies_ms.clear()
        self.stats.per_mutation.clear()
        self.stats.frames.clear()
        return {"event": "reset"}


def _emit(obj: dict[str, Any]) -> None:
    sys.stdout.write(json.dumps(obj) + "\n")
    sys.stdout.flush()


def _listen(swarm: Swarm) -> None:
    """After the handshakes: read every socket from one blocking epoll loop until ``quit``.

    asyncio costs a callback and a handle per readable socket; a plain epoll loop reading
    sockets with ``recvmsg`` is about half the CPU per delivered frame, which on two cores is
    CPU the server gets back.

    The latency counts to the moment the bytes reached the agent's socket: the kernel's
    receive timestamp (SO_TIMESTAMPNS, CLOCK_REALTIME, brought onto CLOCK_MONOTONIC), not the
    moment this process got round to reading them.  A thousand agents share this one process
    and read one after another, where a thousand workstations would each read their own at
    once; stamping at read time measured that queue as much as the server.  (The read time
    is still reported, as ``read_latency_ms``.)  So the loop need not hurry: woken by the
    first arrival, it lets a burst gather for BURST_S, then reads and parses all of it, which
    takes far fewer wake-ups and system calls, and so less of the CPU the server needs.
    Commands arrive on stdin through the same epoll.
    """
    poller = select.epoll()
    by_fd: dict[int, tuple[Agent, socket.socket]] = {}
    for agent in swarm.agents:
        if agent.transport is None or agent.transport.is_closing():
            continue
        agent.transport.pause_reading()  # this loop reads from now on
        agent.process()  # what asyncio read already, or later bytes would be parsed before it
        # A socket object of our own on the same connection, for recvmsg.
        sock = socket.socket(fileno=os.dup(agent.transport.get_extra_info("socket").fileno()))
        by_fd[sock.fileno()] = (agent, sock)
        poller.register(sock.fileno(), select.EPOLLIN)
    stdin = sys.stdin.fileno()
    poller.register(stdin, select.EPOLLIN)
    pending = b""
    # One receive buffer for every read: a fresh 256 KiB one per read is an mmap and munmap.
    buffer = bytearray(1 << 18)
    view = memoryview(buffer)
    try:
        while True:
            poller.poll()
            time.sleep(BURST_S)
            realtime_offset = time.time_ns() - time.monotonic_ns()
            arrivals: list[tuple[Agent, int, int, bytes]] = []
            for fd, _mask in poller.poll(0, len(by_fd) + 1):
                if fd == stdin:
                    chunk = os.read(stdin, 4096)
                    if not chunk:
                        return  # the bench went away
                    pending += chunk
                    continue
                agent, sock = by_fd[fd]
                try:
                    size, ancillary, _flags, _addr = sock.recvmsg_into([buffer], TIMESTAMP_SPACE)
                except (BlockingIOError, InterruptedError):
                    continue
                except OSError:
                    size, ancillary = 0, []
                read = time.monotonic_ns()
                data = bytes(view[:size])
                if not data:
                    poller.unregister(fd)
                    del by_fd[fd]
                    sock.close()
                    agent.closed = True
                    continue
                arrived = read
                for level, kind, value in ancillary:
                    if level == socket.SOL_SOCKET and kind == SO_TIMESTAMPNS:
                        seconds, nanoseconds = struct.unpack("qq", value[:16])
                        arrived = seconds * 1_000_000_000 + nanoseconds - realtime_offset
                arrivals.append((agent, arrived, read, data))
            for agent, arrived, read, data in arrivals:
                swarm.stats.bytes_in += len(data)
                agent.buffer += data
                agent.frames(arrived, read)
            while b"\n" in pending:
                line, pending = pending.split(b"\n", 1)
                command = line.decode().strip()
                if command == "report":
                    _emit(swarm.report())
                elif command == "reset":
                    _emit(swarm.reset())
                else:
                    return
    finally:
        poller.close()
        for _agent, sock in by_fd.values():
            sock.close()


async def _main(config: dict[str, Any]) -> None:
    swarm = Swarm(config)
    _emit(await swarm.connect_all())
    await asyncio.sleep(0)  # flush the hello/pong writes of the last handshakes
    _listen(swarm)
    for agent in swarm.agents:
        agent.close()
    await asyncio.sleep(0.2)


def main() -> None:
    raise_nofile()
    config = json.loads(Path(sys.argv[1]).read_text())
    asyncio.run(_main(config))


if __name__ == "__main__":
    main()
