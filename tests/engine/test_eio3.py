"""Engine.IO v3 codecs (rtio/engine/eio3.py) and the v3 session rules (session.py), with
byte vectors written by engine.io 6's parser-v3 (engine.io-parser 2.x), e.g.
``encodePayload([{type:"message",data:"hi"},{type:"message",data:Buffer.from([1,2,3])}],
true, cb)`` -> ``00 03 ff "4hi" 01 04 ff 04 01 02 03``."""

from __future__ import annotations

import pytest

from rtio.engine import eio3
from rtio.engine.errors import InvalidTransition, PacketDecodeError
from rtio.engine.options import EngineOptions
from rtio.engine.packet import Packet, PacketType
from rtio.engine.session import Session, TimerEvent, Transport
from rtio.engine.websocket import prepare_packet

MSG = PacketType.MESSAGE


@pytest.mark.parametrize("supports_binary", [True, False])
@pytest.mark.parametrize(
    ("items", "payload"),
    [
        (["4hello", "2"], "6:4hello1:2"),
        (["4é😀"], "4:4é😀"),  # JavaScript's length: 😀 is two UTF-16 units
        ([], "0:"),
        (["6"], "1:6"),
    ],
)
def test_encode_text_payload(items: list[str | bytes], payload: str, supports_binary: bool) -> None:
    assert eio3.encode_payload(items, supports_binary=supports_binary) == payload


def test_encode_binary_payload() -> None:
    items: list[str | bytes] = ["4hi", b"\x01\x02\x03"]
    assert eio3.encode_payload(items, supports_binary=True) == bytes.fromhex(
        "0003ff3468690104ff04010203"
    )
    assert eio3.encode_payload(items, supports_binary=False) == "3:4hi6:b4AQID"
    # a string record counts UTF-8 bytes; lengths are one byte per decimal digit
    assert eio3.encode_payload(["4" + "é" * 6, b""], supports_binary=True) == (
        b"\x00\x01\x03\xff4" + "é".encode() * 6 + b"\x01\x01\xff\x04"
    )


def test_decode_text_payload() -> None:
    assert eio3.decode_text_payload("6:4hello1:2") == [
        Packet(MSG, "hello"),
        Packet(PacketType.PING),
    ]
    assert eio3.decode_text_payload("4:4é😀") == [Packet(MSG, "é😀")]
    assert eio3.decode_text_payload("6:b4AQID") == [Packet(MSG, b"\x01\x02\x03")]
    assert eio3.decode_text_payload("0:1:6") == [Packet(PacketType.NOOP)]  # empty skipped


@pytest.mark.parametrize(
    "bad",
    ["", "5:4hi", "x:4hi", "2:4", ":4", "3:4é😀", "2:9x", "6:b4!!!!", "2:4hi", "2:b3"],
)
def test_decode_text_payload_errors(bad: str) -> None:
    with pytest.raises(PacketDecodeError):
        eio3.decode_text_payload(bad)


def test_decode_text_payload_packet_limit() -> None:
    with pytest.raises(PacketDecodeError, match="more than 2"):
        eio3.decode_text_payload("1:21:21:2", max_packets=2)


def test_decode_binary_payload_round_trip() -> None:
    payload = eio3.encode_payload(["4hé", b"\x01\x02\x03", "2"], supports_binary=True)
    assert isinstance(payload, bytes)
    assert eio3.decode_binary_payload(payload) == [
        Packet(MSG, "hé"),
        Packet(MSG, b"\x01\x02\x03"),
        Packet(PacketType.PING),
    ]
    big = b"x" * 1234
    assert eio3.decode_binary_payload(eio3.encode_payload([big], True)) == [  # type: ignore[arg-type]
        Packet(MSG, big)
    ]


@pytest.mark.parametrize(
    "bad",
    [b"", b"\x02\x01\xff4", b"\x00\x01", b"\x00\x0a\xff4", b"\x00\x05\xff4h", b"\x00\x02\xff\xc3("],
)
def test_decode_binary_payload_errors(bad: bytes) -> None:
    with pytest.raises(PacketDecodeError):
        eio3.decode_binary_payload(bad)


def test_websocket_messages() -> None:
    assert eio3.ws_item(b"\x01\x02", b64=False) == b"\x04\x01\x02"
    assert eio3.ws_item(b"\x01\x02", b64=True) == "b4AQI="
    assert eio3.decode_message(b"\x04\x01\x02") == Packet(MSG, b"\x01\x02")
    assert eio3.decode_message("b4AQI=") == Packet(MSG, b"\x01\x02")
    assert eio3.decode_message("2probe") == Packet(PacketType.PING, "probe")
    for bad in (b"", b"\x09", "b2AQI="):
        with pytest.raises(PacketDecodeError):
            eio3.decode_message(bad)


# -- the v3 session rules -------------------------------------------------------------------

OPTIONS = EngineOptions(ping_interval=1.0, ping_timeout=2.0)


def v3_session(now: float = 0.0, supports_binary: bool = True) -> Session:
    session = Session("sid", OPTIONS, transport=Transport.POLLING, now=now)
    session.use_eio3({"EIO": "3"} if supports_binary else {"EIO": "3", "b64": "1"})
    return session


def test_v3_server_never_pings_and_times_out_without_client_pings() -> None:
    s = v3_session()
    assert s.deadline() == 3.0  # pingInterval + pingTimeout (Node's resetPingTimeout)
    assert s.on_timer(2.9) is None
    s.receive_ping(2.5)
    assert s.deadline() == 5.5
    assert s.on_timer(5.4) is None
    assert s.on_timer(5.5) is TimerEvent.PING_TIMEOUT


def test_v3_heartbeat_direction() -> None:
    s = v3_session()
    with pytest.raises(PacketDecodeError, match="heartbeat direction"):
        s.receive_packet(Packet(PacketType.PONG), 0.1)
    v4 = Session("sid", OPTIONS, transport=Transport.POLLING, now=0.0)
    with pytest.raises(InvalidTransition):
        v4.receive_ping(0.1)


def test_v3_polling_replies_are_framed() -> None:
    s = v3_session()
    assert s.receive_get() is None  # waits
    s.queue.push("40")
    s.queue.push(b"\x07")
    reply = s.take_batch()
    assert reply.payload == bytes.fromhex("0002ff34300102ff0407")
    s.queue.push("2x")
    assert s.take_first_batch("0{}").payload == "3:0{}2:2x"
    assert s.noop.payload == "1:6"
    text_only = v3_session(supports_binary=False)
    text_only.queue.push(b"\x07")
    assert text_only.take_batch().payload == "6:b4Bw=="


def test_v3_websocket_items() -> None:
    convert = eio3.ws_converter({"EIO": "3"})
    assert convert is not None and eio3.ws_converter({"EIO": "4"}) is None
    text = prepare_packet("2[]")
    assert convert(text) is text  # text frames are the v4 ones
    binary = prepare_packet(b"\x01")
    first = convert(binary)
    assert first is convert(binary)  # re-framed once for all v3 clients
    assert first.item == b"\x04\x01"  # type: ignore[union-attr]
    b64 = eio3.ws_converter({"EIO": "3", "b64": "1"})
    assert b64 is not None and b64(binary) == "b4AQ=="
    assert convert(b"\x02") == b"\x04\x02"
