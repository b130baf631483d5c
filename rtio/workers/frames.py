"""The frames of the local bus between the supervisor and its workers (sans-I/O).

One Unix stream socket joins each worker to the supervisor, which relays (relay.py)::

    +----------------+--------+-----------------+------------------------+
    | length: u32 BE | kind u8| peer: i16 BE    | payload (length - 3)   |
    +----------------+--------+-----------------+------------------------+

    kind 1 PUBLISH  worker -> supervisor; peer: the worker to deliver to, -1 for every
                    other worker
    kind 2 DELIVER  supervisor -> worker; peer: the worker that published it
    kind 3 MEMBERS  supervisor -> worker; peer -1; payload: one byte per live worker index
    kind 4 DRAINED  worker -> supervisor; peer -1, no payload: its handlers at work are done
                    (SIGTERM); it keeps listening until the supervisor answers
    kind 5 RELEASED supervisor -> worker; peer -1, no payload: stop listening (every worker
                    has drained, or only this one is stopping)

The payload of PUBLISH / DELIVER is opaque here (bus.py puts rtio.cluster's
``ClusterMessage`` bytes in it).

Errors: :class:`FrameError` for a frame whose length is below 3 or above the reader's
``max_frame`` (the connection must then be closed: the stream cannot be resynchronised) or
whose kind is unknown.
"""

from __future__ import annotations

import enum
import struct

__all__ = ["ALL", "FrameError", "FrameKind", "FrameReader", "encode_frame"]

_HEADER = struct.Struct("!IBh")
#: the peer of a PUBLISH to every other worker
ALL = -1


class FrameKind(enum.IntEnum):
    PUBLISH = 1
    DELIVER = 2
    MEMBERS = 3
    DRAINED = 4
    RELEASED = 5


class FrameError(Exception):
    """A frame the bus cannot read: the connection is closed."""


def encode_frame(kind: FrameKind, peer: int, payload: bytes) -> bytes:
    return _HEADER.pack(len(payload) + 3, kind, peer) + payload


class FrameReader:
    """Cuts a byte stream into (kind, peer, payload) frames, none above ``max_frame``."""

    __slots__ = ("_buffer", "max_frame")

    def __init__(self, max_frame: int) -> None:
        self.max_frame = max_frame
        self._buffer = bytearray()

    def feed(self, data: bytes) -> list[tuple[FrameKind, int, bytes]]:
        """The frames completed by ``data``; raises FrameError."""
        buffer = self._buffer
        buffer += data
        frames: list[tuple[FrameKind, int, bytes]] = []
        start = 0
        size = len(buffer)
        while size - start >= 7:
            length, kind, peer = _HEADER.unpack_from(buffer, start)
            if length < 3 or length > self.max_frame:
                raise FrameError(f"bus frame of {length} bytes (at most {self.max_frame})")
            end = start + 4 + length
            if end > size:
                break
            try:
                frame_kind = FrameKind(kind)
            except ValueError:
                raise FrameError(f"unknown bus frame kind {kind}") from None
            frames.append((frame_kind, peer, bytes(buffer[start + 7 : end])))
            start = end
        if start:
            del buffer[:start]
        return frames

    @property
    def buffered(self) -> int:
        return len(self._buffer)
