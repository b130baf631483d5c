"""rtio.engine against an independent client: python-engineio's AsyncClient (a dev
dependency through python-socketio), over polling only, WebSocket only and polling then
upgrade: messages both ways, and a server close seen by the client."""

from __future__ import annotations

import asyncio

import engineio
import pytest

from rtio.engine import CloseReason

from .conftest import MakeEngine

MODES = {
    "polling": ["polling"],
    "websocket": ["websocket"],
    "upgrade": ["polling", "websocket"],
}


@pytest.mark.parametrize("mode", list(MODES))
async def test_python_engineio_client(make_engine: MakeEngine, mode: str) -> None:
    engine = await make_engine(ping_interval=0.2, ping_timeout=0.5)
    client = engineio.AsyncClient()
    received: asyncio.Queue[str | bytes] = asyncio.Queue()
    disconnected = asyncio.Event()

    @client.on("message")  # type: ignore[misc]
    async def on_message(data: str | bytes) -> None:
        await received.put(data)

    @client.on("disconnect")  # type: ignore[misc]
    async def on_disconnect(*args: object) -> None:
        disconnected.set()

    url = str(engine.client.make_url("/"))
    await client.connect(url, transports=MODES[mode], engineio_path="engine.io")
    try:
        if mode == "upgrade":
            for _ in range(100):
                if client.transport() == "websocket":
                    break
                await asyncio.sleep(0.02)
        assert client.transport() == ("polling" if mode == "polling" else "websocket")
        await client.send("hello")
        await client.send(b"\x00\x01\xff")
        assert await asyncio.wait_for(received.get(), 3) == "hello"
        assert await asyncio.wait_for(received.get(), 3) == b"\x00\x01\xff"
        # several heartbeats (pingInterval 200 ms) answered by the client
        await asyncio.sleep(0.7)
        assert engine.handler.disconnected == []
        session = engine.handler.connected[0]
        session.close()
        await asyncio.wait_for(disconnected.wait(), 3)
        assert engine.handler.disconnected == [
            (session.sid, CloseReason.FORCED_CLOSE, "closed by the server")
        ]
    finally:
        await client.disconnect()
