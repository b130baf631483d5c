"""rtio.client: an asyncio Socket.IO v5 client (the npm socket.io-client 4.8's behaviour).

A layer above rtio.socketio's packets and parsers, rtio.engine's packet types and rtio.ws's
client role; nothing below imports it.

    engine_core.py  Engine.IO client session, sans-I/O: codec, open packet, heartbeat, queue
    transport.py    its asyncio glue: polling (an HttpFetcher), WebSocket, the upgrade
    backoff.py      the reconnection delays (sans-I/O)
    acks.py         the ack table of a socket (sans-I/O)
    socket.py       ClientSocket: one namespace: events, acks, buffer, connect/disconnect
    manager.py      Manager: the connection, its namespaces, reconnection
    client.py       Client: ``io(url)``: a namespace and its own manager
    sync.py         SimpleClient: a blocking wrapper for scripts
"""

from .backoff import Backoff
from .client import Client
from .engine_core import OpenInfo
from .errors import (
    AckTimeout,
    ClientError,
    ConnectError,
    SendBufferFull,
    SocketDisconnected,
    TooManyPendingAcks,
)
from .manager import Manager, ManagerState
from .socket import AuthProvider, ClientSocket, SocketState
from .sync import SimpleClient
from .transport import AiohttpFetcher, HttpFetcher, TransportError, WebSocketConnector

__all__ = [
    "AckTimeout",
    "AiohttpFetcher",
    "AuthProvider",
    "Backoff",
    "Client",
    "ClientError",
    "ClientSocket",
    "ConnectError",
    "HttpFetcher",
    "Manager",
    "ManagerState",
    "OpenInfo",
    "SendBufferFull",
    "SimpleClient",
    "SocketDisconnected",
    "SocketState",
    "TooManyPendingAcks",
    "TransportError",
    "WebSocketConnector",
]
