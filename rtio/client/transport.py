"""The Engine.IO client on asyncio: long-polling, WebSocket and the upgrade between them.

Glue only: what the session decides (the open packet, pongs, the heartbeat deadline, the
queue and its batches) is engine_core's. This module owns the HTTP requests (through an
:class:`HttpFetcher`: aiohttp's client, or rtio.testing's in-memory one), the WebSocket
(rtio.ws.connect), the tasks (one GET loop, one writer, one upgrade, one WebSocket
reader) and the one heartbeat timer. Every wait has a timeout.

Upgrade (as engine.io-client 6.6 does it): after the open over polling, a WebSocket is
opened with the sid and sends ``2probe``; on ``3probe`` polling is paused (no new GET or
POST; the pending GET comes back with a noop ``6``), the client sends ``5`` over the
WebSocket and everything queued since goes there. A failed probe leaves polling as it was.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
import ssl as ssl_module
import urllib.parse
from collections.abc import Awaitable, Callable, Coroutine, Mapping, Sequence
from typing import Any, Protocol

import aiohttp

from rtio.engine import Packet
from rtio.ws import ConnectionClosed, WebSocket, WebSocketError
from rtio.ws import connect as ws_connect

from .engine_core import (
    EngineClientCore,
    EngineProtocolError,
    decode_frame,
    decode_payload,
    encode_payload,
)

__all__ = [
    "AiohttpFetcher",
    "EngineClient",
    "HttpFetcher",
    "TransportError",
    "WebSocketConnector",
    "default_ws_connector",
]

logger = logging.getLogger("rtio.client")


class TransportError(Exception):
    """A request failed, the server refused it, or the connection could not be made."""

    def __init__(self, message: str, status: int | None = None, body: bytes = b"") -> None:
        super().__init__(message)
        self.status = status
        self.body = body


class HttpFetcher(Protocol):
    """How the polling transport makes its requests."""

    async def request(
        self,
        method: str,
        url: str,
        headers: Mapping[str, str],
        body: bytes | None,
        timeout: float,
        max_size: int,
    ) -> tuple[int, bytes]:
        """(status, body) of one request; the body at most ``max_size`` bytes. Raises
        TransportError (and only it) when no answer came."""
        ...

    async def close(self) -> None: ...


#: ``(url, headers) -> WebSocket``: how the WebSocket transport connects
WebSocketConnector = Callable[[str, Mapping[str, str]], Awaitable[WebSocket]]


class AiohttpFetcher:
    """Polling requests with aiohttp's client (one session, its connection pool and cookie
    jar: sticky-session cookies of a load balancer come back on every request)."""

    def __init__(self, ssl: ssl_module.SSLContext | None = None) -> None:
        self._ssl = ssl
        self._session: aiohttp.ClientSession | None = None

    async def request(
        self,
        method: str,
        url: str,
        headers: Mapping[str, str],
        body: bytes | None,
        timeout: float,
        max_size: int,
    ) -> tuple[int, bytes]:
        session = self._session
        if session is None or session.closed:
            session = self._session = aiohttp.ClientSession()
        try:
            return await asyncio.wait_for(
                self._request(session, method, url, headers, body, max_size), timeout
            )
        except TransportError:
            raise
        except (aiohttp.ClientError, OSError, asyncio.TimeoutError, RuntimeError) as exc:
            # (RuntimeError: aiohttp's "Session is closed", the client closing meanwhile)
            raise TransportError(f"{method} failed: {exc!r}") from exc

    async def _request(
        self,
        session: aiohttp.ClientSession,
        method: str,
        url: str,
        headers: Mapping[str, str],
        body: bytes | None,
        max_size: int,
    ) -> tuple[int, bytes]:
        async with session.request(
            method,
            url,
            headers=dict(headers),
            data=body,
            ssl=self._ssl if self._ssl is not None else True,
        ) as response:
            chunks = bytearray()
            async for chunk in response.content.iter_chunked(1 << 16):
                chunks += chunk
                if len(chunks) > max_size:
                    raise TransportError(f"response larger than {max_size} bytes")
            return response.status, bytes(chunks)

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None


def default_ws_connector(
    ssl: ssl_module.SSLContext | None, open_timeout: float
) -> WebSocketConnector:
    async def connect(url: str, headers: Mapping[str, str]) -> WebSocket:
        return await ws_connect(
            url,
            headers=headers,
            ssl=ssl if url.startswith("wss:") else None,
            open_timeout=open_timeout,
        )

    return connect


_request_counter = itertools.count()


class EngineClient:
    """One Engine.IO session, from :meth:`open` to the one call of ``on_close(reason)``.

    ``on_message(data)``: each MESSAGE (str or bytes), in order, called from the loop.
    ``on_close(reason)``: once, when the session ends for any reason but :meth:`close`
    ("transport close", "transport error", "ping timeout", "parse error").
    """

    def __init__(
        self,
        url: str,
        *,
        path: str = "/socket.io/",
        query: Mapping[str, str] | None = None,
        headers: Mapping[str, str] | None = None,
        transports: Sequence[str] = ("polling", "websocket"),
        upgrade: bool = True,
        fetcher: HttpFetcher,
        ws_connector: WebSocketConnector,
        on_message: Callable[[str | bytes], None],
        on_close: Callable[[str], None],
        request_timeout: float = 20.0,
        max_queued: int = 10_000,
        max_response_size: int = 16_000_000,
    ) -> None:
        parts = urllib.parse.urlsplit(url)
        if parts.scheme not in ("http", "https", "ws", "wss"):
            raise ValueError(f"not an http(s):// or ws(s):// URL: {url!r}")
        secure = parts.scheme in ("https", "wss")
        self._http_base = f"{'https' if secure else 'http'}://{parts.netloc}"
        self._ws_base = f"{'wss' if secure else 'ws'}://{parts.netloc}"
        self._path = "/" + path.strip("/") + "/"
        self._query = dict(query or {})
        self._headers = dict(headers or {})
        for name in transports:
            if name not in ("polling", "websocket"):
                raise ValueError(f"unknown transport {name!r}")
        if not transports:
            raise ValueError("no transport")
        self.transports = tuple(transports)
        self.upgrade = upgrade
        self._fetcher = fetcher
        self._ws_connector = ws_connector
        self._on_message = on_message
        self._on_close = on_close
        self.request_timeout = request_timeout
        self.max_response_size = max_response_size
        self.core = EngineClientCore(max_queued)
        self._loop = asyncio.get_running_loop()
        #: "polling" or "websocket" once open
        self.transport: str | None = None
        self._ws: WebSocket | None = None
        self._tasks: set[asyncio.Task[None]] = set()
        self._poll_task: asyncio.Task[None] | None = None
        self._write_task: asyncio.Task[None] | None = None
        self._pausing = False
        self._timer: asyncio.TimerHandle | None = None
        self._ended = False
        self.close_reason: str | None = None

    # -- urls -------------------------------------------------------------------------------

    def _url(self, transport: str, websocket: bool = False) -> str:
        query = dict(self._query)
        query["EIO"] = "4"
        query["transport"] = transport
        if self.core.sid is not None:
            query["sid"] = self.core.sid
        if not websocket:
            query["t"] = f"r{next(_request_counter)}"
        base = self._ws_base if websocket else self._http_base
        return f"{base}{self._path}?{urllib.parse.urlencode(query)}"

    # -- opening ----------------------------------------------------------------------------

    async def open(self, timeout: float) -> None:
        """The handshake, over the first allowed transport. Raises TransportError (with
        the server's status and body when it refused), EngineProtocolError,
        asyncio.TimeoutError."""
        rest = await asyncio.wait_for(self._handshake(timeout), timeout)
        info = self.core.info
        assert info is not None
        logger.debug("engine open %s over %s", info.sid, self.transport)
        if self.transport == "polling":
            self._poll_task = self._spawn(self._poll_loop())
            if self.upgrade and "websocket" in info.upgrades and "websocket" in self.transports:
                self._spawn(self._upgrade())
        self._receive_all(rest)

    async def _handshake(self, timeout: float) -> list[Packet]:
        """The open packet, over polling or a WebSocket; the packets that came with it."""
        core = self.core
        if self.transports[0] == "polling":
            status, body = await self._fetcher.request(
                "GET", self._url("polling"), self._headers, None, timeout,
                self.max_response_size,
            )
            if status != 200:
                raise TransportError(f"handshake refused ({status})", status, body)
            packets = decode_payload(body.decode("utf-8", "replace"))
            core.receive(packets[0], self._loop.time())
            self.transport = "polling"
            return packets[1:]
        ws = await self._connect_ws()
        try:
            core.receive(decode_frame(await ws.recv()), self._loop.time())
        except BaseException:
            self._loop.create_task(ws.close())
            raise
        self._use_websocket(ws)
        return []

    async def _connect_ws(self) -> WebSocket:
        try:
            return await self._ws_connector(self._url("websocket", websocket=True), self._headers)
        except (OSError, WebSocketError) as exc:
            raise TransportError(f"WebSocket failed: {exc!r}") from exc

    def _spawn(self, coro: Coroutine[Any, Any, None]) -> asyncio.Task[None]:
        task = self._loop.create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task

    # -- receiving --------------------------------------------------------------------------

    def _receive_all(self, packets: list[Packet]) -> None:
        core = self.core
        for packet in packets:
            if self._ended:
                return
            try:
                messages = core.receive(packet, self._loop.time())
            except EngineProtocolError as exc:
                logger.warning("engine: %s", exc)
                self.abort("parse error")
                return
            for message in messages:
                if self._ended:
                    return
                self._on_message(message)
            if core.closed_by_server:
                self.abort("transport close")
                return
        if core.has_data:
            self._flush()
        self._arm_heartbeat()

    def _arm_heartbeat(self) -> None:
        deadline = self.core.ping_deadline
        if deadline is None or self._ended:
            return
        timer = self._timer
        if timer is not None:
            if timer.when() == deadline:
                return
            timer.cancel()
        self._timer = self._loop.call_at(deadline, self._heartbeat_due)

    def _heartbeat_due(self) -> None:
        self._timer = None
        if self.core.expired(self._loop.time()):
            logger.info("engine: no ping from the server in time (ping timeout)")
            self.abort("ping timeout")
        else:
            self._arm_heartbeat()

    async def _poll_loop(self) -> None:
        info = self.core.info
        assert info is not None
        timeout = info.ping_interval + info.ping_timeout + self.request_timeout
        while not self._ended and not self._pausing and self.transport == "polling":
            try:
                status, body = await self._fetcher.request(
                    "GET", self._url("polling"), self._headers, None, timeout,
                    self.max_response_size,
                )
            except TransportError as exc:
                if not self._ended:
                    logger.info("engine: poll failed: %s", exc)
                    self.abort("transport error")
                return
            if status != 200:
                logger.info("engine: poll answered %s %r", status, body[:200])
                self.abort("transport error")
                return
            try:
                packets = decode_payload(body.decode("utf-8", "replace"))
            except EngineProtocolError as exc:
                logger.warning("engine: %s", exc)
                self.abort("parse error")
                return
            self._receive_all(packets)

    # -- sending ----------------------------------------------------------------------------

    def send(self, message: str | bytes) -> None:
        """Queue a message (raises SendQueueFull past ``max_queued``)."""
        self.core.send(message)
        self._flush()

    def _flush(self) -> None:
        if self._ended or self._write_task is not None:
            return
        if self.transport == "polling" and self._pausing:
            return  # the upgrade sends it over the WebSocket
        self._write_task = self._spawn(self._write_loop())

    async def _write_loop(self) -> None:
        try:
            core = self.core
            while core.has_data and not self._ended:
                ws = self._ws
                if ws is not None:
                    for frame in core.take_all():
                        await ws.send(frame)
                    continue
                if self._pausing:
                    return
                body = encode_payload(core.take_batch()).encode()
                status, answer = await self._fetcher.request(
                    "POST",
                    self._url("polling"),
                    {**self._headers, "Content-Type": "text/plain;charset=UTF-8"},
                    body,
                    self.request_timeout,
                    1024,
                )
                if status != 200:
                    logger.info("engine: POST answered %s %r", status, answer[:200])
                    self.abort("transport error")
                    return
        except (TransportError, ConnectionClosed) as exc:
            if not self._ended:
                logger.info("engine: write failed: %s", exc)
                self.abort("transport error")
        finally:
            self._write_task = None
        if core.has_data and not self._ended:
            self._flush()

    # -- upgrade ----------------------------------------------------------------------------

    async def _upgrade(self) -> None:
        ws: WebSocket | None = None
        try:
            ws = await asyncio.wait_for(self._connect_ws(), self.request_timeout)
            await ws.send("2probe")
            answer = await asyncio.wait_for(ws.recv(), self.request_timeout)
            if answer != "3probe":
                raise TransportError(f"unexpected probe answer {answer!r:.40}")
            if self._ended:
                raise TransportError("closed during the upgrade")
            # pause polling: the pending GET comes back (a noop), no new one is sent, and
            # a POST in flight is let finish
            self._pausing = True
            pending = [t for t in (self._poll_task, self._write_task) if t is not None]
            if pending:
                await asyncio.wait(pending, timeout=self.request_timeout)
                if not all(t.done() for t in pending):
                    raise TransportError("polling did not pause in time")
            if self._ended:
                raise TransportError("closed during the upgrade")
            await ws.send("5")
        except (
            TransportError, ConnectionClosed, WebSocketError, OSError, asyncio.TimeoutError
        ) as exc:
            if ws is not None:
                self._spawn(ws.close())
            if self._pausing and not self._ended:
                logger.info("engine: upgrade failed after pausing polling: %s", exc)
                self.abort("transport error")
            else:
                logger.info("engine: upgrade failed, staying on polling: %s", exc)
            return
        self._use_websocket(ws)
        logger.debug("engine %s upgraded to websocket", self.core.sid)
        self._flush()

    def _use_websocket(self, ws: WebSocket) -> None:
        self._ws = ws
        self.transport = "websocket"
        self._spawn(self._ws_loop(ws))

    async def _ws_loop(self, ws: WebSocket) -> None:
        try:
            async for message in ws:
                try:
                    packet = decode_frame(message)
                except EngineProtocolError as exc:
                    logger.warning("engine: %s", exc)
                    self.abort("parse error")
                    return
                self._receive_all([packet])
                if self._ended:
                    return
        except ConnectionClosed:
            pass
        if not self._ended:
            self.abort("transport close")

    # -- closing ----------------------------------------------------------------------------

    async def close(self, timeout: float = 5.0) -> None:
        """Leave: send what is queued and the close packet (best effort, within
        ``timeout``: the JS client too waits for its buffer to drain), then stop."""
        if self._ended:
            return
        core = self.core
        writer = self._write_task
        if writer is not None:
            await asyncio.wait([writer], timeout=timeout)
        core.send_close()
        frames = core.take_all()
        with contextlib.suppress(
            TransportError, ConnectionClosed, asyncio.TimeoutError, OSError
        ):
            ws = self._ws
            if ws is not None:
                for frame in frames:
                    await asyncio.wait_for(ws.send(frame), timeout)
            elif self.transport == "polling":
                await self._fetcher.request(
                    "POST",
                    self._url("polling"),
                    {**self._headers, "Content-Type": "text/plain;charset=UTF-8"},
                    encode_payload(frames).encode(),
                    timeout,
                    1024,
                )
        self.abort("forced close", notify=False)
        ws = self._ws
        if ws is not None:
            with contextlib.suppress(asyncio.TimeoutError, ConnectionClosed, OSError):
                await asyncio.wait_for(ws.close(), timeout)

    def abort(self, reason: str, notify: bool = True) -> None:
        """End the session now, without a close packet (the manager calls it on a full
        send queue or a packet it cannot parse); ``on_close(reason)`` runs unless
        ``notify`` is False. A no-op once ended."""
        if self._ended:
            return
        self._ended = True
        self.close_reason = reason
        self.core.close()
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        current = asyncio.current_task()
        for task in list(self._tasks):
            if task is not current:
                task.cancel()
        ws = self._ws
        if ws is not None and notify:
            self._loop.create_task(ws.close())
        if notify:
            self._on_close(reason)

    @property
    def ended(self) -> bool:
        return self._ended

