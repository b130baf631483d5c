"""``run_app(..., workers=N)``: what rtio.run hands a worker count above 1.

:func:`run_workers` checks what cannot work (TLS in the process), listens (listen()),
and has the supervisor run N workers, each serving the app with rtio.run's
``serve_app`` and its :class:`~rtio.workers.worker.Worker` hooks. rtio.run does not import
this package (it would close an import cycle through rtio.socketio): :data:`PLUGIN` is
registered with ``rtio.run.register_workers`` when rtio.workers is imported.

Errors: ``WorkersUnsupported`` (TLS, no fork, an Engine.IO server in a sub-application:
worker.check_app); ``WorkerCountError``; a port that cannot be
listened on, or workers that keep dying at start, print one line ``rtio: ...`` on stderr
and exit with status 1, as one process does.
"""

from __future__ import annotations

import builtins
import inspect
import sys
from collections.abc import Awaitable, Callable
from ssl import SSLContext
from typing import Any

from aiohttp import web

from rtio import loops
from rtio.http import FrontOptions
from rtio.run import serve_app

from .ownership import resolve_workers
from .supervisor import WorkersFailing, listen, supervise
from .worker import Worker, WorkersUnsupported, check_app

__all__ = ["PLUGIN", "run_workers"]


def run_workers(
    app: web.Application | Awaitable[web.Application],
    count: int,
    host: str | None,
    port: int,
    *,
    backlog: int,
    ssl_context: SSLContext | None,
    keepalive_timeout: float | None,
    front_options: FrontOptions | None,
    shutdown_timeout: float,
    print: Callable[..., None] | None,
    runner_kwargs: dict[str, Any],
    loop: str = "auto",
) -> None:
    """Serve ``app`` with ``count`` worker processes until SIGINT/SIGTERM, each on the event
    loop ``loop`` names (rtio/loops.py)."""
    if ssl_context is not None:
        raise WorkersUnsupported(
            "workers > 1 pass connections between processes, which TLS state cannot follow: "
            "terminate TLS in a proxy (nginx, haproxy...) in front of rtio")
    if isinstance(app, web.Application):
        check_app(app)  # (an app made by a factory is checked in each worker)
    try:
        socks = listen(host, port, count, backlog=backlog)
    except OSError as exc:
        where = f"[{host}]" if host and ":" in host else (host or "*")
        builtins.print(f"rtio: cannot serve on {where}:{port}: {exc.strerror or exc}",
                       file=sys.stderr, flush=True)  # fmt: skip
        raise SystemExit(1) from None

    def serve(worker: Worker) -> None:  # in each worker process
        serving = serve_app(app, host, port, backlog=backlog, ssl_context=None,
                            reuse_address=None, reuse_port=None,
                            keepalive_timeout=keepalive_timeout, front_options=front_options,
                            shutdown_timeout=shutdown_timeout, handle_signals=True,
                            print=None, runner_kwargs=runner_kwargs, worker=worker)  # fmt: skip
        loops.run(serving, loop)

    def started() -> None:
        if print is not None:
            bound = socks[0].getsockname()
            name = f"http://{host or '0.0.0.0'}:{bound[1]}"
            print(f"======== Running on {name} (rtio, {count} workers) ========\n"
                  "(Press CTRL+C to quit)")  # fmt: skip

    try:
        supervise(count, serve, socks, stop_timeout=shutdown_timeout + 5.0, on_started=started)
    except WorkersFailing as exc:  # the app cannot start: its tracebacks are above
        builtins.print(f"rtio: {exc}", file=sys.stderr, flush=True)
        raise SystemExit(1) from None
    finally:
        for sock in set(socks):
            sock.close()
        if inspect.iscoroutine(app):
            app.close()  # each worker awaited its own copy


class _Plugin:
    """rtio.run's WorkersPlugin."""

    @staticmethod
    def resolve_workers(value: int | str | None) -> int:
        return resolve_workers(value)

    @staticmethod
    def run_workers(app: web.Application | Awaitable[web.Application], count: int,
                    host: str | None, port: int, **options: Any) -> None:  # fmt: skip
        run_workers(app, count, host, port, **options)


PLUGIN = _Plugin()
