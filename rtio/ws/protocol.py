"""The WebSocket connection state machine (RFC 6455 sections 5-8, RFC 7692 section 6), after
the opening handshake, for both roles.

Sans-I/O: ``receive_data(bytes)`` returns the events it produced (complete messages as
``str``/``bytes``, ``Ping``, ``Pong``, ``Close``); ``send_*`` queue frames; ``data_to_send()``
hands the queued bytes to whoever owns the socket. The core answers pings with pongs and a
close with a close itself, so no caller can forget. Time, sockets and the randomness of mask
keys belong to the caller (``mask_key`` is injected).

States::

    OPEN --send_close()--> CLOSING --close frame received--> CLOSED
    OPEN --close frame received (the reply is queued)-----> CLOSED
    any  --protocol violation (a close frame is queued if none was sent) or EOF--> CLOSED

With ``deliver_before_failing=True`` a violation found after complete messages in the same
``receive_data`` call does not fail the connection at once: the messages are returned,
``pending_failure`` holds the violation, reading stops (later bytes are ignored) while
sending stays possible, and the caller calls ``fail_pending()`` once the application has
seen those messages (and had its chance to answer them). RFC 6455 lets the messages that
arrived before the violation count as received; Autobahn calls the other order NON-STRICT.

What a peer can make this object hold is bounded: a message's fragments are gathered in one
buffer (its memory is the message's bytes, whatever the number of frames; each fragment
kept as its own object cost ~40 bytes, an empty one 8), ``max_message_size`` caps those
bytes, ``max_fragments`` the frames of one message (PolicyViolation, 1008, beyond), and
pongs: with ``answer_latest_ping_only`` set (the caller sets it while the peer is not
reading what it is sent) a ping replaces the pong still queued for an earlier one instead
of adding another (5.5.3: "an endpoint MAY elect to send a Pong frame for only the most
recently processed Ping frame"). How long a fragmented message may stay open is the
caller's clock (``fragmented_messages`` counts the ones begun, to tell them apart).

Once CLOSED the caller closes the TCP connection: the server at once (7.1.1: "the server
SHOULD close the underlying TCP connection first"), the client after the server did or
after a timeout.
"""

from __future__ import annotations

import enum
from collections.abc import Callable
from typing import NamedTuple

from .deflate import PerMessageDeflate
from .errors import InvalidState, InvalidUTF8, PayloadTooBig, PolicyViolation, ProtocolError
from .frames import (
    RSV1,
    CloseCode,
    FrameParser,
    Opcode,
    parse_close,
    serialize_close,
    serialize_frame,
)
from .utf8 import Utf8Decoder

__all__ = [
    "Close",
    "Event",
    "Ping",
    "Pong",
    "PreparedMessage",
    "Side",
    "State",
    "WebSocketProtocol",
    "prepare_message",
]

# plain ints, not enum members: an opcode test costs ~50 ns less (a module global instead of
# an enum attribute lookup; bench_tricks.py), several per frame
_TEXT = Opcode.TEXT.value
_BINARY = Opcode.BINARY.value
_CONT = Opcode.CONTINUATION.value
_CLOSE = Opcode.CLOSE.value
_PING = Opcode.PING.value
_PONG = Opcode.PONG.value


class Side(enum.Enum):
    SERVER = "server"
    CLIENT = "client"


class State(enum.Enum):
    OPEN = "open"
    CLOSING = "closing"  # we sent a close frame and wait for the peer's
    CLOSED = "closed"


class Ping(NamedTuple):
    payload: bytes


class Pong(NamedTuple):
    payload: bytes


class Close(NamedTuple):
    """The peer's close frame (code 1005 when it had no body)."""

    code: int
    reason: str


Event = str | bytes | Ping | Pong | Close


class PreparedMessage:
    """A message encoded once: its opcode, payload, and its unmasked, uncompressed frame as a
    server sends it, to be written as-is to every connection that does not compress it."""

    # slots: one per message prepared for a broadcast
    # (~45 B less each than an instance dict: bench_tricks.py, per-connection objects)
    __slots__ = ("frame", "opcode", "payload")

    def __init__(self, opcode: int, payload: bytes) -> None:
        self.opcode = opcode
        self.payload = payload
        self.frame = serialize_frame(opcode, payload)


def _message_payload(message: str | bytes) -> tuple[int, bytes]:
    """The opcode and payload of one message: str as a text frame, bytes as binary."""
    if isinstance(message, str):
        return _TEXT, message.encode()
    return _BINARY, message if type(message) is bytes else bytes(message)


def prepare_message(message: str | bytes) -> PreparedMessage:
    return PreparedMessage(*_message_payload(message))


def _compressed_bound(size: int) -> int:
    # Deflate never expands data by more than its stored-block overhead (5 bytes per 64 KiB
    # block) plus a few bytes: the largest compressed frame worth reading for ``size`` bytes.
    return size + (size >> 10) + 64


class WebSocketProtocol:
    """One connection's protocol state (after a successful opening handshake)."""

    # slots: one per connection, ~45 B less each than an instance dict (the figure of
    # bench_tricks.py's per-connection objects)
    __slots__ = (
        "_mask_key",
        "_msg_buf",
        "_msg_compressed",
        "_msg_frames",
        "_msg_size",
        "_out",
        "_parser",
        "_pending_offset",
        "_pending_utf8",
        "_pong_at",
        "_utf8",
        "answer_latest_ping_only",
        "close_code",
        "close_reason",
        "close_received",
        "close_sent",
        "deflate",
        "deliver_before_failing",
        "failure",
        "fragmented_messages",
        "is_client",
        "max_fragments",
        "max_frame_size",
        "max_message_size",
        "message_opcode",
        "pending_failure",
        "side",
        "state",
    )

    def __init__(
        self,
        side: Side,
        *,
        deflate: PerMessageDeflate | None = None,
        max_frame_size: int | None = None,
        max_message_size: int | None = None,
        max_fragments: int | None = None,
        mask_key: Callable[[], bytes] | None = None,
        deliver_before_failing: bool = False,
    ) -> None:
        self.side = side
        self.deliver_before_failing = deliver_before_failing
        #: a violation held back until the messages before it are delivered (see above)
        self.pending_failure: ProtocolError | None = None
        self.state = State.OPEN
        self.deflate = deflate
        self.max_frame_size = max_frame_size
        self.max_message_size = max_message_size
        #: the most frames one message may arrive in (None: no limit)
        self.max_fragments = max_fragments
        #: answer only the latest of the pings whose pongs are still queued (see above)
        self.answer_latest_ping_only = False
        self._pong_at = -1  # the index in _out of the last pong queued, -1: none
        #: fragmented messages begun so far
        self.fragmented_messages = 0
        self.is_client = side is Side.CLIENT
        if self.is_client and mask_key is None:
            raise ValueError("a client needs a mask_key source")
        self._mask_key = mask_key
        # What ended the connection: the peer's close code (1005 without one), the code we
        # failed it with, or 1006 when the TCP connection ended without a close frame.
        self.close_code: int | None = None
        self.close_reason = ""
        self.close_sent = False
        self.close_received = False
        self.failure: ProtocolError | None = None
        self._out: list[bytes] = []
        self._parser = FrameParser(
            require_mask=not self.is_client,
            allowed_rsv=RSV1 if deflate is not None else 0,
        )
        # the message being assembled
        # read-only outside: the opcode of the fragmented message being received (0: none;
        # the glue times a message by it); an attribute, not a property: read per read
        self.message_opcode = 0
        self._msg_compressed = False
        self._msg_size = 0
        self._msg_frames = 0
        # the fragments received so far, in one buffer (text too: decoded once at the end)
        self._msg_buf = bytearray()
        self._utf8: Utf8Decoder | None = None
        # fail-fast UTF-8 check of a text frame that is still arriving
        self._pending_utf8: Utf8Decoder | None = None
        self._pending_offset = 0
        self._set_limit()

    # -- receiving ---------------------------------------------------------------------

    def receive_data(self, data: bytes) -> list[Event]:
        """Feed bytes from the network; return the events they complete."""
        if self.state is State.CLOSED or not data or self.pending_failure is not None:
            return []
        parser = self._parser
        if not self.message_opcode:
            # the fast path: ``data`` holds only small single-frame messages (a client's
            # typical read); anything else, or invalid UTF-8, takes the general path
            small = parser.small_frames(data)
            if small is not None:
                messages: list[Event] = []
                try:
                    for opcode, payload in small:
                        messages.append(payload if opcode == _BINARY else payload.decode())
                except UnicodeDecodeError:
                    pass
                else:
                    return messages
        events: list[Event] = []
        parser.feed(data)
        try:
            while True:
                frame = parser.next_frame()
                if frame is None:
                    break
                self._pending_offset = 0
                opcode = frame.opcode
                if opcode >= 8:
                    if self._receive_control(opcode, frame.payload, frame.rsv, events):
                        return events  # a close frame: nothing after it is read
                    continue
                payload = frame.payload
                fin = frame.fin
                if opcode:  # TEXT or BINARY: a new message
                    if self.message_opcode:
                        # 5.4: fragments of one message are not interleaved with another
                        raise ProtocolError("new data frame inside a fragmented message")
                    deflate = self.deflate if frame.rsv else None  # RSV1: compressed
                    if deflate is not None:
                        # bounded by the room left in the message (a zip bomb -> 1009)
                        payload = deflate.decompress(payload, fin, self.max_message_size)
                    if fin:
                        # the fast path: one frame (compressed or not), one message
                        if opcode == _TEXT:
                            try:
                                events.append(payload.decode())
                            except UnicodeDecodeError as exc:
                                raise InvalidUTF8("invalid UTF-8 in a text message") from exc
                        else:
                            events.append(payload)
                        continue
                    if deflate is not None:
                        self._msg_compressed = True
                    self.message_opcode = opcode
                    self._msg_frames = 1
                    self.fragmented_messages += 1
                    if opcode == _TEXT:
                        self._utf8 = Utf8Decoder()
                else:
                    if not self.message_opcode:
                        raise ProtocolError("continuation frame without a message to continue")
                    if frame.rsv:
                        # RFC 7692 6.1: "An endpoint MUST NOT set the "Per-Message
                        # Compressed" bit of ... non-first fragments of a data message."
                        raise ProtocolError("RSV1 set on a continuation frame")
                    self._msg_frames += 1
                    if self.max_fragments is not None and self._msg_frames > self.max_fragments:
                        raise PolicyViolation(
                            f"message in more than {self.max_fragments} fragments"
                        )
                    if self._msg_compressed:
                        assert self.deflate is not None
                        payload = self.deflate.decompress(payload, fin, self._room())
                self._msg_size += len(payload)
                if self.max_message_size is not None and self._msg_size > self.max_message_size:
                    raise PayloadTooBig("message over the size limit")
                if self._utf8 is not None:
                    # fail fast on invalid UTF-8 (8.1); the text is decoded once, at the end
                    self._utf8.decode(payload, fin)
                self._msg_buf += payload
                if fin:
                    events.append(self._end_message())
                self._set_limit()
            self._check_pending_text()
        except ProtocolError as exc:
            if self.deliver_before_failing and any(
                type(event) is str or type(event) is bytes for event in events
            ):
                self.pending_failure = exc
            else:
                self._fail(exc)
        return events

    def fail_pending(self) -> None:
        """Fail the connection with the violation held in ``pending_failure`` (if any)."""
        exc = self.pending_failure
        if exc is not None:
            self.pending_failure = None
            self._fail(exc)

    def _room(self) -> int | None:
        if self.max_message_size is None:
            return None
        return self.max_message_size - self._msg_size

    def _set_limit(self) -> None:
        limit = self._room()
        if limit is not None and self.deflate is not None:
            limit = _compressed_bound(limit)
        if self.max_frame_size is not None and (limit is None or self.max_frame_size < limit):
            limit = self.max_frame_size
        self._parser.max_payload = limit

    def _end_message(self) -> str | bytes:
        message: str | bytes
        buf = self._msg_buf
        if self._utf8 is not None:
            message = buf.decode()  # validated piece by piece already
            self._utf8 = None
        else:
            message = bytes(buf)
        # a new buffer: a cleared one would keep its capacity (the biggest message's)
        self._msg_buf = bytearray()
        self._msg_frames = 0
        self.message_opcode = 0
        self._msg_compressed = False
        self._msg_size = 0
        return message

    def _check_pending_text(self) -> None:
        """Validate the received part of an incomplete text frame (fail fast, 8.1)."""
        pending = self._parser.pending_frame()
        if pending is None:
            return
        opcode, rsv, received = pending
        if rsv or received <= self._pending_offset:
            return
        if opcode == _TEXT and not self.message_opcode:
            if self._pending_offset == 0:
                self._pending_utf8 = Utf8Decoder()
        elif opcode == _CONT and self.message_opcode == _TEXT and not self._msg_compressed:
            if self._pending_offset == 0:
                assert self._utf8 is not None
                self._pending_utf8 = self._utf8.copy()
        else:
            return
        assert self._pending_utf8 is not None
        data = self._parser.pending_payload(self._pending_offset)
        self._pending_offset += len(data)
        self._pending_utf8.decode(data)

    def _receive_control(self, opcode: int, payload: bytes, rsv: int, events: list[Event]) -> bool:
        """Handle a control frame; True if it was a close frame."""
        if rsv:
            # RFC 7692 6.1: "An endpoint MUST NOT set the "Per-Message Compressed" bit of
            # control frames"
            raise ProtocolError("RSV1 set on a control frame")
        if opcode == _PING:
            # 5.5.2: "Upon receipt of a Ping frame, an endpoint MUST send a Pong frame in
            # response, unless it already received a Close frame. ... A Pong frame sent in
            # response to a Ping frame must have identical "Application data"". After our
            # own close frame nothing more may be sent (5.5.1), so only while OPEN.
            if self.state is State.OPEN:
                pong = self._frame(_PONG, payload)
                out = self._out
                if self.answer_latest_ping_only and self._pong_at >= 0:
                    out[self._pong_at] = pong  # 5.5.3: only the most recent ping
                else:
                    self._pong_at = len(out)
                    out.append(pong)
            events.append(Ping(payload))
            return False
        if opcode == _PONG:
            events.append(Pong(payload))
            return False
        # CLOSE
        code, reason = parse_close(payload)
        self.close_received = True
        self.close_code = code
        self.close_reason = reason
        if self.state is State.OPEN:
            # 5.5.1: "If an endpoint receives a Close frame and did not previously send
            # a Close frame, the endpoint MUST send a Close frame in response. (When
            # sending a Close frame in response, the endpoint typically echoes the
            # status code it received.)"
            self._out.append(self._frame(_CLOSE, serialize_close(code)))
            self.close_sent = True
        self.state = State.CLOSED
        events.append(Close(code, reason))
        return True

    def _fail(self, exc: ProtocolError) -> None:
        self.failure = exc
        self.fail(exc.close_code, str(exc))

    def fail(self, code: int, reason: str) -> None:
        """_Fail the WebSocket Connection_ (7.1.7), for a remote violation or a local reason
        (e.g. the application's message handler raised, 1011): CLOSED at once, reading
        stops, and a close frame is queued unless one was sent already."""
        # 7.1.7: "_Fail the WebSocket Connection_ ... the endpoint MAY send a Close frame
        # with an appropriate status code"; we always do, unless one was already sent.
        self.pending_failure = None
        if self.state is State.OPEN:
            short = reason.encode()[:120].decode(errors="ignore")
            self._out.append(self._frame(_CLOSE, serialize_close(code, short)))
            self.close_sent = True
        if self.close_code is None:
            self.close_code = code
            self.close_reason = reason
        self.state = State.CLOSED

    def receive_eof(self) -> None:
        """The TCP connection ended (or the caller gave up on it)."""
        if self.pending_failure is not None:
            self.failure = self.pending_failure
            self.pending_failure = None
            if self.close_code is None:
                self.close_code = self.failure.close_code
                self.close_reason = str(self.failure)
        if self.state is not State.CLOSED:
            self.state = State.CLOSED
        if not self.close_received and self.failure is None:
            # 7.1.5: "If _The WebSocket Connection is Closed_ and no Close control frame was
            # received by the endpoint ..., _The WebSocket Connection Close Code_ is
            # considered to be 1006."
            self.close_code = CloseCode.ABNORMAL_CLOSURE
            self.close_reason = ""

    # -- sending -----------------------------------------------------------------------

    def _frame(self, opcode: int, payload: bytes, rsv: int = 0) -> bytes:
        if self.is_client:
            assert self._mask_key is not None
            # 5.3: "The masking key MUST be derived from a strong source of entropy"
            return serialize_frame(opcode, payload, rsv=rsv, mask_key=self._mask_key())
        return serialize_frame(opcode, payload, rsv=rsv)

    def _check_open(self) -> None:
        if self.state is not State.OPEN:
            # 5.5.1: "After sending a Close frame, the endpoint MUST NOT send any further data."
            raise InvalidState(f"cannot send: the connection is {self.state.value}")

    def send_message(self, message: str | bytes, compress: bool = True) -> None:
        """Queue one message: str as a text frame, bytes as a binary frame. ``compress``
        False sends it uncompressed even when permessage-deflate is on (as ws's
        ``send(data, {compress: false})``)."""
        if self.state is not State.OPEN:
            self._check_open()
        self._send_payload(*_message_payload(message), compress)

    def encode_message(self, message: str | bytes, compress: bool = True) -> bytes:
        """The bytes of one message (as ``send_message`` queues them) for a caller that
        writes them at once, after anything queued before (a pong, say): the synchronous
        send's shorter path. A server's small uncompressed message is framed here directly."""
        if self.state is not State.OPEN:
            self._check_open()
        opcode, payload = _message_payload(message)
        n = len(payload)
        if n < 126 and not self.is_client and (not compress or self.deflate is None):
            # 5.2: FIN, no RSV bit, the opcode; no MASK bit and the 7-bit length
            frame = bytes((0x80 | opcode, n)) + payload
            if self._out:
                return self.data_to_send() + frame
            return frame
        self._send_payload(opcode, payload, compress)
        return self.data_to_send()

    def _send_payload(self, opcode: int, payload: bytes, compress: bool = True) -> None:
        deflate = self.deflate
        if compress and deflate is not None and deflate.should_compress(len(payload)):
            self._out.append(self._frame(opcode, deflate.compress(payload), RSV1))
        else:
            self._out.append(self._frame(opcode, payload))

    def send_compressed(self, opcode: int, payload: bytes) -> None:
        """Queue a data message (``opcode`` TEXT or BINARY) whose ``payload`` the caller
        compressed with this connection's ``deflate.compress``, e.g. in a worker thread
        (the caller keeps the messages in order: the compressor's state runs across them)."""
        self._check_open()
        if self.deflate is None:
            raise InvalidState("permessage-deflate was not negotiated")
        # RFC 7692 6: "set the "Per-Message Compressed" bit of the first frame"
        self._out.append(self._frame(opcode, payload, RSV1))

    def send_prepared(self, prepared: PreparedMessage, compress: bool = True) -> None:
        if self.state is not State.OPEN:
            self._check_open()
        deflate = self.deflate
        if self.is_client or (
            compress and deflate is not None and deflate.should_compress(len(prepared.payload))
        ):
            self._send_payload(prepared.opcode, prepared.payload, compress)
        else:
            self._out.append(prepared.frame)

    def send_ping(self, payload: bytes = b"") -> None:
        self._check_open()
        if len(payload) > 125:
            raise ValueError("ping payload longer than 125 bytes")
        self._out.append(self._frame(_PING, payload))

    def send_pong(self, payload: bytes = b"") -> None:
        self._check_open()
        if len(payload) > 125:
            raise ValueError("pong payload longer than 125 bytes")
        self._out.append(self._frame(_PONG, payload))

    def send_close(self, code: int = CloseCode.NORMAL_CLOSURE, reason: str = "") -> None:
        """Start the close handshake (no-op once a close frame was sent or received).
        Code 1005 sends a close frame without a body."""
        if self.state is not State.OPEN:
            return
        body = serialize_close(code, reason)  # ValueError for codes that may not be sent
        self._out.append(self._frame(_CLOSE, body))
        self.close_sent = True
        self.state = State.CLOSING

    def data_to_send(self) -> bytes:
        """Everything queued for the network since the last call."""
        out = self._out
        if not out:
            return b""
        self._out = []
        self._pong_at = -1
        return out[0] if len(out) == 1 else b"".join(out)
