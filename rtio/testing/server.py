"""Clients of an rtio.Server for tests: in memory (no socket) or over a loopback port."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from typing import Any

from aiohttp import web

from rtio.client import Client
from rtio.socketio import Server

from .memory import MemoryFetcher

__all__ = ["connect_clients", "serve", "test_client"]

#: the host name of in-memory clients (never resolved)
MEMORY_URL = "http://rtio.test"


def test_client(server: Server, namespace: str = "/", **options: Any) -> Client:
    """A client of ``server`` in the same process, with no socket: long-polling through
    ``server.engine.handle``. Not yet connected: ``await client.connect()`` or ``async
    with``. ``options`` go to :class:`rtio.client.Client` (auth, parser, ...);
    reconnection is off unless asked."""
    options.setdefault("reconnection", False)
    options.setdefault("parser", server.parser)
    return Client(
        MEMORY_URL,
        namespace=namespace,
        transports=("polling",),
        fetcher=MemoryFetcher(server.engine),
        path=server.path,
        **options,
    )


test_client.__test__ = False  # type: ignore[attr-defined]  # (not a test for pytest)


async def connect_clients(
    server: Server, count: int, *, url: str | None = None, timeout: float = 5.0, **options: Any
) -> list[Client]:
    """``count`` connected clients (in memory, or of ``url`` when given: see ``serve``).
    ``auth`` may be a list, one per client."""
    auth = options.pop("auth", None)
    clients = []
    for i in range(count):
        each = auth[i] if isinstance(auth, list) else auth
        if url is None:
            client = test_client(server, auth=each, **options)
        else:
            options.setdefault("reconnection", False)
            client = Client(url, auth=each, path=server.path, **options)
        await client.connect(timeout=timeout)
        clients.append(client)
    return clients


@contextlib.asynccontextmanager
async def serve(server: Server, host: str = "127.0.0.1", port: int = 0) -> AsyncIterator[str]:
    """Serve ``server`` on a loopback port for the block; yields its ``http://`` URL."""
    runner = web.AppRunner(server.make_app(), handle_signals=False)
    await runner.setup()
    try:
        site = web.TCPSite(runner, host, port)
        await site.start()
        address = runner.addresses[0]
        yield f"http://{address[0]}:{address[1]}"
    finally:
        await runner.cleanup()
