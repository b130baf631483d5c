"""The conformance apps of tests/conformance (the official suites' Engine.IO echo app on
/engine.io/ and Socket.IO app on /socket.io/, the same code) served through rtio.asgi by a
real ASGI server:

    python tests/asgi/conformance_server.py --port PORT [--server uvicorn|uvicorn-wsproto|hypercorn]

The two rtio.asgi Apps are chained (the Socket.IO one hands every other path to the
Engine.IO one), the way an app is put in front of another with ``other_app``.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests" / "conformance"))
sys.path.insert(0, str(HERE))

import app_engine  # noqa: E402
import app_socketio  # noqa: E402
from serve import SERVERS, default_server, run_until_signal  # noqa: E402

import rtio.asgi  # noqa: E402
from rtio.engine import EngineServer  # noqa: E402


def make_app() -> rtio.asgi.App:
    engine = rtio.asgi.App(
        EngineServer(app_engine.Echo(), app_engine.suite_options()), path="/engine.io/"
    )
    return rtio.asgi.App(app_socketio.make_server(), other_app=engine, path="/socket.io/")


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, default=3000)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--server", choices=SERVERS, default=default_server())
    args = parser.parse_args()
    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    app = make_app()
    await run_until_signal(
        app,
        app,
        args.host,
        args.port,
        args.server,
        lambda port: print(f"serving on {args.host}:{port} with {args.server}", flush=True),
    )


if __name__ == "__main__":
    asyncio.run(main())
