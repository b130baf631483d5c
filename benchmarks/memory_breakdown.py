"""What each idle connection holds in the bench server, by allocation site (tracemalloc).

    .venv/bin/python benchmarks/memory_breakdown.py [--n 2000] [--top 30] [--layer rtio/socketio]
        [--front rtio|aiohttp]

Starts ``server.py``'s rtio server in this process with tracemalloc on, opens ``n`` idle
Socket.IO connections to it with the shared harness's load generator (``loadgen.js
idle-memory``), then prints the Python memory that appeared per connection, grouped by the
line that allocated it, and RSS growth per connection for comparison (RSS also counts what
tracemalloc cannot see: the C parts of uvloop and the allocator's slack); then the objects
the cyclic garbage collector tracks per connection, by type: each is visited by every
young-generation collection while the connection lives (the GC cost of a connect).

Needs the shared harness (``../shared/bench``, ``~/.cache/bench``); loopback only.
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import gc
import json
import os
import sys
import tracemalloc
from pathlib import Path

from aiohttp import web

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parent))

from server import make_server  # noqa: E402

from rtio.engine import ENGINES_KEY  # noqa: E402
from rtio.http import FrontSite  # noqa: E402

BENCH = HERE.parent.parent / "shared" / "bench"


def rss_kb() -> int:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmRSS"):
                return int(line.split()[1])
    return 0


async def main(n: int, top: int, port: int, layer: str | None, front: str) -> None:
    app = make_server().make_app()
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    # rtio's own HTTP/1.1 front, as server.py listens by default; or aiohttp's web stack
    site: web.BaseSite = (
        FrontSite(runner, "127.0.0.1", port, backlog=1024)
        if front == "rtio"
        else web.TCPSite(runner, "127.0.0.1", port, backlog=1024)
    )
    await site.start()
    env = dict(os.environ)
    # the harness's npm packages, where its setup.sh put them (its env.sh: $BENCH_HOME)
    home = os.environ.get("BENCH_HOME", str(Path.home() / ".cache/bench"))
    env["NODE_PATH"] = str(Path(home) / "node" / "node_modules")
    # warm up allocator and code paths with a few connections first, as the harness does
    gc.collect()
    tracked_before = _tracked()
    tracemalloc.start(1)
    before = tracemalloc.take_snapshot()
    rss_before = rss_kb()
    proc = await asyncio.create_subprocess_exec(
        "node",
        str(BENCH / "loadgen.js"),
        "idle-memory",
        "--port",
        str(port),
        "--n",
        str(n),
        "--settle",
        "3",
        "--pid",
        str(os.getpid()),
        "--timeout",
        "120",
        env=env,
        stdout=asyncio.subprocess.PIPE,
        stdin=asyncio.subprocess.PIPE,
    )
    # the load generator holds the connections until it prints its result and exits;
    # take the snapshot while they are open: poll the engine's session count
    sio_sessions = None
    for _ in range(600):
        await asyncio.sleep(0.1)
        sessions = _sessions(app)
        if sessions is not None and sessions >= n:
            sio_sessions = sessions
            break
    await asyncio.sleep(1.0)
    gc.collect()
    after = tracemalloc.take_snapshot()
    rss_after = rss_kb()
    tracked_after = _tracked()
    out, _ = await proc.communicate()
    stats = after.compare_to(before, "lineno")
    total = sum(s.size_diff for s in stats)
    count = sio_sessions or n
    print(f"connections open: {count}")
    print(f"RSS growth per connection: {(rss_after - rss_before) * 1024 / count:,.0f} bytes")
    print(f"Python allocations per connection (tracemalloc): {total / count:,.0f} bytes")
    print(f"{'bytes/conn':>10} {'blocks/conn':>11}  allocated at")
    shown = stats if layer is None else [s for s in stats if layer in s.traceback[0].filename]
    for s in shown[:top]:
        frame = s.traceback[0]
        where = f"{Path(frame.filename).name}:{frame.lineno}"
        if layer is not None:
            where = layer + frame.filename.split(layer, 1)[1] + f":{frame.lineno}"
        if "site-packages" in frame.filename:
            where = frame.filename.split("site-packages/")[1] + f":{frame.lineno}"
        print(f"{s.size_diff / count:10,.0f} {s.count_diff / count:11.2f}  {where}")
    groups: dict[str, int] = {}
    for s in after.compare_to(before, "filename"):
        groups[_group(s.traceback[0].filename)] = (
            groups.get(_group(s.traceback[0].filename), 0) + s.size_diff
        )
    print("by owner:")
    for name, size in sorted(groups.items(), key=lambda kv: -kv[1]):
        print(f"{size / count:10,.0f}  {name}")
    tracked_after.subtract(tracked_before)
    print(f"GC-tracked objects per connection: {sum(tracked_after.values()) / count:.2f}")
    for name, number in tracked_after.most_common(top):
        if number / count >= 0.05:
            print(f"{number / count:10.2f}  {name}")
    try:
        result = json.loads(out.decode().strip().splitlines()[-1])
        print(f"loadgen: bytes_per_conn={result.get('bytes_per_conn')} (RSS, harness method)")
    except (ValueError, IndexError):
        pass
    await runner.cleanup()


def _tracked() -> collections.Counter[str]:
    """The objects the cyclic GC tracks, counted by type."""
    return collections.Counter(
        f"{type(o).__module__}.{type(o).__qualname__}" for o in gc.get_objects()
    )


def _group(filename: str) -> str:
    """Who allocated: a layer of rtio, aiohttp (and its helpers), or the event loop."""
    path = filename.replace("\\", "/")
    for layer in ("rtio/ws/", "rtio/http/", "rtio/engine/", "rtio/socketio/"):
        if layer in path:
            return layer.rstrip("/")
    for lib in ("aiohttp", "multidict", "yarl"):
        if f"/{lib}/" in path:
            return "aiohttp (request, handler, response)"
    if path.endswith(("runners.py", "base_events.py", "events.py", "weakref.py")):
        return "event loop (uvloop transports, handles; C objects made in the loop)"
    return "other: " + Path(path).name


def _sessions(app: web.Application) -> int | None:
    engines = app.get(ENGINES_KEY)
    return sum(len(engine.sessions) for _, engine in engines) if engines else None


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=2000)
    parser.add_argument("--top", type=int, default=30)
    parser.add_argument("--port", type=int, default=5310)
    parser.add_argument("--layer", help="list only the lines of one layer, e.g. rtio/socketio")
    parser.add_argument("--front", choices=("rtio", "aiohttp"), default="rtio")
    args = parser.parse_args()
    try:
        import uvloop

        asyncio.set_event_loop_policy(uvloop.EventLoopPolicy())
    except ImportError:
        pass
    asyncio.run(main(args.n, args.top, args.port, args.layer, args.front))
