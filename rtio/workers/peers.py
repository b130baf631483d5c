"""Worker-to-worker datagrams: the local bus's messages go straight to the other workers.

The supervisor makes one Unix datagram socket pair per worker index before it forks (as
for the hand-off): worker *j* reads ``[0]``, every worker writes ``[1]``. What worker *i*
sends to *j* is a stream of bus frames (frames.py, kind DELIVER, peer *i*) cut into
datagrams::

    +-----------+----------+--------------------------------------------+
    | source u8 | flags u8 | a piece of the source's stream of frames   |
    +-----------+----------+--------------------------------------------+

    flags bit 0 START: the piece begins at a frame boundary

Datagrams of one socket keep their order, so each source's stream is whole; a receiver
reads each source with its own FrameReader. The messages of one loop iteration to one
worker travel in as few datagrams as fit (``datagram`` bytes each); a frame larger than
that is cut over several. The supervisor is not woken: it only announces who is alive
(relay.py's MEMBERS), on which the senders rely.

Restarts: a worker that dies mid-frame leaves a partial frame at its readers; its
replacement's first datagram says START, which drops that partial frame. A new worker
ignores each source until a START datagram (what waited in its socket for its
predecessor may begin mid-frame); a stream that does not parse is dropped the same way.
The whole messages that waited for a dead worker reach its replacement (they name sockets
and requests it does not have: no effect, but for a broadcast to a room it already holds).

States: :class:`PeersState` OPEN -> CLOSED.

Bounds: a socket holds what its send buffer allows (the supervisor asks for 4 datagrams;
Linux caps it at ``net.core.wmem_max``, about 200 KiB): the rest waits here for the socket
to be writable, at most ``max_backlog`` bytes per worker; beyond, a message for that worker
is dropped (``dropped``, a warning once per episode). A frame is at most ``max_frame``
bytes.
"""

from __future__ import annotations

import asyncio
import enum
import logging
import struct
from collections import deque
from collections.abc import Callable, Iterable, Sequence
from socket import socket

from .frames import FrameError, FrameKind, FrameReader, encode_frame

__all__ = ["DATAGRAM", "Peers", "PeersState"]

log = logging.getLogger("rtio.workers")

#: the most bytes of frames in one datagram
DATAGRAM = 60 * 1024
_HEADER = struct.Struct("!BB")
_START = 1
#: datagrams taken per wake-up, so that a flood cannot starve the loop
_PER_WAKEUP = 64


class PeersState(enum.Enum):
    OPEN = "open"
    CLOSED = "closed"


class _Out:
    """What waits to be sent to one worker: whole frames, the first maybe begun."""

    __slots__ = ("dropping", "frames", "offset", "size", "waiting")

    def __init__(self) -> None:
        self.frames: deque[bytes] = deque()
        self.offset = 0  # bytes of frames[0] sent already
        self.size = 0  # bytes waiting
        self.waiting = False  # for the socket to be writable
        self.dropping = False


class _In:
    """One source's stream at this worker."""

    __slots__ = ("reader", "synced")

    def __init__(self, max_frame: int) -> None:
        self.reader = FrameReader(max_frame)
        self.synced = False


class Peers:
    """Worker ``index``'s datagrams to and from the others: ``outboxes[j]`` sends to
    worker j, ``inbox`` receives; ``deliver(source, payload)`` gets each message."""

    def __init__(
        self,
        index: int,
        outboxes: Sequence[socket],
        inbox: socket,
        deliver: Callable[[int, bytes], None],
        *,
        max_frame: int = 64 * 1024 * 1024,
        max_backlog: int = 64 * 1024 * 1024,
        datagram: int = DATAGRAM,
    ) -> None:
        self.index = index
        self._outboxes = outboxes
        self._inbox = inbox
        self._deliver = deliver
        self.max_frame = max_frame
        self.max_backlog = max_backlog
        self.datagram = datagram
        self._out = [_Out() for _ in outboxes]
        self._in = [_In(max_frame) for _ in outboxes]
        self._loop: asyncio.AbstractEventLoop | None = None
        self._flushing = False
        self.state = PeersState.OPEN
        #: messages sent, and dropped for a worker whose backlog was full
        self.sent = 0
        self.dropped = 0

    def start(self) -> None:
        """Receive (call in the worker's loop)."""
        loop = self._loop = asyncio.get_running_loop()
        self._inbox.setblocking(False)
        for sock in self._outboxes:
            sock.setblocking(False)
        loop.add_reader(self._inbox.fileno(), self._receive)

    def close(self) -> None:
        """Send what waits, as far as the sockets take it now, and stop."""
        if self.state is PeersState.CLOSED:
            return
        if self._loop is not None:
            self._flush_all()
        self.state = PeersState.CLOSED
        loop = self._loop
        if loop is not None and not loop.is_closed():
            loop.remove_reader(self._inbox.fileno())
            for j, out in enumerate(self._out):
                if out.waiting:
                    loop.remove_writer(self._outboxes[j].fileno())

    # -- sending --------------------------------------------------------------------------------

    def send(self, payload: bytes, targets: Iterable[int]) -> None:
        """Queue a message for each of ``targets``; sent at the end of this loop iteration
        with the others queued meanwhile."""
        if self.state is not PeersState.OPEN or self._loop is None:
            return
        frame = encode_frame(FrameKind.DELIVER, self.index, payload)
        for j in targets:
            if j == self.index or not 0 <= j < len(self._out):
                continue
            out = self._out[j]
            if out.size + len(frame) > self.max_backlog:
                self.dropped += 1
                if not out.dropping:
                    out.dropping = True
                    log.warning("worker %d: worker %d reads too slowly (%d bytes wait): "
                                "dropping what is sent to it", self.index, j, out.size)  # fmt: skip
                continue
            out.dropping = False
            out.frames.append(frame)
            out.size += len(frame)
            self.sent += 1
        if not self._flushing:
            self._flushing = True
            self._loop.call_soon(self._flush_all)

    def _flush_all(self) -> None:
        self._flushing = False
        for j, out in enumerate(self._out):
            if out.frames and not out.waiting:
                self._flush(j)

    def _flush(self, j: int) -> None:
        out, sock = self._out[j], self._outboxes[j]
        limit = self.datagram
        while out.frames and self.state is PeersState.OPEN:
            first = out.frames[0]
            flags = _START if out.offset == 0 else 0
            if out.offset or len(first) > limit:  # a piece of a large frame
                pieces = [first[out.offset : out.offset + limit]]
                whole = 0
            else:
                pieces, size, whole = [], 0, 0
                for frame in out.frames:
                    if size + len(frame) > limit:
                        break
                    pieces.append(frame)
                    size += len(frame)
                    whole += 1
            try:
                sock.send(b"".join((_HEADER.pack(self.index, flags), *pieces)))
            except (BlockingIOError, InterruptedError):
                if not out.waiting and self._loop is not None:
                    out.waiting = True
                    self._loop.add_writer(sock.fileno(), self._writable, j)
                return
            except OSError as exc:
                log.warning("worker %d: cannot send to worker %d: %s: dropping what waits",
                            self.index, j, exc)  # fmt: skip
                out.frames.clear()
                out.offset = out.size = 0
                break
            if whole:
                for _ in range(whole):
                    out.size -= len(out.frames.popleft())
            else:
                out.offset += len(pieces[0])
                if out.offset >= len(first):
                    out.frames.popleft()
                    out.size -= len(first)
                    out.offset = 0
        if out.waiting and self._loop is not None:
            out.waiting = False
            self._loop.remove_writer(sock.fileno())

    def _writable(self, j: int) -> None:
        self._flush(j)

    # -- receiving ------------------------------------------------------------------------------

    def _receive(self) -> None:
        inbox = self._inbox
        for _ in range(_PER_WAKEUP):
            try:
                data = inbox.recv(self.datagram + 64)
            except (BlockingIOError, InterruptedError):
                return
            except OSError as exc:
                log.error("worker %d: the bus datagram socket failed: %s", self.index, exc)
                self.close()
                return
            if len(data) < 2:
                continue
            source, flags = _HEADER.unpack_from(data)
            if source >= len(self._in) or source == self.index:
                continue
            stream = self._in[source]
            if flags & _START:
                if not stream.synced or stream.reader.buffered:  # (a restarted sender)
                    stream.reader = FrameReader(self.max_frame)
                stream.synced = True
            elif not stream.synced:
                continue
            try:
                frames = stream.reader.feed(data[2:])
            except FrameError as exc:
                log.warning("worker %d: a bad bus stream from worker %d: %s",
                            self.index, source, exc)  # fmt: skip
                stream.synced = False
                stream.reader = FrameReader(self.max_frame)
                continue
            for kind, _peer, payload in frames:
                if kind is FrameKind.DELIVER and self.state is PeersState.OPEN:
                    self._deliver(source, payload)
