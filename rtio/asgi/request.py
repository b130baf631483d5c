"""An ASGI ``http`` or ``websocket`` scope as the engine's HttpRequest.

:class:`AsgiRequest` gives the engine what it reads of a request (rtio/engine/http.py:
method, path, query, headers, cookies, remote, the body with a size limit) and, for a
WebSocket scope, ``accept_websocket`` (the ASGI server writes the 101). Headers are
case-insensitive and keep the first value of each name; the query keeps the first value
of each parameter. Errors: PayloadTooLarge (a body over the limit, refused before it is
buffered), ConnectionResetError (the client went away during its body).
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable, Iterator, Mapping
from typing import Any, cast
from urllib.parse import parse_qsl, unquote

from rtio.engine import PayloadTooLarge
from rtio.ws import ServerOptions, WebSocket

from .spec import Message, Receive, Scope, Send
from .websocket import AsgiWebSocket

__all__ = ["AsgiRequest"]


class _Headers(Mapping[str, str]):
    """The request's headers: case-insensitive, the first value of each name."""

    __slots__ = ("_map",)

    def __init__(self, raw: Iterable[tuple[bytes, bytes]]) -> None:
        found: dict[str, str] = {}
        for name, value in raw:
            found.setdefault(name.decode("latin-1").lower(), value.decode("latin-1"))
        self._map = found

    def __getitem__(self, name: str) -> str:
        return self._map[name.lower()]

    def get(self, name: str, default: Any = None) -> Any:
        return self._map.get(name.lower(), default)

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and name.lower() in self._map

    def __iter__(self) -> Iterator[str]:
        return iter(self._map)

    def __len__(self) -> int:
        return len(self._map)


def _cookies(header: str | None) -> dict[str, str]:
    result: dict[str, str] = {}
    if not header:
        return result
    for pair in header.split(";"):
        name, eq, value = pair.partition("=")
        name = name.strip()
        if not eq or not name:
            continue
        value = value.strip()
        if len(value) >= 2 and value[0] == value[-1] == '"':
            value = value[1:-1]
        result.setdefault(name, unquote(value))
    return result


class _Presence(asyncio.BaseTransport):
    """What a pending poll checks of its connection (``is_closing``): the ASGI server
    reported ``http.disconnect``."""

    def __init__(self) -> None:
        super().__init__()
        self.gone = False

    def is_closing(self) -> bool:
        return self.gone

    def close(self) -> None:
        self.gone = True


class AsgiRequest:
    """An ASGI ``http`` or ``websocket`` scope as the engine's HttpRequest."""

    __slots__ = (
        "_cookies",
        "_presence",
        "headers",
        "method",
        "query",
        "receive",
        "scope",
        "send",
        "websocket",
    )

    def __init__(self, scope: Scope, receive: Receive, send: Send) -> None:
        self.scope = scope
        self.receive = receive
        self.send = send
        self.method: str = scope.get("method", "GET")
        self.headers: Mapping[str, str] = _Headers(scope.get("headers") or ())
        query: dict[str, str] = {}
        raw = scope.get("query_string") or b""
        if raw:
            for name, value in parse_qsl(raw.decode("latin-1"), keep_blank_values=True):
                query.setdefault(name, value)
        self.query: Mapping[str, str] = query
        self._cookies: dict[str, str] | None = None
        self._presence = _Presence()
        #: the WebSocket, once accept_websocket answered
        self.websocket: AsgiWebSocket | None = None

    def __repr__(self) -> str:
        return f"<AsgiRequest {self.method} {self.scope.get('path')}>"

    @property
    def path(self) -> str:
        path: str = self.scope.get("path", "/")
        return path

    @property
    def url(self) -> str:
        scope = self.scope
        scheme = scope.get("scheme") or ("ws" if scope["type"] == "websocket" else "http")
        host = self.headers.get("host")
        if host is None:
            server = scope.get("server")
            host = f"{server[0]}:{server[1]}" if server else "localhost"
        qs = scope.get("query_string") or b""
        tail = "?" + qs.decode("latin-1") if qs else ""
        return f"{scheme}://{host}{self.path}{tail}"

    @property
    def cookies(self) -> Mapping[str, str]:
        cookies = self._cookies
        if cookies is None:
            cookies = self._cookies = _cookies(self.headers.get("cookie"))
        return cookies

    @property
    def remote(self) -> str | None:
        client = self.scope.get("client")
        return str(client[0]) if client else None

    @property
    def transport(self) -> asyncio.BaseTransport | None:
        return self._presence

    @property
    def gone(self) -> bool:
        """The ASGI server reported ``http.disconnect``: nobody reads an answer."""
        return self._presence.gone

    def went_away(self) -> None:
        self._presence.gone = True

    @property
    def content_type(self) -> str:
        value: str | None = self.headers.get("content-type")
        if not value:
            return ""
        return value.partition(";")[0].strip().lower()

    async def read_body(self, limit: int) -> bytes:
        """The streamed body, refusing more than ``limit`` bytes before buffering them
        (PayloadTooLarge); ConnectionResetError if the client went away."""
        length = self.headers.get("content-length")
        if length is not None and length.isdigit() and int(length) > limit:
            raise PayloadTooLarge(int(length), limit)
        chunks: list[bytes] = []
        size = 0
        receive = self.receive
        while True:
            message = await receive()
            kind = message["type"]
            if kind == "http.request":
                body: bytes = message.get("body", b"")
                if body:
                    size += len(body)
                    if size > limit:
                        raise PayloadTooLarge(size, limit)
                    chunks.append(body)
                if not message.get("more_body", False):
                    break
            elif kind == "http.disconnect":
                self._presence.gone = True
                raise ConnectionResetError("the client went away during its request body")
        if len(chunks) == 1:
            return chunks[0]
        return b"".join(chunks)

    async def accept_websocket(
        self, options: ServerOptions, headers: Mapping[str, str] | None
    ) -> WebSocket:
        """Accept the ASGI WebSocket (the server writes the 101, with ``headers``). Returns
        an AsgiWebSocket: what the engine uses of an rtio.ws WebSocket (duck typing)."""
        message: Message = {"type": "websocket.accept"}
        if headers:
            message["headers"] = [
                (name.lower().encode("latin-1"), value.encode("latin-1"))
                for name, value in headers.items()
            ]
        await self.send(message)
        ws = self.websocket = AsgiWebSocket(
            self.send, options.max_message_size, options.write_limit
        )
        return cast(WebSocket, ws)
