"""The parts of forwarding between machines, each alone: the sid layout and the hop token
(machines.py), the address option, the node id claim on a real redis-server (claim.py),
and the splice's bounded buffers (splice.py)."""

from __future__ import annotations

import asyncio
import os
import sys
import time
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from rtio.cluster.redis import LinkOptions
from rtio.workers.claim import ClaimError, ClaimState, NodeClaim, redis_client
from rtio.workers.forward import parse_address
from rtio.workers.machines import (
    TOKEN_WINDOW,
    TokenCheck,
    check_token,
    make_token,
    new_node_id,
    node_of,
    secret_bytes,
    sid_of,
)
from rtio.workers.splice import HIGH_WATER, Splice, SpliceState

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "cluster"))
from redis_server import REDIS_SERVER, RedisServer

SECRET = secret_bytes("a secret of sixteen bytes or more")


def test_the_sid_names_its_node() -> None:
    target = "/socket.io/?EIO=4&transport=polling&xsid=nope&sid=BxyABCDEFGHIJKLMNOPQ&t=1"
    sid = sid_of(target)
    assert sid == "BxyABCDEFGHIJKLMNOPQ"
    assert node_of(sid) == "xy"
    assert sid_of("/socket.io/?EIO=4&transport=polling") is None
    assert sid_of("/socket.io/?xsid=BxyABCDEFGHIJKLMNOPQ") is None
    assert node_of("short") is None
    assert node_of("B!yABCDEFGHIJKLMNOPQ") is None
    assert len(new_node_id()) == 2


def test_hop_tokens() -> None:
    sid = "BxyABCDEFGHIJKLMNOPQ"
    token = make_token(SECRET, sid, 1_000_000.0)
    assert check_token(SECRET, sid, token, 1_000_010.0) is TokenCheck.VALID
    assert check_token(SECRET, sid, None, 1_000_000.0) is TokenCheck.ABSENT
    assert check_token(SECRET, "BxyABCDEFGHIJKLMNOPR", token, 1_000_000.0) is TokenCheck.BAD
    assert check_token(SECRET, None, token, 1_000_000.0) is TokenCheck.BAD
    other = secret_bytes("another secret, sixteen bytes+")
    assert check_token(other, sid, token, 1_000_000.0) is TokenCheck.BAD
    late = 1_000_000.0 + TOKEN_WINDOW + 1
    assert check_token(SECRET, sid, token, late) is TokenCheck.BAD
    for bad in ("", "x", "1000000", "abc.def", "1000000.", "9" * 20 + ".00"):
        assert check_token(SECRET, sid, bad, 1_000_000.0) is TokenCheck.BAD, bad
    with pytest.raises(ValueError, match="16 bytes"):
        secret_bytes("short")


def test_forward_addresses() -> None:
    assert parse_address("10.0.0.7:8000") == ("10.0.0.7", 8000)
    assert parse_address("[fd00::7]:8000") == ("fd00::7", 8000)
    assert parse_address("node-2.internal:80") == ("node-2.internal", 80)
    for bad in ("10.0.0.7", ":8000", "host:0", "host:99999", "host:http"):
        with pytest.raises(ValueError, match="host:port"):
            parse_address(bad)


# -- the claim, on a real redis-server ---------------------------------------------------------


@pytest.fixture
async def redis(tmp_path: Path) -> AsyncIterator[RedisServer]:
    if REDIS_SERVER is None:
        reason = "redis-server is not installed (apt-get install -y redis-server)"
        if os.environ.get("RTIO_REQUIRE_REDIS") == "1":
            pytest.fail(reason)
        pytest.skip(reason)
    server = RedisServer(tmp_path)
    server.start()
    try:
        yield server
    finally:
        server.stop()


def _claim(server: RedisServer, address: str, ids: list[str], **kw: float) -> NodeClaim:
    client = redis_client(LinkOptions(port=server.port), "test")
    return NodeClaim(client, key="t", address=address, new_id=lambda: ids.pop(0), **kw)  # type: ignore[arg-type]


async def test_ids_are_claimed_once_looked_up_and_given_back(redis: RedisServer) -> None:
    first = _claim(redis, "10.0.0.1:80", ["AA"])
    second = _claim(redis, "10.0.0.2:80", ["AA", "AA", "AB"])  # collides twice
    try:
        assert await first.claim() == "AA"
        assert await second.claim() == "AB"
        assert first.state is ClaimState.CLAIMED
        assert await first.lookup("AB") == "10.0.0.2:80"
        assert first.cached("AB") == (True, "10.0.0.2:80")
        assert await first.lookup("ZZ") is None  # nobody: cached as absent, briefly
        assert first.cached("ZZ") == (True, None)
        assert await second.lookup("AA") == "10.0.0.1:80"
        await first.close()
        assert await second.redis.get("t#machine#AA") is None
        # a lookup that several requests wait for is one GET
        results = await asyncio.gather(*(second.lookup("QQ") for _ in range(5)))
        assert results == [None] * 5
    finally:
        await first.close()
        await second.close()


async def test_no_free_id_is_a_claim_error(redis: RedisServer) -> None:
    holder = _claim(redis, "10.0.0.1:80", ["AA"])
    taken = _claim(redis, "10.0.0.2:80", ["AA"] * 64)
    try:
        await holder.claim()
        with pytest.raises(ClaimError, match="taken"):
            await taken.claim()
    finally:
        await holder.close()
        await taken.close()


async def test_a_claim_is_refreshed_and_a_lost_one_replaced(redis: RedisServer) -> None:
    claim = _claim(redis, "10.0.0.1:80", ["AA", "AB"], ttl=5, refresh=0.05)
    new_ids: list[str] = []
    await claim.claim()
    task = asyncio.get_running_loop().create_task(claim.run(new_ids.append))
    try:
        await asyncio.sleep(0.2)
        assert 0 < await claim.redis.ttl("t#machine#AA") <= 5
        await claim.redis.delete("t#machine#AA")  # expired: re-created by the refresh
        await asyncio.sleep(0.2)
        assert await claim.redis.get("t#machine#AA") == claim.value
        await claim.redis.set("t#machine#AA", b'{"forward": "elsewhere:1"}')  # taken
        for _ in range(100):
            if new_ids:
                break
            await asyncio.sleep(0.02)
        assert new_ids == ["AB"] and claim.node_id == "AB"
    finally:
        task.cancel()
        await claim.close()


# -- the splice ----------------------------------------------------------------------------------


async def test_a_splice_holds_a_bounded_amount_when_the_owner_does_not_read() -> None:
    loop = asyncio.get_running_loop()
    upstream_reader: list[asyncio.StreamReader] = []
    got_upstream = asyncio.Event()

    async def upstream(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        upstream_reader.append(reader)
        got_upstream.set()
        await asyncio.sleep(3600)

    owner = await asyncio.start_server(upstream, "127.0.0.1", 0, limit=16384)
    owner_port = owner.sockets[0].getsockname()[1]
    splices: list[Splice] = []
    tasks: set[asyncio.Task[None]] = set()

    class Landing(asyncio.Protocol):
        def connection_made(self, transport: asyncio.BaseTransport) -> None:
            assert isinstance(transport, asyncio.Transport)
            splice = Splice(transport, idle_timeout=30)
            splices.append(splice)
            tasks.add(loop.create_task(splice.connect("127.0.0.1", owner_port, b"first ", 5)))

    landing = await loop.create_server(Landing, "127.0.0.1", 0)
    _reader, writer = await asyncio.open_connection(
        "127.0.0.1", landing.sockets[0].getsockname()[1])
    try:
        await asyncio.wait_for(got_upstream.wait(), 5)
        chunk = b"x" * 65536
        sent = 0
        # write until the client's own socket stops draining: the splice paused reading
        while True:
            writer.write(chunk)
            sent += len(chunk)
            try:
                await asyncio.wait_for(writer.drain(), 1.0)
            except asyncio.TimeoutError:
                break
            assert sent < 64 * 1024 * 1024, "the splice never pushed back"
        splice = splices[0]
        assert splice.state is SpliceState.OPEN
        assert splice.client.transport is not None and splice.upstream.transport is not None
        assert not splice.client.transport.is_reading()
        assert splice.upstream.transport.get_write_buffer_size() <= HIGH_WATER + 4 * 65536
        # the owner reads: every byte arrives, in order
        received = await asyncio.wait_for(upstream_reader[0].readexactly(len(b"first ") + 4096),
                                          10)  # fmt: skip
        assert received.startswith(b"first xxx")
        writer.close()
        for _ in range(100):
            if splice.state is SpliceState.CLOSED:
                break
            await upstream_reader[0].read(1 << 20)
            await asyncio.sleep(0.02)
        assert splice.state is SpliceState.CLOSED
    finally:
        writer.close()
        landing.close()
        owner.close()


async def test_a_splice_to_nobody_gives_the_connection_back() -> None:
    loop = asyncio.get_running_loop()
    outcome: asyncio.Future[object] = loop.create_future()
    tasks: set[asyncio.Task[None]] = set()

    class Landing(asyncio.Protocol):
        def connection_made(self, transport: asyncio.BaseTransport) -> None:
            assert isinstance(transport, asyncio.Transport)
            splice = Splice(transport)

            async def go() -> None:
                with socket_closed() as port:
                    try:
                        await splice.connect("127.0.0.1", port, b"", 5)
                    except OSError:
                        outcome.set_result(splice.abandon())

            tasks.add(loop.create_task(go()))

    landing = await loop.create_server(Landing, "127.0.0.1", 0)
    _reader, writer = await asyncio.open_connection(
        "127.0.0.1", landing.sockets[0].getsockname()[1])
    try:
        transport = await asyncio.wait_for(outcome, 10)
        assert isinstance(transport, asyncio.Transport) and not transport.is_closing()
        transport.close()
    finally:
        writer.close()
        landing.close()


class socket_closed:
    """A port nothing listens on (bound, then closed)."""

    def __enter__(self) -> int:
        import socket

        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            port: int = sock.getsockname()[1]
        return port

    def __exit__(self, *exc: object) -> None:
        return None


# -- Forwarding in one process, with owners of the test's own -----------------------------------


async def _get(port: int, target: str, headers: str = "") -> bytes:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(f"GET {target} HTTP/1.1\r\nHost: x\r\n{headers}\r\n".encode())
    try:
        return await asyncio.wait_for(reader.read(4096), 10)
    finally:
        writer.close()


async def test_forwarding_bounds_and_failures_in_one_process(redis: RedisServer) -> None:
    """A silent owner takes the one forwarded connection allowed (max_per_peer=1), with a
    valid hop token; the next request for it, one of a node nobody holds, and one of a
    node whose address refuses are answered here at once; a forged token is refused."""
    import json

    from aiohttp import web

    import rtio
    from rtio.cluster.redis import RedisAdapter
    from rtio.http import start_server
    from rtio.workers.forward import Forwarding

    cluster = RedisAdapter.factory(url=f"redis://127.0.0.1:{redis.port}")
    sio = rtio.Server(adapter=cluster)
    app = sio.make_app()
    cluster.attach(app)
    forwarding = Forwarding(cluster, address="127.0.0.1:1", secret=SECRET, max_per_peer=1,
                            connect_timeout=2)  # fmt: skip
    forwarding.attach(app)
    heads: list[bytes] = []
    writers: list[asyncio.StreamWriter] = []

    async def silent(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writers.append(writer)
        heads.append(await reader.readuntil(b"\r\n\r\n"))

    owner = await asyncio.start_server(silent, "127.0.0.1", 0)
    owner_port = owner.sockets[0].getsockname()[1]
    runner = web.AppRunner(app, handle_signals=False)
    await runner.setup()  # (the node id is claimed here)
    site = await start_server(runner, "127.0.0.1", 0, redirect=forwarding.redirect)
    forwarding.started(site)
    port = site.port
    client = redis_client(LinkOptions(port=redis.port), "test")
    try:
        assert len(forwarding.node_id) == 2
        z, y, x, w = [n for n in ("ZZ", "YY", "XX", "WW", "VV") if n != forwarding.node_id][:4]
        key = "socket.io#machine#"
        await client.set(key + z, json.dumps({"forward": f"127.0.0.1:{owner_port}"}))
        with socket_closed() as closed:
            await client.set(key + x, json.dumps({"forward": f"127.0.0.1:{closed}"}))
        await client.set(key + w, json.dumps({"forward": "no port"}))
        base = "/socket.io/?EIO=4&transport=polling&sid="
        sid = "A" + z + "q" * 17
        # forwarded: the owner gets the head with a valid token, and answers nothing
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(f"GET {base}{sid} HTTP/1.1\r\nHost: x\r\n\r\n".encode())
        for _ in range(200):
            if heads:
                break
            await asyncio.sleep(0.02)
        head = heads[0].decode()
        token = head.split("X-Rtio-Forwarded: ")[1].split("\r\n")[0]
        assert check_token(SECRET, sid, token, time.time()) is TokenCheck.VALID
        assert forwarding.open == {f"127.0.0.1:{owner_port}": 1}
        unknown = b'"Session ID unknown"'
        # max_per_peer reached: answered here
        assert unknown in await _get(port, base + sid)
        # a node nobody holds, a node whose address refuses: answered here, at once
        assert unknown in await _get(port, base + "A" + y + "q" * 17)
        assert unknown in await _get(port, base + "A" + x + "q" * 17)
        assert unknown in await _get(port, base + "A" + w + "q" * 17)  # a bad address
        assert forwarding.failed == 3 and forwarding.forwarded == 1
        # a forged token: 403; a valid one for a sid not of this process: served here
        answer = await _get(port, base + sid, "X-Rtio-Forwarded: 1.00\r\n")
        assert answer.startswith(b"HTTP/1.1 403") and forwarding.refused == 1
        valid = make_token(SECRET, sid, time.time())
        assert unknown in await _get(port, base + sid, f"X-Rtio-Forwarded: {valid}\r\n")
        assert forwarding.received == 1
        # the client of the forwarded connection leaves: the owner's side closes too
        writer.close()
        for _ in range(200):
            if not forwarding.open:
                break
            await asyncio.sleep(0.02)
        assert forwarding.open == {}
        del reader
    finally:
        for held in writers:
            held.close()
        owner.close()
        await client.aclose()
        await runner.cleanup()
    # the node id was given back at the app's cleanup
    client = redis_client(LinkOptions(port=redis.port), "test")
    try:
        assert sorted(await client.keys("socket.io#machine#*")) == sorted(
            f"socket.io#machine#{n}".encode() for n in (x, z, w))
    finally:
        await client.aclose()


def test_forwarding_takes_any_of_rtios_redis_clusters() -> None:
    from rtio.cluster.redis import LinkOptions, RedisAdapter, ShardedRedisAdapter
    from rtio.cluster.redis.streams import RedisStreamsCluster
    from rtio.workers.forward import Forwarding, redis_of

    classic = RedisAdapter.factory(url="redis://10.1.2.3:6380/2", key="app")
    assert redis_of(classic) == (LinkOptions(host="10.1.2.3", port=6380, db=2), "app")
    sharded = ShardedRedisAdapter.factory(url="redis://10.1.2.3:6380")
    assert redis_of(sharded)[0].port == 6380
    streams = RedisStreamsCluster("redis://10.1.2.3:6381")
    assert redis_of(streams) == (LinkOptions(host="10.1.2.3", port=6381), "socket.io")
    with pytest.raises(TypeError, match="Redis clusters"):
        Forwarding(object(), address="10.0.0.7:8000", secret=SECRET)
    with pytest.raises(ValueError, match="host:port"):
        Forwarding(classic, address="10.0.0.7", secret=SECRET)
    with pytest.raises(ValueError, match="16 bytes"):
        Forwarding(classic, address="10.0.0.7:8000", secret="short")
