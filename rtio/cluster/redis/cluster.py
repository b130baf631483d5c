"""One server's membership of a Redis cluster: :class:`RedisClusterBase`, which
:class:`~.adapter.RedisCluster` completes with the adapter it builds.

Owns: the server's Redis link (:mod:`.link`), the ordered publisher every namespace's
adapter publishes through (one queue, sent in pipelined batches), the routing of what the
link hears to the namespaces' adapters, the server-side event handlers registered on the
cluster (``cluster.on``), and the background tasks of the adapters.

Knows an adapter only as a :class:`ClusterMember` (what it hears, what it subscribes to);
:class:`~.adapter.RedisCluster`, called with a namespace, builds that namespace's adapter,
so it is what ``rtio.Server(adapter=...)`` takes.

States: built -> started (``start()``: subscribed, connecting with backoff, publishing) ->
closed (``close()``: what is queued is published for up to the link's close timeout, then
the link closes). Before ``start()`` every publish is dropped, with one warning; past
``max_outbound`` queued messages too.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any, Protocol

from ..errors import ClusterError, LinkClosed
from .link import Delivery, LinkOptions, RedisLink
from .policy import LinkState
from .results import RedisAdapterOptions
from .url import link_options_from_url, new_uid

if TYPE_CHECKING:
    from aiohttp import web

__all__ = ["ClusterMember", "RedisClusterBase", "ServerSideHandler"]

log = logging.getLogger("rtio.cluster")

#: the most messages the publisher sends in one pipeline
_PUBLISH_BATCH = 128

ServerSideHandler = Callable[..., Any]


class ClusterMember(Protocol):
    """What the cluster needs of a namespace's adapter."""

    def subscriptions(self) -> tuple[tuple[str, ...], tuple[str, ...], tuple[str, ...]]: ...
    def routes(self) -> dict[str, str]: ...
    def receive(self, role: str, channel: str, payload: bytes) -> None: ...
    def finish(self) -> None: ...


class RedisClusterBase:
    """One server's membership of a Redis cluster, all but the building of the adapters
    (:class:`~.adapter.RedisCluster` builds them; pass that as ``rtio.Server(adapter=...)``).

    :param url: ``redis://host:port/db`` (or give ``link``).
    :param link: the link's options (timeouts, backoff, outage buffer, canary).
    :param options: the adapter's options.
    """

    #: SPUBLISH instead of PUBLISH
    sharded = False

    def __init__(
        self,
        url: str | None = None,
        *,
        link: LinkOptions | None = None,
        options: RedisAdapterOptions | None = None,
        name: str | None = None,
    ) -> None:
        if link is None:
            link = link_options_from_url(url) if url else LinkOptions()
        self.options = options or RedisAdapterOptions()
        self.name = name or f"rtio-{new_uid()}"
        self.link = RedisLink(link, self.on_message, name=self.name)
        self.adapters: dict[str, ClusterMember] = {}
        #: channel -> (adapter, role); pattern -> adapter (the classic broadcasts)
        self._by_channel: dict[str, tuple[ClusterMember, str]] = {}
        self._by_pattern: dict[str, ClusterMember] = {}
        self._handlers: dict[str, dict[str, ServerSideHandler]] = {}
        self._outbound: asyncio.Queue[tuple[str, bytes]] | None = None
        self._writer: asyncio.Task[None] | None = None
        self._tasks: set[asyncio.Task[Any]] = set()
        self._started = False
        self._drop_warned = False
        #: messages dropped because the publisher's queue was full (or not started)
        self.dropped = 0
        #: messages handed to the publisher (sent, or buffered by the link while Redis is away)
        self.published = 0

    def join(self, nsp: str, adapter: ClusterMember) -> None:
        """A namespace's adapter joins: its channels are routed to it (and subscribed)."""
        self.adapters[nsp] = adapter
        self._route(adapter)
        if self._started:
            self.spawn(self._subscribe(adapter))

    @property
    def started(self) -> bool:
        return self._started

    @property
    def queued(self) -> int:
        """Messages waiting for the publisher."""
        return 0 if self._outbound is None else self._outbound.qsize()

    # -- routing --------------------------------------------------------------------------------

    def _route(self, adapter: ClusterMember) -> None:
        """Route what the adapter's channels hear to it."""
        for name, role in adapter.routes().items():
            if role == "pattern":
                self._by_pattern[name] = adapter
            else:
                self._by_channel[name] = (adapter, role)

    def follow(self, adapter: ClusterMember, channel: str, role: str) -> None:
        """Route a (sharded) channel to ``adapter`` and subscribe to it."""
        self._by_channel[channel] = (adapter, role)
        if self._started:
            self.spawn(self._quietly(self.link.ssubscribe, channel))

    def unfollow(self, channel: str) -> None:
        """Stop hearing a (sharded) channel."""
        self._by_channel.pop(channel, None)
        if self._started:
            self.spawn(self._quietly(self.link.sunsubscribe, channel))

    def forget(self, nsp: str, adapter: ClusterMember) -> None:
        """A namespace went (its adapter closed): its channels are no longer heard."""
        if self.adapters.get(nsp) is not adapter:
            return
        del self.adapters[nsp]
        for name, role in adapter.routes().items():
            if role == "pattern":
                self._by_pattern.pop(name, None)
            else:
                self._by_channel.pop(name, None)
        if self._started:
            self.spawn(self._unsubscribe(adapter))

    @staticmethod
    async def _quietly(command: Callable[..., Awaitable[None]], *names: str) -> None:
        if names:
            with contextlib.suppress(LinkClosed):  # closing: nothing to follow any more
                await command(*names)

    async def _subscribe(self, adapter: ClusterMember) -> None:
        channels, patterns, shard_channels = adapter.subscriptions()
        if patterns:
            await self.link.psubscribe(*patterns)
        if channels:
            await self.link.subscribe(*channels)
        if shard_channels:
            await self.link.ssubscribe(*shard_channels)

    async def _unsubscribe(self, adapter: ClusterMember) -> None:
        channels, patterns, shard_channels = adapter.subscriptions()
        await self._quietly(self.link.punsubscribe, *patterns)
        await self._quietly(self.link.unsubscribe, *channels)
        await self._quietly(self.link.sunsubscribe, *shard_channels)

    def on_message(self, delivery: Delivery) -> None:
        """What the link heard (called in the link's task)."""
        if delivery.kind == "pmessage":
            adapter = self._by_pattern.get(delivery.pattern or "")
            if adapter is not None:
                adapter.receive("broadcast", delivery.channel, delivery.payload)
            return
        found = self._by_channel.get(delivery.channel)
        if found is not None:
            found[0].receive(found[1], delivery.channel, delivery.payload)

    # -- lifecycle ------------------------------------------------------------------------------

    async def start(self, timeout: float = 5.0) -> bool:
        """Subscribe, connect (in the background, with backoff) and start publishing;
        True when connected within ``timeout`` seconds (else it keeps trying)."""
        if not self._started:
            self._started = True
            self._outbound = asyncio.Queue(self.options.max_outbound)
            for adapter in tuple(self.adapters.values()):
                await self._subscribe(adapter)
            self.link.start()
            self._writer = asyncio.get_running_loop().create_task(
                self._write(), name=f"{self.name}-publisher"
            )
        return await self.link.wait_connected(timeout)

    async def close(self) -> None:
        """Publish what is queued (for up to the link's close timeout), then leave Redis."""
        writer, self._writer = self._writer, None
        queue = self._outbound
        if queue is not None and writer is not None:
            deadline = time.monotonic() + self.link.options.close_timeout
            while (
                not queue.empty()
                and time.monotonic() < deadline
                and self.link.state is LinkState.CONNECTED
            ):
                await asyncio.sleep(0.01)
            writer.cancel()
        for task in tuple(self._tasks):
            task.cancel()
        for adapter in self.adapters.values():
            adapter.finish()
        await self.link.close()

    def attach(self, app: web.Application) -> None:
        """Start with an aiohttp app and close with it."""

        async def on_startup(_app: web.Application) -> None:
            await self.start()

        async def on_cleanup(_app: web.Application) -> None:
            await self.close()

        app.on_startup.append(on_startup)
        app.on_cleanup.append(on_cleanup)

    # -- server-side events ---------------------------------------------------------------------

    def on(
        self, event: str, handler: ServerSideHandler | None = None, *, namespace: str = "/"
    ) -> Any:
        """Handle ``server_side_emit(event, ...)`` from other nodes (Node's ``io.on(event)``):
        ``handler(*args)``, sync or async; its return value answers a request with ack.
        (``sio.on_server_side`` / ``nsp.on_server_side`` do the same on the namespace.)"""

        def register(fn: ServerSideHandler) -> ServerSideHandler:
            self._handlers.setdefault(namespace, {})[event] = fn
            return fn

        return register if handler is None else register(handler)

    def handler(self, nsp: str, event: str) -> ServerSideHandler | None:
        """The handler registered with :meth:`on`, or None."""
        return self._handlers.get(nsp, {}).get(event)

    # -- publishing -----------------------------------------------------------------------------

    def publish(self, channel: str, payload: bytes) -> bool:
        """Queue a publish, in order; False (and a warning) when the queue is full."""
        queue = self._outbound
        if queue is None:
            self.dropped += 1
            if not self._drop_warned:
                self._drop_warned = True
                log.warning(
                    "redis cluster %s is not started (await cluster.start(), or "
                    "cluster.attach(app)): messages to the cluster are dropped", self.name,
                )  # fmt: skip
            return False
        try:
            queue.put_nowait((channel, payload))
        except asyncio.QueueFull:
            self.dropped += 1
            if not self._drop_warned:
                self._drop_warned = True
                log.warning(
                    "redis cluster %s: %d messages wait for the publisher (max_outbound): "
                    "dropping new ones", self.name, self.options.max_outbound,
                )  # fmt: skip
            return False
        self.published += 1
        return True

    async def _write(self) -> None:
        queue = self._outbound
        assert queue is not None
        link, sharded = self.link, self.sharded
        while True:
            # what is queued goes in one pipeline: one round trip for a burst, and the other
            # nodes read the burst at once too
            batch = [await queue.get()]
            while len(batch) < _PUBLISH_BATCH and not queue.empty():
                batch.append(queue.get_nowait())
            try:
                await link.publish_many(batch, sharded=sharded)
            except ClusterError as exc:
                log.warning("redis cluster %s: publish of %d messages failed: %s", self.name,
                            len(batch), exc)  # fmt: skip
            if self._drop_warned and queue.qsize() < self.options.max_outbound // 2:
                self._drop_warned = False

    def spawn(self, coro: Awaitable[Any]) -> None:
        """Run ``coro`` in the background; cancelled at :meth:`close`, errors logged."""
        task = asyncio.ensure_future(coro)
        self._tasks.add(task)
        task.add_done_callback(self._done)

    def _done(self, task: asyncio.Task[Any]) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.error("redis cluster %s: a task failed", self.name, exc_info=task.exception())
