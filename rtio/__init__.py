"""rtio: a Socket.IO v5 server for Python, on aiohttp, built in three layers.

- ``rtio.ws``: the WebSocket protocol (RFC 6455, RFC 7692), sans-I/O core and asyncio glue.
- ``rtio.engine``: Engine.IO v4 (long-polling and WebSocket transports, upgrades, heartbeats).
- ``rtio.socketio``: Socket.IO v5 (namespaces, rooms, events, acks, binary) and the public API.

Each layer only knows the one below it; see docs/ARCHITECTURE.md. The public API is
re-exported here: ``rtio.Server``, ``rtio.ConnectionRefused``, ... (docs/API.md), and
``rtio.run_app``, which serves an app with rtio's own HTTP/1.1 front (``rtio.http``), and
the client: ``rtio.Client`` (asyncio) and ``rtio.SimpleClient`` (blocking), docs/CLIENT.md.
"""

from . import ops as ops  # registers Server.metrics() and Server.instrument() (docs/OPERATIONS.md)
from . import workers  # noqa: F401  (registers run_app(workers=N) with rtio.run)
from .client import Client, ConnectError, SimpleClient
from .run import run_app
from .socketio import (
    AckResults,
    AckTimeout,
    BroadcastOperator,
    ConnectionRefused,
    DisconnectReason,
    Handshake,
    Namespace,
    ParentNamespace,
    Server,
    Socket,
    SocketDisconnected,
    SocketIOError,
    SocketState,
)

__version__ = "0.1.0"

__all__ = [
    "AckResults",
    "AckTimeout",
    "BroadcastOperator",
    "Client",
    "ConnectError",
    "ConnectionRefused",
    "DisconnectReason",
    "Handshake",
    "Namespace",
    "ParentNamespace",
    "Server",
    "SimpleClient",
    "Socket",
    "SocketDisconnected",
    "SocketIOError",
    "SocketState",
    "__version__",
    "run_app",
]
