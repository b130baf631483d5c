"""A worker's end of the local bus: publish to the other workers, hear what they publish.

The bus carries rtio.cluster's ``ClusterMessage`` (socket.io-adapter's message types:
broadcasts, joins, leaves, disconnects, fetches and their answers, server-side emits)
between the workers of one supervisor: straight to the other workers over datagram
sockets (peers.py) when the supervisor made them, else relayed by it (relay.py,
frames.py); the supervisor says who is alive either way. The adapter of
each namespace (adapter.py) publishes through it and gets the messages of its namespace
back; :meth:`WorkerBus.on` registers the handlers of server-side emits.

At SIGTERM, :meth:`WorkerBus.drained` keeps the worker listening until every worker has
drained (relay.py says so), so that none stops taking connections while another still
serves a polling client.

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
from typing import Any, Protocol, cast

from rtio.cluster import MessageError
from rtio.cluster.messages import ClusterMessage
from rtio.socketio import BroadcastOptions

from . import plain_broadcast
from .frames import ALL, FrameError, FrameKind, FrameReader, encode_frame
from .peers import Peers

__all__ = ["BusListener", "BusState", "WorkerBus"]

log = logging.getLogger("rtio.workers")

ServerSideHandler = Callable[..., Any]


class BusListener(Protocol):
    """What the bus needs of a namespace's adapter (adapter.py's BusAdapter)."""

    def receive(self, source: int, message: ClusterMessage) -> None: ...
    def receive_broadcast(self, source: int, data: list[Any], opts: BroadcastOptions) -> None: ...
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
        #: set by RELEASED (frames.py), awaited by :meth:`drained`
        self._released: asyncio.Future[None] | None = None
        #: the datagrams straight to the other workers (peers.py), when the supervisor made
        #: them: the messages then skip the supervisor
        self.peers: Peers | None = None

    def use_peers(self, outboxes: list[socket.socket], inbox: socket.socket) -> None:
        """Send to and receive from the other workers directly (before :meth:`connect`)."""
        self.peers = Peers(self.index, outboxes, inbox, self._deliver,
                           max_frame=self._reader.max_frame, max_backlog=self.max_backlog)

    async def connect(self, sock: socket.socket) -> None:
        loop = asyncio.get_running_loop()
        sock.setblocking(False)
        await loop.connect_accepted_socket(lambda: self, sock)
        if self.peers is not None:
            self.peers.start()

    # -- asyncio.Protocol -----------------------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # not an isinstance assert: uvloop's transports are not asyncio.Transport subclasses
        transport = cast(asyncio.Transport, transport)
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
            elif kind is FrameKind.RELEASED:
                self._release()

    def connection_lost(self, exc: Exception | None) -> None:
        was_open = self.state is BusState.OPEN
        self.state = BusState.CLOSED
        self._transport = None
        self._set_members(frozenset((self.index,)))
        self._release()
        if was_open and self._stop_on_loss:
            log.error("worker %d: lost the bus to the other workers: stopping", self.index)
            os.kill(os.getpid(), signal.SIGTERM)

    # -- publishing -----------------------------------------------------------------------------

    def publish(self, message: ClusterMessage | bytes, to: int = ALL) -> bool:
        """Send ``message`` to worker ``to`` (every other worker by default): a
        ClusterMessage (serialized only if someone is there to read it) or a payload made
        already (a plain broadcast, plain_broadcast.py)."""
        transport = self._transport
        if transport is None or self.state is not BusState.OPEN:
            return False
        if len(self.members) == 1 and to == ALL:
            return True  # nobody else to tell
        payload = message.serialize() if isinstance(message, ClusterMessage) else message
        peers = self.peers
        if peers is not None:
            targets = [m for m in self.members if m != self.index] if to == ALL else [to]
            peers.send(payload, targets)
            return True
        if transport.get_write_buffer_size() > self.max_backlog:
            self.dropped += 1
            if not self._dropping:
                self._dropping = True
                log.warning("worker %d: the bus is %d bytes behind: dropping messages",
                            self.index, transport.get_write_buffer_size())  # fmt: skip
            return False
        self._dropping = False
        transport.write(encode_frame(FrameKind.PUBLISH, to, payload))
        return True

    async def drained(self, timeout: float) -> None:
        """Tell the supervisor this worker's handlers at work are done (SIGTERM) and wait
        until it says to stop listening: every worker has drained (relay.py), the bus is
        lost, or ``timeout`` seconds have passed."""
        transport = self._transport
        if transport is None or self.state is not BusState.OPEN or len(self.members) == 1:
            return
        self._released = released = asyncio.get_running_loop().create_future()
        transport.write(encode_frame(FrameKind.DRAINED, ALL, b""))
        try:
            await asyncio.wait_for(released, timeout)
        except TimeoutError:
            log.warning("worker %d: the other workers still drain after %g s: stopping "
                        "anyway", self.index, timeout)  # fmt: skip
        finally:
            self._released = None

    def _release(self) -> None:
        released = self._released
        if released is not None and not released.done():
            released.set_result(None)

    def close(self) -> None:
        """Leave the bus (the worker is stopping: losing it is then expected)."""
        self.state = BusState.CLOSED
        if self.peers is not None:
            self.peers.close()
        transport, self._transport = self._transport, None
        if transport is not None:
            transport.close()

    # -- receiving ------------------------------------------------------------------------------

    def _deliver(self, source: int, payload: bytes) -> None:
        plain = payload[:1] == plain_broadcast.MARK
        try:
            if plain:
                nsp, data, opts = plain_broadcast.decode(payload)
            else:
                message = ClusterMessage.parse(payload)
                nsp = message.nsp
        except MessageError as exc:
            log.warning("worker %d: dropped a bad bus message from worker %d: %s",
                        self.index, source, exc)  # fmt: skip
            return
        adapter = self.adapters.get(nsp)
        if adapter is None:
            return
        if plain:
            adapter.receive_broadcast(source, data, opts)
        else:
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
