"""The scenarios in this process (rtio.bench.cli.run_bench and main, not a subprocess),
against benchmarks/server.py: the same sanity checks as the end-to-end tests, with the
load clients, runner and scenarios under coverage. About a second per test."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import pytest

from rtio.__main__ import main
from rtio.bench import validate_report
from rtio.bench.cli import run_bench
from rtio.bench.load import Target
from rtio.bench.runner import Params


async def bench(url: str, pid: int, scenario: str, transport: str = "websocket",
                **extra: Any) -> dict[str, Any]:
    params = Params(scenario=scenario, clients=extra.pop("clients", 10), transport=transport,
                    duration_s=1.0, warmup_s=0.2, settle_s=0.3, **extra)
    report = await run_bench(params, Target(url), pid, quiet=True, event_loop="asyncio")
    assert validate_report(report) == []
    assert report["summary"]["errors"] == 0, report["errors"]
    assert report["summary"]["operations"] > 0
    assert report["server"] is not None
    return report


@pytest.mark.parametrize("transport", ["websocket", "polling", "both"])
async def test_echo(server: tuple[str, int], transport: str) -> None:
    report = await bench(*server, "echo", transport)
    assert report["results"]["unanswered"] == 0
    assert report["summary"]["latency_ms"]["count"] == report["results"]["round_trips"]


async def test_echo_open_loop(server: tuple[str, int]) -> None:
    report = await bench(*server, "echo", rate=100.0)
    assert report["results"]["send_lag_ms"]["count"] > 0


@pytest.mark.parametrize("rate", [None, 20.0])
async def test_fanout(server: tuple[str, int], rate: float | None) -> None:
    report = await bench(*server, "fanout", rate=rate, burst=2)
    results = report["results"]
    assert results["joined"] == 10 and results["lost_deliveries"] == 0
    assert results["expected_deliveries"] == results["broadcasts"] * 20


@pytest.mark.parametrize("rate", [None, 50.0])
async def test_connect_storm(server: tuple[str, int], rate: float | None) -> None:
    report = await bench(*server, "connect-storm", clients=3, rate=rate)
    assert report["results"]["connects"] == report["summary"]["handshake_ms"]["count"]
    if rate is not None:
        assert report["results"]["attempts"] <= rate * 1.0 + 3


async def test_idle(server: tuple[str, int]) -> None:
    report = await bench(*server, "idle", clients=30)
    assert report["results"]["still_connected"] == 30


async def test_a_dropped_server_is_counted_not_raised() -> None:
    """Nothing listens: the clients' failures are counted, the run ends by itself."""
    params = Params(scenario="fanout", clients=3, transport="polling", duration_s=0.3,
                    connect_timeout_s=1.0, drain_timeout_s=0.2)
    report = await asyncio.wait_for(
        run_bench(params, Target("http://127.0.0.1:1"), None, quiet=True,
                  event_loop="asyncio"), 30)
    assert validate_report(report) == []
    assert report["errors"]["connect"] == {"refused": 4}  # 3 members and the emitter
    assert report["summary"]["operations"] == 0


def test_main_in_process(server: tuple[str, int], tmp_path: Path,
                         capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "r.json"
    code = main(["bench", server[0], "--clients", "5", "--duration", "0.5", "--warmup", "0",
                 "--loop", "asyncio", "--json", str(out)])
    assert code == 0
    assert validate_report(json.loads(out.read_text())) == []
    printed = capsys.readouterr()
    assert "echo over websocket" in printed.out and "latency ms" in printed.out
    assert "echo websocket" in printed.err  # plain progress lines: stderr is no TTY
