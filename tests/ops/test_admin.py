"""sio.instrument(): the admin UI's protocol (@socket.io/admin-ui 0.5.1) spoken to rtio's
client on the /admin namespace, over a loopback port: login, the events it is sent, and
its actions (join, leave, emit, _disconnect), read-only and production modes."""

from __future__ import annotations

import asyncio
import os
from typing import Any

import bcrypt
import pytest

import rtio
from rtio.client import Client, ConnectError
from rtio.testing import EventLog, serve

HASH = bcrypt.hashpw(b"s3cret", bcrypt.gensalt(4)).decode()
BASIC = {"type": "basic", "username": "admin", "password": HASH}


async def until(check: Any, timeout: float = 5.0) -> Any:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while True:
        result = check()
        if result:
            return result
        assert loop.time() < deadline, "timed out"
        await asyncio.sleep(0.01)


def matching(log: EventLog, event: str, test: Any) -> Any:
    for args in log.received(event):
        if test(*args):
            return args
    return None


def make_server(**options: Any) -> rtio.Server:
    sio = rtio.Server()

    @sio.on("join")
    def join(socket: Any, room: str) -> None:
        socket.join(room)

    @sio.on("ping")
    def ping(socket: Any) -> None:
        socket.emit("pong", 1)

    sio.instrument(**{"auth": BASIC, "stats_interval": 0.1, **options})
    return sio


async def admin_client(url: str, auth: dict[str, Any]) -> tuple[Client, EventLog]:
    admin = Client(url + "/admin", auth=auth, reconnection=False)
    log = EventLog(admin)
    await admin.connect(timeout=5)
    return admin, log


async def test_login_events_and_actions() -> None:
    sio = make_server(server_id="node-1")
    async with serve(sio) as url:
        alice = Client(url, transports=("websocket",), reconnection=False)
        await alice.connect(timeout=5)
        alice_id = alice.id

        with pytest.raises(ConnectError, match="invalid credentials"):
            await admin_client(url, {"username": "admin", "password": "wrong"})

        admin, log = await admin_client(url, {"username": "admin", "password": "s3cret"})
        session_id = await log.next("session", timeout=5)
        assert isinstance(session_id, str) and len(session_id) == 16
        config = await log.next("config", timeout=5)
        assert config["supportedFeatures"] == [
            "EMIT", "JOIN", "LEAVE", "DISCONNECT", "MJOIN", "MLEAVE", "MDISCONNECT",
            "AGGREGATED_EVENTS", "ALL_EVENTS",
        ]
        all_sockets = await log.next("all_sockets", timeout=5)
        mine = [s for s in all_sockets if s["id"] == alice_id]
        assert mine and mine[0]["nsp"] == "/" and mine[0]["transport"] == "websocket"
        assert mine[0]["rooms"] == [alice_id]
        assert mine[0]["handshake"]["address"] == "127.0.0.1"
        assert mine[0]["clientId"] == sio.sockets[alice_id].client.session.sid[:12]

        stats = await log.next("server_stats", timeout=5)
        assert stats["serverId"] == "node-1"
        assert stats["pid"] == os.getpid() and 0 < stats["uptime"] < 86400  # the process's
        assert stats["clientsCount"] == 2 and stats["pollingClientsCount"] in (0, 1)
        assert {"name": "/", "socketsCount": 1} in stats["namespaces"]
        assert {"name": "/admin", "socketsCount": 1} in stats["namespaces"]

        # a socket comes, joins a room, sends and is sent events
        bob = Client(url, reconnection=False)
        bob_log = EventLog(bob)
        await bob.connect(timeout=5)
        bob_id = bob.id
        connected = await until(lambda: matching(log, "socket_connected",
                                                 lambda s, ts: s["id"] == bob_id))
        assert connected[0]["nsp"] == "/" and connected[1].endswith("Z")
        await bob.call("join", "lobby", timeout=5)
        assert await until(lambda: matching(log, "room_joined",
                                            lambda nsp, room, sid, ts: (nsp, room, sid)
                                            == ("/", "lobby", bob_id)))
        assert await until(lambda: matching(log, "event_received",
                                            lambda nsp, sid, args, ts: args == ["join", "lobby"]))
        bob.emit("ping")
        await bob_log.next("pong", timeout=5)
        assert await until(lambda: matching(log, "event_sent",
                                            lambda nsp, sid, args, ts: args == ["pong", 1]))
        await until(lambda: matching(log, "socket_updated",
                                     lambda s: s["id"] == bob_id and s["transport"] == "websocket"))
        await until(lambda: any(e["type"] == "packetsIn"
                                for (s,) in log.received("server_stats")
                                for e in s["aggregatedEvents"]))

        # actions: join, emit to the room, leave, disconnect, each through the namespace
        admin.emit("join", "/", "vip", alice_id)
        await until(lambda: "vip" in sio.sockets[alice_id].rooms)
        assert "vip" not in sio.sockets[bob_id].rooms
        alice_log = EventLog(alice)
        admin.emit("emit", "/", "vip", "hello", {"from": "admin"})
        assert await alice_log.next("hello", timeout=5) == {"from": "admin"}
        admin.emit("leave", "/", "vip", alice_id)
        await until(lambda: "vip" not in sio.sockets[alice_id].rooms)
        assert await until(lambda: matching(log, "room_left",
                                            lambda nsp, room, sid, ts: (room, sid)
                                            == ("vip", alice_id)))
        admin.emit("join", "/", "everyone")  # no filter: every socket of "/"
        await until(lambda: all("everyone" in s.rooms for s in sio.sockets.values()))
        admin.emit("emit", "/nope", None, "hello")  # an unknown namespace: nothing made
        admin.emit("_disconnect", "/", False, bob_id)
        gone = await until(lambda: matching(log, "socket_disconnected",
                                            lambda nsp, sid, reason, ts: sid == bob_id))
        assert gone[2] == "server namespace disconnect"
        assert bob_id not in sio.sockets and alice_id in sio.sockets
        assert "/nope" not in sio.namespaces

        # the session id logs in again without the password
        again, again_log = await admin_client(url, {"sessionId": session_id})
        await again_log.next("config", timeout=5)
        for client in (again, admin, alice, bob):
            await client.disconnect()


async def test_read_only_and_production() -> None:
    sio = make_server(auth=lambda auth: auth.get("token") == "t", read_only=True,
                      mode="production")
    async with serve(sio) as url:
        alice = Client(url, reconnection=False)
        await alice.connect(timeout=5)
        with pytest.raises(ConnectError, match="invalid credentials"):
            await admin_client(url, {"token": "x"})
        admin, log = await admin_client(url, {"token": "t"})
        config = await log.next("config", timeout=5)
        assert config["supportedFeatures"] == ["AGGREGATED_EVENTS"]
        await log.next("server_stats", timeout=5)
        admin.emit("_disconnect", "/", True)  # refused: no handler in read-only mode
        admin.emit("join", "/", "x")
        bob = Client(url, reconnection=False)
        await bob.connect(timeout=5)
        await asyncio.sleep(0.3)
        assert alice.connected and len(sio.sockets) == 2
        assert all("x" not in s.rooms for s in sio.sockets.values())
        # production: no all_sockets, no socket events
        assert not log.received("all_sockets") and not log.received("socket_connected")
        for client in (admin, alice, bob):
            await client.disconnect()


async def test_async_auth_callable() -> None:
    async def check(auth: dict[str, Any]) -> bool:
        await asyncio.sleep(0)
        return auth.get("token") == "t"

    sio = make_server(auth=check)
    async with serve(sio) as url:
        admin, log = await admin_client(url, {"token": "t"})
        await log.next("all_sockets", timeout=5)
        assert not log.received("session")  # only a password login gets a session id
        await admin.disconnect()


def test_bad_options() -> None:
    with pytest.raises(TypeError, match="auth must be given"):
        rtio.Server().instrument(auth=None)
    with pytest.raises(ValueError, match="bcrypt hash"):
        rtio.Server().instrument(auth={"type": "basic", "username": "a", "password": "plain"})
    with pytest.raises(ValueError, match="mode"):
        rtio.Server().instrument(auth=False, mode="staging")
    sio = rtio.Server()
    sio.instrument(auth=False)
    with pytest.raises(RuntimeError, match="already"):
        sio.instrument(auth=False)


async def test_password_checks_are_bounded() -> None:
    sio = rtio.Server()
    admin = sio.instrument(auth={"type": "basic", "username": "admin",
                                 "password": bcrypt.hashpw(b"s3cret", bcrypt.gensalt(8)).decode()})
    check = admin._check_auth
    results = await asyncio.gather(
        *(check({"username": "admin", "password": "s3cret"}) for _ in range(6))
    )
    assert results.count(True) == 4 and results.count(False) == 2
    assert await check({"username": "admin", "password": "s3cret"})  # free again
