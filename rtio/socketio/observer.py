"""Observer: what operations tooling (rtio.ops: metrics, the admin UI) is told of the
Socket.IO layer's life, at one hook point per kind of event.

``server.observer`` is None by default: every hook point is then one attribute read and a
``None`` test, on paths that are not per packet (a socket connecting or going, a room
joined, a broadcast as a whole, an emit that asks for an ack). What is per packet (packets
and bytes in and out) is counted by a subclass of :class:`~.client.Client` that the tooling
installs as ``server.client_type``, so that with it off the packet path is unchanged.

The observer is called synchronously, on the loop; it must not raise (an exception would
reach the code that triggered the event) and must not block.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from .encoded import Encoded

__all__ = ["OPERATIONS", "AckCallback", "Observer", "Operations", "operation"]

AckCallback = Callable[[list[Any] | None], None]


class Observer(Protocol):
    """The hooks (rtio.ops.monitor.Monitor implements them)."""

    def socket_connected(self, socket: Any) -> None:
        """``socket`` (an rtio.Socket) is connected: its CONNECT is accepted."""

    def socket_disconnected(self, socket: Any, reason: str) -> None:
        """``socket`` is gone (``reason``: Node's disconnect reason, or "connect refused"
        when its ``connect`` handler refused it)."""

    def rooms_joined(self, socket: Any, rooms: tuple[str, ...]) -> None:
        """``socket`` joined ``rooms`` (``socket.join``, also through ``sockets_join``)."""

    def room_left(self, socket: Any, room: str) -> None:
        """``socket`` left ``room`` (``socket.leave``, also through ``sockets_leave``)."""

    def broadcast(self, nsp: str, deliveries: int, encoded: Encoded) -> None:
        """A broadcast of namespace ``nsp`` was written to ``deliveries`` local sockets."""

    def time_ack(self, on_ack: AckCallback) -> AckCallback:
        """An emit asks the client for an ack: the callback to store in its place (one
        that notes when the answer came)."""
        return on_ack


#: ``Server.metrics`` and ``Server.instrument``: rtio.ops registers them when imported (the
#: top-level ``rtio`` imports it), so that rtio.socketio never imports what sits above it
OPERATIONS: dict[str, Callable[..., Any]] = {}


def operation(name: str) -> Callable[..., Any]:
    """The registered operation ``name`` (RuntimeError if rtio.ops was not imported)."""
    found = OPERATIONS.get(name)
    if found is None:
        raise RuntimeError(f"{name}() needs rtio.ops: import rtio.ops (import rtio does)")
    return found


class Operations:
    """What rtio.Server offers of rtio.ops (a base class of Server: rtio.socketio does not
    import rtio.ops, which registers these in :data:`OPERATIONS` when imported)."""

    #: rtio.ops's hooks (rtio.ops.Monitor), told of sockets, rooms, broadcasts, acks; None:
    #: off (every hook point is then an attribute read and a None test)
    observer: Observer | None = None

    def metrics(
        self, *, port: int | None = None, host: str = "127.0.0.1", path: str = "/metrics"
    ) -> Any:
        """Turn on the Prometheus metrics (needs ``pip install rtio[metrics]``), served at
        ``path`` of the app this server is attached to, or on a port of their own
        (``port``, on ``host``). Call it before ``attach`` / ``run``. Returns the
        ``rtio.ops.metrics.Metrics``. docs/OPERATIONS.md lists the metrics."""
        return operation("metrics")(self, port=port, host=host, path=path)

    def instrument(self, auth: Any, **options: Any) -> Any:
        """Serve the protocol of the Socket.IO admin UI (``@socket.io/admin-ui`` 0.5.1) on
        its namespace (``/admin``): ``auth`` is ``False`` (none, said explicitly),
        ``{"type": "basic", "username": ..., "password": <bcrypt hash>}``, or a callable
        ``(auth) -> bool`` (sync or async). Options: ``read_only``, ``namespace_name``,
        ``server_id``, ``mode`` ("development" or "production"), ``stats_interval``.
        Returns the ``rtio.ops.admin.AdminUI``. docs/OPERATIONS.md."""
        return operation("instrument")(self, auth=auth, **options)
