"""Engine.IO v4 packet and polling payload codec (sans-I/O).

Owns the wire format; knows nothing of sessions, transports or HTTP.

Packet (one WebSocket frame, or one record of a polling payload)::

    text:    <type digit 0-6><data>          e.g. "4hello", "2probe", "6"
    binary:  WebSocket: the raw bytes of a MESSAGE, no type prefix
             polling:   "b" <base64 of the bytes>

Polling payload: records joined by the record separator U+001E::

    4hello \\x1e bAQIDBA== \\x1e 2

A text packet encodes to the same string on both transports, so the encoded ``str`` is what
sessions queue; a binary message is queued as its ``bytes``.
"""

from __future__ import annotations

import base64
import binascii
import enum
from collections.abc import Iterable
from dataclasses import dataclass

from .errors import PacketDecodeError

__all__ = [
    "RECORD_SEPARATOR",
    "Packet",
    "PacketType",
    "decode_packet",
    "decode_payload",
    "encode_packet",
    "encode_payload",
    "encode_polling_record",
]

RECORD_SEPARATOR = "\x1e"


class PacketType(enum.IntEnum):
    OPEN = 0
    CLOSE = 1
    PING = 2
    PONG = 3
    MESSAGE = 4
    UPGRADE = 5
    NOOP = 6


_TYPE_BY_CHAR = {str(int(t)): t for t in PacketType}


@dataclass(frozen=True, slots=True)
class Packet:
    """One Engine.IO packet. ``data`` is bytes only for a binary MESSAGE."""

    type: PacketType
    data: str | bytes = ""

    @property
    def binary(self) -> bool:
        return isinstance(self.data, bytes)


def encode_packet(packet: Packet) -> str | bytes:
    """The WebSocket frame payload of ``packet``: text packets as str, binary as raw bytes."""
    if isinstance(packet.data, bytes):
        if packet.type is not PacketType.MESSAGE:
            raise ValueError("only MESSAGE packets carry binary data")
        return packet.data
    return _DIGITS[packet.type] + packet.data


_DIGITS = {t: str(int(t)) for t in PacketType}


def decode_packet(frame: str | bytes) -> Packet:
    """Decode one WebSocket message. A binary frame is a binary MESSAGE."""
    if isinstance(frame, (bytes, bytearray, memoryview)):
        return Packet(PacketType.MESSAGE, bytes(frame))
    if not frame:
        raise PacketDecodeError("empty packet")
    ptype = _TYPE_BY_CHAR.get(frame[0])
    if ptype is None:
        raise PacketDecodeError(f"unknown packet type {frame[0]!r}")
    return Packet(ptype, frame[1:])


def encode_polling_record(item: str | bytes) -> str:
    """One record of a polling payload from a queued item (an encoded text packet or the
    bytes of a binary message)."""
    if isinstance(item, str):
        return item
    # v4 "Packet encoding": "Binary payloads MUST be base64-encoded and prefixed with a `b`
    # character"
    return "b" + base64.b64encode(item).decode("ascii")


def encode_payload(items: Iterable[str | bytes]) -> str:
    """A polling payload from queued items (see :func:`encode_polling_record`).

    v4: "The packets are separated by the record separator character: `\\x1e`"."""
    if type(items) is list and len(items) == 1 and type(items[0]) is str:
        return items[0]  # the usual poll: one text packet
    return RECORD_SEPARATOR.join(map(encode_polling_record, items))


def _decode_record(record: str) -> Packet:
    if record[:1] == "b":
        try:
            return Packet(PacketType.MESSAGE, base64.b64decode(record[1:], validate=True))
        except (binascii.Error, ValueError) as exc:
            raise PacketDecodeError("invalid base64 in binary packet") from exc
    return decode_packet(record)


def decode_payload(payload: str, *, max_packets: int | None = None) -> list[Packet]:
    """Decode a polling payload (the body of a POST). Raises PacketDecodeError.

    ``max_packets`` is checked before splitting.
    """
    if not payload:
        raise PacketDecodeError("empty payload")
    if max_packets is not None and payload.count(RECORD_SEPARATOR) >= max_packets:
        raise PacketDecodeError(f"more than {max_packets} packets in one payload")
    return [_decode_record(record) for record in payload.split(RECORD_SEPARATOR)]
