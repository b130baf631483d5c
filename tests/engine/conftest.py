"""Fixtures: an EngineServer on a real aiohttp test server, with a recording handler."""

from __future__ import annotations

import asyncio
import base64
import json
import os
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import aiohttp
import pytest
from aiohttp import ClientWebSocketResponse, web
from aiohttp.test_utils import TestClient, TestServer

from rtio.engine import (
    CloseReason,
    EngineOptions,
    EngineServer,
    EngineSession,
)
from rtio.http import start_server


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


async def error_of(engine: Engine, method: str, query: str) -> tuple[int, dict[str, object]]:
    resp = await engine.client.request(method, "/engine.io/" + query)
    return resp.status, json.loads(await resp.text())


async def raw_upgrade(
    engine: Engine, query: str, headers: dict[str, str] | None = None
) -> tuple[int, dict[str, str], bytes, asyncio.StreamReader, asyncio.StreamWriter]:
    """Send a WebSocket upgrade request by hand; returns status, headers (last value of
    each, lower-case names), the body read so far, and the open stream."""
    server = engine.client.server
    reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
    key = base64.b64encode(os.urandom(16)).decode()
    lines = [
        f"GET /engine.io/?{query} HTTP/1.1",
        f"Host: 127.0.0.1:{server.port}",
        "Upgrade: websocket",
        "Connection: Upgrade",
        f"Sec-WebSocket-Key: {key}",
        "Sec-WebSocket-Version: 13",
    ]
    lines += [f"{name}: {value}" for name, value in (headers or {}).items()]
    writer.write(("\r\n".join(lines) + "\r\n\r\n").encode())
    head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 3)
    status_line, *header_lines = head.decode().split("\r\n")
    parsed: dict[str, str] = {}
    for line in header_lines:
        if line:
            name, _, value = line.partition(":")
            parsed[name.strip().lower()] = value.strip()
    body = b""
    status = int(status_line.split()[1])
    if status != 101 and "content-length" in parsed:
        body = await reader.readexactly(int(parsed["content-length"]))
    return status, parsed, body, reader, writer


async def pending_poll(engine: Engine, sid: str) -> asyncio.Future[tuple[int, str]]:
    poll = asyncio.ensure_future(engine.poll(sid))
    await asyncio.sleep(0.05)
    assert not poll.done()
    return poll


async def read_frame(reader: asyncio.StreamReader) -> tuple[int, bytes]:
    """One unmasked server frame off the wire: its first byte (FIN, RSV1, opcode) and
    payload."""
    head = await asyncio.wait_for(reader.readexactly(2), 3)
    length = head[1] & 0x7F
    if length == 126:
        length = int.from_bytes(await reader.readexactly(2), "big")
    elif length == 127:
        length = int.from_bytes(await reader.readexactly(8), "big")
    return head[0], await reader.readexactly(length)


def frames(*texts: str) -> bytes:
    """Masked text frames (zero mask key), as a client sends them."""
    out = b""
    for text in texts:
        data = text.encode()
        assert len(data) < 126
        out += bytes([0x81, 0x80 | len(data)]) + b"\0\0\0\0" + data
    return out


async def read_text(reader: asyncio.StreamReader) -> str:
    """One unmasked, unfragmented text frame of the server (short)."""
    head = await asyncio.wait_for(reader.readexactly(2), 3)
    assert head[0] == 0x81 and head[1] < 126, head
    return (await reader.readexactly(head[1])).decode()


FRONTS = ("aiohttp", "rtio")


class Served:
    def __init__(self, server: EngineServer, handler: Recorder, port: int) -> None:
        self.server = server
        self.handler = handler
        self.port = port
        self.base = f"http://127.0.0.1:{port}/engine.io/?EIO=4"

    async def handshake(self, http: aiohttp.ClientSession) -> str:
        async with http.get(self.base + "&transport=polling") as r:
            assert r.status == 200
            sid: str = json.loads((await r.text())[1:].split("\x1e")[0])["sid"]
            return sid


Serve = Callable[..., Awaitable[Served]]


@pytest.fixture
async def serve() -> AsyncIterator[Serve]:
    cleanups: list[Callable[[], Awaitable[None]]] = []

    async def make(front: str, **options: Any) -> Served:
        options.setdefault("ping_interval", 5.0)
        options.setdefault("ping_timeout", 5.0)
        options.setdefault("shutdown_grace", 0.05)
        handler = Recorder()
        server = EngineServer(handler, EngineOptions(**options))
        app = web.Application()
        server.attach(app)
        if front == "rtio":
            site = await start_server(app, "127.0.0.1", 0)
            cleanups.append(site.runner.cleanup)
            return Served(server, handler, site.port)
        runner = web.AppRunner(app, handle_signals=False)
        await runner.setup()
        tcp = web.TCPSite(runner, "127.0.0.1", 0)
        await tcp.start()
        cleanups.append(runner.cleanup)
        port = tcp._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        return Served(server, handler, port)

    yield make
    for cleanup in cleanups:
        await cleanup()


async def stuck_post(port: int, sid: str) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    """A POST that announces 1,000 bytes and sends 1."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(
        f"POST /engine.io/?EIO=4&transport=polling&sid={sid} HTTP/1.1\r\n"
        "Host: 127.0.0.1\r\nContent-Type: text/plain;charset=UTF-8\r\n"
        "Content-Length: 1000\r\n\r\n4".encode()
    )
    await writer.drain()
    return reader, writer


async def answer_then_eof(reader: asyncio.StreamReader) -> bytes:
    """Everything the server writes until it closes the connection."""
    return await reader.read()


async def ws_status(port: int, headers: dict[str, str], sid: str | None = None) -> int:
    """The status of a WebSocket upgrade with these headers (101 or the refusal's)."""
    query = "EIO=4&transport=websocket" + (f"&sid={sid}" if sid else "")
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    head = "".join(f"{k}: {v}\r\n" for k, v in headers.items())
    writer.write(
        f"GET /engine.io/?{query} HTTP/1.1\r\n{head}Upgrade: websocket\r\n"
        "Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
        "Sec-WebSocket-Version: 13\r\n\r\n".encode()
    )
    line = await asyncio.wait_for(reader.readline(), 3.0)
    writer.close()
    return int(line.split()[1])
