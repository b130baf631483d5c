"""rtio.asgi: serve rtio under any ASGI 3 server (uvicorn, hypercorn, granian, ...) and
beside any ASGI app (FastAPI, Starlette, Django, ...).

    import rtio, rtio.asgi
    sio = rtio.Server()
    app = rtio.asgi.App(sio, other_app=fastapi_app)     # uvicorn module:app

or, inside a FastAPI / Starlette app (mounted apps get no lifespan: hand it the App's)::

    sio_app = rtio.asgi.App(sio)
    api = FastAPI(lifespan=sio_app.lifespan)
    api.mount("/socket.io", sio_app)

``App`` is the ASGI front of the engine, as aiohttp_front.py and rtio.http are its other
two. The ASGI server owns the WebSocket protocol itself (its handshake, frames,
compression, its own message size limit): rtio.ws is not used on this path.

    app.py        App: routes each scope (ours to the engine, the rest to other_app),
                  serves the WebSocket requests, counts the upgrade probes
    polling.py    the HTTP requests (handshake, long polls): serve_http, respond
    request.py    AsgiRequest: an http/websocket scope as the engine's HttpRequest
    websocket.py  AsgiWebSocket: the ASGI websocket.* messages as the engine's WebSocket;
                  pump, the receive loop feeding it
    lifespan.py   Lifespan: startup/shutdown hooks, telling clients at shutdown
    endable.py    Endable: an await its owner can end without cancelling the task
    spec.py       the ASGI 3 callables and messages, as types

Everything above the engine is the same server: handlers, rooms, adapters do not know
which front carries a session. Needs no third-party package.
"""

from .app import App
from .request import AsgiRequest
from .websocket import AsgiWebSocket

__all__ = ["App", "AsgiRequest", "AsgiWebSocket"]
