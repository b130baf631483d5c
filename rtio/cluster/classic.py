"""The wire of ``@socket.io/redis-adapter`` 8.3's classic adapter (``createAdapter``), sans-I/O.

Owns: the channel names, the broadcast message, the requests (types 0 to 7) and the
responses (8, 9 and the untyped answers), with ``parse`` / ``serialize`` that give Node's
bytes back exactly (tests/cluster/vectors.json, captured from the npm packages).

Does not know: Redis (what subscribes and publishes is rtio.cluster.redis), asyncio, which
requests are pending (the adapter passes that in), or rtio.socketio.

Channels (``key`` = ``socket.io`` by default)::

    <key>#<nsp>#              broadcasts to everybody, or to several rooms      PSUBSCRIBE
    <key>#<nsp>#<room>#       broadcasts to exactly one room                    <key>#<nsp>#*
    <key>-request#<nsp>#      requests, JSON (a broadcast with ack: msgpack)    SUBSCRIBE
    <key>-response#<nsp>#     responses                                         SUBSCRIBE
    <key>-response#<nsp>#<uid>#   responses to <uid> (publishOnSpecificResponseChannel)

A broadcast (msgpack, notepack.io)::

    [uid, {"type": 2, "data": [event, ...args], "nsp": nsp}, {"rooms": [...], "except": [...],
     "flags": {...}}]          uid: 6 URL-safe characters, or "emitter"

Requests (JSON; keys in this order)::

    0 SOCKETS            {uid, requestId, type, rooms}
    1 ALL_ROOMS          {uid, requestId, type}
    2 REMOTE_JOIN        {uid, type, opts: {rooms, except}, rooms}     (the emitter: no uid)
    3 REMOTE_LEAVE       {uid, type, opts: {rooms, except}, rooms}
    4 REMOTE_DISCONNECT  {uid, type, opts: {rooms, except}, close}
    5 REMOTE_FETCH       {uid, requestId, type, opts: {rooms, except}}
    6 SERVER_SIDE_EMIT   {uid, requestId?, type, data: [event, ...args]}   (ack wanted: requestId)
    7 BROADCAST          msgpack {uid, requestId, type, packet, opts}      (a broadcast with ack)

Responses (on the response channel, or the requester's specific one)::

    SOCKETS            {requestId, sockets: [sid, ...]}
    ALL_ROOMS          {requestId, rooms: [...]}
    REMOTE_FETCH       {requestId, sockets: [{id, handshake, rooms, data}, ...]}
    SERVER_SIDE_EMIT   {type: 6, requestId, data}          (the first ack argument; always on
                                                            the shared response channel)
    8 CLIENT_COUNT     {type: 8, requestId, clientCount}
    9 BROADCAST_ACK    msgpack {type: 9, requestId, packet}  (the first ack argument)

The untyped responses can only be told apart by the request they answer (an empty
``sockets`` list fits SOCKETS and REMOTE_FETCH): :func:`parse_response` asks the caller.
"""

from __future__ import annotations

import enum
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from .errors import MessageError
from .wire import (
    SOCKETS_MARK,
    RemoteSocket,
    Room,
    WireOptions,
    WirePacket,
    decode,
    encode,
    encode_json_sockets,
    encode_msgpack,
    js_string,
    need_dict,
    need_int,
    need_str,
    optional_str,
    parse_rooms,
    sockets_list,
)

__all__ = [
    "AllRoomsRequest",
    "AllRoomsResponse",
    "BroadcastAckResponse",
    "BroadcastClientCountResponse",
    "BroadcastMessage",
    "BroadcastRequest",
    "ClassicChannels",
    "FetchSocketsResponse",
    "RemoteDisconnectRequest",
    "RemoteFetchRequest",
    "RemoteJoinRequest",
    "RemoteLeaveRequest",
    "Request",
    "RequestType",
    "Response",
    "ServerSideEmitRequest",
    "ServerSideEmitResponse",
    "SocketsRequest",
    "SocketsResponse",
    "parse_request",
    "parse_response",
    "peek_request_id",
    "response_from",
    "serialize_request",
    "serialize_response",
]


class RequestType(enum.IntEnum):
    SOCKETS = 0
    ALL_ROOMS = 1
    REMOTE_JOIN = 2
    REMOTE_LEAVE = 3
    REMOTE_DISCONNECT = 4
    REMOTE_FETCH = 5
    SERVER_SIDE_EMIT = 6
    BROADCAST = 7
    BROADCAST_CLIENT_COUNT = 8
    BROADCAST_ACK = 9


@dataclass(frozen=True, slots=True)
class ClassicChannels:
    """The channel names of one namespace for one node."""

    nsp: str
    uid: str
    key: str = "socket.io"
    broadcast: str = field(init=False)
    request: str = field(init=False)
    response: str = field(init=False)
    specific_response: str = field(init=False)

    def __post_init__(self) -> None:
        set_ = object.__setattr__
        set_(self, "broadcast", f"{self.key}#{self.nsp}#")
        set_(self, "request", f"{self.key}-request#{self.nsp}#")
        set_(self, "response", f"{self.key}-response#{self.nsp}#")
        set_(self, "specific_response", f"{self.response}{self.uid}#")

    @property
    def broadcast_pattern(self) -> str:
        """The PSUBSCRIBE pattern for the broadcast and room channels."""
        return self.broadcast + "*"

    def room(self, room: Room) -> str:
        return f"{self.broadcast}{js_string(room)}#"

    def for_broadcast(self, rooms: tuple[Room, ...]) -> str:
        """Where a broadcast goes: the room's channel when exactly one room is targeted."""
        return self.room(rooms[0]) if len(rooms) == 1 else self.broadcast

    def response_to(self, requester_uid: str, specific: bool) -> str:
        return f"{self.response}{requester_uid}#" if specific else self.response

    def room_of(self, channel: str) -> str | None:
        """The room a broadcast channel names: "" for everybody, None if not this namespace's.

        Node takes a room from the channel and drops the message unless a local socket is
        in it: a node with no member pays no decoding.
        """
        if not channel.startswith(self.broadcast) or not channel.endswith("#"):
            return None
        if len(channel) == len(self.broadcast):
            return ""
        return channel[len(self.broadcast) : -1]


# -- broadcasts --------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class BroadcastMessage:
    """``[uid, packet, opts]`` in msgpack, on the broadcast or a room channel."""

    uid: str
    packet: WirePacket
    opts: WireOptions

    @classmethod
    def parse(cls, payload: bytes) -> BroadcastMessage:
        value = decode(payload)
        if not isinstance(value, list) or len(value) != 3:
            raise MessageError("a broadcast must be [uid, packet, opts]")
        uid, packet, opts = value
        return cls(need_str(uid, "uid"), WirePacket.parse(packet), WireOptions.parse(opts))

    def serialize(self) -> bytes:
        return encode_msgpack([self.uid, self.packet.to_wire(), self.opts.to_wire()])

    @property
    def nsp(self) -> str:
        """The namespace, "/" when the packet has none (as Node reads it)."""
        return "/" if self.packet.nsp is None else self.packet.nsp


# -- requests ----------------------------------------------------------------------------


def _uid_fields(uid: str | None) -> dict[str, Any]:
    return {} if uid is None else {"uid": uid}


@dataclass(frozen=True, slots=True)
class SocketsRequest:
    uid: str
    request_id: str
    rooms: tuple[Room, ...]
    type = RequestType.SOCKETS

    def to_wire(self) -> dict[str, Any]:
        return {"uid": self.uid, "requestId": self.request_id, "type": 0, "rooms": [*self.rooms]}


@dataclass(frozen=True, slots=True)
class AllRoomsRequest:
    uid: str
    request_id: str
    type = RequestType.ALL_ROOMS

    def to_wire(self) -> dict[str, Any]:
        return {"uid": self.uid, "requestId": self.request_id, "type": 1}


@dataclass(frozen=True, slots=True)
class RemoteJoinRequest:
    """``socketsJoin``: the selected sockets join ``rooms`` (uid None: from the emitter)."""

    uid: str | None
    opts: WireOptions
    rooms: tuple[Room, ...]
    type = RequestType.REMOTE_JOIN

    def to_wire(self) -> dict[str, Any]:
        return {
            **_uid_fields(self.uid),
            "type": int(self.type),
            "opts": self.opts.without_flags().to_wire(),
            "rooms": [*self.rooms],
        }


@dataclass(frozen=True, slots=True)
class RemoteLeaveRequest:
    """``socketsLeave``: the selected sockets leave ``rooms``."""

    uid: str | None
    opts: WireOptions
    rooms: tuple[Room, ...]
    type = RequestType.REMOTE_LEAVE

    def to_wire(self) -> dict[str, Any]:
        return {
            **_uid_fields(self.uid),
            "type": int(self.type),
            "opts": self.opts.without_flags().to_wire(),
            "rooms": [*self.rooms],
        }


@dataclass(frozen=True, slots=True)
class RemoteDisconnectRequest:
    uid: str | None
    opts: WireOptions
    close: bool
    type = RequestType.REMOTE_DISCONNECT

    def to_wire(self) -> dict[str, Any]:
        return {
            **_uid_fields(self.uid),
            "type": 4,
            "opts": self.opts.without_flags().to_wire(),
            "close": self.close,
        }


@dataclass(frozen=True, slots=True)
class RemoteFetchRequest:
    uid: str
    request_id: str
    opts: WireOptions
    type = RequestType.REMOTE_FETCH

    def to_wire(self) -> dict[str, Any]:
        opts = self.opts.without_flags().to_wire()
        return {"uid": self.uid, "requestId": self.request_id, "type": 5, "opts": opts}


@dataclass(frozen=True, slots=True)
class ServerSideEmitRequest:
    """``serverSideEmit``; ``request_id`` set: the sender waits for one answer per node."""

    uid: str
    data: list[Any]
    request_id: str | None = None
    type = RequestType.SERVER_SIDE_EMIT

    def to_wire(self) -> dict[str, Any]:
        out: dict[str, Any] = {"uid": self.uid}
        if self.request_id is not None:
            out["requestId"] = self.request_id
        out["type"] = 6
        out["data"] = self.data
        return out


@dataclass(frozen=True, slots=True)
class BroadcastRequest:
    """A broadcast with acks: each node answers its client count, then each client's ack."""

    uid: str
    request_id: str
    packet: WirePacket
    opts: WireOptions
    type = RequestType.BROADCAST

    def to_wire(self) -> dict[str, Any]:
        return {
            "uid": self.uid,
            "requestId": self.request_id,
            "type": 7,
            "packet": self.packet.to_wire(),
            "opts": self.opts.to_wire(),
        }


Request = (
    SocketsRequest
    | AllRoomsRequest
    | RemoteJoinRequest
    | RemoteLeaveRequest
    | RemoteDisconnectRequest
    | RemoteFetchRequest
    | ServerSideEmitRequest
    | BroadcastRequest
)


def serialize_request(request: Request) -> bytes:
    """Node's bytes: JSON, a broadcast with ack msgpack, anything holding bytes msgpack."""
    if isinstance(request, BroadcastRequest):
        return encode_msgpack(request.to_wire())
    return encode(request.to_wire())


def parse_request(payload: bytes) -> Request:
    """A request from the request channel. Raises :class:`MessageError`."""
    obj = need_dict(decode(payload), "request")
    try:
        kind = RequestType(need_int(obj.get("type"), "request type"))
    except ValueError as exc:
        raise MessageError(f"unknown request type {obj.get('type')!r}") from exc
    uid = optional_str(obj.get("uid"), "uid")
    request_id = optional_str(obj.get("requestId"), "requestId")

    def need_uid() -> str:
        if uid is None:
            raise MessageError(f"request type {kind.name} without uid")
        return uid

    def need_id() -> str:
        if request_id is None:
            raise MessageError(f"request type {kind.name} without requestId")
        return request_id

    def opts() -> WireOptions:
        return WireOptions.parse(obj.get("opts"))

    if kind is RequestType.SOCKETS:
        return SocketsRequest(need_uid(), need_id(), parse_rooms(obj.get("rooms", [])))
    if kind is RequestType.ALL_ROOMS:
        return AllRoomsRequest(need_uid(), need_id())
    if kind is RequestType.REMOTE_JOIN:
        return RemoteJoinRequest(uid, opts(), parse_rooms(obj.get("rooms")))
    if kind is RequestType.REMOTE_LEAVE:
        return RemoteLeaveRequest(uid, opts(), parse_rooms(obj.get("rooms")))
    if kind is RequestType.REMOTE_DISCONNECT:
        return RemoteDisconnectRequest(uid, opts(), bool(obj.get("close", False)))
    if kind is RequestType.REMOTE_FETCH:
        return RemoteFetchRequest(need_uid(), need_id(), opts())
    if kind is RequestType.SERVER_SIDE_EMIT:
        data = obj.get("data")
        if not isinstance(data, list):
            raise MessageError("serverSideEmit data must be a list")
        return ServerSideEmitRequest(need_uid(), data, request_id)
    if kind is RequestType.BROADCAST:
        return BroadcastRequest(need_uid(), need_id(), WirePacket.parse(obj.get("packet")), opts())
    raise MessageError(f"request type {kind.name} is a response")


# -- responses ---------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class SocketsResponse:
    request_id: str
    sockets: tuple[str, ...]

    def to_wire(self) -> dict[str, Any]:
        return {"requestId": self.request_id, "sockets": [*self.sockets]}


@dataclass(frozen=True, slots=True)
class AllRoomsResponse:
    request_id: str
    rooms: tuple[Room, ...]

    def to_wire(self) -> dict[str, Any]:
        return {"requestId": self.request_id, "rooms": [*self.rooms]}


@dataclass(frozen=True, slots=True)
class FetchSocketsResponse:
    request_id: str
    sockets: tuple[RemoteSocket, ...]

    def to_wire(self) -> dict[str, Any]:
        return {"requestId": self.request_id, "sockets": [s.to_wire() for s in self.sockets]}

    def serialize(self, uid: str | None = None) -> bytes:
        """JSON (handshakes pre-encoded), or msgpack when a socket holds bytes; ``uid``: the
        answering node's, after the rest (rtio's extra key)."""
        envelope: dict[str, Any] = {"requestId": self.request_id, "sockets": SOCKETS_MARK}
        if uid is not None:
            envelope["uid"] = uid
        fast = encode_json_sockets(envelope, self.sockets)
        if fast is not None:
            return fast
        wire = self.to_wire()
        if uid is not None:
            wire["uid"] = uid
        return encode(wire)


@dataclass(frozen=True, slots=True)
class ServerSideEmitResponse:
    request_id: str
    data: Any

    def to_wire(self) -> dict[str, Any]:
        return {"type": 6, "requestId": self.request_id, "data": self.data}


@dataclass(frozen=True, slots=True)
class BroadcastClientCountResponse:
    request_id: str
    client_count: int

    def to_wire(self) -> dict[str, Any]:
        return {"type": 8, "requestId": self.request_id, "clientCount": self.client_count}


@dataclass(frozen=True, slots=True)
class BroadcastAckResponse:
    request_id: str
    packet: Any

    def to_wire(self) -> dict[str, Any]:
        return {"type": 9, "requestId": self.request_id, "packet": self.packet}


Response = (
    SocketsResponse
    | AllRoomsResponse
    | FetchSocketsResponse
    | ServerSideEmitResponse
    | BroadcastClientCountResponse
    | BroadcastAckResponse
)


def serialize_response(response: Response) -> bytes:
    """Node's bytes: JSON, a broadcast ack msgpack, anything holding bytes msgpack."""
    if isinstance(response, BroadcastAckResponse):
        return encode_msgpack(response.to_wire())
    if isinstance(response, FetchSocketsResponse):
        return response.serialize()
    return encode(response.to_wire())


def parse_response(payload: bytes, pending: Callable[[str], RequestType | None]) -> Response | None:
    """A response, or None when it answers no request of ours (``pending(id)`` is None).

    ``pending(request_id)`` names the type of the request waiting for that id.
    """
    return response_from(decode(payload), pending)


_JSON_ID = b'"requestId":"'
_MSGPACK_ID = b"\xa9requestId"


def peek_request_id(payload: bytes) -> str | None:
    """The ``requestId`` of a response, read from its first bytes without decoding it (every
    node hears every answer on the shared response channel, a fetch's can be megabytes);
    None when it is not near the start (then decode it)."""
    head = payload[:64]
    at = head.find(_JSON_ID)
    if at >= 0:
        start = at + len(_JSON_ID)
        end = head.find(b'"', start)
        if end > start and head.find(b"\\", start, end) < 0:
            return head[start:end].decode("utf-8", "replace")
        return None
    at = head.find(_MSGPACK_ID)
    if at >= 0 and at + 11 <= len(head):
        marker = head[at + 10]
        if 0xA0 <= marker <= 0xBF:  # a fixstr: the ids are 6 characters
            start = at + 11
            end = start + (marker & 0x1F)
            if end <= len(head):
                return head[start:end].decode("utf-8", "replace")
    return None


def response_from(obj: Any, pending: Callable[[str], RequestType | None]) -> Response | None:
    """:func:`parse_response` of a message already decoded."""
    obj = need_dict(obj, "response")
    request_id = need_str(obj.get("requestId"), "requestId")
    kind = pending(request_id)
    if kind is None:
        return None
    typ = obj.get("type")
    if typ == RequestType.BROADCAST_CLIENT_COUNT:
        return BroadcastClientCountResponse(request_id, need_int(obj.get("clientCount"), "count"))
    if typ == RequestType.BROADCAST_ACK:
        return BroadcastAckResponse(request_id, obj.get("packet"))
    if typ == RequestType.SERVER_SIDE_EMIT:
        return ServerSideEmitResponse(request_id, obj.get("data"))
    if kind is RequestType.SOCKETS:
        sockets = sockets_list(obj.get("sockets"), "sockets")
        return SocketsResponse(request_id, tuple(need_str(s, "socket id") for s in sockets))
    if kind is RequestType.ALL_ROOMS:
        return AllRoomsResponse(request_id, parse_rooms(obj.get("rooms")))
    if kind is RequestType.REMOTE_FETCH:
        sockets = sockets_list(obj.get("sockets"), "sockets")
        return FetchSocketsResponse(request_id, tuple(RemoteSocket.parse(s) for s in sockets))
    raise MessageError(f"a response of type {typ!r} does not answer a {kind.name} request")
