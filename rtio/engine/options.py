"""EngineOptions: the Engine.IO server's settings, named after Node's engine.io options
(pingInterval -> ping_interval, maxHttpBufferSize -> max_payload, ...).

Durations are in seconds (floats); the open packet carries them as exact integer
milliseconds (0.3 s -> 300). Knows nothing of the glue that applies them.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field

from .cors import MAX_LOGGED_ORIGINS, CorsOptions
from .request import HandshakeRequest

__all__ = [
    "TRANSPORTS",
    "CookieOptions",
    "EngineOptions",
    "HttpCompression",
    "ms",
]

TRANSPORTS = ("polling", "websocket")


def ms(seconds: float) -> int:
    """Seconds as the integer milliseconds of the open packet (exact for 0.3 -> 300)."""
    return round(seconds * 1000)


@dataclass(frozen=True)
class CookieOptions:
    """The session cookie set on the handshake response (Node's ``cookie`` option)."""

    name: str = "io"
    path: str | None = "/"
    httponly: bool = True
    samesite: str | None = "Lax"
    secure: bool = False
    max_age: int | None = None
    domain: str | None = None

    def header(self, sid: str) -> str:
        parts = [f"{self.name}={sid}"]
        if self.path:
            parts.append(f"Path={self.path}")
        if self.domain:
            parts.append(f"Domain={self.domain}")
        if self.max_age is not None:
            parts.append(f"Max-Age={self.max_age}")
        if self.httponly:
            parts.append("HttpOnly")
        if self.secure:
            parts.append("Secure")
        if self.samesite:
            parts.append(f"SameSite={self.samesite}")
        return "; ".join(parts)


@dataclass(frozen=True)
class HttpCompression:
    """gzip/deflate of polling responses at least ``threshold`` bytes long (Node: on, 1024)."""

    threshold: int = 1024
    level: int = 6


#: ``allow_request(request)``: return True/None to accept, False to refuse with 403
#: Forbidden, or raise ``RequestRefused(ErrorCode.FORBIDDEN, "message", status=...)``.
AllowRequest = Callable[[HandshakeRequest], Awaitable[bool | None]]
HeadersHook = Callable[[HandshakeRequest], Mapping[str, str]]


@dataclass(frozen=True)
class EngineOptions:
    path: str = "/engine.io/"
    ping_interval: float = 25.0
    ping_timeout: float = 20.0
    upgrade_timeout: float = 10.0
    #: Node's maxHttpBufferSize: the largest POST body or WebSocket message accepted, and
    #: the most a polling response carries (at least one packet).
    max_payload: int = 1_000_000
    transports: Sequence[str] = TRANSPORTS
    allow_upgrades: bool = True
    cors: CorsOptions | None = None
    cookie: CookieOptions | None = None
    allow_request: AllowRequest | None = None
    #: extra headers for the handshake response (Node's "initial_headers" event)
    initial_headers: HeadersHook | None = None
    #: extra headers for every response (Node's "headers" event)
    headers: HeadersHook | None = None
    #: session id generator (Node's generateId); default: 20 url-safe characters
    generate_id: Callable[[HandshakeRequest], str] | None = None
    http_compression: HttpCompression | None = field(default_factory=HttpCompression)
    #: permessage-deflate on the WebSocket transport (off by default, as in Node)
    per_message_deflate: bool = False
    #: bytes queued for one session before it is closed as too slow ("send queue full");
    #: ``EngineSession.drain()`` waits until the queue is below a quarter of it
    max_buffered_bytes: int = 16 * 1024 * 1024
    #: the most packets accepted in one polling payload
    max_payload_packets: int = 10_000
    #: Node's closeTimeout: how long a session the server closes waits for a polling
    #: client to fetch what is queued and the close packet (a live client polls again
    #: within a round trip); also never longer than its heartbeat would have lasted
    close_timeout: float = 10.0
    #: the longest the body of a POST may take to arrive: past it the POST is answered
    #: 408 and its session closed ("data request timeout"), as Node closes a session
    #: whose data request breaks; a session's close also ends its pending POST
    body_timeout: float = 30.0
    #: graceful drain: how long ``EngineServer.shutdown`` waits, new sessions refused
    #: already, for the layer above to finish what is in flight (``EngineServer.drain``:
    #: rtio.socketio waits for running handlers) before it tells the clients; 0: no wait
    shutdown_drain: float = 5.0
    #: how long ``EngineServer.shutdown`` lets clients fetch their close packet (polling)
    #: or answer the close handshake (WebSocket) before closing without waiting
    shutdown_grace: float = 1.0
    #: the part of that grace when no new request can arrive (aiohttp's app stop: it reads
    #: no new request by then): for the requests already on their way to the engine
    shutdown_settle: float = 0.05
    #: how long closing a WebSocket waits for the backlog of a paused socket to be written
    #: before the closing handshake starts anyway
    close_write_timeout: float = 5.0
    #: the most refused origins remembered as already logged (each is logged once)
    max_logged_origins: int = MAX_LOGGED_ORIGINS
    #: Node's allowEIO3: also serve Engine.IO v3 clients (socket.io-client 2.x) beside v4
    #: ones (docs/EIO3.md); off: they are refused with code 5, as in Node
    allow_eio3: bool = False
    #: admission control (admission.py): new sessions let in per second, sustained; past
    #: it a handshake gets 503 with Retry-After. None: no limit (as Node)
    max_handshake_rate: float | None = None
    #: how many handshakes may come at once above that rate (default: one second's worth)
    handshake_burst: int | None = None
    #: how long a handshake just over the rate is held for its turn before it would rather
    #: be refused, in seconds (0: refuse at once). At most ``rate * handshake_wait``
    #: handshakes wait; clients' retries that come back in lockstep are served at the rate
    handshake_wait: float = 2.0

    def __post_init__(self) -> None:
        for name in self.transports:
            if name not in TRANSPORTS:
                raise ValueError(f"unknown transport {name!r}")
        if not self.transports:
            raise ValueError("at least one transport is needed")
        if self.ping_interval <= 0 or self.ping_timeout <= 0:
            raise ValueError("ping_interval and ping_timeout must be positive")
        if self.upgrade_timeout <= 0:
            raise ValueError("upgrade_timeout must be positive")
        if self.max_payload <= 0 or self.max_payload_packets <= 0:
            raise ValueError("max_payload and max_payload_packets must be positive")
        if self.close_timeout <= 0 or self.body_timeout <= 0:
            raise ValueError("close_timeout and body_timeout must be positive")
        if self.close_write_timeout <= 0:
            raise ValueError("close_write_timeout must be positive")
        if self.max_logged_origins <= 0:
            raise ValueError("max_logged_origins must be positive")
        if self.shutdown_grace < 0 or self.shutdown_settle < 0 or self.shutdown_drain < 0:
            raise ValueError(
                "shutdown_grace, shutdown_settle and shutdown_drain must not be negative"
            )
        if self.max_buffered_bytes <= 0:
            raise ValueError("max_buffered_bytes must be positive")
        if self.max_handshake_rate is not None and self.max_handshake_rate <= 0:
            raise ValueError("max_handshake_rate must be positive (None: no limit)")
        if self.handshake_burst is not None and self.handshake_burst < 1:
            raise ValueError("handshake_burst must be at least 1")
        if not 0 <= self.handshake_wait <= 60:
            raise ValueError("handshake_wait must be between 0 and 60 seconds")
