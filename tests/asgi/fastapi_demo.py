"""The chat demo as a FastAPI app would serve it: FastAPI routes serve the browser app (its
page, its assets) and a JSON route of their own, and rtio is mounted at /socket.io, under a
real ASGI server. Stage 48 runs the Chromium chat tests (tests/e2e/chat.test.mjs) against it,
so the browser demo is checked through FastAPI as it is through ``rtio demo``:

    python tests/asgi/fastapi_demo.py [demo] --host 127.0.0.1 --port 8000
                                      [--server uvicorn|uvicorn-wsproto|hypercorn]

(the optional ``demo`` word lets chat.test.mjs's RTIO_CMD call it as it calls ``rtio demo``).
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent.parent))
sys.path.insert(0, str(HERE))

from fastapi import FastAPI  # noqa: E402
from fastapi.responses import FileResponse  # noqa: E402
from fastapi.staticfiles import StaticFiles  # noqa: E402
from serve import SERVERS, default_server, run_until_signal  # noqa: E402

import rtio.asgi  # noqa: E402
from rtio.demo import find_bundle  # noqa: E402
from rtio.demo.chat import create_server  # noqa: E402


def make_app() -> tuple[FastAPI, rtio.asgi.App]:
    dist = find_bundle()
    sio_app = rtio.asgi.App(create_server())
    api = FastAPI(lifespan=sio_app.lifespan)  # a mounted app gets no lifespan of its own

    @api.get("/")
    async def index() -> FileResponse:
        return FileResponse(dist / "index.html", headers={"Cache-Control": "no-cache"})

    @api.get("/favicon.svg")
    async def favicon() -> FileResponse:
        return FileResponse(dist / "favicon.svg")

    @api.get("/api/health")
    async def health() -> dict[str, str]:
        return {"status": "ok", "served_by": "fastapi"}

    api.mount("/assets", StaticFiles(directory=dist / "assets"), name="assets")
    api.mount("/socket.io", sio_app)
    return api, sio_app


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("command", nargs="?", choices=["demo"])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8000)
    parser.add_argument("--server", choices=SERVERS, default=default_server())
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    api, sio_app = make_app()
    await run_until_signal(
        api,
        sio_app,
        args.host,
        args.port,
        args.server,
        lambda port: print(f"chat demo through FastAPI on {args.host}:{port}", flush=True),
    )


if __name__ == "__main__":
    asyncio.run(main())
