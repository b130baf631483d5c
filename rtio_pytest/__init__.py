"""rtio's pytest plugin (the ``pytest11`` entry point ``rtio``): fixtures for testing an
app built on rtio, with rtio.testing. Needs pytest-asyncio; without it, nothing is added.

A package of its own, outside ``rtio``, that imports nothing of rtio until a fixture is
used: pytest loads entry-point plugins before pytest-cov starts measuring, and an import
of rtio here would leave every rtio module's top-level lines unmeasured (rtio's unit
stage prints branch coverage per module).

Define ``rtio_server`` (a fixture returning your ``rtio.Server``), then use:

- ``rtio_client``: one connected in-memory client (rtio.testing.test_client)
- ``rtio_clients``: ``await rtio_clients(n, auth=..., url=None, **options)``: n connected
  clients (in memory, or of ``url``); all closed after the test
- ``rtio_url``: the server on a loopback port (rtio.testing.serve), for WebSocket
- ``rtio_events``: ``rtio_events(client)``: an EventLog (``await log.next("event")``)

See docs/TESTING.md.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:
    from rtio import Server
    from rtio.client import Client, ClientSocket
    from rtio.testing import EventLog

__all__: list[str] = []

try:
    import pytest_asyncio
except ImportError:  # pragma: no cover - the fixtures need pytest-asyncio
    pytest_asyncio = None  # type: ignore[assignment]


if pytest_asyncio is not None:

    @pytest.fixture
    def rtio_server() -> Server:
        """Override with a fixture of the same name returning the app's server."""
        raise pytest.UsageError(
            "define a fixture named rtio_server that returns your rtio.Server "
            "(the rtio_client/rtio_clients/rtio_url fixtures use it)"
        )

    @pytest_asyncio.fixture
    async def rtio_clients(
        rtio_server: Server,
    ) -> AsyncIterator[Callable[..., Awaitable[list[Client]]]]:
        from rtio.testing import connect_clients

        made: list[Client] = []

        async def make(count: int = 1, **options: Any) -> list[Client]:
            clients = await connect_clients(rtio_server, count, **options)
            made.extend(clients)
            return clients

        yield make
        for client in made:
            await client.close()

    @pytest_asyncio.fixture
    async def rtio_client(rtio_clients: Callable[..., Awaitable[list[Client]]]) -> Client:
        (client,) = await rtio_clients(1)
        return client

    @pytest_asyncio.fixture
    async def rtio_url(rtio_server: Server) -> AsyncIterator[str]:
        from rtio.testing import serve

        async with serve(rtio_server) as url:
            yield url

    @pytest.fixture
    def rtio_events() -> Callable[[ClientSocket], EventLog]:
        from rtio.testing import EventLog

        return EventLog
