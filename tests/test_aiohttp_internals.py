"""Contract tests of rtio/aiohttp_internals.py, the one module touching aiohttp's private
internals: each checks one thing rtio relies on, against a real aiohttp server, so that an
aiohttp release that changes it breaks one named test here. tests/stages/17-aiohttp-oldest.sh
runs them against the oldest aiohttp pyproject.toml admits; the unit stage against the newest.

The WebSocket takeover (rtio.ws): one test per function of its section.

The HTTP front (rtio.http):
- set_site_server: a site given its server is listed by ``runner.addresses`` and closed by
  ``runner.cleanup()`` (BaseSite.stop);
- hand_off: aiohttp's protocol, attached to a connection mid-stream, answers the request
  whose bytes were already read, the one pipelined behind it and later ones (keep-alive);
  told that writing is paused, it takes the transport's later resume_writing.
"""

from __future__ import annotations

import asyncio
import gc
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import pytest
from aiohttp import web
from aiohttp.web_protocol import RequestHandler

from rtio import aiohttp_internals as internals
from rtio.aiohttp_internals import hand_off, set_site_server

# == WebSocket takeover (rtio.ws) =======================================================
#
# The end-to-end behaviour built on these (accept() attached and detached, on asyncio's
# loop and uvloop) is tests/ws/test_aiohttp_adapter.py's.

_UPGRADE = (
    b"GET /ws HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
    b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"
)
_PLAIN = b"GET /ws HTTP/1.1\r\nHost: x\r\n\r\n"

Endpoint = Callable[[web.Request], Awaitable[web.StreamResponse]]


class _Takeover:
    """An aiohttp server on 127.0.0.1 whose one route runs ``endpoint``."""

    def __init__(self) -> None:
        self.endpoint: Endpoint | None = None
        self.runner: web.AppRunner | None = None
        self.port = 0

    async def handle(self, request: web.Request) -> web.StreamResponse:
        assert self.endpoint is not None
        return await self.endpoint(request)

    async def open(self, data: bytes) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
        reader, writer = await asyncio.open_connection("127.0.0.1", self.port)
        writer.write(data)  # one write: whatever follows the request head is pipelined
        return reader, writer


@pytest.fixture
async def takeover() -> AsyncIterator[_Takeover]:
    server = _Takeover()
    app = web.Application()
    app.router.add_get("/ws", server.handle)
    server.runner = web.AppRunner(app, shutdown_timeout=1)
    await server.runner.setup()
    site = web.TCPSite(server.runner, "127.0.0.1", 0)
    await site.start()
    server.port = server.runner.addresses[0][1]
    yield server
    await server.runner.cleanup()


async def _switch(request: web.Request) -> internals.UpgradedResponse:
    response = internals.UpgradedResponse(
        status=101, headers={"Upgrade": "websocket", "Connection": "Upgrade"}
    )
    response.force_close()
    await response.prepare(request)
    return response


async def _head(reader: asyncio.StreamReader) -> bytes:
    return await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 5)


@pytest.mark.parametrize(("request_bytes", "expected"), [(_UPGRADE, True), (_PLAIN, False)])
async def test_is_upgrade_follows_aiohttps_parser(
    takeover: _Takeover, request_bytes: bytes, expected: bool
) -> None:
    seen: list[bool] = []

    async def endpoint(request: web.Request) -> web.StreamResponse:
        seen.append(internals.is_upgrade(request))
        return web.Response(text="ok")

    takeover.endpoint = endpoint
    reader, writer = await takeover.open(request_bytes)
    await _head(reader)
    writer.close()
    assert seen == [expected]


class _Feed:
    def __init__(self) -> None:
        self.data = bytearray()
        self.eof: asyncio.Future[None] = asyncio.get_running_loop().create_future()

    def feed_data(self, data: bytes) -> tuple[bool, bytes]:
        self.data += data
        return False, b""

    def feed_eof(self) -> None:
        self.eof.set_result(None)


async def test_feed_to_gets_the_pipelined_tail_later_bytes_and_the_end(
    takeover: _Takeover,
) -> None:
    feed = _Feed()

    async def endpoint(request: web.Request) -> web.StreamResponse:
        response = await _switch(request)
        internals.feed_to(request.protocol, feed)
        await feed.eof  # attached: the handler stays until the connection ends
        return response

    takeover.endpoint = endpoint
    reader, writer = await takeover.open(_UPGRADE + b"pipelined")
    assert (await _head(reader)).startswith(b"HTTP/1.1 101")
    writer.write(b" later")
    for _ in range(100):
        if bytes(feed.data) == b"pipelined later":
            break
        await asyncio.sleep(0.01)
    assert bytes(feed.data) == b"pipelined later"
    writer.transport.abort()
    await asyncio.wait_for(feed.eof, 5)


async def test_writing_paused_and_drain_follow_the_transports_flow_control(
    takeover: _Takeover,
) -> None:
    outcome: list[Any] = []

    async def endpoint(request: web.Request) -> web.StreamResponse:
        handler = request.protocol
        outcome.append(internals.writing_paused(handler))
        handler.pause_writing()  # what the transport calls above its high-water mark
        outcome.append(internals.writing_paused(handler))
        drained = asyncio.ensure_future(internals.drain(handler))
        await asyncio.sleep(0.01)
        outcome.append(drained.done())
        handler.resume_writing()
        await asyncio.wait_for(drained, 5)
        outcome.append(internals.writing_paused(handler))
        return web.Response(text="ok")

    takeover.endpoint = endpoint
    reader, writer = await takeover.open(_PLAIN)
    await _head(reader)
    writer.close()
    assert outcome == [False, True, False, False]


async def test_drain_does_not_outlive_the_connection(takeover: _Takeover) -> None:
    # rtio.ws checks its own state after a drain: what matters is that it ends
    outcome: asyncio.Future[BaseException | None] = asyncio.get_running_loop().create_future()

    async def endpoint(request: web.Request) -> web.StreamResponse:
        handler = request.protocol
        handler.pause_writing()
        try:
            await asyncio.wait_for(internals.drain(handler), 5)
        except BaseException as exc:
            outcome.set_result(exc)
            raise
        outcome.set_result(None)
        return web.Response(text="ok")

    takeover.endpoint = endpoint
    _, writer = await takeover.open(_PLAIN)
    await asyncio.sleep(0.05)
    writer.transport.abort()
    exc = await asyncio.wait_for(outcome, 5)
    assert exc is None or isinstance(exc, ConnectionError)


class _Ours(asyncio.Protocol):
    def __init__(self) -> None:
        self.data = bytearray()
        self.lost: asyncio.Future[None] = asyncio.get_running_loop().create_future()

    def data_received(self, data: bytes) -> None:
        self.data += data

    def connection_lost(self, exc: BaseException | None) -> None:
        if not self.lost.done():
            self.lost.set_result(None)


def _handlers_alive() -> int:
    gc.collect()
    return sum(1 for o in gc.get_objects() if type(o) is RequestHandler)


async def test_hand_over_and_let_go_free_the_connection_from_aiohttp(
    takeover: _Takeover,
) -> None:
    ours = _Ours()
    handovers: list[internals.Handover] = []

    async def endpoint(request: web.Request) -> web.StreamResponse:
        response = await _switch(request)
        handler, transport = request.protocol, request.transport
        assert transport is not None
        handovers.append(internals.hand_over(handler))
        transport.set_protocol(ours)
        internals.let_go(handler)
        transport.write(b"from us")  # the connection is ours: aiohttp does not close it
        return response

    before = _handlers_alive()
    takeover.endpoint = endpoint
    reader, writer = await takeover.open(_UPGRADE + b"pipelined")
    assert (await _head(reader)).startswith(b"HTTP/1.1 101")
    assert await asyncio.wait_for(reader.readexactly(7), 5) == b"from us"
    assert [bytes(h.tail) for h in handovers] == [b"pipelined"]
    assert handovers[0].writing_paused is False
    writer.write(b" and later")  # reaches our protocol, not aiohttp's parser
    for _ in range(100):
        if bytes(ours.data) == b" and later":
            break
        await asyncio.sleep(0.01)
    assert bytes(ours.data) == b" and later"
    await asyncio.sleep(0.05)  # the aiohttp handler task ends
    assert takeover.runner is not None and takeover.runner.server is not None
    assert takeover.runner.server.connections == []  # _manager forgot it
    assert _handlers_alive() == before
    writer.close()
    await asyncio.wait_for(ours.lost, 5)


async def test_upgraded_response_runs_on_eof_once_when_the_handler_returns(
    takeover: _Takeover,
) -> None:
    calls: list[str] = []

    async def on_eof() -> None:
        calls.append("eof")

    async def endpoint(request: web.Request) -> web.StreamResponse:
        response = await _switch(request)
        response.on_eof = on_eof
        await response.write_eof()  # called a first time by hand: the second is aiohttp's
        return response

    takeover.endpoint = endpoint
    reader, writer = await takeover.open(_UPGRADE)
    assert (await _head(reader)).startswith(b"HTTP/1.1 101")
    await asyncio.sleep(0.05)
    writer.close()
    assert calls == ["eof"]


# == the HTTP front (rtio.http) =========================================================


async def hello(request: web.Request) -> web.Response:
    return web.Response(text=f"aiohttp {request.path} {await request.text()}")


@pytest.fixture
async def runner() -> AsyncIterator[web.AppRunner]:
    app = web.Application()
    app.router.add_route("*", "/{name}", hello)
    runner = web.AppRunner(app)
    await runner.setup()
    try:
        yield runner
    finally:
        await runner.cleanup()


class OwnSite(web.BaseSite):
    """A site that creates its listening server itself (as rtio.http.FrontSite does)."""

    __slots__ = ("server",)

    @property
    def name(self) -> str:
        return "own"

    async def start(self) -> None:
        await super().start()
        loop = asyncio.get_running_loop()
        server = await loop.create_server(asyncio.Protocol, "127.0.0.1", 0)
        self.server = server
        set_site_server(self, server)


async def test_a_site_given_its_server_lists_it_and_closes_it(runner: web.AppRunner) -> None:
    site = OwnSite(runner)
    await site.start()
    port = site.server.sockets[0].getsockname()[1]
    assert ("127.0.0.1", port) in [tuple(a[:2]) for a in runner.addresses]
    assert site.server.is_serving()
    await runner.cleanup()
    assert not site.server.is_serving()
    with pytest.raises(OSError):
        await asyncio.open_connection("127.0.0.1", port)


class ReadsOneHead(asyncio.Protocol):
    """Reads until one request head is complete (as rtio's front does before deciding the
    path is not its own), then hands the connection and every byte read to aiohttp."""

    def __init__(self, factory: web.Server, paused: bool, handed: list[asyncio.Protocol]) -> None:
        self.factory = factory
        self.paused = paused
        self.handed = handed
        self.buffer = b""
        self.transport: asyncio.Transport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        if b"\r\n\r\n" in self.buffer:
            assert self.transport is not None
            protocol = hand_off(
                self.factory, self.transport, self.buffer, writing_paused=self.paused
            )
            self.handed.append(protocol)
            if self.paused:
                protocol.resume_writing()  # (what the transport does once it drained)


async def read_response(reader: asyncio.StreamReader) -> tuple[bytes, bytes]:
    head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 5)
    length = next(
        int(line.split(b":")[1])
        for line in head.split(b"\r\n")
        if line.lower().startswith(b"content-length:")
    )
    return head.split(b"\r\n")[0], await asyncio.wait_for(reader.readexactly(length), 5)


@pytest.mark.parametrize("writing_paused", [False, True])
async def test_aiohttp_takes_a_connection_mid_stream(
    runner: web.AppRunner, writing_paused: bool
) -> None:
    assert runner.server is not None
    factory = runner.server
    handed: list[asyncio.Protocol] = []
    loop = asyncio.get_running_loop()
    server = await loop.create_server(
        lambda: ReadsOneHead(factory, writing_paused, handed), "127.0.0.1", 0
    )
    port = server.sockets[0].getsockname()[1]
    try:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        # the first head in two pieces, its body and a second request right behind it
        writer.write(b"POST /first HTTP/1.1\r\nHost: t\r\n")
        await asyncio.sleep(0.01)
        writer.write(b"Content-Length: 4\r\n\r\nbodyGET /second HTTP/1.1\r\nHost: t\r\n\r\n")
        assert await read_response(reader) == (b"HTTP/1.1 200 OK", b"aiohttp /first body")
        assert await read_response(reader) == (b"HTTP/1.1 200 OK", b"aiohttp /second ")
        # the connection stays aiohttp's
        writer.write(b"GET /third HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n")
        assert await read_response(reader) == (b"HTTP/1.1 200 OK", b"aiohttp /third ")
        assert await asyncio.wait_for(reader.read(), 5) == b""
        assert len(handed) == 1 and type(handed[0]).__name__ == "RequestHandler"
        writer.close()
    finally:
        server.close()
