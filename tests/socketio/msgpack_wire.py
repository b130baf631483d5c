"""Shared by the msgpack parser's test modules: wire pieces of the packet map, decoding one
message, and a strategy of JSON-like values."""

from __future__ import annotations

import datetime as dt
from typing import Any

import msgpack  # type: ignore[import-untyped]
from hypothesis import strategies as st

from rtio.socketio.packet import Packet, PacketType
from rtio.socketio.parsers import MsgpackParser

P = MsgpackParser()
T = PacketType
UTC = dt.timezone.utc

TYPE = b"\xa4type"
NSP = b"\xa3nsp"
DATA = b"\xa4data"
ID = b"\xa2id"
ROOT = b"\xa1/"
UNDEFINED = b"\xd4\x00\x00"


def decode(message: bytes, parser: MsgpackParser = P) -> Packet:
    packet = parser.new_decoder().feed(message)
    assert packet is not None  # one message is one packet
    return packet


def event(*items: bytes) -> bytes:
    """EVENT on "/" whose data is the array of the given encoded items."""
    return (
        b"\x83" + TYPE + b"\x02" + NSP + ROOT + DATA + bytes([0x90 | len(items)]) + b"".join(items)
    )


JSONISH = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**63), max_value=2**64 - 1)
    | st.floats(allow_nan=False)
    | st.text()
    | st.binary(max_size=20),
    lambda inner: (
        st.lists(inner, max_size=4)
        | st.dictionaries(st.text(max_size=5) | st.integers(-5, 5), inner, max_size=4)
    ),
    max_leaves=20,
)


def same(a: Any, b: Any) -> bool:
    return bool(msgpack.packb(a, use_bin_type=True) == msgpack.packb(b, use_bin_type=True))
