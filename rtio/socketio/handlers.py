"""Calling application handlers: sync or async functions, with forgiving arity.

A handler registered for an event is inspected once; calling it then costs no
introspection. Arguments the client sent beyond what the handler accepts are dropped, and
missing ones are passed as ``None`` (JavaScript's leniency, which socket.io users expect).
A handler with a keyword parameter named ``ack`` receives the acknowledgement callable and
answers the ack itself; otherwise its return value answers it.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Generator
from typing import Any

from rtio.stepping import with_task

__all__ = [
    "CATCH_ALL",
    "PLAIN_RESULTS",
    "SENT",
    "SPECIAL_SIGNATURES",
    "Handler",
    "HandlerFunc",
    "Sent",
    "ack_args",
    "ack_value",
    "check_handler",
]

HandlerFunc = Callable[..., Any]

#: the key of a namespace's catch-all handler (``on("*")``) among its handlers: not a
#: string, so that no event a client sends (a string or a number) is mistaken for it
CATCH_ALL = None

#: what sync handlers usually return: never awaitable, no need to ask inspect (an ABC check:
#: ``inspect.isawaitable`` of a tuple is 352 ns, this test first 64 ns; timeit, Python 3.11)
PLAIN_RESULTS = frozenset({type(None), tuple, list, dict, str, int, float, bool, bytes})


class Handler:
    """One registered function and what it accepts."""

    __slots__ = (
        "fn",
        "is_async",
        "max_args",
        "min_args",
        "names",
        "passes_socket",
        "required_keywords",
        "takes_ack",
    )

    def __init__(self, fn: HandlerFunc, leading: int) -> None:
        """``leading``: positional parameters filled by rtio before the client's arguments
        (1 for the socket in namespace handlers, 0 in per-socket listeners)."""
        self.fn = fn
        #: a namespace handler (called with the socket first), not a socket's own listener
        self.passes_socket = leading > 0
        self.is_async = inspect.iscoroutinefunction(fn) or inspect.iscoroutinefunction(
            getattr(fn, "__call__", None)  # noqa: B004 - async callable objects
        )
        self.takes_ack = False
        self.max_args: int | None = 0
        self.min_args = 0
        #: the positional parameters' names; keyword-only ones without a default
        self.names: list[str] = []
        self.required_keywords: list[str] = []
        try:
            params = list(inspect.signature(fn).parameters.values())
        except (TypeError, ValueError):  # builtins without a signature: pass everything
            self.max_args = None
            return
        positional = 0
        required = 0
        for p in params:
            if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD):
                if p.name == "ack" and p.kind is p.POSITIONAL_OR_KEYWORD and positional >= leading:
                    self.takes_ack = True
                    continue
                positional += 1
                self.names.append(p.name)
                if p.default is p.empty:
                    required += 1
            elif p.kind is p.VAR_POSITIONAL:
                self.max_args = None
            elif p.kind is p.KEYWORD_ONLY and p.name == "ack":
                self.takes_ack = True
            elif p.kind is p.KEYWORD_ONLY and p.default is p.empty:
                self.required_keywords.append(p.name)
        if self.max_args is not None:
            self.max_args = max(positional - leading, 0)
        self.min_args = max(required - leading, 0)

    def fit(self, args: list[Any]) -> list[Any]:
        """The client's arguments trimmed or padded to what the function accepts."""
        n = len(args)
        if self.max_args is not None and n > self.max_args:
            return args[: self.max_args]
        if n < self.min_args:
            return args + [None] * (self.min_args - n)
        return args

    async def call(self, *args: Any, ack: Callable[..., None] | None = None) -> Any:
        """Call with exactly these positional arguments (already fitted)."""
        result = self.fn(*args, ack=ack) if self.takes_ack else self.fn(*args)
        if self.is_async or (type(result) not in PLAIN_RESULTS and inspect.isawaitable(result)):
            result = await with_task(result)
        return result


#: how rtio calls the special events' handlers, for the errors at registration
SPECIAL_SIGNATURES = {
    "connect": "(socket, auth)",
    "disconnecting": "(socket, reason)",
    "disconnect": "(socket, reason)",
}


def check_handler(event: str, handler: Handler) -> None:
    """Refuse, when it is registered, a handler that rtio's calling convention cannot fit
    (a mistake that would otherwise pass in silence, such as python-socketio's
    ``connect(sid, environ, auth)`` getting the auth dict as ``environ``): TypeError with
    the rtio way in the message."""
    name = getattr(handler.fn, "__qualname__", repr(handler.fn))
    if handler.required_keywords:
        raise TypeError(
            f"handler {name} of {event!r}: rtio passes no keyword arguments but ack, so "
            f"{', '.join(handler.required_keywords)} would never be given: give a default"
        )
    signature = SPECIAL_SIGNATURES.get(event)
    if signature is None or handler.max_args is None:
        return
    if "environ" in handler.names or handler.min_args > 1:
        raise TypeError(
            f"the {event!r} handler {name} takes {', '.join(handler.names)}: rtio calls it "
            f"as {signature}: the socket first (socket.id is python-socketio's sid), "
            "the request as socket.handshake (headers, query, address, auth), not a WSGI "
            "environ. See docs/MIGRATION.md"
        )


def ack_args(result: Any) -> list[Any]:
    """A handler's return value as the ack's arguments: None -> none, a tuple -> several."""
    if result is None:
        return []
    if isinstance(result, tuple):
        return list(result)
    return [result]


def ack_value(args: list[Any]) -> Any:
    """The ack's arguments as one value: none -> None, one -> it, several -> a tuple."""
    n = len(args)
    if n == 1:
        return args[0]
    if n == 0:
        return None
    return tuple(args)


class Sent:
    """What ``emit`` returns: the packet is queued already, nothing to wait for.

    Awaiting it is allowed and finishes at once, so code written for python-socketio
    (``await sio.emit(...)``) keeps working.
    """

    __slots__ = ()

    def __await__(self) -> Generator[Any, None, None]:
        return
        yield  # a generator that finishes at once

    def __bool__(self) -> bool:
        return True

    def __repr__(self) -> str:
        return "<rtio.SENT>"


#: The one :class:`Sent` instance.
SENT = Sent()
