"""sio.instrument() across a cluster: two rtio servers with rtio.cluster.redis's adapter
and a real redis-server; the admin UI (rtio's client) connected to server A sees server B's
stats and sockets, and disconnects a socket of B."""

from __future__ import annotations

import asyncio
import os
import sys
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("redis", reason="redis-py is not installed (pip install rtio[redis])")

from aiohttp import web

import rtio
from rtio.client import Client
from rtio.cluster.redis import Backoff, LinkOptions
from rtio.cluster.redis.adapter import RedisAdapterOptions, RedisCluster
from rtio.testing import EventLog

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "cluster"))
from redis_server import REDIS_SERVER, RedisServer

FAST = dict(connect_timeout=1.0, command_timeout=1.0, poll_interval=0.1,
            backoff=Backoff(base=0.05, cap=0.3, floor=0.02), close_timeout=1.0)


@pytest.fixture
def redis(tmp_path: Path) -> Iterator[RedisServer]:
    if REDIS_SERVER is None:
        reason = "redis-server is not installed (apt-get install -y redis-server)"
        if os.environ.get("RTIO_REQUIRE_REDIS") == "1":
            pytest.fail(reason)
        pytest.skip(reason)
    server = RedisServer(tmp_path)
    server.start()
    try:
        yield server
    finally:
        server.stop()


class Node:
    def __init__(self, redis_port: int, name: str) -> None:
        self.cluster = RedisCluster(
            link=LinkOptions(port=redis_port, **FAST),  # type: ignore[arg-type]
            options=RedisAdapterOptions(requests_timeout=2.0, recount_interval=0.1),
            name=name,
        )
        self.sio = rtio.Server(adapter=self.cluster)
        self.sio.instrument(auth=lambda auth: auth.get("token") == "t", server_id=name,
                            stats_interval=0.2)

        @self.sio.on("connect")
        def connect(socket: Any, auth: Any) -> None:
            socket.join(f"room-{name}")

        self.runner: web.AppRunner | None = None
        self.url = ""

    async def start(self) -> None:
        assert await self.cluster.start(5)
        self.runner = web.AppRunner(self.sio.make_app(), handle_signals=False)
        await self.runner.setup()
        await web.TCPSite(self.runner, "127.0.0.1", 0).start()
        self.url = f"http://127.0.0.1:{self.runner.addresses[0][1]}"

    async def stop(self) -> None:
        await self.cluster.close()
        if self.runner is not None:
            await self.runner.cleanup()


@pytest.fixture
async def nodes(redis: RedisServer) -> AsyncIterator[tuple[Node, Node]]:
    a, b = Node(redis.port, "A"), Node(redis.port, "B")
    await a.start()
    await b.start()
    try:
        yield a, b
    finally:
        await a.stop()
        await b.stop()


async def until(check: Any, timeout: float = 5.0) -> Any:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while True:
        result = check()
        if result:
            return result
        assert loop.time() < deadline, "timed out"
        await asyncio.sleep(0.02)


async def test_admin_ui_sees_and_acts_across_the_cluster(nodes: tuple[Node, Node]) -> None:
    a, b = nodes
    bob = Client(b.url, transports=("websocket",), reconnection=False)
    await bob.connect(timeout=5)
    bob_id = bob.id
    admin = Client(a.url + "/admin", auth={"token": "t"}, reconnection=False)
    log = EventLog(admin)
    await admin.connect(timeout=5)
    try:
        # the sockets of B are in the list A sends (fetch_sockets through the cluster)
        all_sockets = await log.next("all_sockets", timeout=5)
        remote = [s for s in all_sockets if s["id"] == bob_id]
        assert remote and remote[0]["nsp"] == "/"
        assert sorted(remote[0]["rooms"]) == sorted([bob_id, "room-B"])
        # each server's stats reach the UI through the admin namespace's adapter
        await until(lambda: {s["serverId"] for (s,) in log.received("server_stats")}
                    >= {"A", "B"})
        # an action on A reaches B's socket; B's notice of it reaches the UI on A
        admin.emit("_disconnect", "/", False, bob_id)
        await until(lambda: bob_id not in b.sio.sockets)
        await until(lambda: any(args[1] == bob_id and args[2] == "server namespace disconnect"
                                for args in log.received("socket_disconnected")))
    finally:
        await admin.disconnect()
        await bob.disconnect()


async def test_adapter_metrics_count_publishes_and_show_the_link_lag(
    nodes: tuple[Node, Node],
) -> None:
    """rtio_adapter_published / _received and the link's lag (its canary's round trip)."""
    pytest.importorskip("prometheus_client")
    from prometheus_client import generate_latest
    from prometheus_client.parser import text_string_to_metric_families

    a, b = nodes
    metrics = a.sio.metrics()
    bob = Client(b.url, transports=("websocket",), reconnection=False)
    got: list[Any] = []
    bob.on("news", lambda *args: got.append(args))
    await bob.connect(timeout=5)
    try:
        for i in range(3):
            a.sio.emit("news", i)  # to every server: published once each
        await until(lambda: len(got) == 3)
        await until(lambda: a.cluster.link.lag is not None)
        text = generate_latest(metrics.registry).decode()
    finally:
        await bob.disconnect()
    values = {
        sample.name: sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }
    assert values["rtio_adapter_published_total"] >= 3
    assert 0 < values["rtio_adapter_lag_seconds"] < 3
