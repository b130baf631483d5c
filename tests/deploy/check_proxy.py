"""Connects python-socketio's client to an rtio server through a TLS proxy, over
long-polling, over WebSocket, and polling upgraded to WebSocket; each exchanges text and
binary with acks both ways and checks what the proxy forwarded. Exit status 0 when all
pass. Run by tests/stages/33-deploy.sh:

    python check_proxy.py NAME https://127.0.0.1:PORT CA_FILE
"""

from __future__ import annotations

import asyncio
import ssl
import sys
import time
from typing import Any

import aiohttp
import socketio


async def check(name: str, url: str, ca: str, transports: list[str]) -> None:
    context = ssl.create_default_context(cafile=ca)  # the proxy's certificate is verified
    http = aiohttp.ClientSession(connector=aiohttp.TCPConnector(ssl=context))
    client = socketio.AsyncClient(reconnection=False, http_session=http)
    client.on("question", lambda q: f"answer to {q}")
    started = time.monotonic()
    try:
        # a browser page of the same site sends this Origin: rtio's same-origin check must
        # pass through the proxy (Host or X-Forwarded-Host kept)
        await client.connect(url, transports=transports, wait_timeout=10,
                             headers={"Origin": url})
        reply: dict[str, Any] = await client.call("echo", {"text": "hé", "bin": b"\x00\xff"},
                                                  timeout=10)
        assert reply["data"] == {"text": "hé", "bin": b"\x00\xff"}, reply
        assert reply["forwarded_proto"] == "https", reply
        assert "127.0.0.1" in (reply["forwarded_for"] or ""), reply
        assert await client.call("ask_me", "x", timeout=10) == "answer to x"
        if transports == ["polling", "websocket"]:
            for _ in range(100):  # the upgrade happens in the background
                if client.transport() == "websocket":
                    break
                await asyncio.sleep(0.05)
        want = "polling" if transports == ["polling"] else "websocket"
        assert client.transport() == want, (transports, client.transport())
        print(f"{name}: {'+'.join(transports)} ok, on {client.transport()} "
              f"({time.monotonic() - started:.2f} s)")
    finally:
        await client.disconnect()
        await http.close()


async def main(name: str, url: str, ca: str) -> None:
    for transports in (["polling"], ["websocket"], ["polling", "websocket"]):
        await check(name, url, ca, transports)


if __name__ == "__main__":
    asyncio.run(main(*sys.argv[1:4]))
