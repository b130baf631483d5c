"""Run one socket's handlers in arrival order, concurrently once they suspend (as Node does).

Each job (a coroutine) starts at once, in the caller's stack, and runs inline until it
first suspends; only then does a task finish it, while the next job starts. A handler that
never awaits costs no task, a plain function not even a coroutine (``claim``/``release``).
At most ``limit`` jobs are suspended at a time: past it, jobs wait in a queue in arrival
order and start as running ones finish (the owner bounds that queue).

The same interface as :class:`~._serial.SerialRunner` (the strict order, one job at a
time), so that the owner's dispatch path and its watch on slow jobs serve both: ``busy``
(new jobs would wait: route them through :meth:`submit`), ``since`` and ``label`` (of the
oldest suspended job), ``timer``, ``warned``, ``backlog``, ``running_async``. Knows nothing
of Socket.IO; jobs catch their own exceptions (anything that escapes is logged).
"""

from __future__ import annotations

import asyncio
import logging
from collections import deque
from collections.abc import Coroutine
from typing import Any

from rtio.stepping import Stepped

__all__ = ["ConcurrentRunner"]

log = logging.getLogger("rtio.socketio")

Job = Coroutine[Any, Any, Any]


class ConcurrentRunner:
    """Jobs started in submission order, at most ``limit`` suspended at a time."""

    __slots__ = ("_label", "_queue", "_tasks", "busy", "limit", "timer", "warned")

    #: the owner's warning says whether later events wait for a slow one
    ordered = False

    def __init__(self, limit: int) -> None:
        self.limit = limit
        #: jobs submitted now would wait (the limit is reached, or some wait already)
        self.busy = False
        self.warned = 0.0
        self.timer: asyncio.TimerHandle | None = None
        self._label: Any = None  # set by the job starting (read when it suspends)
        # the suspended jobs: task -> (loop time it suspended, label), oldest first
        self._tasks: dict[asyncio.Task[None], tuple[float, Any]] = {}
        self._queue: deque[Job] | None = None

    @property
    def label(self) -> Any:
        """What the oldest suspended job is (set by each job as it starts)."""
        tasks = self._tasks
        return next(iter(tasks.values()))[1] if tasks else self._label

    @label.setter
    def label(self, value: Any) -> None:
        self._label = value

    @property
    def since(self) -> float:
        """Loop time at which the oldest suspended job suspended (0.0: none)."""
        tasks = self._tasks
        return next(iter(tasks.values()))[0] if tasks else 0.0

    @property
    def idle(self) -> bool:
        return not self._tasks and not self._queue

    @property
    def running_async(self) -> bool:
        """A job suspended: tasks finish the jobs."""
        return bool(self._tasks)

    def __len__(self) -> int:
        """Jobs suspended (running in tasks)."""
        return len(self._tasks)

    @property
    def backlog(self) -> int:
        """Jobs waiting for a free slot."""
        return 0 if self._queue is None else len(self._queue)

    def claim(self) -> bool:
        """Claim the runner for a synchronous job that the caller runs inline, now: False
        if jobs wait (the caller then submits a coroutine instead). Jobs submitted until
        :meth:`release` (a re-entrant event) start after it, in order."""
        if self.busy:
            return False
        self.busy = True
        return True

    def release(self) -> bool:
        """The claimed job is done: start the jobs submitted meanwhile. Returns
        :attr:`running_async` (the owner then watches the suspended jobs), so that the
        dispatch path of every event asks once."""
        queue = self._queue
        tasks = self._tasks
        if not queue and not tasks:  # the common case: nothing queued, nothing suspended
            self.busy = False
            return False
        if queue and len(tasks) < self.limit:
            self._run(queue.popleft())
        else:
            self.busy = bool(queue) or len(tasks) >= self.limit
        return bool(tasks)

    def submit(self, coro: Job) -> None:
        if self.busy:  # the limit is reached, jobs wait, or one runs inline now
            if self._queue is None:
                self._queue = deque()
            self._queue.append(coro)
            return
        self._run(coro)

    def _run(self, coro: Job) -> None:
        """Start ``coro`` (inline until it suspends), then the jobs submitted meanwhile,
        while fewer than ``limit`` are suspended."""
        tasks = self._tasks
        while True:
            self.busy = True  # a job submitted during the step waits for its end
            try:
                yielded = coro.send(None)
            except StopIteration:
                pass
            except Exception:
                log.exception("error in a handler")
            else:
                loop = asyncio.get_running_loop()
                task = loop.create_task(self._finish(coro, yielded))
                task.add_done_callback(self._task_done)
                tasks[task] = (loop.time(), self._label)
            queue = self._queue
            if not queue:
                self.busy = len(tasks) >= self.limit
                return
            if len(tasks) >= self.limit:
                return  # busy: the rest waits for a slot
            coro = queue.popleft()

    def _task_done(self, task: asyncio.Task[None]) -> None:
        # a callback of the loop: never during an inline step
        self._tasks.pop(task, None)
        queue = self._queue
        if task.cancelled():  # the loop is shutting down: drop what waits
            while queue:
                queue.popleft().close()
        if queue:
            self._run(queue.popleft())
        else:
            self.busy = len(self._tasks) >= self.limit

    @staticmethod
    async def _finish(coro: Job, yielded: Any) -> None:
        try:
            await Stepped(coro, yielded)
        except Exception:
            log.exception("error in a handler")
