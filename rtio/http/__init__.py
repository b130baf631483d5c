"""rtio.http: rtio's own HTTP/1.1 front for the Engine.IO path.

A small asyncio protocol answers the requests of the app's engines itself (parse, call
``EngineServer.handle``, one write) and hands every other connection to the aiohttp app,
unchanged. ``start_server`` / ``FrontSite`` listen with it; ``rtio.run_app`` uses them.

- options.py: FrontOptions (limits and deadlines), Route
- parser.py: sans-I/O request head and chunked body parsing
- response.py: sans-I/O response serializing (and its Date and prefix caches)
- deadlines.py: sans-I/O decisions on a connection's deadlines (a fake clock drives them)
- request.py: FrontRequest, the engine's HttpRequest
- protocol.py: Front (one listening socket) and FrontProtocol (one connection's state)
- serve.py: FrontSite, start_server
The hand-off of a connection to aiohttp, and FrontSite's listening server, touch aiohttp
internals: that is rtio/aiohttp_internals.py's.
"""

from .options import FrontOptions, Redirect, Route
from .parser import BadRequest, BodyTooLarge, Headers, HttpError, RequestHead, parse_head
from .protocol import Front, FrontProtocol
from .request import FrontRequest
from .response import serialize_response
from .serve import FrontSite, engine_routes, start_server

__all__ = [
    "BadRequest",
    "BodyTooLarge",
    "Front",
    "FrontOptions",
    "FrontProtocol",
    "FrontRequest",
    "FrontSite",
    "Headers",
    "HttpError",
    "Redirect",
    "RequestHead",
    "Route",
    "engine_routes",
    "parse_head",
    "serialize_response",
    "start_server",
]
