"""rtio.ops: running an rtio server in production: Prometheus metrics (``sio.metrics()``,
metrics.py, needs ``rtio[metrics]``) and the Socket.IO admin UI's protocol
(``sio.instrument(...)``, admin.py), both fed by one observer per server (monitor.py).

Sits above rtio.socketio and rtio.engine and sees them through their public names and
their observer hooks (rtio/socketio/observer.py, rtio/engine/observer.py). With neither
turned on, nothing of this package is imported. docs/OPERATIONS.md.
"""

from .monitor import Monitor, monitor_of

__all__ = ["Monitor", "monitor_of"]
