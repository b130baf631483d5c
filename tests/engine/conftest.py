"""Fixtures: an EngineServer on a real aiohttp test server, with a recording handler."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import pytest
from aiohttp import ClientWebSocketResponse, web
from aiohttp.test_utils import TestClient, TestServer

from rtio.engine import CloseReason, EngineOptions, EngineServer, EngineSession


@dataclass
class Recorder:
    """Echoes every message (like the suite's app) and records what the engine reports."""

    echo: bool = True
    connected: list[EngineSession] = field(default_factory=list)
    messages: list[tuple[str, str | bytes]] = field(default_factory=list)
    disconnected: list[tuple[str, CloseReason, str]] = field(default_factory=list)
    on_connect_hook: Callable[[EngineSession], None] | None = None
    event: asyncio.Event = field(default_factory=asyncio.Event)

    def on_connect(self, session: EngineSession) -> None:
        self.connected.append(session)
        if self.on_connect_hook is not None:
            self.on_connect_hook(session)

    def on_message(self, session: EngineSession, data: str | bytes) -> None:
        self.messages.append((session.sid, data))
        if self.echo:
            session.send(data)
        self.event.set()

    def on_disconnect(self, session: EngineSession, reason: CloseReason, description: str) -> None:
        self.disconnected.append((session.sid, reason, description))
        self.event.set()

    async def wait_for(self, predicate: Callable[[], bool], timeout: float = 3.0) -> None:
        async def loop() -> None:
            while not predicate():
                self.event.clear()
                await self.event.wait()

        await asyncio.wait_for(loop(), timeout)


@dataclass
class Engine:
    server: EngineServer
    handler: Recorder
    client: TestClient[web.Request, web.Application]

    async def handshake(self, **params: str) -> tuple[str, dict[str, Any]]:
        resp = await self.client.get(
            "/engine.io/", params={"EIO": "4", "transport": "polling", **params}
        )
        assert resp.status == 200, await resp.text()
        text = await resp.text()
        assert text[0] == "0"
        opened = json.loads(text[1:].split("\x1e")[0])
        return opened["sid"], opened

    async def poll(self, sid: str, **params: str) -> tuple[int, str]:
        resp = await self.client.get(
            "/engine.io/", params={"EIO": "4", "transport": "polling", "sid": sid, **params}
        )
        return resp.status, await resp.text()

    async def post(self, sid: str, body: str | bytes, **params: str) -> tuple[int, str]:
        """A POST as engine.io-client sends it (text/plain, whatever the body's type)."""
        resp = await self.client.post(
            "/engine.io/",
            params={"EIO": "4", "transport": "polling", "sid": sid, **params},
            data=body,
            headers={"Content-Type": "text/plain;charset=UTF-8"},
        )
        return resp.status, await resp.text()

    async def ws(
        self, sid: str | None = None, headers: dict[str, str] | None = None, **kwargs: Any
    ) -> ClientWebSocketResponse:
        """A WebSocket on the engine (aiohttp's client: an independent implementation)."""
        params = {"EIO": "4", "transport": "websocket"}
        if sid is not None:
            params["sid"] = sid
        return await self.client.ws_connect(
            "/engine.io/", params=params, headers=headers, autoping=False, **kwargs
        )

    async def ws_open(self) -> tuple[ClientWebSocketResponse, str]:
        """A WebSocket-only session: the socket and its sid (the open packet is read)."""
        ws = await self.ws()
        opened = await ws.receive_str(timeout=3)
        assert opened[0] == "0"
        sid: str = json.loads(opened[1:])["sid"]
        return ws, sid

    async def upgrade(self, sid: str) -> ClientWebSocketResponse:
        """Probe and complete the upgrade of a polling session."""
        ws = await self.ws(sid)
        await ws.send_str("2probe")
        assert await ws.receive_str(timeout=3) == "3probe"
        await ws.send_str("5")
        return ws


class _NoCancelTestServer(TestServer):
    async def _make_runner(self, **kwargs: Any) -> web.ServerRunner:
        kwargs["handler_cancellation"] = False
        return await super()._make_runner(**kwargs)  # type: ignore[no-any-return]


MakeEngine = Callable[..., Awaitable[Engine]]


@pytest.fixture
async def make_engine() -> AsyncIterator[MakeEngine]:
    clients: list[TestClient[web.Request, web.Application]] = []

    async def make(
        handler: Recorder | None = None, *, cancel_handlers: bool = True, **options: Any
    ) -> Engine:
        """An engine on a test server. ``cancel_handlers``: aiohttp cancels a request's
        handler when its connection is lost (the test server's default) or, False, lets
        it run on (aiohttp's production default)."""
        handler = handler or Recorder()
        options.setdefault("ping_interval", 5.0)
        options.setdefault("ping_timeout", 5.0)
        # teardown shuts the app down: do not wait for clients the test left behind
        options.setdefault("shutdown_grace", 0.05)
        server = EngineServer(handler, EngineOptions(**options))
        app = web.Application()
        server.attach(app)
        test_server = TestServer(app) if cancel_handlers else _NoCancelTestServer(app)
        client = TestClient(test_server)
        await client.start_server()
        clients.append(client)
        return Engine(server, handler, client)

    yield make
    for client in clients:
        await client.close()
