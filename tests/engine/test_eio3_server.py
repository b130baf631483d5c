"""An Engine.IO v3 session end to end over real HTTP (aiohttp's client, bytes as
engine.io-client 3.x / socket.io-client 2.x sends them): the handshake, binary and base64
polling payloads both ways, JSONP, the client's ping answered, the WebSocket with its
type byte, and the refusal when allow_eio3 is off."""

from __future__ import annotations

import json
import logging

import aiohttp
import pytest
from aiohttp import WSMsgType

from rtio.engine import CloseReason

from .conftest import FRONTS, Engine, MakeEngine, Serve, error_of

V3 = {"EIO": "3", "transport": "polling"}


async def v3_handshake(engine: Engine, **params: str) -> str:
    resp = await engine.client.get("/engine.io/", params={**V3, **params})
    assert resp.status == 200
    text = await resp.text()
    length, _, rest = text.partition(":")
    assert int(length) == len(rest) and rest[0] == "0"
    sid: str = json.loads(rest[1:])["sid"]
    return sid


async def test_refused_when_off(make_engine: MakeEngine, caplog: pytest.LogCaptureFixture) -> None:
    engine = await make_engine()
    with caplog.at_level(logging.INFO, logger="rtio.engine"):
        assert await error_of(engine, "GET", "?EIO=3&transport=polling") == (
            400,
            {"code": 5, "message": "Unsupported protocol version"},
        )
    assert "allow_eio3=True" in caplog.text


async def test_binary_polling_payloads(make_engine: MakeEngine) -> None:
    engine = await make_engine(allow_eio3=True)
    sid = await v3_handshake(engine)
    assert engine.handler.connected[0].protocol == 3
    # a binary POST (XHR2 clients): "4hi" and a binary message, then the client's ping
    body = bytes.fromhex("0003ff3468690104ff04010203") + b"\x00\x01\xff2"
    resp = await engine.client.post(
        "/engine.io/",
        params={**V3, "sid": sid},
        data=body,
        headers={"Content-Type": "application/octet-stream"},
    )
    assert (resp.status, await resp.text()) == (200, "ok")
    assert [m for _, m in engine.handler.messages] == ["hi", b"\x01\x02\x03"]
    # the echoes and the pong: binary payload, as engine.io-parser 2.x writes it
    resp = await engine.client.get("/engine.io/", params={**V3, "sid": sid})
    assert resp.headers["Content-Type"] == "application/octet-stream"
    assert await resp.read() == bytes.fromhex("0003ff3468690104ff0401020300") + b"\x01\xff3"


async def test_base64_and_jsonp(make_engine: MakeEngine) -> None:
    engine = await make_engine(allow_eio3=True)
    sid = await v3_handshake(engine, b64="1")
    status, _ = await engine.post(sid, "3:4hi6:b4AQID", EIO="3")
    assert status == 200
    status, text = await engine.poll(sid, EIO="3")
    assert (status, text) == (200, "3:4hi6:b4AQID")
    # JSONP: the v3 text payload inside the call, and a POST of d=<payload>
    resp = await engine.client.get("/engine.io/", params={**V3, "j": "0"})
    text = await resp.text()
    assert text.startswith('___eio[0]("') and text.endswith('");')
    jsid = json.loads(json.loads(text[len("___eio[0](") : -2]).partition(":")[2][1:])["sid"]
    resp = await engine.client.post(
        "/engine.io/",
        params={**V3, "j": "0", "sid": jsid},
        data={"d": "6:4hello"},
    )
    assert resp.status == 200
    resp = await engine.client.get("/engine.io/", params={**V3, "j": "0", "sid": jsid})
    assert await resp.text() == '___eio[0]("6:4hello");'


async def test_websocket_and_upgrade(make_engine: MakeEngine) -> None:
    engine = await make_engine(allow_eio3=True)
    sid = await v3_handshake(engine)
    ws = await engine.client.ws_connect(
        "/engine.io/", params={"EIO": "3", "transport": "websocket", "sid": sid}, autoping=False
    )
    await ws.send_str("2probe")
    assert await ws.receive_str(timeout=3) == "3probe"
    await ws.send_str("5")
    await ws.send_bytes(b"\x04\x01\x02")  # a binary message: type byte, then the data
    msg = await ws.receive(timeout=3)
    assert (msg.type, msg.data) == (WSMsgType.BINARY, b"\x04\x01\x02")
    await ws.send_str("2")  # the client pings: the server answers
    assert await ws.receive_str(timeout=3) == "3"
    await ws.send_str("3")  # a pong from a v3 client is an error (Node)
    await engine.handler.wait_for(lambda: bool(engine.handler.disconnected))
    assert engine.handler.disconnected[0][1] is CloseReason.PARSE_ERROR
    await ws.close()


async def test_no_ping_closes(make_engine: MakeEngine) -> None:
    engine = await make_engine(allow_eio3=True, ping_interval=0.1, ping_timeout=0.1)
    await v3_handshake(engine)
    await engine.handler.wait_for(lambda: bool(engine.handler.disconnected))
    assert engine.handler.disconnected[0][1] is CloseReason.PING_TIMEOUT


@pytest.mark.parametrize("front", FRONTS)
async def test_binary_payloads_on_both_fronts(serve: Serve, front: str) -> None:
    served = await serve(front, allow_eio3=True)
    url = f"http://127.0.0.1:{served.port}/engine.io/?EIO=3&transport=polling"
    async with aiohttp.ClientSession() as http:
        async with http.get(url) as r:
            text = await r.text()
        sid = json.loads(text.partition(":")[2][1:])["sid"]
        async with http.post(
            f"{url}&sid={sid}",
            data=bytes.fromhex("0104ff04010203"),
            headers={"Content-Type": "application/octet-stream"},
        ) as r:
            assert (r.status, await r.text()) == (200, "ok")
        async with http.get(f"{url}&sid={sid}") as r:
            assert r.headers["Content-Type"] == "application/octet-stream"
            assert await r.read() == bytes.fromhex("0104ff04010203")
