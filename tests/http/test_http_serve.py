"""rtio.http.serve: FrontSite and start_server in front of the real thing: an rtio.Server
attached to an aiohttp app with its own routes, served on a real socket; Engine.IO over
polling and over a WebSocket (the rtio.ws client) on the same port as aiohttp's pages, the
shutdown's close packets, the engines' routes, and the site as aiohttp's runner sees it."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest
from aiohttp import web

import rtio
from rtio.http import FrontSite, engine_routes, start_server
from rtio.ws import connect

TEXT = {"Content-Type": "text/plain;charset=UTF-8"}


@pytest.fixture
async def site() -> AsyncIterator[FrontSite]:
    sio = rtio.Server(ping_interval=20.0, ping_timeout=20.0)

    @sio.on("echo")
    def echo(socket: rtio.Socket, *args: Any) -> tuple[Any, ...]:
        return args

    async def page(request: web.Request) -> web.Response:
        return web.Response(text="page")

    app = web.Application()
    app.router.add_get("/page", page)
    sio.attach(app)
    started = await start_server(app, "127.0.0.1", 0)
    try:
        yield started
    finally:
        await started.runner.cleanup()


async def test_polling_websocket_and_pages_on_one_port(site: FrontSite) -> None:
    base = f"http://127.0.0.1:{site.port}"
    assert set(site.front.routes) == {"/socket.io/", "/socket.io"}
    async with aiohttp.ClientSession() as http:
        async with http.get(base + "/page") as r:
            assert (r.status, await r.text()) == (200, "page")
        # that keep-alive connection is aiohttp's now: Engine.IO on it goes through the
        # route attach() added
        async with http.get(base + "/socket.io/?EIO=4&transport=polling") as r:
            assert "aiohttp" in r.headers["Server"] and (await r.text()).startswith("0{")
    async with aiohttp.ClientSession() as http:
        async with http.get(base + "/socket.io/?EIO=4&transport=polling") as r:
            assert "aiohttp" not in r.headers.get("Server", "")  # answered by the front
            sid = json.loads((await r.text())[1:])["sid"]
        url = f"{base}/socket.io/?EIO=4&transport=polling&sid={sid}"
        async with http.post(url, data=b"40", headers=TEXT) as r:
            assert await r.text() == "ok"
        async with http.get(url) as r:
            assert (await r.text()).startswith("40{")
        async with http.post(url, data=b'421["echo","hi"]', headers=TEXT) as r:
            assert await r.text() == "ok"
        async with http.get(url) as r:
            assert await r.text() == '431["hi"]'
        # the upgrade of that session to a WebSocket, through the front
        ws_url = f"ws://127.0.0.1:{site.port}/socket.io/?EIO=4&transport=websocket&sid={sid}"
        ws = await connect(ws_url)
        await ws.send("2probe")
        assert await ws.recv() == "3probe"
        async with http.get(url) as r:  # the pending-poll flush of the upgrade: a noop
            assert await r.text() == "6"
        await ws.send("5")
        await ws.send('422["echo",{"a":1}]')
        assert await ws.recv() == '432[{"a":1}]'
        await ws.close()


async def test_a_direct_websocket_gets_the_close_packet_on_shutdown(site: FrontSite) -> None:
    ws = await connect(f"ws://127.0.0.1:{site.port}/socket.io/?EIO=4&transport=websocket")
    assert str(await ws.recv()).startswith("0{")
    await ws.send("40")
    assert str(await ws.recv()).startswith("40{")
    assert not site.front.connections  # the WebSocket has the connection now
    cleanup = asyncio.create_task(site.runner.cleanup())
    assert await ws.recv() == "1"  # Engine.IO close: "server shutting down"
    await ws.wait_closed()
    await cleanup


async def test_a_pending_poll_gets_the_close_packet_on_shutdown(site: FrontSite) -> None:
    base = f"http://127.0.0.1:{site.port}/socket.io/?EIO=4&transport=polling"
    async with aiohttp.ClientSession() as http:
        async with http.get(base) as r:
            sid = json.loads((await r.text())[1:])["sid"]
        poll = asyncio.create_task(http.get(f"{base}&sid={sid}"))
        while not site.front.connections or all(
            c.state.value != "busy" for c in site.front.connections
        ):
            await asyncio.sleep(0.005)
        await site.runner.cleanup()
        async with await poll as r:
            assert (r.status, await r.text()) == (200, "1")
            assert r.headers["Connection"] == "close"


async def test_an_allow_request_hook_runs_in_a_task() -> None:
    # an application's hook may need a current task (asyncio.timeout): the front starts
    # such engines' requests in one instead of stepping them by hand
    seen: list[bool] = []

    async def allow(request: Any) -> bool:
        seen.append(asyncio.current_task() is not None)
        await asyncio.sleep(0)
        return bool(request.query.get("token") == "ok")

    app = web.Application()
    rtio.Server(allow_request=allow).attach(app)
    started = await start_server(app, "127.0.0.1", 0)
    assert not started.front.routes["/socket.io/"].inline
    base = f"http://127.0.0.1:{started.port}/socket.io/?EIO=4&transport=polling"
    try:
        async with aiohttp.ClientSession() as http:
            async with http.get(base + "&token=ok") as r:
                assert r.status == 200 and (await r.text()).startswith("0{")
            async with http.get(base + "&token=no") as r:
                assert r.status == 403
    finally:
        await started.runner.cleanup()
    assert seen == [True, True]


async def test_the_site_as_aiohttp_sees_it() -> None:
    app = web.Application()
    rtio.Server().attach(app, "/io/")
    runner = web.AppRunner(app)
    await runner.setup()
    site = FrontSite(runner, "127.0.0.1", 0)
    assert (site.port, site.name) == (0, "http://127.0.0.1:0")
    assert FrontSite(runner).port == 8080 and FrontSite(runner).name == "http://0.0.0.0:8080"
    await site.start()
    try:
        assert site.port != 0 and site.name == f"http://127.0.0.1:{site.port}"
        assert runner.addresses == [("127.0.0.1", site.port)]
        assert site.runner is runner and set(site.front.routes) == {"/io/", "/io"}
    finally:
        await runner.cleanup()
    assert runner.addresses == []  # stopped with the runner
    with pytest.raises(OSError):
        await asyncio.open_connection("127.0.0.1", site.port)


def test_engine_routes() -> None:
    app = web.Application()
    assert engine_routes(app) == {}
    rtio.Server().attach(app)
    routes = engine_routes(app)
    assert set(routes) == {"/socket.io/", "/socket.io"} and routes["/socket.io"].inline
