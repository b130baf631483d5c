"""The classic Redis adapter: rtio nodes (and Node's ``@socket.io/redis-adapter`` 8.3 nodes)
sharing rooms, broadcasts and server-wide operations through Redis pub/sub.

Owns: :class:`RedisAdapter`, rtio.socketio's :class:`~rtio.socketio.Adapter` of one
namespace speaking the classic wire of :mod:`rtio.cluster.classic`: it publishes this
node's broadcasts and operations, delivers the other nodes' broadcasts, and runs this
node's cluster requests. The parts it is made of: :mod:`.cluster` (the server's
membership: link, publisher, routing), :mod:`.requests` (requests in flight and their
answers), :mod:`.serving` (answering the other nodes), :mod:`.convert` (options and
sockets to and from the wire), :mod:`.results` (options, Coverage, the results and
:class:`ClusterSocket`). This module re-exports their public names.

Does not know the bytes (rtio.cluster.classic does) nor the connection to Redis
(rtio.cluster.redis.link does). Imports only rtio.socketio's public names.

::

    cluster = RedisCluster("redis://127.0.0.1:6379")     # or RedisAdapter.factory(url=...)
    sio = rtio.Server(adapter=cluster)
    cluster.attach(app)            # or: await cluster.start() ... await cluster.close()
    sio.on_server_side("hello", handler)   # serverSideEmit from other nodes

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

import logging
from collections.abc import Awaitable, Callable, Iterable
from typing import TYPE_CHECKING, Any

from rtio.socketio import Adapter, BroadcastOptions, Packet, PacketType

from ..classic import (
    AllRoomsRequest,
    AllRoomsResponse,
    BroadcastAckResponse,
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
    serialize_request,
)
from ..convert import local_options, wire_options
from ..errors import MessageError
from ..wire import WireOptions, WirePacket, encode, js_string
from .cluster import RedisClusterBase, ServerSideHandler
from .link import LinkOptions
from .requests import Requests
from .results import (
    ClusterSocket,
    Coverage,
    FetchResult,
    RedisAdapterOptions,
    RoomsResult,
    ServerReplies,
)
from .serving import RequestServer
from .url import new_uid

if TYPE_CHECKING:
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


class RedisCluster(RedisClusterBase):
    """One server's membership of a Redis cluster; pass it as ``rtio.Server(adapter=...)``:
    called with a namespace, it builds that namespace's adapter.

    The classic wire; :class:`~rtio.cluster.redis.sharded.ShardedRedisCluster` is the
    sharded one (SPUBLISH / SSUBSCRIBE).

    :param url: ``redis://host:port/db`` (or give ``link``).
    :param link: the link's options (timeouts, backoff, outage buffer, canary).
    :param options: the adapter's options.
    """

    def __call__(self, nsp: Namespace) -> RedisAdapter:
        adapter = self.make_adapter(nsp)
        self.join(nsp.name, adapter)
        return adapter

    def make_adapter(self, nsp: Namespace) -> RedisAdapter:
        return RedisAdapter(nsp, self)


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
        #: this node's requests in flight, and their answers
        self.requests = Requests(nsp.name, self.options, self._count, self.send_request)
        #: the other nodes' requests, answered
        self.serving = RequestServer(self)
        self.closed = False
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

    @property
    def name(self) -> str:
        """The namespace's name."""
        return self.nsp.name

    @property
    def known_nodes(self) -> set[str]:
        """The rtio nodes that answered a request of ours, by uid."""
        return self.requests.known_nodes

    # -- the cluster's view of this adapter ---------------------------------------------------

    def routes(self) -> dict[str, str]:
        """The channels (and the pattern) this adapter hears, with their roles."""
        ch = self.channels
        return {
            ch.broadcast_pattern: "pattern",
            ch.request: "request",
            ch.response: "response",
            ch.specific_response: "response",
        }

    def subscriptions(self) -> tuple[tuple[str, ...], tuple[str, ...], tuple[str, ...]]:
        """(channels, patterns, sharded channels) to subscribe to."""
        ch = self.channels
        return (ch.request, ch.response, ch.specific_response), (ch.broadcast_pattern,), ()

    def receive(self, role: str, channel: str, payload: bytes) -> None:
        """A message heard on one of :meth:`routes`."""
        if role == "broadcast":
            self._receive_broadcast(channel, payload)
        elif role == "request":
            self._receive_request(payload)
        else:
            self.requests.receive(payload)

    def finish(self) -> None:
        """The cluster closes: the requests in flight end with what arrived."""
        self.requests.close()

    def close(self) -> None:
        """The namespace went (or the server closed): this node leaves the namespace's
        channels; its requests in flight end with what arrived (Node's ``adapter.close``)."""
        if not self.closed:
            self.closed = True
            self.finish()
            self.cluster.forget(self.nsp.name, self)

    def spawn(self, coro: Awaitable[Any]) -> None:
        self.cluster.spawn(coro)

    def server_side_handler(self, event: str) -> ServerSideHandler | None:
        """The handler of a server-side event: the namespace's (``on_server_side``), else
        the cluster's (``cluster.on``)."""
        handler = self.nsp.server_side_handlers.get(event)
        return handler or self.cluster.handler(self.nsp.name, event)

    def select(self, opts: BroadcastOptions) -> list[Socket]:
        """This node's sockets that ``opts`` selects."""
        return list(self._apply(opts))

    # -- publishing ---------------------------------------------------------------------------

    def _publish(self, channel: str, payload: bytes) -> bool:
        return self.cluster.publish(channel, payload)

    def send_request(self, request: Request) -> None:
        """Publish a request of this node."""
        self._publish(self.channels.request, serialize_request(request))

    def answer(self, requester: str, response: Response) -> None:
        """Publish this node's answer to another node's request."""
        # Node: a serverSideEmit answer always goes to the shared response channel
        specific = self.options.publish_on_specific_response_channel and not isinstance(
            response, ServerSideEmitResponse
        )
        if isinstance(response, FetchSocketsResponse):  # the big one: handshakes pre-encoded
            payload = response.serialize(self.uid)
        else:
            body = {**response.to_wire(), "uid": self.uid}
            payload = encode(body, isinstance(response, BroadcastAckResponse) or None)
        self._publish(self.channels.response_to(requester, specific), payload)

    # -- broadcasting ---------------------------------------------------------------------------

    def broadcast(self, packet: Packet, opts: BroadcastOptions) -> None:
        if not opts.local:
            self._publish_broadcast(packet, opts)
        super().broadcast(packet, opts)

    def _publish_broadcast(self, packet: Packet, opts: BroadcastOptions) -> None:
        message = BroadcastMessage(
            self.uid, WirePacket(list(packet.data), nsp=self.nsp.name), wire_options(opts)
        )
        channel = self.channels.for_broadcast(message.opts.rooms)
        self._publish(channel, message.serialize())

    def deliver_remote(self, packet: WirePacket, opts: WireOptions) -> None:
        """Another node's broadcast (no acks) to this node's sockets."""
        self.received += 1
        local = Packet(PacketType.EVENT, self.nsp.name, packet.data)
        super().broadcast(local, local_options(opts))

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
        self.deliver_remote(message.packet, message.opts)

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
        request_id, gather = self.requests.gather_acks(on_client_count, on_ack)
        super().broadcast_with_ack(packet, opts, gather.count, gather.ack)
        request = BroadcastRequest(
            self.uid, request_id, WirePacket(list(packet.data), nsp=self.nsp.name),
            wire_options(opts),
        )  # fmt: skip
        self.send_request(request)
        timeout = opts.timeout if opts.timeout is not None else self.options.requests_timeout
        self.spawn(self.requests.watch_counts(request_id, gather, timeout))

    # -- membership operations (applied here at once, and sent to the others) -----------------

    def add_sockets(self, opts: BroadcastOptions, rooms: Iterable[str]) -> None:
        rooms = tuple(rooms)
        super().add_sockets(opts, rooms)
        if not opts.local:
            self.send_request(RemoteJoinRequest(self.uid, wire_options(opts, flags=False), rooms))

    def del_sockets(self, opts: BroadcastOptions, rooms: Iterable[str]) -> None:
        rooms = tuple(rooms)
        super().del_sockets(opts, rooms)
        if not opts.local:
            self.send_request(RemoteLeaveRequest(self.uid, wire_options(opts, flags=False), rooms))

    def disconnect_sockets(self, opts: BroadcastOptions, close: bool) -> None:
        super().disconnect_sockets(opts, close)
        if not opts.local:
            wire = wire_options(opts, flags=False)
            self.send_request(RemoteDisconnectRequest(self.uid, wire, close))

    def delete_all(self, sid: str) -> None:
        self.serving.forget(sid)
        super().delete_all(sid)

    # -- server-side events ---------------------------------------------------------------------

    def server_side_emit(self, args: list[Any]) -> None:
        self.send_request(ServerSideEmitRequest(self.uid, list(args)))

    async def server_side_emit_with_ack(
        self, args: list[Any], timeout: float | None = None
    ) -> ServerReplies:
        """Send an event to the other nodes; their answers, with who did not answer."""
        request_id = new_uid()
        request = ServerSideEmitRequest(self.uid, list(args), request_id)
        pending, coverage = await self.requests.ask(
            request_id, RequestType.SERVER_SIDE_EMIT, request, timeout
        )
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
        out = FetchResult(self._apply(opts))
        if opts.local:
            return out
        request_id = new_uid()
        request = RemoteFetchRequest(self.uid, request_id, wire_options(opts, flags=False))
        pending, out.coverage = await self.requests.ask(
            request_id, RequestType.REMOTE_FETCH, request
        )
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
        pending, out.coverage = await self.requests.ask(request_id, RequestType.SOCKETS, request)
        for answer in pending.answers if pending else ():
            if isinstance(answer, SocketsResponse):
                out.update(answer.sockets)
        return out

    async def cluster_rooms(self) -> RoomsResult:
        """Every room with a member on any node (Node's ``allRooms``)."""
        out = RoomsResult(self.all_rooms())
        request_id = new_uid()
        request = AllRoomsRequest(self.uid, request_id)
        pending, out.coverage = await self.requests.ask(request_id, RequestType.ALL_ROOMS, request)
        for answer in pending.answers if pending else ():
            if isinstance(answer, AllRoomsResponse):
                out.update(js_string(r) for r in answer.rooms)
        return out

    def server_count(self) -> int:
        """The nodes of this namespace when last counted (:meth:`count_servers` asks Redis)."""
        return self.requests.last_count

    async def count_servers(self) -> int:
        """``PUBSUB NUMSUB`` of the request channel (Node's ``serverCount``)."""
        return await self.requests.count_servers()

    async def _count(self) -> int:
        return await self.cluster.link.numsub(self.channels.request)

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
        self.serving.handle(request)
