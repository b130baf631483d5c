"""An await its owner can end without cancelling the task that runs it.

A long poll served through ASGI awaits the engine in a task that is not ours (the ASGI
server's, or a framework's): ``Task.cancel`` there would cancel the server's own work.
:class:`Endable` steps the engine's coroutine by hand and, once ``end()`` is called,
cancels only the future that coroutine waits on; the await then raises :class:`Ended`.
States: running -> (ended) -> finished. Errors: Ended (the owner ended it); anything
the coroutine raises passes through.

Speed: a coroutine that finishes at its first step (every POST, a GET with packets
waiting) costs one ``send`` and no task; only a request that waits starts a watcher
(``on_wait``).
"""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine, Generator
from typing import Any

from .spec import Hook

__all__ = ["Endable", "Ended"]


class Ended(Exception):
    """An ``Endable`` await was ended by its owner."""


class Endable:
    """``await Endable(coro)``: the coroutine's result, or ``Ended`` once ``end()`` was
    called: it cancels the future the coroutine waits on (what ``Task.cancel`` does, without
    cancelling the task that runs us, which may be the ASGI server's or a framework's).
    Costs nothing when the coroutine finishes at its first step; ``on_wait`` is called when
    it does not (to start a watcher only for a request that waits: a long poll)."""

    __slots__ = ("_coro", "_waiting", "ended", "on_wait")

    def __init__(self, coro: Coroutine[Any, Any, Any], on_wait: Hook | None = None) -> None:
        self._coro = coro
        self._waiting: object = None
        self.ended = False
        self.on_wait = on_wait

    def end(self) -> None:
        self.ended = True
        waiting = self._waiting
        if isinstance(waiting, asyncio.Future) and not waiting.done():
            waiting.cancel()

    def __await__(self) -> Generator[Any, Any, Any]:
        coro = self._coro
        try:
            value = coro.send(None)
        except StopIteration as stop:
            return stop.value
        if self.on_wait is not None:
            self.on_wait()
        try:
            while True:
                self._waiting = value
                if self.ended and isinstance(value, asyncio.Future):
                    value.cancel()
                try:
                    sent = yield value
                except GeneratorExit:
                    coro.close()
                    raise
                except BaseException as exc:
                    value = coro.throw(exc)
                else:
                    value = coro.throw(asyncio.CancelledError()) if self.ended else coro.send(sent)
        except StopIteration as stop:
            return stop.value
        except asyncio.CancelledError:
            if self.ended:
                raise Ended from None
            raise
        finally:
            self._waiting = None
