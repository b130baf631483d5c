"""The deadlines of one connection of the front, as pure decisions: what the connection
waits for, since when, and what happens when that has taken too long. Time is an input
(``now``, from the loop's clock): tests drive it with numbers.

The connection (protocol.py) owns one timer handle, re-armed lazily: a request only stamps
when it ended, and the timer, when it fires, asks ``expiry`` whether the deadline of what
the connection waits for now has passed (then it acts) or when to look again. A request
therefore arms no timer of its own.

- the next request head (an idle keep-alive connection): ``keepalive_timeout`` after the
  last response (or the opening), then the connection closes silently;
- the rest of a head whose first bytes came: ``head_timeout`` after its first byte (a
  slowloris), then 408 and close;
- the rest of a body the handler is reading: ``body_timeout`` after the handler started
  waiting for it, then 408 and close, and the handler's ``read_body`` raises;
- the handler (a long poll): no deadline of the front's (the engine ends it); looked at
  again ``keepalive_timeout`` later.
"""

from __future__ import annotations

import enum

from .options import FrontOptions

__all__ = ["Waiting", "expiry"]


class Waiting(enum.Enum):
    """What a connection waits for from its peer (or from its handler)."""

    NEXT_HEAD = "the next request head"  # since: the last response (or the opening)
    HEAD = "request head"  # since: the head's first byte
    BODY = "request body"  # since: when the handler started waiting for it
    HANDLER = "the handler"  # a request in flight not reading its body (a long poll)

    @property
    def timeout_reason(self) -> str:
        """The reason of the 408 sent when it does not come in time."""
        return f"{self.value} not received in time"


def expiry(waiting: Waiting, since: float, now: float, options: FrontOptions) -> float | None:
    """None when the deadline of ``waiting`` (waited for since ``since``) has passed at
    ``now``; else when to look again (the deadline, or for HANDLER a later look)."""
    if waiting is Waiting.NEXT_HEAD:
        deadline = since + options.keepalive_timeout
    elif waiting is Waiting.HEAD:
        deadline = since + options.head_timeout
    elif waiting is Waiting.BODY:
        deadline = since + options.body_timeout
    else:
        return now + options.keepalive_timeout
    return None if now >= deadline else deadline
