"""Start ``rtio serve workers_app:sio --workers N`` on a free loopback port, as a real
process group (a supervisor and its workers), and stop it by its PID."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


class WorkersServer:
    """The supervisor process; ``log`` is its combined output (its workers' too)."""

    def __init__(self, workers: int, tmp: Path, *, app: str = "workers_app:sio",
                 port: int | None = None, env: dict[str, str] | None = None) -> None:  # fmt: skip
        self.workers = workers
        self.port = port or free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log_path = tmp / f"workers-{self.port}.log"
        self._log = self.log_path.open("wb")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "rtio", "serve", app, "--port", str(self.port),
             "--workers", str(workers), "--log-level", "info"],
            cwd=HERE, stdout=self._log, stderr=subprocess.STDOUT,
            env=None if env is None else {**os.environ, **env},
        )  # fmt: skip
        self._wait_ready()

    @property
    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def _wait_ready(self, timeout: float = 20.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"the server exited ({self.proc.returncode}):\n{self.log}")
            if self.log.count("started (pid") >= self.workers and "serving" in self.log:
                return
            time.sleep(0.05)
        raise RuntimeError(f"the server did not start within {timeout} s:\n{self.log}")

    def wait_log(self, text: str, count: int = 1, timeout: float = 15.0) -> None:
        deadline = time.monotonic() + timeout
        while self.log.count(text) < count:
            if time.monotonic() > deadline:
                raise AssertionError(f"{text!r} not logged {count}x in {timeout} s:\n{self.log}")
            time.sleep(0.05)

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 20.0) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
        try:
            code = self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            code = self.proc.wait()
        self._log.close()
        return code
