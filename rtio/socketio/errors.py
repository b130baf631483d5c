"""The Socket.IO layer's exceptions and disconnect reasons.

    SocketIOError
    ├── ConnectionRefused      raised by a connect middleware: CONNECT_ERROR {message, data}
    ├── AckTimeout             (also a TimeoutError) no acknowledgement within the timeout
    ├── SocketDisconnected     the socket went away before it acknowledged
    ├── InvalidState           (also a RuntimeError) a socket lifecycle step out of order
    └── ParseError             (also a ValueError) the remote sent an invalid packet

``InvalidState`` (rtio.socketio.core) is a bug in rtio, never the peer's doing. A
``ParseError`` (rtio.socketio.parsers) closes the connection with the reason ``parse
error`` and never reaches the application.
"""

from __future__ import annotations

import enum
from typing import Any

__all__ = [
    "AckTimeout",
    "ConnectionRefused",
    "DisconnectReason",
    "SocketDisconnected",
    "SocketIOError",
    "refusal_payload",
]


class SocketIOError(Exception):
    """The root of rtio.socketio's exceptions."""


class ConnectionRefused(SocketIOError):
    """Refuse a connection from a connect middleware (or a dynamic namespace matcher).

    The client gets CONNECT_ERROR ``{"message": message, "data": data}``; in socket.io-client
    that is ``connect_error`` with ``err.message`` and ``err.data``.
    """

    def __init__(self, message: str = "Connection refused", data: Any = None) -> None:
        super().__init__(message)
        self.message = message
        self.data = data

    def payload(self) -> dict[str, Any]:
        if self.data is None:
            return {"message": self.message}
        return {"message": self.message, "data": self.data}


def refusal_payload(exc: BaseException) -> dict[str, Any] | None:
    """The CONNECT_ERROR payload of an exception that refuses a connection, or None.

    :class:`ConnectionRefused`, and for code written against python-socketio the builtin
    ``ConnectionRefusedError`` (its arguments read as python-socketio reads those of its
    own: none -> "Connection rejected by server", the first -> the message, the second
    (or the rest, as a list) -> ``data``) and any exception carrying python-socketio's
    ``error_args`` dict (``socketio.exceptions.ConnectionRefusedError``)."""
    if isinstance(exc, ConnectionRefused):
        return exc.payload()
    error_args = getattr(exc, "error_args", None)
    if isinstance(error_args, dict) and "message" in error_args:
        return dict(error_args)
    if isinstance(exc, ConnectionRefusedError):
        args = exc.args
        if not args:
            return {"message": "Connection rejected by server"}
        payload: dict[str, Any] = {"message": str(args[0])}
        if len(args) == 2:
            payload["data"] = args[1]
        elif len(args) > 2:
            payload["data"] = list(args[1:])
        return payload
    return None


class AckTimeout(SocketIOError, TimeoutError):
    """The client did not acknowledge in time (``await emit_with_ack(...)``)."""


class SocketDisconnected(SocketIOError):
    """The socket disconnected while an acknowledgement was awaited."""


class DisconnectReason(str, enum.Enum):
    """Why a socket disconnected, as Node's socket.io names it. Compares equal to the string."""

    #: the client's transport failed (e.g. an HTTP error while polling)
    TRANSPORT_ERROR = "transport error"
    #: the connection was closed (the user closed the tab, the network dropped)
    TRANSPORT_CLOSE = "transport close"
    #: the client closed the Engine.IO session (close packet)
    FORCED_CLOSE = "forced close"
    #: the client missed its heartbeats
    PING_TIMEOUT = "ping timeout"
    #: the client sent an invalid packet
    PARSE_ERROR = "parse error"
    #: the server is shutting down
    SERVER_SHUTTING_DOWN = "server shutting down"
    #: the server closed the underlying connection
    FORCED_SERVER_CLOSE = "forced server close"
    #: the client called ``socket.disconnect()``
    CLIENT_NAMESPACE_DISCONNECT = "client namespace disconnect"
    #: the server called ``socket.disconnect()``
    SERVER_NAMESPACE_DISCONNECT = "server namespace disconnect"

    def __str__(self) -> str:
        return self.value
