"""rtio.workers: several worker processes on one port, with no sticky sessions.

``rtio serve app:sio --workers N``, ``sio.run(workers=N)``, ``rtio.run_app(app,
workers=N)``. docs/WORKERS.md tells how it works and its limits. Modules:

- :mod:`.supervisor`: the parent: listens, forks, watches, restarts, stops;
- :mod:`.worker`: what each worker sets up around rtio.run's serving;
- :mod:`.ownership`: which worker owns a session, by its id (sans-I/O);
- :mod:`.handoff`: passing a connection to the worker owning its session;
- :mod:`.frames` (sans-I/O), :mod:`.relay` (the parent), :mod:`.bus` (a worker): the
  local bus between the workers;
- :mod:`.restore`: the adapter below with connection state recovery (sessions move
  between workers);
- :mod:`.adapter`: the inter-worker adapter (rooms, broadcasts, fetch_sockets) on it;
- :mod:`.serving`: ``run_app(..., workers=N)``, registered with rtio.run on import;
- :mod:`.forward` (with :mod:`.machines`, :mod:`.claim`, :mod:`.splice`): several machines
  behind a load balancer with no affinity, a request forwarded to the machine owning its
  session (``Forwarding``; needs ``rtio[redis]``, imported on first use).
"""

from __future__ import annotations

from typing import Any

from rtio.run import register_workers

from .adapter import BusAdapter, TooManyRequests, WorkerSocket
from .bus import BusState, WorkerBus
from .handoff import Handoff, HandoffState
from .ownership import MAX_WORKERS, WorkerCountError, owner_of, prefix_of, resolve_workers
from .restore import RecoveringBusAdapter
from .serving import PLUGIN, run_workers
from .supervisor import SlotState, SupervisorState, WorkersFailing, listen, supervise
from .worker import Worker, WorkerState, WorkersUnsupported, check_app

register_workers(PLUGIN)


def __getattr__(name: str) -> Any:
    """``Forwarding``, imported on first use (it needs redis-py)."""
    if name in ("Forwarding", "ForwardingState"):
        from . import forward

        return getattr(forward, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = [
    "MAX_WORKERS",
    "BusAdapter",
    "BusState",
    "Handoff",
    "HandoffState",
    "RecoveringBusAdapter",
    "SlotState",
    "SupervisorState",
    "TooManyRequests",
    "Worker",
    "WorkerBus",
    "WorkerCountError",
    "WorkerSocket",
    "WorkerState",
    "WorkersFailing",
    "WorkersUnsupported",
    "check_app",
    "listen",
    "owner_of",
    "prefix_of",
    "resolve_workers",
    "run_workers",
    "supervise",
]
