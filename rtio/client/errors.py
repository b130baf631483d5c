"""rtio.client's exceptions.

    ClientError                     the root of what rtio.client raises itself
     +-- ConnectError               connect_error: the server refused (``message``, ``data``)
     |                              or could not be reached; ``connect()`` raises it
     +-- SendBufferFull             too many packets emitted while disconnected
     +-- TooManyPendingAcks         too many acks wait for their answer

An ack that is not answered in time raises ``rtio.AckTimeout`` and one whose socket
disconnected first ``rtio.SocketDisconnected``: the same exceptions as the server's
``emit_with_ack``, so one ``except`` serves both sides.
"""

from __future__ import annotations

from typing import Any

from rtio.socketio import AckTimeout, SocketDisconnected

__all__ = [
    "AckTimeout",
    "ClientError",
    "ConnectError",
    "SendBufferFull",
    "SocketDisconnected",
    "TooManyPendingAcks",
]


class ClientError(Exception):
    """The root of rtio.client's own exceptions."""


class ConnectError(ClientError):
    """A connection attempt failed: ``message`` (the server's CONNECT_ERROR message, or what
    went wrong on the way) and ``data`` (the server's ``data``, or the Engine.IO error body
    ``{code, message}`` of a refused handshake; None when there is none). As the JS
    client's ``connect_error`` ``err.message`` / ``err.data``."""

    def __init__(self, message: str, data: Any = None) -> None:
        super().__init__(message)
        self.message = message
        self.data = data


class SendBufferFull(ClientError):
    """``max_buffered_packets`` packets already wait for the connection."""


class TooManyPendingAcks(ClientError):
    """``max_pending_acks`` acks already wait for their answer."""
