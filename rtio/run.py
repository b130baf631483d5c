"""``rtio.run_app``: serve an aiohttp app (or an ``rtio.Server``) until SIGINT/SIGTERM, like
``aiohttp.web.run_app``, but listening with rtio's HTTP/1.1 front (rtio.http): the
Engine.IO requests of the engines attached to the app are answered by rtio directly, every
other request by aiohttp as usual.

Owns the process lifecycle only (loop, signals, startup and graceful shutdown order);
``workers=N`` hands the processes to rtio.workers (a supervisor and N workers on one port).
"""

from __future__ import annotations

import asyncio
import builtins
import gc
import inspect
import signal
import sys
from collections.abc import Awaitable, Callable, Sequence
from ssl import SSLContext
from typing import TYPE_CHECKING, Any, Protocol

from aiohttp import web

from . import loops
from .engine.aiohttp_front import drain_in_flight
from .http import FrontOptions, start_server

if TYPE_CHECKING:
    import socket

    from .http import FrontSite, RequestHead

__all__ = ["FRONT_HOOKS_KEY", "FrontHook", "WorkerHooks", "WorkersPlugin", "register_workers",
           "run_app", "serve_app"]  # fmt: skip

# Keyword arguments that reach aiohttp through web.AppRunner (its own, then those of
# web.Server and web.RequestHandler it passes on), read from their signatures so that each
# aiohttp version admits exactly what it takes. Unknown ones are refused at once: aiohttp
# would otherwise fail on them only when the first non-Socket.IO request arrives.
_NOT_FOR_USERS = {"self", "app", "manager", "handler", "loop", "request_factory",
                  "handle_signals", "shutdown_timeout", "keepalive_timeout"}


def _runner_keywords() -> frozenset[str]:
    names: set[str] = set()
    for init in (web.AppRunner.__init__, web.BaseRunner.__init__, web.Server.__init__,
                 web.RequestHandler.__init__):
        names.update(name for name, param in inspect.signature(init).parameters.items()
                     if param.kind is inspect.Parameter.KEYWORD_ONLY)
    return frozenset(names - _NOT_FOR_USERS)


def _check_runner_kwargs(runner_kwargs: dict[str, Any]) -> None:
    unknown = sorted(set(runner_kwargs) - _runner_keywords())
    if unknown:
        own = sorted(set(inspect.signature(run_app).parameters) - {"app_or_server",
                                                                    "runner_kwargs"})
        raise TypeError(
            f"run_app() got unexpected keyword argument{'s' if len(unknown) > 1 else ''} "
            f"{', '.join(map(repr, unknown))}; it takes {', '.join(own)}, and for aiohttp's "
            f"runner {', '.join(sorted(_runner_keywords()))}")


class WorkerHooks(Protocol):
    """What serve_app needs of a worker process of rtio.workers (its ``Worker``)."""

    sock: socket.socket

    def redirect(self, head: RequestHead, transport: asyncio.Transport, data: bytes) -> bool:
        ...

    async def prepare(self, app: web.Application) -> None: ...
    def started(self, site: FrontSite) -> None: ...
    async def drained(self, app: web.Application) -> None: ...
    async def close(self) -> None: ...


class FrontHook(Protocol):
    """What an app asks of rtio's front (rtio.workers.Forwarding, listed under
    :data:`FRONT_HOOKS_KEY`): a Redirect hook tried before the worker's, and the front once
    it listens."""

    def redirect(self, head: RequestHead, transport: asyncio.Transport, data: bytes) -> bool:
        ...

    def started(self, site: FrontSite) -> None: ...


#: the app's FrontHooks (serve_app reads them after the app's startup)
FRONT_HOOKS_KEY = web.AppKey("rtio.front_hooks", list)


async def _close_after_response(request: web.Request, response: web.StreamResponse) -> None:
    response.force_close()  # "Connection: close", then aiohttp closes the connection


def _chain(hooks: Sequence[Callable[[RequestHead, asyncio.Transport, bytes], bool]]
           ) -> Callable[[RequestHead, asyncio.Transport, bytes], bool] | None:  # fmt: skip
    """One Redirect hook trying ``hooks`` in turn (None when there is none)."""
    if len(hooks) <= 1:
        return hooks[0] if hooks else None

    def redirect(head: RequestHead, transport: asyncio.Transport, data: bytes) -> bool:
        return any(hook(head, transport, data) for hook in hooks)

    return redirect


class WorkersPlugin(Protocol):
    """How run_app serves ``workers`` > 1: rtio.workers registers itself (register_workers)
    when imported, which ``import rtio`` does; this module does not import it (rtio.workers
    imports rtio.socketio, whose Server.run imports this module)."""

    def resolve_workers(self, value: int | str | None) -> int: ...
    def run_workers(self, app: web.Application | Awaitable[web.Application], count: int,
                    host: str | None, port: int, **options: Any) -> None: ...  # fmt: skip


_workers_plugin: WorkersPlugin | None = None


def register_workers(plugin: WorkersPlugin) -> None:
    """rtio.workers' registration (see WorkersPlugin)."""
    global _workers_plugin
    _workers_plugin = plugin


class _CannotListen(Exception):
    """The front could not listen (address in use, not ours...): the message says where."""


class _MakesApp(Protocol):
    """What run_app needs of an ``rtio.Server``: its app. (Typed by its shape, so that this
    module, above the layers, does not import rtio.socketio, whose ``Server.run`` imports
    this one.)"""

    def make_app(self) -> web.Application: ...


def run_app(
    app_or_server: web.Application | _MakesApp | Awaitable[web.Application],
    host: str | None = None,
    port: int = 8080,
    *,
    backlog: int = 128,
    ssl_context: SSLContext | None = None,
    reuse_address: bool | None = None,
    reuse_port: bool | None = None,
    keepalive_timeout: float | None = None,
    front_options: FrontOptions | None = None,
    shutdown_timeout: float = 60.0,
    handle_signals: bool = True,
    print: Callable[..., None] | None = builtins.print,
    workers: int | str = 1,
    loop: str = "auto",
    **runner_kwargs: Any,
) -> None:
    """Serve until SIGINT or SIGTERM (or ``KeyboardInterrupt``), then shut down gracefully:
    stop listening, close idle connections, run the app's on_shutdown (the engines send
    close packets; a pending poll gets its close packet), wait up to ``shutdown_timeout``
    for aiohttp's requests in flight, run on_cleanup. The app's on_startup runs first.

    ``host`` None listens on every interface. ``front_options``: the limits and deadlines of
    the front's connections (rtio.http.FrontOptions; its ``keepalive_timeout``, 75 s by
    default, is replaced by ``keepalive_timeout`` when given). ``runner_kwargs`` go to
    ``web.AppRunner`` (``access_log``, ``access_log_format``, ``max_line_size``...; an
    aiohttp app's ``client_max_size`` is an argument of ``web.Application``). An
    ``rtio.Server`` is served with its ``make_app()``; an awaitable (a coroutine making the
    app, as aiohttp's run_app takes) is awaited in the server's loop. Runs its own event
    loop: ``loop="auto"`` (the default) is uvloop when it is installed and no loop policy
    was set, ``"asyncio"`` the policy in force, ``"uvloop"`` insists (rtio/loops.py).

    An unknown keyword argument is a ``TypeError`` at once, naming those it takes. When it
    cannot listen (the port in use, an address not this machine's) it prints one line,
    ``rtio: cannot serve on HOST:PORT: reason``, on stderr and exits with status 1
    (``SystemExit(1)``, after the app's cleanup), as ``rtio serve`` does.

    ``workers``: the number of processes serving the port (1 to 64, or ``"auto"``: one per
    CPU). Above 1, a supervisor listens, forks the workers, restarts one that dies and
    stops them together on SIGINT/SIGTERM; each request of a session reaches the worker
    owning it, and rooms and broadcasts span the workers (docs/WORKERS.md). Linux and
    macOS only, without ``ssl_context``."""
    _check_runner_kwargs(runner_kwargs)
    loops.check(loop)
    app: web.Application | Awaitable[web.Application]
    if isinstance(app_or_server, web.Application) or inspect.isawaitable(app_or_server):
        app = app_or_server
    else:
        app = app_or_server.make_app()
    if workers != 1:
        plugin = _workers_plugin
        if plugin is None:
            raise RuntimeError("workers > 1 needs rtio.workers: import rtio.workers first")
        count = plugin.resolve_workers(workers)
        if count > 1:
            plugin.run_workers(app, count, host, port, backlog=backlog,
                               ssl_context=ssl_context, keepalive_timeout=keepalive_timeout,
                               front_options=front_options, shutdown_timeout=shutdown_timeout,
                               print=print, runner_kwargs=runner_kwargs, loop=loop)  # fmt: skip
            return
    try:
        loops.run(serve_app(
            app,
            host,
            port,
            backlog=backlog,
            ssl_context=ssl_context,
            reuse_address=reuse_address,
            reuse_port=reuse_port,
            keepalive_timeout=keepalive_timeout,
            front_options=front_options,
            shutdown_timeout=shutdown_timeout,
            handle_signals=handle_signals,
            print=print,
            runner_kwargs=runner_kwargs,
        ), loop)
    except _CannotListen as exc:
        builtins.print(f"rtio: cannot serve on {exc}", file=sys.stderr, flush=True)
        raise SystemExit(1) from None


def _freeze_startup_objects() -> None:
    """Move what startup made (modules, the app, its routes and handlers: some 40,000
    objects) out of the cyclic garbage collector's sight: they live as long as the process,
    yet every full collection scanned them all again, which cost ~13 µs per connect in a
    storm of handshakes (the collections a connect's allocations set off, profiled with
    gc.callbacks). The garbage of startup is collected first; nothing made later is frozen."""
    gc.collect()
    gc.freeze()


async def serve_app(
    app: web.Application | Awaitable[web.Application],
    host: str | None,
    port: int,
    *,
    backlog: int,
    ssl_context: SSLContext | None,
    reuse_address: bool | None,
    reuse_port: bool | None,
    keepalive_timeout: float | None,
    front_options: FrontOptions | None,
    shutdown_timeout: float,
    handle_signals: bool,
    print: Callable[..., None] | None,
    runner_kwargs: dict[str, Any],
    worker: WorkerHooks | None = None,
) -> None:
    """What run_app runs in its loop (and rtio.workers in each worker's, with ``worker``
    set): start the app, listen with the front, wait for SIGINT/SIGTERM, stop gracefully."""
    if not isinstance(app, web.Application):
        app = await app
    if worker is not None:
        await worker.prepare(app)
    front_hooks: list[FrontHook] = list(app.get(FRONT_HOOKS_KEY, ()))
    if worker is not None or front_hooks:
        # A connection the front gives aiohttp (a request off the Engine.IO path: a page,
        # its scripts) stays aiohttp's, out of the Redirect hooks' sight: an Engine.IO
        # request a browser sends next on it, for another worker's (or machine's)
        # session, would get "Session ID unknown". So aiohttp closes each one after its
        # response: the browser's next request comes on a new connection, through the front.
        app.on_response_prepare.append(_close_after_response)
    runner = web.AppRunner(
        app, handle_signals=False, shutdown_timeout=shutdown_timeout, **runner_kwargs
    )
    await runner.setup()
    redirects = [hook.redirect for hook in front_hooks]
    if worker is not None:
        redirects.append(worker.redirect)
    try:
        try:
            site = await start_server(
                runner,
                host,
                port,
                backlog=backlog,
                ssl_context=ssl_context,
                reuse_address=reuse_address,
                reuse_port=reuse_port,
                keepalive_timeout=keepalive_timeout,
                options=front_options,
                sock=None if worker is None else worker.sock,
                redirect=_chain(redirects),
            )
        except OSError as exc:
            where = f"[{host}]" if host and ":" in host else (host or "*")
            raise _CannotListen(f"{where}:{port}: {exc.strerror or exc}") from exc
        if worker is not None:
            worker.started(site)
        for hook in front_hooks:
            hook.started(site)
        if print is not None:
            print(f"======== Running on {site.name} (rtio) ========\n(Press CTRL+C to quit)")
        _freeze_startup_objects()
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        signals = (signal.SIGINT, signal.SIGTERM) if handle_signals else ()
        for sig in signals:
            loop.add_signal_handler(sig, stop.set)
        try:
            await stop.wait()
        finally:
            for sig in signals:
                loop.remove_signal_handler(sig)
        await drain_in_flight(app)  # while still listening: polling clients reach it
        if worker is not None:
            await worker.drained(app)  # the others' clients may reach them through this one
    finally:
        # stops the site (FrontSite.stop: idle connections closed), runs on_shutdown
        # (engines close their sessions), waits for aiohttp's handlers, runs on_cleanup
        await runner.cleanup()
        if worker is not None:
            await worker.close()
