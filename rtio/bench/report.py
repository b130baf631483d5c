"""The JSON report of a run, comparable across runs, and its schema check.

Schema ``rtio-bench`` version 1 (``"schema": {"name": "rtio-bench", "version": 1}``); a
change that renames or removes a key bumps the version, a new key does not:

    {
      "schema":   {"name": "rtio-bench", "version": 1},
      "tool":     {"name": "rtio bench", "version": rtio's, "python", "event_loop"},
      "machine":  {"hostname", "platform", "cpus", "cpu_model", "memory_bytes",
                   "loadavg_start": [1, 5, 15 min]},
      "started_at": ISO 8601 UTC, "elapsed_s": whole run,
      "target":   {"url", "path", "namespace", "server_pid", "server_probe"},
      "scenario": {"name", "params": {every Params field}},
      "summary":  {"operations", "throughput_per_s", "window_s", "connected",
                   "errors": total, "latency_ms": {count, min, mean, p50, p90, p99, max},
                   "handshake_ms": {same}},
      "results":  what the scenario reports (its own keys); with --rate also
                  "send_lag_ms" (how late the requests went out: the tool's own lag),
      "errors":   {phase: {cause: count}},
      "client":   {"cpu_pct", "rss_bytes"} (rtio bench itself),
      "server":   {"cpu_pct", "rss_start_bytes", "rss_end_bytes", "rss_peak_bytes"} or null,
      "notes":    [strings: client-bound, server not local, ...]
    }

``operations`` is what the scenario counts: echo round trips, fanout deliveries, connect
storm handshakes, idle connections. CPU figures are in % of one core.
"""

from __future__ import annotations

import contextlib
import datetime
import os
import platform
import socket
import sys
from pathlib import Path
from typing import Any

import rtio

from .probe import ProcessProbe
from .runner import Run

__all__ = ["SCHEMA", "build_report", "machine_info", "validate_report"]

SCHEMA = {"name": "rtio-bench", "version": 1}

_LATENCY_KEYS = ("count", "min", "mean", "p50", "p90", "p99", "max")
_TOP: dict[str, Any] = {
    "schema": dict, "tool": dict, "machine": dict, "started_at": str, "elapsed_s": float,
    "target": dict, "scenario": dict, "summary": dict, "results": dict, "errors": dict,
    "client": dict, "server": (dict, type(None)), "notes": list,
}
_SUMMARY: dict[str, Any] = {
    "operations": int, "throughput_per_s": float, "window_s": float, "connected": int,
    "errors": int, "latency_ms": dict, "handshake_ms": dict,
}


def machine_info() -> dict[str, Any]:
    cpu_model = None
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu_model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    memory = None
    with contextlib.suppress(ValueError, OSError, AttributeError):
        memory = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    try:
        loadavg: list[float] | None = [round(x, 2) for x in os.getloadavg()]
    except OSError:
        loadavg = None
    return {
        "hostname": socket.gethostname(),
        "platform": platform.platform(),
        "cpus": os.cpu_count(),
        "cpu_model": cpu_model,
        "memory_bytes": memory,
        "loadavg_start": loadavg,
    }


def _own_rss() -> int | None:
    reading = ProcessProbe(os.getpid()).read()
    return reading.rss_bytes if reading else None


def _pct(seconds: float, window: float) -> float:
    return round(100.0 * seconds / window, 1)


def build_report(
    run: Run,
    results: dict[str, Any],
    *,
    started_at: datetime.datetime,
    elapsed_s: float,
    machine: dict[str, Any],
    event_loop: str,
) -> dict[str, Any]:
    window = run.window
    seconds = window.seconds
    client_cpu = _pct(window.client_cpu_end - window.client_cpu_start, seconds)
    server: dict[str, Any] | None = None
    notes = list(run.notes)
    start, end = window.server_start, window.server_end
    if start is not None and end is not None:
        server = {
            "cpu_pct": _pct(end.cpu_s - start.cpu_s, seconds),
            "rss_start_bytes": start.rss_bytes,
            "rss_end_bytes": end.rss_bytes,
            "rss_peak_bytes": window.server_rss_peak,
        }
    if client_cpu >= 90.0:
        notes.append(
            f"client-bound: rtio bench used {client_cpu}% of a core; the server may do more"
        )
    throughput = results.get("throughput_per_s", round(run.ops / seconds, 3))
    return {
        "schema": dict(SCHEMA),
        "tool": {
            "name": "rtio bench",
            "version": rtio.__version__,
            "python": sys.version.split()[0],
            "event_loop": event_loop,
        },
        "machine": machine,
        "started_at": started_at.isoformat(timespec="seconds"),
        "elapsed_s": round(elapsed_s, 3),
        "target": {
            "url": run.target.url,
            "path": run.target.path,
            "namespace": run.target.namespace,
            "server_pid": run.server.pid if run.server else None,
            "server_probe": run.server is not None,
        },
        "scenario": {"name": run.params.scenario, "params": run.params.as_dict()},
        "summary": {
            "operations": run.ops,
            "throughput_per_s": float(throughput),
            "window_s": round(seconds, 3),
            "connected": int(results.get("connected", run.connected)),
            "errors": run.error_count,
            "latency_ms": run.latency.summary_ms(),
            "handshake_ms": run.handshake.summary_ms(),
        },
        "results": {**results, "send_lag_ms": run.send_lag.summary_ms()}
        if run.send_lag.count else results,
        "errors": {phase: dict(counts) for phase, counts in run.errors.items()},
        "client": {"cpu_pct": client_cpu, "rss_bytes": _own_rss()},
        "server": server,
        "notes": notes,
    }


def validate_report(report: Any) -> list[str]:
    """What is wrong with ``report`` against schema version 1 (empty: nothing)."""
    if not isinstance(report, dict):
        return ["the report is not an object"]
    problems = []
    for key, kind in _TOP.items():
        if key not in report:
            problems.append(f"missing {key}")
        elif not isinstance(report[key], kind):
            problems.append(f"{key} is a {type(report[key]).__name__}")
    if problems:
        return problems
    if report["schema"] != SCHEMA:
        problems.append(f"schema {report['schema']!r}, expected {SCHEMA!r}")
    summary = report["summary"]
    for key, kind in _SUMMARY.items():
        value = summary.get(key)
        if kind is float and isinstance(value, int) and not isinstance(value, bool):
            continue
        if not isinstance(value, kind):
            problems.append(f"summary.{key} is missing or not a {kind.__name__}")
    for key in ("latency_ms", "handshake_ms"):
        block = summary.get(key)
        if isinstance(block, dict):
            missing = [k for k in _LATENCY_KEYS if k not in block]
            if missing:
                problems.append(f"summary.{key} lacks {', '.join(missing)}")
            elif block["count"] and not (
                block["min"] <= block["p50"] <= block["p90"] <= block["p99"] <= block["max"]
            ):
                problems.append(f"summary.{key}: percentiles out of order")
    scenario = report["scenario"]
    if not isinstance(scenario.get("name"), str) or not isinstance(scenario.get("params"), dict):
        problems.append("scenario needs a name and params")
    for phase, counts in report["errors"].items():
        if not isinstance(counts, dict) or not all(
            isinstance(n, int) for n in counts.values()
        ):
            problems.append(f"errors.{phase} is not a map of counts")
    if not isinstance(report["tool"].get("version"), str):
        problems.append("tool.version is missing")
    return problems
