"""In-memory HTTP for the polling transport: an :class:`~rtio.client.HttpFetcher` whose
requests are handed to ``EngineServer.handle`` as objects implementing the engine's
``HttpRequest`` protocol (rtio/engine/http.py). Long polls wait inside ``handle`` as they
would behind a real front; a request given up (timeout, client closing) is seen by the
server as a connection that went away.

Owns only that adaptation; knows nothing of Socket.IO.
"""

from __future__ import annotations

import asyncio
import urllib.parse
from collections.abc import Mapping
from typing import Any

from multidict import CIMultiDict, CIMultiDictProxy

from rtio.client import TransportError
from rtio.engine import EngineServer, HttpRequest, PayloadTooLarge
from rtio.ws import ServerOptions, WebSocket

__all__ = ["MemoryFetcher", "MemoryRequest"]


class _MemoryTransport(asyncio.BaseTransport):
    """What the engine checks of a request's connection: is it closing?"""

    def __init__(self) -> None:
        super().__init__()
        self._closing = False

    def is_closing(self) -> bool:
        return self._closing

    def close(self) -> None:
        self._closing = True

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        return default


class MemoryRequest:
    """One request as the engine sees it (implements ``rtio.engine.HttpRequest``)."""

    def __init__(
        self,
        method: str,
        url: str,
        headers: Mapping[str, str],
        body: bytes | None,
        remote: str = "127.0.0.1",
    ) -> None:
        parts = urllib.parse.urlsplit(url)
        self._method = method
        self._url = url
        self._path = parts.path
        query: dict[str, str] = {}
        for key, value in urllib.parse.parse_qsl(parts.query, keep_blank_values=True):
            query.setdefault(key, value)
        self._query = query
        all_headers: CIMultiDict[str] = CIMultiDict({"Host": parts.netloc})
        all_headers.update(headers)
        self._headers = CIMultiDictProxy(all_headers)
        self._body = body or b""
        self._remote = remote
        self._transport = _MemoryTransport()

    @property
    def method(self) -> str:
        return self._method

    @property
    def path(self) -> str:
        return self._path

    @property
    def url(self) -> str:
        return self._url

    @property
    def query(self) -> Mapping[str, str]:
        return self._query

    @property
    def headers(self) -> Mapping[str, str]:
        return self._headers

    @property
    def cookies(self) -> Mapping[str, str]:
        return {}

    @property
    def remote(self) -> str | None:
        return self._remote

    @property
    def transport(self) -> asyncio.BaseTransport | None:
        return self._transport

    @property
    def content_type(self) -> str:
        return self._headers.get("Content-Type", "").split(";")[0].strip().lower()

    async def read_body(self, limit: int) -> bytes:
        if len(self._body) > limit:
            raise PayloadTooLarge(len(self._body), limit)
        return self._body

    async def accept_websocket(
        self, options: ServerOptions, headers: Mapping[str, str] | None
    ) -> WebSocket:
        raise RuntimeError("the in-memory client has no WebSocket (use rtio.testing.serve)")

    def gone(self) -> None:
        """The client gave the request up: its "connection" is closing."""
        self._transport.close()


class MemoryFetcher:
    """Polling requests answered by ``engine.handle`` in this process."""

    def __init__(self, engine: EngineServer, remote: str = "127.0.0.1") -> None:
        self.engine = engine
        self.remote = remote

    async def request(
        self,
        method: str,
        url: str,
        headers: Mapping[str, str],
        body: bytes | None,
        timeout: float,
        max_size: int,
    ) -> tuple[int, bytes]:
        request = MemoryRequest(method, url, headers, body, self.remote)
        _: HttpRequest = request  # (mypy checks the protocol)
        try:
            response = await asyncio.wait_for(self.engine.handle(request), timeout)
        except asyncio.TimeoutError as exc:
            request.gone()
            raise TransportError(f"{method} timed out") from exc
        except asyncio.CancelledError:
            request.gone()
            raise
        if response is None:
            raise TransportError("the engine switched an in-memory request to a WebSocket")
        if len(response.body) > max_size:
            raise TransportError(f"response larger than {max_size} bytes")
        return response.status, response.body

    async def close(self) -> None:
        pass
