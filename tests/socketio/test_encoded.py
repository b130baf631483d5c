"""rtio.socketio.encoded: a broadcast's packet encoded once per parser."""

from __future__ import annotations

import logging

import pytest

from rtio.socketio.encoded import Encoded
from rtio.socketio.packet import Packet, PacketType
from rtio.socketio.parsers import JsonParser, MsgpackParser


def test_encoded_once_per_parser_object() -> None:
    calls: list[str] = []
    json = JsonParser()
    encode = json.encode

    def counting(packet: Packet) -> list[str | bytes]:
        calls.append("json")
        return encode(packet)

    json.encode = counting  # type: ignore[method-assign]
    encoded = Encoded(Packet(PacketType.EVENT, "/", ["news", b"\x01"]))
    first = encoded.messages(json)
    assert encoded.messages(json) is first and calls == ["json"]
    assert len(first) == 2  # the packet, then its attachment
    other = encoded.messages(MsgpackParser())
    assert other is not first and len(other) == 1


def test_data_the_parser_cannot_carry_is_logged_and_raised(
    caplog: pytest.LogCaptureFixture,
) -> None:
    encoded = Encoded(Packet(PacketType.EVENT, "/chat", ["news", object()]))
    with caplog.at_level(logging.ERROR, "rtio.socketio"), pytest.raises(TypeError):
        encoded.messages(JsonParser())
    assert "'news' to namespace /chat cannot be encoded by the json parser" in caplog.text
