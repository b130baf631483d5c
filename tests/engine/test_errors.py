"""The exception tree, Node's error codes and bodies, the close decisions."""

from __future__ import annotations

import json

from rtio.engine import (
    CloseReason,
    EngineError,
    ErrorCode,
    InvalidTransition,
    PacketDecodeError,
    PayloadTooLarge,
    RequestRefused,
)
from rtio.engine.errors import Close, SessionViolation


def test_every_exception_is_under_the_root() -> None:
    for cls in (InvalidTransition, PacketDecodeError, PayloadTooLarge, RequestRefused):
        assert issubclass(cls, EngineError)
    assert issubclass(InvalidTransition, RuntimeError)  # as before issue 13
    assert issubclass(SessionViolation, RequestRefused)


def test_error_codes_and_statuses() -> None:
    assert [(int(c), c.status) for c in ErrorCode] == [
        (0, 400), (1, 400), (2, 400), (3, 400), (4, 403), (5, 400)
    ]  # fmt: skip
    assert ErrorCode.UNKNOWN_SID.message == "Session ID unknown"


def test_request_refused() -> None:
    exc = RequestRefused(ErrorCode.FORBIDDEN, "bad token", status=401, headers={"X": "1"})
    assert (exc.status, exc.headers, str(exc)) == (401, {"X": "1"}, "401 bad token (code 4)")
    assert json.loads(exc.body()) == {"code": 4, "message": "bad token"}
    assert RequestRefused(ErrorCode.BAD_REQUEST).body() == '{"code": 3, "message": "Bad request"}'


def test_payload_too_large() -> None:
    exc = PayloadTooLarge(11, 10)
    assert (exc.size, exc.limit) == (11, 10)
    assert str(exc) == "payload too large: 11 bytes > maxPayload 10"


def test_session_violation_carries_its_close() -> None:
    close = Close(CloseReason.TRANSPORT_ERROR, "overlapping poll requests")
    exc = SessionViolation(close, "Overlapping poll requests")
    assert (exc.status, exc.code, exc.close) == (400, ErrorCode.BAD_REQUEST, close)
    assert (close.ws_code, close.poll_reply) == (1000, "1")
