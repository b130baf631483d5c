"""One worker process: what it sets up around ``rtio.run_app``'s serving.

:class:`Worker` is built in the child right after the fork, from what the supervisor
made for it (the listening socket shared by all workers, the hand-off sockets, its end
of the bus). ``rtio.run``'s serving calls it at three points:

- :meth:`Worker.prepare` (the app is built, not started): this worker's ids get its
  prefix (ownership.py); each ``rtio.Server`` of the app whose adapter is the in-memory
  one gets the inter-worker adapter instead (an app configured with another adapter, such
  as Redis, keeps it, its namespaces' adapters built again in the worker for an id of
  their own: the workers then meet through Redis);
- :attr:`Worker.redirect` (given to the HTTP front) and :meth:`Worker.started` (the
  front listens: adopt connections passed by the others);
- :meth:`Worker.close` (after the app's shutdown): leave the bus, stop adopting.

States: :class:`WorkerState` NEW -> PREPARED -> SERVING -> CLOSED.

Errors: :class:`WorkersUnsupported` (a ``ValueError``) when an app cannot be served by
several workers (TLS in the process: a connection with TLS state cannot be passed).
"""

from __future__ import annotations

import enum
import logging
import socket
from collections.abc import Sequence
from typing import TYPE_CHECKING

from aiohttp import web

from rtio.ids import new_id
from rtio.socketio import SERVERS_KEY, InMemoryAdapter

from .adapter import BusAdapter
from .bus import WorkerBus
from .handoff import Handoff
from .ownership import prefix_of

if TYPE_CHECKING:
    import asyncio

    from rtio.http import FrontSite, RequestHead

__all__ = ["Worker", "WorkerState", "WorkersUnsupported"]

log = logging.getLogger("rtio.workers")


class WorkersUnsupported(ValueError):
    """What was asked cannot be served by several workers; the message says why."""


class WorkerState(enum.Enum):
    NEW = "new"
    PREPARED = "prepared"
    SERVING = "serving"
    CLOSED = "closed"


class Worker:
    """Worker ``index`` of ``workers``, in its own process."""

    def __init__(
        self,
        index: int,
        workers: int,
        *,
        sock: socket.socket,
        outboxes: Sequence[socket.socket],
        inbox: socket.socket,
        bus_sock: socket.socket,
    ) -> None:
        self.index = index
        self.workers = workers
        #: the listening socket every worker accepts from
        self.sock = sock
        self.handoff = Handoff(index, workers, outboxes, inbox)
        self.bus = WorkerBus(index)
        self._bus_sock = bus_sock
        self.state = WorkerState.NEW

    def redirect(self, head: RequestHead, transport: asyncio.Transport, data: bytes) -> bool:
        """The HTTP front's Redirect hook (handoff.py)."""
        return self.handoff.redirect(head, transport, data)

    async def prepare(self, app: web.Application) -> None:
        """Before the app starts: ids with this worker's prefix, the inter-worker adapter,
        the bus connected."""
        new_id.clear()
        new_id.set_prefix(prefix_of(self.index))
        await self.bus.connect(self._bus_sock)
        for server in app.get(SERVERS_KEY, []):
            if server.adapter_factory is InMemoryAdapter:
                server.use_adapter(BusAdapter.factory(self.bus))
            else:
                # another adapter (Redis): its namespaces' adapters were built before the
                # fork, with the same node id in every worker, which would then take each
                # other's messages for their own: built again here, one id per worker
                server.use_adapter(server.adapter_factory)
        self.state = WorkerState.PREPARED

    def started(self, site: FrontSite) -> None:
        """The front listens: adopt the connections the other workers pass."""
        self.handoff.start(site.front)
        self.state = WorkerState.SERVING
        log.debug("worker %d serving", self.index)

    async def close(self) -> None:
        self.handoff.close()
        self.bus.close()
        self.state = WorkerState.CLOSED
