"""Disconnecting: Node's reasons on the server side, the packets the client sees, the
order of ``disconnecting`` / ``disconnect``, and invalid packets."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from sio_loopback import Peer, settle

import rtio
from rtio.engine import CloseReason


def record(sio: rtio.Server, nsp: str = "/") -> list[tuple[str, Any, Any]]:
    log: list[tuple[str, Any, Any]] = []

    @sio.on("disconnecting", namespace=nsp)
    async def disconnecting(socket: rtio.Socket, reason: rtio.DisconnectReason) -> None:
        log.append(("disconnecting", reason, socket.rooms))

    @sio.on("disconnect", namespace=nsp)
    async def disconnect(socket: rtio.Socket, reason: rtio.DisconnectReason) -> None:
        log.append(("disconnect", reason, socket.rooms))

    return log


async def test_client_namespace_disconnect(sio: rtio.Server) -> None:
    log = record(sio)
    peer = Peer(sio)
    sid = await peer.connect()
    await sio.sockets[sid].join("room")
    peer.feed("1")
    await settle()
    assert log == [
        ("disconnecting", "client namespace disconnect", {sid, "room"}),  # still in rooms
        ("disconnect", "client namespace disconnect", set()),
    ]
    assert log[0][1] is rtio.DisconnectReason.CLIENT_NAMESPACE_DISCONNECT
    assert not peer.session.closed  # the connection stays for other namespaces
    assert sio.main.rooms() == set()


async def test_server_namespace_disconnect(sio: rtio.Server) -> None:
    log = record(sio)
    peer = Peer(sio)
    sid = await peer.connect()
    sio.sockets[sid].disconnect()
    await settle()
    assert peer.take() == ["1"]
    assert [entry[:2] for entry in log] == [
        ("disconnecting", "server namespace disconnect"),
        ("disconnect", "server namespace disconnect"),
    ]
    assert not peer.session.closed


async def test_disconnect_with_close_leaves_every_namespace(sio: rtio.Server) -> None:
    log = record(sio)
    other_log = record(sio, "/other")
    peer = Peer(sio)
    sid = await peer.connect()
    await peer.connect("/other")
    sio.sockets[sid].disconnect(close=True)
    await settle()
    assert sorted(peer.take()) == ["1", "1/other,"]
    assert peer.session.closed
    assert log[-1][:2] == ("disconnect", "server namespace disconnect")
    assert other_log[-1][:2] == ("disconnect", "server namespace disconnect")


@pytest.mark.parametrize(
    "reason",
    [
        CloseReason.TRANSPORT_CLOSE,
        CloseReason.TRANSPORT_ERROR,
        CloseReason.PING_TIMEOUT,
        CloseReason.FORCED_CLOSE,
        CloseReason.SERVER_SHUTTING_DOWN,
    ],
)
async def test_engine_reasons_reach_every_socket(sio: rtio.Server, reason: CloseReason) -> None:
    log = record(sio)
    other_log = record(sio, "/other")
    peer = Peer(sio)
    await peer.connect()
    await peer.connect("/other")
    peer.session.end(reason)
    await settle()
    assert [entry[:2] for entry in log] == [
        ("disconnecting", reason.value),
        ("disconnect", reason.value),
    ]
    assert other_log[-1][1] == reason.value
    assert not sio.sockets and not sio.of("/other").sockets


async def test_invalid_packet_closes_with_parse_error(sio: rtio.Server) -> None:
    log = record(sio)
    peer = Peer(sio)
    await peer.connect()
    peer.feed('2["connect"]')  # a reserved event name
    await settle()
    assert peer.session.closed
    assert log[-1][:2] == ("disconnect", "parse error")
    peer.feed('2["after"]')  # nothing reaches a closed client


async def test_binary_data_out_of_sequence_is_a_parse_error(sio: rtio.Server) -> None:
    log = record(sio)
    peer = Peer(sio)
    await peer.connect()
    peer.feed(b"\x00")
    await settle()
    assert log[-1][:2] == ("disconnect", "parse error")


async def test_invalid_state_closes_with_forced_server_close(sio: rtio.Server) -> None:
    log = record(sio)
    peer = Peer(sio)
    await peer.connect()
    peer.feed('4{"message":"clients do not send this"}')
    await settle()
    assert peer.session.closed
    assert log[-1][:2] == ("disconnect", "forced server close")


async def test_disconnect_handlers_run_at_once_and_queued_events_still_run(
    sio: rtio.Server,
) -> None:
    """A client's DISCONNECT is handled at once, not behind the handler still running (issue
    12 defect 11); that handler finishes, and the events queued behind it still run, in
    order, on the disconnected socket."""
    import asyncio

    order: list[str] = []

    @sio.on("slow")
    async def slow(socket: rtio.Socket, tag: str) -> None:
        await asyncio.sleep(0.01)
        order.append(f"{tag} connected={socket.connected}")

    sio.on("disconnect", lambda socket, reason: order.append("disconnect"))
    peer = Peer(sio)
    await peer.connect()
    peer.feed('2["slow","a"]', '2["slow","b"]', "1")
    assert order == ["disconnect"]
    await asyncio.sleep(0.05)
    assert order == ["disconnect", "a connected=False", "b connected=False"]


async def test_disconnect_handler_that_raises_is_logged(
    sio: rtio.Server, caplog: pytest.LogCaptureFixture
) -> None:
    @sio.on("disconnect")
    async def bad(socket: rtio.Socket, reason: str) -> None:
        raise RuntimeError("cleanup failed")

    peer = Peer(sio)
    await peer.connect()
    peer.feed("1")
    await settle()
    assert "cleanup failed" in caplog.text


async def test_socket_level_disconnect_listener(sio: rtio.Server) -> None:
    peer = Peer(sio)
    sid = await peer.connect()
    got: list[str] = []
    sio.sockets[sid].on("disconnect", lambda reason: got.append(reason))
    peer.session.end(CloseReason.PING_TIMEOUT)
    await settle()
    assert got == ["ping timeout"]


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


class PollingClient:
    """A raw Engine.IO polling client on a real server (aiohttp's HTTP client)."""

    def __init__(self, client: Any, sid: str) -> None:
        self.client = client
        self.query = {"EIO": "4", "transport": "polling", "sid": sid}

    @classmethod
    async def open(cls, client: Any) -> PollingClient:
        resp = await client.get("/socket.io/", params={"EIO": "4", "transport": "polling"})
        text = await resp.text()
        return cls(client, text[text.index('"sid":"') + 7 :].split('"')[0])

    async def post(self, body: str) -> None:
        resp = await self.client.post("/socket.io/", params=self.query, data=body)
        assert await resp.text() == "ok"

    async def get(self) -> str:
        resp = await self.client.get("/socket.io/", params=self.query)
        text: str = await resp.text()
        return text


async def test_disconnect_with_close_over_polling_sends_the_close_packet_last() -> None:
    # The engine delivers the DISCONNECTs, then the close packet in a response of its own
    # (as Node): socket.io-client handles a close packet before the packets decoded with
    # it, so this order is what lets it report "io server disconnect".
    from aiohttp.test_utils import TestClient, TestServer

    sio = rtio.Server(connect_timeout=None)
    sio.of("/other")
    log = record(sio)
    client = TestClient(TestServer(sio.make_app()))
    await client.start_server()
    try:
        poller = await PollingClient.open(client)
        await poller.post("40\x1e40/other,")
        replies = (await poller.get()).split("\x1e")
        assert [r[:10] for r in replies] == ['40{"sid":"', "40/other,{"]
        sid = next(iter(sio.sockets))
        pending = asyncio.ensure_future(poller.get())
        await asyncio.sleep(0.05)
        sio.sockets[sid].disconnect(close=True)
        assert await pending == "41"  # the first DISCONNECT answers the pending poll
        assert await poller.get() == "41/other,"
        assert await poller.get() == "1"
        await settle()
        assert log[-1][:2] == ("disconnect", "server namespace disconnect")
        assert not sio.sockets and not sio.engine.sessions
    finally:
        await client.close()


async def test_volatile_over_polling_needs_a_pending_poll() -> None:
    # Node drops a volatile packet unless transport.writable: over polling, a GET pending
    from aiohttp.test_utils import TestClient, TestServer

    sio = rtio.Server(connect_timeout=None)
    client = TestClient(TestServer(sio.make_app()))
    await client.start_server()
    try:
        poller = await PollingClient.open(client)
        await poller.post("40")
        assert (await poller.get()).startswith('40{"sid":"')
        socket = next(iter(sio.sockets.values()))
        socket.volatile.emit("dropped")  # no GET pending: not writable
        pending = asyncio.ensure_future(poller.get())
        await asyncio.sleep(0.05)
        assert sio.engine.sessions[socket.client.session.sid].writable
        socket.volatile.emit("kept")
        socket.volatile.emit("dropped too")  # the GET is answered: not writable again
        await sio.volatile.emit("dropped as well")
        socket.emit("queued")
        assert await pending == '42["kept"]'
        assert await poller.get() == '42["queued"]'
    finally:
        await client.close()
