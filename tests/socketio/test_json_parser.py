"""The JSON parser against the byte vectors of the Socket.IO v5 protocol document
(docs/socket.io-protocol/v5-current.md), plus validation, limits and a fuzz of the decoder."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sio_loopback import Peer, echo_server, settle

from rtio.socketio.packet import Packet, PacketType
from rtio.socketio.parsers import ParseError
from rtio.socketio.parsers.json_parser import JsonDecoder, JsonParser

P = JsonParser()
T = PacketType


def decode_all(*messages: str | bytes, parser: JsonParser = P) -> Packet | None:
    decoder = parser.new_decoder()
    out = None
    for m in messages:
        out = decoder.feed(m)
    return out


# (packet, wire messages) from the protocol document's examples
VECTORS: list[tuple[Packet, list[str | bytes]]] = [
    (Packet(T.CONNECT), ["0"]),
    (Packet(T.CONNECT, "/admin"), ["0/admin,"]),
    (Packet(T.CONNECT, "/admin", {"token": "123"}), ['0/admin,{"token":"123"}']),
    (Packet(T.CONNECT, "/", {"sid": "oSO0OpakMV_3jnilAAAA"}), ['0{"sid":"oSO0OpakMV_3jnilAAAA"}']),
    (
        Packet(T.CONNECT_ERROR, "/", {"message": "Not authorized"}),
        ['4{"message":"Not authorized"}'],
    ),
    (Packet(T.DISCONNECT, "/admin"), ["1/admin,"]),
    (Packet(T.EVENT, "/", ["foo"]), ['2["foo"]']),
    (Packet(T.EVENT, "/admin", ["bar"]), ['2/admin,["bar"]']),
    (Packet(T.EVENT, "/", ["foo"], 12), ['212["foo"]']),
    (Packet(T.ACK, "/admin", ["bar"], 13), ['3/admin,13["bar"]']),
    (
        Packet(T.EVENT, "/admin", ["project:delete", 123], 456),
        ['2/admin,456["project:delete",123]'],
    ),
    (Packet(T.ACK, "/admin", [], 456), ["3/admin,456[]"]),
    (
        Packet(T.BINARY_EVENT, "/", ["baz", b"\x01\x02\x03\x04"]),
        ['51-["baz",{"_placeholder":true,"num":0}]', b"\x01\x02\x03\x04"],
    ),
    (
        Packet(T.BINARY_ACK, "/admin", [b"\x03"], 15),
        ['61-/admin,15[{"_placeholder":true,"num":0}]', b"\x03"],
    ),
]


@pytest.mark.parametrize(("packet", "wire"), VECTORS)
def test_encode_matches_protocol_document(packet: Packet, wire: list[str | bytes]) -> None:
    assert P.encode(packet) == wire


@pytest.mark.parametrize(("packet", "wire"), VECTORS)
def test_decode_matches_protocol_document(packet: Packet, wire: list[str | bytes]) -> None:
    assert decode_all(*wire) == packet


def test_encode_event_with_bytes_becomes_binary_event() -> None:
    packet = Packet(T.EVENT, "/", ["up", {"a": [1, bytearray(b"xy")], "b": memoryview(b"z")}])
    assert P.encode(packet) == [
        '52-["up",{"a":[1,{"_placeholder":true,"num":0}],"b":{"_placeholder":true,"num":1}}]',
        b"xy",
        b"z",
    ]
    ack = Packet(T.ACK, "/x", [b"1"], 7)
    assert P.encode(ack)[0] == '61-/x,7[{"_placeholder":true,"num":0}]'


def test_encode_is_compact_and_keeps_unicode() -> None:
    assert P.encode(Packet(T.EVENT, "/", ["é", {"k": [1, 2]}])) == ['2["é",{"k":[1,2]}]']


def test_encode_refuses_non_json() -> None:
    with pytest.raises(TypeError):
        P.encode(Packet(T.EVENT, "/", ["x", {1, 2}]))
    # NaN and the infinities are null, as JSON.stringify writes them (issue 12 defect 10)
    assert P.encode(Packet(T.EVENT, "/", ["x", float("nan")])) == ['2["x",null]']


def test_decode_binary_nested_placeholders() -> None:
    d = P.new_decoder()
    assert (
        d.feed('52-/n,9["m",{"a":[{"_placeholder":true,"num":1}]},{"_placeholder":true,"num":0}]')
        is None
    )
    assert d.feed(b"first") is None
    packet = d.feed(b"second")
    assert packet == Packet(T.BINARY_EVENT, "/n", ["m", {"a": [b"second"]}, b"first"], 9)
    # the decoder is ready for the next packet
    assert d.feed('2["x"]') == Packet(T.EVENT, "/", ["x"])


def test_decode_namespace_without_comma() -> None:
    assert decode_all("0/random") == Packet(T.CONNECT, "/random")
    assert decode_all("1/custom") == Packet(T.DISCONNECT, "/custom")


@pytest.mark.parametrize(
    "message",
    [
        "",
        "7",
        "a",
        "4abc",  # CONNECT_ERROR with a non-JSON payload
        "42{}"[1:],  # "2{}": event payload not an array
        "2{}",
        '2abc["message",1]',  # invalid ack id
        "2[]",  # no event name
        '2["connect"]',  # reserved event name
        '2["disconnecting"]',
        "2[true]",
        "2[null]",
        "2",  # event without payload
        "3",
        '3{"a":1}',
        '0"str"',  # CONNECT payload must be an object
        "0[]",
        "1{}",  # DISCONNECT carries no payload
        '1"x"',
        "5-[]",  # no attachment count
        "5x-[]",
        '511-["a"]',  # more than 10 attachments
        '2["a",NaN]',
        '2["a",Infinity]',
        '2["a"',
        "2" + "1" * 17 + '["a"]',  # absurd ack id
        '2\u0663["a"]',  # an Arabic-Indic digit: str.isdigit() says yes, the protocol no
        '2["a"]x',  # garbage after the JSON
        '2["a",' + "[" * 100_000 + "]" * 100_000 + "]",  # deeper than the scanner goes
        '51-["a",' + "[" * 100_000 + "]" * 100_000 + "]",
    ],
)
def test_decode_refuses_invalid(message: str) -> None:
    with pytest.raises(ParseError):
        decode_all(message)


@pytest.mark.parametrize(
    "message",
    [
        '2["a"]',
        '21["a",1,{"b":[true,null]}]',
        "3" + "9" * 16 + '["x"]',  # the longest ack id
        "3[]",  # an ACK without id: valid, ignored by the socket
        '32[{"_placeholder":true,"num":0}]',  # not BINARY_ACK: stays a plain dict
        '2[1.5,"numeric event name"]',
        '2["a"] ',  # trailing whitespace: the general path
        '2 ["a"]',
        '2/admin,1["a"]',
        '2/x[y,1["a"]',  # a namespace with a "[" in it
        '0{"token":"t"}',
    ],
)
def test_the_common_shapes_decode_as_the_general_path_does(message: str) -> None:
    from rtio.socketio.parsers.json_parser import decode_text

    assert decode_all(message) == decode_text(message)[0]


def test_decode_refuses_bad_placeholders() -> None:
    for bad in (
        '{"_placeholder":true,"num":1}',
        '{"_placeholder":true,"num":"0"}',
        '{"_placeholder":true}',
        '{"_placeholder":true,"num":-1}',
    ):
        d = P.new_decoder()
        assert d.feed(f'51-["a",{bad}]') is None
        with pytest.raises(ParseError):
            d.feed(b"x")
    with pytest.raises(ParseError):
        decode_all('50-["a",{"_placeholder":true,"num":0}]')


def test_decode_refuses_out_of_sequence_messages() -> None:
    with pytest.raises(ParseError):
        decode_all(b"\x01")
    d = P.new_decoder()
    d.feed('51-["a",{"_placeholder":true,"num":0}]')
    with pytest.raises(ParseError):
        d.feed('2["b"]')


def test_limits() -> None:
    small = JsonParser(max_attachments=2, max_packet_size=64)
    with pytest.raises(ParseError):
        decode_all('53-["a"]', parser=small)
    assert decode_all('52-["a"]', b"", b"", parser=small) == Packet(T.BINARY_EVENT, "/", ["a"])
    with pytest.raises(ParseError):
        decode_all('2["' + "x" * 80 + '"]', parser=small)
    d = small.new_decoder()
    d.feed('51-["a",{"_placeholder":true,"num":0}]')
    with pytest.raises(ParseError):
        d.feed(b"y" * 40)


def test_zero_attachments_binary_event_is_complete() -> None:
    assert decode_all('50-["a",1]') == Packet(T.BINARY_EVENT, "/", ["a", 1])
    assert P.encode(Packet(T.BINARY_EVENT, "/", ["a"])) == ['50-["a"]']


json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-(2**53), 2**53)
    | st.text(max_size=8)
    | st.binary(max_size=8),
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=5), inner, max_size=4)
    ),
    max_leaves=8,
)


def _strip_placeholder_keys(value: Any) -> bool:
    """Dicts that look like placeholders would be decoded as such; hypothesis may build one."""
    if isinstance(value, dict):
        return "_placeholder" not in value and all(
            _strip_placeholder_keys(v) for v in value.values()
        )
    if isinstance(value, list):
        return all(_strip_placeholder_keys(v) for v in value)
    return True


@settings(max_examples=300, deadline=None)
@given(
    name=st.text(min_size=1, max_size=10).filter(lambda s: s not in {"connect", "disconnect"}),
    args=st.lists(json_values, max_size=4),
    nsp=st.sampled_from(["/", "/admin", "/a-b/c"]),
    ack=st.none() | st.integers(0, 2**53 - 1),
)
def test_round_trip(name: str, args: list[Any], nsp: str, ack: int | None) -> None:
    from rtio.socketio.parsers.json_parser import RESERVED_EVENTS

    if name in RESERVED_EVENTS or not _strip_placeholder_keys(args):
        return
    packet = Packet(T.EVENT, nsp, [name, *args], ack)
    wire = P.encode(packet)
    decoded = decode_all(*wire, parser=JsonParser(max_attachments=1000))
    assert decoded is not None
    assert decoded.nsp == nsp and decoded.id == ack and decoded.data == [name, *args]
    assert decoded.type == (T.BINARY_EVENT if len(wire) > 1 else T.EVENT)


@settings(max_examples=2000, deadline=None)
@given(st.lists(st.text(max_size=40) | st.binary(max_size=10), min_size=1, max_size=4))
def test_fuzz_decoder_raises_only_parse_error(messages: list[str | bytes]) -> None:
    d: JsonDecoder = P.new_decoder()
    for m in messages:
        try:
            packet = d.feed(m)
        except ParseError:
            return
        if packet is not None:
            assert isinstance(packet.type, PacketType)
            assert packet.nsp.startswith("/")


@settings(max_examples=1000, deadline=None)
@given(
    st.sampled_from("0123456"),
    st.sampled_from(["", "1-", "2-", "0-", "x-"]),
    st.sampled_from(["", "/a,", "/a", "/"]),
    st.sampled_from(["", "1", "99", "abc"]),
    st.sampled_from(
        [
            "",
            "[]",
            '["a"]',
            '{"a":1}',
            '"s"',
            "[",
            '["a",{"_placeholder":true,"num":0}]',
            '[{"_placeholder":true,"num":5}]',
            "null",
            "1",
        ]
    ),
)
def test_fuzz_decoder_structured(t: str, att: str, nsp: str, ack: str, body: str) -> None:
    d = P.new_decoder()
    try:
        d.feed(t + att + nsp + ack + body)
        d.feed(b"\x00")
        d.feed(b"\x01")
    except ParseError:
        pass


_JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=8),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=4), inner),
    max_leaves=8,
)


@settings(max_examples=1000, deadline=None)
@given(
    st.sampled_from("23"),
    st.sampled_from(["", "0", "7", "0123", "9" * 16, "9" * 17, "\u0663", "/a,", " "]),
    st.lists(_JSON_VALUES, max_size=4),
    st.sampled_from(["", " ", "x", "]"]),
)
def test_fuzz_the_common_shapes_agree_with_the_general_path(
    t: str, ack: str, args: list[Any], tail: str
) -> None:
    import json

    from rtio.socketio.parsers.json_parser import decode_text

    message = t + ack + json.dumps(args, separators=(",", ":")) + tail
    try:
        expected: Packet | None = decode_text(message)[0]
    except ParseError:
        expected = None
    try:
        got: Packet | None = decode_all(message)
    except ParseError:
        got = None
    assert got == expected


async def test_an_echoed_1e400_is_answered_with_null() -> None:
    """Issue 12 defect 10: ``1e400`` decodes to inf, which JSON cannot carry; Node answers
    null (JSON.stringify). On 0d24665 the ack was dropped: the client waited for ever."""
    peer = Peer(echo_server())
    await peer.connect()
    peer.feed(
        '21["echo",1e400]',
        '22["aecho",[-1e400,{"a":1e999}],"kept",1.5]',
        '23["echo",{"deep":[[[[1e400]]]]}]',
    )
    await settle()
    assert sorted(peer.take()) == [  # in the order they finish: aecho awaits
        "31[null]",
        '32[[null,{"a":null}],"kept",1.5]',
        '33[{"deep":[[[[null]]]]}]',
    ]


def test_the_json_encoder_writes_null_for_infinity_and_nan() -> None:
    """Issue 12 defect 10, at the codec: as JSON.stringify (a key as String(key))."""
    from rtio.socketio.packet import Packet, PacketType
    from rtio.socketio.parsers.json_parser import JsonParser

    inf, nan = float("inf"), float("nan")
    encode = JsonParser().encode
    assert encode(Packet(PacketType.EVENT, "/", ["x", nan, {"a": [inf]}, {-inf: 1}])) == [
        '2["x",null,{"a":[null]},{"-Infinity":1}]'
    ]
    assert encode(Packet(PacketType.EVENT, "/", ["x", b"\x01", (inf,)])) == [
        '51-["x",{"_placeholder":true,"num":0},[null]]',
        b"\x01",
    ]
    assert JsonParser().encode_ack("/", 7, [inf]) == ["37[null]"]
    with pytest.raises(TypeError):
        encode(Packet(PacketType.EVENT, "/", ["x", object()]))
