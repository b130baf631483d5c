"""What a fetch of a big cluster costs the nodes (benchmarks/cluster: 3 nodes x 1,000
sockets): an answer is decoded once, by its requester only (the classic wire's response
channel is shared: every node hears every answer, and used to decode it in full), a
socket's handshake is built once, and socket data is not JSON-encoded one socket at a time.
Counted, not timed."""

from __future__ import annotations

import contextlib
import logging
from typing import Any

import pytest

pytest.importorskip("redis", reason="redis-py is not installed (pip install rtio[redis])")

from redis_server import RedisServer
from test_cluster_adapter import Client, Node

import rtio.cluster.redis.requests as requests_module
import rtio.cluster.redis.serving as serving_module
from rtio.cluster.classic import (
    AllRoomsResponse,
    BroadcastAckResponse,
    BroadcastClientCountResponse,
    FetchSocketsResponse,
    ServerSideEmitResponse,
    SocketsResponse,
    peek_request_id,
    serialize_response,
)
from rtio.cluster.wire import encode_json
from rtio.socketio import BroadcastOptions


def test_peek_request_id_reads_every_answer_and_gives_up_safely() -> None:
    responses = [
        SocketsResponse("aB3x_9", ("s1",)),
        AllRoomsResponse("aB3x_9", ("r",)),
        FetchSocketsResponse("aB3x_9", ()),
        ServerSideEmitResponse("aB3x_9", b"\x00"),  # msgpack: it holds bytes
        BroadcastClientCountResponse("aB3x_9", 3),
        BroadcastAckResponse("aB3x_9", "yes"),  # msgpack
    ]
    for response in responses:
        assert peek_request_id(serialize_response(response)) == "aB3x_9", response
    # Node's own bytes (JSON.stringify order), rtio's answers (an extra uid at the end)
    assert peek_request_id(b'{"requestId":"Zz9_-a","sockets":[]}') == "Zz9_-a"
    assert peek_request_id(encode_json({"type": 8, "requestId": "q", "uid": "u"})) == "q"
    # not found near the start, or escaped: None (the caller decodes)
    assert peek_request_id(b'{"sockets":["' + b"x" * 80 + b'"],"requestId":"late"}') is None
    assert peek_request_id(b'{"requestId":"a\\"b","sockets":[]}') is None
    assert peek_request_id(b"") is None


async def test_an_answer_is_decoded_once_by_its_requester_only(
    redis_server: RedisServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    nodes = [Node(redis_server.port, name) for name in "ABC"]
    for node in nodes:
        await node.start()
    clients = [await Client().connect(node, user=node.name) for node in nodes]
    decoded: list[bytes] = []
    built: list[str] = []
    decode, handshake_wire = requests_module.decode, serving_module.handshake_wire

    def counting_decode(payload: bytes) -> Any:
        decoded.append(payload)
        return decode(payload)

    def counting_handshake(socket: Any) -> Any:
        built.append(socket.id)
        return handshake_wire(socket)

    monkeypatch.setattr(requests_module, "decode", counting_decode)
    monkeypatch.setattr(serving_module, "handshake_wire", counting_handshake)
    a, b, c = nodes
    try:
        for _ in range(3):
            found = await a.adapter.fetch_sockets(BroadcastOptions())
            assert found.coverage.complete and len(found) == 3
        for node in (b, c):
            marker = f'"uid":"{node.adapter.uid}"'.encode()
            answers = [p for p in decoded if b'"sockets"' in p and marker in p]
            assert len(answers) == 3, (node.name, len(answers))  # A's three, nobody else's
        assert sorted(built) == sorted([clients[1].sid, clients[2].sid])  # once per socket
    finally:
        for client in clients:
            with contextlib.suppress(Exception):
                await client.sio.disconnect()
        for node in nodes:
            await node.stop()


async def test_a_socket_whose_data_cannot_travel_is_sent_without_it(
    redis_server: RedisServer, caplog: pytest.LogCaptureFixture
) -> None:
    a, b = Node(redis_server.port, "A"), Node(redis_server.port, "B")
    await a.start()
    await b.start()
    b1 = await Client().connect(b, user="b1")
    b2 = await Client().connect(b, user="b2")
    try:
        b.sio.main.sockets[b1.sid].data = {"handle": object()}
        caplog.set_level(logging.WARNING, "rtio.cluster")
        found = await a.adapter.fetch_sockets(BroadcastOptions())
        assert found.coverage.complete
        data = {s.id: s.data for s in found}
        assert data == {b1.sid: None, b2.sid: {"node": "B", "user": "b2"}}
        assert sum("cannot be sent" in r.getMessage() for r in caplog.records) == 1
    finally:
        for client in (b1, b2):
            with contextlib.suppress(Exception):
                await client.sio.disconnect()
        await a.stop()
        await b.stop()
