"""rtio.ops: running an rtio server in production: Prometheus metrics (``sio.metrics()``,
metrics.py, needs ``rtio[metrics]``) and the Socket.IO admin UI's protocol
(``sio.instrument(...)``, admin.py), both fed by one observer per server (monitor.py).

Sits above rtio.socketio and rtio.engine and sees them through their public names and
their observer hooks (rtio/socketio/observer.py, rtio/engine/observer.py). rtio.socketio
does not import it: importing it registers ``Server.metrics`` and ``Server.instrument``
(the top-level ``rtio`` does); metrics.py and admin.py are imported when first called.
docs/OPERATIONS.md.
"""

from __future__ import annotations

from typing import Any

from rtio.socketio import Server
from rtio.socketio.observer import OPERATIONS

from .monitor import Monitor, monitor_of

__all__ = ["Monitor", "monitor_of"]


def _metrics(server: Server, **options: Any) -> Any:
    from .metrics import enable_metrics

    return enable_metrics(server, **options)


def _instrument(server: Server, **options: Any) -> Any:
    from .admin import instrument

    return instrument(server, **options)


OPERATIONS["metrics"] = _metrics
OPERATIONS["instrument"] = _instrument
