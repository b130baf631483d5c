"""Connecting: the CONNECT reply, auth, connect middlewares, static and dynamic namespaces."""

from __future__ import annotations

import asyncio
import re
import time
from typing import Any

import pytest
from sio_loopback import Peer, settle

import rtio
import rtio.ids


async def test_connect_main_namespace_replies_sid(sio: rtio.Server) -> None:
    peer = Peer(sio)
    peer.feed("0")
    await settle()
    [reply] = peer.take()
    assert isinstance(reply, str) and reply.startswith('0{"sid":"') and reply.endswith('"}')
    sid = reply[len('0{"sid":"') : -2]
    assert len(sid) == 20  # as Node's
    assert sid in sio.sockets and sio.sockets[sid].rooms == {sid}


async def test_connect_handler_gets_auth_and_handshake(sio: rtio.Server) -> None:
    seen: list[Any] = []

    @sio.on("connect")
    async def connect(socket: rtio.Socket, auth: dict[str, Any]) -> None:
        seen.append((auth, socket.handshake.query.get("x"), socket.handshake.address))
        await socket.emit("welcome", auth["token"])

    peer = Peer(sio, query={"x": "1"})
    await peer.connect(auth='{"token":"abc"}')
    assert seen == [({"token": "abc"}, "1", "127.0.0.1")]
    assert peer.take() == ['2["welcome","abc"]']


async def test_connect_without_payload_gives_empty_auth(sio: rtio.Server) -> None:
    seen: list[Any] = []
    sio.on("connect", lambda socket, auth: seen.append(auth))
    await Peer(sio).connect()
    assert seen == [{}]


async def test_unknown_namespace_is_refused(sio: rtio.Server) -> None:
    peer = Peer(sio)
    peer.feed("0/nope,")
    await settle()
    assert peer.take() == ['4/nope,{"message":"Invalid namespace"}']
    assert not peer.session.closed  # the connection stays; other namespaces may follow


async def test_custom_namespace(sio: rtio.Server) -> None:
    admin = sio.of("/admin")
    admin.on("ping", lambda socket: "pong")
    peer = Peer(sio)
    sid = await peer.connect("/admin")
    assert sid in admin.sockets and sid not in sio.sockets
    peer.feed('2/admin,5["ping"]')
    await settle()
    assert peer.take() == ['3/admin,5["pong"]']


async def test_middleware_refuses_with_message_and_data(sio: rtio.Server) -> None:
    @sio.use
    async def check(socket: rtio.Socket, auth: dict[str, Any]) -> None:
        if auth.get("token") != "ok":
            raise rtio.ConnectionRefused("not authorized", data={"retry": False})
        socket.data["user"] = "ann"

    peer = Peer(sio)
    peer.feed('0{"token":"bad"}')
    await settle()
    assert peer.take() == ['4{"message":"not authorized","data":{"retry":false}}']
    assert not sio.sockets
    sid = await peer.connect(auth='{"token":"ok"}')
    assert sio.sockets[sid].data == {"user": "ann"}


async def test_middleware_refusal_without_data_and_other_errors(sio: rtio.Server) -> None:
    calls: list[str] = []

    def first(socket: rtio.Socket, auth: dict[str, Any]) -> bool:
        calls.append("first")
        return auth.get("pass") is not False

    async def second(socket: rtio.Socket, auth: dict[str, Any]) -> None:
        calls.append("second")
        await asyncio.sleep(0)
        if auth.get("boom"):
            raise RuntimeError("database down")

    sio.use(first)
    sio.use(second)
    peer = Peer(sio)
    peer.feed('0{"pass":false}')
    await settle()
    assert peer.take() == ['4{"message":"Connection refused"}']
    assert calls == ["first"]
    peer.feed('0{"boom":true}')
    await settle()
    assert peer.take() == ['4{"message":"database down"}']
    assert calls == ["first", "first", "second"]


async def test_regex_parent_namespace_creates_children(sio: rtio.Server) -> None:
    parent = sio.of(re.compile(r"/room-\d+"))
    joined: list[str] = []

    @parent.on("connect")
    async def connect(socket: rtio.Socket, auth: dict[str, Any]) -> None:
        joined.append(socket.nsp.name)

    parent.on("where", lambda socket: socket.nsp.name)
    a, b = Peer(sio), Peer(sio)
    await a.connect("/room-1")
    await b.connect("/room-22")
    assert joined == ["/room-1", "/room-22"]
    assert set(parent.children) == {"/room-1", "/room-22"}
    a.feed('2/room-1,0["where"]')
    await settle()
    assert a.take() == ['3/room-1,0["/room-1"]']
    # emitting on the parent reaches every child
    await parent.emit("hello")
    assert a.take() == ['2/room-1,["hello"]']
    assert b.take() == ['2/room-22,["hello"]']
    c = Peer(sio)
    c.feed("0/room-x,")
    await settle()
    assert c.take() == ['4/room-x,{"message":"Invalid namespace"}']


async def test_function_parent_namespace_sees_auth_and_shares_middlewares(
    sio: rtio.Server,
) -> None:
    async def matcher(name: str, auth: dict[str, Any]) -> bool:
        return name.startswith("/team-") and auth.get("member") is True

    parent = sio.of(matcher)

    @parent.use
    def only_ann(socket: rtio.Socket, auth: dict[str, Any]) -> None:
        if auth.get("name") != "ann":
            raise rtio.ConnectionRefused("who are you?")

    peer = Peer(sio)
    peer.feed('0/team-a,{"member":false}')
    await settle()
    assert peer.take() == ['4/team-a,{"message":"Invalid namespace"}']
    peer.feed('0/team-a,{"member":true,"name":"bob"}')
    await settle()
    assert peer.take() == ['4/team-a,{"message":"who are you?"}']
    await peer.connect("/team-a", '{"member":true,"name":"ann"}')
    assert "/team-a" in sio.namespaces


async def test_cleanup_empty_child_namespaces(sio: rtio.Server) -> None:
    parent = sio.of(re.compile(r"/tmp-\d"), cleanup_empty_children=True)
    peer = Peer(sio)
    await peer.connect("/tmp-1")
    assert "/tmp-1" in sio.namespaces
    peer.feed("1/tmp-1,")
    await settle()
    assert "/tmp-1" not in sio.namespaces and not parent.children


async def test_duplicate_connect_closes_the_connection(sio: rtio.Server) -> None:
    peer = Peer(sio)
    await peer.connect()
    peer.feed("0")
    await settle()
    assert peer.session.closed


async def test_packet_for_namespace_not_joined_closes_the_connection(sio: rtio.Server) -> None:
    peer = Peer(sio)
    await peer.connect()
    peer.feed('2/other,["x"]')
    await settle()
    assert peer.session.closed


async def test_connect_timeout_closes_a_silent_client() -> None:
    sio = rtio.Server(connect_timeout=0.05)
    silent, prompt = Peer(sio), Peer(sio)
    await prompt.connect()
    await asyncio.sleep(0.1)
    assert silent.session.closed
    assert not prompt.session.closed


async def test_refused_client_is_closed_by_the_connect_timeout() -> None:
    sio = rtio.Server(connect_timeout=0.05)
    sio.use(lambda socket, auth: False)
    peer = Peer(sio)
    peer.feed("0")
    await asyncio.sleep(0.1)
    assert peer.session.closed


async def test_client_gone_during_slow_middleware_is_not_connected(sio: rtio.Server) -> None:
    gate = asyncio.Event()

    @sio.use
    async def slow(socket: rtio.Socket, auth: dict[str, Any]) -> None:
        await gate.wait()

    peer = Peer(sio)
    peer.feed("0")
    await settle()
    peer.session.close()
    gate.set()
    await settle()
    assert not sio.sockets
    assert peer.take() == []


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


async def test_second_connect_while_the_first_is_pending_closes(sio: rtio.Server) -> None:
    gate = asyncio.Event()

    @sio.use
    async def slow(socket: rtio.Socket, auth: dict[str, Any]) -> None:
        await gate.wait()

    peer = Peer(sio)
    peer.feed("0", "0")
    await settle()
    assert peer.session.closed
    gate.set()
    await settle()
    assert not sio.sockets and peer.take() == []


async def test_refusal_in_the_connect_handler_disconnects(
    sio: rtio.Server, caplog: pytest.LogCaptureFixture
) -> None:
    @sio.on("connect")
    async def connect(socket: rtio.Socket, auth: dict[str, Any]) -> None:
        raise rtio.ConnectionRefused("too late to refuse")

    peer = Peer(sio)
    await peer.connect()
    assert peer.take() == ["1"]
    assert not sio.sockets and "refuse in a middleware" in caplog.text


async def test_connects_and_disconnects_are_logged_at_info(
    sio: rtio.Server, caplog: pytest.LogCaptureFixture
) -> None:
    # one line per socket, so `rtio serve` shows connections at its default level
    caplog.set_level("INFO", logger="rtio.socketio")
    sio.of("/admin")
    peer = Peer(sio)
    sid = await peer.connect()
    admin_sid = await peer.connect("/admin")
    peer.feed("1/admin,")
    await settle()
    peer.session.end(rtio.engine.CloseReason.PING_TIMEOUT)
    await settle()
    lines = [(r.levelname, r.getMessage()) for r in caplog.records if r.name == "rtio.socketio"]
    assert lines == [
        ("INFO", f"socket {sid} connected to / (transport websocket, address 127.0.0.1)"),
        (
            "INFO",
            f"socket {admin_sid} connected to /admin (transport websocket, address 127.0.0.1)",
        ),
        ("INFO", f"socket {admin_sid} disconnected from /admin: client namespace disconnect"),
        ("INFO", f"socket {sid} disconnected from /: ping timeout"),
    ]


async def test_socket_ids_are_rtio_ids(sio: rtio.Server) -> None:
    # the one id generator (rtio.ids: batches from the OS, fork-safe: tests/test_ids.py)
    peers = [Peer(sio) for _ in range(100)]
    sids = [await peer.connect() for peer in peers]
    assert len(set(sids)) == 100
    assert all(re.fullmatch(r"[A-Za-z0-9_-]{20}", sid) for sid in sids)
    from rtio.socketio import socket as socket_module

    assert socket_module.new_id is rtio.ids.new_id


async def test_the_handshake_is_built_when_asked_for_with_the_auth_the_middlewares_saw(
    sio: rtio.Server,
) -> None:
    seen: list[Any] = []

    @sio.use
    def middleware(socket: rtio.Socket, auth: dict[str, Any]) -> None:
        auth["added"] = True  # the same dict everywhere afterwards
        seen.append(socket.handshake.auth is auth)

    @sio.on("connect")
    def connect(socket: rtio.Socket, auth: dict[str, Any]) -> None:
        seen.append(socket.handshake.auth is auth)

    peer = Peer(sio, headers={"Origin": "http://x"})
    sid = await peer.connect()
    socket = sio.sockets[sid]
    assert seen == [True, True] and socket.handshake.auth == {"added": True}
    handshake = socket.handshake
    assert handshake is socket.handshake  # built once
    assert handshake.xdomain and not handshake.secure and handshake.address == "127.0.0.1"
    assert abs(handshake.issued - time.time()) < 3600  # a time, not 0
    assert handshake.time.startswith(time.strftime("%Y", time.gmtime(handshake.issued)))


async def test_an_idle_socket_holds_no_optional_state(sio: rtio.Server) -> None:
    peer = Peer(sio)
    sid = await peer.connect()
    socket = sio.sockets[sid]
    # made on first use only (memory per connection): see Socket's docstring
    assert socket._handshake is None and socket._data is None and socket._runner is None
    assert socket._acks is None and socket._handlers is None and socket._auth is None
    socket.data["x"] = 1
    assert socket.data == {"x": 1} and socket.handshake.auth == {}
