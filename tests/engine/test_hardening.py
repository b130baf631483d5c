"""Issue 12 (hardening) in the engine, on both HTTP fronts: bodies that never arrive
(defect 3), closed sessions that kept their slot (defect 8), the default origin policy
(defect 7). Each front is a real socket: aiohttp's web stack (``EngineServer.attach``) or
rtio's own front (``rtio.http.start_server``)."""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import aiohttp
import pytest
from aiohttp import web

from rtio.engine import CorsOptions, EngineOptions, EngineServer
from rtio.http import start_server

from .conftest import Recorder

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


async def _stuck_post(port: int, sid: str) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    """A POST that announces 1,000 bytes and sends 1."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(
        f"POST /engine.io/?EIO=4&transport=polling&sid={sid} HTTP/1.1\r\n"
        "Host: 127.0.0.1\r\nContent-Type: text/plain;charset=UTF-8\r\n"
        "Content-Length: 1000\r\n\r\n4".encode()
    )
    await writer.drain()
    return reader, writer


async def _answer_then_eof(reader: asyncio.StreamReader) -> bytes:
    """Everything the server writes until it closes the connection."""
    return await reader.read()


@pytest.mark.parametrize("front", FRONTS)
async def test_posts_whose_body_never_arrives_are_answered_and_closed(
    serve: Serve, front: str
) -> None:
    """Issue 12, defect 3: 200 POSTs announcing 1,000 bytes and sending 1 are all answered
    408 and their connections closed within a bound (body_timeout 0.3 s; the bound allows a
    loaded box 5 s), and their sessions are gone. On 0d24665 none was answered (the test
    times out: they waited for ever, their sessions open)."""
    served = await serve(front, body_timeout=0.3)
    count = 200
    async with aiohttp.ClientSession() as http:
        sids = [await served.handshake(http) for _ in range(count)]
    conns = [await _stuck_post(served.port, sid) for sid in sids]
    loop = asyncio.get_running_loop()
    start = loop.time()
    answers = await asyncio.wait_for(
        asyncio.gather(*(_answer_then_eof(reader) for reader, _ in conns)), 5.0
    )
    elapsed = loop.time() - start
    for _, writer in conns:
        writer.close()
    assert elapsed < 5.0
    assert all(answer.startswith(b"HTTP/1.1 408 ") for answer in answers), answers[0]
    assert len(served.server.sessions) == 0
    reasons = {(reason.value, why) for _, reason, why in served.handler.disconnected}
    assert reasons == {("transport error", "data request timeout")}


@pytest.mark.parametrize("front", FRONTS)
async def test_a_session_close_ends_its_pending_post_and_poll(serve: Serve, front: str) -> None:
    """Issue 12, defect 3: a session's close ends its pending requests: the POST whose body
    is still arriving is answered 400 and its connection closed at once, and the pending
    GET gets the close packet (on 0d24665 the POST waited for ever)."""
    served = await serve(front, body_timeout=60.0)
    async with aiohttp.ClientSession() as http:
        sid = await served.handshake(http)
        poll = asyncio.ensure_future(http.get(served.base + f"&transport=polling&sid={sid}"))
        reader, writer = await _stuck_post(served.port, sid)
        await asyncio.sleep(0.1)
        assert not poll.done()
        served.server.sessions[sid].close()  # the pending GET takes the close packet
        answer = await asyncio.wait_for(reader.read(), 2.0)  # answered, then EOF
        writer.close()
        assert answer.startswith(b"HTTP/1.1 400 "), answer
        async with await asyncio.wait_for(poll, 2.0) as r:
            assert (r.status, await r.text()) == (200, "1")
    assert len(served.server.sessions) == 0


@pytest.mark.parametrize("front", FRONTS)
async def test_a_closed_session_frees_its_slot_promptly(serve: Serve, front: str) -> None:
    """Issue 12, defect 8: a polling session the server closes while no GET is pending is
    gone once its heartbeat would have ended it (pingInterval + pingTimeout = 0.4 s here),
    and one that never polls again after the handshake too; the count is asserted within
    a 3 s bound (on 0d24665 a closed session kept its slot 30 s, heartbeat off)."""
    served = await serve(front, ping_interval=0.2, ping_timeout=0.2)
    async with aiohttp.ClientSession() as http:
        closed = [await served.handshake(http) for _ in range(10)]
        idle = [await served.handshake(http) for _ in range(10)]
    for sid in closed:
        served.server.sessions[sid].close()
    assert len(served.server.sessions) == 20
    loop = asyncio.get_running_loop()
    deadline = loop.time() + 3.0
    while served.server.sessions and loop.time() < deadline:
        await asyncio.sleep(0.05)
    assert len(served.server.sessions) == 0
    reasons = {sid: reason.value for sid, reason, _ in served.handler.disconnected}
    assert {reasons[sid] for sid in closed} == {"forced close"}
    assert {reasons[sid] for sid in idle} == {"ping timeout"}


# -- defect 7: the default origin policy ---------------------------------------------------


async def _ws_status(port: int, headers: dict[str, str], sid: str | None = None) -> int:
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


@pytest.mark.parametrize("front", FRONTS)
async def test_default_policy_refuses_a_cross_origin_websocket_and_poll(
    serve: Serve, front: str, caplog: pytest.LogCaptureFixture
) -> None:
    """Issue 12, defect 7: with the default (cors None: same origin only), a WebSocket
    upgrade or a polling handshake from another origin is refused 403, on both fronts; a
    request with no Origin (Node's and Python's clients) or the same origin is served.
    The refusal is logged once per origin, at INFO, naming the option that admits it.
    On 0d24665 the cross-origin upgrade got 101."""
    served = await serve(front)
    port = served.port
    host = f"127.0.0.1:{port}"
    evil = {"Host": host, "Origin": "http://evil.example"}
    caplog.set_level(logging.INFO, logger="rtio.engine")
    assert await _ws_status(port, evil) == 403
    assert await _ws_status(port, evil) == 403
    assert await _ws_status(port, {"Host": host, "Origin": "http://127.0.0.1:1"}) == 403
    assert await _ws_status(port, {"Host": host}) == 101
    assert await _ws_status(port, {"Host": host, "Origin": f"http://{host}"}) == 101
    assert await _ws_status(port, {"Host": "Example.COM", "Origin": "https://example.com"}) == 101
    assert await _ws_status(port, {"Host": "a:80", "Origin": "http://a"}) == 101
    async with aiohttp.ClientSession() as http:
        async with http.get(
            served.base + "&transport=polling", headers={"Origin": "http://evil.example"}
        ) as r:
            assert r.status == 403
            assert json.loads(await r.text())["message"] == "Not an accepted origin"
        async with http.get(
            served.base + "&transport=polling", headers={"Origin": f"http://{host}"}
        ) as r:
            assert r.status == 200
            assert "Access-Control-Allow-Origin" not in r.headers
    refusals = [r for r in caplog.records if "evil.example" in r.getMessage()]
    assert len(refusals) == 1
    assert refusals[0].levelno == logging.INFO
    assert "cors_allowed_origins" in refusals[0].getMessage()


@pytest.mark.parametrize("front", FRONTS)
async def test_an_explicit_policy_still_admits_its_origins(serve: Serve, front: str) -> None:
    served = await serve(front, cors=CorsOptions(origins=["http://app.example"]))
    port = served.port
    host = f"127.0.0.1:{port}"
    assert await _ws_status(port, {"Host": host, "Origin": "http://app.example"}) == 101
    assert await _ws_status(port, {"Host": host, "Origin": "http://evil.example"}) == 403
    served = await serve(front, cors=CorsOptions(origins="*"))
    assert await _ws_status(served.port, {"Host": host, "Origin": "http://evil.example"}) == 101


def test_refused_origins_are_logged_once_within_a_bound(caplog: pytest.LogCaptureFixture) -> None:
    """Issue 12, defect 7: the set of origins already logged is bounded."""
    from rtio.engine.cors import MAX_LOGGED_ORIGINS, OriginLog

    log = OriginLog()
    caplog.set_level(logging.INFO, logger="rtio.engine")
    for i in range(MAX_LOGGED_ORIGINS * 3):
        log.refused(f"http://{i}.example", "cors_allowed_origins")
    assert len(log) <= MAX_LOGGED_ORIGINS
    assert len(caplog.records) == MAX_LOGGED_ORIGINS * 3
    log.refused(f"http://{MAX_LOGGED_ORIGINS * 3 - 1}.example", "cors_allowed_origins")
    assert len(caplog.records) == MAX_LOGGED_ORIGINS * 3  # still remembered: not again
