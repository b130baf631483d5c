"""rtio.testing: test an rtio app's handlers, middlewares, rooms and acks in milliseconds.

A test client is an ordinary :class:`rtio.client.Client` whose polling requests go
straight to the server's ``EngineServer.handle`` (its public entry point for an HTTP
front) as in-memory requests: no socket, no port, the server's own code path from the
Engine.IO request on. ``serve()`` runs the server on a real loopback port instead, for
what needs one (WebSocket, the upgrade, TLS).

    async def test_chat() -> None:
        server = create_server()
        async with test_client(server, auth={"name": "ada"}) as ada:
            events = EventLog(ada)
            await ada.call("join", {"room": "lobby"})
            await events.next("presence", timeout=1)

The pytest plugin (``rtio_pytest``, loaded through the ``pytest11`` entry point ``rtio``)
adds fixtures built on these: docs/TESTING.md.
"""

from .events import EventLog, wait_event
from .memory import MemoryFetcher, MemoryRequest
from .server import connect_clients, serve, test_client

__all__ = [
    "EventLog",
    "MemoryFetcher",
    "MemoryRequest",
    "connect_clients",
    "serve",
    "test_client",
    "wait_event",
]
