"""Bursts through the cluster cost few round trips and few loop iterations: the publisher
sends what is queued in one pipeline, and the receiving link delivers what it has already
read in the same loop iteration (so each client gets the burst in one write). Bounds, not
timings: measured 20 x 20 broadcasts to 100 clients per node, benchmarks/cluster."""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any

import pytest

pytest.importorskip("redis", reason="redis-py is not installed (pip install rtio[redis])")

from redis_server import RedisServer
from test_cluster_adapter import Client, Node, until

from rtio.cluster.redis import ShardedRedisCluster


@pytest.mark.parametrize("sharded", [False, True])
async def test_a_burst_is_one_pipeline_and_is_delivered_in_few_loop_iterations(
    redis_server: RedisServer, sharded: bool
) -> None:
    extra: dict[str, Any] = {"cluster_class": ShardedRedisCluster} if sharded else {}
    a, b = Node(redis_server.port, "A", **extra), Node(redis_server.port, "B", **extra)
    await a.start()
    await b.start()
    b1 = await Client().connect(b, user="b1", rooms=["r"])
    batches: list[int] = []
    publish_many = a.cluster.link.publish_many

    async def recording(items: list[tuple[str, bytes]], *, sharded: bool = False) -> Any:
        batches.append(len(items))
        return await publish_many(items, sharded=sharded)

    a.cluster.link.publish_many = recording  # type: ignore[method-assign]
    # which loop iteration each message reaches B's adapter in
    loop = asyncio.get_running_loop()
    iteration = [0]
    ticking = [True]

    def tick() -> None:
        iteration[0] += 1
        if ticking[0]:
            loop.call_soon(tick)

    seen: list[int] = []
    on_message = b.cluster.link._on_message
    b.cluster.link._on_message = lambda d: (seen.append(iteration[0]), on_message(d))[1]  # type: ignore[method-assign]
    try:
        await asyncio.sleep(0.1)
        batches.clear()
        loop.call_soon(tick)
        for n in range(100):
            a.sio.to("r").emit("burst", n)
        await until(lambda: len(b1.got("burst")) == 100)
        ticking[0] = False
        assert [args[0] for args in b1.got("burst")] == list(range(100))  # in order
        assert sum(batches) == 100 and len(batches) <= 3, batches
        assert len(seen) == 100 and len(set(seen)) <= 10, sorted(set(seen))
    finally:
        ticking[0] = False
        with contextlib.suppress(Exception):
            await b1.sio.disconnect()
        await a.stop()
        await b.stop()
