"""The Server object: options, namespaces by name, the main namespace's shortcuts, serving."""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer
from sio_loopback import Peer, settle

import rtio
import rtio.ids
from rtio.engine import EngineOptions


def test_options_reach_the_engine() -> None:
    sio = rtio.Server(
        cors_allowed_origins=["https://a.example"],
        ping_interval=1.5,
        ping_timeout=0.5,
        max_payload=1000,
        transports=["websocket"],
        allow_upgrades=False,
        per_message_deflate=True,
    )
    opts = sio.engine_options
    assert opts.cors is not None and list(opts.cors.origins) == ["https://a.example"]
    assert (opts.ping_interval, opts.ping_timeout, opts.max_payload) == (1.5, 0.5, 1000)
    assert tuple(opts.transports) == ("websocket",) and not opts.allow_upgrades
    assert opts.per_message_deflate
    assert rtio.Server().engine_options.cors is None
    custom = EngineOptions(ping_interval=3)
    assert rtio.Server(engine_options=custom).engine_options is custom
    with pytest.raises(ValueError, match="connect_timeout"):
        rtio.Server(connect_timeout=0)


def test_body_and_close_timeouts_reach_the_engine() -> None:
    defaults = EngineOptions()
    opts = rtio.Server().engine_options
    assert (opts.body_timeout, opts.close_timeout) == (
        defaults.body_timeout,
        defaults.close_timeout,
    )
    opts = rtio.Server(body_timeout=2.5, close_timeout=0.5).engine_options
    assert (opts.body_timeout, opts.close_timeout) == (2.5, 0.5)
    with pytest.raises(ValueError, match="body_timeout"):
        rtio.Server(body_timeout=0)


def test_namespaces_by_name() -> None:
    sio = rtio.Server()
    assert sio.of("admin") is sio.of("/admin")
    assert set(sio.namespaces) == {"/", "/admin"} and sio.main is sio.of("/")
    assert "namespaces" in repr(sio) and "/admin" in repr(sio.of("/admin"))


async def test_main_namespace_shortcuts() -> None:
    sio = rtio.Server(connect_timeout=None)

    @sio.event
    async def hello(socket: rtio.Socket) -> str:
        return f"hi {socket.transport}"

    sio.on("bye", lambda socket: "bye", namespace="/other")
    peer = Peer(sio)
    sid = await peer.connect()
    await peer.connect("/other")
    peer.feed('21["hello"]', '2/other,2["bye"]')
    await settle()
    assert peer.take() == ['31["hi websocket"]', '3/other,2["bye"]']
    sio.off("bye", namespace="/other")
    sio.off("hello")
    peer.feed('23["hello"]')
    await settle()
    assert peer.take() == []
    await sio.send("m")
    await sio.local.compress(True).volatile.emit("x")
    await sio.emit("y", to=sid)
    await sio.emit("z", namespace="/other")
    assert peer.take() == ['2["message","m"]', '2["x"]', '2["y"]', '2/other,["z"]']
    results = await sio.emit_with_ack("q", timeout=0.01)
    assert results.timed_out == {sid}
    assert "rtio.Socket" in repr(sio.sockets[sid])


async def test_a_matcher_that_raises_is_logged_and_refuses(
    caplog: pytest.LogCaptureFixture,
) -> None:
    sio = rtio.Server(connect_timeout=None)

    def broken(name: str, auth: dict[str, Any]) -> bool:
        raise KeyError(name)

    parent = sio.of(broken)
    assert "ParentNamespace" in repr(parent)
    peer = Peer(sio)
    with caplog.at_level(logging.ERROR):
        peer.feed("0/x,")
        await settle()
    assert peer.take() == ['4/x,{"message":"Invalid namespace"}']
    assert "namespace matcher" in caplog.text


async def test_chained_socket_emitters_and_late_callbacks() -> None:
    sio = rtio.Server(connect_timeout=None)
    peer = Peer(sio)
    sid = await peer.connect()
    socket = sio.sockets[sid]
    got: list[Any] = []
    socket.volatile.compress(False).timeout(5).emit("a", callback=lambda *a: got.append(a))
    socket.compress(True).volatile.emit("b", callback=lambda *a: got.append(("b", *a)))
    socket.timeout(1).timeout(5).volatile.emit("c")
    assert peer.take() == ['20["a"]', '21["b"]', '2["c"]']
    peer.feed('31["one"]')
    peer.feed("1")  # the socket leaves before answering "a"
    await settle()
    assert got[0] == ("b", "one")
    assert got[1][0].__class__ is rtio.SocketDisconnected


async def test_listeners_that_raise_or_are_async(caplog: pytest.LogCaptureFixture) -> None:
    sio = rtio.Server(connect_timeout=None)
    peer = Peer(sio)
    sid = await peer.connect()
    socket = sio.sockets[sid]
    seen: list[Any] = []

    async def async_any(event: str, *args: Any) -> None:
        await asyncio.sleep(0)
        seen.append(event)

    socket.on_any(lambda event, *args: 1 / 0)
    socket.on_any(async_any)
    peer.feed('2["e"]')
    await settle()
    assert seen == ["e"] and "ZeroDivisionError" in caplog.text


async def test_attach_make_app_and_polling_round_trip() -> None:
    sio = rtio.Server(connect_timeout=None)
    sio.on("echo", lambda socket, x: x)
    app = web.Application()

    async def health(request: web.Request) -> web.Response:
        return web.Response(text="ok")

    app.router.add_get("/health", health)
    sio.attach(app, path="/rt/")
    client = TestClient(TestServer(app))
    await client.start_server()
    try:
        assert await (await client.get("/health")).text() == "ok"
        resp = await client.get("/rt/", params={"EIO": "4", "transport": "polling"})
        text = await resp.text()
        sid = text[text.index('"sid":"') + 7 :].split('"')[0]
        q = {"EIO": "4", "transport": "polling", "sid": sid}
        await client.post("/rt/", params=q, data="40")
        assert (await (await client.get("/rt/", params=q)).text()).startswith('40{"sid":"')
        await client.post("/rt/", params=q, data='421["echo",{"b":true}]')
        assert await (await client.get("/rt/", params=q)).text() == '431[{"b":true}]'
    finally:
        await client.close()
    assert isinstance(rtio.Server().make_app(), web.Application)


async def test_parser_chosen_per_connection() -> None:
    from rtio.socketio.parsers.json_parser import JsonParser

    strict, loose = JsonParser(max_attachments=0), JsonParser(max_attachments=10)
    chosen: list[str | None] = []

    def parser_for(request: Any) -> JsonParser:
        chosen.append(request.query.get("strict"))
        return strict if request.query.get("strict") else loose

    sio = rtio.Server(parser_for=parser_for, connect_timeout=None)
    a = Peer(sio, query={"strict": "1"})
    b = Peer(sio)
    await a.connect()
    await b.connect()
    assert chosen == ["1", None]
    binary = '51-["up",{"_placeholder":true,"num":0}]'
    a.feed(binary)
    b.feed(binary)
    await settle()
    assert a.session.closed  # too many attachments for this connection's parser
    assert not b.session.closed


async def test_msgpack_parser_plugs_in() -> None:
    from rtio.socketio import Packet, PacketType
    from rtio.socketio.parsers import MsgpackParser

    parser = MsgpackParser()
    sio = rtio.Server(parser=parser, connect_timeout=None)
    sio.on("echo", lambda socket, *args: args)
    peer = Peer(sio)
    decoder = parser.new_decoder()
    for message in parser.encode(Packet(PacketType.CONNECT, "/", {"a": 1})):
        peer.feed(message)
    await settle()
    [reply] = peer.take()
    connected = decoder.feed(reply)
    assert connected is not None and connected.type is PacketType.CONNECT
    for message in parser.encode(Packet(PacketType.EVENT, "/", ["echo", b"\x01", 2], 7)):
        peer.feed(message)
    await settle()
    [ack] = peer.take()
    assert decoder.feed(ack) == Packet(PacketType.ACK, "/", [b"\x01", 2], 7)


async def test_shutdown_reaches_sockets() -> None:
    from aiohttp.test_utils import TestClient, TestServer

    sio = rtio.Server(connect_timeout=None)
    reasons: list[str] = []
    sio.on("disconnect", lambda socket, reason: reasons.append(reason))
    client = TestClient(TestServer(sio.make_app()))
    await client.start_server()
    try:
        resp = await client.get("/socket.io/", params={"EIO": "4", "transport": "polling"})
        text = await resp.text()
        sid = text[text.index('"sid":"') + 7 :].split('"')[0]
        q = {"EIO": "4", "transport": "polling", "sid": sid}
        await client.post("/socket.io/", params=q, data="40")
        resp = await client.get("/socket.io/", params=q)
        assert (await resp.text()).startswith('40{"sid":"')
        await sio.shutdown()
        await settle()
        assert reasons == ["server shutting down"]
    finally:
        await client.close()


async def test_handshake_burst_bounds_the_handshakes_let_in_at_once() -> None:
    # a rate so low that no token comes back during the test: the burst alone decides
    sio = rtio.Server(max_handshake_rate=0.001, handshake_burst=2, connect_timeout=None)
    client = TestClient(TestServer(sio.make_app()))
    await client.start_server()
    try:
        statuses = []
        for _ in range(4):
            resp = await client.get("/socket.io/", params={"EIO": "4", "transport": "polling"})
            statuses.append(resp.status)
            if resp.status == 503:
                assert resp.headers["Retry-After"] == "998"  # a token in 1,000 s, 2 s in line
        assert statuses == [200, 200, 503, 503]
    finally:
        await client.close()
