"""Connecting: the CONNECT reply, auth, connect middlewares, static and dynamic namespaces."""

from __future__ import annotations

import asyncio
import gc
import logging
import re
import tracemalloc
from typing import Any

import pytest
from sio_loopback import Peer, settle

import rtio
import rtio.ids
from rtio.socketio.errors import ConnectionRefused


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


async def test_refusal_in_the_connect_handler_refuses(sio: rtio.Server) -> None:
    """Issue 16: the CONNECT reply waits for the ``connect`` handler, which may refuse."""

    @sio.on("connect")
    async def connect(socket: rtio.Socket, auth: dict[str, Any]) -> None:
        await asyncio.sleep(0)
        raise rtio.ConnectionRefused("no", data={"retry": False})

    peer = Peer(sio)
    peer.feed("0")
    await settle()
    assert peer.take() == ['4{"message":"no","data":{"retry":false}}']
    assert not sio.sockets


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


def _connect_many(peer: Peer, names: range) -> None:
    for k in names:
        peer.feed(f"0/room-{k},")
        if k % 1000 == 0:
            _forget_sent(peer)


def _forget_sent(peer: Peer) -> None:
    """The replies the harness records are not the server's memory."""
    peer.take()
    peer.session.raw.clear()


async def test_refused_connects_to_dynamic_namespaces_leave_nothing(sio: rtio.Server) -> None:
    """Issue 12 defect 6: 20,000 CONNECTs to fresh dynamic names, each refused by a
    middleware, leave no child namespace behind and the traced memory flat (on 0d24665:
    20,000 children, ~10 MB), with and without cleanup_empty_children."""
    kept = sio.of(re.compile(r"/room-\d+"))
    cleaned = sio.of(re.compile(r"/other-\d+"), cleanup_empty_children=True)

    def refuse(socket: rtio.Socket, auth: dict[str, object]) -> None:
        raise ConnectionRefused("no")

    kept.use(refuse)
    cleaned.use(refuse)
    peer = Peer(sio)
    peer.feed("0/other-1,")
    _connect_many(peer, range(1000))  # warm up (the caches of the first packets)
    await settle()
    gc.collect()
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        _connect_many(peer, range(1000, 21_000))
        await settle()
        _forget_sent(peer)
        gc.collect()
        grown = tracemalloc.get_traced_memory()[0] - before
    finally:
        tracemalloc.stop()
    assert kept.children == {} and cleaned.children == {}
    assert set(sio.namespaces) == {"/"}
    assert grown < 200_000, grown  # 0d24665: ~10,000,000
    assert not peer.session.closed  # refusals are answers, not a reason to close


async def test_a_refused_connect_keeps_a_child_another_client_joins_meanwhile(
    sio: rtio.Server,
) -> None:
    """Defect 6's cleanup drops a child only when no CONNECT to it is in progress."""
    parent = sio.of(re.compile(r"/room-\d+"), cleanup_empty_children=True)
    gate = asyncio.Event()

    @parent.use
    async def slow_auth(socket: rtio.Socket, auth: dict[str, object]) -> bool:
        await gate.wait()
        return auth.get("ok") is True

    good, bad = Peer(sio), Peer(sio)
    good.feed('0/room-1,{"ok":true}')
    bad.feed("0/room-1,")
    await settle()
    gate.set()
    await settle()
    assert bad.take() == ['4/room-1,{"message":"Connection refused"}']
    assert "/room-1" in parent.children and len(parent.children["/room-1"].sockets) == 1
    good.feed("1/room-1,")
    await settle()
    assert parent.children == {}


async def test_rooms_a_refusing_middleware_joined_are_left(sio: rtio.Server) -> None:
    """Defect 6's kin: a middleware that joins rooms and then refuses leaves nothing."""

    @sio.use
    def join_then_refuse(socket: rtio.Socket, auth: dict[str, object]) -> bool:
        socket.join(["vip", f"user-{auth.get('user')}"])
        return auth.get("ok") is True

    peer = Peer(sio)
    for k in range(100):
        peer.feed(f'0{{"user":{k}}}')
    await settle()
    assert sio.main.rooms() == set()
    sid = await peer.connect(auth='{"user":1,"ok":true}')
    assert sio.main.rooms() == {sid, "vip", "user-1"}


async def test_child_namespaces_are_bounded(caplog: pytest.LogCaptureFixture) -> None:
    """Issue 12 defect 6: without cleanup, children stay for ever (as in Node); a CONNECT
    that would make more than max_child_namespaces gets connect_error and one warning."""
    sio = rtio.Server(connect_timeout=None, max_child_namespaces=50)
    parent = sio.of(lambda name, auth: name.startswith("/room-"))
    peer = Peer(sio)
    with caplog.at_level(logging.INFO, logger="rtio.socketio"):
        for k in range(2000):
            peer.feed(f"0/room-{k},")
        await settle()
    replies = peer.take()
    assert len(parent.children) == 50 and len(sio.namespaces) == 51
    refused = [r for r in replies if isinstance(r, str) and r.startswith("4/")]
    assert len(refused) == 1950
    assert refused[0] == '4/room-50,{"message":"Too many namespaces"}'
    warnings = [r for r in caplog.records if "max_child_namespaces" in r.getMessage()]
    assert len(warnings) == 1 and warnings[0].levelno == logging.WARNING
    with pytest.raises(ValueError):
        rtio.Server(max_child_namespaces=-1)
