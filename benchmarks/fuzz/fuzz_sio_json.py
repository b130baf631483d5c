"""Fuzz target 4: the Socket.IO JSON decoder (rtio/socketio/parsers/json_parser.py).

Input: one config byte, then messages separated by b"\\xff\\xfe"; a message starting with
b"B" is a binary message (the rest of its bytes), any other the UTF-8 text of a text
message (invalid bytes 'replace'd: Engine.IO hands over valid text only).
  config & 15: max_attachments; config & 16: max_packet_size 64 (else None)
Messages go, in order, to one decoder until it raises. Only ParseError may be raised; every
packet it returns must satisfy parsers/base.py's contract (check_packet) and hold bytes
only in BINARY_* packets.
"""

from __future__ import annotations

import atheris

with atheris.instrument_imports(include=["rtio"]):
    from rtio.socketio.packet import PacketType
    from rtio.socketio.parsers.base import ParseError, check_packet
    from rtio.socketio.parsers.json_parser import JsonParser

from _harness import Finding, run

_BINARY = (PacketType.BINARY_EVENT, PacketType.BINARY_ACK)


def _has_bytes(value: object, depth: int = 0) -> bool:
    if isinstance(value, bytes):
        return True
    if depth > 50:
        return False
    if isinstance(value, list):
        return any(_has_bytes(v, depth + 1) for v in value)
    if isinstance(value, dict):
        return any(_has_bytes(v, depth + 1) for v in value.values())
    return False


def split(data: bytes) -> list[str | bytes]:
    messages: list[str | bytes] = []
    for part in data.split(b"\xff\xfe"):
        if part[:1] == b"B":
            messages.append(part[1:])
        else:
            messages.append(part.decode("utf-8", "replace"))
    return messages


def one_input(data: bytes) -> None:
    if not data:
        return
    config = data[0]
    parser = JsonParser(
        max_attachments=config & 15, max_packet_size=64 if config & 16 else None
    )
    decoder = parser.new_decoder()
    for message in split(data[1:]):
        packet = decoder.feed(message)
        if packet is None:
            continue
        try:
            check_packet(int(packet.type), packet.nsp, packet.data, packet.id)
        except ParseError as exc:
            raise Finding(f"decoded packet breaks the contract: {exc}") from exc
        if packet.type not in _BINARY and _has_bytes(packet.data):
            raise Finding("bytes in a packet that is not BINARY_*")


if __name__ == "__main__":
    run("sio_json", one_input, (ParseError,))
