"""The Socket.IO v4 protocol of socket.io-client 2.x (rtio/socketio/v4compat.py and the
client's v3 connect flow), on the loopback engine: the main namespace joined at once, the
namespace query as auth, the CONNECT reply without a sid, refusals as ERROR packets, socket
ids made of the engine id, and one broadcast reaching v3 and v5 clients."""

from __future__ import annotations

from typing import Any

from sio_loopback import FakeSession, Peer, settle

import rtio
from rtio.socketio import v4compat
from rtio.socketio.packet import Packet, PacketType


def test_parse_connect_name() -> None:
    assert v4compat.parse_connect_name("/admin") == ("/admin", {})
    assert v4compat.parse_connect_name("/admin?token=a%20b&x=1&x=2") == (
        "/admin",
        {"token": "a b", "x": "2"},
    )
    assert v4compat.parse_connect_name("/?k=") == ("/", {"k": ""})


def test_reply_error_and_ids() -> None:
    assert v4compat.connect_reply("/a") == Packet(PacketType.CONNECT, "/a")
    refuse = v4compat.connect_error_packet
    assert refuse("/", {"message": "no"}).data == "no"
    assert refuse("/", {"message": "no", "data": {"code": 1}}).data == {"code": 1}
    assert refuse("/", {"message": "no", "data": 0}).data == "no"  # err.data || err.message
    assert v4compat.socket_id("/", "E") == "E"
    assert v4compat.socket_id("/chat", "E") == "/chat#E"


class V3Peer(Peer):
    """A socket.io-client 2.x connection: its session says protocol 3."""

    def __init__(self, sio: rtio.Server, query: dict[str, str] | None = None) -> None:
        self.handler = sio.engine.handler
        self.session = FakeSession(self.handler, {}, query or {"EIO": "3"})
        self.session.protocol = 3  # type: ignore[attr-defined]
        self.handler.on_connect(self.session)  # type: ignore[arg-type]


async def test_v3_connect_flow_and_mixed_broadcast() -> None:
    sio = rtio.Server(allow_eio3=True)
    assert sio.engine.options.allow_eio3
    admin = sio.of("/admin")
    seen: list[Any] = []

    @sio.on("connect")
    def connect(socket: rtio.Socket, auth: dict[str, Any]) -> None:
        seen.append((socket.id, auth))

    @admin.use
    def only_admins(socket: rtio.Socket, auth: dict[str, Any]) -> None:
        if auth.get("role") != "admin":
            raise rtio.ConnectionRefused("admins only")

    old = V3Peer(sio)
    await settle()
    assert old.take() == ["0"]  # joined "/" without a CONNECT, no sid in the reply
    assert seen == [(old.session.sid, {})]
    old.feed("0/admin?role=user,")
    await settle()
    assert old.take() == ['4/admin,"admins only"']
    old.feed("0/admin?role=admin,")
    await settle()
    assert old.take() == ["0/admin,"]
    assert set(admin.sockets) == {"/admin#" + old.session.sid}

    new = Peer(sio)
    new_id = await new.connect()
    for sid in (old.session.sid, new_id):
        await sio.main.sockets[sid].join("room")
    sio.to("room").emit("news", b"\x01")
    await settle()
    assert old.take() == ['51-["news",{"_placeholder":true,"num":0}]', b"\x01"]
    assert new.take() == ['51-["news",{"_placeholder":true,"num":0}]', b"\x01"]
    # encoded once: the same prepared objects went to both sessions
    assert old.session.raw[-2:] == new.session.raw[-2:]
