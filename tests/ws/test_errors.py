"""Tests of errors.py: one root, the close code of each remote violation, and the
compatibility of ConnectionLost."""

from __future__ import annotations

import inspect

import pytest

import rtio.ws.errors as errors
from rtio.ws.errors import (
    ConnectionClosed,
    ConnectionLost,
    HandshakeRefused,
    InvalidUTF8,
    PayloadTooBig,
    PolicyViolation,
    ProtocolError,
    WebSocketError,
)


def test_every_exception_is_under_the_root() -> None:
    classes = [
        c for _, c in inspect.getmembers(errors, inspect.isclass) if c.__module__ == errors.__name__
    ]
    assert classes and all(issubclass(c, WebSocketError) for c in classes)
    assert set(errors.__all__) == {c.__name__ for c in classes}


@pytest.mark.parametrize(
    ("cls", "code"),
    [(ProtocolError, 1002), (InvalidUTF8, 1007), (PolicyViolation, 1008), (PayloadTooBig, 1009)],
)
def test_remote_violations_carry_their_close_code(cls: type[ProtocolError], code: int) -> None:
    assert cls("x").close_code == code


def test_connection_lost_is_still_a_connection_reset_error() -> None:
    with pytest.raises(ConnectionResetError):
        raise ConnectionLost("gone")


def test_connection_closed_and_handshake_refused_say_how() -> None:
    exc = ConnectionClosed(1006, "dropped")
    assert (exc.code, exc.reason, str(exc)) == (1006, "dropped", "connection closed: 1006 dropped")
    refused = HandshakeRefused(426, "upgrade required", {"Sec-WebSocket-Version": "13"})
    response = refused.response()
    assert response.status == 426 and response.headers["Sec-WebSocket-Version"] == "13"
