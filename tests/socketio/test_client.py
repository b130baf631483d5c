"""rtio.socketio.client: one Engine.IO session seen from Socket.IO: routing packets to the
namespaces (invalid states close the connection), the connect timeout, closing with
Node's reasons, writing over polling; and random input through the whole layer (nothing
escapes, a connection is either still usable or closed)."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sio_loopback import Peer, record, settle

import rtio
import rtio.ids
from rtio.engine import CloseReason

texts = st.one_of(
    st.text(max_size=40),
    st.builds(
        lambda t, nsp, ack, body: f"{t}{nsp}{ack}{body}",
        st.sampled_from(list("0123456")) | st.text(max_size=2),
        st.sampled_from(["", "/", "/a,", "/x", "1-", "2-/a,"]),
        st.sampled_from(["", "1", "12", "99999999999999999999"]),
        st.sampled_from(
            [
                "",
                "[]",
                '["e"]',
                '["e",1]',
                "{}",
                '{"a":1}',
                "null",
                '"s"',
                "[",
                '[{"_placeholder":true,"num":0}]',
            ]
        ),
    ),
)
messages = st.lists(st.one_of(texts, st.binary(max_size=8)), max_size=8)


@settings(
    max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(messages=messages)
async def test_random_messages_never_escape(messages: list[str | bytes]) -> None:
    sio = rtio.Server(connect_timeout=None)
    sio.of("/a")
    sio.on("e", lambda socket, *args: args)
    peer = Peer(sio)
    peer.feed("0")
    for message in messages:
        peer.feed(message)  # raises nothing, whatever it is
    await settle()
    if not peer.session.closed:
        # still usable: a valid event on the main namespace is answered
        peer.take()
        peer.feed('2777["e",1]')
        await settle()
        sent = peer.take()
        assert "3777[1]" in sent or not sio.sockets


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
