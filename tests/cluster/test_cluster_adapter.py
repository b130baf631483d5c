"""rtio.cluster.redis.adapter and .emitter: two rtio servers in one process, a real
redis-server, python-socketio's AsyncClient on each server.

Mixed clusters with Node's servers and socket.io-client are the stage's
(tests/cluster/test_cluster_mixed.py); here: every operation between rtio nodes, the room
channel skipped undecoded, a node that never answers (partial result, named, and early when
it goes away), and rtio's emitter. Every wait is bounded.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
from collections.abc import AsyncIterator
from typing import Any

import pytest

pytest.importorskip("redis", reason="redis-py is not installed (pip install rtio[redis])")

import socketio
from aiohttp import web
from redis.asyncio import Redis
from redis_server import RedisServer

import rtio
from rtio.cluster.redis import Backoff, LinkOptions
from rtio.cluster.redis.adapter import (
    ClusterSocket,
    FetchResult,
    RedisAdapter,
    RedisAdapterOptions,
    RedisCluster,
)
from rtio.cluster.redis.emitter import Emitter
from rtio.socketio import BroadcastOptions

FAST = dict(
    connect_timeout=1.0,
    command_timeout=1.0,
    poll_interval=0.1,
    backoff=Backoff(base=0.05, cap=0.3, floor=0.02),
    close_timeout=1.0,
)


class Node:
    """An rtio server with the Redis adapter on a free port."""

    def __init__(
        self,
        redis_port: int,
        name: str,
        requests_timeout: float = 2.0,
        specific: bool = False,
        adapter_options: dict[str, Any] | None = None,
        cluster_class: type[RedisCluster] = RedisCluster,
        **link: Any,
    ) -> None:
        self.name = name
        self.cluster = cluster_class(
            link=LinkOptions(port=redis_port, **{**FAST, **link}),
            options=RedisAdapterOptions(
                requests_timeout=requests_timeout,
                recount_interval=0.1,
                publish_on_specific_response_channel=specific,
                **(adapter_options or {}),
            ),
            name=name,
        )
        self.sio = rtio.Server(adapter=self.cluster)
        self.runner: web.AppRunner | None = None
        self.port = 0

        @self.sio.on("connect")
        async def connect(socket: rtio.Socket, auth: dict[str, Any]) -> None:
            socket.data = {"node": name, "user": auth.get("user")}
            for room in auth.get("rooms", []):
                socket.join(room)

    @property
    def adapter(self) -> RedisAdapter:
        adapter = self.sio.main.adapter
        assert isinstance(adapter, RedisAdapter)
        return adapter

    async def start(self) -> None:
        assert await self.cluster.start(5)
        self.runner = web.AppRunner(self.sio.make_app(), handle_signals=False)
        await self.runner.setup()
        await web.TCPSite(self.runner, "127.0.0.1", 0).start()
        self.port = self.runner.addresses[0][1]

    async def stop(self) -> None:
        await self.cluster.close()
        if self.runner is not None:
            await self.runner.cleanup()


class Client:
    def __init__(self) -> None:
        self.sio = socketio.AsyncClient(reconnection=False)
        self.events: list[tuple[str, tuple[Any, ...]]] = []
        self.acks: dict[str, Any] = {}

        @self.sio.on("*")  # type: ignore[misc]
        async def any_event(event: str, *args: Any) -> Any:
            self.events.append((event, args))
            return self.acks.get(event)

    async def connect(self, node: Node, **auth: Any) -> Client:
        await self.sio.connect(
            f"http://127.0.0.1:{node.port}", auth=auth, transports=["websocket"], wait_timeout=5
        )
        return self

    @property
    def sid(self) -> str:
        sid = self.sio.get_sid("/")
        assert sid is not None
        return sid

    def got(self, event: str) -> list[tuple[Any, ...]]:
        return [args for name, args in self.events if name == event]


async def until(predicate: Any, timeout: float = 3.0) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not predicate():
        if loop.time() > deadline:
            raise AssertionError("condition not met in time")
        await asyncio.sleep(0.02)


@pytest.fixture
async def cluster(redis_server: RedisServer) -> AsyncIterator[tuple[Node, Node, list[Client]]]:
    a, b = Node(redis_server.port, "A"), Node(redis_server.port, "B")
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


async def test_broadcasts_cross_nodes_with_rooms_except_local_and_binary(
    cluster: tuple[Node, Node, list[Client]],
) -> None:
    a, b, (a1, a2, b1, b2) = cluster
    a.sio.emit("all", 1, b"\x00\xffbin")
    await until(lambda: all(c.got("all") for c in (a1, a2, b1, b2)))
    assert b2.got("all") == [(1, b"\x00\xffbin")]
    a.sio.to("r1").except_(a1.sid).emit("r1")
    await until(lambda: b1.got("r1"))
    b.sio.local.emit("local")
    b.sio.to(b2.sid).emit("direct", {"x": 1})
    await until(lambda: b2.got("direct") and b1.got("local"))
    await asyncio.sleep(0.2)
    assert a1.got("r1") == [] and a2.got("r1") == [] and b2.got("r1") == []
    assert a1.got("local") == [] and a2.got("local") == []
    assert b2.got("direct") == [({"x": 1},)]


async def test_a_room_message_costs_a_node_without_member_no_decoding(
    cluster: tuple[Node, Node, list[Client]],
) -> None:
    """Issue 14: a node with no member of the room skips its channel's message undecoded."""
    a, b, (_a1, _a2, _b1, b2) = cluster
    before = a.adapter.skipped
    for _ in range(20):
        b.sio.to("r2").emit("only-b")
    await until(lambda: len(b2.got("only-b")) == 20)
    await until(lambda: a.adapter.skipped - before >= 20)
    assert a.adapter.received == 0


async def test_fetch_sockets_across_nodes_with_remote_operations(
    cluster: tuple[Node, Node, list[Client]],
) -> None:
    a, b, (a1, a2, b1, b2) = cluster
    found = await a.sio.main.adapter.fetch_sockets(BroadcastOptions(rooms=frozenset({"r1"})))
    assert isinstance(found, FetchResult) and found.coverage.complete
    assert {s.id for s in found} == {a1.sid, b1.sid}
    remote = next(s for s in found if isinstance(s, ClusterSocket))
    assert remote.id == b1.sid and remote.data == {"node": "B", "user": "b1"}
    assert remote.rooms == {b1.sid, "r1"} and remote.handshake["auth"]["user"] == "b1"
    assert "query" in remote.handshake and isinstance(remote.handshake["issued"], int)
    remote.emit("hi", "from A")
    remote.join("vip")
    await until(lambda: b1.got("hi") == [("from A",)])
    await until(lambda: b1.sid in b.adapter.members("vip"))
    remote.leave("vip")
    await until(lambda: b1.sid not in b.adapter.members("vip"))
    everyone = await a.sio.fetch_sockets()  # the public API: a plain list, both nodes
    assert {s.id for s in everyone} == {c.sid for c in (a1, a2, b1, b2)}
    assert await a.adapter.count_servers() == 2
    rooms = await a.adapter.cluster_rooms()
    assert {"r1", "r2", b2.sid, a1.sid} <= rooms and rooms.coverage.complete
    sids = await a.adapter.cluster_sockets(["r2"])
    assert set(sids) == {b2.sid}
    remote.disconnect()
    await until(lambda: not b1.sio.connected)


async def test_sockets_join_leave_disconnect_across_nodes(
    cluster: tuple[Node, Node, list[Client]],
) -> None:
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


async def test_server_side_emit_with_and_without_ack(
    cluster: tuple[Node, Node, list[Client]],
) -> None:
    a, b, _ = cluster
    heard: list[Any] = []
    b.cluster.on("ping", lambda *args: heard.append(args) or ("pong", *args))
    a.sio.server_side_emit("ping", 1)
    await until(lambda: heard == [(1,)])
    replies = await a.adapter.server_side_emit_with_ack(["ping", 2])
    assert list(replies) == [["pong", 2]] and replies.coverage.complete


async def test_broadcast_with_acks_across_nodes(cluster: tuple[Node, Node, list[Client]]) -> None:
    a, b, (a1, a2, b1, b2) = cluster
    for n, client in enumerate((a1, a2, b1, b2)):
        client.acks["q"] = f"ans{n}"
    results = await a.sio.timeout(3).emit_with_ack("q")
    assert results.complete
    assert results[a1.sid] == "ans0" and results[a2.sid] == "ans1"
    assert sorted(v for k, v in results.items() if k.startswith("~")) == ["ans2", "ans3"]
    results = await b.sio.to("r1").timeout(3).emit_with_ack("q")
    assert sorted(results.values()) == ["ans0", "ans2"]


async def test_the_server_api_reaches_the_cluster(
    cluster: tuple[Node, Node, list[Client]],
) -> None:
    """rtio.Server's and Namespace's own methods, not the adapter's: server-side handlers
    on the namespace, serverSideEmitWithAck, serverCount, room queries, fetch_sockets with
    its coverage, broadcasts with acks counting the other node's clients."""
    a, b, (a1, _a2, b1, b2) = cluster
    heard: list[Any] = []

    @b.sio.on_server_side("ping")
    async def ping(*args: Any) -> Any:
        heard.append(args)
        return ["pong", *args]

    a.sio.server_side_emit("ping", 1)
    await until(lambda: heard == [(1,)])
    replies = await a.sio.server_side_emit_with_ack("ping", 2)
    assert list(replies) == [["pong", 2]] and replies.coverage.complete
    assert await a.sio.server_side_emit_with_ack("nobody-handles-this", timeout=0.3) == []
    assert await a.sio.count_servers() == 2 and await b.sio.main.count_servers() == 2
    assert {"r1", "r2", a1.sid, b2.sid} <= await a.sio.main.cluster_rooms()
    assert await a.sio.main.cluster_room_members("r1") == {a1.sid, b1.sid}
    assert a.sio.main.rooms() >= {"r1"} and "r2" not in a.sio.main.rooms()
    found = await a.sio.to("r1").fetch_sockets()
    assert isinstance(found, FetchResult) and found.coverage.complete
    assert {s.id for s in found} == {a1.sid, b1.sid}
    # acks of clients of the other node only, no timeout: done once B's client answered
    b2.acks["q"] = "from-b2"
    results = await asyncio.wait_for(a.sio.to("r2").emit_with_ack("q"), 3)
    assert list(results.values()) == ["from-b2"] and results.complete
    # nobody anywhere, no timeout: done once B said it reached nobody (not never)
    loop = asyncio.get_running_loop()
    started = loop.time()
    results = await asyncio.wait_for(a.sio.to("empty-room").emit_with_ack("q"), 3)
    assert results == {} and results.complete and loop.time() - started < 1.5


async def test_adapters_close_with_their_namespace_and_the_server(
    redis_server: RedisServer,
) -> None:
    """A dropped child namespace's adapter leaves its channels (Node's adapter.close());
    so does every adapter of a server that shuts down."""
    a, b = Node(redis_server.port, "A"), Node(redis_server.port, "B")
    a.sio.of(re.compile(r"/dyn-\d+"), cleanup_empty_children=True)
    b.sio.of("/other")
    await a.start()
    await b.start()
    probe = Redis(port=redis_server.port)
    try:
        client = Client()
        await client.sio.connect(f"http://127.0.0.1:{a.port}", namespaces=["/dyn-1"],
                                 transports=["websocket"], wait_timeout=5)  # fmt: skip
        child = a.sio.namespaces["/dyn-1"].adapter
        assert isinstance(child, RedisAdapter)
        channel = child.channels.request

        async def subscribers(channel: str) -> int:
            return int(dict(await probe.pubsub_numsub(channel))[channel.encode()])

        await until_async(lambda: subscribers(channel), 1)
        await client.sio.disconnect()
        await until(lambda: "/dyn-1" not in a.sio.namespaces)
        assert child.closed and "/dyn-1" not in a.cluster.adapters
        await until_async(lambda: subscribers(channel), 0)
        assert a.adapter.server_count() >= 1 and not a.adapter.closed
        main = a.adapter.channels.request
        assert await subscribers(main) == 2
        await a.sio.shutdown()
        assert a.adapter.closed
        await until_async(lambda: subscribers(main), 1)  # B's only
        assert await b.sio.count_servers() == 1
    finally:
        await probe.aclose()
        await a.stop()
        await b.stop()


async def until_async(value: Any, want: Any, timeout: float = 3.0) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while (got := await value()) != want:
        if loop.time() > deadline:
            raise AssertionError(f"{got!r} != {want!r} in time")
        await asyncio.sleep(0.03)


async def test_a_node_that_never_answers_gives_a_partial_result_named(
    cluster: tuple[Node, Node, list[Client]], redis_server: RedisServer
) -> None:
    """Issue 14: a silent node does not make fetch_sockets fail; when it goes away while
    the request waits, the answer comes back early, saying how many nodes are missing and
    naming the rtio ones."""
    a, b, (a1, a2, _b1, _b2) = cluster
    found = await a.adapter.fetch_sockets(BroadcastOptions())
    assert found.coverage.complete and b.adapter.uid in a.adapter.known_nodes
    # B goes deaf (its link stops reading) but stays subscribed; a stranger subscribes too
    stranger = Redis(port=redis_server.port)
    pubsub = stranger.pubsub()
    await pubsub.subscribe(a.adapter.channels.request)
    b.cluster.link._on_message = lambda delivery: None  # type: ignore[method-assign]
    loop = asyncio.get_running_loop()
    started = loop.time()
    found = await a.adapter.fetch_sockets(BroadcastOptions())
    waited = loop.time() - started
    assert {s.id for s in found} == {a1.sid, a2.sid}
    assert found.coverage.expected == 2 and found.coverage.missing == 2
    assert found.coverage.missing_nodes == {b.adapter.uid}
    assert 1.9 < waited < 3.5  # requests_timeout 2 s
    # now the stranger dies while a fetch is pending: B (still silent) is the only one left
    task = asyncio.ensure_future(a.adapter.fetch_sockets(BroadcastOptions()))
    await asyncio.sleep(0.3)
    await pubsub.aclose()
    await stranger.aclose()
    await b.stop()  # B leaves Redis too: nobody is left to wait for
    found = await asyncio.wait_for(task, 3)
    assert found.coverage.gone == 2 and found.coverage.missing == 2
    assert loop.time() - started - waited < 1.5


async def test_rtio_emitter_reaches_rtio_nodes(cluster: tuple[Node, Node, list[Client]],
                                               redis_server: RedisServer) -> None:  # fmt: skip
    a, b, (a1, a2, b1, b2) = cluster
    heard: list[Any] = []
    a.cluster.on("job", lambda *args: heard.append(args))
    async with Emitter(f"redis://127.0.0.1:{redis_server.port}") as emitter:
        await emitter.to("r1").emit("news", 1, b"\x01")
        await emitter.except_("r1").volatile.emit("others")
        await emitter.to("r2").sockets_join("from-emitter")
        await emitter.server_side_emit("job", "x")
        await until(lambda: a1.got("news") == [(1, b"\x01")] and b1.got("news"))
        await until(lambda: a2.got("others") and b2.got("others"))
        await until(lambda: b2.sid in b.adapter.members("from-emitter") and heard == [("x",)])
        assert a1.got("others") == [] and b1.got("others") == []
        await emitter.to("r2").sockets_leave("from-emitter")
        await until(lambda: b2.sid not in b.adapter.members("from-emitter"))
        await emitter.to(a2.sid).disconnect_sockets()
        await until(lambda: not a2.sio.connected)


def test_factory_builds_a_cluster_from_a_url() -> None:
    cluster = RedisAdapter.factory(url="redis://:pw@example:7000/3", requests_timeout=1.5)
    assert isinstance(cluster, RedisCluster)
    link = cluster.link.options
    assert (link.host, link.port, link.db, link.password) == ("example", 7000, 3, "pw")
    assert cluster.options.requests_timeout == 1.5


async def test_redis_killed_and_restarted_mid_run(redis_server: RedisServer) -> None:
    """Issue 14 faults: Redis SIGKILLed mid-run: nothing crashes, a cluster request answers
    with this node's part and says Redis is unreachable, a broadcast made meanwhile is
    buffered (bounded) and replayed on reconnect, and broadcasts flow again.

    A reconnects a second after B here: a replay published before the other nodes have
    resubscribed is lost to them (pub/sub keeps nothing), see docs/SCALING.md."""
    slow = Backoff(base=1.0, cap=1.0, floor=1.0)
    a, b = Node(redis_server.port, "A", backoff=slow), Node(redis_server.port, "B")
    await a.start()
    await b.start()
    a1 = await Client().connect(a, user="a1")
    b1 = await Client().connect(b, user="b1")
    try:
        redis_server.kill()
        await until(lambda: a.cluster.link.state.value != "connected", 5)
        a.sio.emit("during", 1)
        await until(lambda: bool(a1.got("during")))  # local delivery goes on
        found = await a.adapter.fetch_sockets(BroadcastOptions())
        assert [s.id for s in found] == [a1.sid]
        assert found.coverage.error is not None and not found.coverage.complete
        await until(lambda: a.cluster.link.buffered[0] >= 1)
        assert a.cluster.link.buffered[1] < 1024  # one broadcast, held within the bound
        redis_server.start()
        await until(lambda: b1.got("during") == [(1,)], 10)
        assert a.cluster.link.replayed >= 1 and a.cluster.link.buffered == (0, 0)
        b.sio.emit("after")
        await until(lambda: bool(a1.got("after")), 5)
    finally:
        for client in (a1, b1):
            with contextlib.suppress(Exception):
                await client.sio.disconnect()
        await a.stop()
        await b.stop()


async def test_answers_on_the_specific_response_channel(redis_server: RedisServer) -> None:
    """publishOnSpecificResponseChannel: answers go to the requester's own channel."""
    a = Node(redis_server.port, "A", specific=True)
    b = Node(redis_server.port, "B", specific=True)
    await a.start()
    await b.start()
    a1 = await Client().connect(a, user="a1")
    b1 = await Client().connect(b, user="b1", rooms=["r"])
    try:
        found = await a.adapter.fetch_sockets(BroadcastOptions(rooms=frozenset({"r"})))
        assert [s.id for s in found] == [b1.sid] and found.coverage.complete
        b1.acks["q"] = "yes"
        results = await a.sio.to("r").timeout(2).emit_with_ack("q")
        assert list(results.values()) == ["yes"] and results.complete
        loop = asyncio.get_running_loop()
        started = loop.time()
        empty = await a.sio.to("nobody").timeout(1).emit_with_ack("q")
        assert dict(empty) == {} and empty.complete
        assert loop.time() - started < 1.5  # ended by its timeout (see the report: no hook)
    finally:
        for client in (a1, b1):
            with contextlib.suppress(Exception):
                await client.sio.disconnect()
        await a.stop()
        await b.stop()


async def test_limits_of_the_publisher_queue_and_of_pending_requests(
    redis_server: RedisServer, caplog: pytest.LogCaptureFixture
) -> None:
    """max_outbound: messages beyond it are dropped (counted, one warning), never queued;
    max_pending_requests: one request more answers at once with this node's part."""
    limits = {"max_outbound": 3, "max_pending_requests": 1}
    a = Node(redis_server.port, "A", adapter_options=limits)
    b = Node(redis_server.port, "B")
    await a.start()
    await b.start()
    stranger = Redis(port=redis_server.port)  # subscribed, never answers: requests wait
    pubsub = stranger.pubsub()
    await pubsub.subscribe(a.adapter.channels.request)
    try:
        caplog.set_level(logging.WARNING, "rtio.cluster")
        for n in range(10):  # no await between them: the publisher cannot run
            a.sio.emit("burst", n)
        assert a.cluster.dropped == 7 and a.cluster.queued == 3
        warnings = [r for r in caplog.records if "max_outbound" in r.getMessage()]
        assert len(warnings) == 1
        await until(lambda: a.cluster.queued == 0)
        first = asyncio.ensure_future(a.adapter.fetch_sockets(BroadcastOptions()))
        await until(lambda: len(a.adapter.requests) == 1)
        loop = asyncio.get_running_loop()
        started = loop.time()
        second = await a.adapter.fetch_sockets(BroadcastOptions())
        assert loop.time() - started < 0.5
        assert second.coverage.error == "overloaded" and list(second) == []
        assert any("max_pending_requests" in r.getMessage() for r in caplog.records)
        first.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await first
    finally:
        await pubsub.aclose()
        await stranger.aclose()
        await a.stop()
        await b.stop()
