"""Engine.IO errors: one exception root, Node's HTTP error codes, and the close reasons.

Exception tree::

    EngineError
     ├── InvalidTransition      local misuse: a session lifecycle step its state does not
     │                          allow (also a RuntimeError, as before issue 13)
     ├── PacketDecodeError      the peer sent bytes that are not an Engine.IO packet/payload
     ├── PayloadTooLarge        the peer sent more than maxPayload in one request or frame
     └── RequestRefused         an HTTP request is refused: carries Node's {code, message}
          │                     and the HTTP status of the reply
          └── SessionViolation  the request breaks a session's rules (overlapping polls or
                                posts): refused 400, and the session closes with ``close``

Knows nothing of HTTP servers: ``RequestRefused.body()`` is the JSON text the glue writes.
"""

from __future__ import annotations

import enum
import json
from collections.abc import Mapping
from typing import NamedTuple

__all__ = [
    "Close",
    "CloseReason",
    "EngineError",
    "ErrorCode",
    "InvalidTransition",
    "PacketDecodeError",
    "PayloadTooLarge",
    "RequestRefused",
    "SessionViolation",
]


class ErrorCode(enum.IntEnum):
    """The ``code`` of Node's error bodies (engine.io ``Server.errors``)."""

    UNKNOWN_TRANSPORT = 0
    UNKNOWN_SID = 1
    BAD_HANDSHAKE_METHOD = 2
    BAD_REQUEST = 3
    FORBIDDEN = 4
    UNSUPPORTED_PROTOCOL_VERSION = 5

    @property
    def message(self) -> str:
        return _MESSAGES[self]

    @property
    def status(self) -> int:
        # Node: "const statusCode = errorCode === Server.errors.FORBIDDEN ? 403 : 400"
        return 403 if self is ErrorCode.FORBIDDEN else 400


_MESSAGES = {
    ErrorCode.UNKNOWN_TRANSPORT: "Transport unknown",
    ErrorCode.UNKNOWN_SID: "Session ID unknown",
    ErrorCode.BAD_HANDSHAKE_METHOD: "Bad handshake method",
    ErrorCode.BAD_REQUEST: "Bad request",
    ErrorCode.FORBIDDEN: "Forbidden",
    ErrorCode.UNSUPPORTED_PROTOCOL_VERSION: "Unsupported protocol version",
}


class CloseReason(enum.Enum):
    """Why a session ended, as reported to the layer above (Node's reason strings)."""

    TRANSPORT_CLOSE = "transport close"
    TRANSPORT_ERROR = "transport error"
    PING_TIMEOUT = "ping timeout"
    PARSE_ERROR = "parse error"
    FORCED_CLOSE = "forced close"
    SERVER_SHUTTING_DOWN = "server shutting down"


class Close(NamedTuple):
    """How a session ends: the reason reported to the layer above (and its description),
    the WebSocket close code, and what a pending GET gets (session.py has the usual
    ones)."""

    reason: CloseReason
    description: str
    ws_code: int = 1000
    poll_reply: str = "1"


class EngineError(Exception):
    """Root of every exception raised by rtio.engine."""


class InvalidTransition(EngineError, RuntimeError):
    """Local misuse: a transition the session lifecycle does not allow."""


class PacketDecodeError(EngineError):
    """Remote violation: not a valid Engine.IO v4 packet or polling payload."""


class PayloadTooLarge(EngineError):
    """Remote violation: a request body or WebSocket message exceeds maxPayload."""

    def __init__(self, size: int, limit: int) -> None:
        super().__init__(f"payload too large: {size} bytes > maxPayload {limit}")
        self.size = size
        self.limit = limit


class RequestRefused(EngineError):
    """An HTTP request refused with Node's ``{"code", "message"}`` body.

    ``status`` defaults to the code's (403 for FORBIDDEN, else 400); an ``allow_request``
    hook may raise it with its own status and message. ``headers`` go on the reply (e.g.
    ``Sec-WebSocket-Version`` with a 426 to a bad WebSocket handshake).
    """

    def __init__(
        self,
        code: ErrorCode,
        message: str | None = None,
        *,
        status: int | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        self.code = code
        self.message = message if message is not None else code.message
        self.status = status if status is not None else code.status
        self.headers: dict[str, str] = dict(headers or {})
        super().__init__(f"{self.status} {self.message} (code {int(code)})")

    def body(self) -> str:
        return json.dumps({"code": int(self.code), "message": self.message})


class SessionViolation(RequestRefused):
    """Remote violation of a session's polling rules: the request is refused (400, Node's
    "Bad request" code with ``message``) and the session closes with ``close``."""

    def __init__(self, close: Close, message: str) -> None:
        super().__init__(ErrorCode.BAD_REQUEST, message)
        self.close = close
