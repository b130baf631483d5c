"""Issue 16: ``sio.run()`` / ``rtio.run_app`` refuse unknown options at once, and a port in
use is one clear line and exit status 1, not a traceback."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from aiohttp import web

import rtio

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.parametrize("kwargs", [{"debugg": True}, {"client_max_size": 1}])
def test_unknown_keywords_are_a_type_error_at_once(kwargs: dict[str, object]) -> None:
    name = next(iter(kwargs))
    with socket.socket() as taken:  # a port in use: the old code fails there, never serves
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        with pytest.raises(TypeError, match=f"unexpected keyword argument '{name}'") as err:
            rtio.Server().run("127.0.0.1", port, **kwargs)
        assert "access_log" in str(err.value) and "shutdown_timeout" in str(err.value)
        with pytest.raises(TypeError, match=name):
            rtio.run_app(web.Application(), host="127.0.0.1", port=port, **kwargs)


@pytest.mark.parametrize("workers", [0, 65, "many", 2.5])
def test_a_bad_worker_count_is_a_value_error_at_once(workers: object) -> None:
    with pytest.raises(ValueError, match="workers must be"):
        rtio.run_app(web.Application(), host="127.0.0.1", port=1, workers=workers)  # type: ignore[arg-type]


def test_workers_and_tls_are_refused_at_once() -> None:
    import ssl

    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    with pytest.raises(ValueError, match="terminate TLS in a proxy"):
        rtio.run_app(web.Application(), host="127.0.0.1", port=1, ssl_context=context, workers=2)


def test_known_runner_keywords_are_accepted() -> None:
    from rtio.run import _check_runner_kwargs

    _check_runner_kwargs({"access_log": None, "access_log_format": "%a", "max_line_size": 9000})


def test_a_port_in_use_is_one_line_and_status_1(tmp_path: Path) -> None:
    script = tmp_path / "app.py"
    script.write_text(textwrap.dedent("""
        import sys
        import rtio
        sio = rtio.Server()
        sio.run("127.0.0.1", int(sys.argv[1]))
    """))
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        run = subprocess.run([sys.executable, str(script), str(port)], capture_output=True,
                             text=True, timeout=30, env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert run.returncode == 1
    assert "Traceback" not in run.stderr
    lines = run.stderr.strip().splitlines()
    assert len(lines) == 1, run.stderr
    assert lines[0].startswith(f"rtio: cannot serve on 127.0.0.1:{port}: ")
    assert "in use" in lines[0]
