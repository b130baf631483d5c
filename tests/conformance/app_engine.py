"""The official Engine.IO v4 suite's echo app on /engine.io/ (settings of
../shared/protocol-suites/README.md): every message is sent back unchanged."""

from __future__ import annotations

from aiohttp import web

from rtio.engine import CloseReason, CorsOptions, EngineOptions, EngineServer, EngineSession


class Echo:
    def on_connect(self, session: EngineSession) -> None:
        pass

    def on_message(self, session: EngineSession, data: str | bytes) -> None:
        session.send(data)

    def on_disconnect(self, session: EngineSession, reason: CloseReason, description: str) -> None:
        pass


def setup(app: web.Application) -> None:
    options = EngineOptions(
        ping_interval=0.3,
        ping_timeout=0.2,
        max_payload=1_000_000,
        cors=CorsOptions(origins="*"),
    )
    EngineServer(Echo(), options).attach(app, "/engine.io/")
