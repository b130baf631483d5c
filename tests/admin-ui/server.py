"""The server the admin UI test drives: rtio with ``sio.instrument()`` (password "s3cret",
bcrypt-hashed), the UI's own files (``ui/dist`` of @socket.io/admin-ui, from this
directory's node_modules) at /admin-ui/, /state (the sockets and their rooms, JSON), and
two clients of its own (rtio's client) in the room "lobby", one also in "vip".

    .venv/bin/python tests/admin-ui/server.py PORT
"""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path
from typing import Any

import bcrypt
from aiohttp import web

import rtio
from rtio.client import Client

UI = Path(__file__).resolve().parent / "node_modules/@socket.io/admin-ui/ui/dist"


def main(port: int) -> None:
    sio = rtio.Server()
    sio.instrument(
        auth={
            "type": "basic",
            "username": "admin",
            "password": bcrypt.hashpw(b"s3cret", bcrypt.gensalt(4)).decode(),
        },
        server_id="rtio-e2e",
    )

    @sio.on("join")
    def join(socket: Any, room: str) -> None:
        socket.join(room)

    app = sio.make_app()
    app.router.add_static("/admin-ui/", UI)

    async def state(request: web.Request) -> web.Response:
        return web.json_response(
            {sid: sorted(socket.rooms) for sid, socket in sio.sockets.items()}
        )

    app.router.add_get("/state", state)
    clients: list[Client] = []

    async def connect_clients() -> None:
        url = f"http://127.0.0.1:{port}"
        for rooms in (["lobby"], ["lobby", "vip"]):
            client = Client(url, reconnection=False)
            for _ in range(100):  # until the port is open
                try:
                    await client.connect(timeout=5)
                    break
                except rtio.ConnectError:
                    await asyncio.sleep(0.05)
            for room in rooms:
                await client.call("join", room, timeout=5)
            clients.append(client)

    async def on_startup(app: web.Application) -> None:
        app["clients"] = asyncio.get_running_loop().create_task(connect_clients())

    app.on_startup.append(on_startup)
    rtio.run_app(app, host="127.0.0.1", port=port, print=None)


if __name__ == "__main__":
    main(int(sys.argv[1]))
