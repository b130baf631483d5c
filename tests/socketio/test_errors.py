"""rtio.socketio.errors: every exception under SocketIOError, and Node's disconnect reasons."""

from __future__ import annotations

import pytest

import rtio
from rtio.socketio.core import InvalidState
from rtio.socketio.errors import (
    AckTimeout,
    ConnectionRefused,
    DisconnectReason,
    SocketDisconnected,
    SocketIOError,
)
from rtio.socketio.parsers import ParseError


@pytest.mark.parametrize(
    ("exc", "also"),
    [
        (ConnectionRefused(), None),
        (AckTimeout(), TimeoutError),
        (SocketDisconnected(), None),
        (InvalidState(), RuntimeError),
        (ParseError("bad"), ValueError),  # a ValueError before issue 13: still one
    ],
)
def test_every_exception_is_under_the_root(exc: Exception, also: type | None) -> None:
    assert isinstance(exc, SocketIOError)
    if also is not None:
        assert isinstance(exc, also)


def test_connection_refused_payload() -> None:
    assert ConnectionRefused().payload() == {"message": "Connection refused"}
    refused = ConnectionRefused("no", {"retry": 5})
    assert refused.payload() == {"message": "no", "data": {"retry": 5}} and str(refused) == "no"


def test_disconnect_reasons_are_nodes_strings() -> None:
    assert DisconnectReason.PING_TIMEOUT == "ping timeout"
    assert str(DisconnectReason.SERVER_NAMESPACE_DISCONNECT) == "server namespace disconnect"
    assert rtio.DisconnectReason is DisconnectReason
