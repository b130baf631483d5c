"""What a deployer configures of rtio's HTTP/1.1 front: ``FrontOptions`` (the limits and
deadlines of its connections, every one a peer can drive) and ``Route`` (a path the front
answers, and how its handler starts).

Knows nothing of connections: protocol.py applies these.
"""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import Awaitable, Callable
from typing import NamedTuple

from rtio.engine import HttpRequest, HttpResponse

from .parser import MAX_CHUNK_LINE, MAX_HEAD, MAX_TRAILERS, RequestHead

__all__ = ["MAX_PIPELINED", "FrontOptions", "Handler", "Redirect", "Route"]

#: what answers the requests of one path: ``EngineServer.handle`` (a coroutine function
#: is stepped by hand; any other awaitable runs in a task)
Handler = Callable[[HttpRequest], Awaitable[HttpResponse | None]]


#: ``redirect(head, transport, data) -> bool``: called with each Engine.IO request head
#: before it is answered (``data``: the bytes read from that head on). True: the hook took
#: the connection away (rtio.workers passes it to the worker owning the session) and the
#: front lets go of it.
Redirect = Callable[[RequestHead, asyncio.Transport, bytes], bool]


class Route(NamedTuple):
    """A path the front answers: its handler, and whether the handler's first step may run
    outside a task. It may unless code before its first suspension needs a current task
    (``asyncio.timeout``, ``asyncio.TaskGroup``, ``asyncio.wait_for`` from Python 3.12),
    as an application's own async hook might: such routes always start in a task."""

    handle: Handler
    inline: bool = True


#: bytes kept while a request is in flight before reading pauses (pipelined requests)
MAX_PIPELINED = 65536


@dataclasses.dataclass(frozen=True, slots=True)
class FrontOptions:
    """The limits of the front's connections (every one a peer can drive). Times are in
    seconds, sizes in bytes.

    - ``keepalive_timeout``: an idle connection (no request in flight, nothing of the next
      head received) closes this long after its last response (or its opening), silently.
    - ``head_timeout``: a request head must be complete this long after its first byte
      arrived (a slowloris trickling a head), else 408 and close (Node's
      ``headersTimeout``, 60 s there).
    - ``body_timeout``: a body must be complete this long after the handler started
      waiting for it (a POST that announces 1,000 bytes and sends 1), else 408 and close;
      the handler's ``read_body`` raises ConnectionResetError (Node's ``requestTimeout``
      bounds the whole request, 300 s there).
    - ``max_head``: the largest request head (request line and fields), else 431 and close.
    - ``max_pipelined``: bytes read past a request in flight before reading pauses.
    - ``max_chunk_line``: the longest chunk-size line of a chunked body (extensions
      included), else 400 and close; ``max_trailers``: the largest trailer section, else
      400 and close. (The body's size is the handler's limit: ``read_body(limit)``.)
    """

    keepalive_timeout: float = 75.0
    head_timeout: float = 30.0
    body_timeout: float = 60.0
    max_head: int = MAX_HEAD
    max_pipelined: int = MAX_PIPELINED
    max_chunk_line: int = MAX_CHUNK_LINE
    max_trailers: int = MAX_TRAILERS

    def __post_init__(self) -> None:
        for name in ("keepalive_timeout", "head_timeout", "body_timeout"):
            if not getattr(self, name) > 0:
                raise ValueError(f"{name} must be positive")
        if self.max_head < 64 or self.max_pipelined < 0:
            raise ValueError("max_head must be at least 64, max_pipelined not negative")
        if self.max_chunk_line < 16 or self.max_trailers < 0:
            raise ValueError("max_chunk_line must be at least 16, max_trailers not negative")
