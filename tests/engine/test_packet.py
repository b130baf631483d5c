"""The packet and polling payload codec: byte vectors, round trips, fuzzing."""

from __future__ import annotations

import contextlib

import pytest
from hypothesis import given
from hypothesis import strategies as st

from rtio.engine import PacketDecodeError
from rtio.engine.packet import (
    Packet,
    PacketType,
    decode_packet,
    decode_payload,
    encode_packet,
    encode_payload,
)


@pytest.mark.parametrize(
    ("frame", "packet"),
    [
        ("4hello", Packet(PacketType.MESSAGE, "hello")),
        ("2probe", Packet(PacketType.PING, "probe")),
        ("3", Packet(PacketType.PONG)),
        ("6", Packet(PacketType.NOOP)),
        ("1", Packet(PacketType.CLOSE)),
        ("5", Packet(PacketType.UPGRADE)),
        ("4", Packet(PacketType.MESSAGE, "")),
        (b"\x01\x02\x03\x04", Packet(PacketType.MESSAGE, b"\x01\x02\x03\x04")),
    ],
)
def test_websocket_frames(frame: str | bytes, packet: Packet) -> None:
    assert decode_packet(frame) == packet
    assert encode_packet(packet) == frame


@pytest.mark.parametrize("frame", ["", "7", "abc", "x4"])
def test_invalid_frames(frame: str) -> None:
    with pytest.raises(PacketDecodeError):
        decode_packet(frame)


def test_binary_only_for_messages() -> None:
    with pytest.raises(ValueError):
        encode_packet(Packet(PacketType.PING, b"x"))


def test_payload_vectors() -> None:
    assert encode_payload(["4hello", b"\x01\x02\x03\x04"]) == "4hello\x1ebAQIDBA=="
    assert decode_payload("4hello\x1ebAQIDBA==") == [
        Packet(PacketType.MESSAGE, "hello"),
        Packet(PacketType.MESSAGE, b"\x01\x02\x03\x04"),
    ]
    assert decode_payload("4test1\x1e4test2\x1e4test3") == [
        Packet(PacketType.MESSAGE, f"test{i}") for i in (1, 2, 3)
    ]
    assert decode_payload("3") == [Packet(PacketType.PONG)]


@pytest.mark.parametrize("payload", ["", "abc", "4a\x1e", "b!!!", "bAQI", "\x1e4a", "bé"])
def test_invalid_payloads(payload: str) -> None:
    with pytest.raises(PacketDecodeError):
        decode_payload(payload)


def test_packet_count_limit_checked_before_splitting() -> None:
    decode_payload("\x1e".join(["4a"] * 3), max_packets=3)
    with pytest.raises(PacketDecodeError):
        decode_payload("\x1e".join(["4a"] * 4), max_packets=3)


items = st.one_of(
    st.text().map(lambda s: "4" + s.replace("\x1e", "")),
    st.binary(),
)


@given(st.lists(items, min_size=1, max_size=20))
def test_payload_round_trip(batch: list[str | bytes]) -> None:
    decoded = decode_payload(encode_payload(batch))
    assert [p.data if p.binary else encode_packet(p) for p in decoded] == batch


@given(st.text())
def test_fuzzed_payloads_raise_only_our_errors(payload: str) -> None:
    try:
        packets = decode_payload(payload, max_packets=100)
    except PacketDecodeError:
        return
    assert all(isinstance(p, Packet) for p in packets)


@given(st.one_of(st.text(), st.binary()))
def test_fuzzed_frames_raise_only_our_errors(frame: str | bytes) -> None:
    with contextlib.suppress(PacketDecodeError):
        decode_packet(frame)
