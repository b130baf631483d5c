"""rtio.cluster: what rtio nodes (and Node's socket.io nodes) say to each other.

Owns the cluster wires, each sans-I/O with the bytes drawn in its module:

- :mod:`rtio.cluster.wire`: the values inside messages (packet, options, remote socket,
  room names) and the JSON / msgpack encodings with Node's rules;
- :mod:`rtio.cluster.classic`: ``@socket.io/redis-adapter``'s classic adapter (channels,
  broadcast ``[uid, packet, opts]``, request types 0 to 9 and their responses);
- :mod:`rtio.cluster.messages`: socket.io-adapter's ``ClusterAdapter`` messages (types 1 to
  13), transport-agnostic; :mod:`rtio.cluster.sharded`: their Redis channels;
- :mod:`rtio.cluster.emitter`: ``@socket.io/redis-emitter``'s messages;
- :mod:`rtio.cluster.redis`: the asyncio link to Redis (needs ``pip install rtio[redis]``;
  not imported here).

Knows nothing of rtio.socketio (the adapter that plugs into it converts), Engine.IO or the
WebSocket layer.
"""

from __future__ import annotations

from .errors import ClusterError, LinkClosed, LinkDown, MessageError
from .wire import EMITTER_UID, RemoteSocket, Room, WireFlags, WireOptions, WirePacket

__all__ = [
    "EMITTER_UID",
    "ClusterError",
    "LinkClosed",
    "LinkDown",
    "MessageError",
    "RemoteSocket",
    "Room",
    "WireFlags",
    "WireOptions",
    "WirePacket",
]
