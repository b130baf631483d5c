"""uvicorn's own cost per Socket.IO echo: the floor under any Socket.IO server on it.

    .venv/bin/python benchmarks/asgi/uvicorn_floor.py PORT

A raw ASGI app under uvicorn with the settings of benchmarks/server.py ``--front uvicorn``
(uvloop, httptools, the default WebSocket implementation) that answers just the bench's
``echo`` scenario by string slicing, with no Socket.IO or Engine.IO server: the open
packet, ``40`` -> ``40{"sid":...}``, ``42N["echo",args]`` -> ``43N[args]``, ``2``/``3``
heartbeats ignored. Not a server: no parsing, no checks. Run it through the bench
(``BENCH_SERVER_CMD_UVICORN_FLOOR=".venv/bin/python benchmarks/asgi/uvicorn_floor.py \\$PORT"
/work/shared/bench/compare.sh uvicorn-floor rtio-uvicorn``, SCENARIOS=echo): its server
µs per echo is what uvicorn spends (framing, its queue, reads and writes); the rest of
rtio-uvicorn's is rtio's.
"""

from __future__ import annotations

import os
import sys
from typing import Any

OPEN = (
    '0{"sid":"floor","upgrades":[],"pingInterval":25000,"pingTimeout":20000,"maxPayload":1000000}'
)


async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
    if scope["type"] != "websocket":
        if scope["type"] == "http":
            await send({"type": "http.response.start", "status": 404, "headers": []})
            await send({"type": "http.response.body", "body": b""})
        return
    await receive()  # websocket.connect
    await send({"type": "websocket.accept"})
    await send({"type": "websocket.send", "text": OPEN})
    while True:
        message = await receive()
        if message["type"] != "websocket.receive":
            return
        text = message.get("text") or ""
        if text.startswith("42"):
            head, _, rest = text.partition('["echo",')
            await send({"type": "websocket.send", "text": "43" + head[2:] + "[" + rest})
        elif text.startswith("40"):
            await send({"type": "websocket.send", "text": '40{"sid":"floor"}'})


def main() -> None:
    import uvicorn

    port = int(sys.argv[1]) if len(sys.argv) > 1 else int(os.environ.get("PORT", "5000"))
    print(f"uvicorn floor on 127.0.0.1:{port} pid {os.getpid()}", flush=True)
    uvicorn.run(
        app,
        host="127.0.0.1",
        port=port,
        loop="uvloop",
        http="httptools",
        log_level="warning",
        access_log=False,
        backlog=1024,
    )


if __name__ == "__main__":
    main()
