"""SimpleClient, the blocking wrapper, against an rtio server in another thread."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator

import pytest
from aiohttp import web
from client_apps import make_rtio_server

from rtio.client import AckTimeout, ConnectError, SimpleClient


@pytest.fixture
def url() -> Iterator[str]:
    """An rtio server on a loopback port, its loop in a thread (the test is sync)."""
    loop = asyncio.new_event_loop()
    ready = threading.Event()
    holder: dict[str, object] = {}

    async def start() -> None:
        runner = web.AppRunner(make_rtio_server().make_app())
        await runner.setup()
        await web.TCPSite(runner, "127.0.0.1", 0).start()
        holder["runner"] = runner
        holder["port"] = runner.addresses[0][1]
        ready.set()

    thread = threading.Thread(target=lambda: (loop.run_until_complete(start()), loop.run_forever()))
    thread.start()
    assert ready.wait(10)
    yield f"http://127.0.0.1:{holder['port']}"
    runner = holder["runner"]
    assert isinstance(runner, web.AppRunner)
    asyncio.run_coroutine_threadsafe(runner.cleanup(), loop).result(10)
    loop.call_soon_threadsafe(loop.stop)
    thread.join(10)
    loop.close()


def test_simple_client(url: str) -> None:
    with SimpleClient(url, auth={"name": "script"}) as sio:
        assert sio.connected and sio.sid
        assert sio.call("echo", 1, b"\x00", timeout=5) == (1, b"\x00")
        assert sio.call("whoami", timeout=5)["auth"] == {"name": "script"}
        sio.emit("join", "r")
        sio.emit("to_room", {"room": "r", "event": "news", "args": ["a", 2]})
        assert sio.receive(timeout=5) == ["news", "a", 2]
        with pytest.raises(TimeoutError):
            sio.receive(timeout=0.05)
        with pytest.raises(AckTimeout):
            sio.call("nothing-answers", timeout=0.1)
    assert not sio.connected


def test_simple_client_refused(url: str) -> None:
    sio = SimpleClient(url, auth={"token": "bad"})
    with pytest.raises(ConnectError, match="invalid token"):
        sio.connect(timeout=5)
    sio.disconnect()
