"""rtio.socketio: the Socket.IO v5 server and rtio's public Python API.

Sees Engine.IO only through connect / message / disconnect(reason) and send.

    server.py     Server: options, namespaces, attach/run, the engine handler (glue)
    client.py     Client: one Engine.IO session, its decoder, the namespaces it joined
    namespace.py  Namespace, ParentNamespace: handlers, middlewares, the connect flow
    socket.py     Socket: one client in one namespace: events, acks, rooms, disconnect
    broadcast.py  BroadcastOperator: to/except/flags, emit (with acks), server-wide ops
    adapter.py    Adapter, InMemoryAdapter: rooms, delivery encoded once
    packet.py, parsers/   the packet model and its wire formats (sans-I/O)
"""

from .adapter import Adapter, BroadcastOptions, InMemoryAdapter
from .broadcast import AckResults, BroadcastOperator
from .errors import (
    AckTimeout,
    ConnectionRefused,
    DisconnectReason,
    SocketDisconnected,
    SocketIOError,
)
from .handlers import SENT, Sent
from .namespace import Namespace, ParentNamespace
from .packet import Packet, PacketType
from .server import Server
from .socket import Handshake, Socket, SocketEmitter

__all__ = [
    "SENT",
    "AckResults",
    "AckTimeout",
    "Adapter",
    "BroadcastOperator",
    "BroadcastOptions",
    "ConnectionRefused",
    "DisconnectReason",
    "Handshake",
    "InMemoryAdapter",
    "Namespace",
    "Packet",
    "PacketType",
    "ParentNamespace",
    "Sent",
    "Server",
    "Socket",
    "SocketDisconnected",
    "SocketEmitter",
    "SocketIOError",
]
