"""``rtio.Client``: the asyncio Socket.IO client, as ``io(url)`` is in JavaScript.

A :class:`Client` is the socket of one namespace (the URL's path, ``/`` by default) over
a :class:`~rtio.client.manager.Manager` of its own; ``client.socket("/admin")`` gives
more namespaces over the same connection. Glue of the two; the behaviour lives in
socket.py (a namespace) and manager.py (the connection, reconnection).

    async with rtio.Client("http://localhost:8000", auth={"token": "..."}) as client:
        @client.on("chat")
        def chat(text): print(text)
        await client.emit("chat", "hi")
        print(await client.call("sum", 1, 2))
"""

from __future__ import annotations

import urllib.parse
from types import TracebackType
from typing import Any

from .manager import Manager
from .socket import AuthProvider, ClientSocket

__all__ = ["Client"]


class Client(ClientSocket):
    """A Socket.IO client: the socket of the URL's namespace plus its connection.

    Keyword arguments other than the namespace's own (``auth``, ``max_buffered_packets``,
    ``max_queued_events``, ``max_pending_acks``) go to :class:`Manager` (transports, path,
    headers, query, ssl, parser, reconnection...)."""

    #: the connection (a ClientSocket sees it only as a ``Connection``; a Client owns it)
    manager: Manager

    def __init__(
        self,
        url: str,
        *,
        auth: AuthProvider = None,
        namespace: str | None = None,
        max_buffered_packets: int = 1000,
        max_queued_events: int = 1000,
        max_pending_acks: int = 10_000,
        **manager_options: Any,
    ) -> None:
        parts = urllib.parse.urlsplit(url)
        if namespace is None:
            namespace = parts.path if parts.path not in ("", "/") else "/"
        base = urllib.parse.urlunsplit((parts.scheme, parts.netloc, "", parts.query, ""))
        manager = Manager(base, **manager_options)
        super().__init__(
            manager,
            namespace,
            auth=auth,
            max_buffered_packets=max_buffered_packets,
            max_queued_events=max_queued_events,
            max_pending_acks=max_pending_acks,
        )
        manager.sockets[namespace] = self

    def socket(self, namespace: str, *, auth: AuthProvider = None) -> ClientSocket:
        """Another namespace over the same connection (``connect()`` it)."""
        return self.manager.socket(namespace, auth=auth)

    @property
    def transport(self) -> str | None:
        """"polling" or "websocket" while connected."""
        engine = self.manager.engine
        return None if engine is None else engine.transport

    async def close(self) -> None:
        """Disconnect every namespace and close the connection (no reconnection)."""
        for sock in list(self.manager.sockets.values()):
            if sock.connected:
                await sock.disconnect()
        await self.manager.close()

    async def __aenter__(self) -> Client:
        await self.connect()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()
