"""Connection state recovery (pid and offset) as the JS client does it, against rtio's
server and Node socket.io 4.8, each with connection state recovery on: after a connection
drops, the client reconnects with its pid and the offset of the last event it received, gets
its old id back (``recovered``) and the events it missed. (rtio's server side in detail:
tests/socketio/test_recovery.py.)
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest
from conftest import MODES, NODE_READY, SERVERS, LiveServer, wait_for

from rtio.client import Client
from rtio.socketio.parsers import MsgpackParser


def recovery_servers() -> list[Any]:
    out = [pytest.param("rtio")]
    skip_node = "node" not in SERVERS or not NODE_READY
    marks = [pytest.mark.skip(reason="node not in RTIO_CLIENT_SERVERS or missing")]
    out.append(pytest.param("node", marks=marks if skip_node else []))
    return out


@pytest.fixture(params=recovery_servers())
async def node(request: pytest.FixtureRequest, parser: str) -> AsyncIterator[LiveServer]:
    server = LiveServer(str(request.param), parser, "recovery")
    await server.start()
    yield server
    await server.stop()


async def test_recovery(node: LiveServer, parser: str, mode: str) -> None:
    options: dict[str, Any] = {"transports": MODES[mode]}
    if parser == "msgpack":
        options["parser"] = MsgpackParser()
    # the delay lets the server see the old connection gone (and keep its session) first
    a = Client(node.url, reconnection_delay=1.0, randomization_factor=0, **options)
    b = Client(node.url, reconnection=False, **options)
    try:
        await a.connect(timeout=5)
        await b.connect(timeout=5)
        if mode == "upgrade":
            await wait_for(lambda: a.transport == "websocket")
        assert a._pid is not None and not a.recovered
        got: list[tuple[Any, ...]] = []
        a.on("news", lambda *args: got.append(args))
        assert await a.call("join", "r", timeout=5) is True
        await b.call("to_room", {"room": "r", "event": "news", "args": [1]}, timeout=5)
        await wait_for(lambda: len(got) == 1)
        assert got[0][0] == 1 and isinstance(got[0][1], str)  # the offset is appended
        old_id = a.id
        reasons: list[str] = []
        a.on("disconnect", reasons.append)
        engine = a.manager.engine
        assert engine is not None
        engine.abort("transport close")  # the network drops the connection
        assert reasons == [] or reasons == ["transport close"]
        await b.call("to_room", {"room": "r", "event": "news", "args": [2]}, timeout=5)
        await wait_for(lambda: a.connected, timeout=10)
        assert a.recovered and a.id == old_id
        await wait_for(lambda: len(got) == 2)
        assert got[1][0] == 2  # missed while away, delivered on recovery
        assert (await a.call("whoami", timeout=5))["id"] == old_id
    finally:
        await a.close()
        await b.close()
