"""The protocol state machine: loopback pairs with no sockets (one side's bytes piped into
the other), the automatic replies, the close handshake, every violation with its close
code, limits and fail-fast checks, and a fuzz of receive_data."""

from __future__ import annotations

import itertools
import tracemalloc
import zlib
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from rtio.ws import InvalidState
from rtio.ws.deflate import DeflateParams, PerMessageDeflate
from rtio.ws.frames import RSV1, CloseCode, FrameParser, Opcode, serialize_frame
from rtio.ws.protocol import (
    Close,
    Event,
    Ping,
    Pong,
    Side,
    State,
    WebSocketProtocol,
    prepare_message,
)

from .support import continuation, first_fragment

MASK = b"\x01\x02\x03\x04"


def masks() -> itertools.cycle[bytes]:
    return itertools.cycle([MASK])


def client(**kwargs: object) -> WebSocketProtocol:
    return WebSocketProtocol(Side.CLIENT, mask_key=lambda: MASK, **kwargs)  # type: ignore[arg-type]


def server(**kwargs: object) -> WebSocketProtocol:
    return WebSocketProtocol(Side.SERVER, **kwargs)  # type: ignore[arg-type]


def state(proto: WebSocketProtocol) -> State:
    return proto.state  # read through a call: mypy would keep an earlier narrowing


def pipe(sender: WebSocketProtocol, receiver: WebSocketProtocol) -> list[Event]:
    return receiver.receive_data(sender.data_to_send())


def frames_of(data: bytes, *, masked: bool = False) -> list[tuple[int, bytes, bool, int]]:
    parser = FrameParser(require_mask=masked, allowed_rsv=RSV1)
    parser.feed(data)
    out = []
    while (frame := parser.next_frame()) is not None:
        out.append((frame.opcode, frame.payload, frame.fin, frame.rsv))
    assert parser.buffered == 0
    return out


def masked(opcode: int, payload: bytes, *, fin: bool = True, rsv: int = 0) -> bytes:
    return serialize_frame(opcode, payload, fin=fin, rsv=rsv, mask_key=MASK)


def test_a_client_needs_a_mask_source() -> None:
    with pytest.raises(ValueError):
        WebSocketProtocol(Side.CLIENT)


def test_messages_both_ways() -> None:
    c, s = client(), server()
    c.send_message("Hello")
    c.send_message(b"\x00\xff")
    assert c.data_to_send() == masked(Opcode.TEXT, b"Hello") + masked(Opcode.BINARY, b"\x00\xff")
    c.send_message("Hello")
    c.send_message(b"\x00\xff")
    assert pipe(c, s) == ["Hello", b"\x00\xff"]
    s.send_message("été")
    assert s.data_to_send() == b"\x81\x05\xc3\xa9t\xc3\xa9"
    s.send_message(bytearray(b"xy"))  # type: ignore[arg-type]
    assert pipe(s, c) == [b"xy"]
    assert c.data_to_send() == b""


def test_fragmented_message_with_interleaved_control_frames() -> None:
    s = server()
    wire = (
        masked(Opcode.TEXT, "κό".encode(), fin=False)
        + masked(Opcode.PING, b"p1")
        + masked(Opcode.CONTINUATION, "σμε".encode()[:3], fin=False)
        + masked(Opcode.PONG, b"p2")
        + masked(Opcode.CONTINUATION, "σμε".encode()[3:], fin=True)
    )
    assert s.receive_data(wire) == [Ping(b"p1"), Pong(b"p2"), "κόσμε"]
    # 5.5.2: the ping is answered at once, with the same payload
    assert s.data_to_send() == b"\x8a\x02p1"


def test_fragmented_binary_message_byte_by_byte() -> None:
    s = server()
    wire = masked(Opcode.BINARY, b"ab", fin=False) + masked(Opcode.CONTINUATION, b"cd")
    events: list[Event] = []
    for i in range(len(wire)):
        events += s.receive_data(wire[i : i + 1])
    assert events == [b"abcd"]


def test_ping_pong_between_loopback_peers() -> None:
    c, s = client(), server()
    c.send_ping(b"hi")
    assert pipe(c, s) == [Ping(b"hi")]
    assert pipe(s, c) == [Pong(b"hi")]
    with pytest.raises(ValueError):
        c.send_ping(b"x" * 126)
    c.send_pong(b"unsolicited")
    assert pipe(c, s) == [Pong(b"unsolicited")]
    with pytest.raises(ValueError):
        c.send_pong(b"x" * 126)


def test_close_handshake_started_by_the_client() -> None:
    c, s = client(), server()
    c.send_close(1000, "bye")
    assert c.state is State.CLOSING
    assert pipe(c, s) == [Close(1000, "bye")]
    assert s.state is State.CLOSED
    # 5.5.1: the reply echoes the status code
    assert s.data_to_send() == b"\x88\x02\x03\xe8"
    s.send_close()  # a no-op once closed
    assert s.data_to_send() == b""
    c.receive_data(b"\x88\x02\x03\xe8")
    assert state(c) is State.CLOSED
    assert (c.close_code, s.close_code, s.close_reason) == (1000, 1000, "bye")
    with pytest.raises(InvalidState):
        c.send_message("late")


def test_close_without_a_code() -> None:
    c, s = client(), server()
    c.send_close(CloseCode.NO_STATUS_RCVD)
    assert pipe(c, s) == [Close(1005, "")]
    assert s.data_to_send() == b"\x88\x00"  # no body in reply either


def test_nothing_is_sent_after_a_close_frame() -> None:
    c, s = client(), server()
    s.send_close(1001)
    s.data_to_send()
    with pytest.raises(InvalidState, match="closing"):
        s.send_message("x")
    with pytest.raises(InvalidState):
        s.send_ping()
    with pytest.raises(InvalidState):
        s.send_prepared(prepare_message("x"))
    # a ping received while closing is not answered (5.5.1: nothing after our close frame)
    assert s.receive_data(masked(Opcode.PING, b"x")) == [Ping(b"x")]
    assert s.data_to_send() == b""
    assert c.receive_data(b"\x88\x02\x03\xe9") == [Close(1001, "")]


def test_data_after_a_close_frame_is_ignored() -> None:
    s = server()
    events = s.receive_data(masked(Opcode.CLOSE, b"\x03\xe8") + masked(Opcode.TEXT, b"late"))
    assert events == [Close(1000, "")]
    assert s.receive_data(masked(Opcode.TEXT, b"later")) == []


def test_invalid_close_codes_are_refused() -> None:
    with pytest.raises(ValueError):
        client().send_close(1006)
    s = server()
    assert s.receive_data(masked(Opcode.CLOSE, b"\x03\xee")) == []  # 1006 on the wire
    assert frames_of(s.data_to_send())[0][1][:2] == b"\x03\xea"  # failed with 1002
    assert s.close_code == 1002


def fail_code(data: bytes, **kwargs: object) -> int:
    """Feed ``data`` to a fresh server; return the code of the close frame it answers."""
    s = server(**kwargs)
    s.receive_data(data)
    assert s.state is State.CLOSED
    assert s.failure is not None
    frames = frames_of(s.data_to_send())
    assert frames[-1][0] == Opcode.CLOSE
    code = int.from_bytes(frames[-1][1][:2], "big")
    assert code == s.close_code == s.failure.close_code
    return code


@pytest.mark.parametrize(
    ("data", "code"),
    [
        (serialize_frame(Opcode.TEXT, b"unmasked"), 1002),
        (masked(Opcode.TEXT, b"x", rsv=0x20), 1002),
        (masked(3, b""), 1002),
        (masked(Opcode.CONTINUATION, b"nothing to continue"), 1002),
        (masked(Opcode.TEXT, b"a", fin=False) + masked(Opcode.TEXT, b"b"), 1002),
        (masked(Opcode.PING, b"x", fin=False), 1002),
        (masked(Opcode.CLOSE, b"\x03"), 1002),
        (masked(Opcode.CLOSE, b"\x03\xe8\xff"), 1007),
        (masked(Opcode.TEXT, b"\xff"), 1007),
        (masked(Opcode.TEXT, b"a\xce", fin=False) + masked(Opcode.CONTINUATION, b"\xff"), 1007),
        (masked(Opcode.TEXT, b"\xce", fin=True), 1007),  # incomplete at the end
    ],
)
def test_violations_close_with_their_code(data: bytes, code: int) -> None:
    assert fail_code(data) == code


def test_utf8_fails_fast_before_the_frame_completes() -> None:
    # 8.1 / Autobahn 6.4: the invalid bytes arrive, the rest of the frame never does
    s = server()
    frame = masked(Opcode.TEXT, "κόσμε".encode() + b"\xf4\x90\x80\x80" + b"x" * 1000)
    assert s.receive_data(frame[:20]) == []
    assert s.state is State.CLOSED
    assert s.close_code == 1007


def test_utf8_fails_fast_in_a_continuation_frame() -> None:
    s = server()
    s.receive_data(masked(Opcode.TEXT, b"ab\xed", fin=False))
    assert s.state is State.OPEN
    frame = masked(Opcode.CONTINUATION, b"\xa0\x80" + b"x" * 100)
    s.receive_data(frame[:8])  # header (6) + the rest of a surrogate
    assert s.close_code == 1007


def test_utf8_check_of_a_growing_frame_is_incremental() -> None:
    s = server()
    frame = masked(Opcode.TEXT, "é".encode() * 500)
    for i in range(0, len(frame), 7):
        events = s.receive_data(frame[i : i + 7])
    assert events == ["é" * 500]
    assert s.state is State.OPEN


@pytest.mark.parametrize(
    ("header", "kwargs"),
    [
        (b"\x82\xfe\x04\x01" + MASK, {"max_frame_size": 1024}),
        (b"\x82\xfe\x04\x01" + MASK, {"max_message_size": 1024}),
        (b"\x82\xff\x00\x00\x00\x01\x00\x00\x00\x00" + MASK, {"max_message_size": 1 << 20}),
    ],
)
def test_size_limits_from_the_length_field(header: bytes, kwargs: dict[str, int]) -> None:
    # only the header arrives: 1009 before any payload
    assert fail_code(header, **kwargs) == 1009


def test_message_size_limit_across_fragments() -> None:
    data = masked(Opcode.BINARY, b"x" * 600, fin=False) + masked(Opcode.CONTINUATION, b"x" * 500)
    assert fail_code(data, max_message_size=1024) == 1009
    ok = server(max_message_size=1100)
    assert ok.receive_data(data) == [b"x" * 1100]


def deflate_pair(**params: object) -> tuple[WebSocketProtocol, WebSocketProtocol]:
    agreed = DeflateParams(**params)  # type: ignore[arg-type]
    c = client(deflate=PerMessageDeflate(agreed, is_server=False, threshold=0))
    s = server(deflate=PerMessageDeflate(agreed, is_server=True, threshold=0))
    return c, s


def test_compressed_messages_both_ways() -> None:
    c, s = deflate_pair()
    s.send_message("Hello")
    wire = s.data_to_send()
    assert wire == b"\xc1\x07\xf2\x48\xcd\xc9\xc9\x07\x00"  # RFC 7692 7.2.3.1
    assert c.receive_data(wire) == ["Hello"]
    for _ in range(3):
        c.send_message("Hello" * 100)
        c.send_message(b"\x00" * 5000)
        assert pipe(c, s) == ["Hello" * 100, b"\x00" * 5000]
        s.send_message("Hello")
        assert pipe(s, c) == ["Hello"]


def test_compressed_fragmented_message() -> None:
    _, s = deflate_pair()
    data = zlib.compressobj(6, zlib.DEFLATED, -15)
    payload = data.compress(b"Hello world") + data.flush(zlib.Z_SYNC_FLUSH)
    payload = payload[:-4]
    wire = masked(Opcode.TEXT, payload[:3], fin=False, rsv=RSV1) + masked(
        Opcode.CONTINUATION, payload[3:]
    )
    assert s.receive_data(wire) == ["Hello world"]


def test_rsv1_on_a_continuation_or_control_frame() -> None:
    _, s = deflate_pair()
    bad = masked(Opcode.TEXT, b"", fin=False, rsv=RSV1) + masked(Opcode.CONTINUATION, b"", rsv=RSV1)
    s.receive_data(bad)
    assert s.close_code == 1002
    _, s2 = deflate_pair()
    s2.receive_data(masked(Opcode.PING, b"", rsv=RSV1))
    assert s2.close_code == 1002


def test_zip_bomb_closes_with_1009() -> None:
    bomb = zlib.compressobj(9, zlib.DEFLATED, -15)
    payload = bomb.compress(b"\x00" * (16 << 20)) + bomb.flush(zlib.Z_SYNC_FLUSH)
    _, s = deflate_pair()
    s.max_message_size = 1 << 20
    s.receive_data(masked(Opcode.BINARY, payload[:-4], rsv=RSV1))
    assert s.close_code == 1009
    assert frames_of(s.data_to_send())[-1][1][:2] == b"\x03\xf1"


def test_compressed_messages_under_the_threshold_go_plain() -> None:
    agreed = DeflateParams()
    s = server(deflate=PerMessageDeflate(agreed, is_server=True, threshold=10))
    s.send_message("short")
    assert s.data_to_send() == b"\x81\x05short"
    s.send_message("long enough")
    assert frames_of(s.data_to_send())[0][3] == RSV1


def test_compress_false_sends_a_message_plain() -> None:
    # ws's send(data, {compress: false}): no RSV1 whatever the threshold
    c, s = deflate_pair()
    s.send_message("Hello", compress=False)
    assert s.data_to_send() == b"\x81\x05Hello"
    prepared = prepare_message("Hello")
    s.send_prepared(prepared, compress=False)
    assert s.data_to_send() is prepared.frame
    s.send_prepared(prepared)  # the default still compresses
    wire = s.data_to_send()
    assert frames_of(wire)[0][3] == RSV1
    assert c.receive_data(b"\x81\x05Hello" + prepared.frame + wire) == ["Hello"] * 3
    c.send_prepared(prepared, compress=False)  # a client masks, still plain
    assert s.receive_data(c.data_to_send()) == ["Hello"]


def test_prepared_messages() -> None:
    prepared = prepare_message("hi")
    assert prepared.frame == b"\x81\x02hi"
    assert prepare_message(b"\x01").frame == b"\x82\x01\x01"
    s = server()
    s.send_prepared(prepared)
    assert s.data_to_send() is prepared.frame  # the very same bytes for every connection
    c = client()
    c.send_prepared(prepared)  # a client masks: encoded again
    assert c.data_to_send() == masked(Opcode.TEXT, b"hi")
    _, sd = deflate_pair()
    sd.send_prepared(prepared)  # compressed for this connection
    assert frames_of(sd.data_to_send())[0][3] == RSV1


def test_deliver_before_failing() -> None:
    # Autobahn 3.2: a valid text, then a frame with reserved bits, then a ping
    data = masked(Opcode.TEXT, b"hello") + masked(Opcode.TEXT, b"x", rsv=0x20)
    data += masked(Opcode.PING, b"")
    plain = server()
    assert plain.receive_data(data) == ["hello"]
    assert plain.state is State.CLOSED  # failed at once: the app cannot answer "hello"

    s = server(deliver_before_failing=True)
    assert s.receive_data(data) == ["hello"]
    assert s.state is State.OPEN
    assert s.pending_failure is not None
    assert s.receive_data(masked(Opcode.TEXT, b"ignored")) == []
    s.send_message("hello")  # the app's echo goes first
    s.fail_pending()
    assert [f[0] for f in frames_of(s.data_to_send())] == [Opcode.TEXT, Opcode.CLOSE]
    assert state(s) is State.CLOSED
    assert s.close_code == 1002
    s.fail_pending()  # once only


def test_deliver_before_failing_without_messages_fails_at_once() -> None:
    s = server(deliver_before_failing=True)
    s.receive_data(masked(Opcode.TEXT, b"x", rsv=0x20))
    assert s.state is State.CLOSED
    assert s.pending_failure is None


def test_eof() -> None:
    s = server()
    s.receive_eof()
    assert (s.state, s.close_code) == (State.CLOSED, 1006)
    s2 = server(deliver_before_failing=True)
    s2.receive_data(masked(Opcode.TEXT, b"hello") + masked(3, b""))
    s2.receive_eof()  # the held violation decides the code
    assert (s2.state, s2.close_code) == (State.CLOSED, 1002)


@settings(max_examples=300, deadline=None)
@given(
    st.lists(
        st.binary(max_size=60)
        | st.sampled_from(
            [
                masked(Opcode.TEXT, b"ok", fin=False),
                masked(Opcode.CONTINUATION, b"\xce"),
                masked(Opcode.CONTINUATION, b"\xba", fin=False),
                masked(Opcode.PING, b"p"),
                masked(Opcode.CLOSE, b"\x03\xe8"),
                masked(Opcode.BINARY, b"\x00" * 30, rsv=RSV1),
                masked(Opcode.TEXT, b"\xf2\x48\xcd\xc9\xc9\x07\x00", rsv=RSV1),
            ]
        ),
        max_size=10,
    ),
    st.booleans(),
    st.booleans(),
)
def test_fuzz_receive_data_never_raises(chunks: list[bytes], compress: bool, deliver: bool) -> None:
    deflate = PerMessageDeflate(DeflateParams(), is_server=True) if compress else None
    s = server(deflate=deflate, max_message_size=100, deliver_before_failing=deliver)
    for chunk in chunks:
        for event in s.receive_data(chunk):
            assert isinstance(event, str | bytes | Ping | Pong | Close)
        s.data_to_send()
    if s.state is State.CLOSED and s.failure is not None:
        assert s.close_code in (1002, 1007, 1009)


def test_the_small_frame_fast_path_keeps_every_check() -> None:
    # one small frame alone in a chunk takes the fast path; the same rules apply
    s = server()
    assert s.receive_data(masked(Opcode.TEXT, "héllo".encode())) == ["héllo"]
    assert s.receive_data(masked(Opcode.BINARY, b"\x00\xff")) == [b"\x00\xff"]
    assert fail_code(masked(Opcode.TEXT, b"\xff")) == 1007  # invalid UTF-8
    assert fail_code(masked(Opcode.TEXT, b"x" * 20), max_message_size=10) == 1009
    # inside a fragmented message a new data frame is a violation, small or not
    s = server()
    s.receive_data(masked(Opcode.TEXT, b"a", fin=False))
    s.receive_data(masked(Opcode.TEXT, b"b"))
    assert s.close_code == 1002
    # several small messages in one read, one with invalid UTF-8: the ones before it
    # are delivered, then the connection fails (deliver_before_failing)
    s = server(deliver_before_failing=True)
    chunk = masked(Opcode.TEXT, b"a") + masked(Opcode.BINARY, b"b") + masked(Opcode.TEXT, b"\xff")
    assert s.receive_data(chunk) == ["a", b"b"]
    assert s.pending_failure is not None and s.pending_failure.close_code == 1007
    s = server()
    assert s.receive_data(masked(Opcode.TEXT, b"a") + masked(Opcode.TEXT, b"b")) == ["a", "b"]
    # after a held-back violation nothing more is read
    s = server(deliver_before_failing=True)
    assert s.receive_data(masked(Opcode.TEXT, b"ok") + masked(3, b"")) == ["ok"]
    assert s.receive_data(masked(Opcode.TEXT, b"later")) == []


def test_encode_message_is_what_send_message_queues() -> None:
    for message in ("small", b"\x01" * 125, "x" * 126, b"y" * 70000):
        a, b = server(), server()
        a.send_message(message)
        assert b.encode_message(message) == a.data_to_send()
    c = client()
    assert frames_of(c.encode_message("masked"), masked=True) == [(Opcode.TEXT, b"masked", True, 0)]


def test_encode_message_after_queued_bytes_and_with_deflate() -> None:
    s = server()
    s.send_pong(b"p")
    assert frames_of(s.encode_message("m")) == [
        (Opcode.PONG, b"p", True, 0),
        (Opcode.TEXT, b"m", True, 0),
    ]
    receiver, sender = deflate_pair()
    compressed = sender.encode_message("z" * 100)
    assert frames_of(compressed)[0][3] == RSV1
    plain = sender.encode_message("plain", compress=False)
    assert frames_of(plain)[0][3] == 0
    assert receiver.receive_data(compressed + plain) == ["z" * 100, "plain"]
    sender.send_close()
    with pytest.raises(InvalidState):
        sender.encode_message("after the close")


def _feed_in_chunks(proto: WebSocketProtocol, frames: bytes, size: int = 1 << 16) -> list[Any]:
    events: list[Any] = []
    for i in range(0, len(frames), size):
        events += proto.receive_data(frames[i : i + size])
    return events


@pytest.mark.parametrize("opcode", [Opcode.BINARY, Opcode.TEXT])
def test_empty_fragments_cost_no_memory(opcode: Opcode) -> None:
    """Issue 12 defect 5: 50,000 empty continuation frames (no fragment limit) used to
    grow a list by 8 bytes each (+400 kB here, +74 MB for 10 M); now a message's
    fragments share one buffer: the growth is its bytes, whatever the frame count."""
    proto = WebSocketProtocol(Side.SERVER, max_message_size=1 << 20)
    assert proto.receive_data(first_fragment(opcode, b"ab")) == []
    batch = continuation(b"") * 10_000
    tracemalloc.start()
    try:
        base = tracemalloc.get_traced_memory()[0]
        for _ in range(5):
            assert _feed_in_chunks(proto, batch) == []
        grown = tracemalloc.get_traced_memory()[0] - base
    finally:
        tracemalloc.stop()
    assert proto.state is State.OPEN
    assert grown < 64 << 10, f"+{grown} bytes for 50,000 empty fragments"
    last = serialize_frame(Opcode.CONTINUATION, b"cd", mask_key=MASK)
    assert proto.receive_data(last) == (["abcd"] if opcode == Opcode.TEXT else [b"abcd"])


@pytest.mark.parametrize("opcode", [Opcode.BINARY, Opcode.TEXT])
def test_tiny_fragments_cost_the_message_bytes_only(opcode: Opcode) -> None:
    """Issue 12 defect 5: 64 kB in 2-byte fragments used to cost ~25x its size (a bytes
    or str object per fragment: +26 MB per MB); now about its size (the buffer, the
    message)."""
    proto = WebSocketProtocol(Side.SERVER, max_message_size=1 << 20)  # no fragment limit
    size = 64 << 10
    frames = (
        first_fragment(opcode, b"ab")
        + continuation(b"ab") * (size // 2 - 2)
        + continuation(b"ab", fin=True)
    )
    tracemalloc.start()
    try:
        base = tracemalloc.get_traced_memory()[0]
        events = _feed_in_chunks(proto, frames)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert len(events) == 1 and len(events[0]) == size
    grown = peak - base
    assert grown < 4 * size, f"peak +{grown} bytes for a {size}-byte message in 2-byte pieces"


def test_max_fragments_fails_with_1008() -> None:
    """Issue 12 defect 5: the frames of one message are counted; one more than
    max_fragments fails the connection with 1008 and a reason naming the limit."""
    proto = WebSocketProtocol(Side.SERVER, max_fragments=10)
    events = proto.receive_data(first_fragment(Opcode.BINARY, b"x") + continuation(b"x") * 9)
    assert events == [] and proto.state is State.OPEN  # 10 frames: at the limit
    proto.receive_data(continuation(b"x"))
    assert proto.state is State.CLOSED
    assert proto.close_code == 1008
    assert "more than 10 fragments" in proto.close_reason
    out = FrameParser(require_mask=False)
    out.feed(proto.data_to_send())
    frame = out.next_frame()
    assert frame is not None and frame.opcode == Opcode.CLOSE
    assert frame.payload[:2] == (1008).to_bytes(2, "big")
    # a message completed within the limit resets the count
    proto = WebSocketProtocol(Side.SERVER, max_fragments=3)
    for _ in range(5):
        msg = (
            first_fragment(Opcode.BINARY, b"a") + continuation(b"b") + continuation(b"c", fin=True)
        )
        assert proto.receive_data(msg) == [b"abc"]
