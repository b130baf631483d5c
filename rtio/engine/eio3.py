"""Engine.IO v3 (socket.io-client 2.x) wire format (sans-I/O): the polling payload codecs
and the WebSocket framing of binary messages, as engine.io-parser 2.x (and engine.io 6's
``parser-v3``, what Node serves with ``allowEIO3``) write and read them.

Owns the v3 bytes only; the session rules that differ in v3 (the client pings, the server
answers) are session.py's, chosen per session. Knows nothing of HTTP or sessions.

Packets are the v4 ones (``<type digit><data>``); what differs::

    text payload     <length>:<packet><length>:<packet>...     "6:4hello1:2"
                     length in UTF-16 code units (JavaScript's String.length);
                     a binary message: b4<base64>                "9:b4AQIDBA=="
                     no packet at all: "0:"
    binary payload   per packet: <0 string | 1 binary> <length as one byte per decimal
                     digit> 0xff <packet>; a string packet is its UTF-8 bytes, a binary
                     one the type byte 4 then the data:
                     00 06 ff "4hello"   01 05 ff 04 01 02 03 04
                     (used by a GET when the client supports binary, i.e. its handshake
                     had no ``b64``, and something binary is queued; a POST sends it
                     with Content-Type application/octet-stream)
    WebSocket        a binary message is one binary frame: the type byte 4, then the data
                     (v4: the data alone); with ``b64`` a text frame b4<base64>

Errors: :class:`~.errors.PacketDecodeError` for anything a decoder cannot read.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Callable, Iterable, Mapping

from .errors import PacketDecodeError
from .packet import Packet, PacketType, decode_packet
from .websocket import PreparedPacket

__all__ = [
    "EMPTY_TEXT_PAYLOAD",
    "decode_binary_payload",
    "decode_message",
    "decode_text_payload",
    "encode_payload",
    "ws_converter",
    "ws_item",
]

EMPTY_TEXT_PAYLOAD = "0:"
_MESSAGE_BYTE = b"\x04"
#: engine.io-parser: "310 = char length of Number.MAX_VALUE"
_MAX_LENGTH_DIGITS = 310
_TYPES = tuple(PacketType)


def _js_length(text: str) -> int:
    """JavaScript's ``String.length`` of ``text``: UTF-16 code units."""
    if text.isascii():
        return len(text)
    return len(text) + sum(1 for c in text if ord(c) > 0xFFFF)


def _b64_record(data: bytes) -> str:
    return "b4" + base64.b64encode(data).decode("ascii")


def encode_payload(items: Iterable[str | bytes], supports_binary: bool) -> str | bytes:
    """A GET's payload of queued items (encoded text packets, the bytes of binary
    messages): text (``<len>:<packet>``) unless the client supports binary and an item
    is binary, then the binary payload (engine.io-parser 2.x ``encodePayload``)."""
    items = list(items)
    if supports_binary and any(not isinstance(item, str) for item in items):
        return _encode_binary_payload(items)
    if not items:
        return EMPTY_TEXT_PAYLOAD
    parts = []
    for item in items:
        record = item if isinstance(item, str) else _b64_record(item)
        parts.append(f"{_js_length(record)}:{record}")
    return "".join(parts)


def _length_bytes(length: int) -> bytes:
    return bytes(int(d) for d in str(length))


def _encode_binary_payload(items: list[str | bytes]) -> bytes:
    out = bytearray()
    for item in items:
        if isinstance(item, str):
            # utf8encode: the JS string becomes one char per UTF-8 byte, then one byte each
            data = item.encode("utf-8")
            out += b"\x00" + _length_bytes(len(data)) + b"\xff" + data
        else:
            out += b"\x01" + _length_bytes(len(item) + 1) + b"\xff" + _MESSAGE_BYTE + item
    return bytes(out)


def _to_utf16_units(text: str) -> str:
    """``text`` with each character beyond the BMP as its two surrogates: one Python
    character per UTF-16 code unit, so that lengths and slices are JavaScript's."""
    out = []
    for c in text:
        code = ord(c)
        if code > 0xFFFF:
            code -= 0x10000
            out.append(chr(0xD800 + (code >> 10)) + chr(0xDC00 + (code & 0x3FF)))
        else:
            out.append(c)
    return "".join(out)


def _from_utf16_units(text: str) -> str:
    try:
        return text.encode("utf-16-le", "surrogatepass").decode("utf-16-le")
    except UnicodeDecodeError as exc:
        raise PacketDecodeError("a payload length splits a character") from exc


def decode_text_payload(payload: str, *, max_packets: int | None = None) -> list[Packet]:
    """A text payload (a POST body, or JSONP's ``d``): ``<len>:<packet>...``. An empty
    record is skipped, as engine.io-parser does; an empty payload is an error."""
    if not payload:
        raise PacketDecodeError("empty payload")
    astral = not payload.isascii() and _js_length(payload) != len(payload)
    if astral:
        payload = _to_utf16_units(payload)
    packets: list[Packet] = []
    total = len(payload)
    i = 0
    while i < total:
        colon = payload.find(":", i, i + _MAX_LENGTH_DIGITS + 1)
        length_text = payload[i:colon] if colon >= 0 else ""
        if not length_text or not (length_text.isascii() and length_text.isdigit()):
            raise PacketDecodeError("invalid payload length")
        n = int(length_text)
        start = colon + 1
        if start + n > total:
            raise PacketDecodeError("payload shorter than its length header")
        if n:
            if max_packets is not None and len(packets) >= max_packets:
                raise PacketDecodeError(f"more than {max_packets} packets in one payload")
            record = payload[start : start + n]
            packets.append(decode_message(_from_utf16_units(record) if astral else record))
        i = start + n
    return packets


def decode_binary_payload(payload: bytes, *, max_packets: int | None = None) -> list[Packet]:
    """A binary payload (a POST with Content-Type application/octet-stream)."""
    if not payload:
        raise PacketDecodeError("empty payload")
    packets: list[Packet] = []
    view = memoryview(payload)
    pos = 0
    end = len(payload)
    while pos < end:
        kind = view[pos]
        if kind not in (0, 1):
            raise PacketDecodeError("invalid binary payload record kind")
        digits_end = payload.find(b"\xff", pos + 1, pos + 2 + _MAX_LENGTH_DIGITS)
        if digits_end < 0:
            raise PacketDecodeError("invalid binary payload length")
        digits = view[pos + 1 : digits_end]
        if not digits or any(d > 9 for d in digits):
            raise PacketDecodeError("invalid binary payload length")
        n = int("".join(str(d) for d in digits))
        start = digits_end + 1
        if start + n > end:
            raise PacketDecodeError("payload shorter than its length header")
        if max_packets is not None and len(packets) >= max_packets:
            raise PacketDecodeError(f"more than {max_packets} packets in one payload")
        record = bytes(view[start : start + n])
        if kind == 0:
            try:
                packets.append(decode_message(record.decode("utf-8")))
            except UnicodeDecodeError as exc:
                raise PacketDecodeError("string record is not UTF-8") from exc
        else:
            packets.append(decode_message(record))
        pos = start + n
    return packets


def decode_message(message: str | bytes) -> Packet:
    """One v3 packet: a text packet (``b<type><base64>`` for binary), or a WebSocket
    binary frame / binary record (the type byte, then the data)."""
    if isinstance(message, str):
        if message[:1] == "b":
            return _decode_b64(message[1:])
        return decode_packet(message)
    if not message:
        raise PacketDecodeError("empty packet")
    if message[0] >= len(_TYPES):
        raise PacketDecodeError(f"unknown packet type {message[0]}")
    ptype = _TYPES[message[0]]
    if ptype is not PacketType.MESSAGE:
        # (binary control packets: nothing sends them; read their data as text)
        try:
            return Packet(ptype, bytes(message[1:]).decode("utf-8"))
        except UnicodeDecodeError as exc:
            raise PacketDecodeError("binary control packet is not UTF-8") from exc
    return Packet(PacketType.MESSAGE, bytes(message[1:]))


def _decode_b64(text: str) -> Packet:
    if text[:1] != "4":
        raise PacketDecodeError("base64 packet of a type other than message")
    try:
        return Packet(PacketType.MESSAGE, base64.b64decode(text[1:], validate=True))
    except (binascii.Error, ValueError) as exc:
        raise PacketDecodeError("invalid base64 in binary packet") from exc


def ws_item(item: bytes, b64: bool) -> str | bytes:
    """The WebSocket message of a binary message for a v3 client (``b64``: the client
    asked for text frames only)."""
    return _b64_record(item) if b64 else _MESSAGE_BYTE + item


def ws_converter(
    query: Mapping[str, str],
) -> Callable[[bytes | PreparedPacket], str | bytes | PreparedPacket] | None:
    """What a WebSocket of the request with ``query`` does to the binary messages it
    writes (``WebSocketTransport.convert``): nothing for v4 (None); for v3 the type byte
    (or base64 text with ``b64``). Text packets, prepared ones included, are the same
    bytes for both (a broadcast's frame is shared); a broadcast's binary message is
    re-framed once for all v3 clients."""
    if query.get("EIO") != "3":
        return None
    b64 = bool(query.get("b64"))

    def convert(item: bytes | PreparedPacket) -> str | bytes | PreparedPacket:
        if isinstance(item, PreparedPacket):
            raw = item.item
            if isinstance(raw, str):
                return item
            if b64:
                return ws_item(raw, True)
            v3 = item.v3
            if v3 is None:
                v3 = item.v3 = PreparedPacket(ws_item(raw, False))
            return v3
        return ws_item(item, b64)

    return convert
