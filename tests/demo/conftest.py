"""Fixtures: the chat demo served in-process on a free port, and chat users on
python-socketio's AsyncClient (an independent Socket.IO client)."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import socketio
from aiohttp import web

from rtio.demo.chat import create_app

INDEX = "<!doctype html><title>rtio chat</title><script src='assets/app.js'></script>\n"


class _Errors(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.ERROR)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


@pytest.fixture(autouse=True)
def no_handler_errors() -> Iterator[None]:
    """Whatever a client sends, the chat's handlers never fail (rtio logs it if they do)."""
    errors = _Errors()
    logger = logging.getLogger("rtio")
    logger.addHandler(errors)
    try:
        yield
    finally:
        logger.removeHandler(errors)
    assert errors.records == [], [r.getMessage() for r in errors.records]


@pytest.fixture
def bundle(tmp_path: Path) -> Path:
    """A stand-in for the built browser app (the real one is tested in tests/e2e)."""
    dist = tmp_path / "dist"
    (dist / "assets").mkdir(parents=True)
    (dist / "index.html").write_text(INDEX)
    (dist / "favicon.svg").write_text("<svg xmlns='http://www.w3.org/2000/svg'/>")
    (dist / "assets" / "app.js").write_text("console.log('chat');\n")
    return dist


@pytest.fixture
async def url(bundle: Path) -> AsyncIterator[str]:
    """The base URL of a fresh chat server (its own rooms and history)."""
    runner = web.AppRunner(create_app(bundle), shutdown_timeout=1.0)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    yield f"http://127.0.0.1:{port}"
    await runner.cleanup()


class User:
    """One person in the chat: a Socket.IO client that records what the server sends."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.client = socketio.AsyncClient(reconnection=False)
        self.events: dict[str, asyncio.Queue[Any]] = {}
        for event in ("rooms", "presence", "message", "typing"):
            queue: asyncio.Queue[Any] = asyncio.Queue()
            self.events[event] = queue
            self.client.on(event, queue.put_nowait)

    @property
    def id(self) -> str:
        sid = self.client.get_sid("/")
        assert sid is not None
        return sid

    async def connect(self, url: str, transport: str = "websocket") -> None:
        await self.client.connect(
            url, auth={"name": self.name}, transports=[transport], wait_timeout=5
        )

    async def call(self, event: str, data: Any) -> Any:
        return await self.client.call(event, data, timeout=5)

    async def join(self, room: str, **extra: Any) -> dict[str, Any]:
        reply: dict[str, Any] = await self.call("join", {"room": room, **extra})
        assert reply["ok"], reply
        return reply

    async def next(self, event: str, timeout: float = 5.0) -> Any:
        """The next ``event`` the server sent."""
        return await asyncio.wait_for(self.events[event].get(), timeout)

    async def until(self, event: str, check: Callable[[Any], bool]) -> Any:
        """Skip ``event``s until one passes ``check``; return it."""
        while True:
            data = await self.next(event)
            if check(data):
                return data

    def drain(self, event: str) -> list[Any]:
        """What arrived for ``event`` so far, taken out."""
        queue = self.events[event]
        return [queue.get_nowait() for _ in range(queue.qsize())]

    async def quiet(self, event: str, seconds: float = 0.3) -> list[Any]:
        """What arrives for ``event`` within ``seconds``."""
        await asyncio.sleep(seconds)
        return self.drain(event)

    async def close(self) -> None:
        if self.client.connected:
            await self.client.disconnect()


@pytest.fixture
async def people(url: str) -> AsyncIterator[Callable[..., Awaitable[User]]]:
    """``await people("alice")``: a connected user (``transport="polling"`` for
    long-polling only); all are disconnected at the end."""
    users: list[User] = []

    async def connect(name: str, transport: str = "websocket") -> User:
        user = User(name)
        await user.connect(url, transport)
        users.append(user)
        return user

    yield connect
    for user in users:
        await user.close()


def counts(rooms: list[dict[str, Any]]) -> dict[str, int]:
    """A "rooms" event as {room: count}."""
    return {r["name"]: r["count"] for r in rooms}


def names(members: list[dict[str, str]]) -> list[str]:
    return [m["name"] for m in members]
