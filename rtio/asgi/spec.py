"""The ASGI 3 interface as rtio.asgi uses it: the callables and messages, as types.

No code: the aliases the other modules of rtio.asgi annotate with (the ASGI
specification, https://asgi.readthedocs.io/en/latest/specs/main.html: an application is
``async def app(scope, receive, send)``; messages are dicts with a ``"type"``).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

__all__ = ["ASGIApp", "Hook", "Message", "Receive", "Scope", "Send"]

#: the connection's description: ``type`` ("http", "websocket", "lifespan"), path, headers...
Scope = MutableMapping[str, Any]
#: one event: ``{"type": "http.request", "body": b"...", ...}``
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]
#: a startup or shutdown hook, sync or async
Hook = Callable[[], Any]
