"""The wire of ``@socket.io/redis-emitter`` 5.1, sans-I/O: what a process that is not a
server publishes to reach the sockets of a classic-adapter cluster.

Owns: building the emitter's messages and their channels, byte for byte as the npm emitter
(tests/cluster/vectors.json). Does not know: Redis (a caller publishes the bytes on the
channel), asyncio, or rtio.socketio. Node's sharded nodes do not hear the emitter (they
SSUBSCRIBE); rtio's emitter shares that limit, to stay on the emitter's wire.

::

    emit           msgpack ["emitter", {type: 2, data: [event, ...args], nsp},
                             {rooms, flags, except}]      on <key>#<nsp># or <key>#<nsp>#<room>#
    socketsJoin    JSON {type: 2, opts: {rooms, except}, rooms}   on <key>-request#<nsp>#
    socketsLeave   JSON {type: 3, opts: {rooms, except}, rooms}
    disconnect     JSON {type: 4, opts: {rooms, except}, close}
    serverSideEmit JSON {uid: "emitter", type: 6, data: [event, ...args]}   (no acks)
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from .classic import (
    BroadcastMessage,
    ClassicChannels,
    RemoteDisconnectRequest,
    RemoteJoinRequest,
    RemoteLeaveRequest,
    ServerSideEmitRequest,
    serialize_request,
)
from .wire import EMITTER_UID, Room, WireFlags, WireOptions, WirePacket

__all__ = ["RESERVED_EVENTS", "EmitterWire"]

#: events an emitter may not send (Node's list)
RESERVED_EVENTS = frozenset(
    {"connect", "connect_error", "disconnect", "disconnecting", "newListener", "removeListener"}
)


@dataclass(frozen=True, slots=True)
class EmitterWire:
    """The emitter's messages for one namespace: each method gives ``(channel, payload)``."""

    nsp: str = "/"
    key: str = "socket.io"

    @property
    def channels(self) -> ClassicChannels:
        return ClassicChannels(self.nsp, EMITTER_UID, self.key)

    def emit(
        self,
        event: str,
        args: Sequence[Any] = (),
        rooms: Sequence[Room] = (),
        except_rooms: Sequence[Room] = (),
        flags: WireFlags | None = None,
    ) -> tuple[str, bytes]:
        if event in RESERVED_EVENTS:
            raise ValueError(f"{event!r} is a reserved event name")
        opts = WireOptions(tuple(rooms), tuple(except_rooms), flags or WireFlags(), True)
        message = BroadcastMessage(EMITTER_UID, WirePacket([event, *args], nsp=self.nsp), opts)
        return self.channels.for_broadcast(opts.rooms), message.serialize()

    def sockets_join(
        self, rooms: Sequence[Room], select: Sequence[Room] = (), exclude: Sequence[Room] = ()
    ) -> tuple[str, bytes]:
        opts = WireOptions(tuple(select), tuple(exclude), None)
        return self.channels.request, serialize_request(RemoteJoinRequest(None, opts, tuple(rooms)))

    def sockets_leave(
        self, rooms: Sequence[Room], select: Sequence[Room] = (), exclude: Sequence[Room] = ()
    ) -> tuple[str, bytes]:
        opts = WireOptions(tuple(select), tuple(exclude), None)
        request = RemoteLeaveRequest(None, opts, tuple(rooms))
        return self.channels.request, serialize_request(request)

    def disconnect_sockets(
        self, close: bool = False, select: Sequence[Room] = (), exclude: Sequence[Room] = ()
    ) -> tuple[str, bytes]:
        opts = WireOptions(tuple(select), tuple(exclude), None)
        request = RemoteDisconnectRequest(None, opts, close)
        return self.channels.request, serialize_request(request)

    def server_side_emit(self, event: str, args: Sequence[Any] = ()) -> tuple[str, bytes]:
        if event in RESERVED_EVENTS:
            raise ValueError(f"{event!r} is a reserved event name")
        request = ServerSideEmitRequest(EMITTER_UID, [event, *args])
        return self.channels.request, serialize_request(request)
