"""The README's Python examples, run as written (only the port changed) and talked to with
python-socketio: the Quickstart server and the Mounting example."""

from __future__ import annotations

import asyncio
import os
import re
import socket
import subprocess
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import pytest
import socketio

ROOT = Path(__file__).resolve().parents[2]
README = (ROOT / "README.md").read_text()


def python_block(section: str) -> str:
    """The first ```python block under the README heading ``section``."""
    start = README.index(f"\n## {section}\n")
    match = re.compile(r"```python\n(.*?)```", re.S).search(README, start)
    assert match is not None, f"no Python example under {section!r}"
    return match.group(1)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


async def run_example(code: str, tmp_path: Path) -> AsyncIterator[str]:
    """Run ``code`` (its port 8000 moved to a free one) and yield its URL once it listens."""
    port = free_port()
    assert "8000" in code
    script = tmp_path / "server.py"
    script.write_text(code.replace("8000", str(port)))
    proc = subprocess.Popen(
        [sys.executable, str(script)], cwd=tmp_path, stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT, env={**os.environ, "PYTHONPATH": str(ROOT)},
    )
    try:
        for _ in range(200):
            try:
                _reader, writer = await asyncio.open_connection("127.0.0.1", port)
            except OSError:
                assert proc.poll() is None, proc.communicate()[0]
                await asyncio.sleep(0.05)
                continue
            writer.close()
            break
        yield f"http://127.0.0.1:{port}"
    finally:
        proc.terminate()
        proc.communicate(timeout=15)


@pytest.fixture
async def quickstart(tmp_path: Path) -> AsyncIterator[str]:
    async for url in run_example(python_block("Quickstart"), tmp_path):
        yield url


@pytest.fixture
async def mounting(tmp_path: Path) -> AsyncIterator[str]:
    async for url in run_example(python_block("Mounting in an existing aiohttp app"), tmp_path):
        yield url


async def test_the_quickstart_server_echoes_to_everyone_and_acks(quickstart: str) -> None:
    lines: asyncio.Queue[str] = asyncio.Queue()
    listener = socketio.AsyncClient(reconnection=False)
    listener.on("chat", lines.put_nowait)
    speaker = socketio.AsyncClient(reconnection=False)
    await listener.connect(quickstart, transports=["polling"], wait_timeout=5)
    await speaker.connect(quickstart, transports=["websocket"], wait_timeout=5)
    try:
        assert await speaker.call("chat", "hello", timeout=5) == "got it"
        sid = speaker.get_sid("/")
        assert sid is not None
        assert await asyncio.wait_for(lines.get(), 5) == f"{sid[:4]}: hello"
    finally:
        await speaker.disconnect()
        await listener.disconnect()


async def test_the_quickstart_allows_pages_from_any_origin(quickstart: str) -> None:
    # index.html is opened from a file: its Origin is "null"
    url = quickstart + "/socket.io/?EIO=4&transport=polling"
    async with aiohttp.ClientSession() as http, http.get(url, headers={"Origin": "null"}) as r:
        assert r.status == 200
        assert r.headers["Access-Control-Allow-Origin"] in ("*", "null")


async def test_the_mounting_example_serves_both(mounting: str) -> None:
    async with aiohttp.ClientSession() as http, http.get(mounting + "/health") as response:
        assert await response.text() == "ok"
    client = socketio.AsyncClient(reconnection=False)
    await client.connect(mounting, transports=["websocket"], wait_timeout=5)
    assert client.connected
    await client.disconnect()
