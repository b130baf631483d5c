"""Tasks the server starts and nobody awaits (an adapter closing, the app's
``start_background_task``): held until they end, since the loop keeps only a weak
reference to a task, and an exception one raises is logged instead of lost."""

from __future__ import annotations

import asyncio
import logging
from typing import Any

__all__ = ["hold"]

log = logging.getLogger("rtio.socketio")

_held: set[asyncio.Task[Any]] = set()  # strong references until done


def hold(task: asyncio.Task[Any]) -> asyncio.Task[Any]:
    """Keep ``task`` alive until it ends, and log what it raises; returns it."""
    _held.add(task)
    task.add_done_callback(_done)
    return task


def _done(task: asyncio.Task[Any]) -> None:
    _held.discard(task)
    if not task.cancelled() and task.exception() is not None:
        log.error("error in a background task", exc_info=task.exception())
