"""Fuzz target 5: the Socket.IO msgpack decoder (rtio/socketio/parsers/msgpack_parser.py),
its fast path (msgpack.unpackb) and its exact pure-Python reader.

Input: one config byte, then one binary message.
  config & 1: nil_is_absent; config & 2: max_packet_size 64 (else None)
  config & 4: also a text message first (must be refused with ParseError)
Only ParseError may be raised. A decoded packet must satisfy parsers/base.py's contract
(check_packet), and the exact reader (_ExactReader + _check) must give the same verdict and
the same packet as the decoder (the module says the two agree).
"""

from __future__ import annotations

import atheris

with atheris.instrument_imports(include=["rtio"]):
    from rtio.socketio.parsers.base import ParseError, check_packet
    from rtio.socketio.parsers.msgpack_parser import MsgpackParser, _check, _ExactReader

from _harness import Finding, run


def one_input(data: bytes) -> None:
    if not data:
        return
    config = data[0]
    message = data[1:]
    nil = bool(config & 1)
    decoder = MsgpackParser(
        nil_is_absent=nil, max_packet_size=64 if config & 2 else None
    ).new_decoder()
    if config & 4:
        try:
            decoder.feed(message.decode("latin-1"))
        except ParseError:
            pass
        else:
            raise Finding("a text message was accepted")
    try:
        packet = decoder.feed(message)
    except ParseError:
        if config & 2:
            raise
        try:
            exact = _check(_ExactReader(bytes(message), decoder._other_ext).read(), nil)
        except ParseError:
            raise
        raise Finding(f"decoder refuses what the exact reader accepts: {exact!r}") from None
    assert packet is not None
    try:
        check_packet(int(packet.type), packet.nsp, packet.data, packet.id)
    except ParseError as exc:
        raise Finding(f"decoded packet breaks the contract: {exc}") from exc
    if config & 2:
        return
    try:
        exact = _check(_ExactReader(bytes(message), decoder._other_ext).read(), nil)
    except ParseError as exc:
        raise Finding(f"exact reader refuses what the decoder accepts: {exc}") from exc
    if repr(exact) != repr(packet):
        raise Finding(f"exact reader gives {exact!r}, decoder {packet!r}")


if __name__ == "__main__":
    run("sio_msgpack", one_input, (ParseError,))
