"""What connection state recovery costs (issue 17): µs per emit with recovery off and on,
and how long a restore takes.

    .venv/bin/python benchmarks/socketio/bench_recovery.py [--rounds 3] [--redis]

In process, with bench_dispatch.py's fake Engine.IO session (nothing of Engine.IO or the
WebSocket is measured): ``sio.emit`` to 1,000 sockets, ``socket.emit`` to one, with the
default adapter and with the SessionAwareAdapter (the offset appended, the event stored);
then a restore from a PacketLog of 10,000 events. With ``--redis`` (Debian's redis-server,
started on a free port by tests/cluster/redis_server.py): a restore with 100,000 entries in
the stream, from an offset 1,000 entries back (a client away for a moment) and from the
oldest one (the worst case, read in pages). Each figure is the best of ``--rounds``.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import tempfile
import time
import timeit
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parent.parent))
sys.path.insert(0, str(HERE.parent.parent / "tests" / "cluster"))

from bench_dispatch import FakeSession  # noqa: E402

import rtio  # noqa: E402
from rtio.socketio.client import Client  # noqa: E402
from rtio.socketio.recovery import ConnectionStateRecovery, PacketLog, Session  # noqa: E402


def best(fn: Any, rounds: int) -> float:
    timer = timeit.Timer(fn)
    number, _ = timer.autorange()
    return min(timer.repeat(rounds, number)) / number * 1e6


async def emits(recovery: bool, rounds: int) -> tuple[float, float]:
    sio = rtio.Server(connect_timeout=None, connection_state_recovery=recovery or None)
    clients = []
    for _ in range(1000):
        client = Client(sio, FakeSession(), sio.parser)  # type: ignore[arg-type]
        client.receive_message("0")
        clients.append(client)
    await asyncio.sleep(0)
    socket = next(iter(sio.main.sockets.values()))
    all_ = best(lambda: sio.emit("news", {"n": 1}), rounds)
    one = best(lambda: socket.emit("news", {"n": 1}), rounds)
    return all_, one


def memory_restore(rounds: int) -> float:
    log = PacketLog(ConnectionStateRecovery(), epoch="e")
    first = log.append(["news", 0], frozenset())
    for i in range(1, 10_000):
        log.append(["news", i], frozenset((f"r{i % 10}",)))

    def restore() -> None:
        log.persist(Session("s", "p", ["s", "r1"], {}))
        assert log.restore("p", first) is not None

    return best(restore, rounds)


async def redis_restore(rounds: int) -> tuple[float, float]:
    from redis.asyncio import Redis
    from redis_server import RedisServer

    from rtio.cluster.redis.link import LinkOptions
    from rtio.cluster.redis.streams import RedisStreamsCluster
    from rtio.cluster.streams import StreamsOptions

    with tempfile.TemporaryDirectory() as tmp:
        server = RedisServer(Path(tmp))
        server.start()
        try:
            cluster = RedisStreamsCluster(
                link=LinkOptions(port=server.port), options=StreamsOptions(max_len=200_000)
            )
            sio = rtio.Server(adapter=cluster, connection_state_recovery=True)
            await cluster.start()
            adapter = sio.main.adapter
            redis = Redis(port=server.port)
            ids: list[str] = []
            for start in range(0, 100_000, 5_000):
                pipe = redis.pipeline(transaction=False)
                for i in range(start, start + 5_000):
                    room = f"r{i % 10}"
                    data = (
                        '{"packet":{"type":2,"data":["news",%d]},'
                        '"opts":{"rooms":["%s"],"except":[]}}'
                    )
                    pipe.xadd("socket.io", {"uid": "x" * 16, "nsp": "/", "type": "3",
                                            "data": data % (i, room)})  # fmt: skip
                ids += [i.decode() for i in await pipe.execute()]

            async def restore(offset: str) -> float:
                times = []
                for _ in range(rounds):
                    await adapter.persist_session(Session("s", "p", ["s", "r1"], {}))
                    t = time.perf_counter()
                    restored = await adapter.restore_session("p", offset)
                    times.append(time.perf_counter() - t)
                    assert restored is not None
                return min(times) * 1000

            recent = await restore(ids[-1000])
            oldest = await restore(ids[0])
            await redis.aclose()
            await cluster.close()
            return recent, oldest
        finally:
            server.stop()


async def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--redis", action="store_true")
    args = ap.parse_args()
    off = await emits(False, args.rounds)
    on = await emits(True, args.rounds)
    print(f"sio.emit to 1,000 sockets: off {off[0]:.1f} µs, on {on[0]:.1f} µs")
    print(f"socket.emit to one:        off {off[1]:.2f} µs, on {on[1]:.2f} µs")
    print(f"in-memory restore, 10,000 events stored: {memory_restore(args.rounds):.0f} µs")
    if args.redis:
        recent, oldest = await redis_restore(args.rounds)
        print(
            "redis streams restore, 100,000 entries: "
            f"1,000 back {recent:.1f} ms, from the oldest {oldest:.1f} ms"
        )


if __name__ == "__main__":
    asyncio.run(main())
