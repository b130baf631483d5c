"""The requests of the Redis Streams adapter that need answers: over pub/sub, as Node's
``@socket.io/redis-streams-adapter`` 0.3.1 sends them (not in the stream).

Owns, for one namespace: answering the other nodes' FETCH_SOCKETS, SERVER_SIDE_EMIT and
BROADCAST-with-ack requests (every subscriber of ``socket.io#<nsp>#`` is counted by
``PUBSUB NUMSUB`` and waited for, so a node that subscribes must answer), and sending this
node's fetch_sockets and server_side_emit(_with_ack), gathering the answers that come back on
``socket.io#<nsp>#<uid>#`` within ``request_timeout``.

Wire: a whole message ``{type, data, uid, nsp}`` in msgpack (``@msgpack/msgpack``), requests
on the public channel, answers on the requester's private channel. Errors: an unreadable
message is dropped (DEBUG); a request whose answers do not all come in time returns what
came (the missing count is logged at INFO). Bounds: ``max_pending`` requests of this node at
once (past it a request fails with :class:`~rtio.cluster.errors.LinkDown`).

A broadcast with acks of this node: its own sockets at once, the others' through a
BROADCAST with ``requestId``; each node answers its client count, then one BROADCAST_ACK
per client. rtio's operator learns the local count synchronously and the remote ones later:
a placeholder count holds it open until every node counted (or ``request_timeout``), and
the latest ack is held back to close it with the placeholder's removal.
"""

from __future__ import annotations

import asyncio
import logging
import os
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from rtio.socketio import BroadcastOptions, Packet, PacketType

from ..convert import handshake_wire
from ..errors import LinkDown, MessageError
from ..messages import (
    Broadcast,
    BroadcastAck,
    BroadcastClientCount,
    ClusterMessage,
    FetchSockets,
    FetchSocketsResponse,
    ServerSideEmit,
    ServerSideEmitResponse,
)
from ..wire import RemoteSocket, WireFlags, WireOptions, WirePacket, encode_msgpack, js_string
from .link import RedisLink

__all__ = ["Requests", "StreamsRemoteSocket"]

log = logging.getLogger("rtio.cluster.redis")


class StreamsRemoteSocket:
    """A socket of another node, as ``fetch_sockets`` found it (Node's ``RemoteSocket``):
    ``emit`` / ``join`` / ``leave`` / ``disconnect`` go through the stream."""

    __slots__ = ("_adapter", "data", "handshake", "id", "rooms")

    def __init__(self, adapter: Any, remote: RemoteSocket) -> None:
        self._adapter = adapter
        self.id = remote.id
        self.handshake: Mapping[str, Any] = remote.handshake
        self.rooms: set[str] = {js_string(r) for r in remote.rooms}
        self.data: Any = remote.data

    def __repr__(self) -> str:
        return f"<rtio.StreamsRemoteSocket {self.id} rooms={sorted(self.rooms)}>"

    def _only_me(self) -> BroadcastOptions:
        return BroadcastOptions(rooms=frozenset((self.id,)))

    def emit(self, event: str, *args: Any) -> None:
        packet = Packet(PacketType.EVENT, self._adapter.nsp.name, [event, *args])
        self._adapter.broadcast(packet, self._only_me())

    def join(self, rooms: str | Iterable[str]) -> None:
        self._adapter.add_sockets(self._only_me(), (rooms,) if isinstance(rooms, str) else rooms)

    def leave(self, room: str) -> None:
        self._adapter.del_sockets(self._only_me(), (room,))

    def disconnect(self, close: bool = False) -> None:
        self._adapter.disconnect_sockets(self._only_me(), close)


class _Gather:
    """The acks of one broadcast with acks, local and remote, fed to rtio's operator."""

    __slots__ = ("_final", "_held", "_on_ack", "_on_count", "counts", "remote_acks")

    def __init__(
        self, on_count: Callable[[int], None], on_ack: Callable[[str, list[Any] | None], None]
    ) -> None:
        self._on_count = on_count
        self._on_ack = on_ack
        self._final = False
        self._held: tuple[str, list[Any] | None] | None = None
        #: nodes that reported their count; acks from other nodes
        self.counts = 0
        self.remote_acks = 0
        on_count(1)  # the placeholder

    def count(self, n: int) -> None:
        if n:
            self._on_count(n)

    def remote_count(self, n: int) -> None:
        self.counts += 1
        self.count(n)

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

    def finish(self) -> None:
        if self._final:
            return
        self._final = True
        self._on_count(-1)
        held, self._held = self._held, None
        if held is not None:
            self._on_ack(*held)


class _Pending:
    __slots__ = ("expected", "future", "replies")

    def __init__(self, expected: int) -> None:
        self.expected = expected
        self.replies: list[Any] = []
        self.future: asyncio.Future[None] = asyncio.get_running_loop().create_future()

    def add(self, reply: Any) -> None:
        self.replies.append(reply)
        if len(self.replies) >= self.expected and not self.future.done():
            self.future.set_result(None)


class Requests:
    """The pub/sub side of one namespace's streams adapter (see the module docstring).

    ``adapter`` is the :class:`~.streams.RedisStreamsAdapter`: its ``uid``, ``nsp``, the
    local operations of rtio's Adapter and its cluster's server-side handlers."""

    def __init__(
        self,
        adapter: Any,
        link: RedisLink,
        public: str,
        private: str,
        *,
        request_timeout: float = 5.0,
        max_pending: int = 1_000,
        local: Callable[[], Any],
    ) -> None:
        self.adapter = adapter
        self.link = link
        self.public = public
        self.private = private
        self.request_timeout = request_timeout
        self.max_pending = max_pending
        #: the local (rtio Adapter) operations: fetch_sockets, broadcast_with_ack
        self.local = local
        self._pending: dict[str, _Pending] = {}
        self._acks: dict[str, _Gather] = {}
        self._tasks: set[asyncio.Task[Any]] = set()
        #: the nodes counted at the last request (``server_count``)
        self.last_count = 1

    def _message(self, body: Any) -> bytes:
        wire = ClusterMessage(self.adapter.uid, self.adapter.nsp.name, body).to_wire()
        return encode_msgpack(wire)

    def _spawn(self, coro: Any) -> None:
        task = asyncio.ensure_future(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def _answer(self, requester: str, body: Any) -> None:
        channel = self.public + requester + "#"
        self._spawn(self.link.publish(channel, self._message(body)))

    # -- incoming ---------------------------------------------------------------------

    def receive(self, channel: str, payload: bytes) -> None:
        try:
            message = ClusterMessage.parse(payload)
        except MessageError as exc:
            log.debug("unreadable pub/sub message on %s: %s", channel, exc)
            return
        if message.uid == self.adapter.uid or message.nsp != self.adapter.nsp.name:
            return
        body = message.body
        if channel == self.private:
            self._response(body)
        elif isinstance(body, FetchSockets):
            self._spawn(self._answer_fetch(message.uid, body))
        elif isinstance(body, ServerSideEmit):
            self._server_side_emit(message.uid, body)
        elif isinstance(body, Broadcast) and body.request_id is not None:
            self._broadcast_with_ack(message.uid, body)

    async def _answer_fetch(self, requester: str, body: FetchSockets) -> None:
        opts = _local(body.opts)
        sockets = await self.local().fetch_sockets(opts)
        remote = tuple(
            RemoteSocket(s.id, handshake_wire(s), tuple(sorted(s.rooms)), s.data) for s in sockets
        )
        self._answer(requester, FetchSocketsResponse(body.request_id, remote))

    def _server_side_emit(self, requester: str, body: ServerSideEmit) -> None:
        if not body.packet or not isinstance(body.packet[0], str):
            return
        handler = self.adapter.cluster.handler(self.adapter.nsp.name, body.packet[0])
        if handler is None:
            return
        request_id = body.request_id

        async def run() -> None:
            try:
                result = handler(*body.packet[1:])
                if asyncio.iscoroutine(result):
                    result = await result
            except Exception:
                log.exception("server-side handler of %r failed", body.packet[0])
                return
            if request_id is not None:
                self._answer(requester, ServerSideEmitResponse(request_id, result))

        self._spawn(run())

    def _broadcast_with_ack(self, requester: str, body: Broadcast) -> None:
        request_id = body.request_id
        assert request_id is not None
        packet = Packet(
            PacketType.EVENT,
            self.adapter.nsp.name,
            body.packet.data,
            self.adapter.nsp.next_ack_id(),
        )

        def on_count(n: int) -> None:
            self._answer(requester, BroadcastClientCount(request_id, n))

        def on_ack(_sid: str, args: list[Any] | None) -> None:
            if args is not None:
                self._answer(requester, BroadcastAck(request_id, args[0] if args else None))

        self.local().broadcast_with_ack(packet, _local(body.opts), on_count, on_ack)

    def _response(self, body: Any) -> None:
        if isinstance(body, BroadcastClientCount):
            gather = self._acks.get(body.request_id)
            if gather is not None:
                gather.remote_count(body.client_count)
        elif isinstance(body, BroadcastAck):
            gather = self._acks.get(body.request_id)
            if gather is not None:
                gather.remote_ack(body.packet)
        elif isinstance(body, FetchSocketsResponse):
            pending = self._pending.get(body.request_id)
            if pending is not None:
                pending.add(body.sockets)
        elif isinstance(body, ServerSideEmitResponse):
            pending = self._pending.get(body.request_id)
            if pending is not None:
                pending.add(body.packet)

    # -- outgoing ---------------------------------------------------------------------

    async def _ask(self, make: Callable[[str], Any], timeout: float | None = None) -> list[Any]:
        wait = self.request_timeout if timeout is None else timeout
        try:
            count = await self.link.numsub(self.public)
        except LinkDown:
            count = 1
        self.last_count = max(count, 1)
        expected = count - 1
        if expected <= 0:
            return []
        if len(self._pending) >= self.max_pending:
            raise LinkDown(f"{self.max_pending} requests wait for answers already")
        request_id = os.urandom(8).hex()
        pending = self._pending[request_id] = _Pending(expected)
        try:
            await self.link.publish(self.public, self._message(make(request_id)))
            try:
                await asyncio.wait_for(asyncio.shield(pending.future), wait)
            except asyncio.TimeoutError:
                log.info(
                    "%d of %d nodes did not answer within %.1f s",
                    expected - len(pending.replies),
                    expected,
                    wait,
                )
        finally:
            del self._pending[request_id]
        return pending.replies

    async def fetch_sockets(self, opts: BroadcastOptions) -> list[StreamsRemoteSocket]:
        wire = _wire(opts)
        answers = await self._ask(lambda rid: FetchSockets(wire, rid))
        return [StreamsRemoteSocket(self.adapter, s) for sockets in answers for s in sockets]

    def server_side_emit(self, args: list[Any]) -> None:
        self._spawn(self.link.publish(self.public, self._message(ServerSideEmit(list(args)))))

    async def server_side_emit_with_ack(
        self, args: list[Any], timeout: float | None = None
    ) -> list[Any]:
        return await self._ask(lambda rid: ServerSideEmit(list(args), rid), timeout)

    def broadcast_with_ack(
        self,
        packet: Packet,
        opts: BroadcastOptions,
        on_count: Callable[[int], None],
        on_ack: Callable[[str, list[Any] | None], None],
    ) -> None:
        """This node's sockets at once, the other nodes' through pub/sub."""
        if len(self._acks) >= self.max_pending:
            log.warning(
                "%d broadcasts with acks wait already: this one stays local", self.max_pending
            )
            self.local().broadcast_with_ack(packet, opts, on_count, on_ack)
            return
        gather = _Gather(on_count, on_ack)
        request_id = os.urandom(8).hex()
        self._acks[request_id] = gather
        self.local().broadcast_with_ack(packet, opts, gather.count, gather.ack)
        timeout = opts.timeout if opts.timeout is not None else self.request_timeout
        flags = (
            WireFlags(timeout=round(timeout * 1000)) if opts.timeout is not None else WireFlags()
        )
        wire = WireOptions(tuple(sorted(opts.rooms)), tuple(sorted(opts.except_rooms)), flags)
        body = Broadcast(WirePacket(list(packet.data)), wire, request_id)
        self._spawn(self._gather(request_id, body, gather, timeout))

    async def _gather(
        self, request_id: str, body: Broadcast, gather: _Gather, timeout: float
    ) -> None:
        loop = asyncio.get_running_loop()
        start = loop.time()
        try:
            try:
                others = await self.link.numsub(self.public) - 1
            except LinkDown:
                others = 0
            if others > 0:
                await self.link.publish(self.public, self._message(body))
                deadline = start + min(timeout, self.request_timeout)
                while gather.counts < others and loop.time() < deadline:
                    await asyncio.sleep(0.02)
        finally:
            gather.finish()
        # the clients' answers may still come, until the broadcast's timeout
        await asyncio.sleep(max(0.0, start + timeout + 1.0 - loop.time()))
        self._acks.pop(request_id, None)

    def close(self) -> None:
        for task in tuple(self._tasks):
            task.cancel()
        for pending in self._pending.values():
            if not pending.future.done():
                pending.future.set_result(None)


def _wire(opts: BroadcastOptions) -> WireOptions:
    return WireOptions(tuple(sorted(opts.rooms)), tuple(sorted(opts.except_rooms)), None)


def _local(opts: WireOptions) -> BroadcastOptions:
    rooms, except_rooms = opts.room_names()
    return BroadcastOptions(rooms=rooms, except_rooms=except_rooms, local=True)
