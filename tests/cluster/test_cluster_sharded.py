"""rtio.cluster.redis.sharded: two rtio servers in one process on the sharded wire (Redis 7
SSUBSCRIBE / SPUBLISH, socket.io-adapter's ClusterAdapter messages), a real redis-server,
python-socketio's AsyncClient on each server.

The same operations as the classic adapter's tests (test_cluster_adapter.py), plus what is
the sharded wire's own: room channels followed as rooms come and go ("dynamic"), a node
without a member in a room not hearing it at all, socket ids kept on the main channel, its
own messages dropped undecoded, SHARDNUMSUB, cluster rooms through FETCH_SOCKETS. Mixed
clusters with Node's createShardedAdapter are the stage's (test_cluster_mixed.py).
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
from collections.abc import AsyncIterator
from typing import Any

import pytest

pytest.importorskip("redis", reason="redis-py is not installed (pip install rtio[redis])")

from redis.asyncio import Redis
from redis_server import RedisServer
from test_cluster_adapter import Client, Node, until

from rtio.cluster.messages import ClusterMessage
from rtio.cluster.redis import ShardedRedisAdapter, ShardedRedisCluster
from rtio.cluster.redis.adapter import ClusterSocket, FetchResult
from rtio.socketio import BroadcastOptions

Cluster = tuple[Node, Node, list[Client]]


def sharded_node(port: int, name: str, **kw: Any) -> Node:
    return Node(port, name, cluster_class=ShardedRedisCluster, **kw)


def adapter(node: Node) -> ShardedRedisAdapter:
    found = node.sio.main.adapter
    assert isinstance(found, ShardedRedisAdapter)
    return found


@pytest.fixture
async def cluster(redis_server: RedisServer) -> AsyncIterator[Cluster]:
    a, b = sharded_node(redis_server.port, "A"), sharded_node(redis_server.port, "B")
    await a.start()
    await b.start()
    clients = [
        await Client().connect(a, user="a1", rooms=["r1"]),
        await Client().connect(a, user="a2"),
        await Client().connect(b, user="b1", rooms=["r1"]),
        await Client().connect(b, user="b2", rooms=["r2"]),
    ]
    try:
        yield a, b, clients
    finally:
        for client in clients:
            with contextlib.suppress(Exception):
                await client.sio.disconnect()
        await a.stop()
        await b.stop()


async def shard_subscribers(port: int, channel: str) -> int:
    redis = Redis(port=port, protocol=2)
    try:
        reply: Any = await redis.execute_command("PUBSUB", "SHARDNUMSUB", channel)
        return int(reply[1])
    finally:
        await redis.aclose()


async def test_broadcasts_cross_nodes_with_rooms_except_local_and_binary(
    cluster: Cluster,
) -> None:
    a, b, (a1, a2, b1, b2) = cluster
    assert len(adapter(a).uid) == 16 and adapter(a).uid != adapter(b).uid
    a.sio.emit("all", 1, b"\x00\xffbin")
    await until(lambda: all(c.got("all") for c in (a1, a2, b1, b2)))
    assert b2.got("all") == [(1, b"\x00\xffbin")]
    a.sio.to("r1").except_(a1.sid).emit("r1")
    await until(lambda: b1.got("r1"))
    b.sio.local.emit("local")
    a.sio.to(b2.sid).emit("direct", {"x": 1})  # a socket id: the main channel
    await until(lambda: b2.got("direct") and b1.got("local"))
    await asyncio.sleep(0.2)
    assert a1.got("r1") == [] and a2.got("r1") == [] and b2.got("r1") == []
    assert a1.got("local") == [] and a2.got("local") == []
    assert b2.got("direct") == [({"x": 1},)]


async def test_room_channels_follow_the_rooms_and_a_node_without_member_hears_nothing(
    cluster: Cluster, redis_server: RedisServer
) -> None:
    """Issue 14: a broadcast to a room with no member on a node costs that node nothing:
    in "dynamic" mode it is not even subscribed to the room's channel."""
    a, b, (a1, _a2, _b1, b2) = cluster
    port = redis_server.port
    r1, r2 = adapter(a).sharded.room("r1"), adapter(a).sharded.room("r2")
    assert await shard_subscribers(port, r1) == 2 and await shard_subscribers(port, r2) == 1
    assert r2 not in adapter(a).room_channels and r2 in adapter(b).room_channels
    # socket ids' rooms keep to the main channel: nobody subscribes to them
    assert await shard_subscribers(port, adapter(a).sharded.room(a1.sid)) == 0
    received, skipped = adapter(a).received, adapter(a).skipped
    for _ in range(20):
        b.sio.to("r2").emit("only-b")
    await until(lambda: len(b2.got("only-b")) == 20)
    await asyncio.sleep(0.2)
    assert (adapter(a).received, adapter(a).skipped) == (received, skipped)
    # the room moves: A follows it while it has a member, and leaves it after
    b.sio.local.to("r2").sockets_leave("r2")
    await until(lambda: r2 not in adapter(b).room_channels)
    a.sio.to(a1.sid).sockets_join("r2")
    await until(lambda: r2 in adapter(a).room_channels)
    for _ in range(50):
        if await shard_subscribers(port, r2) == 1:
            break
        await asyncio.sleep(0.02)
    b.sio.to("r2").emit("moved")
    await until(lambda: a1.got("moved") == [()])
    assert b2.got("moved") == []
    await a1.sio.disconnect()  # the last member goes: A unsubscribes
    await until(lambda: r2 not in adapter(a).room_channels and r1 not in adapter(a).room_channels)


async def test_own_messages_come_back_undecoded(
    cluster: Cluster, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A node drops its own messages from their last bytes (uid, nsp) without decoding."""
    a, _b, (a1, a2, b1, b2) = cluster
    parsed: list[bytes] = []
    original = ClusterMessage.parse.__func__  # type: ignore[attr-defined]

    def counting(cls: type[ClusterMessage], payload: bytes) -> ClusterMessage:
        parsed.append(payload)
        return original(cls, payload)  # type: ignore[no-any-return]

    monkeypatch.setattr(ClusterMessage, "parse", classmethod(counting))
    for n in range(5):
        a.sio.emit("json", n)
        a.sio.emit("bin", n, b"\x01")
    await until(lambda: len(b1.got("bin")) == 5 and len(b2.got("json")) == 5)
    await asyncio.sleep(0.2)
    assert len(parsed) == 10  # B's; none of A's own 10 coming back
    assert len(a1.got("json")) == 5 and len(a2.got("bin")) == 5


async def test_fetch_sockets_rooms_and_remote_operations(cluster: Cluster) -> None:
    a, b, (a1, a2, b1, b2) = cluster
    found = await a.sio.main.adapter.fetch_sockets(BroadcastOptions(rooms=frozenset({"r1"})))
    assert isinstance(found, FetchResult) and found.coverage.complete
    assert {s.id for s in found} == {a1.sid, b1.sid}
    remote = next(s for s in found if isinstance(s, ClusterSocket))
    assert remote.id == b1.sid and remote.data == {"node": "B", "user": "b1"}
    assert remote.rooms == {b1.sid, "r1"} and remote.handshake["auth"]["user"] == "b1"
    remote.emit("hi", "from A")
    remote.join("vip")
    await until(lambda: b1.got("hi") == [("from A",)])
    await until(lambda: b1.sid in b.adapter.members("vip"))
    remote.leave("vip")
    await until(lambda: b1.sid not in b.adapter.members("vip"))
    everyone = await a.sio.fetch_sockets()
    assert {s.id for s in everyone} == {c.sid for c in (a1, a2, b1, b2)}
    assert await a.adapter.count_servers() == 2  # SHARDNUMSUB
    rooms = await a.adapter.cluster_rooms()  # through FETCH_SOCKETS
    assert {"r1", "r2", b2.sid, a1.sid} <= rooms and rooms.coverage.complete
    assert set(await a.adapter.cluster_sockets(["r2"])) == {b2.sid}
    remote.disconnect()
    await until(lambda: not b1.sio.connected)


async def test_sockets_join_leave_disconnect_across_nodes(cluster: Cluster) -> None:
    a, b, (a1, a2, b1, b2) = cluster
    a.sio.to("r1").sockets_join("joined")
    assert a1.sid in a.adapter.members("joined")  # at once on the asking node
    await until(lambda: b1.sid in b.adapter.members("joined"))
    assert b2.sid not in b.adapter.members("joined")
    b.sio.to("joined").sockets_leave("r1")
    await until(lambda: a1.sid not in a.adapter.members("r1"))
    a.sio.except_("joined").disconnect_sockets()
    await until(lambda: not a2.sio.connected and not b2.sio.connected)
    assert a1.sio.connected and b1.sio.connected


async def test_server_side_emit_and_broadcast_acks(cluster: Cluster) -> None:
    a, b, (a1, a2, b1, b2) = cluster
    heard: list[Any] = []
    b.cluster.on("ping", lambda *args: heard.append(args) or ("pong", *args))
    a.sio.server_side_emit("ping", 1)
    await until(lambda: heard == [(1,)])
    replies = await a.adapter.server_side_emit_with_ack(["ping", 2, b"\x02"])
    assert list(replies) == [["pong", 2, b"\x02"]] and replies.coverage.complete
    for n, client in enumerate((a1, a2, b1, b2)):
        client.acks["q"] = f"ans{n}"
    results = await a.sio.timeout(3).emit_with_ack("q")
    assert results.complete and results[a1.sid] == "ans0"
    assert sorted(v for k, v in results.items() if k.startswith("~")) == ["ans2", "ans3"]
    results = await b.sio.to("r1").timeout(3).emit_with_ack("q")  # acks: the main channel
    assert sorted(results.values()) == ["ans0", "ans2"]


async def test_a_silent_node_gives_a_partial_result_named(
    cluster: Cluster, redis_server: RedisServer
) -> None:
    """Issue 14: a node that never answers does not make fetch_sockets fail: the answer
    comes with what arrived, naming the silent node; early when it goes away."""
    a, b, (a1, a2, _b1, _b2) = cluster
    found = await a.adapter.fetch_sockets(BroadcastOptions())
    assert found.coverage.complete and adapter(b).uid in a.adapter.known_nodes
    b.cluster.link._on_message = lambda delivery: None  # type: ignore[method-assign]
    loop = asyncio.get_running_loop()
    started = loop.time()
    found = await a.adapter.fetch_sockets(BroadcastOptions())
    assert {s.id for s in found} == {a1.sid, a2.sid}
    assert found.coverage.missing == 1 and found.coverage.missing_nodes == {adapter(b).uid}
    assert 1.9 < loop.time() - started < 3.5  # requests_timeout 2 s
    task = asyncio.ensure_future(a.adapter.fetch_sockets(BroadcastOptions()))
    await asyncio.sleep(0.3)
    started = loop.time()
    await b.stop()
    found = await asyncio.wait_for(task, 3)
    assert found.coverage.gone == 1 and found.coverage.missing == 1
    assert loop.time() - started < 1.5


async def test_the_classic_wire_and_the_sharded_wire_do_not_meet(
    redis_server: RedisServer,
) -> None:
    """A classic node and a sharded node on one Redis do not hear each other (as in Node)."""
    a = sharded_node(redis_server.port, "A")
    c = Node(redis_server.port, "C")
    await a.start()
    await c.start()
    a1 = await Client().connect(a, user="a1")
    c1 = await Client().connect(c, user="c1")
    try:
        c.sio.emit("from-classic")
        a.sio.emit("from-sharded")
        await until(lambda: bool(a1.got("from-sharded") and c1.got("from-classic")))
        await asyncio.sleep(0.2)
        assert a1.got("from-classic") == [] and c1.got("from-sharded") == []
        assert await a.adapter.count_servers() == 1 and await c.adapter.count_servers() == 1
    finally:
        for client in (a1, c1):
            with contextlib.suppress(Exception):
                await client.sio.disconnect()
        await a.stop()
        await c.stop()


async def test_static_mode_uses_the_main_channel_only(redis_server: RedisServer) -> None:
    static: Any = functools.partial(ShardedRedisCluster, mode="static")
    a = Node(redis_server.port, "A", cluster_class=static)
    b = Node(redis_server.port, "B", cluster_class=static)
    await a.start()
    await b.start()
    b1 = await Client().connect(b, user="b1", rooms=["r"])
    try:
        assert adapter(b).room_channels == set()
        a.sio.to("r").emit("static")
        await until(lambda: b1.got("static") == [()])
    finally:
        with contextlib.suppress(Exception):
            await b1.sio.disconnect()
        await a.stop()
        await b.stop()


async def test_a_shutdown_leaves_every_sharded_channel(redis_server: RedisServer) -> None:
    """Server.shutdown closes the adapters: the node leaves the namespace's main, response
    and room channels (SSUBSCRIBE), and the other node counts one server."""
    a, b = sharded_node(redis_server.port, "A"), sharded_node(redis_server.port, "B")
    await a.start()
    await b.start()
    client = await Client().connect(a, user="a1", rooms=["solo"])
    try:
        port, ch = redis_server.port, adapter(a).sharded
        room = ch.room("solo")
        await until(lambda: room in adapter(a).room_channels)
        assert await shard_subscribers(port, ch.main) == 2 and await b.sio.count_servers() == 2
        for _ in range(50):
            if await shard_subscribers(port, room) == 1:
                break
            await asyncio.sleep(0.02)
        await a.sio.shutdown()
        assert adapter(a).closed
        for _ in range(100):
            counts = [await shard_subscribers(port, c) for c in (ch.main, ch.response, room)]
            if counts == [1, 0, 0]:
                break
            await asyncio.sleep(0.03)
        assert counts == [1, 0, 0]
        assert await b.sio.count_servers() == 1
    finally:
        with contextlib.suppress(Exception):
            await client.sio.disconnect()
        await a.stop()
        await b.stop()
