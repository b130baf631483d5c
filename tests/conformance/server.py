"""One process serving every conformance app: Autobahn echo on /autobahn, the official
Engine.IO suite's echo app on /engine.io/, the official Socket.IO suite's app on /socket.io/.

    python tests/conformance/server.py --port PORT [--front aiohttp|rtio]

``--front rtio`` (default: $RTIO_FRONT, else aiohttp) listens with rtio's own HTTP/1.1
front (rtio.run_app): the engines' paths are answered by rtio.http, Autobahn's by aiohttp.

Each layer adds its app in ``app_<layer>.py`` beside this file, as a function
``setup(app: aiohttp.web.Application) -> None``; the ones present are mounted.
"""

from __future__ import annotations

import argparse
import asyncio
import importlib
import logging
import os
import sys
from pathlib import Path

from aiohttp import web

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent.parent))  # the repo root, for `import rtio`
sys.path.insert(0, str(HERE))

APPS = ("app_ws", "app_engine", "app_socketio")


def make_app() -> web.Application:
    app = web.Application()
    for name in APPS:
        if (HERE / f"{name}.py").exists():
            importlib.import_module(name).setup(app)
    return app


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, default=3000)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument(
        "--front", choices=("aiohttp", "rtio"), default=os.environ.get("RTIO_FRONT", "aiohttp")
    )
    args = parser.parse_args()
    fmt = "%(asctime)s %(levelname)s %(name)s: %(message)s"
    logging.basicConfig(level=logging.INFO, format=fmt)
    try:
        import uvloop

        asyncio.set_event_loop_policy(uvloop.EventLoopPolicy())
    except ImportError:
        pass
    say = lambda *a: print(*a, flush=True)  # noqa: E731
    if args.front == "rtio":
        import rtio

        rtio.run_app(make_app(), host=args.host, port=args.port, print=say)
    else:
        web.run_app(make_app(), host=args.host, port=args.port, print=say)


if __name__ == "__main__":
    main()
