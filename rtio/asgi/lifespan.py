"""The ASGI lifespan of an App: startup and shutdown hooks, and telling clients at shutdown.

:class:`Lifespan` runs the ``on_startup`` hooks once, and at shutdown first shuts the
engine down (every client gets its close packet, then 1001 on WebSockets: "server
shutting down", as with aiohttp) and then runs the ``on_shutdown`` hooks. It serves the
``lifespan`` scope itself, or wraps the one of ``other_app`` (the host app's hooks run
too), or, for a host app that sends no lifespan to mounted apps (FastAPI, Starlette),
is its ``lifespan=`` context. States: new -> started -> stopped, each step once.
Errors: a hook's exception is reported as ``lifespan.startup.failed`` /
``lifespan.shutdown.failed`` when rtio serves the scope, else it propagates.
"""

from __future__ import annotations

import contextlib
import inspect
from collections.abc import AsyncIterator, Iterable

from rtio.engine import EngineServer

from .spec import ASGIApp, Hook, Message, Receive, Scope, Send

__all__ = ["Lifespan"]


class Lifespan:
    """The startup and shutdown of one App (its engine and hooks)."""

    def __init__(
        self,
        engine: EngineServer,
        on_startup: Hook | Iterable[Hook] | None = None,
        on_shutdown: Hook | Iterable[Hook] | None = None,
    ) -> None:
        self._engine = engine
        self.on_startup: list[Hook] = _hooks(on_startup)
        self.on_shutdown: list[Hook] = _hooks(on_shutdown)
        self._started = False
        self._stopped = False

    async def startup(self) -> None:
        if self._started:
            return
        self._started = True
        for hook in self.on_startup:
            await _call(hook)

    async def shutdown(self) -> None:
        """Tell every client (close packets, then 1001 on WebSockets) and run the hooks."""
        if self._stopped:
            return
        self._stopped = True
        await self._engine.shutdown()
        for hook in self.on_shutdown:
            await _call(hook)

    @contextlib.asynccontextmanager
    async def context(self, _app: object = None) -> AsyncIterator[None]:
        """A lifespan context for a host app: ``FastAPI(lifespan=sio_app.lifespan)``."""
        await self.startup()
        try:
            yield
        finally:
            await self.shutdown()

    async def serve(
        self, scope: Scope, receive: Receive, send: Send, other_app: ASGIApp | None
    ) -> None:
        """Serve a ``lifespan`` scope (through ``other_app``'s when there is one)."""
        other = other_app
        if other is None:
            while True:
                message = await receive()
                if message["type"] == "lifespan.startup":
                    try:
                        await self.startup()
                    except Exception as exc:
                        await send({"type": "lifespan.startup.failed", "message": repr(exc)})
                        return
                    await send({"type": "lifespan.startup.complete"})
                elif message["type"] == "lifespan.shutdown":
                    try:
                        await self.shutdown()
                    except Exception as exc:
                        await send({"type": "lifespan.shutdown.failed", "message": repr(exc)})
                        return
                    await send({"type": "lifespan.shutdown.complete"})
                    return

        async def wrapped() -> Message:
            message = await receive()
            if message["type"] == "lifespan.startup":
                await self.startup()
            elif message["type"] == "lifespan.shutdown":
                await self.shutdown()
            return message

        await other(scope, wrapped, send)


def _hooks(hooks: Hook | Iterable[Hook] | None) -> list[Hook]:
    if hooks is None:
        return []
    if callable(hooks):
        return [hooks]
    return list(hooks)


async def _call(hook: Hook) -> None:
    result = hook()
    if inspect.isawaitable(result):
        await result
