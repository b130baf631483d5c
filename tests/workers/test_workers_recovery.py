"""Connection state recovery with ``rtio serve --workers N`` (issue 15 / 17): a client
whose connection drops reconnects with a new Engine.IO session that the kernel gives to
any worker; it must get its id, rooms, data and the events it missed, in order, whichever
worker held its session. Real processes (a supervisor and its workers) and rtio's client
(which sends ``{pid, offset}`` as socket.io-client 4.8 does)."""

from __future__ import annotations

import asyncio
import os
import signal
from collections.abc import Callable
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from workers_server import WorkersServer

from rtio.client import Client
from rtio.client.transport import TransportError

APP = "workers_recovery_app:sio"


def start(tmp: Path, workers: int, ping: float = 25.0, duration: float = 120.0) -> WorkersServer:
    os.environ["RTIO_TEST_PING"] = str(ping)
    os.environ["RTIO_TEST_DURATION"] = str(duration)
    try:
        return WorkersServer(workers, tmp, app=APP)
    finally:
        del os.environ["RTIO_TEST_PING"], os.environ["RTIO_TEST_DURATION"]


async def wait_for(check: Callable[[], bool], timeout: float = 15.0) -> None:
    loop = asyncio.get_running_loop()
    end = loop.time() + timeout
    while not check():
        if loop.time() > end:
            raise AssertionError("condition not met in time")
        await asyncio.sleep(0.02)


def cut(client: Client) -> None:
    """The network drops the connection (the client sees a transport close)."""
    engine = client.manager.engine
    assert engine is not None
    engine.abort("transport close")


class FreshConnections:
    """The polling client's requests, each on a new TCP connection (as after a network
    change): the kernel gives each to any worker (the default keeps one alive, so its
    new session would stay with the worker of that connection)."""

    def __init__(self) -> None:
        self.session: aiohttp.ClientSession | None = None

    async def request(self, method: str, url: str, headers: Any, body: bytes | None,
                      timeout: float, max_size: int) -> tuple[int, bytes]:  # fmt: skip
        if self.session is None or self.session.closed:
            self.session = aiohttp.ClientSession(connector=aiohttp.TCPConnector(force_close=True))
        try:
            async with asyncio.timeout(timeout), self.session.request(
                method, url, headers=dict(headers), data=body
            ) as response:
                return response.status, await response.read()
        except (aiohttp.ClientError, OSError, TimeoutError, RuntimeError) as exc:
            raise TransportError(f"{method} failed: {exc!r}") from exc

    async def close(self) -> None:
        if self.session is not None:
            await self.session.close()


@pytest.mark.parametrize(
    ("transports", "workers"),
    [(("websocket",), 2), (("polling",), 2), (("websocket",), 3)],
    ids=["websocket-2", "polling-2", "websocket-3"],
)
async def test_a_client_recovers_whichever_worker_it_comes_back_to(
    tmp_path: Path, transports: tuple[str, ...], workers: int
) -> None:
    """Cut the transport, send while the client is away (to all, its room, another room,
    all except its room, its id), until it has come back to another worker twice: each
    time recovered, same id, rooms and data, exactly the events it should have, in
    order."""
    # over polling a worker sees the old session drop only at its heartbeat (or when the
    # client comes back before: the worker holding it closes it then)
    server = start(tmp_path, workers, ping=0.5 if transports == ("polling",) else 25.0)
    sender = Client(server.url, transports=("websocket",))
    fetcher = FreshConnections()
    a = Client(server.url, transports=transports, reconnection_delay=0.5,
               randomization_factor=0, fetcher=fetcher)  # fmt: skip
    got: list[tuple[Any, ...]] = []
    a.on("news", lambda *args: got.append(args))
    a.on("welcome", lambda *args: got.append(("welcome", *args)))
    try:
        await a.connect(timeout=10)
        await sender.connect(timeout=10)
        await wait_for(lambda: len(got) == 1)
        assert await a.call("join", "r", timeout=10) is True
        first = await a.call("whoami", timeout=10)
        old_id, worker, moved = a.id, first["worker"], 0
        for round_ in range(16):
            seen = n = len(got)
            cut(a)
            await wait_for(lambda: not a.connected)
            want = [f"{round_}-all", f"{round_}-room", f"{round_}-id"]
            assert await sender.call("shout", None, None, want[0], timeout=10)
            assert await sender.call("shout", "r", None, want[1], timeout=10)
            assert await sender.call("shout", "other", None, "not for a", timeout=10)
            assert await sender.call("shout", None, "r", "not for a either", timeout=10)
            assert await sender.call("tell", old_id, want[2], timeout=10)
            await wait_for(lambda: a.connected, timeout=20)
            assert a.recovered, f"round {round_}: not recovered\n{server.log}"
            assert a.id == old_id
            await wait_for(lambda n=n: len(got) >= n + 3)  # type: ignore[misc]
            me = await a.call("whoami", timeout=10)
            assert [g[0] for g in got[seen:]] == want
            assert all(isinstance(g[-1], str) for g in got[seen:])  # offsets, last
            assert me["id"] == old_id and me["recovered"] is True
            assert me["rooms"] == sorted([old_id, "r"])
            assert me["data"] == first["data"]
            if me["worker"] != worker:
                moved += 1
                worker = me["worker"]
                if moved == 2:
                    break
        assert moved == 2, "the kernel never gave the reconnection to another worker"
        # a client-side disconnect is not recoverable, on any worker
        await a.disconnect()
        await a.connect(timeout=10)
        assert not a.recovered and a.id != old_id
    finally:
        await a.close()
        await sender.close()
        assert server.stop() == 0
    assert "Session ID unknown" not in server.log
    assert server.log.count("taken over from worker") >= 2


async def test_a_session_held_by_a_worker_that_died_is_not_recovered(tmp_path: Path) -> None:
    """Its worker is killed while the client is away: its sessions went with its memory;
    the client gets a new socket wherever it lands, and the log says why."""
    server = start(tmp_path, 2)
    a = Client(server.url, transports=("websocket",), reconnection_delay=1.5,
               randomization_factor=0)  # fmt: skip
    try:
        await a.connect(timeout=10)
        await wait_for(lambda: a._pid is not None and a._last_offset is not None)
        me = await a.call("whoami", timeout=10)
        old_id = a.id
        cut(a)
        await wait_for(lambda: not a.connected)
        os.kill(me["worker"], signal.SIGKILL)
        server.wait_log("killed by SIGKILL")
        await wait_for(lambda: a.connected, timeout=30)
        assert not a.recovered and a.id != old_id
        server.wait_log("no worker holds it")
    finally:
        await a.close()
        server.stop()


async def test_an_expired_session_is_not_recovered_on_another_worker(tmp_path: Path) -> None:
    """Its holder dropped it at max_disconnection_duration: whichever worker the client
    comes back to, it gets a new socket."""
    server = start(tmp_path, 2, duration=0.3)
    a = Client(server.url, transports=("websocket",), reconnection_delay=1.5,
               randomization_factor=0)  # fmt: skip
    try:
        await a.connect(timeout=10)
        await wait_for(lambda: a._last_offset is not None)
        old_id = a.id
        cut(a)
        await wait_for(lambda: not a.connected)
        await wait_for(lambda: a.connected, timeout=20)
        assert not a.recovered and a.id != old_id
    finally:
        await a.close()
        assert server.stop() == 0
