"""The RFC 6455 frame codec: Opcode, CloseCode, Frame; an incremental frame parser; frame
serialization; masking; the close frame payload.

Sans-I/O: bytes in, frames out. Knows nothing of messages, fragments assembly, extensions
(it only allows the RSV bits it is told to) or sockets. The randomness of client mask keys
is the caller's. Masking uses the optional C accelerator ``_speedups.apply_mask`` when it
was built, else the pure-Python reference ``_apply_mask_py`` (same signature, same result).

Wire format (RFC 6455 section 5.2)::

     0                   1                   2                   3
     0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
    +-+-+-+-+-------+-+-------------+-------------------------------+
    |F|R|R|R| opcode|M| Payload len |    Extended payload length    |
    |I|S|S|S|  (4)  |A|     (7)     |             (16/64)           |
    |N|V|V|V|       |S|             |   (if payload len==126/127)   |
    | |1|2|3|       |K|             |                               |
    +-+-+-+-+-------+-+-------------+ - - - - - - - - - - - - - - - +
    |     Extended payload length continued, if payload len == 127  |
    + - - - - - - - - - - - - - - - +-------------------------------+
    |                               |Masking-key, if MASK set to 1  |
    +-------------------------------+-------------------------------+
    | Masking-key (continued)       |          Payload Data         |
    +-------------------------------- - - - - - - - - - - - - - - - +
"""

from __future__ import annotations

import enum
import struct
from collections.abc import Callable
from typing import NamedTuple

from .errors import InvalidUTF8, PayloadTooBig, ProtocolError

__all__ = [
    "CONTROL_OPCODES",
    "RSV1",
    "RSV2",
    "RSV3",
    "CloseCode",
    "Frame",
    "FrameParser",
    "Opcode",
    "apply_mask",
    "check_close_code",
    "parse_close",
    "serialize_close",
    "serialize_frame",
]

FIN = 0x80
RSV1 = 0x40
RSV2 = 0x20
RSV3 = 0x10
MASK = 0x80


class Opcode(enum.IntEnum):
    CONTINUATION = 0x0
    TEXT = 0x1
    BINARY = 0x2
    CLOSE = 0x8
    PING = 0x9
    PONG = 0xA


CONTROL_OPCODES = frozenset({Opcode.CLOSE, Opcode.PING, Opcode.PONG})
_KNOWN_OPCODES = frozenset(int(op) for op in Opcode)


class CloseCode(enum.IntEnum):
    NORMAL_CLOSURE = 1000
    GOING_AWAY = 1001
    PROTOCOL_ERROR = 1002
    UNSUPPORTED_DATA = 1003
    NO_STATUS_RCVD = 1005  # never on the wire
    ABNORMAL_CLOSURE = 1006  # never on the wire
    INVALID_DATA = 1007
    POLICY_VIOLATION = 1008
    MESSAGE_TOO_BIG = 1009
    MANDATORY_EXTENSION = 1010
    INTERNAL_ERROR = 1011
    SERVICE_RESTART = 1012
    TRY_AGAIN_LATER = 1013
    BAD_GATEWAY = 1014
    TLS_HANDSHAKE = 1015  # never on the wire


class Frame(NamedTuple):
    """One frame, payload unmasked. ``rsv`` holds the RSV1-3 bits as in the first byte."""

    opcode: int
    payload: bytes
    fin: bool = True
    rsv: int = 0


_pack_short = struct.Struct("!BBH").pack
_pack_long = struct.Struct("!BBQ").pack
_unpack_short = struct.Struct("!H").unpack_from
_unpack_long = struct.Struct("!Q").unpack_from


def _apply_mask_py(data: bytes | bytearray | memoryview, mask: bytes) -> bytes:
    """XOR ``data`` with the 4-byte ``mask`` repeated (section 5.3); masking and unmasking
    are the same operation. One big-integer XOR over the whole payload: linear and the
    fastest way in pure Python. The reference of the C accelerator (``_speedups``), which
    ``apply_mask`` is when it was built."""
    n = len(data)
    if n == 0:
        return b""
    key = mask * ((n >> 2) + 1)
    with memoryview(key) as view:
        k = int.from_bytes(view[:n], "little")
    return (int.from_bytes(data, "little") ^ k).to_bytes(n, "little")


apply_mask: Callable[[bytes | bytearray | memoryview, bytes], bytes]
try:
    from ._speedups import apply_mask
except ImportError:  # no C compiler at install time: the pure-Python reference
    apply_mask = _apply_mask_py


def serialize_frame(
    opcode: int,
    payload: bytes,
    *,
    fin: bool = True,
    rsv: int = 0,
    mask_key: bytes | None = None,
) -> bytes:
    """The whole frame as one bytes object. ``mask_key`` (4 bytes) masks it (client side)."""
    b0 = opcode | rsv | (FIN if fin else 0)
    n = len(payload)
    mask_bit = 0 if mask_key is None else MASK
    if n < 126:
        header = bytes((b0, mask_bit | n))
    elif n < 0x10000:
        header = _pack_short(b0, mask_bit | 126, n)
    else:
        header = _pack_long(b0, mask_bit | 127, n)
    if mask_key is None:
        return header + payload
    return header + mask_key + apply_mask(payload, mask_key)


def check_close_code(code: int) -> bool:
    """Whether ``code`` may appear in a close frame (section 7.4 and the IANA registry)."""
    # 7.4.1: 1005, 1006 and 1015 "MUST NOT be set as a status code in a Close control frame";
    # 7.4.2: 0-999 are not used; 1000-2999 are reserved for this protocol and its extensions
    # (only the registered ones are acceptable); 3000-4999 are for libraries and applications.
    return 1000 <= code <= 1003 or 1007 <= code <= 1014 or 3000 <= code <= 4999


def parse_close(payload: bytes) -> tuple[int, str]:
    """(code, reason) of a received close frame; 1005 with "" when it has no body."""
    n = len(payload)
    if n == 0:
        return CloseCode.NO_STATUS_RCVD, ""
    if n == 1:
        # 5.5.1: "If there is a body, the first two bytes of the body MUST be a 2-byte
        # unsigned integer (in network byte order) representing a status code"
        raise ProtocolError("close frame with a 1-byte body")
    code = _unpack_short(payload)[0]
    if not check_close_code(code):
        raise ProtocolError(f"invalid close code {code}")
    try:
        reason = payload[2:].decode()
    except UnicodeDecodeError as exc:
        raise InvalidUTF8("close reason is not valid UTF-8") from exc
    return code, reason


def serialize_close(code: int, reason: str = "") -> bytes:
    """The close frame body; 1005 means "no body" (a close frame without a status code)."""
    if code == CloseCode.NO_STATUS_RCVD and not reason:
        return b""
    if not check_close_code(code):
        raise ValueError(f"close code {code} may not be sent")
    body = struct.pack("!H", code) + reason.encode()
    if len(body) > 125:
        # 5.5: "All control frames MUST have a payload length of 125 bytes or less"
        raise ValueError("close reason longer than 123 bytes")
    return body


class FrameParser:
    """Incremental frame parser: ``feed(data)`` then ``next_frame()`` until it returns None.

    Every check that the header allows is made from the header, before the payload is
    waited for: reserved bits and opcodes, control frame rules, masking, and the size limit
    ``max_payload`` (which the caller may change between frames, e.g. to the room left in
    the current message).
    """

    # slots: one per connection: ~45 B less each than an instance dict (bench_tricks.py measures
    # the same on the per-connection objects)
    __slots__ = ("_buf", "_pos", "allowed_rsv", "max_payload", "require_mask")

    def __init__(
        self, *, require_mask: bool, allowed_rsv: int = 0, max_payload: int | None = None
    ) -> None:
        self.require_mask = require_mask
        self.allowed_rsv = allowed_rsv
        self.max_payload = max_payload
        self._buf: bytes | bytearray = b""
        self._pos = 0

    def feed(self, data: bytes) -> None:
        buf = self._buf
        if self._pos >= len(buf):
            self._buf = data  # the common case: no copy
            self._pos = 0
            return
        if self._pos or type(buf) is bytes:
            buf = bytearray(memoryview(buf)[self._pos :])
            self._pos = 0
        buf += data  # bytearray: amortized append
        self._buf = buf

    def small_frames(self, data: bytes) -> list[tuple[int, bytes]] | None:
        """The fast path of a server's common case (saves ~1.6 us per read of one 32-byte
        frame, ~5.2 us per read of four, against feed + next_frame; bench_tricks.py
        2026-12-04): with nothing buffered, ``data`` is
        exactly a run of complete, masked, final TEXT or BINARY frames without RSV bits,
        each with a payload of less than 126 bytes within ``max_payload``. Returns their
        (opcode, unmasked payload) without buffering anything; None for anything else,
        which the caller then ``feed``s (the general path makes every check)."""
        if self._buf or not self.require_mask:
            return None
        limit = self.max_payload
        if limit is None or limit > 125:
            limit = 125
        end = len(data)
        pos = 0
        frames = []
        while pos < end:
            if end - pos < 6:
                return None
            b0 = data[pos]
            b1 = data[pos + 1]
            # 0x81 / 0x82: FIN, no RSV bit, TEXT / BINARY; b1: MASK and a 7-bit length
            if (b0 != 0x81 and b0 != 0x82) or b1 < 0x80 or (b1 & 0x7F) > limit:
                return None
            start = pos + 6
            pos = start + (b1 & 0x7F)
            if pos > end:
                return None
            frames.append((b0 & 0x0F, apply_mask(data[start:pos], data[start - 4 : start])))
        return frames

    @property
    def buffered(self) -> int:
        """Bytes received and not yet returned in a frame."""
        return len(self._buf) - self._pos

    def pending_frame(self) -> tuple[int, int, int] | None:
        """For a frame whose header is complete but whose payload is not yet: (opcode, rsv,
        payload bytes received so far); None otherwise."""
        header = self._header()
        if header is None or header[4] <= len(self._buf):
            return None
        return header[0], header[2], len(self._buf) - header[3]

    def pending_payload(self, offset: int = 0) -> bytes:
        """The unmasked payload bytes received so far of the incomplete frame that
        ``pending_frame()`` describes, from ``offset`` on. Lets the caller fail fast (e.g. on
        invalid UTF-8) before a long frame completes, in linear time overall."""
        header = self._header()
        assert header is not None
        start, mask = header[3], header[5]
        with memoryview(self._buf) as view:
            part = view[start + offset :]
            if mask is None:
                data = bytes(part)
            else:
                k = offset & 3
                data = apply_mask(part, mask[k:] + mask[:k])
            part.release()
        return data

    def _header(self) -> tuple[int, bool, int, int, int, bytes | None] | None:
        """(opcode, fin, rsv, payload start, payload end, mask) of the next frame, or None
        while its header is incomplete."""
        buf = self._buf
        pos = self._pos
        avail = len(buf) - pos
        if avail < 2:
            return None
        b0 = buf[pos]
        b1 = buf[pos + 1]
        opcode = b0 & 0x0F
        rsv = b0 & 0x70
        fin = bool(b0 & FIN)
        if rsv & ~self.allowed_rsv:
            # 5.2: "If a nonzero value is received and none of the negotiated extensions
            # defines the meaning of such a nonzero value, the receiving endpoint MUST
            # _Fail the WebSocket Connection_."
            raise ProtocolError("reserved bits set")
        if opcode not in _KNOWN_OPCODES:
            # 5.2: "If an unknown opcode is received, the receiving endpoint MUST _Fail
            # the WebSocket Connection_."
            raise ProtocolError(f"reserved opcode {opcode}")
        n = b1 & 0x7F
        masked = b1 & MASK
        if opcode >= 8:
            # 5.5: "All control frames MUST have a payload length of 125 bytes or less
            # and MUST NOT be fragmented."
            if n > 125:
                raise ProtocolError("control frame too long")
            if not fin:
                raise ProtocolError("fragmented control frame")
        if masked:
            if not self.require_mask:
                # 5.1: "A client MUST close a connection if it detects a masked frame."
                raise ProtocolError("masked frame from the server")
        elif self.require_mask:
            # 5.1: "The server MUST close the connection upon receiving a frame that is
            # not masked."
            raise ProtocolError("unmasked frame from the client")
        start = pos + 2
        if n == 126:
            if avail < 4:
                return None
            n = _unpack_short(buf, start)[0]
            start += 2
        elif n == 127:
            if avail < 10:
                return None
            n = _unpack_long(buf, start)[0]
            if n >> 63:
                # 5.2: "the most significant bit MUST be 0"
                raise ProtocolError("64-bit length with the most significant bit set")
            start += 8
        limit = self.max_payload
        if limit is not None and n > limit and opcode < 8:
            raise PayloadTooBig(f"frame of {n} bytes over the limit of {limit}")
        mask: bytes | None = None
        if masked:
            if avail < start - pos + 4:
                return None
            mask = bytes(buf[start : start + 4])
            start += 4
        return opcode, fin, rsv, start, start + n, mask

    def next_frame(self) -> Frame | None:
        header = self._header()
        if header is None:
            return None
        opcode, fin, rsv, start, end, mask = header
        buf = self._buf
        if end > len(buf):
            return None
        if mask is not None:
            # a small copy costs less than a view (~0.56 us less per 1000-byte payload,
            # bench_tricks.py)
            if end - start <= 1024:
                payload = apply_mask(buf[start:end], mask)
            else:
                with memoryview(buf) as view:
                    part = view[start:end]
                    payload = apply_mask(part, mask)
                    part.release()
        elif start == 0 and end == len(buf) and type(buf) is bytes:
            payload = buf
        else:
            payload = bytes(buf[start:end])
        if end == len(buf):
            self._buf = b""
            self._pos = 0
        else:
            self._pos = end
        return Frame(opcode, payload, fin, rsv)
