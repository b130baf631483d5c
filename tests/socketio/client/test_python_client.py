"""rtio against python-socketio's AsyncClient, an independent second client: over
WebSocket, polling only, and across the upgrade. The server is the app of
tests/node/socketio_server.py, run in-process on a free port; what it would print (the
server-side disconnect reasons) is collected instead."""

from __future__ import annotations

import asyncio
import importlib.util
import json
import sys
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest
import socketio
from aiohttp import web

import rtio

_path = Path(__file__).resolve().parents[2] / "node" / "socketio_server.py"
_spec = importlib.util.spec_from_file_location("rtio_test_socketio_server", _path)
assert _spec is not None and _spec.loader is not None
app_module = importlib.util.module_from_spec(_spec)
sys.modules[_spec.name] = app_module
_spec.loader.exec_module(app_module)

MODES = {
    "websocket": ["websocket"],
    "polling": ["polling"],
    "upgrade": ["polling", "websocket"],
}


class LiveServer:
    """The test app on 127.0.0.1, restartable on the same port."""

    def __init__(self) -> None:
        self.lines: list[dict[str, Any]] = []
        self.port = 0
        self.runner: web.AppRunner | None = None

    async def start(self) -> None:
        self.sio: rtio.Server = app_module.make_server()
        self.runner = web.AppRunner(self.sio.make_app(), handle_signals=False)
        await self.runner.setup()
        site = web.TCPSite(self.runner, "127.0.0.1", self.port, reuse_address=True)
        await site.start()
        self.port = self.runner.addresses[0][1]

    async def stop(self) -> None:
        assert self.runner is not None
        await self.runner.cleanup()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    async def reason(self, sid: str, event: str = "disconnect") -> str:
        for _ in range(300):
            for line in self.lines:
                if line.get("event") == event and line.get("sid") == sid:
                    reason: str = line["reason"]
                    return reason
            await asyncio.sleep(0.01)
        raise AssertionError(f"no {event} for {sid}: {self.lines}")


@pytest.fixture
async def server(monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[LiveServer]:
    live = LiveServer()
    monkeypatch.setattr(app_module, "out", lambda **fields: live.lines.append(fields))
    await live.start()
    yield live
    await live.stop()


@pytest.fixture(params=list(MODES))
def mode(request: pytest.FixtureRequest) -> str:
    name: str = request.param
    return name


Connect = Callable[..., Awaitable[socketio.AsyncClient]]


@pytest.fixture
async def connect(server: LiveServer, mode: str) -> AsyncIterator[Connect]:
    clients: list[socketio.AsyncClient] = []

    async def make(
        auth: Any = None, namespaces: list[str] | None = None, **options: Any
    ) -> socketio.AsyncClient:
        client = socketio.AsyncClient(reconnection=False, **options)
        clients.append(client)
        await client.connect(
            server.url,
            auth=auth,
            namespaces=namespaces or ["/"],
            transports=MODES[mode],
            wait_timeout=5,
        )
        if mode == "upgrade":
            for _ in range(200):
                if client.transport() == "websocket":
                    break
                await asyncio.sleep(0.01)
            assert client.transport() == "websocket"
        return client

    yield make
    for client in clients:
        if client.connected:
            await client.disconnect()


async def test_transport_and_identity(connect: Connect, mode: str) -> None:
    client = await connect(auth={"name": "py"})
    me = await client.call("whoami", timeout=5)
    assert me["transport"] == ("polling" if mode == "polling" else "websocket")
    assert me["id"] == client.get_sid("/") and len(me["id"]) == 20
    assert me["name"] == "py" and me["auth"] == {"name": "py"}


async def test_namespaces_with_auth_on_one_connection(connect: Connect) -> None:
    client = await connect(auth={"role": "admin"}, namespaces=["/", "/admin", "/dyn-3"])
    for nsp in ("/", "/admin", "/dyn-3"):
        me = await client.call("whoami", namespace=nsp, timeout=5)
        assert me["nsp"] == nsp and me["auth"] == {"role": "admin"}
        assert me["id"] == client.get_sid(nsp)


async def test_middleware_refusal_with_data(server: LiveServer, mode: str) -> None:
    client = socketio.AsyncClient(reconnection=False)
    errors: list[Any] = []
    client.on("connect_error", lambda data: errors.append(data))
    with pytest.raises(socketio.exceptions.ConnectionError):
        await client.connect(
            server.url, auth={"token": "bad"}, transports=MODES[mode], wait_timeout=5
        )
    assert errors == [{"message": "invalid token", "data": {"code": 401, "hint": "retry"}}]
    await client.disconnect()


async def test_events_and_acks_both_ways(connect: Connect) -> None:
    client = await connect()
    assert await client.call("echo", {"a": [1, None, True]}, timeout=5) == {"a": [1, None, True]}
    got: list[Any] = []

    @client.on("question")
    async def question(a: int, b: int) -> tuple[int, str]:
        return a + b, "ok"

    @client.on("hello")
    def hello(who: str) -> None:
        got.append(who)

    assert await client.call("ask", {"event": "question", "args": [1, 2]}, timeout=5) == {
        "answer": [3, "ok"]
    }
    await client.call("broadcast", {"event": "hello", "args": ["py"]}, timeout=5)
    for _ in range(100):
        if got:
            break
        await asyncio.sleep(0.01)
    assert got == ["py"]

    # a client handler that answers nothing in time: the server's ack times out
    @client.on("slow")
    async def slow() -> None:
        await asyncio.sleep(1)

    late = await client.call("ask", {"event": "slow", "timeout": 0.1}, timeout=5)
    assert late == {"error": "timeout"}


async def test_binary_nested_both_ways(connect: Connect) -> None:
    client = await connect()
    payload = {"file": b"\x00\x01\xff", "nested": {"list": [b"x", 5, {"deep": b"\x07" * 1000}]}}
    assert await client.call("echo", payload, timeout=5) == payload

    @client.on("blob")
    async def blob(obj: dict[str, bytes]) -> dict[str, Any]:
        return {"got": obj["data"], "len": len(obj["data"])}

    answer = await client.call(
        "ask", {"event": "blob", "args": [{"data": b"\x09\x08\x07"}]}, timeout=5
    )
    assert answer == {"answer": [{"got": b"\x09\x08\x07", "len": 3}]}


async def test_rooms_and_broadcasts_with_except(connect: Connect) -> None:
    a, b, c = [await connect() for _ in range(3)]
    got: dict[str, list[str]] = {"a": [], "b": [], "c": []}
    for name, client in (("a", a), ("b", b), ("c", c)):
        for event in ("r1", "r2", "r3", "end"):
            client.on(event, lambda *args, name=name, event=event: got[name].append(event))
    await a.call("join", "red", timeout=5)
    await b.call("join", ["red", "blue"], timeout=5)
    await c.call("join", "blue", timeout=5)
    await a.call("broadcast", {"event": "r1", "rooms": ["red"], "self": False}, timeout=5)
    b_sid = b.get_sid("/")
    await a.call(
        "broadcast", {"event": "r2", "rooms": ["red", "blue"], "except": [b_sid]}, timeout=5
    )
    await a.call("broadcast", {"event": "r3", "except": ["blue"], "volatile": True}, timeout=5)
    await a.call("broadcast", {"event": "end"}, timeout=5)
    for _ in range(300):
        if all("end" in events for events in got.values()):
            break
        await asyncio.sleep(0.01)
    assert got == {"a": ["r2", "r3", "end"], "b": ["r1", "end"], "c": ["r2", "end"]}


async def test_broadcast_acks_with_timeout(connect: Connect, mode: str) -> None:
    room = f"vote-py-{mode}"
    a, b, c = [await connect() for _ in range(3)]
    for client in (a, b, c):
        await client.call("join", room, timeout=5)
    a.on("vote", lambda q: f"yes to {q}")
    b.on("vote", lambda q: ("no", 2))

    @c.on("vote")
    async def never(q: str) -> str:
        await asyncio.sleep(2)
        return "too late"

    res = await a.call(
        "poll", {"rooms": [room], "event": "vote", "args": ["q"], "timeout": 0.3}, timeout=5
    )
    assert res["answers"] == {a.get_sid("/"): "yes to q", b.get_sid("/"): ["no", 2]}
    assert res["timedOut"] == [c.get_sid("/")]


async def test_a_slow_handler_holds_back_no_later_event(connect: Connect) -> None:
    """Issue 16: handlers start in arrival order and run concurrently once they await (as
    in Node): a slow handler no longer holds back the client's next event (on 61f677b the
    fast answer came after the slow one)."""
    client = await connect()
    order: list[str] = []

    async def call(seconds: float, tag: str) -> None:
        order.append(await client.call("sleep", (seconds, tag), timeout=5))

    slow = asyncio.ensure_future(call(0.15, "slow"))
    await asyncio.sleep(0)  # the slow one is sent first
    await asyncio.gather(slow, call(0, "fast"))
    assert order == ["fast", "slow"]


async def test_disconnect_reasons(connect: Connect, server: LiveServer, mode: str) -> None:
    # the client leaves
    client = await connect()
    sid = client.get_sid("/")
    await client.disconnect()
    # python-socketio queues DISCONNECT and the close packet, then closes a WebSocket
    # without waiting for its writer: over WebSocket the server may only see the close
    assert await server.reason(sid) in {"client namespace disconnect", "transport close"}
    if mode == "polling":
        assert await server.reason(sid) == "client namespace disconnect"

    # the server disconnects the socket, then the socket and the connection
    for close in (False, True):
        client = await connect()
        sid = client.get_sid("/")
        reasons: list[str] = []
        client.on("disconnect", lambda reason, reasons=reasons: reasons.append(reason))
        await client.emit("kick", {"close": close})
        assert await server.reason(sid) == "server namespace disconnect"
        for _ in range(200):
            if reasons:
                break
            await asyncio.sleep(0.01)
        assert reasons == [socketio.AsyncClient.reason.SERVER_DISCONNECT]

    # an invalid packet
    client = await connect()
    sid = client.get_sid("/")
    await client.eio.send('2["disconnecting"]')
    assert await server.reason(sid) == "parse error"

    # the transport goes away
    client = await connect()
    sid = client.get_sid("/")
    await client.eio.disconnect()
    assert await server.reason(sid) == "transport close"


async def test_graceful_shutdown_reaches_the_client(server: LiveServer, mode: str) -> None:
    client = socketio.AsyncClient(reconnection=True, reconnection_delay=0.1)
    reasons: list[str] = []
    client.on("disconnect", lambda reason: reasons.append(reason))
    await client.connect(server.url, transports=MODES[mode])
    sid = client.get_sid("/")
    await server.stop()
    assert await server.reason(sid) == "server shutting down"
    for _ in range(300):
        if reasons:
            break
        await asyncio.sleep(0.01)
    # python-engineio reads the close packet as a server disconnect, after which
    # python-socketio does not reconnect (by design); over polling the long-poll may end
    # first, which it reads as a dropped transport
    assert reasons and reasons[0] in {
        socketio.AsyncClient.reason.SERVER_DISCONNECT,
        socketio.AsyncClient.reason.TRANSPORT_ERROR,
    }
    await client.shutdown()
    await server.start()  # for the fixture's teardown


async def start_process(port: int = 0) -> tuple[asyncio.subprocess.Process, int]:
    proc = await asyncio.create_subprocess_exec(
        sys.executable, str(_path), "--port", str(port), stdout=asyncio.subprocess.PIPE
    )
    assert proc.stdout is not None
    line = await asyncio.wait_for(proc.stdout.readline(), 15)
    return proc, int(json.loads(line)["port"])


async def test_reconnects_after_a_server_crash_and_restart(mode: str) -> None:
    proc, port = await start_process()
    client = socketio.AsyncClient(
        reconnection=True,
        reconnection_delay=0.1,
        reconnection_delay_max=0.2,
        randomization_factor=0,
    )
    connects: list[str] = []
    reasons: list[str] = []
    client.on("connect", lambda: connects.append(client.get_sid("/")))
    client.on("disconnect", lambda reason: reasons.append(reason))
    second = None
    try:
        await client.connect(
            f"http://127.0.0.1:{port}", auth={"name": "again"}, transports=MODES[mode]
        )
        first = client.get_sid("/")
        proc.kill()  # no close packet: the client sees its transport drop
        await proc.wait()
        for _ in range(500):
            if reasons:
                break
            await asyncio.sleep(0.01)
        assert reasons == [socketio.AsyncClient.reason.TRANSPORT_ERROR], reasons
        second, _ = await start_process(port)
        for _ in range(2000):  # generous: a loaded machine starts Python slowly
            if len(connects) == 2:
                break
            await asyncio.sleep(0.01)
        assert len(connects) == 2 and connects[1] != first, (connects, reasons)
        me = await client.call("whoami", timeout=5)
        assert me["name"] == "again"
    finally:
        await client.shutdown()
        for p in (proc, second):
            if p is not None and p.returncode is None:
                p.kill()
                await p.wait()
