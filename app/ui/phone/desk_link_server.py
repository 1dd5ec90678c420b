"""The desk's end of `app.desk_link`: a ``QLocalServer`` that takes call events.

Each connection sends one JSON line (`desk_link.parse_request`) and gets one JSON line back:
``{"ok": true, "shown": "..."}`` once the screen-pop is under way, or ``{"ok": false,
"error": "..."}`` saying why nothing was done.  Only this user may connect (the socket is
created with ``UserAccessOption``).  A socket left behind by a desk that crashed is
removed; one held by a live desk of the same user is left to it.  The handler answers at
once (it only reads the number), so the command's exit status says whether it was understood.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable

from PySide6.QtCore import QObject
from PySide6.QtNetwork import QLocalServer, QLocalSocket

from app import desk_link
from app.desk_link import BadCallEvent, IncomingCall

log = logging.getLogger(__name__)
READ_TIMEOUT_MS = 3000
# What the desk does with a call: the words for the command's answer, or BadCallEvent.
CallHandler = Callable[[IncomingCall], str]


class DeskLinkServer(QObject):
    """Serves `desk_link` requests for one desk window."""

    def __init__(self, handler: CallHandler, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._handler = handler
        self._server = QLocalServer(self)
        self._server.setSocketOptions(QLocalServer.SocketOption.UserAccessOption)
        self._server.newConnection.connect(self._accept)
        self._buffers: dict[QLocalSocket, bytes] = {}
        self.name = ""

    @property
    def listening(self) -> bool:
        return self._server.isListening()

    def listen(self, name: str | None = None) -> bool:
        """Take calls on ``name`` (default: `desk_link.socket_name()`); False if another
        running desk of this user takes them."""
        if self._server.isListening():
            return True
        try:
            self.name = name or desk_link.socket_name()
        except desk_link.UnsafeFolder as exc:  # someone else's folder: take no calls there
            log.warning("cannot take calls: %s", exc)
            return False
        if self._server.listen(self.name):
            return True
        if _answers(self.name):
            log.warning("another Switchboard desk takes the calls on %s", self.name)
            return False
        QLocalServer.removeServer(self.name)  # left behind by a desk that crashed
        if self._server.listen(self.name):
            return True
        log.warning("cannot take calls on %s: %s", self.name, self._server.errorString())
        return False

    def close(self) -> None:
        self._server.close()
        for sock in list(self._buffers):
            sock.abort()
        self._buffers.clear()

    def _accept(self) -> None:
        while self._server.hasPendingConnections():
            sock = self._server.nextPendingConnection()
            if sock is None:
                break
            self._buffers[sock] = b""
            sock.readyRead.connect(lambda s=sock: self._read(s))
            sock.disconnected.connect(lambda s=sock: self._forget(s))
            if sock.bytesAvailable():
                self._read(sock)

    def _read(self, sock: QLocalSocket) -> None:
        if sock not in self._buffers:
            return
        data = self._buffers[sock] + bytes(sock.readAll().data())
        if b"\n" not in data and len(data) < desk_link.MAX_LINE:
            self._buffers[sock] = data
            return
        del self._buffers[sock]
        line = data.split(b"\n", 1)[0]
        try:
            event = desk_link.parse_request(line)
            answer = {"ok": True, "shown": self._handler(event)}
        except BadCallEvent as exc:
            answer = {"ok": False, "error": str(exc)}
        sock.write(json.dumps(answer).encode() + b"\n")
        sock.flush()
        sock.disconnectFromServer()

    def _forget(self, sock: QLocalSocket) -> None:
        self._buffers.pop(sock, None)
        sock.deleteLater()


def _answers(name: str) -> bool:
    """Whether a live server holds ``name`` (a connection is accepted at once)."""
    probe = QLocalSocket()
    probe.connectToServer(name)
    live = probe.waitForConnected(300)
    probe.abort()
    return live
