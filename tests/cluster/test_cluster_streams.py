"""Connection state recovery across nodes on the wire of @socket.io/redis-streams-adapter
0.3.1: the codec (rtio/cluster/streams.py) with byte vectors, then a real redis-server with
two rtio nodes (rtio.cluster.redis.streams), then a mixed cluster: an rtio node and a Node
socket.io 4.8 node (tests/cluster/streams/streams_node.mjs, the npm redis-streams-adapter)
where a client of one node recovers on the other, both ways.

The clients are rtio's (rtio.client); moving a client to another node is a new client
given the old one's pid and last offset (what a load balancer sending the reconnect
elsewhere amounts to): it sends ``{pid, offset}`` in its CONNECT and checks the pid of the
reply (``recovered``), as socket.io-client does.
"""

from __future__ import annotations

import asyncio
import base64
import json
import os
import shutil
import subprocess
import sys
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import msgpack
import pytest
from aiohttp import web
from redis.asyncio import Redis
from redis_server import RedisServer

import rtio
from rtio.client import Client
from rtio.cluster.messages import Broadcast, ClusterMessage, SocketsJoin
from rtio.cluster.redis.link import LinkOptions
from rtio.cluster.redis.streams import RedisStreamsCluster
from rtio.cluster.streams import (
    StreamSession,
    StreamsOptions,
    decode_entry,
    decode_session,
    encode_entry,
    encode_session,
    java_hash,
    next_offset,
    replays,
    stream_for,
)
from rtio.cluster.wire import WireOptions, WirePacket

HERE = Path(__file__).resolve().parent
NODE = shutil.which("node")
NODE_READY = (
    NODE is not None
    and (HERE / "streams" / "node_modules" / "@socket.io" / "redis-streams-adapter").is_dir()
)

# -- the codec ---------------------------------------------------------------------------


def test_java_hash_and_stream_names() -> None:
    assert java_hash("") == 0
    assert java_hash("/") == 47
    assert java_hash("hello") == 99162322  # Java's "hello".hashCode()
    assert java_hash("polygenelubricants") == -2147483648  # wraps to the smallest int
    assert stream_for("/chat", StreamsOptions()) == "socket.io"
    opts = StreamsOptions(stream_count=4)
    assert stream_for("/", opts) == "socket.io-3"  # 47 % 4
    assert stream_for("polygenelubricants", opts) == "socket.io-0"
    h = java_hash("/admin-x")
    expected = -(abs(h) % 4) if h < 0 else h % 4
    assert stream_for("/admin-x", opts) == f"socket.io-{expected}"


def test_entry_json_and_binary() -> None:
    message = ClusterMessage(
        "0123456789abcdef",
        "/",
        Broadcast(WirePacket(["ev", 1]), WireOptions(("r",), (), None)),
    )
    fields = encode_entry(message)
    assert fields == {
        "uid": "0123456789abcdef",
        "nsp": "/",
        "type": "3",
        "data": '{"packet":{"type":2,"data":["ev",1]},"opts":{"rooms":["r"],"except":[]}}',
    }
    back = decode_entry({k.encode(): v.encode() for k, v in fields.items()})
    assert back == message
    binary = ClusterMessage(
        "u" * 16, "/", Broadcast(WirePacket(["ev", b"\x00\x01"]), WireOptions())
    )
    fields = encode_entry(binary)
    assert not fields["data"].startswith("{")
    assert msgpack.unpackb(base64.b64decode(fields["data"]))["packet"]["data"] == [
        "ev",
        b"\x00\x01",
    ]
    assert decode_entry(fields).body == binary.body
    join = ClusterMessage("u" * 16, "/", SocketsJoin(WireOptions(("a",), (), None), ("b",)))
    assert decode_entry(encode_entry(join)) == join


@pytest.mark.parametrize(
    "fields",
    [{"type": "x"}, {"type": "3", "uid": "u", "nsp": "/", "data": "!!"}, {"type": "99"}],
)
def test_bad_entries(fields: dict[str, str]) -> None:
    from rtio.cluster.errors import MessageError

    with pytest.raises(MessageError):
        decode_entry(fields)


def test_session_round_trip_and_offsets() -> None:
    session = StreamSession("s" * 20, "p" * 20, ("s" * 20, "r"), {"k": [1, None]})
    raw = encode_session(session)
    assert msgpack.unpackb(base64.b64decode(raw)) == {
        "sid": "s" * 20,
        "pid": "p" * 20,
        "rooms": ["s" * 20, "r"],
        "data": {"k": [1, None]},
    }
    assert decode_session(raw) == session
    assert next_offset("1700000000000-0") == "1700000000000-1"
    assert replays(["s", "r"], [], [])
    assert replays(["s", "1"], [1], [])  # a room number, as Node writes it
    assert not replays(["s", "r"], ["x"], [])
    assert not replays(["s", "r"], [], ["s"])


def test_bad_options() -> None:
    for bad in ({"stream_count": 0}, {"block_time": 0}, {"max_len": 0}, {"restore_max_entries": 0}):
        with pytest.raises(ValueError):
            StreamsOptions(**bad)  # type: ignore[arg-type]


# -- live: rtio nodes on a real redis-server ------------------------------------------------


async def wait_for(check: Callable[[], Any], timeout: float = 10.0) -> None:
    loop = asyncio.get_running_loop()
    end = loop.time() + timeout
    while not check():
        if loop.time() > end:
            raise AssertionError("condition not met in time")
        await asyncio.sleep(0.02)


class RtioNode:
    """An rtio node with the streams adapter, the app of streams_node.mjs."""

    def __init__(self, redis_port: int, name: str) -> None:
        self.cluster = RedisStreamsCluster(
            link=LinkOptions(port=redis_port), options=StreamsOptions(block_time=1.0)
        )
        self.sio = sio = rtio.Server(
            connect_timeout=None,
            ping_interval=1.0,
            ping_timeout=1.0,
            adapter=self.cluster,
            connection_state_recovery=True,
        )
        self.events: list[dict[str, Any]] = []

        @sio.on("connect")
        def connect(socket: rtio.Socket, auth: Any) -> None:
            self.events.append(
                {"event": "connect", "sid": socket.id, "recovered": socket.recovered}
            )
            if not socket.recovered:
                socket.data = {"node": name}
                socket.emit("welcome", socket.id)

        @sio.on("disconnect")
        def disconnect(socket: rtio.Socket, reason: Any) -> None:
            self.events.append({"event": "disconnect", "sid": socket.id, "reason": str(reason)})

        @sio.on("join")
        def join(socket: rtio.Socket, room: str) -> list[str]:
            socket.join(room)
            return sorted(socket.rooms)

        @sio.on("whoami")
        def whoami(socket: rtio.Socket) -> dict[str, Any]:
            return {"id": socket.id, "rooms": sorted(socket.rooms), "data": socket.data,
                    "recovered": socket.recovered}  # fmt: skip

        self.runner: web.AppRunner | None = None
        self.url = ""

    async def start(self, port: int = 0) -> RtioNode:
        app = self.sio.make_app()
        self.cluster.attach(app)
        self.runner = web.AppRunner(app, handle_signals=False, shutdown_timeout=0.5)
        await self.runner.setup()
        await web.TCPSite(self.runner, "127.0.0.1", port, reuse_address=True).start()
        self.url = f"http://127.0.0.1:{self.runner.addresses[0][1]}"
        return self

    async def stop(self) -> None:
        if self.runner is not None:
            await self.runner.cleanup()

    def disconnected(self, sid: str) -> bool:
        return any(e["event"] == "disconnect" and e["sid"] == sid for e in self.events)


class NodeNode:
    """streams_node.mjs as a process."""

    def __init__(self, redis_port: int) -> None:
        self.redis_port = redis_port
        self.process: subprocess.Popen[str] | None = None
        self.events: list[dict[str, Any]] = []
        self.url = ""
        self._reader: asyncio.Task[None] | None = None

    async def start(self) -> NodeNode:
        self.process = subprocess.Popen(
            [NODE or "node", str(HERE / "streams" / "streams_node.mjs"), str(self.redis_port)],
            cwd=HERE / "streams",
            stdout=subprocess.PIPE,
            text=True,
        )
        self._reader = asyncio.get_running_loop().create_task(self._read())
        await wait_for(lambda: self.url, 15)
        return self

    async def _read(self) -> None:
        assert self.process is not None and self.process.stdout is not None
        while line := await asyncio.to_thread(self.process.stdout.readline):
            event = json.loads(line)
            if event["event"] == "listening":
                self.url = f"http://127.0.0.1:{event['port']}"
            self.events.append(event)

    def disconnected(self, sid: str) -> bool:
        return any(e["event"] == "disconnect" and e["sid"] == sid for e in self.events)

    async def stop(self) -> None:
        if self.process is not None:
            self.process.terminate()
            await asyncio.to_thread(self.process.wait, 5)
        if self._reader is not None:
            await asyncio.wait_for(self._reader, 5)


@pytest.fixture
async def redis_port(redis_server: RedisServer) -> AsyncIterator[int]:
    yield redis_server.port


def cut(client: Client) -> None:
    engine = client.manager.engine
    assert engine is not None
    engine.abort("transport close")


class Recorder:
    def __init__(self, client: Client) -> None:
        self.got: list[tuple[Any, ...]] = []
        client.on("news", lambda *args: self.got.append(("news", *args)))
        client.on("welcome", lambda *args: self.got.append(("welcome", *args)))
        client.on("ask", lambda *args: self.got.append(("ask", *args)))


async def moved(old: Client, url: str) -> tuple[Client, Recorder]:
    """The client of ``old`` reconnecting to another node with its pid and offset."""
    client = Client(url, transports=("websocket",), reconnection=False)
    client._pid = old._pid
    client._last_offset = old._last_offset
    rec = Recorder(client)
    await client.connect(timeout=10)
    return client, rec


async def session_saved(redis_port: int, pid: str | None) -> None:
    redis = Redis(port=redis_port)
    try:
        for _ in range(500):
            if await redis.exists(f"sio:session:{pid}"):
                return
            await asyncio.sleep(0.02)
        raise AssertionError(f"session {pid} not saved")
    finally:
        await redis.aclose()


async def hop(
    src: Any, dst: Any, redis_port: int, helper: Client, first: Client, rec: Recorder
) -> tuple[Client, Recorder]:
    """``first`` (a client of ``src`` in room "r") is cut, misses events sent from both
    nodes, and comes back on ``dst``: it must recover there."""
    old_id = first.id
    assert old_id is not None
    cut(first)
    await wait_for(lambda: src.disconnected(old_id))
    await session_saved(redis_port, first._pid)
    seen: list[Any] = []
    helper.on("news", lambda *args: seen.append(args[0]))
    await helper.call("send", {"to": ["r"], "event": "news", "args": ["a"]}, timeout=5)
    await wait_for(lambda: "a" in seen)
    await helper.call("send", {"to": ["other"], "event": "news", "args": ["no"]}, timeout=5)
    await helper.call("send", {"event": "news", "args": ["b"]}, timeout=5)
    await wait_for(lambda: "b" in seen)
    client, rec2 = await moved(first, dst.url)
    assert client.recovered and client.id == old_id
    await wait_for(lambda: len(rec2.got) == 2)
    assert [g[1] for g in rec2.got] == ["a", "b"]
    assert all(isinstance(g[-1], str) and "-" in g[-1] for g in rec2.got)  # stream ids
    me = await client.call("whoami", timeout=5)
    assert me["id"] == old_id and me["recovered"] is True and "r" in me["rooms"]
    return client, rec2


async def test_rtio_to_rtio(redis_port: int) -> None:
    a = await RtioNode(redis_port, "a").start()
    b = await RtioNode(redis_port, "b").start()
    clients: list[Client] = []
    try:
        first = Client(a.url, transports=("websocket",), reconnection=False)
        clients.append(first)
        rec = Recorder(first)
        await first.connect(timeout=10)
        await wait_for(lambda: len(rec.got) == 1)
        assert "-" in rec.got[0][-1]  # the welcome's offset is a stream id
        await first.call("join", "r", timeout=5)
        second, _ = await hop_rtio(a, b, redis_port, first)
        clients.append(second)
        me = await second.call("whoami", timeout=5)
        assert me["data"] == {"node": "a"}
    finally:
        for c in clients:
            await c.close()
        await a.stop()
        await b.stop()


async def hop_rtio(
    a: RtioNode, b: RtioNode, redis_port: int, first: Client
) -> tuple[Client, Recorder]:
    old_id = first.id
    assert old_id is not None
    cut(first)
    await wait_for(lambda: a.disconnected(old_id))
    await session_saved(redis_port, first._pid)
    a.sio.to("r").emit("news", "a")  # from the node it left
    a.sio.to("other").emit("news", "no")
    await asyncio.sleep(0.2)
    b.sio.emit("news", "b")  # from the node it comes back to
    b.sio.except_("r").emit("news", "no")
    await asyncio.sleep(0.3)
    client, rec = await moved(first, b.url)
    assert client.recovered and client.id == old_id
    await wait_for(lambda: len(rec.got) == 2)
    assert [g[1] for g in rec.got] == ["a", "b"]
    return client, rec


async def test_node_to_rtio_and_back(redis_port: int) -> None:
    if not NODE_READY:
        reason = "node or tests/cluster/streams/node_modules missing (stage 63 installs them)"
        if os.environ.get("RTIO_REQUIRE_STREAMS_NODE") == "1":
            pytest.fail(reason)
        pytest.skip(reason)
    node = await NodeNode(redis_port).start()
    ours = await RtioNode(redis_port, "rtio").start()
    clients: list[Client] = []
    try:
        helper = Client(node.url, transports=("websocket",), reconnection=False)
        clients.append(helper)
        await helper.connect(timeout=10)
        await helper.call("join", "r", timeout=5)  # it sees what it sends to the room
        first = Client(node.url, transports=("websocket",), reconnection=False)
        clients.append(first)
        rec = Recorder(first)
        await first.connect(timeout=10)
        await wait_for(lambda: len(rec.got) == 1)
        assert await first.call("join", "r", timeout=5) == sorted([first.id, "r"])
        # Node -> rtio: missed events sent by the Node node, restored by the rtio node
        second, _ = await hop(node, ours, redis_port, helper, first, rec)
        clients.append(second)
        me = await second.call("whoami", timeout=5)
        assert me["data"] == {"node": "node"}  # Node's socket.data, read from Node's session
        # rtio -> Node: the missed events sent through the rtio node this time
        old_id = second.id
        assert old_id is not None
        cut(second)
        await wait_for(lambda: ours.disconnected(old_id))
        await session_saved(redis_port, second._pid)
        ours.sio.to("r").emit("news", "c")
        ours.sio.to("other").emit("news", "no")
        await asyncio.sleep(0.2)
        await helper.call("send", {"event": "news", "args": ["d"]}, timeout=5)
        await asyncio.sleep(0.3)
        third, rec3 = await moved(second, node.url)
        clients.append(third)
        assert third.recovered and third.id == old_id
        await wait_for(lambda: len(rec3.got) == 2)
        assert [g[1] for g in rec3.got] == ["c", "d"]
        me = await third.call("whoami", timeout=5)
        assert me == {"id": old_id, "rooms": sorted([old_id, "r"]), "data": {"node": "node"},
                      "recovered": True}  # fmt: skip
        # live broadcasts cross both ways, with stream ids as offsets
        ours.sio.to("r").emit("news", "live")
        await wait_for(lambda: len(rec3.got) == 3)
        assert rec3.got[2][1] == "live" and "-" in rec3.got[2][-1]
    finally:
        for c in clients:
            await c.close()
        await ours.stop()
        await node.stop()


@pytest.mark.skipif(not NODE_READY, reason="node or tests/cluster/streams/node_modules missing")
async def test_requests_over_pubsub_both_ways(redis_port: int) -> None:
    """fetchSockets and serverSideEmit with acks between a Node node and an rtio node: each
    answers the other's requests on Node's pub/sub wire."""
    node = await NodeNode(redis_port).start()
    ours = await RtioNode(redis_port, "rtio").start()
    ours.cluster.on("ping", lambda arg: ["rtio", arg])
    clients: list[Client] = []
    try:
        on_node = Client(node.url, transports=("websocket",), reconnection=False)
        on_rtio = Client(ours.url, transports=("websocket",), reconnection=False)
        clients += [on_node, on_rtio]
        await on_node.connect(timeout=10)
        await on_rtio.connect(timeout=10)
        await on_rtio.call("join", "r", timeout=5)
        found = await on_node.call("fetch", timeout=10)
        by_id = {s["id"]: s for s in found}
        assert set(by_id) == {on_node.id, on_rtio.id}
        assert by_id[on_rtio.id]["rooms"] == sorted([on_rtio.id, "r"])
        assert by_id[on_rtio.id]["data"] == {"node": "rtio"}
        mine = await ours.sio.fetch_sockets()
        assert {s.id for s in mine} == {on_node.id, on_rtio.id}
        remote = next(s for s in mine if s.id == on_node.id)
        assert remote.data == {"node": "node"} and remote.handshake["auth"] == {}
        assert await on_node.call("sse", timeout=10) == [["rtio", "from node"]]
        answers = await ours.sio.main.adapter.server_side_emit_with_ack(["ping", "from rtio"], 5)
        assert answers == [["node", "from rtio"]]
        assert ours.sio.main.adapter.server_count() == 2
        # Node's broadcast with acks reaches the rtio node's client, whose ack goes back
        on_node.on("ask", lambda x: f"node-client {x}")
        on_rtio.on("ask", lambda x: f"rtio-client {x}")
        assert await on_node.call("ask_all", timeout=10) == ["node-client 1", "rtio-client 1"]
        # and rtio's broadcast with acks reaches the Node node's client
        results = await ours.sio.timeout(5).emit_with_ack("ask", 2)
        assert sorted(results.values()) == ["node-client 2", "rtio-client 2"]
        assert results.complete
    finally:
        for c in clients:
            await c.close()
        await ours.stop()
        await node.stop()


async def test_back_on_another_node_before_the_session_is_written(redis_port: int) -> None:
    """The client is back on node b at once, racing node a's SET of its session: the
    restore waits for it (StreamsOptions.restore_wait) instead of giving a new socket."""
    a = await RtioNode(redis_port, "a").start()
    b = await RtioNode(redis_port, "b").start()
    clients: list[Client] = []
    try:
        first = Client(a.url, transports=("websocket",), reconnection=False)
        clients.append(first)
        rec = Recorder(first)
        await first.connect(timeout=10)
        await wait_for(lambda: len(rec.got) == 1)
        old_id = first.id
        cut(first)  # and no wait for node a to see it
        second, _ = await moved(first, b.url)
        clients.append(second)
        assert second.recovered and second.id == old_id
    finally:
        for c in clients:
            await c.close()
        await a.stop()
        await b.stop()


async def test_node_killed_leaves_its_sessions_with_save_ahead(redis_port: int) -> None:
    """An rtio node with save_ahead is killed (SIGKILL: no close handler runs); its client
    recovers on another node, with its rooms and data as last written, and the events sent
    while it was away."""
    process = subprocess.Popen(
        [sys.executable, str(HERE / "streams" / "rtio_node.py"), str(redis_port)],
        stdout=subprocess.PIPE,
        text=True,
    )
    b = await RtioNode(redis_port, "b").start()
    clients: list[Client] = []
    try:
        assert process.stdout is not None
        line = await asyncio.wait_for(asyncio.to_thread(process.stdout.readline), 20)
        url = f"http://127.0.0.1:{json.loads(line)['port']}"
        first = Client(url, transports=("websocket",), reconnection=False)
        clients.append(first)
        rec = Recorder(first)
        await first.connect(timeout=10)
        await wait_for(lambda: len(rec.got) == 1)
        old_id = first.id
        assert await first.call("join", "r", timeout=5) == sorted([old_id, "r"])
        await asyncio.sleep(0.5)  # the room change written ahead (50 ms after it)
        await session_saved(redis_port, first._pid)
        process.kill()
        await asyncio.to_thread(process.wait, 10)
        await wait_for(lambda: not first.connected)  # the client sees its connection drop
        b.sio.to("r").emit("news", "while dead")
        b.sio.to("other").emit("news", "no")
        await asyncio.sleep(0.3)
        second, rec2 = await moved(first, b.url)
        clients.append(second)
        assert second.recovered and second.id == old_id
        await wait_for(lambda: len(rec2.got) == 1)
        assert rec2.got[0][1] == "while dead"
        me = await second.call("whoami", timeout=5)
        assert me["rooms"] == sorted([old_id, "r"]) and me["data"] == {"node": "killed"}
    finally:
        for c in clients:
            await c.close()
        await b.stop()
        if process.poll() is None:
            process.kill()
            process.wait(10)
        if process.stdout is not None:
            process.stdout.close()


async def test_save_ahead_is_deleted_on_a_client_disconnect(redis_port: int) -> None:
    """With save_ahead, a socket the client disconnects itself leaves no session."""
    node = RtioNode(redis_port, "a")
    node.cluster = RedisStreamsCluster(
        link=LinkOptions(port=redis_port), options=StreamsOptions(block_time=1.0, save_ahead=0.5)
    )
    node.sio.main.adapter = node.cluster(node.sio.main)
    await node.start()
    client = Client(node.url, transports=("websocket",), reconnection=False)
    try:
        await client.connect(timeout=10)
        await session_saved(redis_port, client._pid)
        old_id = client.id
        await client.disconnect()
        await wait_for(lambda: node.disconnected(old_id or ""))
        redis = Redis(port=redis_port)
        try:
            for _ in range(100):
                if not await redis.exists(f"sio:session:{client._pid}"):
                    break
                await asyncio.sleep(0.02)
            assert not await redis.exists(f"sio:session:{client._pid}")
        finally:
            await redis.aclose()
    finally:
        await client.close()
        await node.stop()


@pytest.mark.skipif(not NODE_READY, reason="node or tests/cluster/streams/node_modules missing")
async def test_an_acked_emit_is_not_replayed(redis_port: int) -> None:
    """Node stores a socket's acked emit in the stream (without an offset for the client);
    restoring after it, Node replays it as a plain event. rtio's restore skips it."""
    node = await NodeNode(redis_port).start()
    ours = await RtioNode(redis_port, "rtio").start()
    clients: list[Client] = []
    try:
        first = Client(node.url, transports=("websocket",), reconnection=False)
        clients.append(first)
        rec = Recorder(first)
        asked: list[Any] = []

        @first.on("ask")
        def ask(arg: Any) -> str:
            asked.append(arg)
            return "ok"

        await first.connect(timeout=10)
        await wait_for(lambda: len(rec.got) == 1)
        assert await first.call("ask_me", timeout=5) is True
        await wait_for(lambda: any(e["event"] == "answer" for e in node.events))
        assert asked == ["acked"]  # no offset appended to an acked emit
        old_id = first.id
        assert old_id is not None
        cut(first)
        await wait_for(lambda: node.disconnected(old_id))
        await session_saved(redis_port, first._pid)
        second, rec2 = await moved(first, ours.url)
        clients.append(second)
        assert second.recovered and second.id == old_id
        await asyncio.sleep(0.3)
        assert rec2.got == []  # the recorder listens for "ask" too
    finally:
        for c in clients:
            await c.close()
        await ours.stop()
        await node.stop()


async def test_a_restarted_node_recovers_its_clients(redis_port: int) -> None:
    """With Redis the sessions outlive the process: a node shut down ("server shutting
    down", a recoverable reason) and started again on the same port recovers its client."""
    a = await RtioNode(redis_port, "a").start()
    url = a.url
    port = int(url.rsplit(":", 1)[1])
    client = Client(url, transports=("websocket",), reconnection_delay=0.5, randomization_factor=0)
    rec = Recorder(client)
    try:
        await client.connect(timeout=10)
        await wait_for(lambda: len(rec.got) == 1)
        old_id = client.id
        await client.call("join", "r", timeout=5)
        await a.stop()
        await session_saved(redis_port, client._pid)
        a = await RtioNode(redis_port, "a2").start(port)
        await wait_for(lambda: client.connected, timeout=15)
        assert client.recovered and client.id == old_id
        me = await client.call("whoami", timeout=5)
        assert me["rooms"] == sorted([old_id, "r"]) and me["data"] == {"node": "a"}
    finally:
        await client.close()
        await a.stop()
