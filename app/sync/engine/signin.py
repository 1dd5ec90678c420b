"""Signing in (credentials for a session token) and out (ending the session on the server)."""

from __future__ import annotations

import asyncio
import json
import ssl

from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed, InvalidHandshake, InvalidStatus

from app.sync import protocol as p
from app.sync.engine.connection import ConnectionLoop
from app.sync.engine.context import EngineContext
from app.sync.engine.errors import NotASwitchboardServer, RequestFailed
from app.sync.observer import ConnectionState


class SignIn:
    """The agent's session with the server: begun by ``login``, ended by ``end_session``."""

    def __init__(self, ctx: EngineContext, connection: ConnectionLoop) -> None:
        self._ctx = ctx
        self._connection = connection

    async def login(self, email: str, password: str) -> str:
        """Exchange credentials for a session token (kept in ``token``)."""
        ctx = self._ctx
        async with connect(
            ctx.server_url + p.SYNC_PATH,
            ssl=ctx.ssl_context,
            max_size=p.MAX_SERVER_FRAME_BYTES,
            compression=None,
            open_timeout=15,
        ) as ws:
            await ws.send(p.encode({"type": "login", "email": email, "password": password}))
            raw = await ws.recv()
        try:
            answer = json.loads(raw)
            if answer.get("type") != "login_ok":
                raise RequestFailed(
                    answer.get("code", "error"), answer.get("message", "sign-in failed")
                )
            token, agent_id = str(answer["token"]), str(answer["agent_id"])
        except (ValueError, KeyError, AttributeError) as exc:
            raise NotASwitchboardServer("the server did not answer as Switchboard does") from exc
        ctx.token = token
        await ctx.remember_agent(agent_id)
        return token

    async def end_session(self, timeout: float = 8.0) -> bool:
        """Sign out on the server, then stop syncing (the engine ends SIGNED_OUT, tokenless).

        Over the live connection when there is one, else over a connection of its own (as
        ``switchboard logout`` does).  Returns whether the server confirmed: it closed with
        1000 "signed out", or refused the token as already over (HTTP 401).  False when it
        could not be reached: the session then ends on the server when it expires.
        """
        ctx = self._ctx
        token = ctx.token
        confirmed = False
        self._connection.stopping = True  # the server's close must not start a reconnect
        ws = ctx.ws
        if ws is not None:
            try:
                await ws.send(p.encode({"type": "logout"}))
                async with asyncio.timeout(timeout):
                    await ws.wait_closed()
                confirmed = ws.close_code == 1000
            except (ConnectionClosed, TimeoutError):
                confirmed = ws.close_code == 1000
        if not confirmed and token is not None:
            confirmed = await end_session_on_server(
                ctx.server_url, token, ssl_context=ctx.ssl_context, timeout=timeout
            )
        await self._connection.stop()
        ctx.token = None
        ctx.set_status(ConnectionState.SIGNED_OUT, "signed out")
        return confirmed


async def end_session_on_server(
    server_url: str, token: str, *, ssl_context: ssl.SSLContext | None, timeout: float
) -> bool:
    """End the session ``token`` on the server over a connection of its own.

    Whether the server confirmed: it closed with 1000 "signed out", or refused the token as
    already over (HTTP 401).  False when it could not be reached.  The engine falls back on
    this without a live connection; ``switchboard logout`` uses it without an engine.
    """
    ws: ClientConnection | None = None
    try:
        async with connect(
            server_url + p.SYNC_PATH,
            additional_headers={"Authorization": f"Bearer {token}"},
            ssl=ssl_context,
            max_size=p.MAX_SERVER_FRAME_BYTES,
            compression=None,
            open_timeout=timeout,
        ) as ws:
            await ws.send(p.encode({"type": "logout"}))
            async with asyncio.timeout(timeout):
                async for _ in ws:
                    pass  # the server answers by closing with 1000 "signed out"
    except InvalidStatus as exc:
        return exc.response.status_code == 401  # already over (expired, revoked)
    except (OSError, InvalidHandshake, TimeoutError, ConnectionClosed):
        pass
    return ws is not None and ws.close_code == 1000
