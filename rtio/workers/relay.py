"""The supervisor's side of the local bus: relaying what each worker publishes.

Each live worker has one Unix stream socket to the supervisor (frames.py). A PUBLISH
frame is relayed as a DELIVER frame to its target worker, or to every other live worker;
when the set of live workers changes, each gets a MEMBERS frame (the adapters wait for
answers from exactly those).

Stopping together: at SIGTERM each worker finishes its handlers at work while it still
listens, then sends DRAINED and listens on until it gets RELEASED. While the supervisor
stops them all (:meth:`Relay.stop_together`), RELEASED goes out once every live worker has
drained: a worker that drained first keeps taking the connections the kernel queues on its
SO_REUSEPORT socket and passing them to their owner, rather than leave a polling client
of a worker still at work to find its next request reset. A worker stopped alone is
released at once. All sockets are non-blocking and driven by the supervisor's
``selectors`` loop; nothing here blocks.

Bounds: a frame is at most ``max_frame`` bytes (a worker sending more has its bus closed,
which stops it; the supervisor restarts it); each worker's unsent output is at most
``max_backlog`` bytes: beyond, what is relayed to that worker is dropped (counted in
``dropped``, logged once per episode), never queued without bound for a worker that does
not read.

States of one worker's link: :class:`LinkState` OPEN -> CLOSED (its process exited, or
its bus broke).
"""

from __future__ import annotations

import enum
import logging
import selectors
import socket
from dataclasses import dataclass, field

from .frames import ALL, FrameError, FrameKind, FrameReader, encode_frame

__all__ = ["LinkState", "Relay"]

log = logging.getLogger("rtio.workers")

_READ = 256 * 1024
_RELEASED = encode_frame(FrameKind.RELEASED, ALL, b"")


class LinkState(enum.Enum):
    OPEN = "open"
    CLOSED = "closed"


@dataclass(eq=False)
class _Link:
    index: int
    sock: socket.socket
    reader: FrameReader
    out: bytearray = field(default_factory=bytearray)
    state: LinkState = LinkState.OPEN
    dropping: bool = False


class Relay:
    """The bus hub in the supervisor; ``selector`` is the supervisor's loop, whose events
    for the links come back through :meth:`handle`."""

    def __init__(
        self,
        selector: selectors.BaseSelector,
        *,
        max_frame: int = 64 * 1024 * 1024,
        max_backlog: int = 256 * 1024 * 1024,
    ) -> None:
        self._selector = selector
        self.max_frame = max_frame
        self.max_backlog = max_backlog
        self._links: dict[int, _Link] = {}
        #: the workers that drained (DRAINED) and wait to be released
        self._drained: set[int] = set()
        self._together = False
        #: frames relayed, and dropped for a worker whose backlog was full
        self.relayed = 0
        self.dropped = 0

    @property
    def members(self) -> list[int]:
        return sorted(self._links)

    def add(self, index: int, sock: socket.socket) -> None:
        """Worker ``index`` joined with its end of the bus."""
        self.remove(index)
        sock.setblocking(False)
        link = _Link(index, sock, FrameReader(self.max_frame))
        self._links[index] = link
        self._selector.register(sock, selectors.EVENT_READ, link)
        self._announce()

    def remove(self, index: int) -> None:
        """Worker ``index`` left (its process exited): drop its link."""
        link = self._links.pop(index, None)
        if link is None:
            return
        link.state = LinkState.CLOSED
        self._selector.unregister(link.sock)
        link.sock.close()
        self._drained.discard(index)
        self._announce()
        self._release()

    def forget(self) -> None:
        """In a forked child: close the inherited links, leaving the selector (shared
        with the parent's: unregistering would change the parent's) alone."""
        for link in self._links.values():
            link.sock.close()
        self._links.clear()

    def close(self) -> None:
        for index in list(self._links):
            link = self._links.pop(index)
            self._selector.unregister(link.sock)
            link.sock.close()

    def handle(self, link: object, mask: int) -> None:
        """A selector event for one of the links."""
        assert isinstance(link, _Link)
        if link.state is not LinkState.OPEN:
            return
        if mask & selectors.EVENT_WRITE:
            self._flush(link)
        if mask & selectors.EVENT_READ and link.state is LinkState.OPEN:
            self._read(link)

    # -- reading and relaying -------------------------------------------------------------------

    def _read(self, link: _Link) -> None:
        try:
            data = link.sock.recv(_READ)
        except (BlockingIOError, InterruptedError):
            return
        except OSError as exc:
            data = b""
            log.debug("bus of worker %d: %s", link.index, exc)
        if not data:  # the worker is gone (or going): its exit is reaped elsewhere
            self.remove(link.index)
            return
        try:
            frames = link.reader.feed(data)
        except FrameError as exc:
            log.error("bus of worker %d: %s: closing it", link.index, exc)
            self.remove(link.index)
            return
        # the frames of one read go out to each worker in one send (a worker publishing
        # several messages in a loop iteration costs each other worker one wake-up)
        batches: dict[int, list[bytes]] = {}
        for kind, peer, payload in frames:
            if kind is FrameKind.DRAINED:
                if self._together:
                    self._drained.add(link.index)
                    self._release()
                else:  # stopped alone (a restart, a signal of its own): released at once
                    self._send(link, _RELEASED)
                continue
            if kind is not FrameKind.PUBLISH:
                log.error("bus of worker %d: a %s frame from a worker: closing it",
                          link.index, kind.name)  # fmt: skip
                self.remove(link.index)
                return
            frame = encode_frame(FrameKind.DELIVER, link.index, payload)
            if peer == ALL:
                for other in self._links:
                    if other != link.index:
                        batches.setdefault(other, []).append(frame)
            elif peer in self._links:
                batches.setdefault(peer, []).append(frame)
        for index, batch in batches.items():
            target = self._links.get(index)
            if target is not None:
                self._send(target, batch[0] if len(batch) == 1 else b"".join(batch), len(batch))

    # -- stopping together ----------------------------------------------------------------------

    def stop_together(self) -> None:
        """The supervisor stops every worker: release them once all have drained. Safe in
        a signal handler (it only sets a flag: the releases go out as DRAINED arrives)."""
        self._together = True

    def _release(self) -> None:
        if self._together and self._drained and self._drained.issuperset(self._links):
            released, self._drained = self._drained, set()
            for index in sorted(released):
                link = self._links.get(index)
                if link is not None:
                    self._send(link, _RELEASED)

    def _send(self, link: _Link, frame: bytes, count: int = 1) -> None:
        """Queue ``frame`` (``count`` whole frames) for ``link`` and send what it can."""
        if len(link.out) + len(frame) > self.max_backlog:
            self.dropped += count
            if not link.dropping:
                link.dropping = True
                log.warning("bus: worker %d reads too slowly (%d bytes wait): dropping what "
                            "is relayed to it", link.index, len(link.out))  # fmt: skip
            return
        self.relayed += count
        was_empty = not link.out
        link.out += frame
        if was_empty:
            self._flush(link)

    def _flush(self, link: _Link) -> None:
        out = link.out
        while out:
            try:
                sent = link.sock.send(out)
            except (BlockingIOError, InterruptedError):
                break
            except OSError as exc:
                log.debug("bus of worker %d: %s", link.index, exc)
                self.remove(link.index)
                return
            del out[:sent]
        if link.dropping and len(out) < self.max_backlog // 2:
            link.dropping = False
        events = selectors.EVENT_READ | (selectors.EVENT_WRITE if out else 0)
        if self._selector.get_key(link.sock).events != events:
            self._selector.modify(link.sock, events, link)

    def _announce(self) -> None:
        members = bytes(self._links)
        frame = encode_frame(FrameKind.MEMBERS, ALL, members)
        for link in list(self._links.values()):
            self._send(link, frame)
