"""rtio.engine: the Engine.IO v4 server (long-polling and WebSocket transports).

Sees a WebSocket only as a message transport (rtio.ws); knows nothing of Socket.IO.
See docs/ARCHITECTURE.md for the contract the layer above relies on.
"""

from .aiohttp_front import ENGINES_KEY
from .cors import CorsOptions
from .engine_session import EngineHandler, EngineSession
from .errors import (
    CloseReason,
    EngineError,
    ErrorCode,
    InvalidTransition,
    PacketDecodeError,
    PayloadTooLarge,
    RequestRefused,
)
from .http import HttpRequest, HttpResponse
from .observer import EngineObserver
from .options import CookieOptions, EngineOptions, HttpCompression
from .packet import Packet, PacketType
from .request import HandshakeRequest
from .server import EngineServer
from .websocket import PreparedPacket, prepare_packet

__all__ = [
    "ENGINES_KEY",
    "CloseReason",
    "CookieOptions",
    "CorsOptions",
    "EngineError",
    "EngineHandler",
    "EngineObserver",
    "EngineOptions",
    "EngineServer",
    "EngineSession",
    "ErrorCode",
    "HandshakeRequest",
    "HttpCompression",
    "HttpRequest",
    "HttpResponse",
    "InvalidTransition",
    "Packet",
    "PacketDecodeError",
    "PacketType",
    "PayloadTooLarge",
    "PreparedPacket",
    "RequestRefused",
    "prepare_packet",
]
