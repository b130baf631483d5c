"""rtio.client against three servers (rtio, python-socketio's AsyncServer, Node socket.io
4.8), over polling, WebSocket and the upgrade, with the JSON and msgpack parsers: the
same app (client_apps.py, node_server.mjs) on each."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from conftest import Connect, LiveServer, wait_for

from rtio.client import ConnectError


async def test_connect_with_auth(make_client: Connect, mode: str) -> None:
    client = await make_client(auth={"name": "ada", "n": 1})
    assert client.connected and client.id
    me = await client.call("whoami", timeout=5)
    assert me == {"id": client.id, "nsp": "/", "auth": {"name": "ada", "n": 1}}
    assert client.transport == ("polling" if mode == "polling" else "websocket")


async def test_auth_callable_is_asked_on_each_connect(make_client: Connect) -> None:
    calls = []

    async def auth() -> dict[str, Any]:
        calls.append(1)
        return {"call": len(calls)}

    client = await make_client(auth=auth)
    assert (await client.call("whoami", timeout=5))["auth"] == {"call": 1}


async def test_refused_connect_with_data(make_client: Connect) -> None:
    client = await make_client(connect=False, auth={"token": "bad"})
    seen: list[ConnectError] = []
    client.on("connect_error", seen.append)
    with pytest.raises(ConnectError) as info:
        await client.connect(timeout=5)
    assert info.value.message == "invalid token"
    assert info.value.data == {"code": 401}
    await wait_for(lambda: len(seen) == 1)
    assert seen[0].data == {"code": 401}
    assert not client.connected and not client.active


async def test_echo_nested_binary(make_client: Connect) -> None:
    client = await make_client()
    args = [1, "two", b"\x00\xff", {"a": [b"nested", {"b": b""}], "c": None}, [1.5, True]]
    assert await client.call("echo", *args, timeout=5) == tuple(args)
    assert await client.emit_with_ack("echo", "first", "second", timeout=5) == "first"


async def test_ack_callback_and_emit_while_connected(make_client: Connect) -> None:
    client = await make_client()
    got: asyncio.Future[tuple[Any, ...]] = asyncio.get_running_loop().create_future()
    client.emit("echo", b"\x01", "x", callback=lambda *a: got.set_result(a))
    assert await asyncio.wait_for(got, 5) == (b"\x01", "x")


async def test_server_asks_client_for_an_ack(make_client: Connect) -> None:
    client = await make_client()

    @client.on("question")
    async def question(a: int, blob: bytes) -> tuple[Any, ...]:
        await asyncio.sleep(0)
        return a + 1, blob + b"!", {"nested": [blob]}

    answer = await client.call(
        "ask", {"event": "question", "args": [41, b"\x02"], "timeout": 3}, timeout=5
    )
    assert answer == {"answer": [42, b"\x02!", {"nested": [b"\x02"]}]}


async def test_rooms(make_client: Connect) -> None:
    a = await make_client()
    b = await make_client()
    c = await make_client()
    got: dict[str, list[Any]] = {"a": [], "b": [], "c": []}
    for name, client in (("a", a), ("b", b), ("c", c)):
        client.on("news", lambda *args, name=name: got[name].append(args))
    assert await a.call("join", "room1", timeout=5) is True
    assert await b.call("join", "room1", timeout=5) is True
    assert await c.call("to_room", {"room": "room1", "event": "news", "args": [1, b"z"]}, timeout=5)
    await wait_for(lambda: got["a"] and got["b"])
    await asyncio.sleep(0.05)
    assert got == {"a": [(1, b"z")], "b": [(1, b"z")], "c": []}


async def test_namespaces_over_one_connection(make_client: Connect) -> None:
    client = await make_client(auth={"name": "main"})
    admin = client.socket("/admin", auth={"role": "guest"})
    # a refused namespace leaves the others as they were
    with pytest.raises(ConnectError) as info:
        await admin.connect(timeout=5)
    assert info.value.message == "admins only"
    assert info.value.data == {"role": "guest"}
    assert client.connected
    assert await client.call("echo", 1, timeout=5) == 1
    admin.auth = {"role": "admin"}
    await admin.connect(timeout=5)
    assert await admin.call("whoami", timeout=5) == {
        "id": admin.id, "nsp": "/admin", "auth": {"role": "admin"}
    }
    assert (await client.call("whoami", timeout=5))["nsp"] == "/"
    assert admin.manager is client.manager
    await admin.disconnect()
    assert client.connected
    assert await client.call("echo", 2, timeout=5) == 2


async def test_namespace_from_the_url(make_client: Connect) -> None:
    admin = await make_client(path="/admin", auth={"role": "admin"})
    assert (await admin.call("whoami", timeout=5))["nsp"] == "/admin"


async def test_server_disconnect(make_client: Connect) -> None:
    client = await make_client(reconnection=True, reconnection_delay=0.05)
    reasons: list[str] = []
    client.on("disconnect", reasons.append)
    client.emit("kick")
    await wait_for(lambda: reasons == ["io server disconnect"])
    await asyncio.sleep(0.2)
    assert not client.connected and not client.active  # not reconnected


async def test_restart_reconnects(
    server: LiveServer, make_client: Connect, mode: str
) -> None:
    """The server goes away and comes back on the same port: the client reconnects with
    backoff, joins its namespaces again, and sends what was emitted meanwhile."""
    client = await make_client(
        reconnection=True, reconnection_delay=0.05, reconnection_delay_max=0.2, auth={"n": 1}
    )
    events: list[Any] = []
    client.on("disconnect", lambda reason: events.append(("disconnect", reason)))
    client.on("connect", lambda: events.append("connect"))
    client.manager.on("reconnect", lambda attempt: events.append(("reconnect", attempt)))
    old_id = client.id
    await server.restart(pause=0.1)
    await wait_for(lambda: "connect" in events, timeout=10)
    assert events[0] in (("disconnect", "transport close"), ("disconnect", "transport error"))
    assert events[-2][0] == "reconnect"
    assert client.connected and client.id != old_id
    assert await client.call("whoami", timeout=5) == {"id": client.id, "nsp": "/", "auth": {"n": 1}}
