"""The Engine.IO v4 client session, sans-I/O: the packet and polling payload codec, the
open packet, the heartbeat deadline and the bounded queue of outgoing messages.

Owns what the client decides; knows no sockets, no HTTP and no clock of its own (``now``
is an argument). The glue (transport.py) feeds it packets and flushes what it queues.

    packet   (one WebSocket frame, or one polling record)
             text:   <type digit 0-6><data>          "0{...}", "2", "3", "4hello", "5", "6"
             binary: WebSocket: the raw bytes of a MESSAGE; polling: "b" <base64>
    payload  records joined by U+001E:   4hello \\x1e bAQID \\x1e 3

v4 heartbeat: the server pings (``2``), the client answers (``3``); the client considers
the connection dead after pingInterval + pingTimeout without a ping.
"""

from __future__ import annotations

import base64
import binascii
import enum
import json
from collections import deque
from collections.abc import Iterable
from dataclasses import dataclass

from rtio.engine import Packet, PacketType

__all__ = [
    "RECORD_SEPARATOR",
    "EngineClientCore",
    "EngineClientState",
    "EngineProtocolError",
    "OpenInfo",
    "SendQueueFull",
    "decode_frame",
    "decode_payload",
    "encode_frame",
    "encode_payload",
]

RECORD_SEPARATOR = "\x1e"
_TYPES = {str(int(t)): t for t in PacketType}


class EngineProtocolError(ValueError):
    """What the server sent is not Engine.IO v4 (the connection ends: "parse error")."""


class SendQueueFull(RuntimeError):
    """More messages wait to be sent than ``max_queued`` (the server does not read)."""


def encode_frame(packet: Packet) -> str | bytes:
    """The WebSocket message of ``packet``: text as ``<digit><data>``, binary raw."""
    if isinstance(packet.data, bytes):
        return packet.data
    return f"{int(packet.type)}{packet.data}"


def decode_frame(frame: str | bytes) -> Packet:
    """One WebSocket message as a packet (a binary frame is a binary MESSAGE)."""
    if isinstance(frame, (bytes, bytearray, memoryview)):
        return Packet(PacketType.MESSAGE, bytes(frame))
    ptype = _TYPES.get(frame[:1])
    if ptype is None:
        raise EngineProtocolError(f"unknown packet type {frame[:1]!r}")
    return Packet(ptype, frame[1:])


def _record(item: str | bytes) -> str:
    if isinstance(item, str):
        return item
    # v4 "Binary payloads MUST be base64-encoded and prefixed with a `b` character"
    return "b" + base64.b64encode(item).decode("ascii")


def encode_payload(frames: Iterable[str | bytes]) -> str:
    """A polling payload (the body of a POST) from encoded frames (:func:`encode_frame`)."""
    return RECORD_SEPARATOR.join(map(_record, frames))


def decode_payload(payload: str, max_packets: int = 10_000) -> list[Packet]:
    """The packets of a polling response body. Raises EngineProtocolError."""
    records = payload.split(RECORD_SEPARATOR, max_packets)
    if len(records) > max_packets:
        raise EngineProtocolError(f"more than {max_packets} packets in one payload")
    out = []
    for record in records:
        if record[:1] == "b":
            try:
                out.append(Packet(PacketType.MESSAGE, base64.b64decode(record[1:], validate=True)))
            except (binascii.Error, ValueError) as exc:
                raise EngineProtocolError("invalid base64 in a binary packet") from exc
        else:
            out.append(decode_frame(record))
    return out


def payload_size(frame: str | bytes) -> int:
    """What one frame adds to a polling payload, in characters (plus its separator)."""
    if isinstance(frame, str):
        return len(frame) + 1
    return 2 + (len(frame) + 2) // 3 * 4


@dataclass(frozen=True)
class OpenInfo:
    """The server's open packet: ``0{"sid","upgrades","pingInterval","pingTimeout",
    "maxPayload"}`` (intervals in ms in the packet, seconds here)."""

    sid: str
    upgrades: tuple[str, ...]
    ping_interval: float
    ping_timeout: float
    max_payload: int

    @classmethod
    def parse(cls, data: str) -> OpenInfo:
        try:
            obj = json.loads(data)
            sid = obj["sid"]
            upgrades = tuple(obj.get("upgrades", ()))
            interval = obj["pingInterval"]
            timeout = obj["pingTimeout"]
            max_payload = obj.get("maxPayload", 1_000_000)
        except (ValueError, KeyError, TypeError) as exc:
            raise EngineProtocolError(f"invalid open packet {data[:100]!r}") from exc
        if not isinstance(sid, str) or not sid:
            raise EngineProtocolError("invalid sid in the open packet")
        for number in (interval, timeout, max_payload):
            if type(number) not in (int, float) or number < 0:
                raise EngineProtocolError("invalid numbers in the open packet")
        upgrades = tuple(map(str, upgrades))
        return cls(sid, upgrades, interval / 1000, timeout / 1000, int(max_payload))


class EngineClientState(enum.Enum):
    OPENING = "opening"
    OPEN = "open"
    CLOSED = "closed"


class EngineClientCore:
    """One Engine.IO session seen from the client.

    ``receive(packet, now)`` returns the packets to hand to the layer above (MESSAGE data)
    and answers pings itself (the pong is queued: no caller can forget it). The heartbeat
    deadline (``ping_deadline``) moves with every ping; the glue arms one timer for it and
    calls ``expired(now)``."""

    def __init__(self, max_queued: int = 10_000) -> None:
        self.state = EngineClientState.OPENING
        self.info: OpenInfo | None = None
        self.ping_deadline: float | None = None
        self.max_queued = max_queued
        self._queue: deque[str | bytes] = deque()
        #: set once the server sent a close packet
        self.closed_by_server = False

    @property
    def sid(self) -> str | None:
        return None if self.info is None else self.info.sid

    def receive(self, packet: Packet, now: float) -> list[str | bytes]:
        """Take one packet from the server; return the messages it carried."""
        ptype = packet.type
        if self.state is EngineClientState.OPENING:
            if ptype is not PacketType.OPEN or not isinstance(packet.data, str):
                raise EngineProtocolError(f"expected the open packet, got {ptype.name}")
            self.info = OpenInfo.parse(packet.data)
            self.state = EngineClientState.OPEN
            self._heartbeat(now)
            return []
        if self.state is EngineClientState.CLOSED:
            return []
        if ptype is PacketType.MESSAGE:
            return [packet.data]
        if ptype is PacketType.PING:
            # v4: the server sends a ping, the client answers with a pong
            self._heartbeat(now)
            self._queue.append(encode_frame(Packet(PacketType.PONG, packet.data)))
            return []
        if ptype is PacketType.CLOSE:
            self.closed_by_server = True
            self.state = EngineClientState.CLOSED
            return []
        if ptype is PacketType.NOOP:
            return []
        raise EngineProtocolError(f"unexpected {ptype.name} packet")

    def _heartbeat(self, now: float) -> None:
        info = self.info
        assert info is not None
        self.ping_deadline = now + info.ping_interval + info.ping_timeout

    def expired(self, now: float) -> bool:
        """No ping within pingInterval + pingTimeout: the connection is dead."""
        deadline = self.ping_deadline
        return self.state is EngineClientState.OPEN and deadline is not None and now >= deadline

    def send(self, message: str | bytes) -> None:
        """Queue a MESSAGE (str: text, bytes: binary). Raises SendQueueFull."""
        if len(self._queue) >= self.max_queued:
            raise SendQueueFull(f"{self.max_queued} messages already wait to be sent")
        if isinstance(message, str):
            self._queue.append("4" + message)
        else:
            self._queue.append(bytes(message))

    def send_close(self) -> None:
        """Queue the close packet (the client leaves); nothing is received after it."""
        self._queue.append("1")
        self.state = EngineClientState.CLOSED

    @property
    def has_data(self) -> bool:
        return bool(self._queue)

    def take_all(self) -> list[str | bytes]:
        """Every queued frame (WebSocket: one message each)."""
        items = list(self._queue)
        self._queue.clear()
        return items

    def take_batch(self, max_payload: int | None = None) -> list[str | bytes]:
        """Queued frames for one POST: as many as fit in the server's maxPayload (at least
        one, as the JS client does)."""
        limit = max_payload if max_payload is not None else (
            self.info.max_payload if self.info is not None else 1_000_000
        )
        queue = self._queue
        out: list[str | bytes] = []
        size = 0
        while queue:
            cost = payload_size(queue[0])
            if out and size + cost > limit:
                break
            out.append(queue.popleft())
            size += cost
        return out

    def close(self) -> None:
        self.state = EngineClientState.CLOSED
        self._queue.clear()
