"""rtio.bench.report: the JSON report (schema rtio-bench v1) built from a run's counters,
and the schema check that every consumer (the tests, the stage) relies on."""

from __future__ import annotations

import copy
import datetime
import json
from typing import Any

import pytest

import rtio
from rtio.bench import SCHEMA, validate_report
from rtio.bench.load import Target
from rtio.bench.probe import Reading
from rtio.bench.report import build_report, machine_info
from rtio.bench.runner import Params, Run

STARTED = datetime.datetime(2026, 12, 5, 8, 0, 0, tzinfo=datetime.timezone.utc)


async def make_report(**results: Any) -> dict[str, Any]:
    params = Params(scenario="echo", clients=10, transport="websocket", duration_s=2.0)
    run = Run(params, Target("http://127.0.0.1:5000"))
    run.latency.extend([0.001, 0.002, 0.003, 0.004])
    run.handshake.extend([0.010, 0.020])
    run.ops = 4
    run.connected = 2
    run.error("connect", "refused", 3)
    run.error("run", "bad ack")
    window = run.window
    window.started, window.ended = 100.0, 102.0
    window.client_cpu_start, window.client_cpu_end = 1.0, 1.5
    window.server_start = Reading(cpu_s=10.0, rss_bytes=50_000_000)
    window.server_end = Reading(cpu_s=11.0, rss_bytes=52_000_000)
    window.server_rss_peak = 53_000_000
    return build_report(run, {"connected": 2, "throughput_per_s": 2.0, **results},
                        started_at=STARTED, elapsed_s=3.25, machine=machine_info(),
                        event_loop="asyncio")


async def test_a_report_has_every_figure_and_passes_its_schema() -> None:
    report = await make_report()
    assert validate_report(report) == []
    assert report["schema"] == SCHEMA == {"name": "rtio-bench", "version": 1}
    assert report["tool"]["version"] == rtio.__version__
    assert report["started_at"] == "2026-12-05T08:00:00+00:00"
    assert report["scenario"]["params"]["clients"] == 10
    assert report["scenario"]["params"]["transport"] == "websocket"
    summary = report["summary"]
    assert summary["operations"] == 4 and summary["throughput_per_s"] == 2.0
    assert summary["window_s"] == 2.0 and summary["errors"] == 4
    assert summary["latency_ms"] == {"count": 4, "min": 1.0, "mean": 2.5, "p50": 2.0,
                                     "p90": 4.0, "p99": 4.0, "max": 4.0}
    assert summary["handshake_ms"]["p50"] == 10.0
    assert report["errors"] == {"connect": {"refused": 3}, "run": {"bad ack": 1}}
    assert report["client"]["cpu_pct"] == 25.0 and report["client"]["rss_bytes"] > 0
    assert report["server"] == {"cpu_pct": 50.0, "rss_start_bytes": 50_000_000,
                                "rss_end_bytes": 52_000_000, "rss_peak_bytes": 53_000_000}
    assert report["machine"]["cpus"] >= 1
    # it is JSON, and stays valid through a round trip
    assert validate_report(json.loads(json.dumps(report))) == []


async def test_a_client_bound_run_says_so() -> None:
    params = Params(scenario="echo", clients=1, transport="websocket", duration_s=1.0)
    run = Run(params, Target("http://127.0.0.1:5000"))
    run.window.started, run.window.ended = 0.0, 1.0
    run.window.client_cpu_end = 0.95
    report = build_report(run, {}, started_at=STARTED, elapsed_s=1.0,
                          machine=machine_info(), event_loop="uvloop")
    assert validate_report(report) == []
    assert report["server"] is None
    assert any(note.startswith("client-bound") for note in report["notes"])
    assert report["summary"]["latency_ms"]["count"] == 0


@pytest.mark.parametrize(("breakage", "problem"), [
    (lambda r: r.pop("summary"), "missing summary"),
    (lambda r: r.update(schema={"name": "rtio-bench", "version": 2}), "schema"),
    (lambda r: r["summary"].pop("operations"), "summary.operations"),
    (lambda r: r["summary"].update(throughput_per_s="fast"), "summary.throughput_per_s"),
    (lambda r: r["summary"]["latency_ms"].pop("p99"), "lacks p99"),
    (lambda r: r["summary"]["latency_ms"].update(p50=99.0), "out of order"),
    (lambda r: r["errors"].update(run={"x": "many"}), "errors.run"),
    (lambda r: r["scenario"].pop("params"), "scenario needs"),
    (lambda r: r["tool"].pop("version"), "tool.version"),
    (lambda r: r.update(server=[]), "server is a list"),
])
async def test_the_schema_check_names_what_is_wrong(breakage: Any, problem: str) -> None:
    report = copy.deepcopy(await make_report())
    breakage(report)
    problems = validate_report(report)
    assert any(problem in p for p in problems), problems


def test_not_an_object() -> None:
    assert validate_report([]) == ["the report is not an object"]
