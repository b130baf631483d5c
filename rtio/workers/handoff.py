"""Passing a connection to the worker that owns its session (Linux/macOS, no TLS).

When rtio's HTTP front of worker *i* has read the head of an Engine.IO request whose
``sid`` another worker *j* owns (ownership.py), :meth:`Handoff.redirect` sends the
connection's file descriptor, with every byte read of it from that head on, to worker *j*
(``socket.send_fds`` on *j*'s datagram socket: one datagram, the bytes as its data, the
descriptor as SCM_RIGHTS), then closes its own copy of the descriptor (the TCP connection
stays open: *j* holds it). Worker *j* adopts it (``loop.connect_accepted_socket``), feeds
the bytes to a fresh front protocol and answers as if it had accepted the connection: the
long-polling GET, the POST and the WebSocket upgrade of a session all reach their owner,
whichever worker the kernel gave the connection to. Nothing is copied afterwards: the
connection is the owner's until it closes (or is passed on again for another session).

The datagram sockets are made by the supervisor before it forks, one per worker index;
a restarted worker gets the same one (whatever was passed to its predecessor and not yet
taken is answered by the new worker: "Session ID unknown", the client reconnects).

States: :class:`HandoffState` OPEN (passing and adopting) -> CLOSED (neither: a
connection arriving then is closed).

Errors: nothing raises to the front. A connection that cannot be passed (the owner's queue
is full because it is stuck or restarting, the bytes read exceed a datagram, the previous
response is still being written) is answered here instead (Engine.IO says "Session ID
unknown" and the client reconnects); each such case is counted (``failed``) and logged
once per burst.
"""

from __future__ import annotations

import asyncio
import enum
import logging
import os
import socket
from collections.abc import Sequence

from rtio.http import Front, RequestHead

from .ownership import owner_of

__all__ = ["MAX_PASSED", "Handoff", "HandoffState"]

log = logging.getLogger("rtio.workers")

#: the most bytes passed with a connection (a head, and what followed it in the same
#: reads); a datagram of a Unix socket holds about 200 KiB with Linux's default buffers
MAX_PASSED = 160 * 1024
#: the receive buffer of one datagram (room for MAX_PASSED)
_RECEIVE = MAX_PASSED + 1024
#: datagrams taken per wake-up, so that a flood cannot starve the loop
_PER_WAKEUP = 64


class HandoffState(enum.Enum):
    OPEN = "open"
    CLOSED = "closed"


class _Primed(asyncio.Protocol):
    """Adopts a passed connection: puts a fresh front protocol on the transport and feeds
    it the bytes the other worker read."""

    __slots__ = ("_data", "_front")

    def __init__(self, front: Front, data: bytes) -> None:
        self._front = front
        self._data = data

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        protocol = self._front()
        transport.set_protocol(protocol)
        protocol.connection_made(transport)
        if self._data:
            protocol.data_received(self._data)


class Handoff:
    """Worker ``index``'s end of the connection passing among ``workers`` workers:
    ``outboxes[j]`` sends to worker j, ``inbox`` receives this worker's."""

    def __init__(
        self,
        index: int,
        workers: int,
        outboxes: Sequence[socket.socket],
        inbox: socket.socket,
    ) -> None:
        if len(outboxes) != workers:
            raise ValueError("one outbox per worker")
        self.index = index
        self.workers = workers
        self._outboxes = outboxes
        self._inbox = inbox
        self._front: Front | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._tasks: set[asyncio.Task[None]] = set()
        self.state = HandoffState.OPEN
        #: connections passed to other workers, adopted from them, answered here instead
        self.passed = 0
        self.adopted = 0
        self.failed = 0
        self._failing = False

    # -- passing (called by the front for each Engine.IO request head) ------------------------

    def redirect(self, head: RequestHead, transport: asyncio.Transport, data: bytes) -> bool:
        """The front's Redirect hook: True when the connection went to its owner."""
        owner = owner_of(head.target, self.workers)
        if owner is None or owner == self.index or self.state is not HandoffState.OPEN:
            return False
        reason = self._pass(owner, transport, data)
        if reason is None:
            self.passed += 1
            self._failing = False
            return True
        self.failed += 1
        if not self._failing:
            self._failing = True
            log.warning("worker %d: cannot pass a connection to worker %d (%s): answered "
                        "here, its client will reconnect", self.index, owner, reason)  # fmt: skip
        return False

    def _pass(self, owner: int, transport: asyncio.Transport, data: bytes) -> str | None:
        if len(data) > MAX_PASSED:
            return f"{len(data)} bytes read, more than {MAX_PASSED}"
        if transport.get_write_buffer_size():
            return "a response is still being written"
        sock = transport.get_extra_info("socket")
        if sock is None:
            return "no socket (TLS?)"
        try:
            socket.send_fds(self._outboxes[owner], [data], [sock.fileno()])
        except BlockingIOError:
            return "its queue is full"
        except OSError as exc:
            return str(exc)
        # the owner holds the connection now: close our descriptor only (no shutdown, so
        # the TCP connection stays open), reading nothing more of it
        transport.abort()
        return None

    # -- adopting --------------------------------------------------------------------------------

    def start(self, front: Front) -> None:
        """Adopt what other workers pass, for ``front`` (call in the worker's loop)."""
        loop = asyncio.get_running_loop()
        self._front = front
        self._loop = loop
        self._inbox.setblocking(False)
        loop.add_reader(self._inbox.fileno(), self._receive)

    def _receive(self) -> None:
        inbox, loop, front = self._inbox, self._loop, self._front
        assert loop is not None and front is not None
        for _ in range(_PER_WAKEUP):
            try:
                data, fds, _flags, _address = socket.recv_fds(inbox, _RECEIVE, 4)
            except (BlockingIOError, InterruptedError):
                return
            except OSError as exc:
                log.error("worker %d: the hand-off socket failed: %s", self.index, exc)
                self.close()
                return
            for extra in fds[1:]:
                os.close(extra)
            if not fds:
                continue
            sock = socket.socket(fileno=fds[0])
            if self.state is not HandoffState.OPEN:
                sock.close()
                continue
            sock.setblocking(False)
            task = loop.create_task(self._adopt(front, sock, data))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

    async def _adopt(self, front: Front, sock: socket.socket, data: bytes) -> None:
        loop = asyncio.get_running_loop()
        try:
            await loop.connect_accepted_socket(lambda: _Primed(front, data), sock)
        except OSError as exc:  # the client went away meanwhile
            log.debug("worker %d: a passed connection could not be adopted: %s", self.index, exc)
            sock.close()
            return
        self.adopted += 1

    def close(self) -> None:
        """Stop passing and adopting (shutdown)."""
        if self.state is HandoffState.CLOSED:
            return
        self.state = HandoffState.CLOSED
        if self._loop is not None:
            self._loop.remove_reader(self._inbox.fileno())
