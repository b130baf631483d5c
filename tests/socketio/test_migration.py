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


async def _connect(url: str, got: list[Any], namespaces: list[str] | None = None) -> Any:
    client = socketio.AsyncClient(reconnection=False)
    for nsp in namespaces or ["/"]:
        client.on("*", lambda event, *args: got.append((event, *args)), namespace=nsp)
    await client.connect(url, transports=["websocket"], namespaces=namespaces, wait_timeout=5)
    return client


async def _until(check: Any) -> None:
    for _ in range(200):
        if check():
            return
        await asyncio.sleep(0.01)
    raise AssertionError("condition not met in 2 s")


async def test_a_catch_all_handler_gets_the_events_without_a_handler(serve: Any) -> None:
    """Issue 16: ``@sio.on("*")`` was an ordinary event name; now python-socketio's
    catch-all: ``(socket, event, *args)``, its return value answers the ack."""
    sio = rtio.Server()
    seen: list[Any] = []
    sio.on("known", lambda socket, x: seen.append(("known", x)))

    @sio.on("*")
    async def any_event(socket: rtio.Socket, event: str, *args: Any) -> Any:
        seen.append((event, *args))
        return f"caught {event}"

    url = await serve(sio)
    client = await _connect(url, [])
    assert await client.call("other", (1, 2), timeout=5) == "caught other"
    await client.emit("known", 3)
    await client.emit("*", 4)  # a client's "*" is an event like any other
    await _until(lambda: len(seen) == 3)
    assert seen == [("other", 1, 2), ("known", 3), ("*", 4)]
    sio.off("*")
    assert None not in sio.main.handlers
    await client.disconnect()


async def test_emit_takes_sockets_and_python_socketio_room_and_skip_sid(serve: Any) -> None:
    """Issue 16: ``to=socket`` failed ("'Socket' object is not iterable") and
    ``room=``/``skip_sid=`` raised a bare TypeError: sockets are targets now, ``room`` is
    ``to`` and ``skip_sid`` is ``except_``."""
    sio = rtio.Server()
    sockets: list[rtio.Socket] = []

    @sio.on("connect")
    async def connect(socket: rtio.Socket, auth: Any) -> None:
        await socket.join("all")
        sockets.append(socket)

    url = await serve(sio)
    got = [[], [], []]  # type: list[list[Any]]
    clients = [await _connect(url, got[k]) for k in range(3)]
    a, b, c = sockets
    await sio.emit("one", 1, to=a)
    await sio.emit("two", 2, to=[b, c.id])
    await sio.emit("three", 3, room="all", skip_sid=a)
    await sio.emit("four", 4, skip_sid=[a, b])
    await sio.to(a).emit("five", 5)
    await b.to(c).emit("six", 6)
    await _until(lambda: sum(map(len, got)) == 8)
    assert got[0] == [("one", 1), ("five", 5)]
    assert got[1] == [("two", 2), ("three", 3)]
    assert got[2] == [("two", 2), ("three", 3), ("four", 4), ("six", 6)]
    with pytest.raises(TypeError, match="not both"):
        sio.emit("x", to="a", room="b")
    with pytest.raises(TypeError, match="emit_with_ack"):
        sio.emit("x", to=a, callback=print)
    for client in clients:
        await client.disconnect()


async def test_start_background_task_holds_the_task_and_logs_its_error(
    caplog: pytest.LogCaptureFixture,
) -> None:
    sio = rtio.Server()
    done: list[int] = []

    async def work(x: int, *, y: int) -> None:
        await asyncio.sleep(0)
        done.append(x + y)

    async def fail() -> None:
        raise RuntimeError("boom")

    await sio.start_background_task(work, 1, y=2)
    task = sio.start_background_task(fail)
    await asyncio.wait([task])
    await asyncio.sleep(0)
    assert done == [3] and "boom" in caplog.text


@pytest.mark.parametrize(
    ("name", "hint"),
    [
        ("call", "emit_with_ack"),
        ("sleep", "asyncio.sleep"),
        ("enter_room", "socket.join"),
        ("leave_room", "socket.leave"),
        ("get_session", "socket.data"),
        ("disconnect", "socket.disconnect()"),
    ],
)
def test_python_socketio_names_rtio_does_not_offer_say_the_rtio_way(name: str, hint: str) -> None:
    with pytest.raises(AttributeError, match="python-socketio") as info:
        getattr(rtio.Server(), name)
    assert hint in str(info.value) and "MIGRATION" in str(info.value)
    with pytest.raises(AttributeError, match="no attribute 'nothing'"):
        rtio.Server().nothing  # noqa: B018


def test_a_catch_all_namespace_is_refused_with_the_rtio_way() -> None:
    with pytest.raises(ValueError, match=r"re\.compile"):
        rtio.Server().on("x", lambda socket: None, namespace="*")


async def test_a_class_based_namespace_is_registered(serve: Any) -> None:
    """python-socketio's AsyncNamespace style: ``on_<event>`` methods."""

    class Chat:
        namespace = "/chat"

        def __init__(self) -> None:
            self.said: list[str] = []

        async def on_connect(self, socket: rtio.Socket, auth: Any) -> None:
            await socket.join("room")

        async def on_say(self, socket: rtio.Socket, text: str) -> str:
            self.said.append(text)
            await socket.to("room").emit("said", text)
            return "ok"

    chat = Chat()
    sio = rtio.Server()
    assert sio.register_namespace(chat) is sio.of("/chat")
    assert set(sio.of("/chat").handlers) == {"connect", "say"}
    url = await serve(sio)
    got: list[Any] = []
    listener = await _connect(url, got, ["/chat"])
    speaker = await _connect(url, [], ["/chat"])
    assert await speaker.call("say", "hi", namespace="/chat", timeout=5) == "ok"
    await _until(lambda: got == [("said", "hi")])
    assert chat.said == ["hi"]

    class Old:
        def on_connect(self, sid: str, environ: Any) -> None: ...

    with pytest.raises(TypeError, match="environ"):
        sio.register_namespace(Old(), "/old")
    await listener.disconnect()
    await speaker.disconnect()
