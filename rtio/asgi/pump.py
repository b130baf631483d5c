"""The receive loop of an accepted ASGI WebSocket, as an await its owner can end.

:class:`Pump` feeds the ASGI server's ``websocket.receive`` messages to an
:class:`~rtio.asgi.websocket.AsgiWebSocket` (``deliver``) until the server reports
``websocket.disconnect`` (``disconnected``). It runs in the task the ASGI server gave the
request, which is not ours: ``end()`` (the WebSocket is closed on our side) cancels only
the future the current ``receive()`` waits on, as endable.py's Endable does. States:
receiving -> (ended) -> finished. Errors: Ended (the owner ended it while it waited);
anything ``receive`` raises passes through.

Speed: each ``receive()`` coroutine is stepped here, by the loop itself, rather than by an
Endable around an ``async def`` loop: one generator less between the task and the
server's queue on every message (see the comment in ``__await__``).
"""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine, Generator
from types import CoroutineType
from typing import TYPE_CHECKING, Any

from .endable import Ended
from .spec import Message, Receive

if TYPE_CHECKING:
    from .websocket import AsgiWebSocket

__all__ = ["Pump"]


class Pump:
    """``await Pump(receive, ws)``: feed ``ws`` until ``websocket.disconnect``; ``end()``
    stops it (Ended if it was waiting) without cancelling the task that runs it."""

    __slots__ = ("_receive", "_waiting", "_ws", "ended")

    def __init__(self, receive: Receive, ws: AsgiWebSocket) -> None:
        self._receive = receive
        self._ws = ws
        self._waiting: object = None
        self.ended = False

    def end(self) -> None:
        self.ended = True
        waiting = self._waiting
        if isinstance(waiting, asyncio.Future) and not waiting.done():
            waiting.cancel()

    def __await__(self) -> Generator[Any, Any, None]:
        # Each receive() is stepped by hand (what endable.py does for a whole coroutine):
        # wrapping an `async def` loop in an Endable put two frames (the Endable and the
        # loop) between the task and receive() on every resume; here there is one.
        receive = self._receive
        ws = self._ws
        deliver = ws.deliver
        try:
            while not self.ended:
                awaitable = receive()
                # (an awaitable of another kind than a coroutine: its iterator)
                step: Coroutine[Any, Any, Message] | Generator[Any, Any, Message] = (
                    awaitable if type(awaitable) is CoroutineType else awaitable.__await__()
                )
                try:
                    value = step.send(None)
                    while True:
                        self._waiting = value
                        if self.ended and isinstance(value, asyncio.Future):
                            value.cancel()
                        try:
                            sent = yield value
                        except GeneratorExit:
                            step.close()
                            raise
                        except BaseException as exc:
                            value = step.throw(exc)
                        else:
                            if self.ended:
                                value = step.throw(asyncio.CancelledError())
                            else:
                                value = step.send(sent)
                except StopIteration as stop:
                    message = stop.value
                kind = message["type"]
                if kind == "websocket.receive":
                    text = message.get("text")
                    if text is not None:
                        deliver(text)
                    else:
                        deliver(message.get("bytes") or b"")
                elif kind == "websocket.disconnect":
                    code = int(message.get("code", 1005))
                    if code == 1005 and "reason" not in message:
                        # uvicorn reports a connection lost without a close frame as 1005
                        # with no reason (a close frame without a code has reason ""):
                        # rtio.ws says 1006
                        code = 1006
                    ws.disconnected(code)
                    return
        except asyncio.CancelledError:
            if self.ended:
                raise Ended from None
            raise
        finally:
            self._waiting = None
