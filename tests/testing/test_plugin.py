"""The pytest plugin's fixtures (loaded through the ``pytest11`` entry point, not by a
conftest): the fixture ``rtio_server`` below is the app under test."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import pytest

import rtio
from rtio.client import Client
from rtio.testing import EventLog, wait_event


@pytest.fixture
def rtio_server() -> rtio.Server:
    sio = rtio.Server()

    @sio.use
    def named(socket: rtio.Socket, auth: dict[str, Any]) -> None:
        socket.data["name"] = auth.get("name", "anonymous")

    @sio.on("hello")
    async def hello(socket: rtio.Socket, text: str) -> str:
        await socket.broadcast.emit("said", socket.data["name"], text)
        return f"hello {socket.data['name']}: {text}"

    return sio


def test_the_plugin_is_loaded_by_its_entry_point(pytestconfig: pytest.Config) -> None:
    assert pytestconfig.pluginmanager.has_plugin("rtio")


async def test_one_client(rtio_client: Client) -> None:
    assert rtio_client.connected and rtio_client.transport == "polling"
    assert await rtio_client.call("hello", "hi", timeout=1) == "hello anonymous: hi"


async def test_many_clients_and_events(
    rtio_clients: Callable[..., Awaitable[list[Client]]],
    rtio_events: Callable[[Client], EventLog],
) -> None:
    a, b, c = await rtio_clients(3, auth=[{"name": "a"}, {"name": "b"}, {"name": "c"}])
    logs = [rtio_events(x) for x in (a, b, c)]
    await a.call("hello", "all", timeout=1)
    assert await logs[1].next("said") == ("a", "all")
    assert await logs[2].next("said") == ("a", "all")
    await logs[0].nothing("said")
    with pytest.raises(AssertionError, match="no 'said' within"):
        await logs[1].next("said", timeout=0.05)


async def test_wait_event_helper(rtio_clients: Callable[..., Awaitable[list[Client]]]) -> None:
    a, b = await rtio_clients(2)
    a.emit("hello", "x")
    assert await wait_event(b, "said", timeout=1) == ("anonymous", "x")


async def test_over_a_port(
    rtio_url: str, rtio_clients: Callable[..., Awaitable[list[Client]]]
) -> None:
    (client,) = await rtio_clients(1, url=rtio_url, transports=["websocket"])
    assert client.transport == "websocket"
    assert await client.call("hello", "ws", timeout=2) == "hello anonymous: ws"
