"""The bus's own short form of a plain broadcast (an event to rooms, no ack) between rtio
workers.

Everything else on the bus is a ``ClusterMessage`` in socket.io-adapter's form
(rtio.cluster.messages), validated field by field when it is read. A plain broadcast is
the message the bus carries most, once per broadcast that spans the workers, and the
workers of one supervisor are all rtio, forked from one process: it travels as
``B`` + a JSON array ``[nsp, data, rooms, except, volatile, compress]`` instead.

Why: a broadcast to a room of 20 spread over 2 workers cost the bus 6.3 µs to publish and
9.6 µs to read in the ClusterMessage form (benchmarks/workers/bus_codec.py); in this form
it is 1.7 and 2.7 µs. The ``B`` cannot begin a ClusterMessage (JSON begins with ``{``,
msgpack's map with 0x80-0x8f, 0xde or 0xdf). Data that JSON cannot carry (bytes) takes
the ClusterMessage form, msgpack, as before: :func:`encode` then returns None.
"""

from __future__ import annotations

import json
from typing import Any

from rtio.cluster import MessageError
from rtio.socketio import BroadcastOptions

__all__ = ["MARK", "decode", "encode"]

#: the first byte of a payload in this form
MARK = b"B"

_dumps = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False).encode


def encode(nsp: str, data: list[Any], opts: BroadcastOptions) -> bytes | None:
    """The payload, or None when ``data`` holds what JSON cannot carry (bytes)."""
    try:
        text = _dumps([nsp, data, list(opts.rooms), list(opts.except_rooms),
                       opts.volatile, opts.compress])  # fmt: skip
    except (TypeError, ValueError):
        return None
    return MARK + text.encode()


def decode(payload: bytes) -> tuple[str, list[Any], BroadcastOptions]:
    """``(nsp, data, opts)`` of a payload made by :func:`encode` (MessageError if not);
    ``opts`` are ``local``, as rtio.cluster's ``local_options`` makes them: a broadcast
    received is delivered here, never published again."""
    try:
        nsp, data, rooms, except_rooms, volatile, compress = json.loads(payload[1:])
        if not isinstance(nsp, str) or not isinstance(data, list) or not data:
            raise TypeError
        opts = BroadcastOptions(frozenset(rooms), frozenset(except_rooms),
                                volatile is True, compress is not False, local=True)  # fmt: skip
    except (TypeError, ValueError) as exc:  # (json's JSONDecodeError is a ValueError)
        raise MessageError(f"bad plain broadcast: {exc!r}") from None
    return nsp, data, opts
