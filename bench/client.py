"""A plain websockets client that signs in with a bearer token and says hello."""

from __future__ import annotations

import json
import uuid
from typing import Any

from websockets.asyncio.client import ClientConnection, connect

from app.sync.protocol import MAX_FRAME_BYTES, PROTOCOL_MAX, PROTOCOL_MIN, SYNC_PATH


async def open_agent(
    url: str, token: str, cursor: int, *, access_version: int = 1, timeout: float = 30.0
) -> ClientConnection:
    """Connect, hello with ``cursor``, and return once the server says ``caught_up``."""
    ws = await connect(
        url + SYNC_PATH,
        additional_headers={"Authorization": f"Bearer {token}"},
        max_size=16 * MAX_FRAME_BYTES,
        compression=None,
        open_timeout=timeout,
        max_queue=None,  # never push back on the server: this client reads everything
    )
    hello = {
        "type": "hello",
        "protocol": {"min": PROTOCOL_MIN, "max": PROTOCOL_MAX},
        "device_id": str(uuid.uuid4()),
        "cursor": cursor,
        "access_version": access_version,
        "client": "bench",
    }
    await ws.send(json.dumps(hello))
    while True:
        frame: dict[str, Any] = json.loads(await ws.recv())
        if frame["type"] == "caught_up":
            return ws
        if frame["type"] == "welcome" and frame.get("bootstrap"):
            await ws.close()
            raise RuntimeError("the server asked for a bootstrap; say hello at the head")
        if frame["type"] == "error":
            await ws.close()
            raise RuntimeError(f"hello refused: {frame}")


def note_mutation(mutation_id: int, ticket_id: str, body: str) -> str:
    """A ``message.add`` mutation frame adding an internal note."""
    frame = {
        "type": "mutation",
        "mutation_id": mutation_id,
        "name": "message.add",
        "args": {
            "message": {
                "id": str(uuid.uuid4()),
                "ticket_id": ticket_id,
                "kind": "note",
                "body": body,
            }
        },
    }
    return json.dumps(frame, separators=(",", ":"))
