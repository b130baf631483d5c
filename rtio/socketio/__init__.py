"""rtio.socketio: the Socket.IO v5 server and rtio's public Python API.

Sees Engine.IO only through connect / message / disconnect(reason) and send.

    server.py     Server: options, namespaces, attach/run, the engine handler (glue)
    namespace.py  Namespace, ParentNamespace: handlers, middlewares, the connect flow
    client.py     Client: one Engine.IO session, its decoder, the namespaces it joined
    socket.py     Socket: the public API of one client in one namespace (emits, rooms)
    dispatch.py   SocketDispatch: its incoming side on asyncio (handlers in order, acks,
                  the slow-handler watch, closing)
    core.py       SocketCore: its sans-I/O state (lifecycle, listeners, ack table, the
                  dispatch decisions), AckIds
    broadcast.py  BroadcastOperator: to/except/flags, emit (with acks), server-wide ops
    adapter.py    Adapter, InMemoryAdapter: rooms, delivery encoded once
    encoded.py    Encoded: one packet encoded once per parser
    observer.py   Observer: the hooks operations tooling (rtio.ops) is called at
    _serial.py, _deadlines.py   the handler runner, the connect timeouts
    packet.py, handlers.py, errors.py, parsers/   the packet model, calling handlers, the
                  exceptions, the wire formats (sans-I/O)

Imports go one way, down this list read from the bottom (server imports everything, core
and below import no socket, client or namespace): what a module needs of the one above it
is a small Protocol declared where it is used (dispatch.SocketHost, client.ClientHost,
namespace.NamespaceHost, adapter.Member, broadcast.Target), which the upper class
implements.
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
from .recovery import ConnectionStateRecovery, RestoredSession, Session, SessionAwareAdapter
from .server import SERVERS_KEY, Server
from .socket import Handshake, Socket, SocketEmitter, SocketState

__all__ = [
    "SENT",
    "SERVERS_KEY",
    "AckResults",
    "AckTimeout",
    "Adapter",
    "BroadcastOperator",
    "BroadcastOptions",
    "ConnectionRefused",
    "ConnectionStateRecovery",
    "DisconnectReason",
    "Handshake",
    "InMemoryAdapter",
    "Namespace",
    "Packet",
    "PacketType",
    "ParentNamespace",
    "RestoredSession",
    "Sent",
    "Server",
    "Session",
    "SessionAwareAdapter",
    "Socket",
    "SocketDisconnected",
    "SocketEmitter",
    "SocketIOError",
    "SocketState",
]
