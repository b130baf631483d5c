"""Contract tests of rtio/aiohttp_internals.py: each checks one thing rtio relies on from
aiohttp's private internals, against a real aiohttp server, so an aiohttp upgrade that
breaks a contract breaks the test named after it (CI runs this module against the oldest
and the newest aiohttp that pyproject.toml admits).

One block per section of the module (the lead merges the sections' blocks).
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
