"""Habits from python-socketio that once failed in silence (issue 16), against its own
AsyncClient over a real socket, and at registration."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import pytest
import socketio
from aiohttp import web

import rtio


@pytest.fixture
async def serve() -> AsyncIterator[Any]:
    runners: list[web.AppRunner] = []

    async def start(sio: rtio.Server) -> str:
        runner = web.AppRunner(sio.make_app(), handle_signals=False)
        runners.append(runner)
        await runner.setup()
        await web.TCPSite(runner, "127.0.0.1", 0).start()
        return f"http://127.0.0.1:{runner.addresses[0][1]}"

    yield start
    for runner in runners:
        await runner.cleanup()


async def _refused(url: str, auth: dict[str, Any]) -> tuple[Any, bool]:
    """Connect python-socketio's AsyncClient; return what its connect_error handler got
    and whether it ever saw a connected socket."""
    client = socketio.AsyncClient(reconnection=False)
    errors: list[Any] = []
    connected: list[bool] = []
    client.on("connect_error", errors.append)
    client.on("connect", lambda: connected.append(True))
    with pytest.raises(socketio.exceptions.ConnectionError):
        await client.connect(url, auth=auth, transports=["websocket"], wait_timeout=5)
    await client.disconnect()
    return errors[0] if errors else None, bool(connected)


def _auth_server(refuse: Any) -> rtio.Server:
    sio = rtio.Server()

    @sio.on("connect")
    async def connect(socket: rtio.Socket, auth: dict[str, Any]) -> Any:
        await asyncio.sleep(0)  # as a database lookup would
        if auth.get("token") != "good":
            return refuse()
        return None

    return sio


def _raise(exc: BaseException) -> Any:
    raise exc


@pytest.mark.parametrize(
    ("refuse", "expected"),
    [
        (lambda: False, {"message": "Connection refused"}),
        (lambda: _raise(ConnectionRefusedError()), {"message": "Connection rejected by server"}),
        (lambda: _raise(ConnectionRefusedError("bad token")), {"message": "bad token"}),
        (
            lambda: _raise(ConnectionRefusedError("bad token", {"retry": False})),
            {"message": "bad token", "data": {"retry": False}},
        ),
        (
            lambda: _raise(socketio.exceptions.ConnectionRefusedError("bad", 1, 2)),
            {"message": "bad", "data": [1, 2]},
        ),
        (lambda: _raise(rtio.ConnectionRefused("no", data=3)), {"message": "no", "data": 3}),
        (lambda: _raise(KeyError("crashed")), {"message": "Connection refused"}),
    ],
    ids=["false", "builtin", "builtin-msg", "builtin-data", "python-socketio", "rtio", "crash"],
)
async def test_a_refusal_in_the_connect_handler_refuses(
    serve: Any, refuse: Any, expected: dict[str, Any]
) -> None:
    """Issue 16: returning False, raising ConnectionRefusedError (builtin or
    python-socketio's) or rtio.ConnectionRefused in ``connect`` refuses: the client gets
    connect_error, never a connected socket; the server keeps no socket."""
    sio = _auth_server(refuse)
    url = await serve(sio)
    error, connected = await _refused(url, {"token": "bad"})
    assert error == expected and not connected
    assert sio.sockets == {} and sio.main.rooms() == set()
    client = socketio.AsyncClient(reconnection=False)
    await client.connect(url, auth={"token": "good"}, transports=["websocket"], wait_timeout=5)
    assert client.connected and len(sio.sockets) == 1
    await client.disconnect()


async def test_emits_in_the_connect_handler_follow_the_connect_reply(serve: Any) -> None:
    """What the connect handler sends is held until it accepts (and dropped if it refuses)."""
    sio = rtio.Server()

    @sio.on("connect")
    async def connect(socket: rtio.Socket, auth: dict[str, Any]) -> bool:
        socket.emit("welcome", 1)
        await socket.join("lobby")
        await sio.to("lobby").emit("joined", socket.id)
        await asyncio.sleep(0.01)
        return auth.get("ok", False)

    url = await serve(sio)
    got: list[Any] = []
    client = socketio.AsyncClient(reconnection=False)
    client.on("welcome", lambda n: got.append(("welcome", n)))
    client.on("joined", lambda sid: got.append(("joined", sid)))
    await client.connect(url, auth={"ok": True}, transports=["websocket"], wait_timeout=5)
    for _ in range(100):
        if len(got) == 2:
            break
        await asyncio.sleep(0.01)
    assert got == [("welcome", 1), ("joined", client.get_sid())]
    await client.disconnect()
    error, connected = await _refused(url, {"ok": False})
    assert error == {"message": "Connection refused"} and not connected


@pytest.mark.parametrize(
    "handler",
    [
        lambda sid, environ, auth: None,  # python-socketio's connect
        lambda sid, environ: None,
        lambda socket, auth, *, user: None,  # a keyword rtio never passes
    ],
    ids=["sid-environ-auth", "sid-environ", "keyword-only"],
)
def test_a_connect_handler_rtio_cannot_call_is_refused_at_registration(handler: Any) -> None:
    """Issue 16: python-socketio's ``connect(sid, environ, auth)`` once got the auth dict
    as ``environ`` without a word; now registering it raises, with the rtio way."""
    sio = rtio.Server()
    with pytest.raises(TypeError) as info:
        sio.on("connect", handler)
    assert "connect" in str(info.value) and "connect" not in sio.main.handlers
    if "environ" in str(info.value):
        assert "(socket, auth)" in str(info.value) and "socket.handshake" in str(info.value)


def test_handlers_rtio_can_call_are_accepted() -> None:
    sio = rtio.Server()
    sio.on("connect", lambda socket, auth: None)
    sio.on("connect", lambda sid: None)
    sio.on("connect", lambda *args: None)
    sio.on("disconnect", lambda sid, reason: None)
    sio.on("chat", lambda sid, a, b, c: None)
