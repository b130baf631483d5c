"""The parser interface (rtio/socketio/parsers/base.py, docs/PARSERS.md): one suite every
parser passes (the JSON one, the msgpack one, and a custom one written the way the docs
say), check_packet's contract, and the application hooks of both built-in parsers."""

from __future__ import annotations

import base64
import dataclasses
import datetime as dt
import enum
import json
from typing import Any

import msgpack  # type: ignore[import-untyped]
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from rtio.socketio.packet import Packet, PacketType
from rtio.socketio.parsers import (
    Decoder,
    JsonParser,
    MsgpackParser,
    ParseError,
    Parser,
    check_packet,
)

T = PacketType
UTC = dt.timezone.utc


# -- a custom parser, as docs/PARSERS.md writes it ------------------------------------------


class Base64JsonParser:
    """Each packet one text message, ``[type, nsp, data, id]`` in JSON, bytes as
    ``{"$b64": "..."}``: for peers that cannot send binary frames."""

    name = "json-b64"

    def encode(self, packet: Packet) -> list[str | bytes]:
        wire_type = {T.BINARY_EVENT: T.EVENT, T.BINARY_ACK: T.ACK}.get(packet.type, packet.type)
        fields = [int(wire_type), packet.nsp, packet.data, packet.id]
        return [json.dumps(fields, separators=(",", ":"), default=_to_b64)]

    def new_decoder(self) -> Decoder:
        return Base64JsonDecoder()


def _to_b64(obj: Any) -> Any:
    if isinstance(obj, (bytes, bytearray, memoryview)):
        return {"$b64": base64.b64encode(obj).decode()}
    raise TypeError(f"{type(obj).__name__} is not JSON serializable")


def _from_b64(obj: dict[str, Any]) -> Any:
    if obj.keys() == {"$b64"} and isinstance(obj["$b64"], str):
        return base64.b64decode(obj["$b64"])
    return obj


class Base64JsonDecoder:
    def feed(self, message: str | bytes) -> Packet | None:
        if not isinstance(message, str):
            raise ParseError("text messages only")
        try:
            fields = json.loads(message, object_hook=_from_b64)
        except (ValueError, TypeError) as exc:  # binascii.Error is a ValueError
            raise ParseError("invalid JSON") from exc
        if type(fields) is not list or len(fields) != 4:
            raise ParseError("not a packet")
        return check_packet(*fields)  # the contract every decoder keeps


PARSERS: list[Parser] = [JsonParser(), MsgpackParser(), Base64JsonParser()]
IDS = [p.name for p in PARSERS]

PACKETS = [
    Packet(T.CONNECT),
    Packet(T.CONNECT, "/admin", {"token": "abc"}),
    Packet(T.DISCONNECT, "/admin"),
    Packet(T.EVENT, "/", ["chat", "hi", 1, 2.5, None, True, {"a": [1, {"b": "c"}]}]),
    Packet(T.EVENT, "/", [7, "a numeric event name"]),
    Packet(T.EVENT, "/x", ["with ack"], 0),
    Packet(T.ACK, "/", [], 42),
    Packet(T.ACK, "/", ["ok", {"n": 2**53}], 2**31),
    Packet(T.CONNECT_ERROR, "/", {"message": "Not authorized", "data": {"code": 401}}),
    Packet(T.CONNECT_ERROR, "/admin", "nope"),
    Packet(T.EVENT, "/", ["bin", b"\x00\x01\xff", {"nested": [b""]}]),
    Packet(T.ACK, "/", [b"ack"], 5),
]


def _feed_all(parser: Parser, messages: list[str | bytes]) -> Packet:
    decoder = parser.new_decoder()
    results = [decoder.feed(m) for m in messages]
    assert results[:-1] == [None] * (len(messages) - 1)  # complete only at the last one
    packet = results[-1]
    assert packet is not None
    return packet


def _without_binary_types(packet: Packet) -> Packet:
    """What the layer above compares: BINARY_* is the JSON wire's business."""
    kind = {T.BINARY_EVENT: T.EVENT, T.BINARY_ACK: T.ACK}.get(packet.type, packet.type)
    return Packet(kind, packet.nsp, packet.data, packet.id)


@pytest.mark.parametrize("parser", PARSERS, ids=IDS)
@pytest.mark.parametrize("packet", PACKETS, ids=lambda p: f"{p.type.name}{p.nsp}")
def test_round_trip(parser: Parser, packet: Packet) -> None:
    messages = parser.encode(packet)
    assert parser.encode(packet) == messages  # pure: a broadcast shares the result
    back = _feed_all(parser, messages)
    assert _without_binary_types(back) == packet


@pytest.mark.parametrize("parser", PARSERS, ids=IDS)
def test_one_decoder_per_connection_keeps_going(parser: Parser) -> None:
    decoder = parser.new_decoder()
    for packet in PACKETS:
        out = [decoder.feed(m) for m in parser.encode(packet)][-1]
        assert out is not None and _without_binary_types(out) == packet


@pytest.mark.parametrize("parser", PARSERS, ids=IDS)
def test_encode_refuses_what_the_format_cannot_carry(parser: Parser) -> None:
    with pytest.raises((TypeError, ValueError)):
        parser.encode(Packet(T.EVENT, "/", ["x", object()]))


@pytest.mark.parametrize("parser", PARSERS, ids=IDS)
@settings(max_examples=300, deadline=None)
@given(message=st.text(max_size=30) | st.binary(max_size=30))
def test_decoders_raise_only_parse_error(parser: Parser, message: str | bytes) -> None:
    try:
        packet = parser.new_decoder().feed(message)
    except ParseError:
        return
    # What a decoder returns keeps the contract check_packet enforces.
    if packet is not None:
        assert check_packet(int(packet.type), packet.nsp, packet.data, packet.id) == packet


# -- check_packet ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("fields", "error"),
    [
        ((7, "/"), "invalid packet type"),
        ((True, "/"), "invalid packet type"),
        ((2.0, "/", ["x"]), "invalid packet type"),
        ((0, None), "invalid namespace"),
        ((0, "/", []), "invalid payload"),
        ((1, "/", {}), "invalid payload"),
        ((2, "/", []), "an event needs a name"),
        ((2, "/", ["disconnect"]), "reserved event name"),
        ((2, "/", [None]), "a string or a number"),
        ((3, "/", {}), "invalid payload"),
        ((4, "/"), "invalid payload"),
        ((3, "/", [], "1"), "invalid packet id"),
    ],
)
def test_check_packet_refuses(fields: tuple[Any, ...], error: str) -> None:
    with pytest.raises(ParseError, match=error):
        check_packet(*fields)


def test_check_packet_builds_packets() -> None:
    assert check_packet(0, "/") == Packet(T.CONNECT)
    assert check_packet(5, "/", ["e", b"x"], 3) == Packet(T.BINARY_EVENT, "/", ["e", b"x"], 3)
    assert check_packet(4, "/", "no") == Packet(T.CONNECT_ERROR, "/", "no")


# -- choosing the parser per connection ------------------------------------------------------


# -- application types: the default hook of both parsers -------------------------------------


class Color(enum.Enum):
    RED = "red"


@dataclasses.dataclass
class Message:
    author: str
    sent: dt.datetime
    color: Color
    attachment: bytes = b""


def app_default(obj: Any) -> Any:
    """The recipe of docs/PARSERS.md: dataclasses as dicts, enums by value, datetimes as
    JavaScript's Date.toJSON() writes them."""
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        return {f.name: getattr(obj, f.name) for f in dataclasses.fields(obj)}
    if isinstance(obj, enum.Enum):
        return obj.value
    if isinstance(obj, dt.datetime):
        utc = obj.astimezone(UTC) if obj.tzinfo else obj
        return utc.strftime("%Y-%m-%dT%H:%M:%S.") + f"{utc.microsecond // 1000:03d}Z"
    raise TypeError(f"Object of type {type(obj).__name__} is not serializable")


SENT = dt.datetime(2024, 5, 17, 9, 30, 0, 250000, tzinfo=UTC)


def test_json_default_hook() -> None:
    parser = JsonParser(default=app_default)
    msg = Message("ann", SENT, Color.RED)
    assert parser.encode(Packet(T.EVENT, "/", ["msg", msg])) == [
        '51-["msg",{"author":"ann","sent":"2024-05-17T09:30:00.250Z","color":"red",'
        '"attachment":{"_placeholder":true,"num":0}}]',
        b"",
    ]
    # bytes inside what the hook returns are attachments, as anywhere else
    messages = parser.encode(Packet(T.EVENT, "/", ["msg", Message("bo", SENT, Color.RED, b"\x01")]))
    assert messages[1:] == [b"\x01"]
    assert _feed_all(parser, messages).data[1]["attachment"] == b"\x01"


def test_json_without_hook_refuses_application_types() -> None:
    with pytest.raises(TypeError, match="datetime is not JSON serializable"):
        JsonParser().encode(Packet(T.EVENT, "/", ["d", SENT]))


def test_hook_errors_reach_the_caller() -> None:
    def strict(obj: Any) -> Any:
        raise TypeError(f"no {type(obj).__name__} here")

    for parser in (JsonParser(default=strict), MsgpackParser(default=strict)):
        with pytest.raises(TypeError, match="no Color here"):
            parser.encode(Packet(T.EVENT, "/", ["c", Color.RED]))


def test_msgpack_default_hook() -> None:
    # msgpack carries datetimes itself (as notepack's Date); the hook is asked only for
    # what msgpack cannot carry: the dataclass and the enum.
    asked: list[type] = []

    def default(obj: Any) -> Any:
        asked.append(type(obj))
        return app_default(obj)

    parser = MsgpackParser(default=default)
    msg = Message("ann", SENT, Color.RED, b"\x02")
    [wire] = parser.encode(Packet(T.EVENT, "/", ["msg", msg]))
    assert asked == [Message, Color]
    data = parser.new_decoder().feed(wire)
    assert data is not None
    assert data.data == [
        "msg",
        {"author": "ann", "sent": SENT, "color": "red", "attachment": b"\x02"},
    ]


def test_msgpack_ext_types_carry_application_types_between_python_peers() -> None:
    def default(obj: Any) -> Any:
        if isinstance(obj, Message):
            return msgpack.ExtType(1, msgpack.packb([obj.author, obj.color.value]))
        return app_default(obj)

    def ext_hook(code: int, data: bytes) -> Any:
        if code == 1:
            author, color = msgpack.unpackb(data)
            return Message(author, SENT, Color(color))
        return [code, data]

    parser = MsgpackParser(default=default, ext_hook=ext_hook)
    [wire] = parser.encode(Packet(T.EVENT, "/", ["m", Message("cy", SENT, Color.RED)]))
    packet = parser.new_decoder().feed(wire)
    assert packet is not None
    assert packet.data == ["m", Message("cy", SENT, Color.RED)]
