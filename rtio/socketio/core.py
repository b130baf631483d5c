"""The sans-I/O core of one socket: its id and lifecycle, its listeners, its ack table, and
the decisions of the dispatch path (which handler, now or in its turn, or refuse).

No asyncio, no clock, no randomness here: the id and the connect time are given to the
constructor (``rtio.ids.new_id()`` and ``time.time()`` in :class:`~.socket.Socket`), the
ack ids come from the namespace's :class:`AckIds`, and whether the socket's handler runner
is busy is an argument. A test drives it with plain values (tests/socketio/test_core.py).
:class:`~.socket.Socket` is this class plus the I/O: the runner, the client, the emits.

Memory: the core is the socket's base class, not an object it holds: an idle socket stays
one object (the slots below are the ones the socket had), and the dispatch path reads
them as attributes of ``self``; a held core would cost 96 bytes more per connection
(``sys.getsizeof(SocketCore(...))``) and one attribute read more per event.
"""

from __future__ import annotations

import enum
from collections.abc import Callable, Collection, Mapping
from typing import Any

from .errors import SocketIOError
from .handlers import CATCH_ALL, Handler

__all__ = [
    "ACK_ID_WRAP",
    "AckCallback",
    "AckIds",
    "InvalidState",
    "Route",
    "SocketCore",
    "SocketState",
]

#: internal ack callback: the client's ack arguments, or None if the socket went away
AckCallback = Callable[[list[Any] | None], None]
Listener = Callable[..., Any]

#: ack ids stay below JavaScript's largest safe integer
ACK_ID_WRAP = 2**53


class SocketState(enum.Enum):
    """A socket's lifecycle: CONNECTING (connect middlewares) -> CONNECTED (the CONNECT
    reply is out) -> DISCONNECTING (``disconnecting`` handlers; rooms still held) ->
    DISCONNECTED. A socket refused while CONNECTING goes straight to DISCONNECTED."""

    CONNECTING = "connecting"
    CONNECTED = "connected"
    DISCONNECTING = "disconnecting"
    DISCONNECTED = "disconnected"


# Module globals: read faster than enum class attributes on the dispatch path (timeit,
# Python 3.11, this machine: ``x is _A`` 18 ns, ``x is S.A`` 82 ns; several reads per
# event). The same aliases in dispatch.py, socket.py and client.py rest on this figure.
_CONNECTING = SocketState.CONNECTING
_CONNECTED = SocketState.CONNECTED
_DISCONNECTING = SocketState.DISCONNECTING
_DISCONNECTED = SocketState.DISCONNECTED


class InvalidState(SocketIOError, RuntimeError):
    """A lifecycle step out of order (a bug in rtio, never the peer's doing)."""


class Route(enum.Enum):
    """What :meth:`SocketCore.route` decides for an event that is not called at once."""

    #: the general path: catch-all listeners now, middlewares and handler in its turn
    QUEUE = "queue"
    #: no handler and nothing else to run: the event is ignored
    DROP = "drop"


_QUEUE = Route.QUEUE
_DROP = Route.DROP


class AckIds:
    """A namespace's ack ids: 0, 1, 2... wrapping below 2**53. One counter per namespace,
    shared by its sockets' emits and its broadcasts (a broadcast with acks sends one id to
    every socket)."""

    __slots__ = ("_next",)

    def __init__(self, start: int = 0) -> None:
        self._next = start

    def __call__(self) -> int:
        ack_id = self._next
        self._next = (ack_id + 1) % ACK_ID_WRAP
        return ack_id


class SocketCore:
    """One socket's state, sans I/O. Everything a socket may never use (listeners, acks,
    middlewares) is None until first used: an idle socket costs no dict or list."""

    __slots__ = (
        "_acks",
        "_any_in",
        "_any_out",
        "_handlers",
        "_middlewares",
        "id",
        "issued",
        "state",
    )

    def __init__(self, sid: str, issued: float) -> None:
        #: 20 characters, unique, also the name of the socket's own room
        self.id = sid
        #: when the socket was created (seconds since the epoch)
        self.issued = issued
        #: where the socket is in its lifecycle
        self.state = _CONNECTING
        self._acks: dict[int, AckCallback] | None = None
        self._handlers: dict[str, Handler] | None = None
        self._any_in: list[Listener] | None = None
        self._any_out: list[Listener] | None = None
        self._middlewares: list[Callable[[list[Any]], Any]] | None = None

    # -- lifecycle --------------------------------------------------------------------

    @property
    def connected(self) -> bool:
        """True from the CONNECT reply until the socket starts disconnecting."""
        return self.state is _CONNECTED

    @property
    def disconnected(self) -> bool:
        return self.state is not _CONNECTED

    @property
    def gone(self) -> bool:
        """Disconnecting or disconnected: rooms may no longer be joined."""
        state = self.state
        return state is _DISCONNECTING or state is _DISCONNECTED

    def open(self) -> None:
        """CONNECTING -> CONNECTED: the CONNECT reply goes out."""
        if self.state is not _CONNECTING:
            raise InvalidState(f"socket {self.id} cannot connect: it is {self.state.value}")
        self.state = _CONNECTED

    def begin_close(self) -> bool:
        """CONNECTED -> DISCONNECTING (True), or False if the socket was not connected
        (then nothing is to be done: closing twice, or a refused socket)."""
        if self.state is not _CONNECTED:
            return False
        self.state = _DISCONNECTING
        return True

    def finish_close(self) -> None:
        """-> DISCONNECTED: its rooms are left (from DISCONNECTING, or CONNECTING when a
        middleware refused it or its connection went)."""
        self.state = _DISCONNECTED

    # -- listeners --------------------------------------------------------------------

    def set_listener(self, event: str, fn: Listener) -> None:
        """The socket's own listener of ``event`` (it takes precedence over the
        namespace's handler; it is called without the socket)."""
        if self._handlers is None:
            self._handlers = {}
        self._handlers[event] = Handler(fn, 0)

    def remove_listener(self, event: str) -> None:
        if self._handlers is not None:
            self._handlers.pop(event, None)

    def add_any(self, listener: Listener, outgoing: bool = False) -> None:
        """A catch-all listener of incoming (or outgoing) events."""
        if outgoing:
            if self._any_out is None:
                self._any_out = []
            self._any_out.append(listener)
        else:
            if self._any_in is None:
                self._any_in = []
            self._any_in.append(listener)

    def remove_any(self, listener: Listener | None, outgoing: bool = False) -> None:
        """Remove one catch-all listener, or all of them (``listener`` None)."""
        if outgoing:
            self._any_out = _without(self._any_out, listener)
        else:
            self._any_in = _without(self._any_in, listener)

    def add_middleware(self, middleware: Callable[[list[Any]], Any]) -> None:
        if self._middlewares is None:
            self._middlewares = []
        self._middlewares.append(middleware)

    def incoming_listeners(self) -> tuple[Listener, ...]:
        return tuple(self._any_in or ())

    def outgoing_listeners(self) -> tuple[Listener, ...]:
        return tuple(self._any_out or ())

    def middlewares(self) -> tuple[Callable[[list[Any]], Any], ...]:
        return tuple(self._middlewares or ())

    # -- dispatch decisions -----------------------------------------------------------

    def lookup(self, event: Any, shared: Mapping[Any, Handler]) -> Handler | None:
        """The handler of ``event``: the socket's own listener, else the namespace's
        (``shared``). The one lookup of the dispatch path (a handler tells which it is by
        ``passes_socket``)."""
        own = self._handlers
        return (own and own.get(event)) or shared.get(event)  # a Handler is always true

    def route(self, event: Any, shared: Mapping[Any, Handler], busy: bool) -> Handler | Route:
        """What to do with an incoming event: its handler, to call now (nothing runs or
        waits, no catch-all listener or packet middleware); else QUEUE it for its turn
        (the handler is looked up then: one queued before may register it), or DROP it
        when it has no handler and nothing else would run. An event without a handler
        goes to the namespace's catch-all handler (key :data:`CATCH_ALL`), if any, in the
        QUEUE path (its call differs: it gets the event's name)."""
        if busy or self._any_in or self._middlewares:
            return _QUEUE
        # Speed: :meth:`lookup`'s one line written out, not called: a call costs 0.05 µs
        # of the 3.0 µs echo (benchmarks/socketio/bench_dispatch.py)
        own = self._handlers
        handler = (own and own.get(event)) or shared.get(event)
        if handler is None:
            return _DROP if CATCH_ALL not in shared else _QUEUE
        return handler

    @staticmethod
    def queue_full(backlog: int, limit: int) -> bool:
        """Whether an event must be refused (the client cut off): ``limit`` events of the
        socket wait for their turn already (``max_queued_events``)."""
        return backlog >= limit

    # -- the ack table ----------------------------------------------------------------

    def expect_ack(self, ack_id: int, on_ack: AckCallback) -> None:
        """Call ``on_ack`` when the client answers ``ack_id`` (or with None if it goes)."""
        acks = self._acks
        if acks is None:
            acks = self._acks = {}
        acks[ack_id] = on_ack

    def forget_ack(self, ack_id: int) -> AckCallback | None:
        """The callback waiting for ``ack_id``, which waits no longer (None if none)."""
        acks = self._acks
        return None if acks is None else acks.pop(ack_id, None)

    def take_acks(self) -> Collection[AckCallback] | None:
        """Every callback still waiting (the socket is going; None: none): the table is
        emptied."""
        acks = self._acks
        self._acks = None
        return acks.values() if acks else None

    @property
    def acks_pending(self) -> int:
        return len(self._acks) if self._acks else 0


def _without(listeners: list[Listener] | None, listener: Listener | None) -> list[Listener] | None:
    """``listeners`` without ``listener`` (all of them if None); None when none is left."""
    if listeners is None or listener is None:
        return None
    if listener in listeners:
        listeners.remove(listener)
    return listeners or None
