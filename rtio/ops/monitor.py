"""Monitor: the one observer of a server (``server.observer`` and ``server.engine.observer``)
that counts what the metrics report and forwards the life of sockets and rooms to the
admin UI.

Counting costs plain integer additions on the loop, read by the Prometheus collector at
scrape time (metrics.py); nothing here calls prometheus_client. Per packet, only the
:class:`CountingClient` that :func:`monitor_of` installs as ``server.client_type`` counts
(connections opened before it was installed are not counted packet by packet); a broadcast
is counted once, with its deliveries (N sockets cost one call, not N).

States: a server has no monitor (nothing counted, the hot paths unchanged) until
:func:`monitor_of` installs one; it stays for the server's life. Errors: none of its hooks
raises (a listener that does is logged and kept).
"""

from __future__ import annotations

import bisect
import logging
import time
import weakref
from collections import Counter
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Protocol

from rtio.engine import CloseReason, EngineSession, RequestRefused
from rtio.socketio import Packet, PacketType, Server
from rtio.socketio.client import Client, ClientState

if TYPE_CHECKING:
    from rtio.socketio.encoded import Encoded

__all__ = [
    "ACK_BUCKETS",
    "HANDLER_BUCKETS",
    "CountingClient",
    "Histogram",
    "Listener",
    "Monitor",
    "Stats",
    "monitor_of",
]

log = logging.getLogger("rtio.ops")

AckCallback = Callable[[list[Any] | None], None]

#: seconds: ack latency (an emit to the client's answer)
ACK_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
#: seconds: a message handled inline (a plain handler in full, an async one until it waits)
HANDLER_BUCKETS = (0.00001, 0.00005, 0.0001, 0.0005, 0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1.0)


class Histogram:
    """Bucket counts kept as plain integers (Prometheus's ``le`` buckets, cumulated at
    scrape time)."""

    __slots__ = ("bounds", "counts", "sum")

    def __init__(self, bounds: tuple[float, ...]) -> None:
        self.bounds = bounds
        #: one count per bound, plus +Inf last (not cumulative)
        self.counts = [0] * (len(bounds) + 1)
        self.sum = 0.0

    def observe(self, value: float) -> None:
        self.counts[bisect.bisect_left(self.bounds, value)] += 1
        self.sum += value

    def buckets(self) -> list[tuple[str, int]]:
        """Cumulative ``(le, count)`` pairs, "+Inf" last."""
        out = []
        total = 0
        for bound, count in zip((*map(str, self.bounds), "+Inf"), self.counts, strict=True):
            total += count
            out.append((bound, total))
        return out


class Stats:
    """Every counter of one server: plain integers and Counters, written on the loop."""

    def __init__(self) -> None:
        self.packets_in = 0
        self.bytes_in = 0
        self.packets_out = 0
        self.bytes_out = 0
        self.broadcasts = 0
        self.deliveries = 0
        self.engine_connects = 0
        #: CloseReason value -> count
        self.engine_disconnects: Counter[str] = Counter()
        #: namespace -> count
        self.connects: Counter[str] = Counter()
        #: connection state recovery: (namespace, "recovered" / "not recovered") -> CONNECTs
        #: that carried a {pid, offset} (a client asking to recover)
        self.recoveries: Counter[tuple[str, str]] = Counter()
        #: (namespace, reason) -> count
        self.disconnects: Counter[tuple[str, str]] = Counter()
        self.upgrades = 0
        #: why -> count
        self.upgrade_failures: Counter[str] = Counter()
        #: (status, message, handshake "true"/"false") -> count
        self.refused: Counter[tuple[str, str, str]] = Counter()
        #: "handler" (an application handler, listener or middleware failed) / "other"
        self.errors: Counter[str] = Counter()
        #: handlers still running past slow_handler_warning (rtio.socketio's warning)
        self.slow_handlers = 0
        self.ack_latency = Histogram(ACK_BUCKETS)
        self.handler_time = Histogram(HANDLER_BUCKETS)


class Listener(Protocol):
    """What the admin UI is told (a subset of rtio.socketio.observer.Observer)."""

    def socket_connected(self, socket: Any) -> None: ...
    def socket_disconnected(self, socket: Any, reason: str) -> None: ...
    def rooms_joined(self, socket: Any, rooms: tuple[str, ...]) -> None: ...
    def room_left(self, socket: Any, room: str) -> None: ...
    def upgraded(self, session: EngineSession) -> None: ...


_OPEN = ClientState.OPEN  # (a module global: read faster, see rtio/socketio/core.py)
#: 1 message in (_SAMPLE + 1) is timed for rtio_handler_seconds
_SAMPLE = 63


class CountingClient(Client):
    """A Client that counts the packets and bytes of its connection (``stats`` is set on
    the subclass :func:`monitor_of` makes per server). Text is counted in characters (one
    per byte for ASCII JSON), binary in bytes; the Engine.IO heartbeat is not counted."""

    __slots__ = ()

    stats: Stats

    def __init__(self, server: Any, session: EngineSession, parser: Any) -> None:
        super().__init__(server, session, parser)
        self.stats.engine_connects += 1

    def receive_message(self, data: str | bytes) -> None:
        stats = self.stats
        count = stats.packets_in = stats.packets_in + 1
        stats.bytes_in += len(data)
        if count & _SAMPLE:
            Client.receive_message(self, data)
            return
        # one message in 64 is timed (two clock reads and a bucket: 0.3 µs)
        start = time.perf_counter()
        Client.receive_message(self, data)
        stats.handler_time.observe(time.perf_counter() - start)

    def write(self, messages: list[str | bytes], volatile: bool, compress: bool) -> None:
        if self.state is _OPEN:
            stats = self.stats
            stats.packets_out += 1
            stats.bytes_out += len(messages[0]) if len(messages) == 1 else sum(map(len, messages))
        Client.write(self, messages, volatile, compress)

    def send_ack(self, nsp: str, ack_id: int, args: list[Any]) -> None:
        # Client.send_ack's encoding and writing, counted on the way
        if self.state is not _OPEN:
            return
        parser = self.parser
        encode_ack = getattr(parser, "encode_ack", None)
        if encode_ack is not None:
            messages: list[str | bytes] = encode_ack(nsp, ack_id, args)
        else:
            messages = parser.encode(Packet(PacketType.ACK, nsp, args, ack_id))
        stats = self.stats
        stats.packets_out += 1
        stats.bytes_out += len(messages[0]) if len(messages) == 1 else sum(map(len, messages))
        send = self.session.send
        for message in messages:
            send(message, True)

    def on_session_closed(self, reason: CloseReason) -> None:
        self.stats.engine_disconnects[reason.value] += 1
        Client.on_session_closed(self, reason)


class _ErrorCounter(logging.Handler):
    """Counts the errors rtio.socketio logs: an application's handler, listener, ack
    callback or middleware that raised ("error in ...", "... failed"), or anything else;
    and its warnings of a handler still running past ``slow_handler_warning``. One handler
    on the logger for the process, counting into every live monitor's stats (the logger is
    the process's: it does not say which server logged)."""

    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.sinks: weakref.WeakSet[Stats] = weakref.WeakSet()

    def emit(self, record: logging.LogRecord) -> None:
        msg = str(record.msg)
        if record.levelno < logging.ERROR:
            if "is still running after" in msg:
                for stats in tuple(self.sinks):
                    stats.slow_handlers += 1
            return
        kind = "handler" if msg.startswith("error in") or "failed" in msg else "other"
        for stats in tuple(self.sinks):
            stats.errors[kind] += 1


_ERRORS = _ErrorCounter()


class Monitor:
    """The observer of one server: counts (``stats``) and tells ``listeners``."""

    def __init__(self, server: Server) -> None:
        self.server = server
        self.stats = Stats()
        #: told of sockets, rooms and upgrades (the admin UI)
        self.listeners: list[Listener] = []
        self.started = time.time()
        #: the rtio.ops.Metrics and rtio.ops.AdminUI of the server, once turned on
        self.metrics: Any = None
        self.admin: Any = None
        _ERRORS.sinks.add(self.stats)
        logger = logging.getLogger("rtio.socketio")
        if _ERRORS not in logger.handlers:
            logger.addHandler(_ERRORS)

    def close(self) -> None:
        """Stop counting errors (the rest stops with the server)."""
        _ERRORS.sinks.discard(self.stats)

    def _tell(self, method: str, *args: Any) -> None:
        for listener in self.listeners:
            try:
                getattr(listener, method)(*args)
            except Exception:
                log.exception("rtio.ops listener %r failed on %s", listener, method)

    # -- rtio.socketio.observer.Observer ------------------------------------------------

    def socket_connected(self, socket: Any) -> None:
        stats = self.stats
        stats.connects[socket.nsp.name] += 1
        if socket.recovered:
            stats.recoveries[(socket.nsp.name, "recovered")] += 1
        elif "pid" in socket.connect_auth():  # it asked to recover: expired, unknown, ...
            stats.recoveries[(socket.nsp.name, "not recovered")] += 1
        if self.listeners:
            self._tell("socket_connected", socket)

    def socket_disconnected(self, socket: Any, reason: str) -> None:
        self.stats.disconnects[(socket.nsp.name, reason)] += 1
        if self.listeners:
            self._tell("socket_disconnected", socket, reason)

    def rooms_joined(self, socket: Any, rooms: tuple[str, ...]) -> None:
        if self.listeners:
            self._tell("rooms_joined", socket, rooms)

    def room_left(self, socket: Any, room: str) -> None:
        if self.listeners:
            self._tell("room_left", socket, room)

    def broadcast(self, nsp: str, deliveries: int, encoded: Encoded) -> None:
        stats = self.stats
        stats.broadcasts += 1
        stats.deliveries += deliveries
        messages = encoded.encoded_once()
        if messages:
            # measured by the first parser's encoding (the same for every member unless
            # the server mixes parsers)
            stats.packets_out += deliveries
            stats.bytes_out += deliveries * sum(map(len, messages))

    def time_ack(self, on_ack: AckCallback) -> AckCallback:
        start = time.perf_counter()
        latency = self.stats.ack_latency

        def timed(args: list[Any] | None) -> None:
            if args is not None:
                latency.observe(time.perf_counter() - start)
            on_ack(args)

        return timed

    # -- rtio.engine.EngineObserver -----------------------------------------------------

    def upgraded(self, session: EngineSession) -> None:
        self.stats.upgrades += 1
        if self.listeners:
            self._tell("upgraded", session)

    def upgrade_failed(self, session: EngineSession, why: str) -> None:
        self.stats.upgrade_failures[why] += 1

    def request_refused(self, refusal: RequestRefused, handshake: bool) -> None:
        key = (str(refusal.status), refusal.message, "true" if handshake else "false")
        self.stats.refused[key] += 1


def monitor_of(server: Server) -> Monitor:
    """The server's monitor, installed on first use: ``server.observer``, the engine's
    observer, and a counting Client class for the connections opened from now on."""
    observer = server.observer
    if isinstance(observer, Monitor):
        return observer
    if observer is not None:
        raise RuntimeError(f"server.observer is already set ({observer!r})")
    monitor = Monitor(server)
    server.observer = monitor
    for nsp in server.namespaces.values():  # (a namespace made later copies it itself)
        nsp.adapter.observer = monitor
    server.engine.observer = monitor
    server.client_type = type(
        "CountingClient", (CountingClient,), {"__slots__": (), "stats": monitor.stats}
    )
    return monitor
