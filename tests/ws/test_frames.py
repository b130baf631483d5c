"""The frame codec: RFC 6455 byte vectors, parser checks made from the header, masking,
close payloads, a hypothesis round trip and a fuzz of the parser."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from rtio.ws import PayloadTooBig, ProtocolError, WebSocketError
from rtio.ws import frames as frames_module
from rtio.ws.errors import InvalidUTF8
from rtio.ws.frames import (
    RSV1,
    RSV2,
    RSV3,
    CloseCode,
    Frame,
    FrameParser,
    Opcode,
    _apply_mask_py,
    check_close_code,
    parse_close,
    serialize_close,
    serialize_frame,
)

MASK = b"\x37\xfa\x21\x3d"

try:
    from rtio.ws._speedups import apply_mask as _apply_mask_c
except ImportError:  # built only where a C compiler was found at install time
    IMPLEMENTATIONS = [_apply_mask_py]
else:
    IMPLEMENTATIONS = [_apply_mask_py, _apply_mask_c]

MaskFunction = Callable[[bytes | bytearray | memoryview, bytes], bytes]


@pytest.fixture(params=IMPLEMENTATIONS, ids=lambda f: f.__module__.rsplit(".", 1)[-1])
def apply_mask(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> MaskFunction:
    """Each masking implementation in turn, also as the one the codec uses."""
    function: MaskFunction = request.param
    monkeypatch.setattr(frames_module, "apply_mask", function)
    return function


def test_the_accelerator_is_used_when_built() -> None:
    assert frames_module.apply_mask is IMPLEMENTATIONS[-1]


# RFC 6455 5.7 examples
VECTORS = [
    # A single-frame unmasked text message
    (b"\x81\x05\x48\x65\x6c\x6c\x6f", None, Frame(Opcode.TEXT, b"Hello")),
    # A single-frame masked text message
    (b"\x81\x85\x37\xfa\x21\x3d\x7f\x9f\x4d\x51\x58", MASK, Frame(Opcode.TEXT, b"Hello")),
    # A fragmented unmasked text message
    (b"\x01\x03\x48\x65\x6c", None, Frame(Opcode.TEXT, b"Hel", fin=False)),
    (b"\x80\x02\x6c\x6f", None, Frame(Opcode.CONTINUATION, b"lo")),
    # Unmasked Ping request and masked Ping response
    (b"\x89\x05\x48\x65\x6c\x6c\x6f", None, Frame(Opcode.PING, b"Hello")),
    (b"\x8a\x85\x37\xfa\x21\x3d\x7f\x9f\x4d\x51\x58", MASK, Frame(Opcode.PONG, b"Hello")),
    # 256 bytes binary message in a single unmasked frame
    (b"\x82\x7e\x01\x00" + b"\x00" * 256, None, Frame(Opcode.BINARY, b"\x00" * 256)),
    # 64KiB binary message in a single unmasked frame
    (
        b"\x82\x7f\x00\x00\x00\x00\x00\x01\x00\x00" + b"\x00" * 65536,
        None,
        Frame(Opcode.BINARY, b"\x00" * 65536),
    ),
    # lengths at the edges of the 7/16-bit encodings
    (b"\x82\x7d" + b"a" * 125, None, Frame(Opcode.BINARY, b"a" * 125)),
    (b"\x82\x7e\x00\x7e" + b"a" * 126, None, Frame(Opcode.BINARY, b"a" * 126)),
    (b"\x82\x7e\xff\xff" + b"a" * 65535, None, Frame(Opcode.BINARY, b"a" * 65535)),
    # an empty close frame, RSV1 on a text frame
    (b"\x88\x00", None, Frame(Opcode.CLOSE, b"")),
    (b"\xc1\x01x", None, Frame(Opcode.TEXT, b"x", rsv=RSV1)),
]


@pytest.mark.parametrize(("wire", "mask", "frame"), VECTORS)
def test_serialize_vectors(
    wire: bytes, mask: bytes | None, frame: Frame, apply_mask: MaskFunction
) -> None:
    assert (
        serialize_frame(frame.opcode, frame.payload, fin=frame.fin, rsv=frame.rsv, mask_key=mask)
        == wire
    )


@pytest.mark.parametrize(("wire", "mask", "frame"), VECTORS)
def test_parse_vectors(
    wire: bytes, mask: bytes | None, frame: Frame, apply_mask: MaskFunction
) -> None:
    parser = FrameParser(require_mask=mask is not None, allowed_rsv=RSV1)
    parser.feed(wire)
    assert parser.next_frame() == frame
    assert parser.next_frame() is None
    assert parser.buffered == 0


@pytest.mark.parametrize(("wire", "mask", "frame"), VECTORS[:7])
def test_parse_one_byte_at_a_time(wire: bytes, mask: bytes | None, frame: Frame) -> None:
    parser = FrameParser(require_mask=mask is not None)
    for i in range(len(wire) - 1):
        parser.feed(wire[i : i + 1])
        assert parser.next_frame() is None
    parser.feed(wire[-1:])
    assert parser.next_frame() == frame


def test_several_frames_in_one_chunk() -> None:
    parser = FrameParser(require_mask=False)
    parser.feed(b"\x01\x03Hel\x89\x00\x80\x02lo\x81")
    assert parser.next_frame() == Frame(Opcode.TEXT, b"Hel", fin=False)
    assert parser.next_frame() == Frame(Opcode.PING, b"")
    assert parser.next_frame() == Frame(Opcode.CONTINUATION, b"lo")
    assert parser.next_frame() is None
    assert parser.buffered == 1
    parser.feed(b"\x00")
    assert parser.next_frame() == Frame(Opcode.TEXT, b"")


@pytest.mark.parametrize(
    ("wire", "kwargs", "message"),
    [
        (b"\xa1\x00", {}, "reserved bits"),  # RSV2
        (b"\x91\x00", {}, "reserved bits"),  # RSV3
        (b"\xc1\x00", {}, "reserved bits"),  # RSV1 without an extension
        (b"\xe1\x00", {"allowed_rsv": RSV1}, "reserved bits"),
        (b"\x83\x00", {}, "reserved opcode 3"),
        (b"\x87\x00", {}, "reserved opcode 7"),
        (b"\x8b\x00", {}, "reserved opcode 11"),
        (b"\x8f\x00", {}, "reserved opcode 15"),
        (b"\x89\x7e\x00\x7e", {}, "control frame too long"),
        (b"\x09\x00", {}, "fragmented control frame"),
        (b"\x08\x00", {}, "fragmented control frame"),
        (b"\x81\x80\x00\x00\x00\x00", {"require_mask": False}, "masked frame from the server"),
        (b"\x82\x7f\x80\x00\x00\x00\x00\x00\x00\x00", {}, "most significant bit"),
    ],
)
def test_header_violations(wire: bytes, kwargs: dict[str, object], message: str) -> None:
    options: dict[str, object] = {"require_mask": False}
    options.update(kwargs)
    parser = FrameParser(**options)  # type: ignore[arg-type]
    parser.feed(wire)
    with pytest.raises(ProtocolError, match=message) as info:
        parser.next_frame()
    assert info.value.close_code == CloseCode.PROTOCOL_ERROR


def test_server_requires_masked_frames() -> None:
    parser = FrameParser(require_mask=True)
    parser.feed(b"\x81\x05Hello")
    with pytest.raises(ProtocolError, match="unmasked frame from the client"):
        parser.next_frame()


@pytest.mark.parametrize(
    ("header", "size"),
    [
        (b"\x82\x7e\x04\x01", 1025),
        (b"\x82\x7f\x00\x00\x00\x01\x00\x00\x00\x00", 1 << 32),
        (b"\x02\x7f\x7f\xff\xff\xff\xff\xff\xff\xff", (1 << 63) - 1),
    ],
)
def test_size_limit_checked_from_the_length_field(header: bytes, size: int) -> None:
    # Only the header arrives: the limit is enforced before any payload is buffered.
    parser = FrameParser(require_mask=False, max_payload=1024)
    parser.feed(header)
    with pytest.raises(PayloadTooBig, match=f"frame of {size} bytes") as info:
        parser.next_frame()
    assert info.value.close_code == CloseCode.MESSAGE_TOO_BIG


def test_size_limit_allows_the_limit_and_exempts_control_frames() -> None:
    parser = FrameParser(require_mask=False, max_payload=4)
    parser.feed(b"\x82\x04abcd\x89\x05Hello")
    assert parser.next_frame() == Frame(Opcode.BINARY, b"abcd")
    assert parser.next_frame() == Frame(Opcode.PING, b"Hello")


def test_pending_frame_and_payload(apply_mask: MaskFunction) -> None:
    parser = FrameParser(require_mask=True)
    wire = serialize_frame(Opcode.TEXT, b"Hello world", mask_key=MASK)
    parser.feed(wire[:1])
    assert parser.pending_frame() is None  # header incomplete
    parser.feed(wire[1:9])
    assert parser.pending_frame() == (Opcode.TEXT, 0, 3)
    assert parser.pending_payload() == b"Hel"
    parser.feed(wire[9:12])
    assert parser.pending_payload(3) == b"lo "
    assert parser.pending_payload(5) == b" "
    parser.feed(wire[12:])
    assert parser.pending_frame() is None  # complete: next_frame() returns it
    assert parser.next_frame() == Frame(Opcode.TEXT, b"Hello world")


def test_apply_mask(apply_mask: MaskFunction) -> None:
    assert apply_mask(b"Hello", MASK) == b"\x7f\x9f\x4d\x51\x58"
    assert apply_mask(b"\x7f\x9f\x4d\x51\x58", MASK) == b"Hello"
    assert apply_mask(b"", MASK) == b""
    assert apply_mask(bytearray(b"\x00" * 9), MASK) == MASK * 2 + MASK[:1]


@pytest.mark.parametrize("function", IMPLEMENTATIONS)
@given(st.binary(max_size=300), st.binary(min_size=4, max_size=4), st.integers(0, 7))
def test_apply_mask_matches_the_definition(
    function: MaskFunction, data: bytes, mask: bytes, offset: int
) -> None:
    # 5.3: "octet i of the transformed data is the XOR of octet i of the original data with
    # octet at index i modulo 4 of the masking key"
    expected = bytes(b ^ mask[i % 4] for i, b in enumerate(data[offset:]))
    assert function(data[offset:], mask) == expected
    assert function(memoryview(data)[offset:], mask) == expected  # unaligned views


@pytest.mark.parametrize("function", IMPLEMENTATIONS)
def test_apply_mask_big_payloads(function: MaskFunction) -> None:
    data = bytes(range(256)) * 4096 + b"tail!"  # over the C version's threshold
    assert function(function(data, MASK), MASK) == data
    assert function(data, MASK) == _apply_mask_py(data, MASK)


def test_the_accelerator_checks_its_arguments() -> None:
    function = IMPLEMENTATIONS[-1]
    if function is _apply_mask_py:
        return  # not built here: nothing more to check
    with pytest.raises(ValueError, match="4 bytes"):
        function(b"data", b"abc")
    with pytest.raises(TypeError):
        function("text", MASK)  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        function(b"data")  # type: ignore[call-arg]


@pytest.mark.parametrize(
    ("code", "ok"),
    [
        (999, False), (1000, True), (1001, True), (1002, True), (1003, True),
        (1004, False), (1005, False), (1006, False), (1007, True), (1011, True),
        (1014, True), (1015, False), (1016, False), (2999, False), (3000, True),
        (4999, True), (5000, False), (0, False), (65535, False),
    ],
)  # fmt: skip
def test_close_code_validation(code: int, ok: bool) -> None:
    assert check_close_code(code) is ok
    payload = code.to_bytes(2, "big") + b"bye"
    if ok:
        assert parse_close(payload) == (code, "bye")
        assert serialize_close(code, "bye") == payload
    else:
        with pytest.raises(ProtocolError, match=f"invalid close code {code}"):
            parse_close(payload)
        if code != CloseCode.NO_STATUS_RCVD:
            with pytest.raises(ValueError):
                serialize_close(code)


def test_close_payloads() -> None:
    assert parse_close(b"") == (CloseCode.NO_STATUS_RCVD, "")
    assert serialize_close(CloseCode.NO_STATUS_RCVD) == b""
    assert serialize_close(1000) == b"\x03\xe8"
    assert parse_close(b"\x03\xe8\xc3\xa9t\xc3\xa9") == (1000, "été")
    with pytest.raises(ProtocolError, match="1-byte body"):
        parse_close(b"\x03")
    with pytest.raises(InvalidUTF8) as info:
        parse_close(b"\x03\xe8\xff")
    assert info.value.close_code == CloseCode.INVALID_DATA
    assert len(serialize_close(1000, "x" * 123)) == 125
    with pytest.raises(ValueError, match="123 bytes"):
        serialize_close(1000, "x" * 124)


frames = st.builds(
    Frame,
    opcode=st.sampled_from([Opcode.CONTINUATION, Opcode.TEXT, Opcode.BINARY]),
    payload=st.binary(max_size=70000) | st.binary(max_size=200),
    fin=st.booleans(),
    rsv=st.sampled_from([0, RSV1, RSV2, RSV3, RSV1 | RSV2 | RSV3]),
) | st.builds(
    Frame,
    opcode=st.sampled_from([Opcode.CLOSE, Opcode.PING, Opcode.PONG]),
    payload=st.binary(max_size=125),
    fin=st.just(True),
    rsv=st.just(0),
)


@settings(
    max_examples=200,
    deadline=None,
    # the fixture only swaps a module attribute: nothing to reset between examples
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(
    st.lists(frames, min_size=1, max_size=5),
    st.booleans(),
    st.lists(st.integers(min_value=1, max_value=70000), max_size=10),
    st.binary(min_size=4, max_size=4),
)
def test_round_trip(
    apply_mask: MaskFunction, frame_list: list[Frame], masked: bool, cuts: list[int], mask: bytes
) -> None:
    key = mask if masked else None
    wire = b"".join(
        serialize_frame(f.opcode, f.payload, fin=f.fin, rsv=f.rsv, mask_key=key) for f in frame_list
    )
    parser = FrameParser(require_mask=masked, allowed_rsv=RSV1 | RSV2 | RSV3)
    received: list[Frame] = []
    pos = 0
    for cut in [*cuts, len(wire)]:  # arbitrary chunking
        parser.feed(wire[pos : pos + cut])
        pos += cut
        while (frame := parser.next_frame()) is not None:
            received.append(frame)
    parser.feed(wire[pos:])
    while (frame := parser.next_frame()) is not None:
        received.append(frame)
    assert received == frame_list
    assert parser.buffered == 0


@settings(max_examples=500, deadline=None)
@given(
    st.lists(st.binary(max_size=40), max_size=8),
    st.booleans(),
    st.sampled_from([0, RSV1]),
    st.none() | st.integers(min_value=0, max_value=100),
)
def test_fuzz_parser_raises_only_its_own_errors(
    chunks: list[bytes], require_mask: bool, allowed_rsv: int, max_payload: int | None
) -> None:
    parser = FrameParser(
        require_mask=require_mask, allowed_rsv=allowed_rsv, max_payload=max_payload
    )
    try:
        for chunk in chunks:
            parser.feed(chunk)
            while parser.next_frame() is not None:
                pass
            if parser.pending_frame() is not None:
                parser.pending_payload()
    except WebSocketError:
        pass


def test_small_frames_fast_path() -> None:
    mask = b"\x01\x02\x03\x04"
    parser = FrameParser(require_mask=True)
    text = serialize_frame(Opcode.TEXT, b"hello", mask_key=mask)
    assert text[:2] == b"\x81\x85"
    assert parser.small_frames(text) == [(Opcode.TEXT, b"hello")]
    assert parser.small_frames(b"\x82\x80" + mask) == [(Opcode.BINARY, b"")]
    largest = serialize_frame(Opcode.BINARY, b"x" * 125, mask_key=mask)
    assert parser.small_frames(largest + text + largest) == [
        (Opcode.BINARY, b"x" * 125),
        (Opcode.TEXT, b"hello"),
        (Opcode.BINARY, b"x" * 125),
    ]
    assert parser.buffered == 0  # nothing was buffered


SMALL = serialize_frame(Opcode.TEXT, b"hello", mask_key=b"abcd")


@pytest.mark.parametrize(
    "data",
    [
        b"\x81\x85\x01\x02",  # incomplete header
        SMALL[:-1],  # incomplete payload
        SMALL + b"\x81",  # an incomplete frame behind
        SMALL + SMALL[:7],
        serialize_frame(Opcode.TEXT, b"x" * 126, mask_key=b"abcd"),  # 16-bit length
        serialize_frame(Opcode.TEXT, b"hello"),  # unmasked
        serialize_frame(Opcode.TEXT, b"hello", fin=False, mask_key=b"abcd"),
        serialize_frame(Opcode.CONTINUATION, b"hello", mask_key=b"abcd"),
        serialize_frame(Opcode.TEXT, b"hello", rsv=RSV1, mask_key=b"abcd"),
        SMALL + serialize_frame(Opcode.PING, b"hello", mask_key=b"abcd"),  # a control frame
        serialize_frame(Opcode.TEXT, b"x" * 11, mask_key=b"abcd"),  # over max_payload
    ],
)
def test_small_frames_leave_the_rest_to_the_general_path(data: bytes) -> None:
    assert FrameParser(require_mask=True, max_payload=10).small_frames(data) is None


def test_small_frames_only_with_nothing_buffered_and_on_a_server() -> None:
    parser = FrameParser(require_mask=True)
    parser.feed(SMALL[:1])
    assert parser.small_frames(SMALL) is None
    client_side = FrameParser(require_mask=False)
    assert client_side.small_frames(SMALL) is None
