"""Contract tests of rtio/aiohttp_internals.py, the one module touching aiohttp's private
internals: each checks one thing rtio relies on, so that an aiohttp release that changes
it breaks one named test here. tests/stages/17-aiohttp-oldest.sh runs them against the
oldest aiohttp pyproject.toml admits; the unit stage against the newest.

The HTTP front (rtio.http):
- set_site_server: a site given its server is listed by ``runner.addresses`` and closed by
  ``runner.cleanup()`` (BaseSite.stop);
- hand_off: aiohttp's protocol, attached to a connection mid-stream, answers the request
  whose bytes were already read, the one pipelined behind it and later ones (keep-alive);
  told that writing is paused, it takes the transport's later resume_writing.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest
from aiohttp import web

from rtio.aiohttp_internals import hand_off, set_site_server

# -- the HTTP front (rtio.http) --


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
        writer.write(
            b"Content-Length: 4\r\n\r\nbody"
            b"GET /second HTTP/1.1\r\nHost: t\r\n\r\n"
        )
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
