"""Fixtures of rtio.client's tests: the app of client_apps.py on three servers (rtio and
python-socketio in-process, Node socket.io 4.8 as a process), restartable on the same
port, and a factory of connected clients closed at the end of each test."""

from __future__ import annotations

import asyncio
import os
import shutil
import subprocess
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web
from client_apps import make_python_socketio_server, make_rtio_server

from rtio.client import Client
from rtio.socketio.parsers import MsgpackParser

HERE = Path(__file__).resolve().parent
MODES = {
    "polling": ("polling",),
    "websocket": ("websocket",),
    "upgrade": ("polling", "websocket"),
}
NODE_READY = shutil.which("node") is not None and (HERE / "node_modules" / "socket.io").is_dir()


class LiveServer:
    """One of the three servers on 127.0.0.1; ``restart()`` keeps the port."""

    def __init__(self, kind: str, parser: str, *extra: str) -> None:
        self.kind = kind
        self.parser = parser
        self.extra = extra  # "recovery": connection state recovery on (rtio and Node)
        self.port = 0
        self._runner: web.AppRunner | None = None
        self._process: subprocess.Popen[str] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    async def start(self) -> None:
        if self.kind == "node":
            self._process = subprocess.Popen(
                ["node", str(HERE / "node_server.mjs"), str(self.port), self.parser, *self.extra],
                stdout=subprocess.PIPE,
                text=True,
            )
            assert self._process.stdout is not None
            line = await asyncio.wait_for(asyncio.to_thread(self._process.stdout.readline), 10)
            assert line.startswith("listening"), line
            self.port = int(line.split()[1])
            return
        if self.kind == "rtio":
            options = {"connection_state_recovery": True} if "recovery" in self.extra else {}
            app = make_rtio_server(self.parser, **options).make_app()
        else:
            app = web.Application()
            make_python_socketio_server(self.parser).attach(app)
        # shutdown_timeout: python-socketio leaves its WebSockets open at shutdown
        self._runner = web.AppRunner(app, handle_signals=False, shutdown_timeout=0.5)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", self.port, reuse_address=True)
        await site.start()
        self.port = self._runner.addresses[0][1]

    async def stop(self) -> None:
        if self._process is not None:
            self._process.terminate()
            await asyncio.to_thread(self._process.wait, 5)
            assert self._process.stdout is not None
            self._process.stdout.close()
            self._process = None
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def restart(self, pause: float = 0.0) -> None:
        await self.stop()
        await asyncio.sleep(pause)
        await self.start()


#: the servers to test against: rtio only by default (the unit stage), all three in the
#: client stage (tests/stages/65-client.sh sets RTIO_CLIENT_SERVERS=rtio,python-socketio,node)
SERVERS = os.environ.get("RTIO_CLIENT_SERVERS", "rtio").split(",")


def server_params() -> list[Any]:
    out = []
    for kind in ("rtio", "python-socketio", "node"):
        marks = []
        if kind not in SERVERS:
            marks.append(pytest.mark.skip(reason=f"{kind}: not in RTIO_CLIENT_SERVERS"))
        elif kind == "node" and not NODE_READY:
            marks.append(pytest.mark.skip(reason="node or tests/client/node_modules missing"))
        out.append(pytest.param(kind, marks=marks))
    return out


@pytest.fixture(params=server_params())
def kind(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture(params=["json", "msgpack"])
def parser(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture(params=list(MODES))
def mode(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
async def server(kind: str, parser: str) -> AsyncIterator[LiveServer]:
    live = LiveServer(kind, parser)
    await live.start()
    yield live
    await live.stop()


Connect = Callable[..., Awaitable[Client]]


@pytest.fixture
async def make_client(server: LiveServer, parser: str, mode: str) -> AsyncIterator[Connect]:
    """``await make_client(auth=..., connect=True, **options)``: a client of ``server``
    over ``mode`` with ``parser``; closed at the end of the test."""
    clients: list[Client] = []

    async def make(*, connect: bool = True, path: str = "", **options: Any) -> Client:
        options.setdefault("transports", MODES[mode])
        options.setdefault("reconnection", False)
        if parser == "msgpack":
            # python-socketio writes ``data: nil`` in packets without data (its
            # DISCONNECT), which the JS decoder, and rtio's by default, refuse
            options.setdefault("parser", MsgpackParser(nil_is_absent=server.kind != "node"))
        client = Client(server.url + path, **options)
        clients.append(client)
        if connect:
            await client.connect(timeout=5)
            if mode == "upgrade":
                await wait_for(lambda: client.transport == "websocket")
        return client

    yield make
    for client in clients:
        await client.close()


async def wait_for(predicate: Callable[[], bool], timeout: float = 5.0) -> None:
    """Poll ``predicate`` every 10 ms until it holds (AssertionError after ``timeout``)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not predicate():
        if loop.time() > deadline:
            raise AssertionError("condition not met in time")
        await asyncio.sleep(0.01)
