"""The msgpack wire format of npm ``socket.io-msgpack-parser`` 3.x (which encodes with
notepack.io 2.2): one binary message per packet, no attachments, no BINARY_* types.

Owns the msgpack codec of packets, notepack's extension types and the decoder's validation;
knows nothing of Engine.IO framing or of sockets.

    {"type": 2, "nsp": "/", "data": ["chat", "hi"], "id": 13}   one msgpack map per packet

    82 a4 74 79 70 65 00 a3 6e 73 70 a1 2f       {"type": 0, "nsp": "/"}  (CONNECT)

``type`` and ``nsp`` are always written; ``data`` and ``id`` only when present. Keys are
written in that order. BINARY_EVENT/BINARY_ACK go out as EVENT/ACK: bytes travel inside
the map as msgpack ``bin``. Over HTTP long-polling Engine.IO carries the message as a
base64 ``b`` record.

Value mapping (Python ↔ the JS value notepack 2.2 gives socket.io-client):

=====================  ======================================================================
Python                 wire / JS
=====================  ======================================================================
None                   nil / ``null``
bool, str, list/tuple  bool, str (UTF-8; invalid bytes read as U+FFFD, as in JS), array
dict                   map. JS makes every key a string (``{1: "a"}`` reads as
                       ``{"1": "a"}``, as with JSON). Decoding reads the packet map's keys
                       as JS does (a bin ``type`` is ``"type"``); inside ``data`` it keeps
                       keys Python can hold as they come (int, bytes, None...), and a key
                       that is an array or a map becomes the string JS makes of it
                       (``"1,2"``, ``"[object Object]"``).
int                    the smallest msgpack int; JS reads beyond 2**53 rounded, as from
                       JSON. Beyond 64 bits (which msgpack cannot carry) it is written as
                       float64: the nearest double, the Number a JSON client would read.
float                  float64, NaN and ±Infinity included (JSON cannot carry them; msgpack
                       can). An integral float stays float64 where notepack writes an int;
                       JS reads the same Number.
bytes/bytearray/       ``bin`` / Node ``Buffer``. Decoding: ``bin`` and notepack's
memoryview             ArrayBuffer (ext type 0 in the ext 8/16/32 formats) both give bytes.
datetime.datetime      notepack's Date: fixext 8, type 0, int64 milliseconds since the epoch.
                       A naive datetime is taken as UTC; microseconds are truncated to ms.
                       Decoding gives an aware UTC datetime, or a :class:`JsDate` (the
                       milliseconds) for a Date outside years 1-9999, which Python cannot
                       hold.
JS ``undefined``       fixext 1, type 0 (``d4 00 00``): decodes to None, and as the value of
                       ``data`` or ``id`` to "absent" (``data: undefined`` is no data, as in
                       JS). Never written.
other ext types        ``ext_hook(code, data)`` if given, else ``[code, data]``: what
                       notepack 2.2 gives JS for an ext type it does not know.
ext -1                 msgpack's Timestamp (notepack 3 writes Dates so): a
                       ``msgpack.Timestamp``, read and written as msgpack does. notepack 2.2
                       does not know it and gives JS ``[-1, Buffer]``: so does the decoder
                       for an ext -1 that is no valid Timestamp, and for one that is the
                       packet's ``data`` itself (an array of arguments, to JS).
application types      ``default(obj)`` returns something encodable (e.g. a dict for a
                       dataclass, or a ``msgpack.ExtType`` that ``ext_hook`` turns back).
=====================  ======================================================================

Type-0 ext payloads of 1, 2, 4, 8 and 16 bytes are ambiguous in notepack 2.2: ``d4 00 00``
is ``undefined`` but ``c7 01 00 xx`` is a 1-byte ArrayBuffer; ``d7 00 ...`` is a Date but
``c7 08 00 ...`` an 8-byte ArrayBuffer. msgpack's ``ext_hook`` does not see the format byte.
So the fast path (one ``msgpack.unpackb`` call) notes the ambiguous payload lengths it met,
and only then looks in the message (``bytes.__contains__``, no regex) for the forms of those
lengths it would misread; if one is there, the message is decoded again by
:class:`~.msgpack_reader.ExactReader`, a small pure-Python reader that sees format bytes
(msgpack_reader.py). A false alarm
(the bytes inside a string or a bin) only costs that second, slower decode.

Validation is the JS decoder's (``Decoder.prototype.checkPacket``): ``type`` an integer
0..4; ``nsp`` a string; CONNECT data absent or a map; DISCONNECT data absent (``nil`` is
invalid); CONNECT_ERROR data a string or a map; EVENT/ACK data an array; ``id`` absent or
an integer. Other keys (socket.io-client sends ``options``) are ignored. One check more
than the JS decoder, so the layer above gets the same guarantee from both parsers: an
EVENT's first element is its name, a string not reserved by the client or a number (the
JSON decoder's rule; no official client sends anything else). Where our reading differs
from notepack's (tests/socketio/test_msgpack_node.py checks the rest against it): inside
``data``, a map key that is a Date, an ArrayBuffer, an ext or undefined is a Python value
where JS has a string; a map key ``__proto__`` is an ordinary key (JS sets the object's
prototype); nesting deeper than 1024 containers is refused (msgpack's C limit; JS goes on
until its stack overflows).
"""

from __future__ import annotations

import datetime as _dt
import re
import threading
from collections.abc import Callable
from typing import Any

import msgpack  # type: ignore[import-untyped]  # msgpack ships no type hints

from ..packet import Packet, PacketType
from .base import ParseError, check_event_name
from .msgpack_reader import UNDEFINED, ExactReader, JsDate, date_from_ext, int_to_float

__all__ = ["DefaultHook", "ExtHook", "JsDate", "MsgpackDecoder", "MsgpackParser"]

#: ``default(obj)``: return an encodable stand-in for an application object, or raise
#: TypeError.
DefaultHook = Callable[[Any], Any]
#: ``ext_hook(code, data)``: the Python value of an application msgpack ext type.
ExtHook = Callable[[int, bytes], Any]

_UTC = _dt.timezone.utc
_EPOCH = _dt.datetime(1970, 1, 1, tzinfo=_UTC)
_EPOCH_NAIVE = _dt.datetime(1970, 1, 1)
_MS = _dt.timedelta(milliseconds=1)
_JS_MAX_DATE_MS = 8_640_000_000_000_000  # beyond it a JS Date is "Invalid Date"

# The msgpack format has no BINARY_* types: bytes ride inside the map.
_WIRE_TYPE = {t: int(t) for t in PacketType}
_WIRE_TYPE[PacketType.BINARY_EVENT] = int(PacketType.EVENT)
_WIRE_TYPE[PacketType.BINARY_ACK] = int(PacketType.ACK)

# Type-0 ext payloads the fast path may read wrongly, by payload length: in ext 8/16/32
# with 1 or 8 bytes they are ArrayBuffers (the fast path takes them for undefined/Date);
# in fixext 2/4/16 they are [0, Buffer] to notepack (the fast path takes them for
# ArrayBuffers). The lengths are distinct bits, so the decoder ORs those it met. A form
# found inside a string or a bin only costs a second, exact decode.
_MISREAD_FORMS = {
    1: (b"\xc7\x01\x00", b"\xc8\x00\x01\x00", b"\xc9\x00\x00\x00\x01\x00"),
    2: (b"\xd5\x00",),
    4: (b"\xd6\x00",),
    8: (b"\xc7\x08\x00", b"\xc8\x00\x08\x00", b"\xc9\x00\x00\x00\x08\x00"),
    16: (b"\xd8\x00",),
}
# An ext -1 in any format: msgpack takes it for a Timestamp, and fails when it is none
# (notepack gives [-1, Buffer]). Searched for only when msgpack failed.
_EXT_MINUS_ONE = re.compile(
    rb"[\xd4-\xd8]\xff|\xc7[\x00-\xff]\xff|\xc8[\x00-\xff]{2}\xff|\xc9[\x00-\xff]{4}\xff"
)


_unpackb = msgpack.unpackb  # looked up once, not per message


def _date_to_ext(ms: int) -> msgpack.ExtType:
    return msgpack.ExtType(0, ms.to_bytes(8, "big", signed=True))


def _datetime_ms(value: _dt.datetime) -> int:
    ms: int = (value - (_EPOCH_NAIVE if value.tzinfo is None else _EPOCH)) // _MS
    return ms


class MsgpackParser:
    """The msgpack parser. Immutable; one instance serves every connection.

    :param default: called with each object msgpack cannot encode (after the built-in
        datetime, :class:`JsDate` and big-int rules); returns an encodable stand-in or
        raises TypeError. Like ``json.dumps``'s ``default``.
    :param ext_hook: called with ``(code, data)`` for each incoming ext type other than
        notepack's type 0; its result takes the ext's place (without it: ``[code, data]``,
        as notepack gives JS).
    :param max_packet_size: most bytes one incoming message may have; ``None`` for no limit
        beyond Engine.IO's ``max_payload``.
    :param nil_is_absent: read a ``data`` or ``id`` of nil as absent. The JS decoder refuses
        them, but python-socketio's msgpack serializer writes ``data: None`` in every
        DISCONNECT (and in every packet without data): set this to serve its clients.
    """

    name = "msgpack"

    def __init__(
        self,
        *,
        default: DefaultHook | None = None,
        ext_hook: ExtHook | None = None,
        max_packet_size: int | None = None,
        nil_is_absent: bool = False,
    ) -> None:
        self.default = default
        self.ext_hook = ext_hook
        self.max_packet_size = max_packet_size
        self.nil_is_absent = nil_is_absent
        # msgpack.Packer keeps a buffer between calls: one per thread.
        self._local = threading.local()

    def _default(self, obj: Any) -> Any:
        if isinstance(obj, _dt.datetime):
            return _date_to_ext(_datetime_ms(obj))
        if isinstance(obj, int):  # msgpack asks only for ints beyond 64 bits
            return int_to_float(obj)
        if isinstance(obj, JsDate):
            return _date_to_ext(obj.ms)
        if self.default is not None:
            return self.default(obj)
        raise TypeError(f"Object of type {type(obj).__name__} is not msgpack serializable")

    def _new_packer(self) -> msgpack.Packer:
        packer = msgpack.Packer(default=self._default, use_bin_type=True, datetime=False)
        self._local.packer = packer
        return packer

    def encode(self, packet: Packet) -> list[str | bytes]:
        body: dict[str, Any] = {"type": _WIRE_TYPE[packet.type], "nsp": packet.nsp}
        if packet.data is not None:
            body["data"] = packet.data
        if packet.id is not None:
            body["id"] = packet.id
        try:
            packer = self._local.packer
        except AttributeError:
            packer = self._new_packer()
        try:
            return [packer.pack(body)]
        except BaseException:
            packer.reset()  # a failed pack leaves its partial output in the buffer
            raise

    def new_decoder(self) -> MsgpackDecoder:
        return MsgpackDecoder(self.ext_hook, self.max_packet_size, self.nil_is_absent)


class MsgpackDecoder:
    """Per-connection decoder: every message is one whole packet, so it keeps only the
    notes of the message being decoded."""

    __slots__ = ("_ext", "_max_size", "_met", "_nil_is_absent", "_undefined", "_user_ext_hook")

    def __init__(
        self,
        ext_hook: ExtHook | None = None,
        max_packet_size: int | None = None,
        nil_is_absent: bool = False,
    ) -> None:
        self._user_ext_hook = ext_hook
        self._max_size = max_packet_size
        self._nil_is_absent = nil_is_absent
        self._undefined = False  # met an undefined in this message
        self._met = 0  # the ambiguous type-0 payload lengths met in this message, ORed
        self._ext = self._fast_ext  # bound once, not per message

    def _other_ext(self, code: int, data: bytes) -> Any:
        if self._user_ext_hook is not None:
            return self._user_ext_hook(code, data)
        return [code, data]

    def _fast_ext(self, code: int, data: bytes) -> Any:
        if code != 0:
            return self._other_ext(code, data)
        n = len(data)
        if n in _MISREAD_FORMS:
            self._met |= n
            if n == 1:
                self._undefined = True
                return None
            if n == 8:
                return date_from_ext(data)
        return data

    def feed(self, message: str | bytes) -> Packet | None:
        if isinstance(message, str):
            raise ParseError("the msgpack parser takes binary messages only")
        if self._max_size is not None and len(message) > self._max_size:
            raise ParseError("packet too large")
        self._undefined = False
        self._met = 0
        try:
            obj = _unpackb(
                message, ext_hook=self._ext, strict_map_key=False, unicode_errors="replace"
            )
        except Exception as exc:
            # What failed may be a misread ext (an ext -1 that is no Timestamp), or a map
            # key Python cannot hold (TypeError: unhashable): then the exact reader judges.
            if not (
                isinstance(exc, TypeError)
                or self._misread(message)
                or _EXT_MINUS_ONE.search(message) is not None
            ):
                raise ParseError(f"invalid msgpack: {exc!r}") from exc
            obj = ExactReader(bytes(message), self._other_ext).read()
        else:
            if self._met and (
                self._misread(message)
                or (self._undefined and type(obj) is dict and _none_field(obj))
            ):
                obj = ExactReader(bytes(message), self._other_ext).read()
            elif type(obj) is dict:
                for key in obj:
                    if type(key) is not str:
                        # JS reads every key as a string (b"type" is "type", but an
                        # ArrayBuffer is "[object ArrayBuffer]"): the exact reader knows.
                        obj = ExactReader(bytes(message), self._other_ext).read()
                        break
        return _check(obj, self._nil_is_absent)

    def _misread(self, message: bytes) -> bool:
        """Whether the message holds a form of the ambiguous payloads met that the fast
        path reads wrongly (or the same bytes inside a string or a bin)."""
        met = self._met
        for length, forms in _MISREAD_FORMS.items():
            if met & length:
                for form in forms:
                    if form in message:
                        return True
        return False


def _none_field(obj: dict[Any, Any]) -> bool:
    """Whether ``data`` or ``id`` is present and None: nil, or undefined (the fast path cannot
    tell, and JS treats the two differently)."""
    return ("data" in obj and obj["data"] is None) or ("id" in obj and obj["id"] is None)


def _integral_float(value: Any) -> int | None:
    """The int of what JS ``Number.isInteger`` accepts besides an int: an integral float."""
    if type(value) is float and value.is_integer():
        return int(value)
    return None


_CONNECT = PacketType.CONNECT
_DISCONNECT = PacketType.DISCONNECT
_EVENT = PacketType.EVENT
_ACK = PacketType.ACK
_CONNECT_ERROR = PacketType.CONNECT_ERROR
# JS's valid types; a float key finds its integral twin (2.0 == 2), NaN and 2.5 nothing.
_TYPE_BY_WIRE = {int(t): t for t in (_CONNECT, _DISCONNECT, _EVENT, _ACK, _CONNECT_ERROR)}
_Timestamp = msgpack.Timestamp


def _check(obj: Any, nil_is_absent: bool = False) -> Packet:
    """The JS decoder's checkPacket, plus the event-name rule. ``UNDEFINED`` and a missing
    key both mean absent; None means nil (absent too for ``data`` and ``id`` with
    ``nil_is_absent``)."""
    if type(obj) is not dict:
        raise ParseError("invalid packet type")
    wire_type: Any = obj.get("type")
    kind = type(wire_type)
    ptype = _TYPE_BY_WIRE.get(wire_type) if kind is int or kind is float else None
    if ptype is None:
        raise ParseError("invalid packet type")
    nsp = obj.get("nsp")
    if type(nsp) is not str:
        raise ParseError("invalid namespace")
    data = obj.get("data", UNDEFINED)
    if data is None and nil_is_absent:
        data = UNDEFINED
    if ptype is _EVENT:
        if type(data) is not list:
            if type(data) is not _Timestamp:
                raise ParseError("invalid payload")
            data = [-1, data.to_bytes()]  # an ext -1 as the arguments: JS has [-1, Buffer]
        # Not in the JS decoder: the JSON decoder's event-name rule.
        check_event_name(data)
    elif ptype is _ACK:
        if type(data) is not list:
            if type(data) is not _Timestamp:
                raise ParseError("invalid payload")
            data = [-1, data.to_bytes()]
    elif ptype is _CONNECT:
        if data is UNDEFINED:
            data = None
        elif type(data) is not dict:
            raise ParseError("invalid payload")
    elif ptype is _CONNECT_ERROR:
        if type(data) is not str and type(data) is not dict:
            raise ParseError("invalid payload")
    elif data is UNDEFINED:  # DISCONNECT
        data = None
    else:
        raise ParseError("invalid payload")
    ack_id = obj.get("id", UNDEFINED)
    if ack_id is UNDEFINED or (ack_id is None and nil_is_absent):
        ack_id = None
    elif type(ack_id) is not int:
        ack_id = _integral_float(ack_id)
        if ack_id is None:
            raise ParseError("invalid packet id")
    return Packet(ptype, nsp, data, ack_id)

