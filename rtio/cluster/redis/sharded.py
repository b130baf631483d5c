"""The sharded Redis adapter (Redis >= 7): rtio nodes and Node's
``@socket.io/redis-adapter`` 8.3 ``createShardedAdapter`` nodes sharing rooms, broadcasts
and server-wide operations through sharded pub/sub (SSUBSCRIBE / SPUBLISH).

Owns: :class:`ShardedRedisCluster` (a :class:`~rtio.cluster.redis.adapter.RedisCluster`
that publishes with SPUBLISH and builds :class:`ShardedRedisAdapter` per namespace) and
:class:`ShardedRedisAdapter`, which speaks socket.io-adapter's ``ClusterAdapter`` messages
(rtio.cluster.messages) on the channels of rtio.cluster.sharded.

Shares everything else with the classic adapter: the same operations, the same partial
results (:class:`~rtio.cluster.redis.adapter.Coverage`), the same limits, the same link.
It does so by translation: the classic adapter's requests and answers (rtio.cluster.classic
objects) are what the shared code builds and reads; this module turns them into
``ClusterMessage`` bodies on the way out and back on the way in.

Wire (``prefix`` ``socket.io``)::

    socket.io#<nsp>#          every message but the answers           SSUBSCRIBE, SPUBLISH
    socket.io#<nsp>#<uid>#    the answers to the node <uid>           (uid: 16 hex)
    socket.io#<nsp>#<room>#   "dynamic": a broadcast to exactly one room, without acks,
                              unless the room is 20 characters long (a socket id); a node
                              subscribes while it has a member in the room

What differs from the classic wire, as in Node:

- ``server_count`` is ``PUBSUB SHARDNUMSUB socket.io#<nsp>#``; no heartbeats: Node's
  sharded adapter 8.3 is a ``ClusterAdapter`` without them (it ignores types 1, 2 and 13),
  so rtio sends none and ignores them too;
- there is no request for the rooms or the socket ids of the cluster: ``cluster_rooms``
  and ``cluster_sockets`` are answered through FETCH_SOCKETS (which Node's nodes answer);
- every answer carries its node's uid, Node's too: a missing node is named whatever its
  language;
- ``@socket.io/redis-emitter`` (and rtio's Emitter) publish on the classic channels: they
  do not reach sharded nodes.

A node with no member in a room does not hear that room's broadcasts at all (it is not
subscribed); its own messages coming back are dropped from their last bytes
(``"uid":"<uid>","nsp":...}``, or msgpack's ``uid`` and ``nsp`` entries) without decoding.
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Awaitable, Iterable
from typing import TYPE_CHECKING

from rtio.socketio import BroadcastOptions, Packet

from ..classic import (
    AllRoomsRequest,
    AllRoomsResponse,
    BroadcastAckResponse,
    BroadcastClientCountResponse,
    BroadcastRequest,
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
)
from ..convert import wire_options
from ..errors import MessageError
from ..messages import (
    Body,
    Broadcast,
    BroadcastAck,
    BroadcastClientCount,
    ClusterMessage,
    DisconnectSockets,
    FetchSockets,
    ServerSideEmit,
    SocketsJoin,
    SocketsLeave,
)
from ..messages import FetchSocketsResponse as ShardedFetchResponse
from ..messages import ServerSideEmitResponse as ShardedEmitResponse
from ..sharded import ShardedChannels, SubscriptionMode
from ..wire import WireOptions, WirePacket, encode_msgpack, js_string
from .adapter import RedisAdapter, RedisAdapterOptions, RedisCluster
from .link import LinkOptions

if TYPE_CHECKING:
    from rtio.socketio import Namespace

__all__ = ["ShardedRedisAdapter", "ShardedRedisCluster"]

log = logging.getLogger("rtio.cluster")

_ROLE_MAIN, _ROLE_RESPONSE, _ROLE_ROOM = "main", "response", "room"


class ShardedRedisCluster(RedisCluster):
    """One server's membership of a sharded Redis cluster (Node's ``createShardedAdapter``).

    :param mode: ``"dynamic"`` (Node's default: one channel per room), ``"static"`` (one
        channel per namespace) or ``"dynamic-private"`` (socket ids' rooms too); every node
        of the cluster must use the same mode for the room channels to be heard.
    """

    sharded = True

    def __init__(
        self,
        url: str | None = None,
        *,
        link: LinkOptions | None = None,
        options: RedisAdapterOptions | None = None,
        name: str | None = None,
        mode: SubscriptionMode | str = SubscriptionMode.DYNAMIC,
    ) -> None:
        super().__init__(url, link=link, options=options, name=name)
        self.mode = SubscriptionMode(mode)

    def make_adapter(self, nsp: Namespace) -> RedisAdapter:
        return ShardedRedisAdapter(nsp, self)


def _msgpack_str(value: str) -> bytes:
    return encode_msgpack(value)


class ShardedRedisAdapter(RedisAdapter):
    """One namespace's adapter on the sharded wire (built by :class:`ShardedRedisCluster`)."""

    cluster: ShardedRedisCluster

    def __init__(self, nsp: Namespace, cluster: ShardedRedisCluster) -> None:
        super().__init__(nsp, cluster)
        #: this node's name on the wire (16 hex characters, as Node's ClusterAdapter)
        self.uid = os.urandom(8).hex()
        self.sharded = ShardedChannels(nsp.name, self.uid, self.options.key, cluster.mode)
        self._dynamic = cluster.mode is not SubscriptionMode.STATIC
        #: the room channels this node follows
        self.room_channels: set[str] = set()
        # our own messages end with the uid and nsp entries (JSON or msgpack)
        nsp_json = json.dumps(nsp.name, ensure_ascii=False).encode()
        self._own_json = f'"uid":"{self.uid}","nsp":'.encode() + nsp_json + b"}"
        self._own_msgpack = (
            _msgpack_str("uid") + _msgpack_str(self.uid) + _msgpack_str("nsp")
            + _msgpack_str(nsp.name)
        )  # fmt: skip

    # -- room channels (dynamic modes) ----------------------------------------------------------

    def add_all(self, sid: str, rooms: Iterable[str]) -> Awaitable[None] | None:
        if not self._dynamic:
            return super().add_all(sid, rooms)
        rooms = tuple(rooms)
        new = [r for r in rooms if not self.members(r)]
        result = super().add_all(sid, rooms)
        for room in new:
            self._room_created(room)
        return result

    def _room_created(self, room: str) -> None:
        if not self.sharded.subscribes_to_room(room, room in self.sids):
            return
        channel = self.sharded.room(room)
        if channel not in self.room_channels:
            self.room_channels.add(channel)
            self.cluster.follow(self, channel, _ROLE_ROOM)

    def _room_deleted(self, room: str) -> None:
        channel = self.sharded.room(room)
        if channel in self.room_channels:
            self.room_channels.discard(channel)
            self.cluster.unfollow(channel)

    def _leave(self, sid: str, room: str) -> None:
        super()._leave(sid, room)
        if self._dynamic and not self.members(room):
            self._room_deleted(room)

    def delete_all(self, sid: str) -> None:
        super().delete_all(sid)
        if self._dynamic and not self.members(sid):
            self._room_deleted(sid)

    # -- out: classic requests and answers as ClusterAdapter messages -------------------------

    def _message(self, body: Body) -> ClusterMessage:
        return ClusterMessage(self.uid, self.nsp.name, body)

    def _send_message(self, body: Body) -> None:
        message = self._message(body)
        self._publish(self.sharded.for_message(message), message.serialize())

    def _publish_broadcast(self, packet: Packet, opts: BroadcastOptions) -> None:
        self._send_message(Broadcast(WirePacket(list(packet.data)), wire_options(opts)))

    def send_request(self, request: Request) -> None:
        body: Body
        if isinstance(request, BroadcastRequest):
            packet = WirePacket(request.packet.data)
            body = Broadcast(packet, request.opts, request.request_id)
        elif isinstance(request, RemoteJoinRequest):
            body = SocketsJoin(request.opts, request.rooms)
        elif isinstance(request, RemoteLeaveRequest):
            body = SocketsLeave(request.opts, request.rooms)
        elif isinstance(request, RemoteDisconnectRequest):
            body = DisconnectSockets(request.opts, request.close)
        elif isinstance(request, RemoteFetchRequest):
            body = FetchSockets(request.opts, request.request_id)
        elif isinstance(request, SocketsRequest):  # answered by FETCH_SOCKETS
            body = FetchSockets(WireOptions(request.rooms, ()), request.request_id)
        elif isinstance(request, AllRoomsRequest):
            body = FetchSockets(WireOptions((), ()), request.request_id)
        else:
            assert isinstance(request, ServerSideEmitRequest)
            body = ServerSideEmit(request.data, request.request_id)
        self._send_message(body)

    def answer(self, requester: str, response: Response) -> None:
        body: Body
        if isinstance(response, FetchSocketsResponse):
            body = ShardedFetchResponse(response.request_id, response.sockets)
        elif isinstance(response, ServerSideEmitResponse):
            body = ShardedEmitResponse(response.request_id, response.data)
        elif isinstance(response, BroadcastClientCountResponse):
            body = BroadcastClientCount(response.request_id, response.client_count)
        elif isinstance(response, BroadcastAckResponse):
            body = BroadcastAck(response.request_id, response.packet)
        else:  # SOCKETS and ALL_ROOMS requests do not exist on this wire
            return
        self._publish(self.sharded.response_of(requester), self._message(body).serialize())

    async def _count(self) -> int:
        return await self.cluster.link.shardnumsub(self.sharded.main)

    # -- in -------------------------------------------------------------------------------------

    def routes(self) -> dict[str, str]:
        routes = {self.sharded.main: _ROLE_MAIN, self.sharded.response: _ROLE_RESPONSE}
        routes.update(dict.fromkeys(self.room_channels, _ROLE_ROOM))
        return routes

    def subscriptions(self) -> tuple[tuple[str, ...], tuple[str, ...], tuple[str, ...]]:
        ch = self.sharded
        return (), (), (ch.main, ch.response, *self.room_channels)

    def receive(self, role: str, channel: str, payload: bytes) -> None:
        if role == _ROLE_ROOM:
            room = channel[len(self.sharded.main) : -1]
            if not self.members(room):  # left since: not even decoded
                self.skipped += 1
                return
        if role != _ROLE_RESPONSE and (
            payload.endswith(self._own_json) or payload.endswith(self._own_msgpack)
        ):
            return  # our own, back from Redis
        try:
            message = ClusterMessage.parse(payload)
        except MessageError as exc:
            log.warning("sharded redis adapter %s: dropped an invalid message on %s: %s",
                        self.nsp.name, channel, exc)  # fmt: skip
            return
        if message.uid == self.uid or message.nsp != self.nsp.name:
            return
        body, uid = message.body, message.uid
        if isinstance(body, Broadcast):
            if body.request_id is None:
                self.deliver_remote(body.packet, body.opts)
            else:
                packet = WirePacket(body.packet.data, nsp=self.nsp.name)
                self.serving.handle(BroadcastRequest(uid, body.request_id, packet, body.opts))
        elif isinstance(body, SocketsJoin):
            self.serving.handle(RemoteJoinRequest(uid, body.opts, body.rooms))
        elif isinstance(body, SocketsLeave):
            self.serving.handle(RemoteLeaveRequest(uid, body.opts, body.rooms))
        elif isinstance(body, DisconnectSockets):
            self.serving.handle(RemoteDisconnectRequest(uid, body.opts, body.close))
        elif isinstance(body, FetchSockets):
            self.serving.handle(RemoteFetchRequest(uid, body.request_id, body.opts))
        elif isinstance(body, ServerSideEmit):
            self.serving.handle(ServerSideEmitRequest(uid, body.packet, body.request_id))
        elif isinstance(body, ShardedFetchResponse):
            self._fetch_answer(body, uid)
        elif isinstance(body, ShardedEmitResponse):
            self.requests.deliver(ServerSideEmitResponse(body.request_id, body.packet), uid)
        elif isinstance(body, BroadcastClientCount):
            count = BroadcastClientCountResponse(body.request_id, body.client_count)
            self.requests.deliver(count, uid)
        elif isinstance(body, BroadcastAck):
            self.requests.deliver(BroadcastAckResponse(body.request_id, body.packet), uid)
        # heartbeats (1, 2) and ADAPTER_CLOSE (13): Node's sharded adapter ignores them too

    def _fetch_answer(self, body: ShardedFetchResponse, uid: str) -> None:
        """FETCH_SOCKETS answers the fetches, and the socket and room queries."""
        kind = self.requests.kind_of(body.request_id)
        if kind is None:
            return
        response: Response
        if kind is RequestType.SOCKETS:
            response = SocketsResponse(body.request_id, tuple(s.id for s in body.sockets))
        elif kind is RequestType.ALL_ROOMS:
            rooms = {js_string(r) for s in body.sockets for r in s.rooms}
            response = AllRoomsResponse(body.request_id, tuple(rooms))
        else:
            response = FetchSocketsResponse(body.request_id, body.sockets)
        self.requests.deliver(response, uid)
