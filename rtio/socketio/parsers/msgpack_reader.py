"""The exact msgpack reader of the msgpack parser, and the JavaScript values it needs.

:class:`ExactReader` is the small pure-Python reader that sees format bytes, for the rare
messages whose ext payloads ``msgpack.unpackb`` cannot place (see msgpack_parser.py's
docstring); :func:`js_string` is the string JavaScript makes of a value used as an object
key; :class:`JsDate` a Date that ``datetime`` cannot hold. Sans-I/O, no state.
"""

from __future__ import annotations

import datetime as _dt
import math
import struct
from collections.abc import Callable
from typing import Any

import msgpack  # type: ignore[import-untyped]  # msgpack ships no type hints

from .base import ParseError

__all__ = [
    "MAX_DEPTH",
    "UNDEFINED",
    "ExactReader",
    "JsDate",
    "date_from_ext",
    "int_to_float",
    "js_string",
]

ExtHook = Callable[[int, bytes], Any]

_UTC = _dt.timezone.utc
_EPOCH = _dt.datetime(1970, 1, 1, tzinfo=_UTC)
_JS_MAX_DATE_MS = 8_640_000_000_000_000  # beyond it a JS Date is "Invalid Date"

# msgpack's C unpacker holds 1024 nested containers; the exact reader holds as many. Not an
# option: the C unpacker's depth is fixed when msgpack is built, and a different bound here
# would make the two readers of one message disagree (docs/LIMITS.md: fixed).
MAX_DEPTH = 1024


class JsDate:
    """A notepack Date that ``datetime`` cannot hold (outside years 1-9999): its
    milliseconds since the epoch. Encoded back as the same Date."""

    __slots__ = ("ms",)

    def __init__(self, ms: int) -> None:
        self.ms = ms

    def __eq__(self, other: object) -> bool:
        return isinstance(other, JsDate) and other.ms == self.ms

    def __hash__(self) -> int:
        return hash(("JsDate", self.ms))

    def __repr__(self) -> str:
        return f"JsDate({self.ms})"


class _Undefined:
    """JS ``undefined`` as a value of the packet map itself (the exact reader's marker)."""

    __slots__ = ()

    def __repr__(self) -> str:
        return "undefined"


UNDEFINED: Any = _Undefined()


def date_from_ext(data: bytes) -> _dt.datetime | JsDate:
    ms = int.from_bytes(data, "big", signed=True)
    try:
        return _EPOCH + _dt.timedelta(milliseconds=ms)
    except OverflowError:
        return JsDate(ms)


def int_to_float(value: int) -> float:
    try:
        return float(value)
    except OverflowError:
        return math.inf if value > 0 else -math.inf


def _js_number(x: float) -> str:
    """JavaScript's ``Number.prototype.toString()`` of a double (ECMA-262 Number::toString:
    the shortest digits that round-trip, placed by the exponent)."""
    if x != x:
        return "NaN"
    if x == 0:
        return "0"
    if math.isinf(x):
        return "Infinity" if x > 0 else "-Infinity"
    sign = "-" if x < 0 else ""
    mantissa, _, exponent = repr(abs(x)).partition("e")  # repr: the same shortest digits
    whole, _, fraction = mantissa.partition(".")
    digits = whole + fraction
    n = len(whole) + (int(exponent) if exponent else 0)  # the decimal point's position
    stripped = digits.lstrip("0")
    n -= len(digits) - len(stripped)
    digits = stripped.rstrip("0")
    k = len(digits)
    if k <= n <= 21:
        return sign + digits + "0" * (n - k)
    if 0 < n <= 21:
        return sign + digits[:n] + "." + digits[n:]
    if -6 < n <= 0:
        return sign + "0." + "0" * -n + digits
    e = n - 1
    head = digits[0] + ("." + digits[1:] if k > 1 else "")
    return f"{sign}{head}e{'+' if e > 0 else '-'}{abs(e)}"


def js_string(value: Any) -> str:
    """The string JS makes of a decoded value used as an object key (``String(value)``)."""
    if type(value) is str:
        return value
    if value is None:
        return "null"
    if value is UNDEFINED:
        return "undefined"
    if value is True or value is False:
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value) if -(2**53) <= value <= 2**53 else _js_number(int_to_float(value))
    if isinstance(value, float):
        return _js_number(value)
    if isinstance(value, (bytes, bytearray)):
        return bytes(value).decode("utf-8", "replace")  # Buffer's toString()
    if isinstance(value, (list, tuple)):  # Array's toString(): join(","), null/undefined as ""
        return ",".join("" if item is None else js_string(item) for item in value)
    if isinstance(value, _dt.datetime):  # Date's toString() in UTC
        return value.strftime(f"%a %b %d {value.year:04d} %H:%M:%S") + (
            " GMT+0000 (Coordinated Universal Time)"
        )
    if isinstance(value, msgpack.Timestamp):  # [-1, Buffer] to notepack 2.2
        return "-1," + js_string(value.to_bytes())
    if isinstance(value, JsDate):
        return "Invalid Date" if abs(value.ms) > _JS_MAX_DATE_MS else f"Date({value.ms})"
    return "[object Object]"


_U8 = struct.Struct(">B")
_U16 = struct.Struct(">H")
_U32 = struct.Struct(">I")
_U64 = struct.Struct(">Q")
_I8 = struct.Struct(">b")
_I16 = struct.Struct(">h")
_I32 = struct.Struct(">i")
_I64 = struct.Struct(">q")
_F32 = struct.Struct(">f")
_F64 = struct.Struct(">d")

# format byte -> the struct of its fixed-size number
_NUMBERS = {
    0xCA: _F32, 0xCB: _F64, 0xCC: _U8, 0xCD: _U16, 0xCE: _U32, 0xCF: _U64,
    0xD0: _I8, 0xD1: _I16, 0xD2: _I32, 0xD3: _I64,
}  # fmt: skip


class _Open:
    """A container the exact reader is filling."""

    __slots__ = ("in_top_key", "items", "key", "left", "top")

    def __init__(
        self, items: list[Any] | dict[Any, Any], left: int, top: bool, in_top_key: bool
    ) -> None:
        self.items = items
        self.left = left  # items (for a map: keys and values) still to read
        self.key: Any = None
        self.top = top  # the packet map itself: an undefined value stays undefined
        self.in_top_key = in_top_key  # part of a key of the packet map

    def reading_top_key(self) -> bool:
        """Whether the next item read is (part of) a key of the packet map."""
        return self.in_top_key or (self.top and self.left & 1 == 0)


class ExactReader:
    """A msgpack reader in pure Python that sees format bytes, for the rare messages whose
    ext payloads the fast path cannot place. Reads what ``msgpack.unpackb`` reads with the
    decoder's options (the test suite checks they agree), except that it reads exts as
    notepack 2.2 does, gives ``UNDEFINED`` for undefined as a value of the packet map, and
    turns map keys Python cannot hold, and every key of the packet map, into JS's strings
    (knowing, there, an ArrayBuffer from a bin). Iterative, so that it holds as
    many nested containers as the C unpacker."""

    __slots__ = ("buf", "other_ext", "pos")

    def __init__(self, buf: bytes, other_ext: ExtHook) -> None:
        self.buf = buf
        self.pos = 0
        self.other_ext = other_ext

    def read(self) -> Any:
        try:
            value = self._read()
        except ParseError:
            raise
        except Exception as exc:
            raise ParseError(f"invalid msgpack: {exc!r}") from exc
        if self.pos != len(self.buf):
            raise ParseError("invalid msgpack: trailing data")
        return value

    def _take(self, n: int) -> bytes:
        end = self.pos + n
        if end > len(self.buf):
            raise ParseError("invalid msgpack: incomplete input")
        chunk = self.buf[self.pos : end]
        self.pos = end
        return chunk

    def _length(self, size: int) -> int:
        return int.from_bytes(self._take(size), "big")

    def _read(self) -> Any:
        stack: list[_Open] = []
        while True:
            value = self._scalar_or_open(stack)
            if value is _OPENED:
                continue
            # Hand the finished value to the containers above it, closing those it fills.
            while True:
                if not stack:
                    return value
                top = stack[-1]
                if type(top.items) is list:
                    top.items.append(None if value is UNDEFINED else value)
                    top.left -= 1
                elif top.left & 1 == 0:  # a key
                    if top.top or type(value) is list or type(value) is dict:
                        # What JS makes of it: a field name, or a key Python cannot hash.
                        value = js_string(value)
                    elif value is UNDEFINED:
                        value = None
                    top.key = value
                    top.left -= 1
                    break
                else:
                    if value is UNDEFINED and not top.top:
                        value = None
                    top.items[top.key] = value
                    top.left -= 1
                if top.left:
                    break
                stack.pop()
                value = top.items

    def _open(self, stack: list[_Open], items: list[Any] | dict[Any, Any], n: int) -> Any:
        if len(stack) >= MAX_DEPTH:  # an empty container counts, as in msgpack's C reader
            raise ParseError("invalid msgpack: too deeply nested")
        if n == 0:
            return items
        is_map = type(items) is dict
        in_top_key = bool(stack) and stack[-1].reading_top_key()
        stack.append(_Open(items, 2 * n if is_map else n, is_map and not stack, in_top_key))
        return _OPENED

    def _scalar_or_open(self, stack: list[_Open]) -> Any:
        b = self._take(1)[0]
        if b <= 0x7F:
            return b
        if b >= 0xE0:
            return b - 0x100
        if b <= 0x8F:
            return self._open(stack, {}, b & 0x0F)
        if b <= 0x9F:
            return self._open(stack, [], b & 0x0F)
        if b <= 0xBF:
            return self._str(b & 0x1F)
        if b == 0xC0:
            return None
        if b == 0xC2:
            return False
        if b == 0xC3:
            return True
        if 0xC4 <= b <= 0xC6:  # bin 8/16/32
            return self._take(self._length(1 << (b - 0xC4)))
        if 0xC7 <= b <= 0xC9:  # ext 8/16/32
            n = self._length(1 << (b - 0xC7))
            code = _I8.unpack(self._take(1))[0]
            data = self._take(n)
            if code == 0:  # notepack's ArrayBuffer
                if stack and stack[-1].reading_top_key():
                    return "[object ArrayBuffer]"  # what JS makes of it as a key
                return data
            return self._ext(code, data)
        number = _NUMBERS.get(b)
        if number is not None:
            return number.unpack(self._take(number.size))[0]
        if 0xD4 <= b <= 0xD8:  # fixext 1/2/4/8/16
            code = _I8.unpack(self._take(1))[0]
            data = self._take(1 << (b - 0xD4))
            if code == 0 and b == 0xD4:
                return UNDEFINED
            if code == 0 and b == 0xD7:
                return date_from_ext(data)
            return self._ext(code, data)
        if 0xD9 <= b <= 0xDB:
            return self._str(self._length(1 << (b - 0xD9)))
        if b == 0xDC or b == 0xDD:
            return self._open(stack, [], self._length(2 if b == 0xDC else 4))
        if b == 0xDE or b == 0xDF:
            return self._open(stack, {}, self._length(2 if b == 0xDE else 4))
        raise ParseError(f"invalid msgpack: format byte {b:#04x}")

    def _ext(self, code: int, data: bytes) -> Any:
        if code == -1:  # as msgpack reads it
            try:
                return msgpack.Timestamp.from_bytes(data)
            except ValueError:
                pass
        return self.other_ext(code, data)

    def _str(self, n: int) -> str:
        return self._take(n).decode("utf-8", "replace")


_OPENED: Any = object()  # _scalar_or_open pushed a container: read its first item next
