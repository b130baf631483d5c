"""sio.metrics(): scripted traffic from real clients over a loopback port (rtio's client,
WebSocket and long-polling), then /metrics scraped over HTTP and its values checked."""

from __future__ import annotations

import asyncio
import subprocess
import sys
from typing import Any

import aiohttp
import pytest
from prometheus_client.parser import text_string_to_metric_families

import rtio
from rtio.client import Client
from rtio.testing import serve


def samples(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    out = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            out[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return out


def value(scraped: dict[Any, float], name: str, **labels: str) -> float:
    return scraped.get((name, tuple(sorted(labels.items()))), 0.0)


async def scrape(url: str) -> dict[Any, float]:
    async with aiohttp.ClientSession() as http, http.get(url) as response:
        assert response.status == 200
        assert response.headers["Content-Type"].startswith("text/plain")
        return samples(await response.text())


async def wait_until(check: Any, timeout: float = 5.0) -> None:
    deadline = asyncio.get_running_loop().time() + timeout
    while not check():
        assert asyncio.get_running_loop().time() < deadline, "timed out"
        await asyncio.sleep(0.01)


def make_server() -> rtio.Server:
    sio = rtio.Server(allow_request=None)

    @sio.on("echo")
    def echo(socket: Any, text: str) -> str:
        return text

    @sio.on("join")
    def join(socket: Any, room: str) -> None:
        socket.join(room)

    @sio.on("boom")
    def boom(socket: Any) -> None:
        raise RuntimeError("boom")

    @sio.on("ask")
    async def ask(socket: Any) -> Any:
        return await socket.emit_with_ack("question", timeout=5)

    sio.of("/chat").on("connect", lambda socket, auth: None)
    return sio


async def test_metrics_after_scripted_traffic() -> None:
    sio = make_server()
    metrics = sio.metrics()
    assert sio.metrics() is metrics  # once per server
    async with serve(sio) as url:
        ws = Client(url, transports=("websocket",), reconnection=False)
        poll = Client(url, transports=("polling",), reconnection=False)
        upgrading = Client(url, reconnection=False)  # polling, then the upgrade

        @ws.on("question")
        def answer() -> str:
            return "42"

        for client in (ws, poll, upgrading):
            await client.connect(timeout=5)
        chat = ws.socket("/chat")
        await chat.connect(timeout=5)
        await wait_until(
            lambda: [s.transport for s in sio.engine.sessions.values()].count("websocket") == 2
        )

        for i in range(5):
            assert await ws.call("echo", f"hi {i}", timeout=5) == f"hi {i}"
        await poll.call("join", "lobby", timeout=5)
        await ws.call("join", "lobby", timeout=5)
        assert await ws.call("ask", timeout=5) == "42"
        ws.emit("boom")
        got: list[Any] = []
        poll.on("news", got.append)
        ws.on("news", got.append)
        sio.to("lobby").emit("news", "x" * 100)
        sio.emit("news", "all")  # 3 sockets of "/"
        await wait_until(lambda: len(got) == 4)
        await wait_until(lambda: sio.observer.stats.errors["handler"] >= 1)

        before = await scrape(url + "/metrics")
        assert value(before, "rtio_sockets", namespace="/", transport="websocket") == 2
        assert value(before, "rtio_sockets", namespace="/", transport="polling") == 1
        assert value(before, "rtio_sockets", namespace="/chat", transport="websocket") == 1
        assert value(before, "rtio_engine_connections", transport="websocket") == 2
        assert value(before, "rtio_engine_connections", transport="polling") == 1
        assert value(before, "rtio_engine_connections_opened_total") == 3
        assert value(before, "rtio_socket_connects_total", namespace="/") == 3
        assert value(before, "rtio_socket_connects_total", namespace="/chat") == 1
        assert value(before, "rtio_upgrades_total", result="done") == 1
        assert value(before, "rtio_broadcasts_total") == 2
        assert value(before, "rtio_broadcast_deliveries_total") == 2 + 3
        # in: 3 CONNECTs to "/", 1 to "/chat", 5 echo + 2 join + ask + boom, the ack
        assert value(before, "rtio_packets_total", direction="in") == 4 + 5 + 2 + 1 + 1 + 1
        # out: 4 CONNECT replies, 5 + 2 + 1 acks, the question, 5 broadcast deliveries
        assert value(before, "rtio_packets_total", direction="out") == 4 + 8 + 1 + 5
        assert value(before, "rtio_payload_bytes_total", direction="out") > 2 * 100
        assert value(before, "rtio_ack_latency_seconds_count") == 1
        assert value(before, "rtio_handler_errors_total", kind="handler") == 1
        assert value(before, "rtio_send_queue_bytes_max") >= 0
        assert value(before, "process_resident_memory_bytes") > 0

        await chat.disconnect()
        await poll.disconnect()
        await ws.disconnect()
        await wait_until(lambda: not sio.main.sockets or len(sio.main.sockets) == 1)
        await upgrading.disconnect()
        await wait_until(lambda: not sio.engine.sessions)

        after = await scrape(url + "/metrics")
        assert value(after, "rtio_sockets", namespace="/", transport="websocket") == 0
        assert (
            value(
                after,
                "rtio_socket_disconnects_total",
                namespace="/chat",
                reason="client namespace disconnect",
            )
            == 1
        )
        assert (
            value(
                after,
                "rtio_socket_disconnects_total",
                namespace="/",
                reason="client namespace disconnect",
            )
            == 3
        )
        assert (
            sum(
                v
                for (name, _), v in after.items()
                if name == "rtio_engine_connections_closed_total"
            )
            == 3
        )


async def test_refused_handshakes_are_counted_by_cause() -> None:
    async def allow(request: Any) -> bool:
        return request.query.get("token") == "ok"

    sio = rtio.Server(allow_request=allow)
    sio.metrics()
    async with serve(sio) as url, aiohttp.ClientSession() as http:
        for query in (
            "EIO=4&transport=polling",
            "EIO=3&transport=polling",
            "EIO=4&transport=polling&sid=nope",
        ):
            async with http.get(f"{url}/socket.io/?{query}") as response:
                assert response.status in (400, 403)
        scraped = await scrape(url + "/metrics")
    assert (
        value(
            scraped,
            "rtio_refused_requests_total",
            status="403",
            cause="Forbidden",
            handshake="true",
        )
        == 1
    )
    assert (
        value(
            scraped,
            "rtio_refused_requests_total",
            status="400",
            cause="Unsupported protocol version",
            handshake="true",
        )
        == 1
    )
    assert (
        value(
            scraped,
            "rtio_refused_requests_total",
            status="400",
            cause="Session ID unknown",
            handshake="false",
        )
        == 1
    )


async def test_metrics_on_their_own_port() -> None:
    sio = make_server()
    metrics = sio.metrics(port=0, path="/m")
    async with serve(sio) as url:
        async with aiohttp.ClientSession() as http, http.get(url + "/m") as response:
            assert response.status == 404  # not on the app's port
        metrics_url = await metrics.start()  # (already started with the app: the same)
        assert metrics_url.endswith("/m")
        scraped = await scrape(metrics_url)
        assert value(scraped, "rtio_engine_connections", transport="polling") == 0


def test_bad_options() -> None:
    with pytest.raises(ValueError, match="path"):
        rtio.Server().metrics(path="metrics")
    with pytest.raises(ValueError, match="port"):
        rtio.Server().metrics(port=70000)


def test_off_by_default() -> None:
    sio = rtio.Server()
    assert sio.observer is None
    assert sio.engine.observer is None
    assert sio.client_type is rtio.socketio.client.Client


def test_without_the_extras_the_error_says_what_to_install() -> None:
    code = (
        "import sys\n"
        "sys.modules['prometheus_client'] = None\n"
        "sys.modules['bcrypt'] = None\n"
        "import rtio\n"
        "for call in (lambda: rtio.Server().metrics(),\n"
        "             lambda: rtio.Server().instrument(auth={'type': 'basic', 'username': 'a',\n"
        "                                                    'password': '$2b$04$' + 'a' * 53})):\n"
        "    try:\n"
        "        call()\n"
        "    except ImportError as exc:\n"
        "        print(exc)\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True
    ).stdout
    assert "pip install 'rtio[metrics]'" in out
    assert "pip install 'rtio[admin]'" in out


async def test_admission_refusals_are_counted() -> None:
    sio = rtio.Server(max_handshake_rate=0.001)  # one handshake, then 503 for a long while
    sio.metrics()
    async with serve(sio) as url, aiohttp.ClientSession() as http:
        statuses = []
        for _ in range(3):
            async with http.get(f"{url}/socket.io/?EIO=4&transport=polling") as response:
                statuses.append(response.status)
        scraped = await scrape(url + "/metrics")
    assert statuses == [200, 503, 503]
    assert (
        value(
            scraped,
            "rtio_refused_requests_total",
            status="503",
            cause="Too many new sessions, retry later",
            handshake="true",
        )
        == 2
    )


async def test_metrics_behind_rtios_own_http_front() -> None:
    sio = make_server()
    sio.metrics()
    site = await rtio.http.start_server(sio.make_app(), "127.0.0.1", 0)
    try:
        port = site.name.rsplit(":", 1)[1]
        url = f"http://127.0.0.1:{port}"
        client = Client(url, transports=("polling",), reconnection=False)
        await client.connect(timeout=5)
        assert await client.call("echo", "x", timeout=5) == "x"
        scraped = await scrape(url + "/metrics")  # handed to the app by the front
        assert value(scraped, "rtio_engine_connections", transport="polling") == 1
        assert value(scraped, "rtio_packets_total", direction="in") == 2
        await client.disconnect()
    finally:
        await site.runner.cleanup()


async def test_recovery_hits_and_misses() -> None:
    sio = rtio.Server(connection_state_recovery=True)
    sio.metrics()
    async with serve(sio) as url:
        client = Client(
            url, transports=("websocket",), reconnection_delay=0.2, randomization_factor=0
        )
        stranger = Client(
            url,
            transports=("websocket",),
            reconnection=False,
            auth={"pid": "no-such-session", "offset": "0"},  # a session the server never had
        )
        try:
            got: list[Any] = []
            client.on("hello", lambda *args: got.append(args))
            await client.connect(timeout=5)
            old_id = client.id
            sio.emit("hello", 1)  # a broadcast: the client then has an offset to resume from
            await wait_until(lambda: got)
            engine = client.manager.engine
            assert engine is not None
            engine.abort("transport close")  # the network drops the connection
            await wait_until(lambda: client.recovered, timeout=10)
            assert client.id == old_id
            await stranger.connect(timeout=5)
            assert not stranger.recovered
            scraped = await scrape(url + "/metrics")
        finally:
            await client.close()
            await stranger.close()
    assert value(scraped, "rtio_recoveries_total", namespace="/", outcome="recovered") == 1
    assert value(scraped, "rtio_recoveries_total", namespace="/", outcome="not recovered") == 1
