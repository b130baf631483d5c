"""rtio.socketio.parsers.msgpack_reader: the exact reader against msgpack's own, every
format it reads, and the strings JavaScript makes of values used as keys."""

from __future__ import annotations

import datetime as dt
import math
from typing import Any

import msgpack  # type: ignore[import-untyped]
import pytest
from hypothesis import given, settings
from msgpack_wire import DATA, JSONISH, NSP, ROOT, TYPE, UTC, decode, same

from rtio.socketio.parsers.msgpack_parser import JsDate, MsgpackDecoder
from rtio.socketio.parsers.msgpack_reader import ExactReader, js_string


@pytest.mark.parametrize(
    ("value", "js"),
    [
        # String(value) in JS, for map keys: what the decoder makes of keys Python cannot
        # hash and of the packet map's keys (checked against notepack by the differential
        # fuzz of test_msgpack_node.py; these are the cases it does not reach).
        (None, "null"),
        (True, "true"),
        (2**60, "1152921504606847000"),
        (-(2**70), "-1.1805916207174113e+21"),
        (math.nan, "NaN"),
        (-math.inf, "-Infinity"),
        (-0.0, "0"),
        (1e21, "1e+21"),
        (1.5e-7, "1.5e-7"),
        (-0.00001, "-0.00001"),
        (123.456, "123.456"),
        (b"caf\xc3\xa9\xff", "caf\u00e9\ufffd"),
        ([1, None, [2, "x"], {"a": 1}], "1,,2,x,[object Object]"),
        ((1, 2), "1,2"),
        (
            dt.datetime(1, 1, 1, tzinfo=UTC),
            "Mon Jan 01 0001 00:00:00 GMT+0000 (Coordinated Universal Time)",
        ),
        (JsDate(8_640_000_000_000_001), "Invalid Date"),
        (msgpack.Timestamp(1, 0), "-1,\x00\x00\x00\x01"),
        (object(), "[object Object]"),
    ],
)
def test_js_string(value: Any, js: str) -> None:
    assert js_string(value) == js


@settings(max_examples=500, deadline=None)
@given(JSONISH)
def test_exact_reader_reads_what_msgpack_reads(value: Any) -> None:
    """Without notepack's exts, the two readers agree (NaN included, via the packed form).
    Wrapped in an array: the keys of a top-level map, the packet's, are JS's strings."""
    wire = msgpack.packb([value], use_bin_type=True)
    fast = msgpack.unpackb(wire, strict_map_key=False)
    exact = ExactReader(wire, MsgpackDecoder()._other_ext).read()
    assert same(exact, fast)


def test_undefined_marker_shows_as_undefined() -> None:
    wire = b"\x82" + TYPE + b"\x00" + NSP + b"\xd4\x00\x00"  # nsp: undefined
    assert repr(ExactReader(wire, MsgpackDecoder()._other_ext).read()["nsp"]) == "undefined"


def test_exact_reader_reads_every_format() -> None:
    # Each format once, on the exact path (a 1-byte ArrayBuffer sends the message there).
    items = [
        b"\xdc\x00\x02\x01\x02",  # array 16
        b"\xdd\x00\x00\x00\x01\x03",  # array 32
        b"\xde\x00\x01\xa1k\x04",  # map 16
        b"\xdf\x00\x00\x00\x01\xa1k\x05",  # map 32
        b"\xd9\x01a" + b"\xda\x00\x01b" + b"\xdb\x00\x00\x00\x01c",  # str 8/16/32
        b"\xc5\x00\x01\x07" + b"\xc6\x00\x00\x00\x01\x08",  # bin 16/32
        b"\xd0\x80\xd1\x80\x00\xd2\x80\x00\x00\x00\xd3" + b"\x80" + bytes(7),  # int 8..64
        b"\xcc\xff\xcd\xff\xff\xce\xff\xff\xff\xff\xcf" + b"\xff" * 8,  # uint 8..64
        b"\xca\x3f\xc0\x00\x00\xcb\x3f\xf8" + bytes(6),  # float 32/64
        b"\xc2\xc3\xc0\xe0\x7f",
    ]
    values = b"\xa1x\xc7\x01\x00\x01" + b"".join(items)  # 26 values in all
    wire = b"\x83" + TYPE + b"\x02" + NSP + ROOT + DATA + b"\xdc\x00\x1a" + values
    assert decode(wire).data == [
        "x", b"\x01", [1, 2], [3], {"k": 4}, {"k": 5}, "a", "b", "c", b"\x07", b"\x08",
        -128, -32768, -(2**31), -(2**63), 255, 65535, 2**32 - 1, 2**64 - 1, 1.5, 1.5,
        False, True, None, -32, 127,
    ]  # fmt: skip
    # JsDate values are hashable and show their milliseconds.
    assert {JsDate(5): 1}[JsDate(5)] == 1
    assert repr(JsDate(-5)) == "JsDate(-5)"
