"""The HTTP requests of the engine's path through ASGI: the handshake and long polling.

:func:`serve_http` hands one ``http`` scope to the engine and writes its answer. A POST
finishes at once; a GET may wait (a long poll): only then a watcher reads the ASGI
``receive`` for ``http.disconnect``, which ends the wait (the engine closes the session,
as Node does when a poll closes early) and no answer is written. Errors: none of its
own; the engine answers bad requests with their status.
"""

from __future__ import annotations

import asyncio

from rtio.engine import EngineServer, HttpResponse

from .endable import Endable, Ended
from .request import AsgiRequest
from .spec import Receive, Send

__all__ = ["PROBE_SETTLE", "respond", "serve_http"]

#: how long a request for a session whose upgrade probe is open waits for the probe's
#: messages already on their way (see serve_http)
PROBE_SETTLE = 0.01


async def serve_http(engine: EngineServer, request: AsgiRequest, *, probing: bool) -> None:
    """Answer one HTTP request; ``probing``: its session has a WebSocket open on this front
    besides its polling (an upgrade in progress)."""
    if probing:
        # The session is upgrading: the ASGI server queues a WebSocket's messages for
        # our receive loop (rtio.ws reads them inline), and two connections' reads
        # come in any order: a "5" (upgrade) the client sent before this request must
        # be seen first (the session then refuses a poll, as the official suite checks).
        # A client sends no request during its upgrade but the pending GET, so this
        # short wait costs nothing in practice.
        await asyncio.sleep(PROBE_SETTLE)
    if request.method in ("POST", "PUT"):
        response = await engine.handle(request)
    else:
        # a GET may wait (a long poll): only then, watch for the client going away
        watcher: list[asyncio.Task[None]] = []
        step = Endable(engine.handle(request))

        def watch() -> None:
            watcher.append(
                asyncio.get_running_loop().create_task(_watch(request.receive, request, step))
            )

        step.on_wait = watch
        try:
            response = await step
        except Ended:
            return  # the client is gone: nobody reads an answer
        finally:
            if watcher:
                watcher[0].cancel()
    if response is None:
        return
    if request.gone:
        return
    await respond(request.send, response)


async def _watch(receive: Receive, request: AsgiRequest, step: Endable) -> None:
    """A long poll's watcher: its client going away ends it (the engine closes the session,
    as Node does when a poll closes early)."""
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            request.went_away()
            step.end()
            return


async def respond(send: Send, response: HttpResponse) -> None:
    """Write ``response`` (its status, headers with a Content-Length, and body)."""
    body = response.body
    headers = [
        (name.lower().encode("latin-1"), value.encode("latin-1"))
        for name, value in response.headers.items()
    ]
    headers.append((b"content-length", str(len(body)).encode()))
    if response.close:
        headers.append((b"connection", b"close"))
    await send({"type": "http.response.start", "status": response.status, "headers": headers})
    await send({"type": "http.response.body", "body": body})
