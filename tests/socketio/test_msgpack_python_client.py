"""The msgpack parser against python-socketio's AsyncClient with ``serializer="msgpack"``,
an independent msgpack peer (msgpack-python on both ends, not notepack), over WebSocket and
polling. The server is the app of tests/node/msgpack_server.py, run in-process on a free
port; the parser is chosen per connection by ``?parser=msgpack``."""

from __future__ import annotations

import asyncio
import importlib.util
import sys
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
import socketio
from aiohttp import web

import rtio
from rtio.socketio.parsers import MsgpackParser, by_query

_path = Path(__file__).resolve().parents[1] / "node" / "msgpack_server.py"
_spec = importlib.util.spec_from_file_location("rtio_test_msgpack_server", _path)
assert _spec is not None and _spec.loader is not None
app = importlib.util.module_from_spec(_spec)
sys.modules[_spec.name] = app
_spec.loader.exec_module(app)


class Live:
    def __init__(self, sio: rtio.Server) -> None:
        self.sio = sio
        self.runner = web.AppRunner(sio.make_app(), handle_signals=False)
        self.lines: list[dict[str, Any]] = []

    async def start(self) -> str:
        await self.runner.setup()
        await web.TCPSite(self.runner, "127.0.0.1", 0).start()
        return f"http://127.0.0.1:{self.runner.addresses[0][1]}"

    async def reason(self, sid: str) -> str:
        for _ in range(300):
            for line in self.lines:
                if line.get("event") == "disconnect" and line.get("sid") == sid:
                    reason: str = line["reason"]
                    return reason
            await asyncio.sleep(0.01)
        raise AssertionError(f"no disconnect for {sid}: {self.lines}")


@pytest.fixture
async def live(monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[tuple[Live, str]]:
    server = Live(app.make_server())
    monkeypatch.setattr(app, "out", lambda **fields: server.lines.append(fields))
    url = await server.start()
    yield server, url
    await server.runner.cleanup()


@pytest.fixture(params=[["websocket"], ["polling"]], ids=["websocket", "polling"])
def transports(request: pytest.FixtureRequest) -> list[str]:
    return list(request.param)


async def test_events_acks_binary_and_a_clean_disconnect(
    live: tuple[Live, str], transports: list[str]
) -> None:
    server, url = live
    client = socketio.AsyncClient(serializer="msgpack")

    @client.on("question")
    async def question(a: int, b: int) -> dict[str, Any]:
        return {"sum": a + b, "bin": bytes([a, b])}

    await client.connect(url + "/?parser=msgpack", transports=transports, wait_timeout=5)
    try:
        me = await client.call("whoami", timeout=5)
        assert me["parser"] == "msgpack"
        assert me["transport"] == transports[0]
        sent = [
            "é 日本",
            {"nested": {"list": [1, [2, {"deep": True}]], "none": None, "n": 2**40}},
            b"\x00\x01\xfe\xff",
            {"file": bytes(70000), "parts": [b"a", b"bc"]},
            [1.5, -(2**63), 2**64 - 1, float("inf")],
        ]
        # a tuple is several arguments; the ack of several comes back as a tuple
        assert list(await client.call("echo", tuple(sent), timeout=5)) == sent
        answer = await client.call("ask", {"event": "question", "args": [2, 3]}, timeout=5)
        assert answer == [{"sum": 5, "bin": b"\x02\x03"}]
        # (Not "python-values": msgpack-python refuses the int map keys in it by default,
        # strict_map_key=True, and python-socketio's client keeps that default.)
        sid = client.get_sid()
    finally:
        await client.disconnect()
    # python-socketio's DISCONNECT carries data None: read as absent (nil_is_absent), not
    # a parse error. Over WebSocket python-socketio may close before its DISCONNECT is
    # written (see tests/socketio/client/test_python_client.py): then the server sees the
    # transport close.
    reason = await server.reason(sid)
    if transports == ["polling"]:
        assert reason == "client namespace disconnect"
    else:
        assert reason in {"client namespace disconnect", "transport close"}


async def test_a_strict_parser_refuses_python_socketio_disconnect() -> None:
    """Without nil_is_absent the decoder is the JS one: python-socketio's DISCONNECT (data
    None) is invalid, as it is to Node's socket.io with socket.io-msgpack-parser, and the
    connection closes with "parse error" instead."""
    sio = rtio.Server(parser_for=by_query({"msgpack": MsgpackParser()}))
    reasons: list[str] = []

    @sio.on("disconnect")
    async def disconnect(socket: rtio.Socket, reason: str) -> None:
        reasons.append(str(reason))

    server = Live(sio)
    url = await server.start()
    client = socketio.AsyncClient(serializer="msgpack")
    try:
        await client.connect(url + "/?parser=msgpack", transports=["polling"], wait_timeout=5)
        await client.disconnect()
        for _ in range(300):
            if reasons:
                break
            await asyncio.sleep(0.01)
        assert reasons == ["parse error"]
    finally:
        await server.runner.cleanup()
