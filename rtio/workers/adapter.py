"""The inter-worker adapter: rooms, broadcasts and server-wide operations across the
workers of one supervisor, over the local bus (bus.py), with no external service.

One :class:`BusAdapter` per namespace per worker. It keeps this worker's rooms (the
in-memory adapter's bookkeeping) and tells the other workers, in socket.io-adapter's
``ClusterAdapter`` messages (rtio.cluster.messages), what must happen on theirs:

- ``broadcast``: delivered here, published unless ``local`` (in the bus's short form,
  plain_broadcast.py; BROADCAST when its data holds bytes);
- ``add_sockets`` / ``del_sockets`` / ``disconnect_sockets``: applied here at once and
  published (SOCKETS_JOIN / SOCKETS_LEAVE / DISCONNECT_SOCKETS);
- ``fetch_sockets``: this worker's sockets, then every other live worker's answer
  (FETCH_SOCKETS -> FETCH_SOCKETS_RESPONSE) as :class:`WorkerSocket` objects;
- ``server_side_emit``: SERVER_SIDE_EMIT to the other workers' handlers
  (``sio.on_server_side``, else ``WorkerBus.on``); ``server_count``: the live workers.

A request waits for the answers of the workers live when it was sent; a worker that dies
meanwhile is not waited for (MEMBERS from the supervisor), and no request waits more than
``request_timeout`` seconds: it then returns what arrived. At most ``max_pending``
requests wait at once (beyond: :class:`TooManyRequests`).

- ``broadcast_with_ack``: BROADCAST with a request id; each other worker answers with
  BROADCAST_CLIENT_COUNT, then BROADCAST_ACK per client answer (its ``packet`` is
  ``{"sid", "args"}``: the workers are all rtio, so the answers keep their socket ids),
  gathered by acks.py. A client of another worker that never answers is left to the
  operator's timeout, as on one worker.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Iterable, Mapping
from typing import TYPE_CHECKING, Any

from rtio.cluster import RemoteSocket, WirePacket
from rtio.cluster.convert import handshake_wire, local_options, wire_options
from rtio.cluster.messages import (
    Body,
    Broadcast,
    BroadcastAck,
    BroadcastClientCount,
    ClusterMessage,
    DisconnectSockets,
    FetchSockets,
    FetchSocketsResponse,
    ServerSideEmit,
    SocketsJoin,
    SocketsLeave,
)
from rtio.cluster.wire import js_string
from rtio.ids import new_id
from rtio.socketio import Adapter, BroadcastOptions, Packet, PacketType

from . import plain_broadcast
from .acks import AckGather
from .frames import ALL

if TYPE_CHECKING:
    from rtio.socketio import Namespace

    from .bus import WorkerBus

__all__ = ["BusAdapter", "TooManyRequests", "WorkerSocket"]

log = logging.getLogger("rtio.workers")

#: ack ids of other workers' broadcasts with acks: above the namespace's own counter
#: (which starts at 0), below JavaScript's largest safe integer
_REMOTE_ACK_BASE = 2**52


class TooManyRequests(RuntimeError):
    """More cluster requests wait for answers than ``max_pending``."""


class WorkerSocket:
    """A socket of another worker, as ``fetch_sockets`` found it: ``id``, ``handshake``
    (Node's shape: a dict), ``rooms``, ``data``; ``emit`` / ``join`` / ``leave`` /
    ``disconnect`` reach it through the bus (as Node's ``RemoteSocket``)."""

    __slots__ = ("_adapter", "data", "handshake", "id", "rooms")

    def __init__(self, adapter: BusAdapter, remote: RemoteSocket) -> None:
        self._adapter = adapter
        self.id = remote.id
        self.handshake: Mapping[str, Any] = remote.handshake
        self.rooms: set[str] = {js_string(r) for r in remote.rooms}
        self.data: Any = remote.data

    def __repr__(self) -> str:
        return f"<rtio.WorkerSocket {self.id} rooms={sorted(self.rooms)}>"

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


class _Pending:
    """A fetch of ours waiting for the answers of ``waiting`` workers."""

    __slots__ = ("answers", "done", "waiting")

    def __init__(self, waiting: set[int], done: asyncio.Future[None]) -> None:
        self.waiting = waiting
        self.done = done
        self.answers: list[RemoteSocket] = []

    def answered(self, worker: int) -> None:
        self.waiting.discard(worker)
        if not self.waiting and not self.done.done():
            self.done.set_result(None)


class BusAdapter(Adapter):
    """One namespace's adapter on the local bus (built by :meth:`factory`)."""

    def __init__(
        self,
        nsp: Namespace,
        bus: WorkerBus,
        *,
        request_timeout: float = 5.0,
        max_pending: int = 1024,
    ) -> None:
        super().__init__(nsp)
        self.bus = bus
        self.request_timeout = request_timeout
        self.max_pending = max_pending
        self._pending: dict[str, _Pending] = {}
        self._acks: dict[str, AckGather] = {}
        self._remote_ack_id = 0
        self._tasks: set[asyncio.Task[Any]] = set()
        #: broadcasts delivered here from other workers
        self.received = 0
        bus.adapters[nsp.name] = self

    @classmethod
    def factory(cls, bus: WorkerBus, **options: Any) -> Callable[[Namespace], BusAdapter]:
        """``rtio.Server(adapter=...)``'s argument: a BusAdapter per namespace."""
        return lambda nsp: cls(nsp, bus, **options)

    def _publish(self, body: Body, to: int = ALL) -> None:
        self.bus.publish(ClusterMessage(self.bus.uid, self.nsp.name, body), to)

    # -- what this worker asks ------------------------------------------------------------------

    def broadcast(self, packet: Packet, opts: BroadcastOptions) -> None:
        if not opts.local:
            payload = plain_broadcast.encode(self.nsp.name, packet.data, opts)
            if payload is not None:
                self.bus.publish(payload)
            else:  # bytes in the data: the ClusterMessage form (msgpack)
                self._publish(Broadcast(WirePacket(list(packet.data)), wire_options(opts)))
        self.deliver(packet, opts, self.bus.index)

    def deliver(self, packet: Packet, opts: BroadcastOptions, origin: int) -> None:
        """A broadcast of worker ``origin`` (this one's included) reaches this worker's
        sockets (restore.py's adapter stores it first, for connection state recovery)."""
        super().broadcast(packet, opts)

    def broadcast_with_ack(
        self,
        packet: Packet,
        opts: BroadcastOptions,
        on_client_count: Callable[[int], None],
        on_ack: Callable[[str, list[Any] | None], None],
    ) -> None:
        others = set(self.bus.members) - {self.bus.index}
        if opts.local or not others:
            super().broadcast_with_ack(packet, opts, on_client_count, on_ack)
            return
        if len(self._acks) >= self.max_pending:
            raise TooManyRequests(f"{len(self._acks)} broadcasts with acks wait already")
        request_id = new_id()
        gather = AckGather(others, on_client_count, on_ack)
        self._acks[request_id] = gather
        super().broadcast_with_ack(packet, opts, gather.count, gather.ack)
        self._publish(Broadcast(WirePacket(list(packet.data)), wire_options(opts), request_id))
        loop = asyncio.get_running_loop()
        # the counts come within request_timeout or never; the answers within the
        # broadcast's timeout. (Scheduled before the operator's own timer, so at the
        # timeout the silent clients reach it first.)
        if opts.timeout is None or opts.timeout > self.request_timeout:
            loop.call_later(self.request_timeout, gather.finish)
        if opts.timeout is not None:
            loop.call_later(opts.timeout, gather.release)
            loop.call_later(opts.timeout + 1.0, self._acks.pop, request_id, None)

    def _ack_answer(self, source: int, body: BroadcastClientCount | BroadcastAck) -> None:
        gather = self._acks.get(body.request_id)
        if gather is None:
            return
        if isinstance(body, BroadcastClientCount):
            gather.count(body.client_count, source)
        else:
            answer = body.packet if isinstance(body.packet, dict) else {}
            sid, args = answer.get("sid"), answer.get("args")
            if answer.get("silent") and isinstance(sid, str):
                gather.silent(sid)
                return
            gather.ack(sid if isinstance(sid, str) else f"~{source}",
                       args if isinstance(args, list) or args is None else [args])  # fmt: skip
        if gather.complete:
            self._acks.pop(body.request_id, None)

    def _broadcast_for(self, source: int, body: Broadcast) -> None:
        """Another worker's broadcast with acks: count our clients, relay each answer."""
        request_id = body.request_id
        assert request_id is not None
        self._remote_ack_id = (self._remote_ack_id + 1) % _REMOTE_ACK_BASE
        packet = Packet(PacketType.EVENT, self.nsp.name, body.packet.data,
                        _REMOTE_ACK_BASE + self._remote_ack_id)  # fmt: skip

        def on_count(n: int) -> None:
            self._publish(BroadcastClientCount(request_id, n), source)

        def on_ack(sid: str, args: list[Any] | None) -> None:
            # (None: the client disconnected; the requester counts it as timed out)
            self._publish(BroadcastAck(request_id, {"sid": sid, "args": args}), source)

        opts = local_options(body.opts)
        targets = [socket.id for socket in self._apply(opts)]
        super().broadcast_with_ack(packet, opts, on_count, on_ack)
        flags = body.opts.flags
        if flags is not None and flags.timeout is not None and targets:
            # report the clients that did not answer a little before the requester gives
            # up (its operator only knows its own clients' acks)
            timeout = flags.timeout / 1000
            asyncio.get_running_loop().call_later(
                max(0.0, timeout - min(0.1, timeout / 4)), self._report_silent,
                source, request_id, packet.id, targets,
            )  # fmt: skip

    def _report_silent(self, source: int, request_id: str, ack_id: int | None,
                       targets: list[str]) -> None:  # fmt: skip
        sockets = self.nsp.sockets
        for sid in targets:
            socket = sockets.get(sid)
            forget = getattr(socket, "forget_ack", None)
            if ack_id is not None and forget is not None and forget(ack_id) is not None:
                silent = {"sid": sid, "args": None, "silent": True}
                self._publish(BroadcastAck(request_id, silent), source)

    def add_sockets(self, opts: BroadcastOptions, rooms: Iterable[str]) -> None:
        rooms = tuple(rooms)
        super().add_sockets(opts, rooms)
        if not opts.local:
            self._publish(SocketsJoin(wire_options(opts).without_flags(), rooms))

    def del_sockets(self, opts: BroadcastOptions, rooms: Iterable[str]) -> None:
        rooms = tuple(rooms)
        super().del_sockets(opts, rooms)
        if not opts.local:
            self._publish(SocketsLeave(wire_options(opts).without_flags(), rooms))

    def disconnect_sockets(self, opts: BroadcastOptions, close: bool) -> None:
        super().disconnect_sockets(opts, close)
        if not opts.local:
            self._publish(DisconnectSockets(wire_options(opts).without_flags(), close))

    def server_side_emit(self, args: list[Any]) -> None:
        self._publish(ServerSideEmit(list(args)))

    def server_count(self) -> int:
        return len(self.bus.members)

    async def fetch_sockets(self, opts: BroadcastOptions) -> list[Any]:
        """This worker's selected sockets, then the other workers' (WorkerSocket)."""
        out: list[Any] = await super().fetch_sockets(opts)
        others = set(self.bus.members) - {self.bus.index}
        if opts.local or not others:
            return out
        if len(self._pending) >= self.max_pending:
            raise TooManyRequests(f"{len(self._pending)} cluster requests wait already")
        request_id = new_id()
        pending = _Pending(others, asyncio.get_running_loop().create_future())
        self._pending[request_id] = pending
        try:
            self._publish(FetchSockets(wire_options(opts).without_flags(), request_id))
            try:
                await asyncio.wait_for(asyncio.shield(pending.done), self.request_timeout)
            except asyncio.TimeoutError:
                log.warning("worker %d: fetch_sockets: workers %s did not answer within %.1f s",
                            self.bus.index, sorted(pending.waiting),
                            self.request_timeout)  # fmt: skip
        finally:
            del self._pending[request_id]
        out.extend(WorkerSocket(self, remote) for remote in pending.answers)
        return out

    # -- what the other workers ask -------------------------------------------------------------

    def receive_broadcast(self, source: int, data: list[Any], opts: BroadcastOptions) -> None:
        """A plain broadcast of worker ``source`` (plain_broadcast.py's form)."""
        self.received += 1
        self.deliver(Packet(PacketType.EVENT, self.nsp.name, data), opts, source)

    def receive(self, source: int, message: ClusterMessage) -> None:
        """A message of worker ``source`` for this namespace (from the bus)."""
        body = message.body
        if isinstance(body, Broadcast):
            if body.request_id is not None:
                self._broadcast_for(source, body)
                return
            self.received += 1
            local = Packet(PacketType.EVENT, self.nsp.name, body.packet.data)
            self.deliver(local, local_options(body.opts), source)
        elif isinstance(body, BroadcastClientCount | BroadcastAck):
            self._ack_answer(source, body)
        elif isinstance(body, SocketsJoin):
            super().add_sockets(local_options(body.opts), (js_string(r) for r in body.rooms))
        elif isinstance(body, SocketsLeave):
            super().del_sockets(local_options(body.opts), (js_string(r) for r in body.rooms))
        elif isinstance(body, DisconnectSockets):
            super().disconnect_sockets(local_options(body.opts), body.close)
        elif isinstance(body, FetchSockets):
            self._answer_fetch(source, body)
        elif isinstance(body, FetchSocketsResponse):
            pending = self._pending.get(body.request_id)
            if pending is not None and source in pending.waiting:
                pending.answers.extend(body.sockets)
                pending.answered(source)
        elif isinstance(body, ServerSideEmit):
            self._server_side_event(body)

    def _answer_fetch(self, source: int, request: FetchSockets) -> None:
        sockets = []
        for socket in self._apply(local_options(request.opts)):
            remote = RemoteSocket(socket.id, handshake_wire(socket), tuple(socket.rooms),
                                  socket.data)  # fmt: skip
            sockets.append(remote)
        response = FetchSocketsResponse(request.request_id, tuple(sockets))
        try:
            self._publish(response, source)
        except (TypeError, ValueError):  # a socket's data cannot travel: sent without it
            log.warning("worker %d: a socket's data cannot be sent to the other workers",
                        self.bus.index)  # fmt: skip
            bare = tuple(RemoteSocket(s.id, s.handshake, s.rooms, None) for s in sockets)
            self._publish(FetchSocketsResponse(request.request_id, bare), source)

    def _server_side_event(self, body: ServerSideEmit) -> None:
        if not body.packet or not isinstance(body.packet[0], str):
            return
        event, *args = body.packet
        # the namespace's (``sio.on_server_side``), else the bus's (``WorkerBus.on``), as
        # the Redis adapter does
        handler = self.nsp.server_side_handlers.get(event) or self.bus.handler(
            self.nsp.name, event
        )
        if handler is None:
            return
        try:
            result = handler(*args)
        except Exception:
            log.exception("worker %d: the server-side handler of %r failed",
                          self.bus.index, event)  # fmt: skip
            return
        if asyncio.iscoroutine(result):
            task = asyncio.ensure_future(result)
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

    def members_changed(self, members: frozenset[int]) -> None:
        """The live workers changed: stop waiting for the answers of the dead."""
        for pending in list(self._pending.values()):
            for worker in list(pending.waiting):
                if worker not in members:
                    pending.answered(worker)
        for gather in list(self._acks.values()):
            gather.left(members)
