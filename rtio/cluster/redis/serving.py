"""Answering the other nodes: what this node does with their requests (and the emitter's).

Owns: :class:`RequestServer`, which applies another node's ``sockets_join`` /
``sockets_leave`` / ``disconnect_sockets`` to this node's sockets, answers its
``fetch_sockets`` (this node's sockets as Node's ``RemoteSocket`` shape, handshakes built
once per socket), its socket and room queries, runs this node's server-side handler of a
``server_side_emit`` (answering when the request asks for an ack), and delivers a broadcast
with acks to this node's sockets, answering with the client count and then each ack.

Talks to the adapter through :class:`Serving` (public methods only); every delivery it
makes is ``local`` (never sent on to the cluster). A handler that fails is logged and not
answered (the requester counts that node as missing); a socket whose ``data`` cannot be
encoded is sent without it (logged).
"""

from __future__ import annotations

import inspect
import logging
from collections.abc import Awaitable, Callable, Iterable
from typing import TYPE_CHECKING, Any, Protocol

from rtio.socketio import BroadcastOptions, Packet, PacketType

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
    Response,
    ServerSideEmitRequest,
    ServerSideEmitResponse,
    SocketsRequest,
    SocketsResponse,
)
from ..convert import handshake_wire, local_options, sendable
from ..wire import RemoteSocket, js_string, json_text

if TYPE_CHECKING:
    from rtio.socketio import Socket

__all__ = ["RequestServer", "Serving"]

log = logging.getLogger("rtio.cluster")

#: ack ids of broadcasts with acks that other nodes ask for: above the namespace's own
#: counter (which starts at 0), below JavaScript's largest safe integer
REMOTE_ACK_BASE = 2**52


class Serving(Protocol):
    """What the request server needs of its adapter (public names only)."""

    @property
    def name(self) -> str: ...
    def select(self, opts: BroadcastOptions) -> list[Socket]: ...
    def sockets(self, rooms: Iterable[str] = ()) -> set[str]: ...
    def all_rooms(self) -> set[str]: ...
    def socket_rooms(self, sid: str) -> set[str] | None: ...
    def add_sockets(self, opts: BroadcastOptions, rooms: Iterable[str]) -> None: ...
    def del_sockets(self, opts: BroadcastOptions, rooms: Iterable[str]) -> None: ...
    def disconnect_sockets(self, opts: BroadcastOptions, close: bool) -> None: ...
    def broadcast_with_ack(
        self,
        packet: Packet,
        opts: BroadcastOptions,
        on_client_count: Callable[[int], None],
        on_ack: Callable[[str, list[Any] | None], None],
    ) -> None: ...
    def answer(self, requester: str, response: Response) -> None: ...
    def server_side_handler(self, event: str) -> Callable[..., Any] | None: ...
    def spawn(self, coro: Awaitable[Any]) -> None: ...


class RequestServer:
    """Another node's requests, applied to (and answered from) this node's sockets."""

    def __init__(self, adapter: Serving) -> None:
        self.adapter = adapter
        #: the handshakes of this node's sockets as fetches send them, built on first use
        self._handshakes: dict[str, tuple[dict[str, Any], str | None]] = {}
        self._remote_ack_id = 0

    def forget(self, sid: str) -> None:
        """A socket of this node went."""
        self._handshakes.pop(sid, None)

    def handle(self, request: Request) -> None:
        """Another node's request (or the emitter's)."""
        adapter = self.adapter
        if isinstance(request, RemoteJoinRequest):
            adapter.add_sockets(local_options(request.opts), map(js_string, request.rooms))
        elif isinstance(request, RemoteLeaveRequest):
            adapter.del_sockets(local_options(request.opts), map(js_string, request.rooms))
        elif isinstance(request, RemoteDisconnectRequest):
            adapter.disconnect_sockets(local_options(request.opts), request.close)
        elif isinstance(request, SocketsRequest):
            sids = adapter.sockets(map(js_string, request.rooms))
            adapter.answer(request.uid, SocketsResponse(request.request_id, tuple(sids)))
        elif isinstance(request, AllRoomsRequest):
            rooms = tuple(adapter.all_rooms())
            adapter.answer(request.uid, AllRoomsResponse(request.request_id, rooms))
        elif isinstance(request, RemoteFetchRequest):
            self._answer_fetch(request)
        elif isinstance(request, ServerSideEmitRequest):
            self._server_side_event(request)
        elif isinstance(request, BroadcastRequest):
            self._broadcast_for(request)

    def _answer_fetch(self, request: RemoteFetchRequest) -> None:
        handshakes = self._handshakes
        socket_rooms = self.adapter.socket_rooms
        sockets = []
        for socket in self.adapter.select(local_options(request.opts)):
            sid = socket.id
            cached = handshakes.get(sid)
            if cached is None:  # fixed at connect: built (and encoded) once per socket
                handshake = handshake_wire(socket)
                try:
                    text: str | None = json_text(handshake)
                except (TypeError, ValueError):  # bytes in auth: sent as msgpack
                    text = None
                cached = handshakes[sid] = (handshake, text)
            rooms = socket_rooms(sid)
            sockets.append(
                RemoteSocket(sid, cached[0], (sid,) if rooms is None else tuple(rooms),
                             socket.data, cached[1])
            )  # fmt: skip
        response = FetchSocketsResponse(request.request_id, tuple(sockets))
        try:
            self.adapter.answer(request.uid, response)
        except (TypeError, ValueError):  # a socket's data cannot travel: sent without it
            name = self.adapter.name
            safe = tuple(sendable(s, name) for s in sockets)
            self.adapter.answer(request.uid, FetchSocketsResponse(request.request_id, safe))

    def _server_side_event(self, request: ServerSideEmitRequest) -> None:
        if not request.data or not isinstance(request.data[0], str):
            return
        event, *args = request.data
        handler = self.adapter.server_side_handler(event)
        if handler is not None:
            self.adapter.spawn(self._run_server_side(handler, event, args, request))

    async def _run_server_side(
        self,
        handler: Callable[..., Any],
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
                          self.adapter.name, event)  # fmt: skip
            return
        if request.request_id is not None:  # the first ack argument only
            response = ServerSideEmitResponse(request.request_id, result)
            self.adapter.answer(request.uid, response)

    def _broadcast_for(self, request: BroadcastRequest) -> None:
        """Another node's broadcast with acks: count our clients, relay each ack."""
        self._remote_ack_id = (self._remote_ack_id + 1) % REMOTE_ACK_BASE
        adapter = self.adapter
        packet = Packet(
            PacketType.EVENT, adapter.name, request.packet.data,
            REMOTE_ACK_BASE + self._remote_ack_id,
        )  # fmt: skip
        requester, request_id = request.uid, request.request_id

        def on_count(n: int) -> None:
            adapter.answer(requester, BroadcastClientCountResponse(request_id, n))

        def on_ack(_sid: str, args: list[Any] | None) -> None:
            if args is not None:
                value = args[0] if args else None
                adapter.answer(requester, BroadcastAckResponse(request_id, value))

        adapter.broadcast_with_ack(packet, local_options(request.opts), on_count, on_ack)
