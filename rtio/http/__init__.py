"""rtio.http: rtio's own HTTP/1.1 front for the Engine.IO path.

A small asyncio protocol answers the requests of the app's engines itself (parse, call
``EngineServer.handle``, one write) and hands every other connection to the aiohttp app,
unchanged. ``start_server`` / ``FrontSite`` listen with it; ``rtio.run_app`` uses them.

- parser.py: sans-I/O request head and chunked body parsing
- request.py: FrontRequest, the engine's HttpRequest
- protocol.py: FrontProtocol, one connection
- serve.py: FrontSite, start_server
"""

from .parser import BadRequest, BodyTooLarge, Headers, HttpError, RequestHead, parse_head
from .protocol import Front, FrontOptions, FrontProtocol, Route, serialize_response
from .request import FrontRequest
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
    "RequestHead",
    "Route",
    "engine_routes",
    "parse_head",
    "serialize_response",
    "start_server",
]
