"""The aiohttp front: attach() routes an app's path to the engine and records it under
ENGINES_KEY (the contract of a front is in test_http.py)."""

from __future__ import annotations

from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer

from rtio.engine import EngineOptions, EngineServer, HttpRequest, HttpResponse
from rtio.engine.aiohttp_front import ENGINES_KEY, attach


async def test_attach_records_the_engine_on_the_app() -> None:
    class Nothing:
        def on_connect(self, session: object) -> None: ...
        def on_message(self, session: object, data: object) -> None: ...
        def on_disconnect(self, session: object, reason: object, description: str) -> None: ...

    app = web.Application()
    first, second = EngineServer(Nothing()), EngineServer(Nothing())  # type: ignore[arg-type]
    first.attach(app)
    second.attach(app, "/other")
    assert app[ENGINES_KEY] == [("/engine.io/", first), ("/other/", second)]


class RecordingEngine:
    """An Engine as attach() sees it: options, handle, shutdown."""

    def __init__(self) -> None:
        self.options = EngineOptions(path="/rt/")
        self.requests: list[str] = []
        self.shutdowns: list[bool] = []

    async def handle(self, request: HttpRequest) -> HttpResponse | None:
        self.requests.append(f"{request.method} {request.path}")
        return HttpResponse(200, {"Content-Type": "text/plain"}, b"answered")

    async def shutdown(self, *, polls_can_arrive: bool = True) -> None:
        self.shutdowns.append(polls_can_arrive)


async def test_attach_routes_both_paths_and_shuts_the_engine_down_with_the_app() -> None:
    engine = RecordingEngine()
    app = web.Application()
    attach(engine, app)  # the options' path
    async with TestClient(TestServer(app)) as client:
        for path in ("/rt/", "/rt"):
            response = await client.get(path + "?EIO=4")
            assert (response.status, await response.text()) == (200, "answered")
    assert engine.requests == ["GET /rt/", "GET /rt"]
    # aiohttp reads no new request once on_shutdown runs: no poll can arrive any more
    assert engine.shutdowns == [False]
