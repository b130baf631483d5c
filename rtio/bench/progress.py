"""The progress display on stderr while a run goes: one line rewritten in place when
stderr is a terminal, a plain line every few seconds otherwise (logs, CI).

Reads the run's counters only; owns one task that ticks until stopped.
"""

from __future__ import annotations

import asyncio
import contextlib
from time import perf_counter
from typing import TextIO

from .runner import Run

__all__ = ["Progress"]


class Progress:
    """``start()`` begins ticking, ``stop()`` ends it (and ends the in-place line)."""

    def __init__(self, run: Run, stream: TextIO, interactive: bool | None = None,
                 tick: float = 0.5, plain_every: float = 2.0) -> None:
        self.run = run
        self.stream = stream
        self.interactive = stream.isatty() if interactive is None else interactive
        self.tick = tick
        self.plain_every = plain_every
        self._task: asyncio.Task[None] | None = None
        self._last_ops = 0
        self._last_time = 0.0
        self._last_lat = (0, 0.0)
        self._width = 0

    def start(self) -> None:
        loop = asyncio.get_running_loop()
        self._started = self._last_time = loop.time()
        self._task = loop.create_task(self._loop())

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        self.show(final=True)

    async def _loop(self) -> None:
        every = self.tick if self.interactive else self.plain_every
        while True:
            await asyncio.sleep(every)
            self.run.sample_server()
            self.show()

    def line(self) -> str:
        run = self.run
        now = run.loop.time()
        # while measuring: the window's seconds (of --duration); else since the start
        elapsed = perf_counter() - run.window.started if run.measuring else now - self._started
        rate = (run.ops - self._last_ops) / max(now - self._last_time, 1e-9)
        self._last_ops, self._last_time = run.ops, now
        count, total = run.latency.count, run.latency.total
        last_count, last_total = self._last_lat
        self._last_lat = (count, total)
        lat = (
            f" mean {1000 * (total - last_total) / (count - last_count):.2f}ms"
            if count > last_count else ""
        )
        params = run.params
        return (
            f"{params.scenario} {params.transport} {run.phase} {elapsed:5.1f}s"
            f"/{params.duration_s:g}s clients {run.connected}/{params.clients}"
            f" ops {run.ops} ({rate:,.0f}/s){lat} errors {run.error_count}"
        )

    def show(self, final: bool = False) -> None:
        text = self.line()
        try:
            if self.interactive:
                pad = " " * max(0, self._width - len(text))
                self._width = len(text)
                self.stream.write("\r" + text + pad + ("\n" if final else ""))
            else:
                self.stream.write(text + "\n")
            self.stream.flush()
        except (OSError, ValueError):
            pass  # stderr closed: the run goes on without a display
