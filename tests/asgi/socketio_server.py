"""tests/node/socketio_server.py's app served through rtio.asgi by a real ASGI server, for
the npm socket.io-client tests (tests/node/socketio*.test.mjs) and python-socketio's client:

    python tests/asgi/socketio_server.py [--port 0] [--server uvicorn|uvicorn-wsproto|hypercorn]

Prints the same lines as that script (``{"event": "listening", "port"}``, then one per
socket event, then ``stopped``). The Node tests start tests/node/socketio_server.py by path
with $RTIO_PYTHON: tests/asgi/python.sh, given as $RTIO_PYTHON, runs this script instead.
"""

from __future__ import annotations

import argparse
import asyncio
import importlib.util
import logging
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(HERE))

from serve import SERVERS, default_server, run_until_signal  # noqa: E402

import rtio.asgi  # noqa: E402

_spec = importlib.util.spec_from_file_location(
    "rtio_node_socketio_server", ROOT / "tests" / "node" / "socketio_server.py"
)
assert _spec is not None and _spec.loader is not None
node_app = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(node_app)


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--server", choices=SERVERS, default=default_server())
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    app = rtio.asgi.App(node_app.make_server())
    await run_until_signal(
        app,
        app,
        args.host,
        args.port,
        args.server,
        lambda port: node_app.out(event="listening", port=port),
    )
    node_app.out(event="stopped")


if __name__ == "__main__":
    asyncio.run(main())
