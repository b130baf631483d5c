"""rtio.client's behaviour as the JS client's, checked against an rtio server on a
loopback port (or a scripted fake transport where a real server cannot misbehave on
cue): heartbeat, buffering while disconnected, reconnection events, timeouts, options."""

from __future__ import annotations

import asyncio
import ssl
import subprocess
from collections.abc import AsyncIterator, Mapping
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web
from client_apps import make_rtio_server
from conftest import LiveServer, wait_for

import rtio
from rtio.client import (
    AckTimeout,
    Client,
    ConnectError,
    SendBufferFull,
    SocketDisconnected,
    TransportError,
)


@pytest.fixture
async def live() -> AsyncIterator[LiveServer]:
    server = LiveServer("rtio", "json")
    await server.start()
    yield server
    await server.stop()


def free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


class SilentServer:
    """An Engine.IO server that opens a session and then never pings (an HttpFetcher)."""

    def __init__(self) -> None:
        self.requests: list[tuple[str, str]] = []

    async def request(
        self,
        method: str,
        url: str,
        headers: Mapping[str, str],
        body: bytes | None,
        timeout: float,
        max_size: int,
    ) -> tuple[int, bytes]:
        self.requests.append((method, url))
        if "sid=" not in url:
            return 200, (
                b'0{"sid":"s1","upgrades":[],"pingInterval":200,"pingTimeout":100,'
                b'"maxPayload":1000}\x1e40{"sid":"n1"}'
            )
        if method == "POST":
            return 200, b"ok"
        await asyncio.sleep(timeout)  # a poll the server never answers
        raise TransportError("timeout")

    async def close(self) -> None:
        pass


async def test_a_server_that_stops_pinging_is_detected() -> None:
    """No ping within pingInterval + pingTimeout (0.2 + 0.1 s): "ping timeout"."""
    client = Client("http://silent.invalid", transports=["polling"], fetcher=SilentServer(),
                    reconnection=False)
    reasons: list[str] = []
    client.on("disconnect", reasons.append)
    loop = asyncio.get_running_loop()
    await client.connect(timeout=2)
    start = loop.time()
    await wait_for(lambda: bool(reasons), timeout=3)
    elapsed = loop.time() - start
    assert reasons == ["ping timeout"]
    assert 0.25 <= elapsed < 2.0
    await client.close()


async def test_emits_while_disconnected_are_buffered_bounded_and_sent(live: LiveServer) -> None:
    client = Client(live.url, reconnection_delay=0.05, reconnection_delay_max=0.1,
                    max_buffered_packets=2)
    await client.connect(timeout=5)
    gone = asyncio.Event()
    client.on("disconnect", lambda reason: gone.set())
    await live.stop()
    await asyncio.wait_for(gone.wait(), 5)
    answers: list[Any] = []
    client.emit("echo", "one", callback=lambda *a: answers.append(a))
    client.emit("echo", b"two", callback=lambda *a: answers.append(a))
    with pytest.raises(SendBufferFull):
        client.emit("echo", "three")
    await live.start()
    await wait_for(lambda: len(answers) == 2, timeout=10)
    assert answers == [("one",), (b"two",)]  # in order, once connected again
    await client.close()


async def test_reconnection_events_and_giving_up() -> None:
    port = free_port()  # nothing listens there
    client = Client(f"http://127.0.0.1:{port}", reconnection_attempts=2,
                    reconnection_delay=0.01, reconnection_delay_max=0.02, timeout=2)
    events: list[Any] = []
    manager = client.manager
    manager.on("error", lambda err: events.append("error"))
    manager.on("reconnect_attempt", lambda n: events.append(("attempt", n)))
    manager.on("reconnect_error", lambda err: events.append("reconnect_error"))
    manager.on("reconnect_failed", lambda: events.append("failed"))
    errors: list[ConnectError] = []
    client.on("connect_error", errors.append)
    with pytest.raises(ConnectError, match="reconnection failed"):
        await client.connect(timeout=5, retry=True)
    assert events == [
        "error",
        ("attempt", 1), "error", "reconnect_error",
        ("attempt", 2), "error", "reconnect_error",
        "failed",
    ]
    await wait_for(lambda: len(errors) == 3)
    await client.close()


async def test_connect_without_retry_fails_at_once() -> None:
    client = Client(f"http://127.0.0.1:{free_port()}", timeout=2)
    with pytest.raises(ConnectError) as info:
        await client.connect(timeout=5)
    assert "failed" in info.value.message
    await asyncio.sleep(0.05)
    assert client.manager.state.value == "closed" and not client.active
    await client.close()


async def test_refused_handshake_carries_the_engine_error() -> None:
    sio = rtio.Server(allow_request=_refuse_all)
    runner = web.AppRunner(sio.make_app())
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0).start()
    try:
        client = Client(f"http://127.0.0.1:{runner.addresses[0][1]}")
        with pytest.raises(ConnectError) as info:
            await client.connect(timeout=5)
        assert info.value.data == {"code": 4, "message": "Forbidden"}
        await client.close()
    finally:
        await runner.cleanup()


async def _refuse_all(request: Any) -> bool:
    return False


async def test_ack_timeout_and_disconnect_fail_pending_calls(live: LiveServer) -> None:
    client = Client(live.url, reconnection=False)
    await client.connect(timeout=5)
    with pytest.raises(AckTimeout):
        await client.call("no-such-event", timeout=0.1)  # the server never answers
    assert len(client._acks) == 0
    pending = asyncio.ensure_future(client.call("no-such-event", timeout=30))
    await asyncio.sleep(0.05)
    await live.stop()
    with pytest.raises(SocketDisconnected):
        await asyncio.wait_for(pending, 5)
    await client.close()


async def test_async_with_headers_query_path() -> None:
    sio = rtio.Server(path="/custom/")
    seen: dict[str, Any] = {}

    @sio.on("connect")
    def connect(socket: rtio.Socket, auth: dict[str, Any]) -> None:
        seen["header"] = socket.handshake.headers.get("X-Token")
        seen["query"] = socket.handshake.query.get("room")

    runner = web.AppRunner(sio.make_app())
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0).start()
    port = runner.addresses[0][1]
    try:
        for transports in (["polling"], ["websocket"]):
            seen.clear()
            async with Client(f"http://127.0.0.1:{port}", path="/custom/",
                              transports=transports, headers={"X-Token": "t"},
                              query={"room": "r"}) as client:
                assert client.connected and client.transport == transports[0]
                assert seen == {"header": "t", "query": "r"}
            assert not client.connected
            await wait_for(lambda: not sio.sockets)
    finally:
        await runner.cleanup()


async def test_client_disconnect_reaches_the_server() -> None:
    sio_reasons: list[str] = []
    sio = make_rtio_server()

    @sio.on("disconnect")
    def gone(socket: rtio.Socket, reason: str) -> None:
        sio_reasons.append(str(reason))

    runner = web.AppRunner(sio.make_app())
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0).start()
    try:
        for transports in (["polling"], ["websocket"]):
            client = Client(f"http://127.0.0.1:{runner.addresses[0][1]}", transports=transports)
            reasons: list[str] = []
            client.on("disconnect", reasons.append)
            await client.connect(timeout=5)
            await client.close()
            await wait_for(lambda: len(sio_reasons) == 1)
            assert sio_reasons.pop() == "client namespace disconnect"
            await wait_for(lambda r=reasons: r == ["io client disconnect"])  # type: ignore[misc]
    finally:
        await runner.cleanup()


@pytest.fixture(scope="module")
def tls_files(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    folder = tmp_path_factory.mktemp("tls")
    cert, key = folder / "cert.pem", folder / "key.pem"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
         "-subj", "/CN=localhost", "-addext", "subjectAltName=IP:127.0.0.1",
         "-keyout", str(key), "-out", str(cert)],
        check=True, capture_output=True,
    )
    return cert, key


async def test_tls(tls_files: tuple[Path, Path]) -> None:
    cert, key = tls_files
    server_ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    server_ctx.load_cert_chain(cert, key)
    client_ctx = ssl.create_default_context(cafile=str(cert))
    runner = web.AppRunner(make_rtio_server().make_app())
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0, ssl_context=server_ctx).start()
    url = f"https://127.0.0.1:{runner.addresses[0][1]}"
    try:
        async with Client(url, ssl=client_ctx) as client:
            await wait_for(lambda: client.transport == "websocket")  # wss:// upgrade
            assert await client.call("echo", b"\x00", timeout=5) == b"\x00"
        with pytest.raises(ConnectError):  # the system's CAs do not know this one
            await Client(url, reconnection=False).connect(timeout=5)
    finally:
        await runner.cleanup()


async def test_no_handler_no_ack(live: LiveServer) -> None:
    """An event the client has no handler for is not answered: the server's ack times
    out (as with the JS client), rather than getting an empty answer."""
    async with Client(live.url, reconnection=False) as client:
        answer = await client.call("ask", {"event": "unhandled", "timeout": 0.2}, timeout=5)
        assert answer == {"error": "timeout"}
        client.on("handled", lambda: None)
        answer = await client.call("ask", {"event": "handled", "timeout": 2}, timeout=5)
        assert answer == {"answer": []}
