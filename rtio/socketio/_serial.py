"""Run one socket's handlers one after another, in arrival order, without a task per message.

A handler coroutine runs inline (in the caller's stack) until it first suspends; only then
is a task created to finish it, and coroutines submitted meanwhile wait in a queue that the
same task drains. A handler that never awaits anything costs no task at all, and a plain
function costs no coroutine either: the caller claims the idle runner, calls it, and
releases the runner (which then runs what was submitted meanwhile).

Knows nothing of Socket.IO; jobs are expected to catch their own exceptions (anything that
escapes is logged). For its owner's watch on slow jobs it notes when the job running in
its task began (``since``) and keeps the owner's timer (``timer``) and the job's ``label``.
"""

from __future__ import annotations

import asyncio
import logging
from collections import deque
from collections.abc import Coroutine
from typing import Any

from rtio.stepping import Stepped

__all__ = ["SerialRunner", "run_inline"]

log = logging.getLogger("rtio.socketio")

Job = Coroutine[Any, Any, Any]


_tasks: set[asyncio.Task[Any]] = set()  # strong references until done


def run_inline(coro: Job) -> None:
    """Run ``coro`` now, until it first suspends; a task finishes it if it does."""
    try:
        yielded = coro.send(None)
    except StopIteration:
        return
    except Exception:
        log.exception("error in a handler")
        return
    task = asyncio.get_running_loop().create_task(_finish(coro, yielded))
    _tasks.add(task)
    task.add_done_callback(_tasks.discard)


async def _finish(coro: Job, yielded: Any) -> None:
    try:
        await Stepped(coro, yielded)
    except Exception:
        log.exception("error in a handler")


class SerialRunner:
    """A queue of coroutines run one at a time, in submission order."""

    __slots__ = ("_queue", "_task", "busy", "label", "since", "timer", "warned")

    #: the owner's warning says whether later events wait for a slow one
    ordered = True

    def __init__(self) -> None:
        #: a job is running (inline or in a task); read-only for callers
        self.busy = False
        #: loop time at which the job running in the task began (when it suspended, for the
        #: first one); read-only for callers
        self.since = 0.0
        #: for the owner: what the running job is (set by the job), the ``since`` of the job
        #: it warned about, its watch timer (None: not armed)
        self.label: Any = None
        self.warned = 0.0
        self.timer: asyncio.TimerHandle | None = None
        # created by the first job that has to wait (an empty deque is 760 bytes, and most
        # sockets never have one)
        self._queue: deque[Job] | None = None
        self._task: asyncio.Task[None] | None = None

    @property
    def idle(self) -> bool:
        return not self.busy

    @property
    def running_async(self) -> bool:
        """A job suspended and a task runs the jobs (until the queue is empty)."""
        return self._task is not None

    def __len__(self) -> int:
        """Jobs running (0 or 1)."""
        return 1 if self.busy else 0

    @property
    def backlog(self) -> int:
        """Jobs waiting behind the one running."""
        return 0 if self._queue is None else len(self._queue)

    def claim(self) -> bool:
        """Claim the runner for a synchronous job that the caller runs inline, now: False
        if a job is running or waiting (the caller then submits a coroutine instead).
        Jobs submitted until :meth:`release` wait behind it."""
        if self.busy:
            return False
        self.busy = True  # not busy means nothing is queued either
        return True

    def release(self) -> bool:
        """The claimed job is done: run the jobs submitted meanwhile, in order. Returns
        :attr:`running_async` (the owner then watches the job that suspended)."""
        self.busy = False
        queue = self._queue
        if queue:
            self.submit(queue.popleft())
        return self._task is not None

    def submit(self, coro: Job) -> None:
        if self.busy:  # also while a job runs inline: a job may submit another
            if self._queue is None:
                self._queue = deque()
            self._queue.append(coro)
            return
        self.busy = True
        while True:
            try:
                yielded = coro.send(None)
            except StopIteration:
                pass
            except Exception:
                log.exception("error in a handler")
            else:
                loop = asyncio.get_running_loop()
                self.since = loop.time()
                task = loop.create_task(self._finish(coro, yielded))
                task.add_done_callback(self._task_done)
                self._task = task
                return
            if not self._queue:
                self.busy = False
                return
            coro = self._queue.popleft()

    def _task_done(self, task: asyncio.Task[None]) -> None:
        if task is self._task:  # cancelled before it ever ran: nothing reset the state
            self._task = None
            self.busy = False
            queue = self._queue
            while queue:
                queue.popleft().close()

    async def _finish(self, coro: Job, yielded: Any) -> None:
        try:
            try:
                await Stepped(coro, yielded)
            except Exception:
                log.exception("error in a handler")
            # a job submitted while this one ran created the queue: read it now
            queue = self._queue
            if queue:
                time = asyncio.get_running_loop().time
            while queue:
                job = queue.popleft()
                self.since = time()
                try:
                    await job
                except Exception:
                    log.exception("error in a handler")
        except asyncio.CancelledError:
            # the task was cancelled (the loop is shutting down): drop what is left
            coro.close()
            queue = self._queue
            while queue:
                queue.popleft().close()
            raise
        finally:
            self.busy = False
            self._task = None
