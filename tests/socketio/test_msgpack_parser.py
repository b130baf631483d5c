"""The msgpack parser on byte literals: the packet map, notepack 2.2's extension types, the
decoder's checks and limits, the exact reader against msgpack's own, and fuzz runs.

The vectors the real npm parser produces are in test_msgpack_node.py."""

from __future__ import annotations

import datetime as dt
import math
from typing import Any

import msgpack  # type: ignore[import-untyped]
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from msgpack_wire import (
    DATA,
    ID,
    JSONISH,
    NSP,
    ROOT,
    TYPE,
    UNDEFINED,
    UTC,
    P,
    T,
    decode,
    event,
)
from sio_loopback import Peer, echo_server, settle

from rtio.socketio.packet import Packet
from rtio.socketio.parsers import MsgpackParser, ParseError
from rtio.socketio.parsers.msgpack_parser import JsDate, MsgpackDecoder
from rtio.socketio.parsers.msgpack_reader import ExactReader

# -- encoding ---------------------------------------------------------------------------------

ENCODED: list[tuple[Packet, bytes]] = [
    (Packet(T.CONNECT), b"\x82" + TYPE + b"\x00" + NSP + ROOT),
    (
        Packet(T.CONNECT, "/admin", {"token": "123"}),
        b"\x83" + TYPE + b"\x00" + NSP + b"\xa6/admin" + DATA + b"\x81\xa5token\xa3123",
    ),
    (Packet(T.DISCONNECT, "/admin"), b"\x82" + TYPE + b"\x01" + NSP + b"\xa6/admin"),
    (
        Packet(T.EVENT, "/", ["hello", 1], 12),
        b"\x84" + TYPE + b"\x02" + NSP + ROOT + DATA + b"\x92\xa5hello\x01" + ID + b"\x0c",
    ),
    (
        Packet(T.ACK, "/", [], 2**32),
        b"\x84" + TYPE + b"\x03" + NSP + ROOT + DATA + b"\x90" + ID + b"\xcf\x00\x00\x00\x01"
        b"\x00\x00\x00\x00",
    ),
    (Packet(T.CONNECT_ERROR, "/", "no"), b"\x83" + TYPE + b"\x04" + NSP + ROOT + DATA + b"\xa2no"),
    # Binary rides inside the map as bin: a BINARY_* packet goes out as EVENT/ACK.
    (Packet(T.BINARY_EVENT, "/", ["up", b"\x01\x02"]), event(b"\xa2up", b"\xc4\x02\x01\x02")),
    (
        Packet(T.BINARY_ACK, "/", [bytearray(b"\x03")], 15),
        b"\x84" + TYPE + b"\x03" + NSP + ROOT + DATA + b"\x91\xc4\x01\x03" + ID + b"\x0f",
    ),
    # Dates are notepack's: fixext 8, type 0, int64 ms; naive means UTC; µs are truncated.
    (
        Packet(T.EVENT, "/", ["d", dt.datetime(1970, 1, 1, 0, 0, 1, 2999, tzinfo=UTC)]),
        event(b"\xa1d", b"\xd7\x00" + (1002).to_bytes(8, "big")),
    ),
    (
        Packet(T.EVENT, "/", ["d", dt.datetime(1969, 12, 31, 23, 59, 59, 999999)]),
        event(b"\xa1d", b"\xd7\x00" + b"\xff" * 8),
    ),
    (
        Packet(T.EVENT, "/", ["d", JsDate(-(2**40))]),
        event(b"\xa1d", b"\xd7\x00\xff\xff\xff\x00" + bytes(4)),
    ),
    # Integers beyond 64 bits become the nearest double, as a JSON client would read them.
    (Packet(T.EVENT, "/", ["i", 2**64]), event(b"\xa1i", b"\xcb\x43\xf0" + bytes(6))),
    (Packet(T.EVENT, "/", ["i", -(10**400)]), event(b"\xa1i", b"\xcb\xff\xf0" + bytes(6))),
    (Packet(T.EVENT, "/", ["n", math.nan]), event(b"\xa1n", b"\xcb\x7f\xf8" + bytes(6))),
    # A dict's int keys stay ints on the wire (JS reads them as strings).
    (Packet(T.EVENT, "/", ["k", {1: "a"}]), event(b"\xa1k", b"\x81\x01\xa1a")),
]


@pytest.mark.parametrize(("packet", "wire"), ENCODED)
def test_encode(packet: Packet, wire: bytes) -> None:
    assert P.encode(packet) == [wire]


def test_encode_refuses_unknown_types_and_recovers() -> None:
    with pytest.raises(TypeError, match="not msgpack serializable"):
        P.encode(Packet(T.EVENT, "/", ["x", object()]))
    # The failed packet left nothing behind in the (per-thread, reused) packer.
    assert P.encode(Packet(T.CONNECT)) == [b"\x82" + TYPE + b"\x00" + NSP + ROOT]


# -- decoding ---------------------------------------------------------------------------------


def test_decode_what_socket_io_client_sends() -> None:
    # Socket.emit hands the encoder {type, data, options, id, nsp}: order and extra keys
    # do not matter.
    wire = (
        b"\x85" + TYPE + b"\x02" + DATA + b"\x92\xa4chat\xa2hi" + b"\xa7options\x81\xa8compress"
        b"\xc3" + ID + b"\x03" + NSP + ROOT
    )
    assert decode(wire) == Packet(T.EVENT, "/", ["chat", "hi"], 3)


@pytest.mark.parametrize(
    ("item", "value"),
    [
        (UNDEFINED, None),  # notepack's undefined
        (b"\xd4\x00\x07", None),  # its data byte is not read
        (b"\xc7\x01\x00\x07", b"\x07"),  # a 1-byte ArrayBuffer, not undefined
        (b"\xc7\x00\x00", b""),
        (
            b"\xd7\x00" + (1700000000123).to_bytes(8, "big"),
            dt.datetime(2023, 11, 14, 22, 13, 20, 123000, tzinfo=UTC),
        ),
        (b"\xc7\x08\x00" + (1).to_bytes(8, "big"), (1).to_bytes(8, "big")),  # ArrayBuffer
        (b"\xc9\x00\x00\x00\x08\x00" + bytes(8), bytes(8)),
        (b"\xc8\x00\x03\x00abc", b"abc"),
        (b"\xd5\x00ab", [0, b"ab"]),  # fixext 2 type 0: notepack gives [0, Buffer]
        (b"\xd6\x00abcd", [0, b"abcd"]),
        (b"\xd8\x00" + bytes(16), [0, bytes(16)]),
        (b"\xd4\x05\x01", [5, b"\x01"]),  # an unknown ext type
        (b"\xd6\xff\x00\x00\x00\x01", msgpack.Timestamp(1, 0)),  # msgpack's Timestamp
        (b"\xc7\x03\xff\x00\x00\x00", [-1, b"\x00\x00\x00"]),  # ... or not even one
        # Dates Python cannot hold
        (b"\xd7\x00" + (253402300800000).to_bytes(8, "big"), JsDate(253402300800000)),
        (b"\xd7\x00" + (-62135596800001).to_bytes(8, "big", signed=True), JsDate(-62135596800001)),
        (b"\xa3\xd4\x00\x00", "\ufffd\x00\x00"),  # undefined's bytes in a string are text
        (b"\xa2\xff\xfe", "\ufffd\ufffd"),  # invalid UTF-8 reads as JS reads it
        (b"\xcb\x7f\xf0" + bytes(6), math.inf),
        (b"\xca\x3f\xc0\x00\x00", 1.5),
        (b"\x81\x01\xa1a", {1: "a"}),  # int keys stay ints
        (b"\x81\x92\x01\x02\x01", {"1,2": 1}),  # an array key: JS's string of it
        (b"\x81\x81\xa1a\x01\x02", {"[object Object]": 2}),
        (b"\x81" + UNDEFINED + b"\x01", {None: 1}),  # JS has "undefined": not reproduced
        (b"\x81\xd5\x07ab\x01", {"7,ab": 1}),  # an unknown ext as a key
    ],
)
def test_decode_values(item: bytes, value: Any) -> None:
    assert decode(event(b"\xa1x", item)).data == ["x", value]


def test_undefined_data_or_id_is_absent_and_nil_is_not() -> None:
    connect = b"\x83" + TYPE + b"\x00" + NSP + ROOT + DATA
    assert decode(connect + UNDEFINED) == Packet(T.CONNECT)
    assert decode(connect + b"\x80") == Packet(T.CONNECT, "/", {})
    with pytest.raises(ParseError, match="invalid payload"):
        decode(connect + b"\xc0")
    disconnect = b"\x83" + TYPE + b"\x01" + NSP + ROOT + DATA
    assert decode(disconnect + UNDEFINED) == Packet(T.DISCONNECT)
    # python-socketio's msgpack disconnect ({"data": None}) is invalid to the JS decoder.
    with pytest.raises(ParseError, match="invalid payload"):
        decode(disconnect + b"\xc0")
    ev = b"\x84" + TYPE + b"\x02" + NSP + ROOT + DATA + b"\x91\xa1e" + ID
    assert decode(ev + UNDEFINED) == Packet(T.EVENT, "/", ["e"])
    assert decode(ev + b"\xcb\x40\x08" + bytes(6)).id == 3  # 3.0 is an integer to JS
    with pytest.raises(ParseError, match="invalid packet id"):
        decode(ev + b"\xc0")
    # undefined elsewhere in the packet is None
    assert decode(
        event(b"\xa1u", UNDEFINED, b"\x91" + UNDEFINED, b"\x81\xa1a" + UNDEFINED)
    ).data == ["u", None, [None], {"a": None}]


def test_keys_are_read_as_js_reads_them() -> None:
    # bin and array keys are strings to JS: b"type" and ["type"] are "type".
    assert decode(b"\x82\xc4\x04type\x00" + NSP + ROOT) == Packet(T.CONNECT)
    assert decode(b"\x82\x91\xa4type\x00" + NSP + ROOT) == Packet(T.CONNECT)
    # ... but an ArrayBuffer is "[object ArrayBuffer]", in an array key too.
    with pytest.raises(ParseError, match="invalid packet type"):
        decode(b"\x82\xc7\x04\x00type\x00" + NSP + ROOT)
    with pytest.raises(ParseError, match="invalid packet type"):
        decode(b"\x82\x91\xc7\x04\x00type\x00" + NSP + ROOT)
    assert decode(b"\x83" + TYPE + b"\x00" + NSP + ROOT + b"\xc7\x03\x00nsp\x05") == Packet(
        T.CONNECT
    )
    # undefined as a key of the packet map is "undefined": no field
    assert decode(b"\x83" + TYPE + b"\x00" + NSP + ROOT + UNDEFINED + b"\x01") == Packet(T.CONNECT)
    # The last of two equal keys wins.
    assert decode(b"\x83" + TYPE + b"\x01" + NSP + ROOT + TYPE + b"\x00") == Packet(T.CONNECT)


@pytest.mark.parametrize(
    ("message", "error"),
    [
        (b"", "invalid msgpack"),
        (b"\xc1", "invalid msgpack"),
        (b"\x82" + TYPE + b"\x00" + NSP + ROOT + b"\x00", "invalid msgpack"),  # trailing
        (b"\x82" + TYPE + b"\x00" + NSP + b"\xa2/", "invalid msgpack"),  # truncated
        # A 2 GiB ArrayBuffer announced in 12 bytes (notepack allocates it; we do not).
        (b"\x82" + TYPE + b"\xc9\x80\x00\x00\x00\x00" + NSP + ROOT, "invalid msgpack"),
        (b"\x81" + TYPE + b"\xdd\xff\xff\xff\xff", "invalid msgpack"),  # 4G items
        (b"\x92\x00\xa1/", "invalid packet type"),  # not a map
        (b"\x81" + NSP + ROOT, "invalid packet type"),
        (b"\x82" + TYPE + b"\x05" + NSP + ROOT, "invalid packet type"),  # no BINARY_EVENT
        (b"\x82" + TYPE + b"\xff" + NSP + ROOT, "invalid packet type"),
        (b"\x82" + TYPE + b"\xcb\x3f\xe0" + bytes(6) + NSP + ROOT, "invalid packet type"),  # 0.5
        (b"\x82" + TYPE + b"\xc3" + NSP + ROOT, "invalid packet type"),  # true
        (b"\x82" + TYPE + b"\xa10" + NSP + ROOT, "invalid packet type"),
        (b"\x81" + TYPE + b"\x00", "invalid namespace"),
        (b"\x82" + TYPE + b"\x00" + NSP + b"\xc4\x01/", "invalid namespace"),
        (b"\x83" + TYPE + b"\x00" + NSP + ROOT + DATA + b"\x90", "invalid payload"),
        (b"\x83" + TYPE + b"\x04" + NSP + ROOT + DATA + b"\x90", "invalid payload"),
        (b"\x83" + TYPE + b"\x03" + NSP + ROOT + DATA + b"\x80", "invalid payload"),
        (b"\x82" + TYPE + b"\x03" + NSP + ROOT, "invalid payload"),
        (b"\x83" + TYPE + b"\x02" + NSP + ROOT + DATA + b"\xa1x", "invalid payload"),
        # The one check the JS decoder lacks: an event's name.
        (event(), "an event needs a name"),
        (event(b"\xa7connect"), "reserved event name"),
        (event(b"\xc0"), "a string or a number"),
        (event(b"\x91\x01"), "a string or a number"),
        (
            b"\x84" + TYPE + b"\x03" + NSP + ROOT + DATA + b"\x90" + ID + b"\xa11",
            "invalid packet id",
        ),
        (
            b"\x84"
            + TYPE
            + b"\x03"
            + NSP
            + ROOT
            + DATA
            + b"\x90"
            + ID
            + b"\xcb\x7f\xf8"
            + bytes(6),
            "invalid packet id",
        ),
    ],
)
def test_decode_refuses(message: bytes, error: str) -> None:
    with pytest.raises(ParseError, match=error):
        decode(message)


def test_decode_accepts_what_the_js_decoder_accepts() -> None:
    # type as any integral number, a negative or huge ack id, an ext as an array of args
    assert decode(b"\x82" + TYPE + b"\xcb" + b"\x80" + bytes(7) + NSP + ROOT).type is T.CONNECT
    ack = b"\x84" + TYPE + b"\x03" + NSP + ROOT + DATA + b"\x90" + ID
    assert decode(ack + b"\xff").id == -1
    assert decode(ack + b"\xcf" + b"\xff" * 8).id == 2**64 - 1
    assert decode(b"\x83" + TYPE + b"\x03" + NSP + ROOT + DATA + b"\xd4\x05\x01").data == [
        5,
        b"\x01",
    ]


def test_decode_refuses_text_and_oversized_messages() -> None:
    with pytest.raises(ParseError, match="binary messages only"):
        P.new_decoder().feed('{"type":0}')
    small = MsgpackParser(max_packet_size=13)
    assert decode(b"\x82" + TYPE + b"\x00" + NSP + ROOT, small) == Packet(T.CONNECT)
    with pytest.raises(ParseError, match="too large"):
        decode(b"\x82" + TYPE + b"\x00" + NSP + b"\xa2/a", small)


@pytest.mark.parametrize("exact", [False, True])
def test_nesting_limit_is_msgpacks_in_both_readers(exact: bool) -> None:
    # An ambiguous ext (a 1-byte ArrayBuffer) before the nesting sends the message to the
    # exact reader.
    extra = (b"\xc7\x01\x00\x01",) if exact else ()
    ok = event(b"\xa1d", *extra, b"\x91" * 1021 + b"\x90")  # 1024 with the map and data
    assert decode(ok).data[-1] is not None
    with pytest.raises(ParseError, match="invalid msgpack"):
        decode(event(b"\xa1d", *extra, b"\x91" * 1022 + b"\x90"))
    # 1025 containers, the last one empty: refused by both.
    wire = b"\x91" * 1024 + b"\x90"
    with pytest.raises(ParseError, match="too deeply nested" if exact else "StackError"):
        ExactReader(wire, MsgpackDecoder()._other_ext).read() if exact else decode(wire)
    # 1024 containers around a scalar: read by both.
    fine = b"\x91" * 1024 + b"\x00"
    for value in (ExactReader(fine, MsgpackDecoder()._other_ext).read(), msgpack.unpackb(fine)):
        for _ in range(1024):  # (== on lists this deep would exceed the recursion limit)
            [value] = value
        assert value == 0


def test_ext_hook_and_default_carry_application_types() -> None:
    class Point:
        def __init__(self, x: int, y: int) -> None:
            self.x, self.y = x, y

    def default(obj: Any) -> Any:
        if isinstance(obj, Point):
            return msgpack.ExtType(7, bytes([obj.x, obj.y]))
        raise TypeError

    def ext_hook(code: int, data: bytes) -> Any:
        return ("point", data[0], data[1]) if code == 7 else ("other", code)

    parser = MsgpackParser(default=default, ext_hook=ext_hook)
    [wire] = parser.encode(Packet(T.EVENT, "/", ["p", Point(1, 2)]))
    assert wire == event(b"\xa1p", b"\xd5\x07\x01\x02")
    assert decode(wire, parser).data == ["p", ("point", 1, 2)]
    # The hook sees unknown types on the exact path too, and an ext -1 that is no Timestamp.
    wire2 = event(
        b"\xa1p", b"\xd5\x07\x01\x02", b"\xc7\x01\x00\x01", b"\xd6\xff" + bytes(4), b"\xd4\xff\x00"
    )
    assert decode(wire2, parser).data == [
        "p",
        ("point", 1, 2),
        b"\x01",
        msgpack.Timestamp(0, 0),
        ("other", -1),
    ]
    # An ext -1 that is the arguments themselves is what JS makes of it: [-1, Buffer].
    ack = b"\x83" + TYPE + b"\x03" + NSP + ROOT + DATA + b"\xd6\xff\x00\x00\x00\x07"
    assert decode(ack).data == [-1, b"\x00\x00\x00\x07"]


# -- round trips and fuzz ----------------------------------------------------------------------


@settings(max_examples=300, deadline=None)
@given(
    name=st.text(max_size=10).filter(lambda s: s not in ("connect", "disconnect")),
    args=st.lists(JSONISH, max_size=4),
    nsp=st.sampled_from(["/", "/admin", "/ü"]),
    ack=st.none() | st.integers(min_value=0, max_value=2**53),
    ptype=st.sampled_from([T.EVENT, T.ACK]),
)
def test_round_trip(name: str, args: list[Any], nsp: str, ack: int | None, ptype: T) -> None:
    data = [name, *args] if ptype is T.EVENT else args
    packet = Packet(ptype, nsp, data, ack)
    assert decode(P.encode(packet)[0]) == packet


@settings(max_examples=300, deadline=None)
@given(st.datetimes(timezones=st.just(UTC)))
def test_round_trip_datetimes(value: dt.datetime) -> None:
    back = decode(P.encode(Packet(T.EVENT, "/", ["d", value]))[0]).data[1]
    assert back == value.replace(microsecond=value.microsecond // 1000 * 1000)


EXT_PIECES = st.sampled_from(
    [UNDEFINED, b"\xc7\x01\x00\x01", b"\xc7\x08\x00" + bytes(8), b"\xd7\x00" + bytes(8),
     b"\xd5\x00ab", b"\xd6\xff\x00\x00\x00\x01", b"\xd4\x05\x01", b"\xc0", b"\xff", b"\x80"]
)  # fmt: skip


@settings(max_examples=2000, deadline=None)
@given(
    st.binary(max_size=64) | st.lists(EXT_PIECES | st.binary(max_size=4), max_size=12).map(b"".join)
)
def test_fuzz_decoder_raises_only_parse_error(message: bytes) -> None:
    for prefix in (b"", b"\x83" + TYPE + b"\x02" + NSP + ROOT + DATA, b"\x92"):
        try:
            packet = decode(prefix + message)
        except ParseError:
            continue
        assert isinstance(packet, Packet)


@pytest.mark.parametrize("exact", [False, True])
def test_an_ext_hook_that_raises_makes_a_parse_error(exact: bool) -> None:
    def ext_hook(code: int, data: bytes) -> Any:
        raise ValueError("not one of ours")

    parser = MsgpackParser(ext_hook=ext_hook)
    extra = (b"\xc7\x01\x00\x01",) if exact else ()  # a 1-byte ArrayBuffer: the exact reader
    with pytest.raises(ParseError, match="not one of ours"):
        decode(event(b"\xa1x", *extra, b"\xd4\x05\x01"), parser)


def test_decode_what_we_encode() -> None:
    for packet in (
        Packet(T.CONNECT_ERROR, "/", "no"),
        Packet(T.CONNECT_ERROR, "/x", {"message": "no"}),
        Packet(T.CONNECT, "/", {"token": "t"}),
        Packet(T.DISCONNECT, "/admin"),
        Packet(T.ACK, "/", [JsDate(-(2**50))], 1),
    ):
        assert decode(P.encode(packet)[0]) == packet


def test_nil_is_absent_for_python_socketio_clients() -> None:
    # python-socketio's msgpack packets: {"type", "data", "nsp"} with data None when empty.
    lenient = MsgpackParser(nil_is_absent=True)
    connect = msgpack.packb({"type": 0, "data": None, "nsp": "/"})
    disconnect = msgpack.packb({"type": 1, "data": None, "nsp": "/chat"})
    ack = msgpack.packb({"type": 3, "data": [], "nsp": "/", "id": None})
    for wire in (connect, disconnect, ack):
        with pytest.raises(ParseError):
            decode(wire)  # as the JS decoder: invalid
    assert decode(connect, lenient) == Packet(T.CONNECT)
    assert decode(disconnect, lenient) == Packet(T.DISCONNECT, "/chat")
    assert decode(ack, lenient) == Packet(T.ACK, "/", [])
    with pytest.raises(ParseError, match="invalid payload"):  # an event still needs data
        decode(msgpack.packb({"type": 2, "data": None, "nsp": "/"}), lenient)


async def test_msgpack_answers_every_value_it_decodes() -> None:
    """Issue 12 defect 10, the msgpack parser: whatever it decodes it can encode back
    (infinities and NaN travel as float64; big ints, dates, ext types, bin, odd map keys,
    deep nesting), so an echo always answers."""
    import msgpack

    from rtio.socketio.parsers.msgpack_parser import MsgpackParser

    nested: list[object] = []
    for _ in range(1000):
        nested = [nested]
    values = [
        float("inf"),
        float("-inf"),
        float("nan"),
        2**64 - 1,
        -(2**63),
        b"\x00\xff",
        {1: "int key", b"k": "bin key", None: "nil key"},
        msgpack.ExtType(5, b"ext"),
        msgpack.Timestamp(1, 2),
        nested,
    ]
    peer = Peer(echo_server(MsgpackParser()))
    peer.feed(msgpack.packb({"type": 0, "nsp": "/"}))
    await settle()
    peer.take()
    for k, value in enumerate(values):
        data = ["echo", value]
        peer.feed(msgpack.packb({"type": 2, "nsp": "/", "data": data, "id": k}))
    date = b"\xd7\x00" + bytes(8)  # notepack's Date (the epoch), which msgpack cannot name
    peer.feed(b"\x84\xa4type\x02\xa3nsp\xa1/\xa4data\x92\xa4echo" + date + b"\xa2id\x63")
    await settle()
    answered = [msgpack.unpackb(r, strict_map_key=False)["id"] for r in peer.take()]
    assert answered == [*range(len(values)), 99]
    assert not peer.session.closed
