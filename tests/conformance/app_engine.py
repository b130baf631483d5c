"""Engine.IO apps of the conformance server.

- ``/engine.io/``: the official Engine.IO v4 suite's echo app, with the settings of
  ../shared/protocol-suites/README.md: every message is sent back unchanged.
- ``/engine-control/``: the same settings and echo, plus one command for the Node
  integration tests (tests/node/engine.test.mjs): the text message ``close`` makes the
  server close the session (a close packet, then the transport closes). Its
  ``/engine-control/stats`` route answers JSON with the close reasons seen so far, so a
  test can check what the server reported.
- ``/engine-deflate/``: the echo app with permessage-deflate on for the WebSocket transport
  (off by default, as in Node), for the Node tests of compressed frames.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import replace

from aiohttp import web

from rtio.engine import CloseReason, CorsOptions, EngineOptions, EngineServer, EngineSession


def suite_options() -> EngineOptions:
    return EngineOptions(
        ping_interval=0.3,
        ping_timeout=0.2,
        max_payload=1_000_000,
        cors=CorsOptions(origins="*"),
    )


class Echo:
    def on_connect(self, session: EngineSession) -> None:
        pass

    def on_message(self, session: EngineSession, data: str | bytes) -> None:
        session.send(data)

    def on_disconnect(self, session: EngineSession, reason: CloseReason, description: str) -> None:
        pass


class Control(Echo):
    def __init__(self) -> None:
        self.reasons: Counter[str] = Counter()

    def on_message(self, session: EngineSession, data: str | bytes) -> None:
        if data == "close":
            session.close()
        else:
            session.send(data)

    def on_disconnect(self, session: EngineSession, reason: CloseReason, description: str) -> None:
        self.reasons[reason.value] += 1


def setup(app: web.Application) -> None:
    EngineServer(Echo(), suite_options()).attach(app, "/engine.io/")
    control = Control()

    async def stats(request: web.Request) -> web.Response:
        return web.json_response({"reasons": dict(control.reasons)})

    app.router.add_get("/engine-control/stats", stats)
    EngineServer(control, suite_options()).attach(app, "/engine-control/")
    deflate = replace(suite_options(), per_message_deflate=True)
    EngineServer(Echo(), deflate).attach(app, "/engine-deflate/")
