"""One rtio process of the mixed-cluster tests (test_cluster_mixed.py): the same stdin /
stdout protocol as mixed_node.mjs, so that the test drives rtio's and Node's nodes alike.

    python mixed_rtio.py server <redis port> <name> [classic|sharded]
                                    rtio with RedisCluster (or ShardedRedisCluster) on a free port
    python mixed_rtio.py emitter <redis port>         rtio's Emitter

Commands {"id", "op", ...} get {"id", "result"} or {"id", "error"}; bytes travel as
{"$bin": "<hex>"}.
"""

from __future__ import annotations

import asyncio
import json
import logging
import sys
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from aiohttp import web

import rtio
from rtio.cluster.redis import Backoff, Emitter, LinkOptions, ShardedRedisCluster
from rtio.cluster.redis.adapter import (
    ClusterSocket,
    RedisAdapter,
    RedisAdapterOptions,
    RedisCluster,
)
from rtio.socketio import Socket


def to_py(value: Any) -> Any:
    if isinstance(value, list):
        return [to_py(v) for v in value]
    if isinstance(value, dict):
        if isinstance(value.get("$bin"), str):
            return bytes.fromhex(value["$bin"])
        return {k: to_py(v) for k, v in value.items()}
    return value


def to_json(value: Any) -> Any:
    if isinstance(value, bytes | bytearray):
        return {"$bin": bytes(value).hex()}
    if isinstance(value, list | tuple):
        return [to_json(v) for v in value]
    if isinstance(value, dict):
        return {k: to_json(v) for k, v in value.items()}
    if isinstance(value, set | frozenset):
        return sorted(value)
    return value


def out(obj: Any) -> None:
    sys.stdout.write(json.dumps(to_json(obj)) + "\n")
    sys.stdout.flush()


Op = Callable[[dict[str, Any]], Any]


async def serve(handlers: dict[str, Op]) -> None:
    loop = asyncio.get_running_loop()
    reader = asyncio.StreamReader()
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin)
    while line := await reader.readline():
        if not line.strip():
            continue
        cmd = to_py(json.loads(line))
        try:
            fn = handlers[cmd["op"]]
            result = fn(cmd)
            if isinstance(result, Awaitable):
                result = await result
            out({"id": cmd["id"], "result": result})
        except Exception as exc:  # reported to the test
            out({"id": cmd["id"], "error": f"{type(exc).__name__}: {exc}"})


def done(_: Any) -> None:
    return None


def select(op: Any, cmd: dict[str, Any]) -> Any:
    if cmd.get("to"):
        op = op.to(cmd["to"])
    if cmd.get("except"):
        op = op.except_(cmd["except"])
    if cmd.get("local"):
        op = op.local
    if cmd.get("volatile"):
        op = op.volatile
    if cmd.get("timeout"):
        op = op.timeout(cmd["timeout"] / 1000)
    return op


async def run_server(redis_port: int, name: str, wire: str = "classic") -> None:
    cluster_class = ShardedRedisCluster if wire == "sharded" else RedisCluster
    cluster = cluster_class(
        link=LinkOptions(
            port=redis_port,
            command_timeout=2.0,
            close_timeout=1.0,
            backoff=Backoff(base=0.05, cap=0.5),  # back quickly after the Redis restart test
        ),
        options=RedisAdapterOptions(requests_timeout=3.0, recount_interval=0.2),
        name=f"rtio-{name}",
    )
    sio = rtio.Server(adapter=cluster)
    heard: list[Any] = []

    @sio.on("connect")
    async def connect(socket: Socket, auth: dict[str, Any]) -> None:
        socket.data = {"node": name, "user": auth.get("user")}
        for room in auth.get("rooms", []):
            socket.join(room)

    for event in ("ping", "job"):

        def handler(*args: Any, event: str = event) -> Any:
            heard.append([event, *args])
            return ["pong", name, *args]

        sio.on_server_side(event, handler)  # the namespace's hook (cluster.on works too)

    adapter = sio.main.adapter
    assert isinstance(adapter, RedisAdapter)
    fetched: dict[str, Any] = {}

    async def fetch(cmd: dict[str, Any]) -> Any:
        result = await select(sio.main, cmd).fetch_sockets()  # rtio's API: a FetchResult
        fetched.clear()
        rows = []
        for s in result:
            fetched[s.id] = s
            hs = s.handshake
            if isinstance(s, ClusterSocket):
                auth, address = hs.get("auth"), hs.get("address")
            else:
                auth, address = hs.auth, hs.address
            row = {"id": s.id, "rooms": sorted(s.rooms), "data": s.data}
            rows.append({**row, "auth": auth, "address": address})
        cov = result.coverage
        return {
            "sockets": rows,
            "expected": cov.expected,
            "answered": cov.answered,
            "missing": cov.missing,
            "missing_nodes": sorted(cov.missing_nodes),
            "gone": cov.gone,
            "error": cov.error,
        }

    def remote(cmd: dict[str, Any]) -> None:
        s = fetched[cmd["sid"]]
        action = cmd["action"]
        if action == "emit":
            s.emit(cmd["event"], *cmd.get("args", []))
        elif action == "join":
            s.join(cmd["room"])
        elif action == "leave":
            s.leave(cmd["room"])
        elif action == "disconnect":
            s.disconnect(bool(cmd.get("close")))

    async def emit_with_ack(cmd: dict[str, Any]) -> Any:
        results = await select(sio.main, cmd).emit_with_ack(cmd["event"], *cmd.get("args", []))
        return [results[k] for k in sorted(results)]

    async def sse_ack(cmd: dict[str, Any]) -> Any:
        timeout = cmd.get("timeout", 3000) / 1000
        replies = await sio.server_side_emit_with_ack(cmd["event"], *cmd.get("args", []),
                                                      timeout=timeout)  # fmt: skip
        if not cmd.get("coverage"):
            return list(replies)
        cov = replies.coverage
        return {"replies": list(replies), "expected": cov.expected, "missing": cov.missing,
                "missing_nodes": sorted(cov.missing_nodes)}  # fmt: skip

    async def all_rooms(cmd: dict[str, Any]) -> Any:
        return sorted(await sio.main.cluster_rooms())

    handlers: dict[str, Op] = {
        "emit": lambda c: done(select(sio.main, c).emit(c["event"], *c.get("args", []))),
        "emitWithAck": emit_with_ack,
        "fetch": fetch,
        "remote": remote,
        "join": lambda c: done(select(sio.main, c).sockets_join(c["rooms"])),
        "leave": lambda c: done(select(sio.main, c).sockets_leave(c["rooms"])),
        "disconnect": lambda c: done(select(sio.main, c).disconnect_sockets(bool(c.get("close")))),
        "sse": lambda c: done(sio.server_side_emit(c["event"], *c.get("args", []))),
        "sseAck": sse_ack,
        "serverCount": lambda c: sio.count_servers(),
        "allRooms": all_rooms,
        "members": lambda c: sorted(adapter.members(c["room"])),
        "heard": lambda c: heard,
        "stats": lambda c: {"skipped": adapter.skipped, "received": adapter.received},
        "link": lambda c: {
            "state": cluster.link.state.value,
            "replayed": cluster.link.replayed,
            "buffered": list(cluster.link.buffered),
            "reconnects": cluster.link.reconnects,
        },
    }
    app = sio.make_app()
    cluster.attach(app)
    runner = web.AppRunner(app, handle_signals=False)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0).start()
    out({"ready": runner.addresses[0][1], "uid": adapter.uid})
    try:
        await serve(handlers)
    finally:
        await runner.cleanup()


async def run_emitter(redis_port: int) -> None:
    emitter = Emitter(f"redis://127.0.0.1:{redis_port}")
    await emitter.start()

    def sel(c: dict[str, Any]) -> Any:
        op: Any = emitter
        if c.get("to"):
            op = op.to(c["to"])
        if c.get("except"):
            op = op.except_(c["except"])
        if c.get("volatile"):
            op = op.volatile
        return op

    async def value(awaitable: Awaitable[Any]) -> str:
        return str(await awaitable)

    handlers: dict[str, Op] = {
        "emit": lambda c: value(sel(c).emit(c["event"], *c.get("args", []))),
        "join": lambda c: value(sel(c).sockets_join(c["rooms"])),
        "leave": lambda c: value(sel(c).sockets_leave(c["rooms"])),
        "disconnect": lambda c: value(sel(c).disconnect_sockets(bool(c.get("close")))),
        "sse": lambda c: value(emitter.server_side_emit(c["event"], *c.get("args", []))),
    }
    out({"ready": 0})
    try:
        await serve(handlers)
    finally:
        await emitter.close()


def main() -> None:
    logging.basicConfig(level=logging.INFO, stream=sys.stderr,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")  # fmt: skip
    mode = sys.argv[1]
    if mode == "server":
        asyncio.run(run_server(int(sys.argv[2]), sys.argv[3], *sys.argv[4:5]))
    elif mode == "emitter":
        asyncio.run(run_emitter(int(sys.argv[2])))
    else:
        sys.exit(
            "usage: mixed_rtio.py server <redis port> <name> [classic|sharded] | emitter <port>"
        )


if __name__ == "__main__":
    main()
