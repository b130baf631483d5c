"""The ``rtio`` command: ``rtio demo`` serves the chat demo, ``rtio serve module:object``
serves yours. ``rtio --help`` says the rest.

Owns argument parsing, logging setup, and turning what ``serve`` is given (an
:class:`rtio.Server`, an aiohttp application, or a function returning one) into an aiohttp
application run by ``rtio.run_app`` (rtio's HTTP/1.1 front for the Engine.IO path,
aiohttp for the rest). Knows nothing of the protocols.
"""

from __future__ import annotations

import argparse
import importlib
import inspect
import logging
import os
import sys
from collections.abc import Callable, Sequence
from typing import Any

from aiohttp import web

import rtio
from rtio import loops
from rtio.logs import FORMATS, configure_logging

__all__ = ["load_app", "main"]

log = logging.getLogger("rtio")

LOG_LEVELS = ("debug", "info", "warning", "error")

DESCRIPTION = """\
rtio: a Socket.IO v5 server for Python, on aiohttp.

  rtio demo                  the chat demo, in memory, on http://127.0.0.1:8000/
  rtio bench URL             load a Socket.IO server (any: rtio, Node, python-socketio)
                             and report latency, throughput and the server's CPU/memory
  rtio serve myapp:sio       serve the object `sio` of the module `myapp` (from the
                             current directory): an rtio.Server (mounted at /socket.io/),
                             an aiohttp.web.Application, or a function (async or not)
                             returning either

demo and serve take --host, --port, --log-level and --log-format; `rtio COMMAND --help` for details.
At the default level (info) the log shows connections, disconnections and errors;
`--log-level debug` adds every HTTP request.
"""


def speedup() -> str:
    """Which WebSocket masking code this installation runs: the optional C accelerator
    ``rtio.ws._speedups`` (built when a C compiler was there at install time) or the pure
    Python fallback."""
    try:
        importlib.import_module("rtio.ws._speedups")
    except ImportError:
        return "pure Python (no C speedup: rtio.ws._speedups was not built)"
    return "C speedup (rtio.ws._speedups)"


class UsageError(Exception):
    """What the user asked for cannot be served; the message says why."""


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="rtio", description=DESCRIPTION, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    version = f"rtio {rtio.__version__}, {speedup()}, Python {sys.version.split()[0]}"
    parser.add_argument("--version", action="version", version=version)
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)

    def add_serving_options(command: argparse.ArgumentParser) -> None:
        command.add_argument("--host", default="127.0.0.1",
                             help="address to listen on (default: %(default)s; 0.0.0.0 for all)")
        command.add_argument("--port", type=int, default=8000,
                             help="port to listen on (default: %(default)s)")
        command.add_argument("--workers", default="1", metavar="N",
                             help="worker processes serving the port, no sticky sessions "
                                  "needed (a number, or 'auto': one per CPU; default: 1)")
        command.add_argument("--loop", choices=loops.LOOPS, default="auto",
                             help="the event loop: auto is uvloop when it is installed (it is "
                                  "a dependency on Linux) and the app set no loop policy, "
                                  "else asyncio's (default: %(default)s)")
        command.add_argument("--log-level", choices=LOG_LEVELS, default="info",
                             help="info: connections, disconnections, errors; debug: also "
                                  "every HTTP request (default: %(default)s)")
        command.add_argument("--log-format", choices=FORMATS, default="text",
                             help="text for a terminal, json for log shippers: one object a "
                                  "line (default: %(default)s)")

    demo = commands.add_parser(
        "demo", help="run the chat demo",
        description="Serve the chat demo (rtio/demo/chat.py and its browser app) in memory, "
                    "no other service needed. The browser app is built with npm on first use.",
    )
    add_serving_options(demo)

    serve = commands.add_parser(
        "serve", help="serve your rtio.Server or aiohttp app",
        description="Serve OBJECT of MODULE, imported from the current directory: an "
                    "rtio.Server (mounted at its path, /socket.io/ by default), an "
                    "aiohttp.web.Application, or a function (async or not) returning either.",
    )
    serve.add_argument("target", metavar="MODULE:OBJECT", help="e.g. myapp:sio or myapp:make_app")
    add_serving_options(serve)

    from rtio.bench.cli import add_parser as add_bench  # rtio bench: the load tool

    add_bench(commands)
    return parser


def _as_app(obj: object, target: str) -> web.Application:
    if isinstance(obj, web.Application):
        return obj
    if isinstance(obj, rtio.Server):
        return obj.make_app()
    raise UsageError(f"{target} is a {type(obj).__name__}, "
                     "not an rtio.Server or an aiohttp.web.Application")


def load_app(target: str) -> web.Application | Callable[[], Any]:
    """What ``rtio serve target`` runs: an application, or a coroutine function making one.

    Raises :class:`UsageError` when ``target`` is not ``module:object`` or names nothing
    servable.
    """
    module_name, _, attr = target.partition(":")
    if not module_name or not attr:
        raise UsageError(f"expected MODULE:OBJECT (like myapp:sio), got {target!r}")
    if os.getcwd() not in sys.path:
        sys.path.insert(0, os.getcwd())
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError as exc:
        if exc.name and module_name.startswith(exc.name):
            raise UsageError(f"no module named {module_name!r} here ({os.getcwd()})") from exc
        raise
    obj: Any = module
    for name in attr.split("."):
        try:
            obj = getattr(obj, name)
        except AttributeError as exc:
            raise UsageError(f"module {module_name!r} has no {attr!r}") from exc
    if isinstance(obj, (web.Application, rtio.Server)) or not callable(obj):
        return _as_app(obj, target)
    factory = obj

    async def make_app() -> web.Application:  # called in the server's event loop
        made = factory()
        if inspect.isawaitable(made):
            made = await made
        return _as_app(made, target)

    return make_app


def _setup_logging(level: str, fmt: str = "text") -> None:
    configure_logging(level, fmt)  # (rtio/logs.py: repeats of a line are rate-limited)


def _run(app: web.Application | Callable[[], Any], host: str, port: int, level: str,
         banner: str, workers: int = 1, loop: str = "auto") -> None:
    def announce(_front_banner: str) -> None:  # called once the port is open
        where = f"http://{host if host not in ('0.0.0.0', '::') else '127.0.0.1'}:{port}/"
        print(f"{banner} on {where}  (Ctrl+C to stop)", flush=True)

    # rtio's HTTP/1.1 front answers the Engine.IO path, aiohttp the app's other routes
    rtio.run_app(
        app() if callable(app) and not isinstance(app, web.Application) else app,
        host=host,
        port=port,
        print=announce,
        access_log=logging.getLogger("aiohttp.access") if level == "debug" else None,
        shutdown_timeout=5.0,
        handle_signals=True,
        workers=workers,
        loop=loop,
    )


def main(argv: Sequence[str] | None = None) -> int:
    """The ``rtio`` console script."""
    args = _parser().parse_args(argv)
    if args.command == "bench":
        from rtio.bench.cli import main as bench_main

        logging.basicConfig(level=logging.ERROR, format="%(levelname)s %(name)s: %(message)s")
        return bench_main(args)
    _setup_logging(args.log_level, args.log_format)
    log.debug("rtio %s: %s", rtio.__version__, speedup())
    try:
        if args.command == "demo":
            from rtio.demo import BundleNotFound
            from rtio.demo.chat import create_app

            try:
                app: web.Application | Callable[[], Any] = create_app()
            except BundleNotFound as exc:
                raise UsageError(f"the demo's browser app is missing: {exc}") from exc
            banner = "rtio chat demo"
        else:
            app = load_app(args.target)
            banner = f"rtio serving {args.target}"
        from rtio.workers import WorkerCountError, resolve_workers

        try:
            workers = resolve_workers(args.workers)
        except WorkerCountError as exc:
            raise UsageError(f"--workers: {exc}") from exc
        if workers > 1:
            banner += f" with {workers} workers"
        _run(app, args.host, args.port, args.log_level, banner, workers, args.loop)
    except UsageError as exc:
        print(f"rtio: {exc}", file=sys.stderr)
        return 2
    except loops.LoopUnavailable as exc:  # --loop uvloop without uvloop
        print(f"rtio: --loop: {exc}", file=sys.stderr)
        return 2
    except ValueError as exc:  # rtio.workers.WorkersUnsupported: several workers cannot
        if type(exc).__name__ != "WorkersUnsupported":
            raise
        print(f"rtio: {exc}", file=sys.stderr)
        return 2
    except OSError as exc:  # the port is taken, the address is not ours, ...
        print(f"rtio: cannot serve on {args.host}:{args.port}: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
