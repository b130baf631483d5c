"""rtio.run (rtio.run_app and rtio.Server.run) in a real process: the app's startup,
shutdown and cleanup hooks run, a pending poll gets the close packet on SIGTERM, SIGINT
stops it too, the process exits 0, and ``front_options`` reach the front."""

from __future__ import annotations

import asyncio
import json
import signal
import socket
import sys
import textwrap
from pathlib import Path

import aiohttp

ROOT = Path(__file__).resolve().parents[1]

RUN_APP = """
import sys
sys.path.insert(0, {root!r})
from aiohttp import web
import rtio

sio = rtio.Server()
app = web.Application()
sio.attach(app)
for hook in ("startup", "shutdown", "cleanup"):
    async def say(_app, hook=hook):
        print(hook, flush=True)
    getattr(app, "on_" + hook).append(say)
rtio.run_app(app, host="127.0.0.1", port={port}, print=lambda s: print(s, flush=True))
print("exited", flush=True)
"""

SERVER_RUN = """
import sys
sys.path.insert(0, {root!r})
import rtio
rtio.Server().run(port={port}, print=lambda s: print(s, flush=True))
print("exited", flush=True)
"""

WITH_OPTIONS = """
import sys
sys.path.insert(0, {root!r})
import rtio
from rtio.http import FrontOptions
rtio.Server().run(
    port={port},
    front_options=FrontOptions(max_head=100, head_timeout=0.2),
    print=lambda s: print(s, flush=True),
)
"""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


async def start(code: str) -> tuple[asyncio.subprocess.Process, int, list[str]]:
    port = free_port()
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-c",
        textwrap.dedent(code.format(root=str(ROOT), port=port)),
        stdout=asyncio.subprocess.PIPE,
    )
    assert proc.stdout is not None
    lines: list[str] = []
    while True:
        line = (await asyncio.wait_for(proc.stdout.readline(), 20)).decode()
        assert line, f"the server exited early: {lines}"
        lines.append(line.strip())
        if "Running on" in line:
            return proc, port, lines


async def rest(proc: asyncio.subprocess.Process, lines: list[str]) -> list[str]:
    assert proc.stdout is not None
    out, _ = await asyncio.wait_for(proc.communicate(), 20)
    return lines + out.decode().split()


async def test_run_app_lifecycle_and_close_packet_on_sigterm() -> None:
    proc, port, lines = await start(RUN_APP)
    assert lines[0] == "startup" and "(rtio)" in lines[1]
    base = f"http://127.0.0.1:{port}/socket.io/?EIO=4&transport=polling"
    async with aiohttp.ClientSession() as http:
        async with http.get(base) as r:
            assert "aiohttp" not in r.headers.get("Server", "")
            sid = json.loads((await r.text())[1:])["sid"]
        poll = asyncio.create_task(http.get(f"{base}&sid={sid}"))
        await asyncio.sleep(0.5)  # for the GET to reach the server (nothing to wait on)
        proc.send_signal(signal.SIGTERM)
        async with await poll as r:
            assert await r.text() == "1"
    lines = await rest(proc, lines)
    assert proc.returncode == 0
    assert lines[-3:] == ["shutdown", "cleanup", "exited"]


async def test_server_run_stops_on_sigint() -> None:
    proc, port, lines = await start(SERVER_RUN)
    async with aiohttp.ClientSession() as http:
        url = f"http://127.0.0.1:{port}/socket.io/?EIO=4&transport=polling"
        async with http.get(url) as r:
            assert (await r.text()).startswith("0{")
    proc.send_signal(signal.SIGINT)
    lines = await rest(proc, lines)
    assert proc.returncode == 0 and lines[-1] == "exited"


async def test_front_options_reach_the_front() -> None:
    proc, port, lines = await start(WITH_OPTIONS)
    try:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(b"GET /socket.io/?EIO=4&transport=polling HTTP/1.1\r\nHost: t\r\n")
        writer.write(b"X-Long: " + b"x" * 100 + b"\r\n\r\n")
        answer = await asyncio.wait_for(reader.read(), 5)
        assert answer.startswith(b"HTTP/1.1 431 ")  # max_head=100
        writer.close()
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(b"GET /socket.io/ HTTP/1.1\r\n")  # and never the rest
        answer = await asyncio.wait_for(reader.read(), 5)
        assert answer.startswith(b"HTTP/1.1 408 ")  # head_timeout=0.2 (30 s by default)
        writer.close()
    finally:
        proc.send_signal(signal.SIGINT)
        await rest(proc, lines)
    assert proc.returncode == 0


DRAIN = """
import asyncio, sys
sys.path.insert(0, {root!r})
import rtio

sio = rtio.Server()

@sio.on("work")
async def work(socket):
    await asyncio.sleep(0.5)
    return "done"

sio.run(port={port}, print=lambda s: print(s, flush=True))
"""


async def test_at_sigterm_a_polling_client_gets_its_answer_before_the_close() -> None:
    # run_app drains while it still listens: the polling client (python-socketio's) can
    # post its pong and poll again while its handler works, then is told
    import socketio  # python-socketio, a test dependency

    proc, port, lines = await start(DRAIN)
    client = socketio.AsyncClient(reconnection=False)
    reasons: list[str] = []
    client.on("disconnect", lambda *reason: reasons.append(str(reason)))
    try:
        await client.connect(f"http://127.0.0.1:{port}", transports=["polling"])
        answer = asyncio.create_task(client.call("work", timeout=5))
        await asyncio.sleep(0.1)
        proc.send_signal(signal.SIGTERM)
        # a new session is refused while the server drains (503)
        async with aiohttp.ClientSession() as http:
            url = f"http://127.0.0.1:{port}/socket.io/?EIO=4&transport=polling"
            async with http.get(url) as r:
                assert r.status == 503
        assert await answer == "done"
        await rest(proc, lines)
        assert proc.returncode == 0
        for _ in range(50):
            if reasons:
                break
            await asyncio.sleep(0.1)
        assert reasons, "the client was not told"
    finally:
        await client.disconnect()
