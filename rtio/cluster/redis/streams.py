"""The Redis Streams adapter: connection state recovery across nodes, on the wire of Node's
``@socket.io/redis-streams-adapter`` 0.3.1 (rtio/cluster/streams.py has the codec).

    cluster = RedisStreamsCluster("redis://127.0.0.1:6379")
    sio = rtio.Server(adapter=cluster, connection_state_recovery=True)
    cluster.attach(app)           # or: await cluster.start() ... await cluster.close()

Owns, per process: one connection that writes (XADD, SET, GETDEL, XRANGE) and one reader
per stream looping ``XREAD BLOCK``; per namespace, a :class:`RedisStreamsAdapter` whose
broadcasts and room operations are stream entries that every node (Node's or rtio's)
reads, in stream order. A broadcast is delivered locally once its XADD answered, with the
entry id appended as the offset (Node's order: the offset is the entry's id everywhere).
Sessions are SET under ``sio:session:<pid>`` when a socket leaves for a recoverable reason
and taken (GET + DEL in MULTI) by whichever node the client comes back to; the events it
missed are read from the stream after its offset, in pages.

States: created -> started (connections open, readers running; a lost connection is
reopened with a growing pause, the readers resume after the last entry they read) ->
closed. Errors: a Redis failure is logged; a broadcast then still reaches this node's
clients (without an offset, as in Node), a session that cannot be written or read is simply
not recovered. Bounds: ``max_outbound`` writes queued, ``restore_page`` entries per XRANGE,
``restore_max_entries`` per restore, ``max_len`` (approximate) entries in the stream.

The requests that need answers (fetch_sockets, server_side_emit, broadcasts with acks)
go over pub/sub (``socket.io#<nsp>#``, answers on ``socket.io#<nsp>#<uid>#``), through
a :class:`~.link.RedisLink`: streams_requests.py. Sessions: streams_sessions.py.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
from collections.abc import Awaitable, Callable, Iterable
from typing import Any

from aiohttp import web
from redis.asyncio import Redis
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff
from redis.exceptions import RedisError

from rtio.socketio import (
    Adapter,
    BroadcastOptions,
    Packet,
    PacketType,
    Session,
)

from ..errors import MessageError
from ..messages import (
    Broadcast,
    ClusterMessage,
    DisconnectSockets,
    SocketsJoin,
    SocketsLeave,
)
from ..streams import (
    StreamsOptions,
    decode_entry,
    encode_entry,
    entry_fields,
    entry_key,
    stream_for,
)
from ..wire import WireFlags, WireOptions, WirePacket
from .link import Delivery, LinkOptions, RedisLink
from .streams_requests import Requests
from .streams_sessions import Sessions
from .url import link_options_from_url

__all__ = ["RedisStreamsAdapter", "RedisStreamsCluster"]

log = logging.getLogger("rtio.cluster.redis")

_ERRORS = (RedisError, OSError, asyncio.TimeoutError)
_EVENT = PacketType.EVENT
#: what a write's callback gets: the entry id, or None when the XADD failed
Written = Callable[[str | None], None]


def _wire_options(opts: BroadcastOptions) -> WireOptions:
    flags = WireFlags(
        volatile=True if opts.volatile else None,
        compress=False if not opts.compress else None,
    )
    return WireOptions(tuple(sorted(opts.rooms)), tuple(sorted(opts.except_rooms)), flags)


def _local_options(opts: WireOptions) -> BroadcastOptions:
    rooms, except_rooms = opts.room_names()
    flags = opts.flags or WireFlags()
    return BroadcastOptions(
        rooms=rooms,
        except_rooms=except_rooms,
        volatile=bool(flags.volatile),
        compress=flags.compress is not False,
    )


class RedisStreamsCluster:
    """One server's membership of a Redis Streams cluster; pass it as
    ``rtio.Server(adapter=...)``.

    :param url: ``redis://host:port/db`` (or give ``link`` for the timeouts).
    :param options: the streams options (Node's names: stream, maxLen, readCount...).
    """

    def __init__(
        self,
        url: str | None = None,
        *,
        link: LinkOptions | None = None,
        options: StreamsOptions | None = None,
        name: str | None = None,
    ) -> None:
        if link is None:
            link = link_options_from_url(url) if url else LinkOptions()
        self.link = link
        self.options = options or StreamsOptions()
        self.name = name or f"rtio-streams-{os.urandom(3).hex()}"
        self.adapters: dict[str, RedisStreamsAdapter] = {}
        self._client: Redis | None = None
        self._readers: dict[str, asyncio.Task[None]] = {}
        #: the id of the last entry each reader handed to the adapters (a restore reads at
        #: least up to it: what it delivered before the socket was back is in the replay)
        self.last_read: dict[str, tuple[int, int]] = {}
        self._queue: asyncio.Queue[tuple[str, dict[str, str], Written]] | None = None
        self._writer: asyncio.Task[None] | None = None
        self._started = False
        self._closed = False
        self.pubsub = RedisLink(link, self._on_pubsub, name=self.name)
        self._handlers: dict[str, dict[str, Callable[..., Any]]] = {}
        self._by_channel: dict[str, RedisStreamsAdapter] = {}
        self._spawned: set[asyncio.Task[Any]] = set()
        #: each reader's connection, closed by close() under a read that ignores its cancel
        self._reader_clients: dict[str, Redis] = {}
        #: writes dropped because the queue was full; entries that could not be read
        self.dropped = 0
        self.bad_entries = 0

    def __call__(self, nsp: Any) -> RedisStreamsAdapter:
        adapter = RedisStreamsAdapter(nsp, self)
        self.adapters[nsp.name] = adapter
        requests = adapter.requests
        self._by_channel[requests.public] = self._by_channel[requests.private] = adapter
        if self._started:
            self._follow(adapter.stream)
            task = asyncio.ensure_future(self.pubsub.subscribe(requests.public, requests.private))
            self._spawned.add(task)
            task.add_done_callback(self._spawned.discard)
        return adapter

    def _on_pubsub(self, delivery: Delivery) -> None:
        adapter = self._by_channel.get(delivery.channel)
        if adapter is not None:
            adapter.requests.receive(delivery.channel, delivery.payload)

    def on(
        self, event: str, handler: Callable[..., Any] | None = None, *, namespace: str = "/"
    ) -> Any:
        """Handle ``server_side_emit(event, ...)`` from other nodes (Node's ``io.on(event)``):
        ``handler(*args)``, sync or async; its return value answers a request with ack."""

        def register(fn: Callable[..., Any]) -> Callable[..., Any]:
            self._handlers.setdefault(namespace, {})[event] = fn
            return fn

        return register if handler is None else register(handler)

    def handler(self, nsp: str, event: str) -> Callable[..., Any] | None:
        return self._handlers.get(nsp, {}).get(event)

    def _redis(self, read_timeout: float) -> Redis:
        opts = self.link
        return Redis(
            host=opts.host,
            port=opts.port,
            db=opts.db,
            username=opts.username,
            password=opts.password,
            protocol=2,
            socket_timeout=read_timeout,
            socket_connect_timeout=opts.connect_timeout,
            socket_keepalive=True,
            retry=Retry(NoBackoff(), 0),
            health_check_interval=0,
            decode_responses=False,
        )

    # -- lifecycle ----------------------------------------------------------------------

    async def start(self, timeout: float = 5.0) -> bool:
        """Open the connections and start reading; True when Redis answered a PING within
        ``timeout`` seconds (else the readers keep trying)."""
        if not self._started:
            self._started = True
            self._client = self._redis(self.link.command_timeout)
            self._queue = asyncio.Queue(self.options.max_outbound)
            self._writer = asyncio.get_running_loop().create_task(
                self._write(), name=f"{self.name}-writer"
            )
            for adapter in self.adapters.values():
                self._follow(adapter.stream)
                await self.pubsub.subscribe(adapter.requests.public, adapter.requests.private)
            self.pubsub.start()
            await self.pubsub.wait_connected(timeout)
        try:
            await asyncio.wait_for(self.client.ping(), timeout)
        except _ERRORS:
            return False
        return True

    async def close(self) -> None:
        """Write what is queued (for up to the close timeout), then leave Redis."""
        if self._closed:
            return
        self._closed = True
        queue = self._queue
        if queue is not None:
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(queue.join(), self.link.close_timeout)
        # the sessions of the sockets the shutdown closed: saved before leaving Redis
        saving = [t for a in self.adapters.values() for t in a.sessions.saving]
        if saving:
            await asyncio.wait(saving, timeout=self.link.close_timeout)
        for adapter in self.adapters.values():
            adapter.requests.close()
            adapter.sessions.close()
        tasks = [
            t for t in (self._writer, *self._readers.values(), *self._spawned) if t is not None
        ]
        for task in tasks:
            task.cancel()
        # a cancel the Redis client swallowed (seen with redis-py 8.2 on CPython 3.11: a
        # reader cancelled in the middle of a busy XREAD went on reading for ever): its
        # connection closed under it ends the read, and the reader, which sees _closed
        for client in list(self._reader_clients.values()):
            with contextlib.suppress(Exception):
                await client.aclose()
        await _wait_ended(tasks, self.link.close_timeout)
        if self._client is not None:
            with contextlib.suppress(Exception):
                await self._client.aclose()
        await self.pubsub.close()

    def attach(self, app: web.Application) -> None:
        """Start with an aiohttp app and close with it."""

        async def on_startup(_app: web.Application) -> None:
            await self.start()

        async def on_cleanup(_app: web.Application) -> None:
            await self.close()

        app.on_startup.append(on_startup)
        app.on_cleanup.append(on_cleanup)

    @property
    def client(self) -> Redis:
        if self._client is None:
            raise RuntimeError("the cluster is not started (await cluster.start())")
        return self._client

    # -- writing, in order ----------------------------------------------------------------

    def write(self, stream: str, fields: dict[str, str], done: Written) -> None:
        """XADD ``fields`` to ``stream``; ``done(entry id or None)`` then, in write order."""
        queue = self._queue
        if queue is None or self._closed:
            done(None)
            return
        try:
            queue.put_nowait((stream, fields, done))
        except asyncio.QueueFull:
            self.dropped += 1
            log.warning("%s: %d writes wait for Redis: one dropped", self.name, queue.qsize())
            done(None)

    async def _write(self) -> None:
        queue = self._queue
        assert queue is not None
        max_len = str(self.options.max_len)
        while True:
            batch = [await queue.get()]
            while not queue.empty() and len(batch) < 256:
                batch.append(queue.get_nowait())
            ids: list[Any]
            try:
                pipe = self.client.pipeline(transaction=False)
                for stream, fields, _ in batch:
                    args: list[str] = [stream, "MAXLEN", "~", max_len, "*"]
                    for key, value in fields.items():
                        args += (key, value)
                    pipe.execute_command("XADD", *args)
                ids = await asyncio.wait_for(pipe.execute(), self.link.command_timeout)
            except _ERRORS as exc:
                log.warning("%s: XADD of %d entries failed: %r", self.name, len(batch), exc)
                ids = [None] * len(batch)
            for (_, _, done), entry_id in zip(batch, ids, strict=True):
                try:
                    done(entry_id.decode() if isinstance(entry_id, bytes) else None)
                except Exception:
                    log.exception("%s: delivering a broadcast failed", self.name)
                queue.task_done()

    # -- reading ------------------------------------------------------------------------

    def _follow(self, stream: str) -> None:
        if stream not in self._readers:
            self._readers[stream] = asyncio.get_running_loop().create_task(
                self._read(stream), name=f"{self.name}-{stream}"
            )

    async def _read(self, stream: str) -> None:
        """``XREAD BLOCK`` from ``$``, then from the last entry read (after an outage too)."""
        opts = self.options
        block = int(opts.block_time * 1000)
        last = "$"
        pause = 0.1
        client: Redis | None = None
        try:
            while not self._closed:
                try:
                    if client is None:
                        client = self._redis(opts.block_time + self.link.command_timeout)
                        self._reader_clients[stream] = client
                    reply: Any = await client.execute_command(  # type: ignore[no-untyped-call]
                        "XREAD", "BLOCK", block, "COUNT", opts.read_count, "STREAMS", stream, last
                    )
                    pause = 0.1
                except _ERRORS as exc:
                    if self._closed:  # close() shut the connection under the read
                        return
                    log.warning(
                        "%s: reading %s failed (%r); again in %.1f s", self.name, stream, exc, pause
                    )
                    if client is not None:
                        with contextlib.suppress(Exception):
                            await client.aclose()
                    client = None
                    await asyncio.sleep(pause)
                    pause = min(pause * 2, 5.0)
                    continue
                for _name, entries in reply or ():
                    for raw_id, fields in entries:
                        last = raw_id.decode()
                        self.last_read[stream] = entry_key(last)
                        self._dispatch(last, fields)
        finally:
            self._reader_clients.pop(stream, None)
            if client is not None:
                with contextlib.suppress(Exception):
                    await client.aclose()

    def _dispatch(self, entry_id: str, fields: Any) -> None:
        try:
            message = decode_entry(entry_fields(fields))
        except MessageError as exc:
            self.bad_entries += 1
            log.debug("%s: unreadable entry %s: %s", self.name, entry_id, exc)
            return
        adapter = self.adapters.get(message.nsp)
        if adapter is not None:
            adapter.receive(entry_id, message)


class _LocalOps:
    """This node's own operations (rtio's Adapter), for answering requests."""

    def __init__(self, adapter: RedisStreamsAdapter) -> None:
        self.adapter = adapter

    async def fetch_sockets(self, opts: BroadcastOptions) -> list[Any]:
        return await Adapter.fetch_sockets(self.adapter, opts)

    def broadcast_with_ack(self, *args: Any) -> None:
        Adapter.broadcast_with_ack(self.adapter, *args)


async def _wait_ended(tasks: list[asyncio.Task[Any]], timeout: float) -> None:
    """Wait for cancelled tasks to end, for up to ``timeout`` seconds (one still running
    then is logged and left behind); their errors are not raised."""
    if not tasks:
        return
    _, pending = await asyncio.wait(tasks, timeout=timeout)
    if pending:
        log.warning("%d task(s) did not end on cancel: left behind", len(pending))


class RedisStreamsAdapter(Adapter):
    """The adapter of one namespace on a :class:`RedisStreamsCluster`."""

    def __init__(self, nsp: Any, cluster: RedisStreamsCluster) -> None:
        super().__init__(nsp)
        self.cluster = cluster
        #: this adapter's id on the wire (16 hex characters, as Node's ClusterAdapter)
        self.uid = os.urandom(8).hex()
        self.stream = stream_for(nsp.name, cluster.options)
        server = getattr(nsp, "server", None)
        self.recovery = getattr(server, "connection_state_recovery", None)
        #: with recovery on, a single-socket emit is a broadcast too (stored, with offset)
        self.stores_packets = self.recovery is not None
        opts = cluster.options
        self.requests = Requests(
            self,
            cluster.pubsub,
            opts.public_channel(nsp.name),
            opts.private_channel(nsp.name, self.uid),
            local=lambda: _LocalOps(self),
        )
        self.sessions = Sessions(self)

    # -- requests over pub/sub ----------------------------------------------------------

    async def fetch_sockets(self, opts: BroadcastOptions) -> list[Any]:
        """This node's selected sockets, then the other nodes' (remote sockets)."""
        mine = await Adapter.fetch_sockets(self, opts)
        if opts.local:
            return mine
        return [*mine, *await self.requests.fetch_sockets(opts)]

    def broadcast_with_ack(
        self,
        packet: Packet,
        opts: BroadcastOptions,
        on_client_count: Callable[[int], None],
        on_ack: Callable[[str, list[Any] | None], None],
    ) -> None:
        if opts.local:
            super().broadcast_with_ack(packet, opts, on_client_count, on_ack)
        else:
            self.requests.broadcast_with_ack(packet, opts, on_client_count, on_ack)

    def server_side_emit(self, args: list[Any]) -> None:
        self.requests.server_side_emit(args)

    async def server_side_emit_with_ack(
        self, args: list[Any], timeout: float | None = None
    ) -> list[Any]:
        return await self.requests.server_side_emit_with_ack(args, timeout)

    def server_count(self) -> int:
        """The nodes of this namespace when last counted (at the last request)."""
        return self.requests.last_count

    def _publish(self, message: ClusterMessage, done: Written) -> None:
        self.cluster.write(self.stream, encode_entry(message), done)

    def _message(self, body: Any) -> ClusterMessage:
        return ClusterMessage(self.uid, self.nsp.name, body)

    # -- broadcasts and room operations: a stream entry, then this node ------------------

    def broadcast(self, packet: Packet, opts: BroadcastOptions) -> None:
        if opts.local:
            super().broadcast(packet, opts)
            return
        wire = WirePacket(list(packet.data), int(packet.type))
        message = self._message(Broadcast(wire, _wire_options(opts)))
        self._publish(message, lambda offset: self._deliver(packet, opts, offset))

    def _deliver(self, packet: Packet, opts: BroadcastOptions, offset: str | None) -> None:
        if offset is not None and self._stores(packet, opts.volatile):
            packet = Packet(_EVENT, packet.nsp, [*packet.data, offset])
        super().broadcast(packet, opts)

    def _stores(self, packet: Packet, volatile: bool) -> bool:
        return (
            self.recovery is not None
            and packet.type is _EVENT
            and packet.id is None
            and not volatile
        )

    def add_sockets(self, opts: BroadcastOptions, rooms: Iterable[str]) -> None:
        rooms = tuple(rooms)
        if opts.local:
            super().add_sockets(opts, rooms)
            return
        body = SocketsJoin(_wire_options(opts).without_flags(), rooms)
        self._publish(self._message(body), lambda _: Adapter.add_sockets(self, opts, rooms))

    def del_sockets(self, opts: BroadcastOptions, rooms: Iterable[str]) -> None:
        rooms = tuple(rooms)
        if opts.local:
            super().del_sockets(opts, rooms)
            return
        body = SocketsLeave(_wire_options(opts).without_flags(), rooms)
        self._publish(self._message(body), lambda _: Adapter.del_sockets(self, opts, rooms))

    def disconnect_sockets(self, opts: BroadcastOptions, close: bool) -> None:
        if opts.local:
            super().disconnect_sockets(opts, close)
            return
        body = DisconnectSockets(_wire_options(opts).without_flags(), close)
        self._publish(self._message(body), lambda _: Adapter.disconnect_sockets(self, opts, close))

    def receive(self, entry_id: str, message: ClusterMessage) -> None:
        """An entry of another node (this node's own were delivered when written)."""
        if message.uid == self.uid:
            return
        body = message.body
        if isinstance(body, Broadcast):
            if body.request_id is not None or body.packet.type != _EVENT:
                return  # with acks: pub/sub requests, not served here
            opts = _local_options(body.opts)
            packet = Packet(_EVENT, self.nsp.name, body.packet.data)
            flags = body.opts.flags or WireFlags()
            if self.recovery is not None and body.packet.id is None and flags.volatile is None:
                packet = Packet(_EVENT, self.nsp.name, [*body.packet.data, entry_id])
            Adapter.broadcast(self, packet, opts)
        elif isinstance(body, SocketsJoin):
            Adapter.add_sockets(self, _local_options(body.opts), [str(r) for r in body.rooms])
        elif isinstance(body, SocketsLeave):
            Adapter.del_sockets(self, _local_options(body.opts), [str(r) for r in body.rooms])
        elif isinstance(body, DisconnectSockets):
            Adapter.disconnect_sockets(self, _local_options(body.opts), body.close)

    # -- sessions (streams_sessions.py) -----------------------------------------------

    def add_all(self, sid: str, rooms: Iterable[str]) -> Awaitable[None] | None:
        super().add_all(sid, rooms)
        self.sessions.changed(sid)
        return None

    def delete(self, sid: str, room: str) -> Awaitable[None] | None:
        super().delete(sid, room)
        self.sessions.changed(sid)
        return None

    def delete_all(self, sid: str) -> None:
        super().delete_all(sid)
        self.sessions.gone(sid)

    def persist_session(self, session: Session) -> Awaitable[None] | None:
        return self.sessions.persist(session)

    def restore_session(self, pid: str, offset: str) -> Any:
        return self.sessions.restore(pid, offset)
