"""``rtio bench`` end to end: the command, run for about a second per scenario against
benchmarks/server.py (rtio on the bench server contract) on a free loopback port; the
report's numbers must be sane (valid schema, no errors, counts above zero, ordered
percentiles, the server's CPU and RSS read from /proc). No timing is asserted."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from rtio.__main__ import main
from rtio.bench import validate_report

from .conftest import ROOT, free_port


def bench(tmp_path: Path, *args: str) -> tuple[int, dict[str, Any] | None, str]:
    out = tmp_path / "report.json"
    done = subprocess.run(
        [sys.executable, "-m", "rtio", "bench", *args, "--json", str(out)],
        capture_output=True, text=True, timeout=90, cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )
    report = json.loads(out.read_text()) if out.exists() else None
    return done.returncode, report, done.stdout + done.stderr


def check_sane(report: dict[str, Any] | None, output: str, server_pid: int) -> dict[str, Any]:
    assert report is not None, output
    assert validate_report(report) == [], output
    summary = report["summary"]
    assert summary["errors"] == 0, (report["errors"], output)
    assert summary["operations"] > 0, output
    assert report["target"]["server_pid"] == server_pid  # found from the listening port
    server = report["server"]
    assert server is not None and server["rss_end_bytes"] > 1_000_000
    assert server["cpu_pct"] >= 0
    hs = summary["handshake_ms"]
    assert hs["count"] > 0 and 0 < hs["p50"] <= hs["p99"] <= hs["max"]
    return report


# (the other transports and --rate run in process: test_scenarios.py)
@pytest.mark.parametrize(("transport", "scenario", "extra"), [
    ("websocket", "echo", []),
    ("both", "fanout", ["--burst", "2"]),
    ("polling", "echo", ["--rate", "200"]),
])
def test_echo_and_fanout(tmp_path: Path, server: tuple[str, int], transport: str,
                         scenario: str, extra: list[str]) -> None:
    url, pid = server
    code, report, output = bench(
        tmp_path, url, "--scenario", scenario, "--transport", transport, "--clients", "20",
        "--duration", "1.5", "--warmup", "0.3", *extra,
    )
    assert code == 0, output
    report = check_sane(report, output, pid)
    summary, results = report["summary"], report["results"]
    assert summary["connected"] == 20
    lat = summary["latency_ms"]
    assert lat["count"] > 0 and 0 < lat["p50"] <= lat["p90"] <= lat["p99"] <= lat["max"]
    assert summary["throughput_per_s"] > 0
    if "--rate" in extra:  # open loop: how late the requests went out
        assert results["send_lag_ms"]["count"] >= summary["operations"]
        assert summary["throughput_per_s"] <= 200 * 1.5
    if scenario == "echo":
        assert results["round_trips"] == summary["operations"]
        assert results["unanswered"] == 0
    else:
        assert results["joined"] == 20 and results["broadcasts"] > 0
        assert results["lost_deliveries"] == 0
        assert results["expected_deliveries"] == results["broadcasts"] * 20 * (
            2 if "--burst" in extra else 1)
    assert f"{scenario} {transport}" in output  # the plain progress lines (not a TTY)


def test_connect_storm(tmp_path: Path, server: tuple[str, int]) -> None:
    url, pid = server
    code, report, output = bench(tmp_path, url, "--scenario", "connect-storm",
                                 "--clients", "5", "--duration", "1.5")
    assert code == 0, output
    report = check_sane(report, output, pid)
    results = report["results"]
    assert results["connects"] == report["summary"]["operations"] > 5  # reconnected
    assert results["failed"] == 0
    assert report["summary"]["handshake_ms"]["count"] == results["connects"]


def test_idle(tmp_path: Path, server: tuple[str, int]) -> None:
    url, pid = server
    code, report, output = bench(tmp_path, url, "--scenario", "idle", "--clients", "50",
                                 "--duration", "1.5", "--settle", "0.5")
    assert code == 0, output
    report = check_sane(report, output, pid)
    results = report["results"]
    assert results["connected"] == results["still_connected"] == 50
    assert results["server_rss_after_bytes"] > 0
    assert isinstance(results["server_bytes_per_connection"], int)


def test_nothing_listening_is_a_failure_by_cause(tmp_path: Path) -> None:
    code, report, output = bench(tmp_path, f"http://127.0.0.1:{free_port()}",
                                 "--clients", "3", "--duration", "0.5", "--warmup", "0")
    assert code == 1, output
    assert report is not None and validate_report(report) == []
    assert report["errors"] == {"connect": {"refused": 3}}
    assert report["server"] is None and report["summary"]["operations"] == 0


def test_bad_arguments(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["bench", "ftp://127.0.0.1:1", "--duration", "1"]) == 2
    assert "not an http" in capsys.readouterr().err
    with pytest.raises(SystemExit) as exit_:
        main(["bench", "http://127.0.0.1:1", "--clients", "0"])
    assert exit_.value.code == 2 and "at least 1" in capsys.readouterr().err
    missing = tmp_path / "no" / "such" / "dir.json"
    assert main(["bench", "http://127.0.0.1:1", "--json", str(missing)]) == 2
    assert "cannot write the report" in capsys.readouterr().err


def test_help_names_the_contract(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_:
        main(["bench", "--help"])
    assert exit_.value.code == 0
    out = capsys.readouterr().out
    for text in ("bench server contract", "echo(*args)", "join(room)",
                 "bcast(room, count, data)", "benchmarks/server.py", "--server-pid"):
        assert text in out


ADMISSION_APP = """
import rtio
from rtio.engine import EngineOptions
# handshake_wait=0: refused at once (by default one over the rate waits up to 2 s first)
options = EngineOptions(path="/socket.io/", max_handshake_rate=5.0, handshake_wait=0)
sio = rtio.Server(engine_options=options)
"""


@pytest.mark.parametrize("transport", ["websocket", "polling"])
def test_a_storm_refused_by_admission_control_is_counted_by_cause(
    tmp_path: Path, transport: str
) -> None:
    """rtio's admission control (at most 5 handshakes/s, no wait) answers the rest 503: the report
    counts them as ``http 503`` and the admitted ones as connects."""
    (tmp_path / "admission_app.py").write_text(ADMISSION_APP)
    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "rtio", "serve", "admission_app:sio", "--port", str(port),
         "--log-level", "error"],
        cwd=tmp_path, env={**os.environ, "PYTHONPATH": str(ROOT)},
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                assert proc.poll() is None and time.monotonic() < deadline, "no server"
                time.sleep(0.1)
        code, report, output = bench(
            tmp_path, f"http://127.0.0.1:{port}", "--scenario", "connect-storm",
            "--transport", transport, "--clients", "5", "--duration", "1.5",
        )
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(5)
    assert code == 0, output
    assert report is not None and validate_report(report) == []
    refused = report["errors"]["connect"].get("http 503", 0)
    assert refused > 0, report["errors"]
    assert report["results"]["connects"] > 0
    assert report["results"]["failed"] == sum(report["errors"]["connect"].values())
