"""The ``rtio`` command: --help, ``rtio serve module:object`` for every kind of object it
accepts, its errors, and ``rtio demo`` as a process (URL printed, connections and
disconnections logged, stopped by SIGTERM)."""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import aiohttp
import pytest
import socketio
from aiohttp import web

from rtio.__main__ import UsageError, load_app, main

ROOT = Path(__file__).resolve().parents[2]

USER_MODULE = '''
import rtio
from aiohttp import web

sio = rtio.Server()

@sio.on("echo")
async def echo(socket, text):
    return f"echo: {text}"

async def health(request):
    return web.Response(text="ok")

def make_app():
    app = web.Application()
    app.router.add_get("/health", health)
    sio.attach(app)
    return app

async def make_server():
    return sio

def make_nothing():
    return 42

number = 7
'''


@pytest.fixture
def user_module(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """A module of the user's in the current directory; its name, unique per test."""
    name = f"myapp_{tmp_path.name.replace('-', '_')}"
    (tmp_path / f"{name}.py").write_text(USER_MODULE)
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(sys, "path", list(sys.path))
    yield name
    sys.modules.pop(name, None)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


# ---------------------------------------------------------------- in-process


def test_help_explains_both_commands(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_:
        main(["--help"])
    assert exit_.value.code == 0
    out = capsys.readouterr().out
    for text in ("rtio demo", "rtio serve myapp:sio", "rtio.Server", "--log-level debug"):
        assert text in out
    for command in ("demo", "serve"):
        with pytest.raises(SystemExit):
            main([command, "--help"])
        out = capsys.readouterr().out
        assert "--host" in out and "--port" in out and "--log-level" in out


def test_a_command_is_required(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_:
        main([])
    assert exit_.value.code == 2
    assert "COMMAND" in capsys.readouterr().err


@pytest.mark.parametrize(("target", "error"), [
    ("myapp", "expected MODULE:OBJECT"),
    (":sio", "expected MODULE:OBJECT"),
    ("no_such_module_here:sio", "no module named 'no_such_module_here'"),
    ("{mod}:nope", "has no 'nope'"),
    ("{mod}:number", "is a int, not an rtio.Server or an aiohttp.web.Application"),
])
def test_serve_says_what_is_wrong(
    user_module: str, capsys: pytest.CaptureFixture[str], target: str, error: str
) -> None:
    assert main(["serve", target.format(mod=user_module)]) == 2
    assert error in capsys.readouterr().err


def test_load_app_takes_a_server_an_app_or_a_factory(user_module: str) -> None:
    assert isinstance(load_app(f"{user_module}:sio"), web.Application)
    factory = load_app(f"{user_module}:make_app")
    assert callable(factory) and not isinstance(factory, web.Application)
    made = asyncio.run(factory())
    assert any(r.resource is not None and r.resource.canonical == "/health"
               for r in made.router.routes())
    assert isinstance(asyncio.run(load_app(f"{user_module}:make_server")()), web.Application)
    with pytest.raises(UsageError, match="is a int"):
        asyncio.run(load_app(f"{user_module}:make_nothing")())


# ---------------------------------------------------------------- as a process


class Process:
    """``python -m rtio ...`` on a free port, its output collected."""

    def __init__(self, *args: str, cwd: Path, env: dict[str, str] | None = None) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "rtio", *args, "--port", str(self.port)],
            cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
            env={**os.environ, "PYTHONPATH": str(ROOT), **(env or {})},
        )
        assert self.proc.stdout is not None
        self.early = ""  # what it logged before the banner (asyncio's debug lines)
        line = ""  # stays empty if it exits first
        for line in self.proc.stdout:
            if line.startswith("rtio "):
                break
            self.early += line
        self.banner = line  # printed once the port is open

    def stop(self) -> str:
        """SIGTERM, then everything it wrote."""
        self.proc.send_signal(signal.SIGTERM)
        out, _ = self.proc.communicate(timeout=15)
        return self.early + out


async def test_serve_runs_a_users_server(user_module: str, tmp_path: Path) -> None:
    server = Process("serve", f"{user_module}:make_app", cwd=tmp_path)
    try:
        assert server.banner == f"rtio serving {user_module}:make_app on {server.url}/  " \
                                "(Ctrl+C to stop)\n"
        client = socketio.AsyncClient(reconnection=False)
        await client.connect(server.url, transports=["polling"], wait_timeout=5)
        assert await client.call("echo", "hi", timeout=5) == "echo: hi"
        await client.disconnect()
        async with aiohttp.ClientSession() as http, http.get(server.url + "/health") as r:
            assert await r.text() == "ok"
            assert "aiohttp" in r.headers["Server"]
        # the Engine.IO path is answered by rtio's own front (rtio.run_app), which sends
        # no Server header; aiohttp answers the other routes (a new connection: one that
        # began with an aiohttp route stays aiohttp's)
        async with aiohttp.ClientSession() as http, \
                http.get(server.url + "/socket.io/?EIO=4&transport=polling") as r:
            assert r.status == 200 and (await r.text()).startswith('0{"sid":')
            assert "Server" not in r.headers
    finally:
        server.stop()
    assert server.proc.returncode == 0


def test_serve_reports_a_port_in_use(user_module: str, tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        run = subprocess.run(
            [sys.executable, "-m", "rtio", "serve", f"{user_module}:sio", "--port", str(port)],
            cwd=tmp_path, capture_output=True, text=True, timeout=30,
            env={**os.environ, "PYTHONPATH": str(ROOT)},
        )
    assert run.returncode == 1
    assert f"rtio: cannot serve on 127.0.0.1:{port}" in run.stderr


async def test_demo_serves_the_chat_and_logs_who_comes_and_goes(
    bundle: Path, tmp_path: Path
) -> None:
    demo = Process("demo", cwd=tmp_path, env={"RTIO_DEMO_DIST": str(bundle)})
    try:
        assert demo.banner == f"rtio chat demo on {demo.url}/  (Ctrl+C to stop)\n"
        async with aiohttp.ClientSession() as http, http.get(demo.url + "/") as response:
            assert "rtio chat" in await response.text()
        client = socketio.AsyncClient(reconnection=False)
        await client.connect(demo.url, auth={"name": "alice"}, transports=["websocket"],
                             wait_timeout=5)
        sid = client.get_sid("/")
        assert (await client.call("join", {"room": "lobby"}, timeout=5))["ok"]
        await client.disconnect()
        await asyncio.sleep(0.3)
    finally:
        log = demo.stop()
    assert demo.proc.returncode == 0
    assert f"INFO    rtio.demo: alice connected (socket {sid} from 127.0.0.1)" in log
    # python-socketio sends its DISCONNECT and closes at once: either reason may win
    assert f"INFO    rtio.demo: alice disconnected (socket {sid}): " in log
    assert "aiohttp.access" not in log  # HTTP requests only at --log-level debug


async def test_debug_logging_adds_every_http_request(bundle: Path, tmp_path: Path) -> None:
    demo = Process("demo", "--log-level", "debug", cwd=tmp_path,
                   env={"RTIO_DEMO_DIST": str(bundle)})
    try:
        async with aiohttp.ClientSession() as http, http.get(demo.url + "/") as response:
            assert response.status == 200
        await asyncio.sleep(0.2)
    finally:
        log = demo.stop()
    assert 'INFO    aiohttp.access: 127.0.0.1 [' in log
    assert '"GET / HTTP/1.1" 200' in log


async def test_serve_runs_on_the_loop_asked_for(user_module: str, tmp_path: Path) -> None:
    pytest.importorskip("uvloop")
    for loop in ("uvloop", "asyncio"):
        server = Process("serve", f"{user_module}:sio", "--loop", loop, "--log-level", "debug",
                         cwd=tmp_path)  # fmt: skip
        try:
            client = socketio.AsyncClient(reconnection=False)
            await client.connect(server.url, transports=["websocket"], wait_timeout=5)
            assert await client.call("echo", "hi", timeout=5) == "echo: hi"
            await client.disconnect()
        finally:
            log = server.stop()
        assert server.proc.returncode == 0
        assert f"event loop: {loop}" in log


def test_version_says_which_masking_code_runs(capsys: pytest.CaptureFixture[str]) -> None:
    """Issue 16: `rtio --version` names the C speedup or the pure-Python fallback."""
    with pytest.raises(SystemExit) as exit_:
        main(["--version"])
    assert exit_.value.code == 0
    out = capsys.readouterr().out
    assert out.startswith("rtio ")
    assert "C speedup" in out or "pure Python" in out


def test_an_installed_package_serves_its_packaged_bundle(tmp_path: Path) -> None:
    """Issue 16: without a checkout (no clients/js-demo beside the package), find_bundle
    serves the browser app shipped as package data (rtio/demo/static), and says what to do
    when that is missing too."""
    from rtio.demo import BundleNotFound, find_bundle

    no_checkout = tmp_path / "clients" / "js-demo"
    packaged = tmp_path / "static"
    with pytest.raises(BundleNotFound, match=r"scripts/build-wheels\.sh"):
        find_bundle(no_checkout, packaged)
    packaged.mkdir()
    (packaged / "index.html").write_text("<!doctype html>")
    assert find_bundle(no_checkout, packaged) == packaged
