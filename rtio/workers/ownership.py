"""Which worker owns a session, told by its id alone (sans-I/O).

A worker's Engine.IO session ids (and Socket.IO socket ids) start with one character of
the URL-safe base64 alphabet naming the worker: ``A`` is worker 0, ``B`` worker 1, ...
(``rtio.ids.new_id.set_prefix``; the id keeps its 20 characters and 114 random bits). Any
worker reading a request's ``sid=`` therefore knows the owner without asking anyone: no
shared table, nothing to keep in step when a worker dies (the restarted worker of the same
index owns the prefix again and answers "Session ID unknown" for its predecessor's
sessions, whose clients reconnect).

Errors: :class:`WorkerCountError` (a ``ValueError``) for a worker count that is not a
whole number from 1 to :data:`MAX_WORKERS` or ``"auto"``.
"""

from __future__ import annotations

import os

__all__ = ["ALPHABET", "MAX_WORKERS", "WorkerCountError", "owner_of", "prefix_of",
           "resolve_workers"]  # fmt: skip

#: Node's base64id alphabet (URL-safe base64): the first character of an id names its owner
ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
MAX_WORKERS = len(ALPHABET)


class WorkerCountError(ValueError):
    """A worker count that rtio cannot run."""


def resolve_workers(value: int | str | None) -> int:
    """The number of worker processes for ``workers=value``: a whole number from 1 to 64,
    or ``"auto"``: the CPUs this process may run on (at most 64)."""
    if value is None:
        return 1
    if isinstance(value, str):
        text = value.strip().lower()
        if text == "auto":
            try:
                cores = len(os.sched_getaffinity(0))
            except AttributeError:  # not on Linux
                cores = os.cpu_count() or 1
            return max(1, min(cores, MAX_WORKERS))
        if not text.isdigit():
            raise WorkerCountError(f"workers must be a number or 'auto', not {value!r}")
        value = int(text)
    if isinstance(value, bool) or not isinstance(value, int):
        raise WorkerCountError(f"workers must be a number or 'auto', not {value!r}")
    if not 1 <= value <= MAX_WORKERS:
        raise WorkerCountError(f"workers must be from 1 to {MAX_WORKERS}, not {value}")
    return value


def prefix_of(index: int) -> str:
    """The first character of worker ``index``'s ids."""
    return ALPHABET[index]


def owner_of(target: str, workers: int) -> int | None:
    """The worker owning the session a request target names (``...?...&sid=XYZ...``), or
    None: no sid, or one no worker of ``workers`` owns (a custom ``generate_id``'s)."""
    start = target.find("sid=")
    while start > 0 and target[start - 1] not in "?&":  # "xsid=": not the sid field
        start = target.find("sid=", start + 4)
    if start < 0:
        return None
    first = target[start + 4 : start + 5]
    index = ALPHABET.find(first) if first else -1
    if index < 0 or index >= workers:
        return None
    return index
