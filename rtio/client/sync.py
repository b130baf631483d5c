"""``SimpleClient``: a blocking client for scripts, built on the asyncio :class:`Client`
(not a second implementation): an event loop runs in a daemon thread, and each method
waits for its coroutine there.

    with SimpleClient("http://localhost:8000", auth={"name": "bot"}) as sio:
        sio.emit("chat", "hi")
        print(sio.call("sum", 1, 2))
        event, *args = sio.receive(timeout=5)

Events from the server (of the client's namespace) wait in a bounded queue for
``receive()``; past ``max_received`` new ones are dropped with a warning in the log (a
script that never calls ``receive`` does not grow without end).
"""

from __future__ import annotations

import asyncio
import logging
import queue
import threading
from collections.abc import Coroutine
from types import TracebackType
from typing import Any, TypeVar

from .client import Client

__all__ = ["SimpleClient"]

logger = logging.getLogger("rtio.client")

T = TypeVar("T")


class SimpleClient:
    """A blocking Socket.IO client: ``connect``, ``emit``, ``call``, ``receive``,
    ``disconnect``. Options are :class:`Client`'s."""

    def __init__(self, url: str, *, max_received: int = 1000, **options: Any) -> None:
        self.url = url
        self._options = options
        self._received: queue.Queue[list[Any]] = queue.Queue(max_received)
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self.client: Client | None = None
        #: the timeout of every wait but receive()'s
        self.timeout = float(options.get("timeout", 20.0)) + 5.0

    def _run(self, coro: Coroutine[Any, Any, T], timeout: float | None = None) -> T:
        loop = self._loop
        assert loop is not None, "not connected"
        future = asyncio.run_coroutine_threadsafe(coro, loop)
        return future.result(self.timeout if timeout is None else timeout)

    def connect(self, timeout: float | None = None) -> None:
        """Connect (raises rtio.client.ConnectError)."""
        if self._loop is None:
            loop = asyncio.new_event_loop()
            thread = threading.Thread(target=loop.run_forever, name="rtio-client", daemon=True)
            thread.start()
            self._loop, self._thread = loop, thread
        self._run(self._connect(timeout), None if timeout is None else timeout + 5.0)

    async def _connect(self, timeout: float | None) -> None:
        if self.client is None:
            self.client = Client(self.url, **self._options)
            self.client.on_any(self._on_event)
        await self.client.connect(timeout=timeout)

    def _on_event(self, event: str, *args: Any) -> None:
        try:
            self._received.put_nowait([event, *args])
        except queue.Full:
            logger.warning("SimpleClient: %d events wait for receive(); %r dropped",
                           self._received.maxsize, event)

    @property
    def connected(self) -> bool:
        return self.client is not None and self.client.connected

    @property
    def sid(self) -> str | None:
        return None if self.client is None else self.client.id

    def emit(self, event: str, *args: Any) -> None:
        """Send an event (buffered while reconnecting, as the asyncio client does)."""
        client = self.client
        assert client is not None, "not connected"
        self._run(_emit(client, event, args))

    def call(self, event: str, *args: Any, timeout: float = 60.0) -> Any:
        """Send an event and wait for its ack (rtio.AckTimeout after ``timeout``)."""
        client = self.client
        assert client is not None, "not connected"
        return self._run(client.call(event, *args, timeout=timeout), timeout + 5.0)

    def receive(self, timeout: float | None = None) -> list[Any]:
        """The next event from the server as ``[event, *args]``; TimeoutError after
        ``timeout`` seconds (None: wait as long as it takes)."""
        try:
            return self._received.get(timeout=timeout)
        except queue.Empty:
            raise TimeoutError(f"no event within {timeout} s") from None

    def disconnect(self) -> None:
        """Disconnect and stop the loop's thread."""
        loop, thread, client = self._loop, self._thread, self.client
        if loop is None or thread is None:
            return
        if client is not None:
            self._run(client.close())
        loop.call_soon_threadsafe(loop.stop)
        thread.join(5.0)
        loop.close()
        self._loop = self._thread = self.client = None

    def __enter__(self) -> SimpleClient:
        self.connect()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.disconnect()


async def _emit(client: Client, event: str, args: tuple[Any, ...]) -> None:
    client.emit(event, *args)
