"""rtio.ws: the WebSocket protocol (RFC 6455) with permessage-deflate (RFC 7692).

Knows nothing of Engine.IO or Socket.IO. See docs/ARCHITECTURE.md for the contract the
layer above relies on.
"""

from .aiohttp_adapter import accept, close_all_on_shutdown
from .client import connect
from .connection import WebSocket
from .deflate import DeflateOptions
from .errors import (
    ConnectionClosed,
    ConnectionLost,
    HandshakeError,
    HandshakeRefused,
    InvalidHandshakeResponse,
    InvalidState,
    InvalidUTF8,
    PayloadTooBig,
    PolicyViolation,
    ProtocolError,
    WebSocketError,
)
from .frames import CloseCode, Opcode
from .options import ConnectionOptions, ServerOptions
from .protocol import PreparedMessage, prepare_message
from .stream import serve_upgrade

__all__ = [
    "CloseCode",
    "ConnectionClosed",
    "ConnectionLost",
    "ConnectionOptions",
    "DeflateOptions",
    "HandshakeError",
    "HandshakeRefused",
    "InvalidHandshakeResponse",
    "InvalidState",
    "InvalidUTF8",
    "Opcode",
    "PayloadTooBig",
    "PolicyViolation",
    "PreparedMessage",
    "ProtocolError",
    "ServerOptions",
    "WebSocket",
    "WebSocketError",
    "accept",
    "close_all_on_shutdown",
    "connect",
    "prepare_message",
    "serve_upgrade",
]
