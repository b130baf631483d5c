"""The exception tree of rtio.ws.

Owns every exception the WebSocket layer raises; knows nothing of sockets. Errors are split
the wsproto way into *remote violations* (the peer broke RFC 6455 / RFC 7692; each carries
the close code to fail the connection with) and *local misuse* (the application asked for
something the state does not allow)::

    WebSocketError
    ├── ProtocolError            remote violation; .close_code (1002 unless a subclass says)
    │   ├── InvalidUTF8          1007: a text message or close reason that is not UTF-8
    │   ├── PolicyViolation      1008: a peer-driven limit other than size (fragments, time)
    │   └── PayloadTooBig        1009: a frame or message over the configured limit
    ├── InvalidState             local misuse: sending on a closing/closed connection
    ├── ConnectionClosed         the connection is closed; .code and .reason say how
    ├── ConnectionLost           the TCP connection was lost during the opening handshake
                                 (also a ConnectionResetError, as before it was one)
    └── HandshakeError           the opening handshake failed
        ├── HandshakeRefused     server side: refuse with .status, .reason, .headers
        └── InvalidHandshakeResponse   client side: the server's answer is not acceptable
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from aiohttp import web

__all__ = [
    "ConnectionClosed",
    "ConnectionLost",
    "HandshakeError",
    "HandshakeRefused",
    "InvalidHandshakeResponse",
    "InvalidState",
    "InvalidUTF8",
    "PayloadTooBig",
    "PolicyViolation",
    "ProtocolError",
    "WebSocketError",
]


class WebSocketError(Exception):
    """Root of every exception raised by rtio.ws."""


class ProtocolError(WebSocketError):
    """The peer violated the protocol; the connection is failed with ``close_code``."""

    close_code: int = 1002  # CloseCode.PROTOCOL_ERROR


class InvalidUTF8(ProtocolError):
    """A text message or a close reason is not valid UTF-8."""

    close_code = 1007  # CloseCode.INVALID_DATA


class PolicyViolation(ProtocolError):
    """The peer exceeded a limit other than size: a message in too many fragments, a
    fragmented message left open too long, or a peer that does not read what it is sent."""

    close_code = 1008  # CloseCode.POLICY_VIOLATION


class PayloadTooBig(ProtocolError):
    """A frame or a message is larger than the configured limit."""

    close_code = 1009  # CloseCode.MESSAGE_TOO_BIG


class InvalidState(WebSocketError):
    """The application used the connection in a state that does not allow it."""


class ConnectionClosed(WebSocketError):
    """The connection is closed. ``code`` is 1006 when the TCP connection dropped without a
    close handshake, 1005 when the peer's close frame carried no code."""

    def __init__(self, code: int, reason: str = "") -> None:
        super().__init__(f"connection closed: {code} {reason}".rstrip())
        self.code = code
        self.reason = reason


class ConnectionLost(WebSocketError, ConnectionResetError):
    """The TCP connection was lost before the opening handshake completed (server side:
    before or while the 101 was written). A ConnectionResetError too, for the callers that
    caught that before rtio.ws raised its own."""


class HandshakeError(WebSocketError):
    """The opening handshake failed."""


class HandshakeRefused(HandshakeError):
    """The server refuses a handshake request with an HTTP status, a short reason (the body)
    and extra response headers (e.g. ``Sec-WebSocket-Version: 13`` with a 426)."""

    def __init__(
        self, status: int, reason: str, headers: dict[str, str] | None = None
    ) -> None:
        super().__init__(f"{status} {reason}")
        self.status = status
        self.reason = reason
        self.headers: dict[str, str] = dict(headers or {})

    def response(self) -> web.Response:
        """This refusal as an aiohttp Response (status, headers, reason as a text body)."""
        # Imported here so that this module stays free of aiohttp for the sans-I/O core.
        from aiohttp import web

        return web.Response(status=self.status, text=self.reason + "\n", headers=self.headers)


class InvalidHandshakeResponse(HandshakeError):
    """The client rejects the server's handshake response."""
