"""A bare ``websockets`` broadcast server: the engine under our fan-out, with nothing of ours.

``python -m bench.bare_server`` listens on 127.0.0.1 (a free port), prints ``listening on
ws://HOST:PORT`` like switchboard-server, and speaks just enough of the sync protocol for the
bench's clients: a ``hello`` is answered ``caught_up``; a ``mutation`` is acknowledged to its
sender and its note body broadcast with ``websockets.broadcast`` to every other connection in
a ``changes`` frame.  No store, no access rules, no JSON beyond one parse per mutation: the
fan-out scenario run against it gives the floor our server is measured against.
"""

from __future__ import annotations

import asyncio
import json
import signal

from websockets.asyncio.server import ServerConnection, broadcast, serve

CONNECTIONS: set[ServerConnection] = set()


async def handler(ws: ServerConnection) -> None:
    CONNECTIONS.add(ws)
    try:
        async for raw in ws:
            frame = json.loads(raw)
            kind = frame.get("type")
            if kind == "hello":
                await ws.send('{"type":"caught_up","cursor":0}')
            elif kind == "mutation":
                body = frame["args"]["message"]["body"]
                change = {"type": "changes", "cursor": 0, "changes": [{"data": {"body": body}}]}
                broadcast(CONNECTIONS - {ws}, json.dumps(change, separators=(",", ":")))
                ack = {"type": "ack", "mutation_id": frame["mutation_id"], "seq": 0, "result": {}}
                await ws.send(json.dumps(ack, separators=(",", ":")))
    finally:
        CONNECTIONS.discard(ws)


async def main() -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    # The same settings as app.server.app.SwitchboardServer.start.
    async with serve(
        handler, "127.0.0.1", 0, compression=None, max_queue=64, ping_interval=20
    ) as server:
        port = next(iter(server.sockets)).getsockname()[1]
        print(f"listening on ws://127.0.0.1:{port}", flush=True)
        await stop.wait()


if __name__ == "__main__":
    asyncio.run(main())
