"""The wire of ``@socket.io/redis-streams-adapter`` 0.3.1, sans-I/O: stream entries, stream
names, sessions and offsets.

Owns: turning a :class:`~rtio.cluster.messages.ClusterMessage` into the fields of one
stream entry and back, the stream a namespace uses, the session stored under
``sio:session:<pid>``, the offset checks of a restore, and Node's replay rule. Does not
know: Redis commands, asyncio, or rtio.socketio (rtio.cluster.redis.streams is the glue).

A stream entry (``XADD <stream> MAXLEN ~ <max_len> * uid .. nsp .. type .. data ..``)::

    uid   "<16 hex>"            the sending adapter
    nsp   "/chat"
    type  "3"                    the ClusterAdapter message type, in decimal
    data  '{"packet":...}'       JSON text, or base64 of msgpack when the data holds bytes
                                 (BROADCAST, FETCH_SOCKETS_RESPONSE, SERVER_SIDE_EMIT(_RESPONSE),
                                 BROADCAST_ACK only); absent for types without data

A reader tells JSON from base64 by a first character ``{``. A session is
``base64(msgpack({sid, pid, rooms, data}))``, written ``SET .. PX <ms>`` by the node the
socket left. An offset is a stream entry id ``<ms>-<seq>``.

Errors: :class:`~rtio.cluster.errors.MessageError` for an entry or a session that cannot be
read; :class:`ValueError` for bad options.
"""

from __future__ import annotations

import base64
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from .errors import MessageError
from .messages import ClusterMessage, MessageType
from .wire import decode, encode_json, encode_msgpack, has_binary, js_string, need_dict

__all__ = [
    "OFFSET_RE",
    "StreamSession",
    "StreamsOptions",
    "decode_entry",
    "decode_session",
    "encode_entry",
    "encode_session",
    "entry_fields",
    "entry_key",
    "java_hash",
    "next_offset",
    "replays",
    "stream_for",
]

#: what a restore accepts as an offset (Node's check)
OFFSET_RE = re.compile(r"^[0-9]+-[0-9]+$")

_MAY_HOLD_BINARY = frozenset(
    {
        MessageType.BROADCAST,
        MessageType.FETCH_SOCKETS_RESPONSE,
        MessageType.SERVER_SIDE_EMIT,
        MessageType.SERVER_SIDE_EMIT_RESPONSE,
        MessageType.BROADCAST_ACK,
    }
)


@dataclass(frozen=True, slots=True)
class StreamsOptions:
    """Node's ``createAdapter(redisClient, opts)`` options (times in seconds here), plus
    rtio's bounds on a restore."""

    stream_name: str = "socket.io"
    stream_count: int = 1
    channel_prefix: str = "socket.io"
    max_len: int = 10_000
    read_count: int = 100
    block_time: float = 5.0
    session_key_prefix: str = "sio:session:"
    #: entries one XRANGE of a restore reads (Node: all of them at once)
    restore_page: int = 1_000
    #: entries a restore reads at most; past it the session is not recovered (Node: 100
    #: unbounded XRANGE calls)
    restore_max_entries: int = 100_000
    #: broadcasts waiting for their XADD, at most; past it new ones are dropped (logged)
    max_outbound: int = 10_000
    #: seconds a restore waits for a session not written yet, when the offset is in the
    #: stream (its client came back before the node it left had saved it); 0: no wait
    restore_wait: float = 0.5
    #: seconds between rewrites of every local socket's session while it is connected
    #: (also written at connect and on each room change): a node killed before it could
    #: save its sessions (SIGKILL, power loss) leaves them behind, its rooms and data as of
    #: the last write. None (default): written when the socket goes only, as in Node
    save_ahead: float | None = None

    def __post_init__(self) -> None:
        if self.stream_count < 1:
            raise ValueError("stream_count must be at least 1")
        if self.max_len < 1 or self.read_count < 1 or self.restore_page < 1:
            raise ValueError("max_len, read_count and restore_page must be at least 1")
        if not 0 < self.block_time <= 60:
            raise ValueError("block_time must be in (0, 60] seconds")
        if self.restore_max_entries < 1 or self.max_outbound < 1:
            raise ValueError("restore_max_entries and max_outbound must be at least 1")
        if not 0 <= self.restore_wait <= 10:
            raise ValueError("restore_wait must be in [0, 10] seconds")
        if self.save_ahead is not None and not 0.1 <= self.save_ahead <= 3600:
            raise ValueError("save_ahead must be in [0.1, 3600] seconds (or None)")

    def public_channel(self, nsp: str) -> str:
        return f"{self.channel_prefix}#{nsp}#"

    def private_channel(self, nsp: str, uid: str) -> str:
        return f"{self.channel_prefix}#{nsp}#{uid}#"

    def session_key(self, pid: str) -> str:
        return self.session_key_prefix + pid


def java_hash(text: str) -> int:
    """Node's ``hashCode``: ``hash * 31 + charCode`` over UTF-16 code units, kept to a
    signed 32-bit integer."""
    h = 0
    units = text.encode("utf-16-le", "surrogatepass")
    for i in range(0, len(units), 2):
        h = (h * 31 + (units[i] | units[i + 1] << 8)) & 0xFFFFFFFF
    return h - 0x1_0000_0000 if h & 0x8000_0000 else h


def stream_for(nsp: str, options: StreamsOptions) -> str:
    """The stream of a namespace: the one stream, or ``<name>-<i>`` with JavaScript's
    sign-keeping remainder (so ``socket.io--3`` exists)."""
    if options.stream_count == 1:
        return options.stream_name
    h = java_hash(nsp)
    i = abs(h) % options.stream_count
    return f"{options.stream_name}-{-i if h < 0 else i}"


def encode_entry(message: ClusterMessage) -> dict[str, str]:
    """The fields of the stream entry of ``message``, in Node's order."""
    fields = {"uid": message.uid, "nsp": message.nsp, "type": str(int(message.type))}
    data = message.body.data()
    if data:
        if message.type in _MAY_HOLD_BINARY and has_binary(data):
            fields["data"] = base64.b64encode(encode_msgpack(data)).decode("ascii")
        else:
            fields["data"] = encode_json(data).decode("utf-8")
    return fields


def _text(value: Any) -> str:
    if isinstance(value, bytes):
        return value.decode("utf-8", "surrogateescape")
    if isinstance(value, str):
        return value
    raise MessageError(f"a stream field must be text, not {type(value).__name__}")


def decode_entry(fields: Mapping[Any, Any]) -> ClusterMessage:
    """A stream entry's fields (bytes or str, as redis-py gives them) as a message."""
    entry = {_text(k): v for k, v in fields.items()}
    try:
        kind = int(_text(entry.get("type", b"")), 10)
    except ValueError as exc:
        raise MessageError(f"bad entry type {entry.get('type')!r}") from exc
    head = {
        "type": kind,
        "uid": _text(entry.get("uid", b"")),
        "nsp": _text(entry.get("nsp", b"/")),
    }
    raw = entry.get("data")
    if raw is None:
        return ClusterMessage.parse(encode_json(head))
    text = _text(raw)
    if text.startswith("{"):
        # the data's JSON text goes into the message as it is: no decode and re-encode
        return ClusterMessage.parse(encode_json(head)[:-1] + b',"data":' + text.encode() + b"}")
    try:
        data = decode(base64.b64decode(text, validate=True))
    except (ValueError, MessageError) as exc:
        raise MessageError(f"entry data is neither JSON nor base64 msgpack: {exc}") from exc
    return ClusterMessage.parse(encode_msgpack({**head, "data": data}))


@dataclass(frozen=True, slots=True)
class StreamSession:
    """A session as stored in Redis (Node's ``Session``)."""

    sid: str
    pid: str
    rooms: tuple[str, ...]
    data: Any = None


def encode_session(session: StreamSession) -> str:
    """``base64(msgpack({sid, pid, rooms, data}))``, what Node's ``persistSession`` SETs."""
    value = {"sid": session.sid, "pid": session.pid, "rooms": list(session.rooms)}
    value["data"] = session.data
    return base64.b64encode(encode_msgpack(value)).decode("ascii")


def decode_session(raw: bytes | str) -> StreamSession:
    """Raises :class:`MessageError` if ``raw`` is not a session."""
    try:
        obj = need_dict(decode(base64.b64decode(raw, validate=True)), "session")
    except (ValueError, MessageError) as exc:
        raise MessageError(f"not a session: {exc}") from exc
    sid, pid, rooms = obj.get("sid"), obj.get("pid"), obj.get("rooms")
    if not isinstance(sid, str) or not isinstance(pid, str) or not isinstance(rooms, list):
        raise MessageError("a session needs sid, pid (strings) and rooms (a list)")
    return StreamSession(sid, pid, tuple(js_string(r) for r in rooms), obj.get("data"))


def next_offset(offset: str) -> str:
    """The first entry id after ``offset`` (Node's ``nextOffset``: Redis < 6.2 has no
    exclusive ranges)."""
    ms, _, seq = offset.partition("-")
    return f"{ms}-{int(seq) + 1}"


def replays(session_rooms: Iterable[str], rooms: Iterable[Any], except_: Iterable[Any]) -> bool:
    """Node's ``shouldIncludePacket`` on wire rooms (numbers as JavaScript writes them)."""
    mine = set(session_rooms)
    targets = {js_string(r) for r in rooms}
    if targets and mine.isdisjoint(targets):
        return False
    return mine.isdisjoint(js_string(r) for r in except_)


def entry_key(entry_id: str) -> tuple[int, int]:
    """A stream entry id ``<ms>-<seq>`` as a tuple that orders as Redis does."""
    ms, _, seq = entry_id.partition("-")
    return int(ms), int(seq or 0)


def entry_fields(fields: Any) -> dict[Any, Any]:
    """A stream entry's fields as a dict (redis-py gives a flat list under RESP2)."""
    if isinstance(fields, dict):
        return fields
    return dict(zip(fields[::2], fields[1::2], strict=True))
