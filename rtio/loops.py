"""Which event loop a server process runs on: ``run_app(loop=...)``, ``rtio serve --loop``.

``"auto"`` (the default) is uvloop when it is installed (a dependency of rtio on Linux) and
the caller set no loop policy of its own, as uvicorn's ``--loop auto``: the loop rtio's
benchmarks run on (a broadcast delivery to a room of 20 on one worker 7.0 -> 6.6 µs, on two
10.9-12.7 -> 10.0 µs, docs/WORKERS.md; the bench server has always used it).
``"asyncio"`` is the loop policy in force (asyncio's own unless the caller set one);
``"uvloop"`` insists. Knows nothing of servers.
"""

from __future__ import annotations

import asyncio
import logging
import warnings
from collections.abc import Coroutine
from typing import Any, TypeVar

__all__ = ["LOOPS", "LoopUnavailable", "check", "run"]

log = logging.getLogger("rtio")

T = TypeVar("T")

#: the names ``loop=`` takes
LOOPS = ("auto", "asyncio", "uvloop")


class LoopUnavailable(RuntimeError):
    """``loop="uvloop"`` where uvloop is not installed."""


def check(loop: str) -> None:
    """ValueError for a name not in :data:`LOOPS` (run_app asks before it forks workers)."""
    if loop not in LOOPS:
        raise ValueError(f"loop must be one of {', '.join(LOOPS)}, not {loop!r}")


def _policy_is_default() -> bool:
    with warnings.catch_warnings():  # the policy API is deprecated in Python 3.14, not gone
        warnings.simplefilter("ignore", DeprecationWarning)
        return type(asyncio.get_event_loop_policy()) is asyncio.DefaultEventLoopPolicy


def run(main: Coroutine[Any, Any, T], loop: str = "auto") -> T:
    """Run ``main`` to its end in a new event loop, as ``asyncio.run`` does, on the loop
    ``loop`` names (see the module). ValueError for a name not in :data:`LOOPS`."""
    try:
        check(loop)
    except ValueError:
        main.close()
        raise
    if loop == "uvloop" or (loop == "auto" and _policy_is_default()):
        try:
            import uvloop
        except ImportError:
            if loop == "uvloop":
                main.close()
                raise LoopUnavailable(
                    "loop='uvloop': uvloop is not installed (pip install uvloop)") from None
        else:
            log.debug("event loop: uvloop")
            result: T = uvloop.run(main)
            return result
    log.debug("event loop: asyncio (the policy in force)")
    return asyncio.run(main)
