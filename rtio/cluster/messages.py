"""The messages of socket.io-adapter 2.5's ``ClusterAdapter``, sans-I/O.

Owns: the message types 1 to 13 and their bodies, with ``parse`` / ``serialize`` giving
Node's bytes back exactly (tests/cluster/vectors.json). Node's sharded Redis adapter speaks
them; so can any bus between rtio nodes or workers (nothing here is Redis-specific).

Does not know: channels (rtio.cluster.sharded names the Redis ones), transports, asyncio,
which requests are pending, or rtio.socketio.

A message (JSON, or msgpack when its data holds bytes; keys in this order)::

    {"type": 3, "data": {...}, "uid": "<16 hex>", "nsp": "/"}
    {"type": 1, "uid": ..., "nsp": ...}                  (types 1, 2, 13: no data)

    type                         data
    1  INITIAL_HEARTBEAT         -
    2  HEARTBEAT                 -
    3  BROADCAST                 {packet, requestId?, opts}      requestId: acks wanted
    4  SOCKETS_JOIN              {opts, rooms}
    5  SOCKETS_LEAVE             {opts, rooms}
    6  DISCONNECT_SOCKETS        {opts, close}
    7  FETCH_SOCKETS             {opts, requestId}
    8  FETCH_SOCKETS_RESPONSE    {requestId, sockets: [{id, handshake, rooms, data}]}
    9  SERVER_SIDE_EMIT          {requestId?, packet: [event, ...args]}
    10 SERVER_SIDE_EMIT_RESPONSE {requestId, packet}             (the first ack argument)
    11 BROADCAST_CLIENT_COUNT    {requestId, clientCount}
    12 BROADCAST_ACK             {requestId, packet}             (the first ack argument)
    13 ADAPTER_CLOSE             -

``packet`` of a BROADCAST is ``{type, data}``: no nsp (it is the message's). ``opts`` is
``{rooms, except, flags}``. A receiver drops its own uid and other namespaces; types 8, 10,
11 and 12 are responses, published to the requester (``socket.io#<nsp>#<uid>#`` on Redis).
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
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
    need_dict,
    need_int,
    need_str,
    optional_str,
    parse_rooms,
    sockets_list,
)

__all__ = [
    "AdapterClose",
    "Body",
    "Broadcast",
    "BroadcastAck",
    "BroadcastClientCount",
    "ClusterMessage",
    "DisconnectSockets",
    "FetchSockets",
    "FetchSocketsResponse",
    "Heartbeat",
    "InitialHeartbeat",
    "MessageType",
    "ServerSideEmit",
    "ServerSideEmitResponse",
    "SocketsJoin",
    "SocketsLeave",
]


class MessageType(enum.IntEnum):
    INITIAL_HEARTBEAT = 1
    HEARTBEAT = 2
    BROADCAST = 3
    SOCKETS_JOIN = 4
    SOCKETS_LEAVE = 5
    DISCONNECT_SOCKETS = 6
    FETCH_SOCKETS = 7
    FETCH_SOCKETS_RESPONSE = 8
    SERVER_SIDE_EMIT = 9
    SERVER_SIDE_EMIT_RESPONSE = 10
    BROADCAST_CLIENT_COUNT = 11
    BROADCAST_ACK = 12
    ADAPTER_CLOSE = 13


@dataclass(frozen=True, slots=True)
class InitialHeartbeat:
    """A node joined (ClusterAdapterWithHeartbeat): the others answer with a heartbeat."""

    type = MessageType.INITIAL_HEARTBEAT

    def data(self) -> dict[str, Any] | None:
        return None


@dataclass(frozen=True, slots=True)
class Heartbeat:
    type = MessageType.HEARTBEAT

    def data(self) -> dict[str, Any] | None:
        return None


@dataclass(frozen=True, slots=True)
class AdapterClose:
    type = MessageType.ADAPTER_CLOSE

    def data(self) -> dict[str, Any] | None:
        return None


@dataclass(frozen=True, slots=True)
class Broadcast:
    packet: WirePacket
    opts: WireOptions
    request_id: str | None = None
    type = MessageType.BROADCAST

    def data(self) -> dict[str, Any]:
        out: dict[str, Any] = {"packet": self.packet.to_wire()}
        if self.request_id is not None:
            out["requestId"] = self.request_id
        out["opts"] = self.opts.to_wire()
        return out


@dataclass(frozen=True, slots=True)
class SocketsJoin:
    opts: WireOptions
    rooms: tuple[Room, ...]
    type = MessageType.SOCKETS_JOIN

    def data(self) -> dict[str, Any]:
        return {"opts": self.opts.to_wire(), "rooms": [*self.rooms]}


@dataclass(frozen=True, slots=True)
class SocketsLeave:
    opts: WireOptions
    rooms: tuple[Room, ...]
    type = MessageType.SOCKETS_LEAVE

    def data(self) -> dict[str, Any]:
        return {"opts": self.opts.to_wire(), "rooms": [*self.rooms]}


@dataclass(frozen=True, slots=True)
class DisconnectSockets:
    opts: WireOptions
    close: bool
    type = MessageType.DISCONNECT_SOCKETS

    def data(self) -> dict[str, Any]:
        return {"opts": self.opts.to_wire(), "close": self.close}


@dataclass(frozen=True, slots=True)
class FetchSockets:
    opts: WireOptions
    request_id: str
    type = MessageType.FETCH_SOCKETS

    def data(self) -> dict[str, Any]:
        return {"opts": self.opts.to_wire(), "requestId": self.request_id}


@dataclass(frozen=True, slots=True)
class FetchSocketsResponse:
    request_id: str
    sockets: tuple[RemoteSocket, ...]
    type = MessageType.FETCH_SOCKETS_RESPONSE

    def data(self) -> dict[str, Any]:
        return {"requestId": self.request_id, "sockets": [s.to_wire() for s in self.sockets]}


@dataclass(frozen=True, slots=True)
class ServerSideEmit:
    packet: list[Any]
    request_id: str | None = None
    type = MessageType.SERVER_SIDE_EMIT

    def data(self) -> dict[str, Any]:
        if self.request_id is None:
            return {"packet": self.packet}
        return {"requestId": self.request_id, "packet": self.packet}


@dataclass(frozen=True, slots=True)
class ServerSideEmitResponse:
    request_id: str
    packet: Any
    type = MessageType.SERVER_SIDE_EMIT_RESPONSE

    def data(self) -> dict[str, Any]:
        return {"requestId": self.request_id, "packet": self.packet}


@dataclass(frozen=True, slots=True)
class BroadcastClientCount:
    request_id: str
    client_count: int
    type = MessageType.BROADCAST_CLIENT_COUNT

    def data(self) -> dict[str, Any]:
        return {"requestId": self.request_id, "clientCount": self.client_count}


@dataclass(frozen=True, slots=True)
class BroadcastAck:
    request_id: str
    packet: Any
    type = MessageType.BROADCAST_ACK

    def data(self) -> dict[str, Any]:
        return {"requestId": self.request_id, "packet": self.packet}


Body = (
    InitialHeartbeat
    | Heartbeat
    | Broadcast
    | SocketsJoin
    | SocketsLeave
    | DisconnectSockets
    | FetchSockets
    | FetchSocketsResponse
    | ServerSideEmit
    | ServerSideEmitResponse
    | BroadcastClientCount
    | BroadcastAck
    | AdapterClose
)

#: the types whose data may hold bytes: only those are ever msgpack (Node's rule)
_MAY_HOLD_BINARY = frozenset(
    {
        MessageType.BROADCAST,
        MessageType.BROADCAST_ACK,
        MessageType.FETCH_SOCKETS_RESPONSE,
        MessageType.SERVER_SIDE_EMIT,
        MessageType.SERVER_SIDE_EMIT_RESPONSE,
    }
)
_RESPONSES = frozenset(
    {
        MessageType.FETCH_SOCKETS_RESPONSE,
        MessageType.SERVER_SIDE_EMIT_RESPONSE,
        MessageType.BROADCAST_CLIENT_COUNT,
        MessageType.BROADCAST_ACK,
    }
)


def _parse_body(kind: MessageType, data: Any) -> Body:
    if kind is MessageType.INITIAL_HEARTBEAT:
        return InitialHeartbeat()
    if kind is MessageType.HEARTBEAT:
        return Heartbeat()
    if kind is MessageType.ADAPTER_CLOSE:
        return AdapterClose()
    obj = need_dict(data, f"data of {kind.name}")
    request_id = optional_str(obj.get("requestId"), "requestId")

    def need_id() -> str:
        if request_id is None:
            raise MessageError(f"{kind.name} without requestId")
        return request_id

    if kind is MessageType.BROADCAST:
        opts = WireOptions.parse(obj.get("opts"))
        return Broadcast(WirePacket.parse(obj.get("packet")), opts, request_id)
    if kind is MessageType.SOCKETS_JOIN:
        return SocketsJoin(WireOptions.parse(obj.get("opts")), parse_rooms(obj.get("rooms")))
    if kind is MessageType.SOCKETS_LEAVE:
        return SocketsLeave(WireOptions.parse(obj.get("opts")), parse_rooms(obj.get("rooms")))
    if kind is MessageType.DISCONNECT_SOCKETS:
        return DisconnectSockets(WireOptions.parse(obj.get("opts")), bool(obj.get("close")))
    if kind is MessageType.FETCH_SOCKETS:
        return FetchSockets(WireOptions.parse(obj.get("opts")), need_id())
    if kind is MessageType.FETCH_SOCKETS_RESPONSE:
        sockets = sockets_list(obj.get("sockets"), "sockets")
        return FetchSocketsResponse(need_id(), tuple(RemoteSocket.parse(s) for s in sockets))
    if kind is MessageType.SERVER_SIDE_EMIT:
        packet = obj.get("packet")
        if not isinstance(packet, list):
            raise MessageError("serverSideEmit packet must be a list")
        return ServerSideEmit(packet, request_id)
    if kind is MessageType.SERVER_SIDE_EMIT_RESPONSE:
        return ServerSideEmitResponse(need_id(), obj.get("packet"))
    if kind is MessageType.BROADCAST_CLIENT_COUNT:
        return BroadcastClientCount(need_id(), need_int(obj.get("clientCount"), "clientCount"))
    return BroadcastAck(need_id(), obj.get("packet"))


@dataclass(frozen=True, slots=True)
class ClusterMessage:
    """One message between the nodes of a namespace: who sent it, and what."""

    uid: str
    nsp: str
    body: Body

    @property
    def type(self) -> MessageType:
        return self.body.type

    @property
    def is_response(self) -> bool:
        return self.body.type in _RESPONSES

    @classmethod
    def parse(cls, payload: bytes) -> ClusterMessage:
        """Raises :class:`MessageError` for anything that is not a valid message."""
        obj = need_dict(decode(payload), "message")
        try:
            kind = MessageType(need_int(obj.get("type"), "type"))
        except ValueError as exc:
            raise MessageError(f"unknown message type {obj.get('type')!r}") from exc
        # an emitter's message may have no uid
        uid = optional_str(obj.get("uid"), "uid") or ""
        return cls(uid, need_str(obj.get("nsp", "/"), "nsp"), _parse_body(kind, obj.get("data")))

    def to_wire(self) -> dict[str, Any]:
        out: dict[str, Any] = {"type": int(self.body.type)}
        data = self.body.data()
        if data is not None:
            out["data"] = data
        out["uid"] = self.uid
        out["nsp"] = self.nsp
        return out

    def serialize(self) -> bytes:
        """JSON, or msgpack when the data holds bytes (Node's rule)."""
        body = self.body
        if isinstance(body, FetchSocketsResponse):  # the big one: handshakes pre-encoded
            data = {"requestId": body.request_id, "sockets": SOCKETS_MARK}
            envelope = {"type": int(body.type), "data": data, "uid": self.uid, "nsp": self.nsp}
            fast = encode_json_sockets(envelope, body.sockets)
            if fast is not None:
                return fast
        wire = self.to_wire()
        if self.body.type in _MAY_HOLD_BINARY:
            return encode(wire, None)
        return encode(wire, False)
