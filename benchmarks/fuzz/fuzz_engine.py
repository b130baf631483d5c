"""Fuzz target 3: the Engine.IO payload decoder (rtio/engine/polling.py decode_post_body,
rtio/engine/packet.py decode_payload / decode_packet).

Input: one mode byte, then a POST body (or a WebSocket message).
  mode & 3 == 0: text/plain POST; 1: JSONP POST (d=...); 2: application/octet-stream POST;
  3: one WebSocket text message (decode_packet of the UTF-8 text, 'replace'd)
  mode >> 2: max_packets (0: no limit)
Only PacketDecodeError / PayloadTooLarge (rtio.engine's EngineError) may be raised. Every
decoded packet must be a PacketType with str data, or a binary MESSAGE with bytes, and
re-encode (encode_payload) without error.
"""

from __future__ import annotations

import atheris

with atheris.instrument_imports(include=["rtio"]):
    from rtio.engine.errors import EngineError
    from rtio.engine.packet import (
        Packet,
        PacketType,
        decode_packet,
        decode_payload,
        encode_packet,
        encode_payload,
    )
    from rtio.engine.polling import decode_post_body

from _harness import Finding, run

_CONTENT_TYPES = ("text/plain", "text/plain", "application/octet-stream")


def _check(packets: list[Packet]) -> None:
    items: list[str | bytes] = []
    for packet in packets:
        if type(packet.type) is not PacketType:
            raise Finding("packet type is not a PacketType")
        if isinstance(packet.data, bytes):
            if packet.type is not PacketType.MESSAGE:
                raise Finding("binary data in a packet that is not MESSAGE")
        elif type(packet.data) is not str:
            raise Finding("packet data neither str nor bytes")
        items.append(encode_packet(packet))
    encode_payload(items)


def one_input(data: bytes) -> None:
    if not data:
        return
    mode = data[0]
    body = data[1:]
    kind = mode & 3
    max_packets = (mode >> 2) or None
    if kind == 3:
        _check([decode_packet(body.decode("utf-8", "replace"))])
        _check([decode_packet(body)])
        return
    text = decode_post_body(body, _CONTENT_TYPES[kind], kind == 1)
    packets = decode_payload(text, max_packets=max_packets)
    if max_packets is not None and len(packets) > max_packets:
        raise Finding("more packets than max_packets")
    _check(packets)


if __name__ == "__main__":
    run("engine", one_input, (EngineError,))
