"""EngineOptions: exact milliseconds, validation, the cookie header."""

from __future__ import annotations

from typing import Any

import pytest

from rtio.engine import CookieOptions, EngineOptions, ErrorCode, RequestRefused
from rtio.engine.options import ms


@pytest.mark.parametrize(
    ("seconds", "millis"),
    [(0.3, 300), (0.2, 200), (0.001, 1), (25.0, 25000), (0.1 + 0.2, 300), (1.0005, 1000)],
)
def test_milliseconds_are_exact(seconds: float, millis: int) -> None:
    assert ms(seconds) == millis


@pytest.mark.parametrize(
    "bad",
    [
        {"transports": ["polling", "flashsocket"]},
        {"transports": []},
        {"ping_interval": 0},
        {"ping_timeout": -1},
        {"upgrade_timeout": 0},
        {"max_payload": 0},
        {"max_payload_packets": 0},
        {"max_buffered_bytes": 0},
        {"shutdown_grace": -1},
        {"shutdown_settle": -0.1},
        {"close_timeout": 0},
        {"body_timeout": 0},
        {"close_write_timeout": 0},
        {"max_logged_origins": 0},
    ],
)
def test_invalid_options_are_refused(bad: dict[str, Any]) -> None:
    with pytest.raises(ValueError):
        EngineOptions(**bad)


def test_cookie_header() -> None:
    assert CookieOptions().header("abc") == "io=abc; Path=/; HttpOnly; SameSite=Lax"
    full = CookieOptions(
        name="s", path=None, domain="example.com", max_age=60, httponly=False, samesite=None
    )
    assert full.header("abc") == "s=abc; Domain=example.com; Max-Age=60"


def test_error_bodies_and_statuses() -> None:
    assert [(int(c), c.message, c.status) for c in ErrorCode] == [
        (0, "Transport unknown", 400),
        (1, "Session ID unknown", 400),
        (2, "Bad handshake method", 400),
        (3, "Bad request", 400),
        (4, "Forbidden", 403),
        (5, "Unsupported protocol version", 400),
    ]
    refused = RequestRefused(ErrorCode.FORBIDDEN, "no token", status=401)
    assert (refused.status, refused.body()) == (401, '{"code": 4, "message": "no token"}')
