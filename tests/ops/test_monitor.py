"""rtio.ops.monitor: the counters behind the metrics, fed by real traffic (in memory through
rtio.testing, or over a loopback port), and the histogram's buckets."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import aiohttp
import pytest

import rtio
from rtio.client import ConnectError
from rtio.ops import Monitor, monitor_of
from rtio.ops.monitor import Histogram
from rtio.testing import serve, test_client


async def until(check: Any, timeout: float = 5.0) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not check():
        assert loop.time() < deadline, "timed out"
        await asyncio.sleep(0.01)


def test_histogram_buckets_are_cumulative() -> None:
    hist = Histogram((0.1, 1.0))
    for value in (0.05, 0.1, 0.5, 2.0, 3.0):
        hist.observe(value)
    assert hist.buckets() == [("0.1", 2), ("1.0", 3), ("+Inf", 5)]
    assert hist.sum == pytest.approx(5.65)


def test_one_monitor_per_server() -> None:
    sio = rtio.Server()
    monitor = monitor_of(sio)
    assert isinstance(monitor, Monitor) and monitor_of(sio) is monitor
    assert sio.observer is monitor and sio.engine.observer is monitor
    assert issubclass(sio.client_type, rtio.socketio.client.Client)
    assert sio.of("/late").adapter.observer is monitor  # namespaces made afterwards too
    other = rtio.Server()
    other.observer = object()  # type: ignore[assignment]
    with pytest.raises(RuntimeError, match="already set"):
        monitor_of(other)
    monitor.close()


async def test_connect_refused_and_errors_in_memory() -> None:
    sio = rtio.Server()
    stats = monitor_of(sio).stats

    @sio.on("connect")
    def connect(socket: Any, auth: dict[str, Any]) -> bool:
        return auth.get("ok") is True

    @sio.on("bad")
    def bad(socket: Any) -> bytes:
        return b"x"

    refused = test_client(sio, auth={"ok": False})
    with pytest.raises(ConnectError):
        await refused.connect(timeout=5)
    await refused.disconnect()
    async with test_client(sio, auth={"ok": True}) as client:
        client.emit("bad")  # fine: bytes go as an attachment
        with pytest.raises(TypeError):  # cannot be encoded: logged, not a handler's error
            sio.emit("hello", object())
        assert stats.errors == {"other": 1}
        await until(lambda: stats.packets_in >= 2)
    await until(lambda: stats.disconnects[("/", "client namespace disconnect")] == 1)
    assert stats.connects["/"] == 2
    assert stats.disconnects[("/", "connect refused")] == 1
    assert stats.engine_connects == 2


async def test_an_aborted_upgrade_is_counted_by_cause() -> None:
    sio = rtio.Server()
    stats = monitor_of(sio).stats
    async with serve(sio) as url, aiohttp.ClientSession() as http:
        async with http.get(f"{url}/socket.io/?EIO=4&transport=polling") as response:
            sid = json.loads((await response.text())[1:])["sid"]
        ws = await http.ws_connect(f"{url}/socket.io/?EIO=4&transport=websocket&sid={sid}")
        await ws.send_str("2probe")
        assert (await ws.receive_str(timeout=5)) == "3probe"
        await ws.close()
        await until(lambda: sum(stats.upgrade_failures.values()) == 1)
    assert stats.upgrade_failures == {"probe WebSocket closed": 1}
    assert stats.upgrades == 0


async def test_slow_handlers_are_counted() -> None:
    sio = rtio.Server(slow_handler_warning=0.05)
    stats = monitor_of(sio).stats

    @sio.on("slow")
    async def slow(socket: Any) -> str:
        await asyncio.sleep(0.3)
        return "done"

    async with test_client(sio) as client:
        assert await client.call("slow", timeout=5) == "done"
    assert stats.slow_handlers == 1
