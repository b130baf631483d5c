"""A worker's end of the local bus: publish to the other workers, hear what they publish.

The bus carries rtio.cluster's ``ClusterMessage`` (socket.io-adapter's message types:
broadcasts, joins, leaves, disconnects, fetches and their answers, server-side emits)
between the workers of one supervisor, relayed by it (relay.py, frames.py). The adapter of
each namespace (adapter.py) publishes through it and gets the messages of its namespace
back; :meth:`WorkerBus.on` registers the handlers of server-side emits.

States: :class:`BusState` CONNECTING -> OPEN -> CLOSED. The bus closing while the worker
runs (the supervisor died, or closed it for a bad frame) stops the worker with SIGTERM:
a worker cut off from the others would serve rooms that no longer span the workers.

Bounds and errors: what waits to be written to the supervisor is at most ``max_backlog``
bytes; a publish beyond is dropped (``dropped``, a warning once per episode) and
:meth:`publish` returns False. A message that does not parse is logged and dropped.
"""

from __future__ import annotations

import asyncio
import enum
import logging
import os
import signal
import socket
from collections.abc import Callable
from typing import Any, Protocol

from rtio.cluster import MessageError
from rtio.cluster.messages import ClusterMessage

from .frames import ALL, FrameError, FrameKind, FrameReader, encode_frame

__all__ = ["BusListener", "BusState", "WorkerBus"]

log = logging.getLogger("rtio.workers")

ServerSideHandler = Callable[..., Any]


class BusListener(Protocol):
    """What the bus needs of a namespace's adapter (adapter.py's BusAdapter)."""

    def receive(self, source: int, message: ClusterMessage) -> None: ...
    def members_changed(self, members: frozenset[int]) -> None: ...


class BusState(enum.Enum):
    CONNECTING = "connecting"
    OPEN = "open"
    CLOSED = "closed"


class WorkerBus(asyncio.Protocol):
    """Worker ``index``'s link to the bus."""

    def __init__(
        self,
        index: int,
        *,
        max_frame: int = 64 * 1024 * 1024,
        max_backlog: int = 64 * 1024 * 1024,
        stop_on_loss: bool = True,
    ) -> None:
        self.index = index
        #: the name of this worker in cluster messages
        self.uid = f"worker-{index}-{os.getpid()}"
        self.max_backlog = max_backlog
        self.state = BusState.CONNECTING
        #: the live workers, this one included (the supervisor says so on each change)
        self.members: frozenset[int] = frozenset((index,))
        self.adapters: dict[str, BusListener] = {}
        self._handlers: dict[str, dict[str, ServerSideHandler]] = {}
        self._reader = FrameReader(max_frame)
        self._transport: asyncio.Transport | None = None
        self._stop_on_loss = stop_on_loss
        self._dropping = False
        self.dropped = 0

    async def connect(self, sock: socket.socket) -> None:
        loop = asyncio.get_running_loop()
        sock.setblocking(False)
        await loop.connect_accepted_socket(lambda: self, sock)

    # -- asyncio.Protocol -----------------------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self._transport = transport
        self.state = BusState.OPEN

    def data_received(self, data: bytes) -> None:
        try:
            frames = self._reader.feed(data)
        except FrameError as exc:
            log.error("worker %d: bus: %s", self.index, exc)
            if self._transport is not None:
                self._transport.abort()
            return
        for kind, peer, payload in frames:
            if kind is FrameKind.MEMBERS:
                self._set_members(frozenset(payload) | {self.index})
            elif kind is FrameKind.DELIVER:
                self._deliver(peer, payload)

    def connection_lost(self, exc: Exception | None) -> None:
        was_open = self.state is BusState.OPEN
        self.state = BusState.CLOSED
        self._transport = None
        self._set_members(frozenset((self.index,)))
        if was_open and self._stop_on_loss:
            log.error("worker %d: lost the bus to the other workers: stopping", self.index)
            os.kill(os.getpid(), signal.SIGTERM)

    # -- publishing -----------------------------------------------------------------------------

    def publish(self, message: ClusterMessage, to: int = ALL) -> bool:
        """Send ``message`` to worker ``to`` (every other worker by default)."""
        transport = self._transport
        if transport is None or self.state is not BusState.OPEN:
            return False
        if len(self.members) == 1 and to == ALL:
            return True  # nobody else to tell
        if transport.get_write_buffer_size() > self.max_backlog:
            self.dropped += 1
            if not self._dropping:
                self._dropping = True
                log.warning("worker %d: the bus is %d bytes behind: dropping messages",
                            self.index, transport.get_write_buffer_size())  # fmt: skip
            return False
        self._dropping = False
        transport.write(encode_frame(FrameKind.PUBLISH, to, message.serialize()))
        return True

    def close(self) -> None:
        """Leave the bus (the worker is stopping: losing it is then expected)."""
        self.state = BusState.CLOSED
        transport, self._transport = self._transport, None
        if transport is not None:
            transport.close()

    # -- receiving ------------------------------------------------------------------------------

    def _deliver(self, source: int, payload: bytes) -> None:
        try:
            message = ClusterMessage.parse(payload)
        except MessageError as exc:
            log.warning("worker %d: dropped a bad bus message from worker %d: %s",
                        self.index, source, exc)  # fmt: skip
            return
        adapter = self.adapters.get(message.nsp)
        if adapter is not None:
            adapter.receive(source, message)

    def _set_members(self, members: frozenset[int]) -> None:
        if members == self.members:
            return
        self.members = members
        for adapter in list(self.adapters.values()):
            adapter.members_changed(members)

    # -- server-side events ---------------------------------------------------------------------

    def on(
        self, event: str, handler: ServerSideHandler | None = None, *, namespace: str = "/"
    ) -> Any:
        """Handle ``server_side_emit(event, ...)`` of the other workers: ``handler(*args)``,
        sync or async; its return value answers an emit with ack."""

        def register(fn: ServerSideHandler) -> ServerSideHandler:
            self._handlers.setdefault(namespace, {})[event] = fn
            return fn

        return register if handler is None else register(handler)

    def handler(self, namespace: str, event: str) -> ServerSideHandler | None:
        return self._handlers.get(namespace, {}).get(event)
