"""The values every cluster message carries, and the two encodings they travel in.

Owns: the Socket.IO packet as it crosses the cluster (:class:`WirePacket`), the broadcast
options (:class:`WireOptions`, :class:`WireFlags`), a remote socket as ``fetchSockets``
returns it (:class:`RemoteSocket`), room names as Node compares them (:func:`js_string`),
and the JSON / msgpack encodings with Node's rules (``JSON.stringify`` and notepack.io 3).

Does not know: channels, message types, Redis, asyncio, or rtio.socketio's own classes
(the adapter step converts between those and these).

Encodings, as Node's packages read them::

    JSON     b'{"type":3,...}'     compact, keys in Node's order, non-ASCII as UTF-8
    msgpack  b'\\x84\\xa4type...'    notepack.io: ints in the smallest form, other numbers
                                  float64, strings str8/16/32, bytes bin8/16/32

Every decoder tells them apart by the first byte: ``{`` (0x7b) is JSON. A message holding
bytes must travel as msgpack (JSON would turn a Buffer into ``{"type":"Buffer",...}``); all
of Node's decoders accept msgpack wherever they accept JSON, so rtio encodes JSON unless the
message holds bytes, then msgpack, for every message kind.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import msgpack  # type: ignore[import-untyped]  # msgpack ships no type hints

from .errors import MessageError

__all__ = [
    "EMITTER_UID",
    "SOCKETS_MARK",
    "RemoteSocket",
    "Room",
    "WireFlags",
    "WireOptions",
    "WirePacket",
    "decode",
    "encode",
    "encode_json",
    "encode_json_sockets",
    "encode_msgpack",
    "has_binary",
    "js_string",
    "json_text",
    "parse_room",
    "parse_rooms",
]

#: the uid of messages from ``@socket.io/redis-emitter`` (and rtio's emitter)
EMITTER_UID = "emitter"

#: a room name on the wire: Node lets an application use numbers as room names
Room = str | int | float

_JSON_OPEN = 0x7B  # "{"
_EVENT = 2  # Socket.IO packet type EVENT


# -- room names --------------------------------------------------------------------------


def js_string(room: Room) -> str:
    """``String(room)`` in JavaScript: how Node writes a room into a channel name.

    Node's classic adapter takes the room of a channel ``socket.io#/#123#`` to match a local
    room ``123`` (a number) or ``"123"``; rtio's rooms are strings, so a wire room ``123``
    is rtio's room ``"123"``.
    """
    if isinstance(room, str):
        return room
    if isinstance(room, bool):  # a bool is an int in Python; JavaScript writes true/false
        return "true" if room else "false"
    if isinstance(room, int):
        return str(room)
    if math.isnan(room):
        return "NaN"
    if math.isinf(room):
        return "Infinity" if room > 0 else "-Infinity"
    if room.is_integer() and abs(room) < 1e21:
        return str(int(room))
    text = repr(room)  # shortest round-trip digits, as JavaScript
    if "e" in text:
        mantissa, exponent = text.split("e")
        sign = "-" if exponent.startswith("-") else "+"
        text = f"{mantissa}e{sign}{exponent.lstrip('+-').lstrip('0') or '0'}"
        if abs(room) >= 1e-6 and abs(room) < 1e21:  # JavaScript writes these in full
            text = format(room, "f").rstrip("0").rstrip(".")
    return text


def parse_room(value: object) -> Room:
    if isinstance(value, str | int | float) and not isinstance(value, bool):
        return value
    raise MessageError(f"a room name must be a string or a number, not {value!r}")


def parse_rooms(value: object) -> tuple[Room, ...]:
    if not isinstance(value, list):
        raise MessageError(f"rooms must be a list, not {value!r}")
    rooms = tuple(value)
    if all(type(room) is str for room in rooms):  # nearly always: no check per room
        return rooms
    return tuple(parse_room(room) for room in rooms)


# -- encodings ---------------------------------------------------------------------------


def has_binary(value: object) -> bool:
    """Whether ``value`` holds bytes anywhere (Node's ``hasBinary``)."""
    if isinstance(value, bytes | bytearray | memoryview):
        return True
    if isinstance(value, list | tuple):
        return any(has_binary(item) for item in value)
    if isinstance(value, dict):
        return any(has_binary(item) for item in value.values())
    return False


def encode_json(value: object) -> bytes:
    """``JSON.stringify(value)`` as bytes: compact, non-ASCII kept as UTF-8."""
    return _JSON.encode(value).encode("utf-8", "surrogatepass")


#: JSON.stringify's form, with the C encoder built once (json.dumps with options builds one
#: per call)
_JSON = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False, allow_nan=False)
#: where encode_json_sockets puts the sockets' list (a string no encoder writes itself)
SOCKETS_MARK = "\x00rtio-sockets\x00"
_MARK_JSON = _JSON.encode(SOCKETS_MARK)


def json_text(value: object) -> str:
    """``JSON.stringify(value)`` as text (raises TypeError / ValueError as json does)."""
    return _JSON.encode(value)


def encode_json_sockets(envelope: object, sockets: Sequence[RemoteSocket]) -> bytes | None:
    """A fetch answer as JSON bytes, the sockets written from their cached handshake JSON
    (:attr:`RemoteSocket.handshake_json`): ``envelope`` holds :data:`SOCKETS_MARK` where
    the list goes. The same bytes as :func:`encode_json` of the whole answer, 3x faster
    for 1,000 sockets; None when a socket holds what JSON cannot carry (bytes: the caller
    encodes the whole answer the usual way, msgpack)."""
    try:
        parts = [s.to_json() for s in sockets]
    except (TypeError, ValueError):
        return None
    head, found, tail = _JSON.encode(envelope).partition(_MARK_JSON)
    if not found:
        raise ValueError("the envelope holds no SOCKETS_MARK")
    return "".join((head, "[", ",".join(parts), "]", tail)).encode("utf-8", "surrogatepass")


def encode_msgpack(value: object) -> bytes:
    """notepack.io's encoding (bytes as ``bin``, strings as ``str``)."""
    return msgpack.packb(value, use_bin_type=True)  # type: ignore[no-any-return]


def encode(value: object, binary: bool | None = None) -> bytes:
    """JSON, or msgpack when ``value`` holds bytes (``binary`` given: trust it)."""
    if binary is None:
        # JSON is tried first: it fails on bytes, and a walk of the whole value looking for
        # them (has_binary) costs more than the encoding itself (a fetch answer of 1,000
        # sockets: 25 ms of 34)
        try:
            return encode_json(value)
        except TypeError:
            if not has_binary(value):
                raise
            return encode_msgpack(value)
    return encode_msgpack(value) if binary else encode_json(value)


def _ext_hook(code: int, data: bytes) -> object:
    # notepack.io writes `undefined` as fixext 1, type 0, data 0x00, and (in old versions) an
    # ArrayBuffer as ext type 0: read them as None and bytes.
    if code == 0:
        return None if data == b"\x00" else bytes(data)
    return msgpack.ExtType(code, data)


def decode(payload: bytes) -> Any:
    """JSON if the first byte is ``{``, else msgpack, as every Node decoder does.

    Raises :class:`MessageError` if it is neither.
    """
    if not payload:
        raise MessageError("empty message")
    try:
        if payload[0] == _JSON_OPEN:
            return json.loads(payload)
        return msgpack.unpackb(payload, raw=False, strict_map_key=False, ext_hook=_ext_hook)
    except (ValueError, msgpack.ExtraData, msgpack.FormatError, msgpack.StackError) as exc:
        raise MessageError(f"undecodable message: {exc}") from exc


# -- small parsing helpers ---------------------------------------------------------------


def need_dict(value: object, what: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise MessageError(f"{what} must be an object, not {type(value).__name__}")
    return value


def need_str(value: object, what: str) -> str:
    if not isinstance(value, str):
        raise MessageError(f"{what} must be a string, not {value!r}")
    return value


def need_int(value: object, what: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise MessageError(f"{what} must be an integer, not {value!r}")
    return value


def optional_str(value: object, what: str) -> str | None:
    return None if value is None else need_str(value, what)


# -- the packet --------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class WirePacket:
    """A Socket.IO packet inside a cluster message, binary kept inline (never attachments).

    ::

        {"type": 2, "data": ["event", ...args], "nsp": "/"}     classic adapter, emitter
        {"type": 2, "data": ["event", ...args]}                  ClusterAdapter (nsp outside)

    ``nsp`` None: not on the wire (a classic receiver reads that as "/").
    """

    data: list[Any]
    type: int = _EVENT
    nsp: str | None = None
    #: an ack id: Node never puts one on the wire (each node picks its own)
    id: int | None = None

    @classmethod
    def parse(cls, value: object) -> WirePacket:
        obj = need_dict(value, "packet")
        data = obj.get("data")
        if not isinstance(data, list):
            raise MessageError(f"packet data must be a list, not {data!r}")
        ack_id = obj.get("id")
        return cls(
            data=data,
            type=need_int(obj.get("type"), "packet type"),
            nsp=optional_str(obj.get("nsp"), "packet nsp"),
            id=None if ack_id is None else need_int(ack_id, "packet id"),
        )

    def to_wire(self) -> dict[str, Any]:
        out: dict[str, Any] = {"type": self.type, "data": self.data}
        if self.nsp is not None:
            out["nsp"] = self.nsp
        if self.id is not None:
            out["id"] = self.id
        return out


_FLAG_NAMES = ("volatile", "compress", "local", "broadcast", "binary", "timeout")


@dataclass(frozen=True, slots=True)
class WireFlags:
    """Broadcast flags as Node's BroadcastOperator sets them: only those set are on the wire.

    ``timeout`` is in milliseconds, as on the wire.
    """

    volatile: bool | None = None
    compress: bool | None = None
    local: bool | None = None
    broadcast: bool | None = None
    binary: bool | None = None
    timeout: int | float | None = None
    #: the order the flags came in (Node writes them in the order the app set them)
    order: tuple[str, ...] = field(default=(), compare=False)

    @classmethod
    def parse(cls, value: object) -> WireFlags:
        if value is None:
            return cls()
        obj = need_dict(value, "flags")
        kwargs: dict[str, Any] = {}
        for name in _FLAG_NAMES:
            flag = obj.get(name)
            if flag is None:
                continue
            if name == "timeout":
                if isinstance(flag, bool) or not isinstance(flag, int | float):
                    raise MessageError(f"flag timeout must be a number, not {flag!r}")
            elif not isinstance(flag, bool):
                raise MessageError(f"flag {name} must be a boolean, not {flag!r}")
            kwargs[name] = flag
        return cls(**kwargs, order=tuple(name for name in obj if name in kwargs))

    def to_wire(self) -> dict[str, Any]:
        names = self.order or _FLAG_NAMES
        out: dict[str, Any] = {}
        for name in names:
            value = getattr(self, name)
            if value is not None:
                out[name] = value
        if self.order:  # flags set after parsing but not in its order
            for name in _FLAG_NAMES:
                value = getattr(self, name)
                if value is not None and name not in out:
                    out[name] = value
        return out


@dataclass(frozen=True, slots=True)
class WireOptions:
    """Which sockets an operation selects, and the broadcast flags.

    ::

        {"rooms": [...], "except": [...], "flags": {...}}     adapters
        {"rooms": [...], "flags": {...}, "except": [...]}     the emitter's order
        {"rooms": [...], "except": [...]}                     classic requests (no flags)
    """

    rooms: tuple[Room, ...] = ()
    except_rooms: tuple[Room, ...] = ()
    #: None: no "flags" key on the wire
    flags: WireFlags | None = field(default_factory=WireFlags)
    #: write "flags" before "except" (the emitter's order)
    emitter_order: bool = field(default=False, compare=False)

    @classmethod
    def parse(cls, value: object) -> WireOptions:
        obj = need_dict(value, "opts")
        keys = list(obj)
        emitter_order = (
            "flags" in obj and "except" in obj and keys.index("flags") < keys.index("except")
        )
        return cls(
            rooms=parse_rooms(obj.get("rooms", [])),
            except_rooms=parse_rooms(obj.get("except", [])),
            flags=WireFlags.parse(obj["flags"]) if "flags" in obj else None,
            emitter_order=emitter_order,
        )

    def to_wire(self) -> dict[str, Any]:
        rooms = list(self.rooms)
        except_rooms = list(self.except_rooms)
        if self.flags is None:
            return {"rooms": rooms, "except": except_rooms}
        if self.emitter_order:
            return {"rooms": rooms, "flags": self.flags.to_wire(), "except": except_rooms}
        return {"rooms": rooms, "except": except_rooms, "flags": self.flags.to_wire()}

    def room_names(self) -> tuple[frozenset[str], frozenset[str]]:
        """(rooms, except) as rtio's string rooms: a number is its JavaScript decimal."""
        return (
            frozenset(js_string(room) for room in self.rooms),
            frozenset(js_string(room) for room in self.except_rooms),
        )

    def without_flags(self) -> WireOptions:
        return WireOptions(self.rooms, self.except_rooms, None)


@dataclass(frozen=True, slots=True)
class RemoteSocket:
    """A socket of another node, as a ``fetchSockets`` answer describes it.

    ``{"id": ..., "handshake": {headers, time, address, xdomain, secure, issued, url,
    query, auth}, "rooms": [...], "data": ...}``; the handshake is kept as Node sent it.
    """

    id: str
    handshake: Mapping[str, Any]
    rooms: tuple[Room, ...]
    data: Any = None
    #: ``handshake`` as JSON text, when the sender cached it (never read from the wire)
    handshake_json: str | None = field(default=None, compare=False, repr=False)

    @classmethod
    def parse(cls, value: object) -> RemoteSocket:
        if type(value) is dict:  # the usual shape, checked inline (1,000 sockets an answer)
            sid, handshake, rooms = value.get("id"), value.get("handshake", {}), value.get("rooms")
            if (
                type(sid) is str
                and type(handshake) is dict
                and type(rooms) is list
                and all(type(room) is str for room in rooms)
            ):
                return cls(sid, handshake, tuple(rooms), value.get("data"))
        obj = need_dict(value, "socket")
        return cls(
            id=need_str(obj.get("id"), "socket id"),
            handshake=need_dict(obj.get("handshake", {}), "handshake"),
            rooms=parse_rooms(obj.get("rooms", [])),
            data=obj.get("data"),
        )

    def to_wire(self) -> dict[str, Any]:
        handshake = self.handshake
        out: dict[str, Any] = {
            "id": self.id,
            "handshake": handshake if isinstance(handshake, dict) else dict(handshake),
        }
        out["rooms"] = list(self.rooms)
        if self.data is not None:  # JSON.stringify drops an undefined `data`
            out["data"] = self.data
        return out

    def to_json(self) -> str:
        """:meth:`to_wire` as JSON text, the handshake's cached text used when there is one
        (raises TypeError / ValueError when a value cannot be JSON)."""
        handshake = self.handshake_json
        if handshake is None:
            handshake = _JSON.encode(dict(self.handshake))
        parts = ['{"id":', _JSON.encode(self.id), ',"handshake":', handshake, ',"rooms":',
                 _JSON.encode(list(self.rooms))]  # fmt: skip
        if self.data is not None:
            parts += (',"data":', _JSON.encode(self.data))
        parts.append("}")
        return "".join(parts)


def sockets_list(value: object, what: str) -> Sequence[Any]:
    if not isinstance(value, list):
        raise MessageError(f"{what} must be a list, not {value!r}")
    return value
