"""The classic Redis adapter: rtio nodes (and Node's ``@socket.io/redis-adapter`` 8.3 nodes)
sharing rooms, broadcasts and server-wide operations through Redis pub/sub.

Owns: :class:`RedisCluster` (one per server: the Redis link, the ordered publisher, the
server-side event handlers; called with a namespace it builds that namespace's adapter),
:class:`RedisAdapter` (rtio.socketio's :class:`~rtio.socketio.Adapter` speaking the classic
wire of :mod:`rtio.cluster.classic`), the remote sockets ``fetch_sockets`` returns
(:class:`ClusterSocket`) and the results of cluster requests, which say who did not answer
(:class:`Coverage`, :class:`FetchResult`, :class:`ServerReplies`, :class:`RoomsResult`).

The only module of rtio.cluster that imports rtio.socketio, and only its public names.
Does not know the bytes (rtio.cluster.classic does) nor the connection to Redis
(rtio.cluster.redis.link does).

::

    cluster = RedisCluster("redis://127.0.0.1:6379")     # or RedisAdapter.factory(url=...)
    sio = rtio.Server(adapter=cluster)
    cluster.attach(app)            # or: await cluster.start() ... await cluster.close()
    cluster.on("hello", handler)   # serverSideEmit from other nodes: handler(*args) -> ack

Where rtio does better than Node (issue 14):

- a cluster request (``fetch_sockets``, ``server_side_emit_with_ack``, ``cluster_rooms``)
  never fails for want of an answer: it returns what arrived, with a :class:`Coverage`
  saying how many nodes did not answer and naming the rtio nodes among them; while it
  waits it recounts the nodes (``PUBSUB NUMSUB``) so that a node that dies does not make
  the caller wait for the full timeout;
- ``sockets_join`` / ``sockets_leave`` / ``disconnect_sockets`` apply to this node's
  sockets at once (Node applies them when its own message comes back from Redis);
- a broadcast to a single room is skipped without decoding by a node with no member in it
  (as Node's classic adapter does too), counted in :attr:`RedisAdapter.skipped`.

rtio's answers carry one key Node's do not: ``"uid"`` (the answering node), which Node's
adapter ignores; it is how rtio names the nodes that did not answer.
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import logging
import time
from collections.abc import Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from rtio.socketio import Adapter, BroadcastOptions, Packet, PacketType

from ..classic import (
    AllRoomsRequest,
    AllRoomsResponse,
    BroadcastAckResponse,
    BroadcastClientCountResponse,
    BroadcastMessage,
    BroadcastRequest,
    ClassicChannels,
    FetchSocketsResponse,
    RemoteDisconnectRequest,
    RemoteFetchRequest,
    RemoteJoinRequest,
    RemoteLeaveRequest,
    Request,
    RequestType,
    Response,
    ServerSideEmitRequest,
    ServerSideEmitResponse,
    SocketsRequest,
    SocketsResponse,
    parse_request,
    peek_request_id,
    response_from,
    serialize_request,
)
from ..errors import ClusterError, LinkDown, MessageError
from ..wire import (
    RemoteSocket,
    Room,
    WireFlags,
    WireOptions,
    WirePacket,
    decode,
    encode,
    js_string,
)
from .link import Delivery, LinkOptions, RedisLink
from .policy import LinkState
from .url import link_options_from_url, new_uid

if TYPE_CHECKING:
    from aiohttp import web

    from rtio.socketio import Namespace, Socket

__all__ = [
    "ClusterSocket",
    "Coverage",
    "FetchResult",
    "RedisAdapter",
    "RedisAdapterOptions",
    "RedisCluster",
    "RoomsResult",
    "ServerReplies",
]

log = logging.getLogger("rtio.cluster")

#: the most messages the publisher sends in one pipeline
_PUBLISH_BATCH = 128

#: ack ids of broadcasts with acks that other nodes ask for: above the namespace's own
#: counter (which starts at 0), below JavaScript's largest safe integer
_REMOTE_ACK_BASE = 2**52


@dataclass(frozen=True, slots=True)
class RedisAdapterOptions:
    """The adapter's options (times in seconds); the link's are :class:`LinkOptions`."""

    #: the channels' prefix (Node's ``key``)
    key: str = "socket.io"
    #: the longest a cluster request waits for the other nodes (Node's ``requestsTimeout``)
    requests_timeout: float = 5.0
    #: answers go to the requester's own channel (Node's ``publishOnSpecificResponseChannel``)
    publish_on_specific_response_channel: bool = False
    #: while a request waits, the nodes are recounted this often: one that went away
    #: (killed, disconnected from Redis) no longer holds the answer back
    recount_interval: float = 0.25
    #: cluster requests of one namespace waiting for answers at once; one more is answered
    #: with this node's part only (its Coverage says ``overloaded``), and a warning is logged
    max_pending_requests: int = 1000
    #: messages waiting for the publisher (the link's outage buffer comes after it); one more
    #: is dropped with a warning
    max_outbound: int = 10_000


@dataclass(frozen=True, slots=True)
class Coverage:
    """Who answered a cluster request.

    ``expected``: the other nodes when the request went out (``PUBSUB NUMSUB`` - 1);
    ``answered``: how many answered in time; ``missing_nodes``: the uids of the rtio nodes
    among those that did not (Node's nodes answer anonymously: they are only counted);
    ``gone``: nodes that went away while the request waited; ``error``: why nobody else
    was asked (Redis down, too many requests), or None.
    """

    expected: int = 0
    answered: int = 0
    missing_nodes: frozenset[str] = frozenset()
    gone: int = 0
    error: str | None = None

    @property
    def missing(self) -> int:
        """How many nodes did not answer."""
        return max(0, self.expected - self.answered)

    @property
    def complete(self) -> bool:
        return self.error is None and self.missing == 0


class FetchResult(list[Any]):
    """``fetch_sockets``: this node's :class:`~rtio.socketio.Socket` objects, then the other
    nodes' :class:`ClusterSocket` objects; :attr:`coverage` says who did not answer."""

    coverage: Coverage = Coverage()


class ServerReplies(list[Any]):
    """``server_side_emit_with_ack``: one answer per node that answered in time."""

    coverage: Coverage = Coverage()


class RoomsResult(set[str]):
    """``cluster_rooms``: the rooms of every node that answered."""

    coverage: Coverage = Coverage()


class ClusterSocket:
    """A socket of another node, as ``fetch_sockets`` found it: ``id``, ``handshake``
    (Node's shape: a dict), ``rooms``, ``data``; ``emit`` / ``join`` / ``leave`` /
    ``disconnect`` go through the cluster (as Node's ``RemoteSocket``)."""

    __slots__ = ("_adapter", "data", "handshake", "id", "rooms")

    def __init__(self, adapter: RedisAdapter, remote: RemoteSocket) -> None:
        self._adapter = adapter
        self.id = remote.id
        self.handshake: Mapping[str, Any] = remote.handshake
        self.rooms: set[str] = {_js(r) for r in remote.rooms}
        self.data: Any = remote.data

    def __repr__(self) -> str:
        return f"<rtio.ClusterSocket {self.id} rooms={sorted(self.rooms)}>"

    def _only_me(self) -> BroadcastOptions:
        return BroadcastOptions(rooms=frozenset((self.id,)))

    def emit(self, event: str, *args: Any) -> None:
        self._adapter.broadcast(
            Packet(PacketType.EVENT, self._adapter.nsp.name, [event, *args]), self._only_me()
        )

    def join(self, rooms: str | Iterable[str]) -> None:
        self._adapter.add_sockets(self._only_me(), (rooms,) if isinstance(rooms, str) else rooms)

    def leave(self, room: str) -> None:
        self._adapter.del_sockets(self._only_me(), (room,))

    def disconnect(self, close: bool = False) -> None:
        self._adapter.disconnect_sockets(self._only_me(), close)


def _js(room: Room) -> str:
    return js_string(room)


def _wire_options(opts: BroadcastOptions, *, flags: bool = True) -> WireOptions:
    rooms = tuple(sorted(opts.rooms))
    except_rooms = tuple(sorted(opts.except_rooms))
    if not flags:
        return WireOptions(rooms, except_rooms, None)
    wire_flags = WireFlags(
        volatile=True if opts.volatile else None,
        compress=None if opts.compress else False,
        timeout=None if opts.timeout is None else round(opts.timeout * 1000),
    )
    return WireOptions(rooms, except_rooms, wire_flags)


def _local_options(opts: WireOptions) -> BroadcastOptions:
    rooms, except_rooms = opts.room_names()
    flags = opts.flags or WireFlags()
    return BroadcastOptions(
        rooms=rooms,
        except_rooms=except_rooms,
        volatile=bool(flags.volatile),
        compress=flags.compress is not False,
        local=True,
    )


def _handshake_wire(socket: Socket) -> dict[str, Any]:
    """Node's ``socket.handshake`` shape (``issued`` in ms, header names in lower case)."""
    hs = socket.handshake
    return {
        "headers": {k.lower(): v for k, v in hs.headers.items()},
        "time": hs.time,
        "address": hs.address,
        "xdomain": hs.xdomain,
        "secure": hs.secure,
        "issued": round(hs.issued * 1000),
        "url": hs.url,
        "query": dict(hs.query),
        "auth": hs.auth,
    }


@dataclass(slots=True)
class _Pending:
    """A cluster request of ours waiting for answers."""

    kind: RequestType
    expected: int
    done: asyncio.Future[None]
    answers: list[Any] = field(default_factory=list)
    responders: set[str] = field(default_factory=set)

    def add(self, response: Any, uid: str | None) -> None:
        self.answers.append(response)
        if uid is not None:
            self.responders.add(uid)
        if len(self.answers) >= self.expected and not self.done.done():
            self.done.set_result(None)


class _AckGather:
    """The acks of one broadcast with acks, local and remote, fed to rtio's operator.

    rtio's ``emit_with_ack`` learns every client count synchronously, but other nodes
    report theirs later: one placeholder count holds the operator open until they have
    (or the timeout); to close it then, the latest ack is held back and given with the
    placeholder's removal. (Needs no private hook; see the report on a cleaner one.)
    """

    __slots__ = ("_final", "_held", "_on_ack", "_on_count", "counts", "reached", "remote_acks")

    def __init__(
        self, on_count: Callable[[int], None], on_ack: Callable[[str, list[Any] | None], None]
    ) -> None:
        self._on_count = on_count
        self._on_ack = on_ack
        self._final = False
        self._held: tuple[str, list[Any] | None] | None = None
        #: servers that reported their count; sockets reached (all servers)
        self.counts = 0
        self.reached = 0
        self.remote_acks = 0
        on_count(1)  # the placeholder

    def count(self, n: int) -> None:
        self.reached += n
        if n:
            self._on_count(n)

    def ack(self, sid: str, args: list[Any] | None) -> None:
        if self._final:
            self._on_ack(sid, args)
            return
        held, self._held = self._held, (sid, args)
        if held is not None:
            self._on_ack(*held)

    def remote_ack(self, packet: Any) -> None:
        self.remote_acks += 1
        self.ack(f"~{self.remote_acks}", [packet])

    def finish(self) -> bool:
        """The counts are final: remove the placeholder. False when rtio's operator cannot
        see it (no client reached anywhere, so no ack to close it with): it then ends at
        its timeout only (a hook rtio.socketio lacks: re-checking on a count)."""
        if self._final:
            return True
        self._final = True
        self._on_count(-1)
        held, self._held = self._held, None
        if held is not None:
            self._on_ack(*held)
            return True
        return self.reached > 0


ServerSideHandler = Callable[..., Any]


class RedisCluster:
    """One server's membership of a Redis cluster; pass it as ``rtio.Server(adapter=...)``.

    The classic wire; :class:`~rtio.cluster.redis.sharded.ShardedRedisCluster` is the
    sharded one (SPUBLISH / SSUBSCRIBE).

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
        self.link = RedisLink(link, self._on_message, name=self.name)
        self.adapters: dict[str, RedisAdapter] = {}
        self._by_channel: dict[str, tuple[RedisAdapter, str]] = {}
        self._by_pattern: dict[str, RedisAdapter] = {}
        self._handlers: dict[str, dict[str, ServerSideHandler]] = {}
        self._outbound: asyncio.Queue[tuple[str, bytes]] | None = None
        self._writer: asyncio.Task[None] | None = None
        self._tasks: set[asyncio.Task[Any]] = set()
        self._started = False
        self._drop_warned = False
        #: messages dropped because the publisher's queue was full
        self.dropped = 0

    def __call__(self, nsp: Namespace) -> RedisAdapter:
        adapter = self._make_adapter(nsp)
        self.adapters[nsp.name] = adapter
        self._register(adapter)
        if self._started:
            self._spawn(self._subscribe(adapter))
        return adapter

    def _make_adapter(self, nsp: Namespace) -> RedisAdapter:
        return RedisAdapter(nsp, self)

    def _register(self, adapter: RedisAdapter) -> None:
        """Route what the adapter's channels hear to it."""
        channels = adapter.channels
        self._by_pattern[channels.broadcast_pattern] = adapter
        for channel, role in (
            (channels.request, "request"),
            (channels.response, "response"),
            (channels.specific_response, "response"),
        ):
            self._by_channel[channel] = (adapter, role)

    # -- lifecycle ------------------------------------------------------------------------------

    async def _subscribe(self, adapter: RedisAdapter) -> None:
        ch = adapter.channels
        await self.link.psubscribe(ch.broadcast_pattern)
        await self.link.subscribe(ch.request, ch.response, ch.specific_response)

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
            adapter._close()
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
        ``handler(*args)``, sync or async; its return value answers a request with ack."""

        def register(fn: ServerSideHandler) -> ServerSideHandler:
            self._handlers.setdefault(namespace, {})[event] = fn
            return fn

        return register if handler is None else register(handler)

    def _handler(self, nsp: str, event: str) -> ServerSideHandler | None:
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

    def _spawn(self, coro: Awaitable[Any]) -> None:
        task = asyncio.ensure_future(coro)
        self._tasks.add(task)
        task.add_done_callback(self._done)

    def _done(self, task: asyncio.Task[Any]) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.error("redis cluster %s: a task failed", self.name, exc_info=task.exception())

    # -- receiving ------------------------------------------------------------------------------

    def _on_message(self, delivery: Delivery) -> None:
        if delivery.kind == "pmessage":
            adapter = self._by_pattern.get(delivery.pattern or "")
            if adapter is not None:
                adapter._receive_broadcast(delivery.channel, delivery.payload)
            return
        found = self._by_channel.get(delivery.channel)
        if found is None:
            return
        adapter, role = found
        if role == "request":
            adapter._receive_request(delivery.payload)
        else:
            adapter._receive_response(delivery.payload)


class RedisAdapter(Adapter):
    """One namespace's adapter on the classic wire (built by :class:`RedisCluster`)."""

    def __init__(self, nsp: Namespace, cluster: RedisCluster) -> None:
        super().__init__(nsp)
        self.cluster = cluster
        self.options = cluster.options
        #: this node's name on the wire (6 URL-safe characters, as Node's)
        self.uid = new_uid()
        self.channels = ClassicChannels(nsp.name, self.uid, self.options.key)
        # [uid, ...] in msgpack starts 0x93 (an array of 3), 0xa6 (a string of 6), the uid
        self._own_prefix = b"\x93\xa6" + self.uid.encode()
        self._own_request = b'{"uid":"' + self.uid.encode() + b'"'
        #: the handshakes of this node's sockets as fetches send them, built on first use
        self._handshakes: dict[str, dict[str, Any]] = {}
        self._pending: dict[str, _Pending] = {}
        self._acks: dict[str, _AckGather] = {}
        self._remote_ack_id = 0
        #: rtio nodes that answered a request of ours, by uid (to name the missing ones)
        self.known_nodes: set[str] = set()
        self._last_count = 1
        #: counters: broadcasts delivered from other nodes; room messages skipped undecoded
        self.received = 0
        self.skipped = 0

    @classmethod
    def factory(
        cls,
        url: str | None = None,
        *,
        link: LinkOptions | None = None,
        options: RedisAdapterOptions | None = None,
        **adapter_options: Any,
    ) -> RedisCluster:
        """``rtio.Server(adapter=RedisAdapter.factory(url="redis://..."))``; keyword options
        of :class:`RedisAdapterOptions` may be given directly."""
        if adapter_options:
            options = RedisAdapterOptions(**adapter_options)
        return RedisCluster(url, link=link, options=options)

    def _close(self) -> None:
        for pending in self._pending.values():  # their callers get what arrived so far
            if not pending.done.done():
                pending.done.set_result(None)
        self._pending.clear()
        self._acks.clear()

    def _publish(self, channel: str, payload: bytes) -> bool:
        return self.cluster.publish(channel, payload)

    def _send_request(self, request: Request) -> None:
        self._publish(self.channels.request, serialize_request(request))

    def _answer(self, requester: str, response: Response) -> None:
        body = {**response.to_wire(), "uid": self.uid}
        # Node: a serverSideEmit answer always goes to the shared response channel
        specific = self.options.publish_on_specific_response_channel and not isinstance(
            response, ServerSideEmitResponse
        )
        binary = isinstance(response, BroadcastAckResponse) or None
        self._publish(self.channels.response_to(requester, specific), encode(body, binary))

    # -- broadcasting ---------------------------------------------------------------------------

    def broadcast(self, packet: Packet, opts: BroadcastOptions) -> None:
        if not opts.local:
            self._publish_broadcast(packet, opts)
        super().broadcast(packet, opts)

    def _publish_broadcast(self, packet: Packet, opts: BroadcastOptions) -> None:
        message = BroadcastMessage(
            self.uid, WirePacket(list(packet.data), nsp=self.nsp.name), _wire_options(opts)
        )
        channel = self.channels.for_broadcast(message.opts.rooms)
        self._publish(channel, message.serialize())

    def _deliver_remote(self, packet: WirePacket, opts: WireOptions) -> None:
        """Another node's broadcast (no acks) to this node's sockets."""
        self.received += 1
        local = Packet(PacketType.EVENT, self.nsp.name, packet.data)
        super().broadcast(local, _local_options(opts))

    def _receive_broadcast(self, channel: str, payload: bytes) -> None:
        room = self.channels.room_of(channel)
        if room is None:
            return
        if room and not self.members(room):  # no member here: not even decoded
            self.skipped += 1
            return
        if payload.startswith(self._own_prefix):  # our own, back from Redis: not decoded
            return
        try:
            message = BroadcastMessage.parse(payload)
        except MessageError as exc:
            log.warning("redis adapter %s: dropped an invalid broadcast on %s: %s",
                        self.nsp.name, channel, exc)  # fmt: skip
            return
        if message.uid == self.uid or message.nsp != self.nsp.name:
            return
        self._deliver_remote(message.packet, message.opts)

    def broadcast_with_ack(
        self,
        packet: Packet,
        opts: BroadcastOptions,
        on_client_count: Callable[[int], None],
        on_ack: Callable[[str, list[Any] | None], None],
    ) -> None:
        if opts.local:
            super().broadcast_with_ack(packet, opts, on_client_count, on_ack)
            return
        gather = _AckGather(on_client_count, on_ack)
        request_id = new_uid()
        self._acks[request_id] = gather
        super().broadcast_with_ack(packet, opts, gather.count, gather.ack)
        request = BroadcastRequest(
            self.uid, request_id, WirePacket(list(packet.data), nsp=self.nsp.name),
            _wire_options(opts),
        )  # fmt: skip
        self._send_request(request)
        timeout = opts.timeout if opts.timeout is not None else self.options.requests_timeout
        forever = opts.timeout is None
        self.cluster._spawn(self._gather_counts(request_id, gather, timeout, forever))

    async def _gather_counts(
        self, request_id: str, gather: _AckGather, timeout: float, forever: bool
    ) -> None:
        start = time.monotonic()
        deadline = start + min(timeout, self.options.requests_timeout)
        try:
            while time.monotonic() < deadline:
                others = await self._others()
                if others is None or gather.counts >= others:
                    break
                await asyncio.sleep(self.options.recount_interval)
        finally:
            closed = gather.finish()
        if not closed and forever:
            log.warning(
                "redis adapter %s: emit_with_ack without a timeout reached no client on any "
                "server: it waits for ever; give it a timeout (.timeout(seconds))",
                self.nsp.name,
            )  # fmt: skip
        # the answers of the clients may still come, until the broadcast's timeout
        await asyncio.sleep(max(0.0, start + timeout + 1.0 - time.monotonic()))
        self._acks.pop(request_id, None)

    # -- membership operations (applied here at once, and sent to the others) -----------------

    def add_sockets(self, opts: BroadcastOptions, rooms: Iterable[str]) -> None:
        rooms = tuple(rooms)
        super().add_sockets(opts, rooms)
        if not opts.local:
            self._send_request(RemoteJoinRequest(self.uid, _wire_options(opts, flags=False), rooms))

    def del_sockets(self, opts: BroadcastOptions, rooms: Iterable[str]) -> None:
        rooms = tuple(rooms)
        super().del_sockets(opts, rooms)
        if not opts.local:
            self._send_request(
                RemoteLeaveRequest(self.uid, _wire_options(opts, flags=False), rooms)
            )

    def disconnect_sockets(self, opts: BroadcastOptions, close: bool) -> None:
        super().disconnect_sockets(opts, close)
        if not opts.local:
            wire = _wire_options(opts, flags=False)
            self._send_request(RemoteDisconnectRequest(self.uid, wire, close))

    # -- server-side events ---------------------------------------------------------------------

    def server_side_emit(self, args: list[Any]) -> None:
        self._send_request(ServerSideEmitRequest(self.uid, list(args)))

    async def server_side_emit_with_ack(
        self, args: list[Any], timeout: float | None = None
    ) -> ServerReplies:
        """Send an event to the other nodes; their answers, with who did not answer."""
        request_id = new_uid()
        request = ServerSideEmitRequest(self.uid, list(args), request_id)
        pending, coverage = await self._ask(request_id, RequestType.SERVER_SIDE_EMIT, request,
                                            timeout)  # fmt: skip
        out = ServerReplies(
            a.data
            for a in (pending.answers if pending else ())
            if isinstance(a, ServerSideEmitResponse)
        )
        out.coverage = coverage
        return out

    # -- cluster requests -----------------------------------------------------------------------

    async def fetch_sockets(self, opts: BroadcastOptions) -> FetchResult:
        """This node's selected sockets, then the other nodes' (as :class:`ClusterSocket`);
        ``.coverage`` says which nodes did not answer."""
        out = FetchResult(await super().fetch_sockets(opts))
        if opts.local:
            return out
        request_id = new_uid()
        request = RemoteFetchRequest(self.uid, request_id, _wire_options(opts, flags=False))
        pending, out.coverage = await self._ask(request_id, RequestType.REMOTE_FETCH, request)
        for answer in pending.answers if pending else ():
            if isinstance(answer, FetchSocketsResponse):
                out.extend(ClusterSocket(self, s) for s in answer.sockets)
        return out

    async def cluster_sockets(self, rooms: Iterable[str] = ()) -> RoomsResult:
        """The ids of the sockets in any of ``rooms`` (all if none) on every node."""
        rooms = tuple(rooms)
        out = RoomsResult(self.sockets(rooms))
        request_id = new_uid()
        request = SocketsRequest(self.uid, request_id, rooms)
        pending, out.coverage = await self._ask(request_id, RequestType.SOCKETS, request)
        for answer in pending.answers if pending else ():
            if isinstance(answer, SocketsResponse):
                out.update(answer.sockets)
        return out

    async def cluster_rooms(self) -> RoomsResult:
        """Every room with a member on any node (Node's ``allRooms``)."""
        out = RoomsResult(self.all_rooms())
        request_id = new_uid()
        request = AllRoomsRequest(self.uid, request_id)
        pending, out.coverage = await self._ask(request_id, RequestType.ALL_ROOMS, request)
        for answer in pending.answers if pending else ():
            if isinstance(answer, AllRoomsResponse):
                out.update(_js(r) for r in answer.rooms)
        return out

    def server_count(self) -> int:
        """The nodes of this namespace when last counted (:meth:`count_servers` asks Redis)."""
        return self._last_count

    async def count_servers(self) -> int:
        """``PUBSUB NUMSUB`` of the request channel (Node's ``serverCount``)."""
        count = await self._count()
        self._last_count = count
        return count

    async def _count(self) -> int:
        return await self.cluster.link.numsub(self.channels.request)

    async def _others(self) -> int | None:
        try:
            return await self.count_servers() - 1
        except ClusterError:
            return None

    async def _ask(
        self, request_id: str, kind: RequestType, request: Request, timeout: float | None = None
    ) -> tuple[_Pending | None, Coverage]:
        """Publish a request and wait for the other nodes' answers: all of them, the
        timeout, or fewer when nodes went away meanwhile (recounted as it waits)."""
        try:
            expected = await self.count_servers() - 1
        except LinkDown as exc:
            log.warning("redis adapter %s: %s request not sent: %s", self.nsp.name,
                        kind.name, exc)  # fmt: skip
            return None, Coverage(error=f"redis unreachable: {exc}")
        if expected <= 0:
            return None, Coverage()
        if len(self._pending) >= self.options.max_pending_requests:
            log.warning(
                "redis adapter %s: %d cluster requests pending (max_pending_requests): "
                "%s answered with this node only", self.nsp.name, len(self._pending), kind.name,
            )  # fmt: skip
            return None, Coverage(expected=expected, error="overloaded")
        loop = asyncio.get_running_loop()
        pending = _Pending(kind, expected, loop.create_future())
        self._pending[request_id] = pending
        self._send_request(request)
        timeout = self.options.requests_timeout if timeout is None else timeout
        deadline = loop.time() + timeout
        gone = 0
        try:
            while not pending.done.done():
                left = deadline - loop.time()
                if left <= 0:
                    break
                wait = min(left, self.options.recount_interval)
                with contextlib.suppress(asyncio.TimeoutError):
                    await asyncio.wait_for(asyncio.shield(pending.done), wait)
                if pending.done.done():
                    break
                others = await self._others()
                if others is not None and others < pending.expected - gone:
                    gone = pending.expected - others
                    if len(pending.answers) >= others:
                        break
        finally:
            self._pending.pop(request_id, None)
        answered = len(pending.answers)
        missing: frozenset[str] = frozenset()
        if answered < expected:
            missing = frozenset(self.known_nodes - pending.responders)
            log.warning(
                "redis adapter %s: %s answered by %d of %d nodes (%s)%s", self.nsp.name,
                kind.name, answered, expected,
                "missing: " + ", ".join(sorted(missing)) if missing else "unnamed",
                f"; {gone} went away" if gone else f" within {timeout:g} s",
            )  # fmt: skip
            if gone:  # those that went away are forgotten
                self.known_nodes -= missing
            self.known_nodes |= pending.responders
        else:  # everybody answered: the rtio nodes now are exactly those that did
            self.known_nodes = set(pending.responders)
        return pending, Coverage(expected, answered, missing, gone)

    # -- requests from the other nodes ----------------------------------------------------------

    def _receive_request(self, payload: bytes) -> None:
        if payload.startswith(self._own_request):
            return  # our own, back from Redis: applied here already, not decoded
        try:
            request = parse_request(payload)
        except MessageError as exc:
            log.warning("redis adapter %s: dropped an invalid request: %s", self.nsp.name, exc)
            return
        if getattr(request, "uid", None) == self.uid:
            return  # our own: applied here already
        self._handle_request(request)

    def _handle_request(self, request: Request) -> None:
        """Another node's request (or the emitter's)."""
        if isinstance(request, RemoteJoinRequest):
            super().add_sockets(_local_options(request.opts), (_js(r) for r in request.rooms))
        elif isinstance(request, RemoteLeaveRequest):
            super().del_sockets(_local_options(request.opts), (_js(r) for r in request.rooms))
        elif isinstance(request, RemoteDisconnectRequest):
            super().disconnect_sockets(_local_options(request.opts), request.close)
        elif isinstance(request, SocketsRequest):
            sids = self.sockets(_js(r) for r in request.rooms)
            self._answer(request.uid, SocketsResponse(request.request_id, tuple(sids)))
        elif isinstance(request, AllRoomsRequest):
            self._answer(request.uid, AllRoomsResponse(request.request_id, tuple(self.all_rooms())))
        elif isinstance(request, RemoteFetchRequest):
            self._answer_fetch(request)
        elif isinstance(request, ServerSideEmitRequest):
            self._server_side_event(request)
        elif isinstance(request, BroadcastRequest):
            self._broadcast_for(request)

    def _answer_fetch(self, request: RemoteFetchRequest) -> None:
        handshakes = self._handshakes
        sockets = []
        for socket in self._apply(_local_options(request.opts)):
            handshake = handshakes.get(socket.id)
            if handshake is None:  # fixed at connect: built once per socket
                handshake = handshakes[socket.id] = _handshake_wire(socket)
            sockets.append(RemoteSocket(socket.id, handshake, tuple(socket.rooms), socket.data))
        try:
            self._answer(request.uid, FetchSocketsResponse(request.request_id, tuple(sockets)))
        except (TypeError, ValueError):  # a socket's data cannot travel: sent without it
            self._answer(
                request.uid,
                FetchSocketsResponse(request.request_id, tuple(map(self._sendable, sockets))),
            )

    def _sendable(self, remote: RemoteSocket) -> RemoteSocket:
        try:
            encode(remote.data)
        except (TypeError, ValueError):
            log.warning("redis adapter %s: socket %s's data cannot be sent to the cluster",
                        self.nsp.name, remote.id)  # fmt: skip
            return RemoteSocket(remote.id, remote.handshake, remote.rooms, None)
        return remote

    def delete_all(self, sid: str) -> None:
        self._handshakes.pop(sid, None)
        super().delete_all(sid)

    def _server_side_event(self, request: ServerSideEmitRequest) -> None:
        if not request.data or not isinstance(request.data[0], str):
            return
        event, *args = request.data
        handler = self.cluster._handler(self.nsp.name, event)
        if handler is None:
            return
        self.cluster._spawn(self._run_server_side(handler, event, args, request))

    async def _run_server_side(
        self,
        handler: ServerSideHandler,
        event: str,
        args: list[Any],
        request: ServerSideEmitRequest,
    ) -> None:
        try:
            result = handler(*args)
            if inspect.isawaitable(result):
                result = await result
        except Exception:
            log.exception("redis adapter %s: the server-side handler of %r failed",
                          self.nsp.name, event)  # fmt: skip
            return
        if request.request_id is not None:  # the first ack argument only
            self._answer(request.uid, ServerSideEmitResponse(request.request_id, result))

    def _broadcast_for(self, request: BroadcastRequest) -> None:
        """Another node's broadcast with acks: count our clients, relay each ack."""
        self._remote_ack_id = (self._remote_ack_id + 1) % _REMOTE_ACK_BASE
        packet = Packet(
            PacketType.EVENT, self.nsp.name, request.packet.data,
            _REMOTE_ACK_BASE + self._remote_ack_id,
        )  # fmt: skip
        requester, request_id = request.uid, request.request_id

        def on_count(n: int) -> None:
            self._answer(requester, BroadcastClientCountResponse(request_id, n))

        def on_ack(_sid: str, args: list[Any] | None) -> None:
            if args is not None:
                self._answer(requester, BroadcastAckResponse(request_id, args[0] if args else None))

        super().broadcast_with_ack(packet, _local_options(request.opts), on_count, on_ack)

    # -- answers --------------------------------------------------------------------------------

    def _receive_response(self, payload: bytes) -> None:
        peeked = peek_request_id(payload)
        if peeked is not None and peeked not in self._pending and peeked not in self._acks:
            return  # another node's answer (the channel is shared): not decoded
        try:
            head = decode(payload)
        except MessageError:
            return
        if not isinstance(head, dict):
            return
        request_id = head.get("requestId")
        gather = self._acks.get(request_id) if isinstance(request_id, str) else None
        if gather is not None:
            kind = head.get("type")
            if kind == RequestType.BROADCAST_CLIENT_COUNT:
                count = head.get("clientCount")
                if isinstance(count, int):
                    gather.counts += 1
                    gather.count(count)
            elif kind == RequestType.BROADCAST_ACK:
                gather.remote_ack(head.get("packet"))
            return
        pending = self._pending.get(request_id) if isinstance(request_id, str) else None
        if pending is None:
            return
        try:
            response = response_from(head, lambda _id: pending.kind)
        except MessageError as exc:
            log.warning("redis adapter %s: dropped an invalid answer: %s", self.nsp.name, exc)
            return
        if response is not None:
            uid = head.get("uid")
            pending.add(response, uid if isinstance(uid, str) else None)

    def _deliver_response(self, response: Response, uid: str | None) -> None:
        """An answer to a request of ours, already decoded (the sharded wire's)."""
        request_id = response.request_id
        gather = self._acks.get(request_id)
        if gather is not None:
            if isinstance(response, BroadcastClientCountResponse):
                gather.counts += 1
                gather.count(response.client_count)
            elif isinstance(response, BroadcastAckResponse):
                gather.remote_ack(response.packet)
            return
        pending = self._pending.get(request_id)
        if pending is not None:
            pending.add(response, uid)
