"""Logging set-up in one place: the ``rtio`` command's ``--log-level`` and ``--log-format``,
and ``rtio.logs.configure_logging(...)`` for code that starts a server itself.

rtio logs through the standard ``logging`` module under the ``rtio.*`` loggers (rtio.http,
rtio.engine, rtio.ws, rtio.socketio, rtio.cluster, ...): an application that configures
logging its own way keeps doing so, and may add :class:`RepeatFilter` to its handler.

- ``log_format="text"``: ``12:00:01 WARNING rtio.engine: message``, for a terminal.
- ``log_format="json"``: one JSON object a line (``time`` in UTC ISO 8601, ``level``,
  ``logger``, ``message``, and ``exception`` with the traceback when there is one), for log
  shippers (Loki, Elasticsearch, CloudWatch).
- :class:`RepeatFilter`: the same line (the same logger, level and message template) at
  most ``burst`` times per ``interval`` seconds; the next one let through says how many were
  left out. A flood of refused requests or dropped clients then costs a few lines, not a
  disk. No state grows without bound: at most ``max_keys`` templates are tracked.
"""

from __future__ import annotations

import json
import logging
import sys
import time
from collections import OrderedDict
from datetime import datetime, timezone
from typing import TextIO

__all__ = ["FORMATS", "JsonFormatter", "RepeatFilter", "configure_logging"]

FORMATS = ("text", "json")
TEXT_FORMAT = "%(asctime)s %(levelname)-7s %(name)s: %(message)s"


class JsonFormatter(logging.Formatter):
    """One JSON object a line: time, level, logger, message (and exception)."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, object] = {
            "time": datetime.fromtimestamp(record.created, timezone.utc).isoformat(
                timespec="milliseconds"
            ),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return json.dumps(entry, ensure_ascii=False, default=str)


class RepeatFilter(logging.Filter):
    """Lets the same line through at most ``burst`` times per ``interval`` seconds.

    "The same line" is the same logger, level and message template (``record.msg``, before
    its arguments are filled in): 10,000 "refused origin X" with different X are one line.
    When a line passes again after some were left out, its message gets
    `` (N similar lines suppressed in the last S s)``.
    """

    def __init__(self, burst: int = 10, interval: float = 60.0, max_keys: int = 1024) -> None:
        super().__init__()
        if burst < 1 or interval <= 0 or max_keys < 1:
            raise ValueError("burst and max_keys must be at least 1, interval positive")
        self.burst = burst
        self.interval = interval
        self.max_keys = max_keys
        # key -> [window start, lines let through in it, lines suppressed in it]
        self._windows: OrderedDict[tuple[str, int, object], list[float]] = OrderedDict()

    def filter(self, record: logging.LogRecord) -> bool:
        key = (record.name, record.levelno, record.msg)
        now = time.monotonic()
        window = self._windows.get(key)
        if window is None or now - window[0] >= self.interval:
            suppressed = int(window[2]) if window is not None else 0
            self._windows[key] = [now, 1, 0]
            self._windows.move_to_end(key)
            if len(self._windows) > self.max_keys:
                self._windows.popitem(last=False)
            if suppressed:
                record.msg = f"{record.msg} ({suppressed} similar lines suppressed in the last "
                record.msg += f"{self.interval:g} s)"
            return True
        if window[1] < self.burst:
            window[1] += 1
            return True
        window[2] += 1
        return False


def configure_logging(
    level: str | int = "info",
    log_format: str = "text",
    stream: TextIO | None = None,
    repeat_filter: RepeatFilter | None = None,
    force: bool = False,
) -> logging.Handler | None:
    """Log to ``stream`` (default stderr) at ``level`` in ``log_format`` ("text", "json"),
    with a :class:`RepeatFilter` (the default one unless given); returns the new handler.

    As ``logging.basicConfig``: when the root logger has handlers already (the application,
    or a test runner, set logging up), nothing changes and None is returned, unless
    ``force`` (then they are replaced)."""
    if log_format not in FORMATS:
        raise ValueError(f"log format must be one of {', '.join(FORMATS)}, not {log_format!r}")
    root = logging.getLogger()
    if root.handlers and not force:
        return None
    handler = logging.StreamHandler(stream if stream is not None else sys.stderr)
    if log_format == "json":
        handler.setFormatter(JsonFormatter())
    else:
        handler.setFormatter(logging.Formatter(TEXT_FORMAT, datefmt="%H:%M:%S"))
    handler.addFilter(repeat_filter if repeat_filter is not None else RepeatFilter())
    for old in root.handlers[:]:
        root.removeHandler(old)
        old.close()
    root.addHandler(handler)
    root.setLevel(level.upper() if isinstance(level, str) else level)
    return handler
