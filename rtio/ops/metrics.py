"""Prometheus metrics of an rtio.Server: ``sio.metrics()`` (needs ``pip install
rtio[metrics]``, which brings ``prometheus-client``).

The counting is the :class:`~.monitor.Monitor`'s (plain integers on the loop); this module
only reads them at scrape time, in a custom collector, and serves them: at ``path`` of the
aiohttp app the server is attached to (``attach``, ``make_app``, ``run``), or on a port of
their own. Gauges (sockets by namespace and transport, the worst send queue) are computed
at scrape time from the server's live objects, so they cost nothing between scrapes (a
scrape walks every connection once: about 0.3 µs each).

States: off (the default: no monitor, nothing counted) -> on, for the server's life.
Errors: :class:`MetricsUnavailable` (an ImportError) when prometheus-client is missing;
``ValueError`` for a bad path or port.
"""

from __future__ import annotations

import time
from collections.abc import Iterator

from aiohttp import web

from rtio.socketio import Server

from .monitor import Histogram, Monitor, monitor_of

try:
    from prometheus_client import CollectorRegistry, generate_latest
    from prometheus_client.core import (
        CounterMetricFamily,
        GaugeMetricFamily,
        HistogramMetricFamily,
        Metric,
    )
    from prometheus_client.exposition import CONTENT_TYPE_LATEST
    from prometheus_client.process_collector import ProcessCollector
    from prometheus_client.registry import Collector
except ImportError as exc:  # pragma: no cover (the dev extra has it)
    _MISSING: ImportError | None = exc
    Collector = object  # type: ignore[misc,assignment]
else:
    _MISSING = None

__all__ = ["Metrics", "MetricsUnavailable", "RtioCollector", "enable_metrics"]


class MetricsUnavailable(ImportError):
    """prometheus-client is not installed: ``pip install rtio[metrics]``."""


def _histogram(name: str, doc: str, hist: Histogram) -> HistogramMetricFamily:
    buckets = hist.buckets()
    return HistogramMetricFamily(name, doc, buckets=buckets, sum_value=hist.sum)


class RtioCollector(Collector):
    """Reads one server's :class:`~.monitor.Monitor` and live objects at scrape time."""

    def __init__(self, server: Server, monitor: Monitor) -> None:
        self.server = server
        self.monitor = monitor

    def collect(self) -> Iterator[Metric]:
        server = self.server
        stats = self.monitor.stats

        sockets = GaugeMetricFamily(
            "rtio_sockets", "Connected sockets", labels=["namespace", "transport"]
        )
        worst_events = 0
        for name, nsp in server.namespaces.items():
            by_transport: dict[str, int] = {}
            for socket in tuple(nsp.sockets.values()):
                transport = socket.transport
                by_transport[transport] = by_transport.get(transport, 0) + 1
                queued = socket.queued_events
                if queued > worst_events:
                    worst_events = queued
            for transport, count in sorted(by_transport.items()):
                sockets.add_metric([name, transport], count)
        yield sockets

        sessions = GaugeMetricFamily(
            "rtio_engine_connections", "Open Engine.IO connections", labels=["transport"]
        )
        by_transport = {"polling": 0, "websocket": 0}
        worst_bytes = 0
        for session in tuple(server.engine.sessions.values()):
            by_transport[session.transport] = by_transport.get(session.transport, 0) + 1
            pending = session.pending_bytes()
            if pending > worst_bytes:
                worst_bytes = pending
        for transport, count in sorted(by_transport.items()):
            sessions.add_metric([transport], count)
        yield sessions
        yield GaugeMetricFamily(
            "rtio_send_queue_bytes_max",
            "Bytes queued for the slowest client (the worst connection's send queue)",
            value=worst_bytes,
        )
        yield GaugeMetricFamily(
            "rtio_queued_events_max",
            "Events waiting for their handlers, on the socket with the most",
            value=worst_events,
        )

        yield CounterMetricFamily(
            "rtio_engine_connections_opened",
            "Engine.IO connections opened",
            value=stats.engine_connects,
        )
        closed = CounterMetricFamily(
            "rtio_engine_connections_closed", "Engine.IO connections closed", labels=["reason"]
        )
        for reason, count in sorted(stats.engine_disconnects.items()):
            closed.add_metric([reason], count)
        yield closed

        connects = CounterMetricFamily(
            "rtio_socket_connects", "Sockets connected to a namespace", labels=["namespace"]
        )
        for name, count in sorted(stats.connects.items()):
            connects.add_metric([name], count)
        yield connects
        recoveries = CounterMetricFamily(
            "rtio_recoveries",
            "CONNECTs asking for connection state recovery, by outcome",
            labels=["namespace", "outcome"],
        )
        for (name, outcome), count in sorted(stats.recoveries.items()):
            recoveries.add_metric([name, outcome], count)
        yield recoveries
        disconnects = CounterMetricFamily(
            "rtio_socket_disconnects",
            "Sockets disconnected, by Node's disconnect reason",
            labels=["namespace", "reason"],
        )
        for (name, reason), count in sorted(stats.disconnects.items()):
            disconnects.add_metric([name, reason], count)
        yield disconnects

        upgrades = CounterMetricFamily(
            "rtio_upgrades", "Upgrades from polling to WebSocket", labels=["result"]
        )
        upgrades.add_metric(["done"], stats.upgrades)
        upgrades.add_metric(["failed"], sum(stats.upgrade_failures.values()))
        yield upgrades
        failures = CounterMetricFamily(
            "rtio_upgrade_failures", "Upgrades aborted, by cause", labels=["cause"]
        )
        for cause, count in sorted(stats.upgrade_failures.items()):
            failures.add_metric([cause], count)
        yield failures

        packets = CounterMetricFamily(
            "rtio_packets", "Socket.IO messages (packets and attachments)", labels=["direction"]
        )
        packets.add_metric(["in"], stats.packets_in)
        packets.add_metric(["out"], stats.packets_out)
        yield packets
        size = CounterMetricFamily(
            "rtio_payload_bytes",
            "Size of the Socket.IO messages (text in characters)",
            labels=["direction"],
        )
        size.add_metric(["in"], stats.bytes_in)
        size.add_metric(["out"], stats.bytes_out)
        yield size

        yield CounterMetricFamily("rtio_broadcasts", "Broadcasts", value=stats.broadcasts)
        yield CounterMetricFamily(
            "rtio_broadcast_deliveries",
            "Sockets of this server reached by broadcasts",
            value=stats.deliveries,
        )
        yield _histogram(
            "rtio_ack_latency_seconds",
            "From an emit asking for an ack to the client's answer",
            stats.ack_latency,
        )
        yield _histogram(
            "rtio_handler_seconds",
            "Time handling one incoming message inline (a plain handler in full, an async "
            "one until it first waits)",
            stats.handler_time,
        )
        errors = CounterMetricFamily(
            "rtio_handler_errors",
            "Errors logged by rtio.socketio (kind=handler: an application handler, "
            "listener, ack callback or middleware raised)",
            labels=["kind"],
        )
        for kind in ("handler", "other"):
            errors.add_metric([kind], stats.errors[kind])
        yield errors
        yield CounterMetricFamily(
            "rtio_slow_handlers",
            "Handlers still running past slow_handler_warning (each warned once)",
            value=stats.slow_handlers,
        )
        refused = CounterMetricFamily(
            "rtio_refused_requests",
            "Engine.IO requests refused (handshake=true: a new connection was refused)",
            labels=["status", "cause", "handshake"],
        )
        for (status, cause, handshake), count in sorted(stats.refused.items()):
            refused.add_metric([status, cause, handshake], count)
        yield refused
        yield from self._adapter_metrics()
        yield GaugeMetricFamily(
            "rtio_uptime_seconds",
            "Seconds since the metrics were turned on",
            value=time.time() - self.monitor.started,
        )

    def _adapter_metrics(self) -> Iterator[Metric]:
        """A cluster adapter's own counters, where it keeps them (rtio's Redis adapter:
        ``received``, ``skipped``; its cluster link: ``dropped``)."""
        received = CounterMetricFamily(
            "rtio_adapter_received",
            "Broadcasts from other servers delivered here",
            labels=["namespace"],
        )
        skipped = CounterMetricFamily(
            "rtio_adapter_skipped",
            "Broadcasts from other servers for rooms without a member here (not decoded)",
            labels=["namespace"],
        )
        dropped = published = 0
        lag = 0.0
        seen_cluster = False
        clusters: set[int] = set()
        for name, nsp in self.server.namespaces.items():
            adapter = nsp.adapter
            if isinstance(getattr(adapter, "received", None), int):
                received.add_metric([name], adapter.received)  # type: ignore[attr-defined]
            if isinstance(getattr(adapter, "skipped", None), int):
                skipped.add_metric([name], adapter.skipped)  # type: ignore[attr-defined]
            cluster = getattr(adapter, "cluster", None)
            if cluster is not None and id(cluster) not in clusters:
                clusters.add(id(cluster))
                if isinstance(getattr(cluster, "dropped", None), int):
                    seen_cluster = True
                    dropped += cluster.dropped
                    published += getattr(cluster, "published", 0)
                    link_lag = getattr(getattr(cluster, "link", None), "lag", None)
                    if isinstance(link_lag, float):
                        lag = max(lag, link_lag)
        if received.samples:
            yield received
        if skipped.samples:
            yield skipped
        if seen_cluster:
            yield CounterMetricFamily(
                "rtio_adapter_dropped",
                "Messages to the cluster dropped (link not started, or its queue full)",
                value=dropped,
            )
            yield CounterMetricFamily(
                "rtio_adapter_published",
                "Messages published to the cluster (sent, or kept while Redis is away)",
                value=published,
            )
            yield GaugeMetricFamily(
                "rtio_adapter_lag_seconds",
                "How long the cluster link's last canary took from PUBLISH back to its "
                "subscription (every 5 s; the worst link of this server)",
                value=lag,
            )


class Metrics:
    """The metrics of one server: ``registry`` (its collector, and the process's CPU and
    memory), ``handler`` (an aiohttp handler serving them) and where they are served."""

    def __init__(self, server: Server, monitor: Monitor, path: str, port: int | None, host: str):
        self.server = server
        self.monitor = monitor
        self.path = path
        self.port = port
        self.host = host
        self.collector = RtioCollector(server, monitor)
        self.registry = CollectorRegistry(auto_describe=False)
        self.registry.register(self.collector)
        ProcessCollector(registry=self.registry)
        self._runner: web.AppRunner | None = None

    def render(self) -> bytes:
        """The text exposition format, now."""
        return bytes(generate_latest(self.registry))

    async def handler(self, request: web.Request) -> web.Response:
        """``GET path``: the metrics (aiohttp)."""
        return web.Response(body=self.render(), headers={"Content-Type": CONTENT_TYPE_LATEST})

    def add_routes(self, app: web.Application) -> None:
        """Serve the metrics from ``app``: at ``path``, or, with a ``port``, on that port
        for as long as ``app`` runs."""
        if self.port is None:
            app.router.add_get(self.path, self.handler)
            return
        app.on_startup.append(self._start)
        app.on_cleanup.append(self._stop)

    async def start(self) -> str:
        """Serve on ``host``:``port`` now (without an aiohttp app of your own); returns
        the URL."""
        if self._runner is None:
            metrics_app = web.Application()
            metrics_app.router.add_get(self.path, self.handler)
            runner = web.AppRunner(metrics_app, handle_signals=False, access_log=None)
            await runner.setup()
            site = web.TCPSite(runner, self.host, self.port or 0)
            await site.start()
            self._runner = runner
        address = self._runner.addresses[0]
        return f"http://{address[0]}:{address[1]}{self.path}"

    async def stop(self) -> None:
        runner, self._runner = self._runner, None
        if runner is not None:
            await runner.cleanup()

    async def _start(self, app: web.Application) -> None:
        await self.start()

    async def _stop(self, app: web.Application) -> None:
        await self.stop()


def enable_metrics(
    server: Server, *, port: int | None = None, host: str = "127.0.0.1", path: str = "/metrics"
) -> Metrics:
    """``sio.metrics()``: count from now on and serve at ``path`` of the app the server is
    attached to next (or on ``port``). Once per server: a second call returns the same."""
    if _MISSING is not None:
        raise MetricsUnavailable(
            "rtio metrics need prometheus-client: pip install 'rtio[metrics]'"
        ) from _MISSING
    monitor = monitor_of(server)
    if isinstance(monitor.metrics, Metrics):
        return monitor.metrics
    if not path.startswith("/"):
        raise ValueError(f"metrics path must start with '/': {path!r}")
    if port is not None and not 0 <= port < 65536:
        raise ValueError(f"metrics port out of range: {port}")
    metrics = monitor.metrics = Metrics(server, monitor, path, port, host)
    server.attach_hooks.append(metrics.add_routes)
    return metrics
