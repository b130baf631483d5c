"""Socket.IO's default wire format (npm ``socket.io-parser`` 4.2): JSON text packets with
binary attachments sent as separate binary messages.

Owns the text codec, the binary placeholders and the decoder's validation and limits;
knows nothing of Engine.IO framing or of sockets.

    <type>[<attachments>-][<nsp>,][<ack id>][<json>]

    2["chat","hi"]                          EVENT "chat" on "/"
    2/admin,13["chat","hi"]                 EVENT on "/admin" asking for ack 13
    51-["up",{"_placeholder":true,"num":0}] BINARY_EVENT with one attachment, then
    <binary message>                        the attachment's raw bytes

The namespace is written only when it is not ``/``; the JSON is compact. Each ``bytes``
(or ``bytearray``/``memoryview``) anywhere in ``data`` becomes
``{"_placeholder":true,"num":N}`` and is sent as the N-th following binary message.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable
from json.encoder import c_encode_basestring, c_make_encoder  # type: ignore[attr-defined]
from json.scanner import make_scanner
from typing import Any

from ..packet import Packet, PacketType
from .base import RESERVED_EVENTS, ParseError

__all__ = ["RESERVED_EVENTS", "DefaultHook", "JsonDecoder", "JsonParser"]

#: ``default(obj)``: return a JSON-encodable stand-in for an application object (a dict for
#: a dataclass, a string for a datetime...), or raise TypeError. As ``json.dumps``'s.
DefaultHook = Callable[[Any], Any]


_TYPE_BY_CHAR = {str(t.value): t for t in PacketType}
_TYPE_DIGIT = {t: str(t.value) for t in PacketType}
_BINARY_TYPES = (PacketType.BINARY_EVENT, PacketType.BINARY_ACK)
_DIGITS = frozenset("0123456789")
_MAX_ID_DIGITS = 16  # ack ids are counters; 2**53 has 16 digits
_MAX_ATTACHMENT_DIGITS = 10
_EVENT = PacketType.EVENT  # a module global is read faster than an enum class attribute
_COMMON_TYPES = {"2": _EVENT, "3": PacketType.ACK}


def _not_plain(obj: Any) -> Any:
    raise TypeError(f"Object of type {type(obj).__name__} is not JSON serializable")


_dumps_plain: Callable[[Any], str]
if c_make_encoder is not None:
    # The C encoder itself, built once: ``JSONEncoder.encode`` builds it again for every
    # packet (half the cost of a small one). Same output as the reference below.
    _c_encode = c_make_encoder(
        None, _not_plain, c_encode_basestring, None, ":", ",", False, False, False
    )

    def _dumps_plain(data: Any) -> str:
        return "".join(_c_encode(data, 0))

else:  # no C accelerator (not CPython)
    _dumps_plain = json.JSONEncoder(
        separators=(",", ":"), ensure_ascii=False, allow_nan=False, check_circular=False
    ).encode


def _js_key(key: float) -> str:
    """The string JS makes of a number used as an object key (Infinity, -Infinity, NaN)."""
    if key != key:
        return "NaN"
    return "Infinity" if key > 0 else "-Infinity"


def _finite(obj: Any) -> Any:
    """``obj`` with every non-finite float as None, as JS's ``JSON.stringify`` writes
    ``null`` for Infinity and NaN (``1e400`` decodes to inf, and Node echoes it as null); a
    non-finite float key becomes the string JS makes of it. ``obj`` itself when it holds
    none (the caller then knows the ValueError was something else)."""
    if isinstance(obj, float):
        return obj if math.isfinite(obj) else None
    if isinstance(obj, (list, tuple)):
        items = [_finite(item) for item in obj]
        if all(new is old for new, old in zip(items, obj, strict=True)):
            return obj
        return items
    if isinstance(obj, dict):
        changed = False
        out: dict[Any, Any] = {}
        for key, value in obj.items():
            new = _finite(value)
            if isinstance(key, float) and not math.isfinite(key):
                key = _js_key(key)
                changed = True
            changed = changed or new is not value
            out[key] = new
        return out if changed else obj
    return obj


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


_decoder = json.JSONDecoder(parse_constant=_no_constant)
_full_loads = _decoder.decode
_scan = make_scanner(_decoder)  # type: ignore[arg-type]  # typeshed types it as a class


def _loads(text: str) -> Any:
    """``JSONDecoder.decode`` without its two whitespace regex matches when the text is one
    JSON value and nothing else (what clients send); anything else takes the full path,
    which also raises the errors."""
    try:
        data, end = _scan(text, 0)
    except StopIteration:
        return _full_loads(text)
    if end != len(text):
        return _full_loads(text)
    return data


class _Binary:
    """Collects the attachments of one packet while the JSON encoder walks its data, and
    hands other objects JSON cannot carry to the application's ``default`` hook."""

    __slots__ = ("attachments", "user_default")

    def __init__(self, user_default: DefaultHook | None) -> None:
        self.attachments: list[bytes] = []
        self.user_default = user_default

    def default(self, obj: Any) -> Any:
        if isinstance(obj, (bytes, bytearray, memoryview)):
            self.attachments.append(bytes(obj))
            return {"_placeholder": True, "num": len(self.attachments) - 1}
        if self.user_default is not None:
            return self.user_default(obj)  # its result may hold bytes: they are attachments
        raise TypeError(f"Object of type {type(obj).__name__} is not JSON serializable")


class JsonParser:
    """The JSON parser. Immutable; one instance serves every connection.

    :param max_attachments: most binary attachments one incoming packet may announce
        (npm socket.io-parser refuses more than 10).
    :param max_packet_size: most bytes (text plus attachments) one incoming packet may
        total; ``None`` for no limit beyond Engine.IO's per-message ``max_payload``.
    :param default: called with each object JSON cannot encode (other than bytes, which
        become attachments); returns an encodable stand-in or raises TypeError. Like
        ``json.dumps``'s ``default``.
    """

    name = "json"

    def __init__(
        self,
        *,
        max_attachments: int = 10,
        max_packet_size: int | None = None,
        default: DefaultHook | None = None,
    ) -> None:
        self.max_attachments = max_attachments
        self.max_packet_size = max_packet_size
        self.default = default

    def encode(self, packet: Packet) -> list[str | bytes]:
        data = packet.data
        if data is None:
            body = ""
            attachments: list[bytes] = []
        else:
            try:
                body, attachments = self._encode_data(data)
            except ValueError:
                # JSON has no Infinity or NaN: write null, as JSON.stringify does (issue
                # 12 defect 10: an echoed 1e400 answered nothing). Rare: the data is walked
                # only after the encoder refused it.
                finite = _finite(data)
                if finite is data:
                    raise
                body, attachments = self._encode_data(finite)
        ptype = packet.type
        if attachments:
            if ptype is PacketType.EVENT:
                ptype = PacketType.BINARY_EVENT
            elif ptype is PacketType.ACK:
                ptype = PacketType.BINARY_ACK
            head = f"{ptype.value}{len(attachments)}-"
        elif ptype in _BINARY_TYPES:
            # Asked for a binary type with no bytes in the data: say 0 attachments.
            head = f"{ptype.value}0-"
        else:
            head = _TYPE_DIGIT[ptype]  # not str(ptype.value): enum .value is a slow property
        if packet.nsp != "/":
            head += packet.nsp + ","
        if packet.id is not None:
            head += str(packet.id)
        out: list[str | bytes] = [head + body]
        out.extend(attachments)
        return out

    def _encode_data(self, data: Any) -> tuple[str, list[bytes]]:
        """The JSON text of ``data`` and its binary attachments."""
        try:
            # Fast path: the C encoder, no hook; bytes anywhere make it raise.
            return _dumps_plain(data), []
        except TypeError:
            # Bytes or application objects somewhere: the hooked (slower) encoder.
            binary = _Binary(self.default)
            body = json.dumps(
                data,
                separators=(",", ":"),
                ensure_ascii=False,
                allow_nan=False,
                check_circular=False,
                default=binary.default,
            )
            return body, binary.attachments

    def encode_ack(self, nsp: str, ack_id: int, args: list[Any]) -> list[str | bytes]:
        """``encode(Packet(ACK, nsp, args, ack_id))`` in one step for the common answer, an
        ack on the main namespace without bytes: ``3<id>[...]``."""
        if nsp == "/":
            try:
                return [f"3{ack_id}{_dumps_plain(args)}"]
            except (TypeError, ValueError):
                # bytes (attachments), objects for the application's default hook, or a
                # float JSON cannot carry: the general path knows them
                pass
        return self.encode(Packet(PacketType.ACK, nsp, args, ack_id))

    def new_decoder(self) -> JsonDecoder:
        return JsonDecoder(self.max_attachments, self.max_packet_size)


def decode_text(message: str, max_attachments: int = 10) -> tuple[Packet, int]:
    """Parse one text message: the packet (placeholders not yet replaced) and the number of
    attachments that follow it. Raises ParseError."""
    if not message:
        raise ParseError("empty packet")
    ptype = _TYPE_BY_CHAR.get(message[0])
    if ptype is None:
        raise ParseError("unknown packet type")
    i = 1
    n = len(message)
    attachments = 0
    if ptype in _BINARY_TYPES:
        dash = message.find("-", 1, 1 + _MAX_ATTACHMENT_DIGITS + 1)
        count = message[1:dash] if dash > 0 else ""
        if not count or not all(c in _DIGITS for c in count):
            raise ParseError("illegal attachments")
        attachments = int(count)
        if attachments > max_attachments:
            raise ParseError("too many attachments")
        i = dash + 1
    nsp = "/"
    if i < n and message[i] == "/":
        comma = message.find(",", i)
        if comma < 0:
            nsp = message[i:]
            i = n
        else:
            nsp = message[i:comma]
            i = comma + 1
    ack_id: int | None = None
    start = i
    while i < n and message[i] in _DIGITS:
        i += 1
    if i > start:
        if i - start > _MAX_ID_DIGITS:
            raise ParseError("ack id too long")
        ack_id = int(message[start:i])
    data: Any = None
    if i < n:
        try:
            data = _loads(message[i:] if i else message)
        except ValueError as exc:
            raise ParseError("invalid payload") from exc
        except RecursionError as exc:  # the C scanner's depth limit: Python's own
            raise ParseError("invalid payload: nested too deeply") from exc
        if not _payload_valid(ptype, data):
            raise ParseError("invalid payload")
    elif ptype in (
        PacketType.EVENT,
        PacketType.ACK,
        PacketType.BINARY_EVENT,
        PacketType.BINARY_ACK,
        PacketType.CONNECT_ERROR,
    ):
        raise ParseError("missing payload")
    return Packet(ptype, nsp, data, ack_id), attachments


def _decode_common(message: str) -> Packet | None:
    """The shapes nearly every message has, ``2[...]``, ``2<id>[...]`` and ``3<id>[...]``
    (an EVENT or ACK on the main namespace), without :func:`decode_text`'s walk: the JSON
    scanner reads the message in place from its ``[``. None for anything else, and for
    anything invalid, so that :func:`decode_text` gives the precise error."""
    kind = _COMMON_TYPES.get(message[:1])
    if kind is None:
        return None
    start = message.find("[", 1, 2 + _MAX_ID_DIGITS)
    if start < 0:
        return None
    ack_id = None
    if start > 1:
        digits = message[1:start]
        # isdigit() alone also accepts digits of other scripts, which int() reads too
        if not (digits.isdigit() and digits.isascii()):
            return None  # a namespace, or garbage
        ack_id = int(digits)
    try:
        data, end = _scan(message, start)
    except (StopIteration, ValueError, RecursionError):
        return None  # decode_text raises the ParseError
    if end != len(message):
        return None  # trailing whitespace (allowed) or garbage: decode_text sorts it out
    if kind is _EVENT:
        # the event name: a str not reserved by the client, or a number (not a bool)
        if not data:
            return None
        name = data[0]
        if type(name) is str:
            if name in RESERVED_EVENTS:
                return None
        elif type(name) is not int and type(name) is not float:
            return None
    return Packet(kind, "/", data, ack_id)


def _payload_valid(ptype: PacketType, data: Any) -> bool:
    if ptype is PacketType.EVENT or ptype is PacketType.BINARY_EVENT:
        if not isinstance(data, list) or not data:
            return False
        name = data[0]
        if isinstance(name, str):
            return name not in RESERVED_EVENTS
        return isinstance(name, (int, float)) and not isinstance(name, bool)
    if ptype is PacketType.ACK or ptype is PacketType.BINARY_ACK:
        return isinstance(data, list)
    if ptype is PacketType.CONNECT:
        return isinstance(data, dict)
    if ptype is PacketType.CONNECT_ERROR:
        return isinstance(data, (dict, str))
    return False  # DISCONNECT carries no payload


def _reconstructed(data: Any, buffers: list[bytes]) -> Any:
    try:
        return _reconstruct(data, buffers)
    except RecursionError as exc:  # data nested nearly as deep as the scanner allows
        raise ParseError("invalid payload: nested too deeply") from exc


def _reconstruct(data: Any, buffers: list[bytes]) -> Any:
    """Replace every placeholder in ``data`` with its attachment (in place where possible)."""
    if isinstance(data, list):
        for k, item in enumerate(data):
            if isinstance(item, (list, dict)):
                data[k] = _reconstruct(item, buffers)
        return data
    if isinstance(data, dict):
        if data.get("_placeholder") is True:
            num = data.get("num")
            if type(num) is not int or not 0 <= num < len(buffers):
                raise ParseError("illegal attachments")
            return buffers[num]
        for key, value in data.items():
            if isinstance(value, (list, dict)):
                data[key] = _reconstruct(value, buffers)
        return data
    return data


class _Partial:
    """A binary packet waiting for its attachments."""

    __slots__ = ("buffers", "expected", "packet", "size")

    def __init__(self, packet: Packet, expected: int, size: int) -> None:
        self.packet = packet
        self.expected = expected
        self.buffers: list[bytes] = []
        self.size = size


class JsonDecoder:
    """Per-connection state: a binary packet waits here for its attachments (the state is
    made only then: one decoder is held per connection, and most never see one)."""

    __slots__ = ("_max_attachments", "_max_size", "_pending")

    def __init__(self, max_attachments: int = 10, max_packet_size: int | None = None) -> None:
        self._max_attachments = max_attachments
        self._max_size = max_packet_size
        self._pending: _Partial | None = None

    def feed(self, message: str | bytes) -> Packet | None:
        pending = self._pending
        if isinstance(message, str):
            if pending is not None:
                raise ParseError("got plaintext data when reconstructing a packet")
            if self._max_size is not None and len(message) > self._max_size:
                raise ParseError("packet too large")
            packet = _decode_common(message)
            if packet is not None:
                return packet
            packet, attachments = decode_text(message, self._max_attachments)
            if packet.type not in _BINARY_TYPES:
                return packet
            if attachments == 0:
                packet.data = _reconstructed(packet.data, [])
                return packet
            self._pending = _Partial(packet, attachments, len(message))
            return None
        if pending is None:
            raise ParseError("got binary data when not reconstructing a packet")
        pending.size += len(message)
        if self._max_size is not None and pending.size > self._max_size:
            raise ParseError("packet too large")
        pending.buffers.append(bytes(message))
        if len(pending.buffers) < pending.expected:
            return None
        self._pending = None
        packet = pending.packet
        packet.data = _reconstructed(packet.data, pending.buffers)
        return packet
