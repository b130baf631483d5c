"""One worker process: what it sets up around ``rtio.run_app``'s serving.

:class:`Worker` is built in the child right after the fork, from what the supervisor
made for it (the listening socket shared by all workers, the hand-off sockets, its end
of the bus). ``rtio.run``'s serving calls it at four points:

- :meth:`Worker.prepare` (the app is built, not started): this worker's ids get its
  prefix (ownership.py); each ``rtio.Server`` of the app whose adapter is the in-memory
  one gets the inter-worker adapter instead (an app configured with another adapter, such
  as Redis, keeps it, its namespaces' adapters built again in the worker for an id of
  their own: the workers then meet through Redis);
- :attr:`Worker.redirect` (given to the HTTP front) and :meth:`Worker.started` (the
  front listens: adopt connections passed by the others);
- :meth:`Worker.drained` (SIGTERM, the handlers at work done): listen on until every
  worker is done (bus.py);
- :meth:`Worker.close` (after the app's shutdown): leave the bus, stop adopting.

States: :class:`WorkerState` NEW -> PREPARED -> SERVING -> CLOSED.

Errors: :class:`WorkersUnsupported` (a ``ValueError``) when an app cannot be served by
several workers: TLS in the process (a connection with TLS state cannot be passed), or an
Engine.IO server attached to a sub-application (:func:`check_app`: its requests reach
aiohttp's handlers, not rtio's front, so they could not be passed to their owner).
"""

from __future__ import annotations

import enum
import logging
import socket
from collections.abc import Sequence
from typing import TYPE_CHECKING

from aiohttp import web

from rtio.engine import ENGINES_KEY
from rtio.ids import new_id
from rtio.socketio import SERVERS_KEY, InMemoryAdapter

from .adapter import BusAdapter
from .bus import WorkerBus
from .handoff import Handoff
from .ownership import prefix_of
from .restore import RecoveringBusAdapter

if TYPE_CHECKING:
    import asyncio

    from rtio.http import FrontSite, RequestHead

__all__ = ["Worker", "WorkerState", "WorkersUnsupported", "check_app"]

log = logging.getLogger("rtio.workers")


class WorkersUnsupported(ValueError):
    """What was asked cannot be served by several workers; the message says why."""


def check_app(app: web.Application) -> None:
    """Refuse (WorkersUnsupported) an app that several workers would serve wrongly: an
    Engine.IO server attached to a sub-application (``app.add_subapp``) is answered by
    aiohttp, never seen by rtio's front, so a request for another worker's session would
    get "Session ID unknown" instead of reaching its owner."""
    pending = [(app, "")]
    while pending:
        current, prefix = pending.pop()
        if current is not app:
            for path, _engine in current.get(ENGINES_KEY, []):
                raise WorkersUnsupported(
                    f"the Engine.IO server at {prefix}{path} is attached to a sub-application: "
                    "with workers > 1 rtio's front must answer it itself, to pass each request "
                    "to the worker owning its session: attach it to the top application "
                    "(rtio.Server(path=...) / attach(app, path=...)) or run one worker")
        for resource in current.router.resources():
            info = resource.get_info()
            sub = info.get("app")
            if isinstance(sub, web.Application):
                pending.append((sub, prefix + str(info.get("prefix", ""))))


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
        peer_outboxes: Sequence[socket.socket] | None = None,
        peer_inbox: socket.socket | None = None,
    ) -> None:
        self.index = index
        self.workers = workers
        #: the listening socket every worker accepts from
        self.sock = sock
        self.handoff = Handoff(index, workers, outboxes, inbox)
        self.bus = WorkerBus(index)
        if peer_outboxes is not None and peer_inbox is not None:
            self.bus.use_peers(list(peer_outboxes), peer_inbox)
        self._bus_sock = bus_sock
        self.state = WorkerState.NEW

    def redirect(self, head: RequestHead, transport: asyncio.Transport, data: bytes) -> bool:
        """The HTTP front's Redirect hook (handoff.py)."""
        return self.handoff.redirect(head, transport, data)

    async def prepare(self, app: web.Application) -> None:
        """Before the app starts: ids with this worker's prefix, the inter-worker adapter,
        the bus connected. Raises WorkersUnsupported (check_app)."""
        check_app(app)
        new_id.clear()
        new_id.set_prefix(prefix_of(self.index))
        await self.bus.connect(self._bus_sock)
        for server in app.get(SERVERS_KEY, []):
            if server.adapter_factory is InMemoryAdapter:
                # (with connection state recovery: the sessions move between workers too)
                kind = BusAdapter if server.connection_state_recovery is None else (
                    RecoveringBusAdapter)  # fmt: skip
                server.use_adapter(kind.factory(self.bus))
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

    async def drained(self, app: web.Application) -> None:
        """At SIGTERM, once this worker's handlers at work are done: keep listening (and
        passing connections to their owners) until every worker is done too, for at most
        the longest ``shutdown_drain`` of the app's engines and a second."""
        drains = [engine.options.shutdown_drain for _, engine in app.get(ENGINES_KEY, ())]
        await self.bus.drained(max(drains, default=0.0) + 1.0)

    async def close(self) -> None:
        self.handoff.close()
        self.bus.close()
        self.state = WorkerState.CLOSED
