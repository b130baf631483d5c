"""Client: one Engine.IO session seen from Socket.IO, shared by the namespaces it joined.

Owns the session's decoder (its parser is chosen per connection), routing decoded packets
to the namespace sockets, the connect timeout (on the server's shared timer), writing
encoded packets to the session (volatile ones only when it can take them), and turning the
session's end into each socket's disconnect reason. Knows Engine.IO only through
``rtio.engine``'s public ``EngineSession`` (send / close) and ``prepare_packet``.

A client of the Socket.IO v4 protocol (an Engine.IO v3 session: socket.io-client 2.x,
served with ``allow_eio3``) joins the main namespace at once and connects as v4compat.py
says; the rest is the same.
"""

from __future__ import annotations

import enum
import logging
from typing import TYPE_CHECKING, Any, Protocol

from rtio.engine import CloseReason, EngineSession

from . import v4compat
from ._deadlines import ConnectDeadlines
from ._serial import run_inline
from .encoded import Encoded
from .errors import DisconnectReason
from .packet import Packet, PacketType
from .parsers.base import ParseError, Parser

if TYPE_CHECKING:
    from .socket import Socket

__all__ = ["Client", "ClientHost", "ClientState", "Encoded"]

log = logging.getLogger("rtio.socketio")


class ClientHost(Protocol):
    """What a client needs of its server (rtio.Server)."""

    @property
    def connect_deadlines(self) -> ConnectDeadlines: ...
    async def connect_namespace(
        self, client: Client, name: str, auth: dict[str, Any] | None
    ) -> None: ...


class ClientState(enum.Enum):
    """A client's lifecycle: OPEN while its Engine.IO session is, then CLOSED."""

    OPEN = "open"
    CLOSED = "closed"


_OPEN = ClientState.OPEN  # module globals: 18 ns a read, not 82 (see core.py)
_REASONS = {reason: DisconnectReason(reason.value) for reason in CloseReason}
_EVENT = PacketType.EVENT


class Client:
    """The Socket.IO side of one Engine.IO session."""

    __slots__ = (
        "_close_reason",
        "_connecting",
        "_decoder",
        "eio3",
        "parser",
        "server",
        "session",
        "sockets",
        "state",
    )

    def __init__(self, server: ClientHost, session: EngineSession, parser: Parser) -> None:
        self.server = server
        self.session = session
        #: the wire format of this connection
        self.parser = parser
        self._decoder = parser.new_decoder()
        #: the socket of each namespace joined, by namespace name
        self.sockets: dict[str, Socket] = {}
        #: namespaces whose CONNECT is being handled (middlewares running); None: none
        #: (an empty set is 216 bytes, and most connections never need one after the first)
        self._connecting: set[str] | None = None
        #: CLOSED once the session is gone
        self.state = _OPEN
        self._close_reason: DisconnectReason | None = None
        #: the Socket.IO v4 protocol of socket.io-client 2.x (an Engine.IO v3 session)
        self.eio3 = getattr(session, "protocol", 4) == 3  # (test doubles may lack it)
        server.connect_deadlines.add(self)

    def start(self) -> None:
        """The session is open: a v4-protocol client joins the main namespace now, with
        no CONNECT of its own (Node's ``client.connect("/")``)."""
        if self.eio3:
            self._route(Packet(PacketType.CONNECT, "/"))

    @property
    def connected(self) -> bool:
        """True until the session is gone."""
        return self.state is _OPEN

    def __repr__(self) -> str:
        return f"<rtio.Client {self.session.sid} namespaces={list(self.sockets)}>"

    # -- incoming -------------------------------------------------------------------------

    def receive_message(self, data: str | bytes) -> None:
        """One Engine.IO message from the client."""
        if self.state is not _OPEN:
            return
        try:
            packet = self._decoder.feed(data)
        except ParseError as exc:
            log.info("client %s sent an invalid packet (%s): closing", self.session.sid, exc)
            self.close(DisconnectReason.PARSE_ERROR)
            return
        if packet is None:
            return
        if packet.type is _EVENT:  # the common case, straight to its socket
            socket = self.sockets.get(packet.nsp)
            if socket is not None:
                socket.receive_event(packet.data, packet.id)
                return
        self._route(packet)

    def _route(self, packet: Packet) -> None:
        socket = self.sockets.get(packet.nsp)
        ptype = packet.type
        if ptype is PacketType.CONNECT:
            if socket is not None or (self._connecting and packet.nsp in self._connecting):
                # Node: "invalid state": a second CONNECT for a joined namespace
                log.info("client %s: duplicate CONNECT for %s", self.session.sid, packet.nsp)
                self.close(DisconnectReason.FORCED_SERVER_CLOSE)
                return
            if self.eio3:
                name, auth = v4compat.parse_connect_name(packet.nsp)
                if name != packet.nsp and (
                    name in self.sockets or name in (self._connecting or ())
                ):
                    self.close(DisconnectReason.FORCED_SERVER_CLOSE)
                    return
                run_inline(self._connect(name, auth))
                return
            run_inline(self._connect(packet.nsp, packet.data))
        elif socket is not None and ptype is not PacketType.CONNECT_ERROR:
            socket.receive_packet(packet)
        else:
            # v5 "Connection to a namespace": "If the server does not receive a `CONNECT`
            # packet first, then it MUST close the connection immediately." Node also
            # closes on a CONNECT_ERROR from a client ("invalid state").
            log.info(
                "client %s: %s for %s in an invalid state: closing",
                self.session.sid,
                ptype.name,
                packet.nsp,
            )
            self.close(DisconnectReason.FORCED_SERVER_CLOSE)

    async def _connect(self, nsp: str, auth: dict[str, Any] | None) -> None:
        connecting = self._connecting
        if connecting is None:
            connecting = self._connecting = set()
        connecting.add(nsp)
        try:
            await self.server.connect_namespace(self, nsp, auth)
        finally:
            connecting.discard(nsp)
            if not connecting and self._connecting is connecting:
                self._connecting = None

    # -- outgoing -------------------------------------------------------------------------

    def writable(self) -> bool:
        """Whether a packet sent now goes out at once: the engine's ``writable`` (Node's
        ``transport.writable``: over WebSocket not paused and nothing queued, over polling
        a GET pending). A volatile packet is dropped when not (as in Node)."""
        return self.state is _OPEN and self.session.writable

    def write(self, messages: list[str | bytes], volatile: bool, compress: bool) -> None:
        """Send one packet's messages (the packet, then its attachments); ``compress``
        False: uncompressed (Node's ``socket.compress(false)``)."""
        if volatile and not self.writable():
            return
        if self.state is not _OPEN:
            return
        send = self.session.send
        for message in messages:
            send(message, compress)

    def write_encoded(self, encoded: Encoded, volatile: bool, compress: bool) -> None:
        """Send a packet a broadcast encoded once."""
        if volatile and not self.writable():
            return
        if self.state is not _OPEN:
            return
        send = self.session.send
        for message in encoded.messages(self.parser):
            send(message, compress)

    def send_packet(self, packet: Packet) -> None:
        self.write(self.parser.encode(packet), False, True)

    def send_ack(self, nsp: str, ack_id: int, args: list[Any]) -> None:
        """Answer the client's ack ``ack_id``: encoded in one step where the parser can."""
        if self.state is not _OPEN:
            return
        parser = self.parser
        encode_ack = getattr(parser, "encode_ack", None)
        if encode_ack is not None:
            messages: list[str | bytes] = encode_ack(nsp, ack_id, args)
        else:
            messages = parser.encode(Packet(PacketType.ACK, nsp, args, ack_id))
        send = self.session.send
        for message in messages:
            send(message, True)

    def connect_error(self, nsp: str, payload: dict[str, Any]) -> None:
        """Refuse the CONNECT to ``nsp`` (CONNECT_ERROR ``payload``; a v4-protocol client
        gets its ERROR packet)."""
        if self.eio3:
            self.send_packet(v4compat.connect_error_packet(nsp, payload))
            return
        self.send_packet(Packet(PacketType.CONNECT_ERROR, nsp, payload))

    def send_connect(self, nsp: str, payload: dict[str, Any]) -> None:
        """The CONNECT reply: ``payload`` (v5: ``{"sid", "pid"?}``), or none (v4 protocol)."""
        if self.eio3:
            self.send_packet(v4compat.connect_reply(nsp))
            return
        self.send_packet(Packet(PacketType.CONNECT, nsp, payload))

    def socket_id(self, nsp: str) -> str | None:
        """The id of this client's socket in ``nsp``: None for a fresh one; a v4-protocol
        client's is made of the engine id, as the client makes it (Node)."""
        return v4compat.socket_id(nsp, self.session.sid) if self.eio3 else None

    # -- namespaces joined and left -------------------------------------------------------

    def joined(self, socket: Socket) -> None:
        """``socket`` connected: the client has joined a namespace in time."""
        self.sockets[socket.nsp.name] = socket
        self.server.connect_deadlines.discard(self)

    def remove(self, socket: Socket) -> None:
        if self.sockets.get(socket.nsp.name) is socket:
            del self.sockets[socket.nsp.name]

    def on_connect_timeout(self) -> None:
        """Node's connectTimeout: a connection that joined no namespace in time is closed."""
        if not self.sockets and self.state is _OPEN:
            log.info("client %s joined no namespace in time: closing", self.session.sid)
            self.close(DisconnectReason.FORCED_SERVER_CLOSE)

    # -- closing --------------------------------------------------------------------------

    def disconnect_all(self) -> None:
        """``socket.disconnect(close=True)``: leave every namespace (each client socket
        gets a DISCONNECT), then close the connection (Node's ``client._disconnect``).
        The engine delivers the DISCONNECTs before its close packet (over polling in a
        later response), so the client reports "io server disconnect"."""
        for socket in list(self.sockets.values()):
            socket.disconnect()
        self.close(DisconnectReason.FORCED_SERVER_CLOSE)

    def close(self, reason: DisconnectReason) -> None:
        """Close the Engine.IO session; the sockets still joined get ``reason``."""
        if self.state is not _OPEN:
            return
        self._close_reason = reason
        self.session.close()
        # The engine reports on_disconnect synchronously or later; either way the
        # sockets go now, with our reason.
        self._closed(reason)

    def on_session_closed(self, reason: CloseReason) -> None:
        """The engine says the session ended."""
        self._closed(self._close_reason or _REASONS[reason])

    def _closed(self, reason: DisconnectReason) -> None:
        self.server.connect_deadlines.discard(self)
        if self.state is not _OPEN:
            return
        self.state = ClientState.CLOSED
        for socket in list(self.sockets.values()):
            socket.on_close(reason)
        self.sockets.clear()
