"""rtio.bench: ``rtio bench``, a load tool speaking the real protocol to any Socket.IO v5
server (docs/BENCH.md).

    cli.py        the command line, the event loop, the report file, the exit status
    scenarios.py  echo, fanout, connect-storm, idle (the bench server contract's events)
    runner.py     parameters, counters, connecting many clients, the measured window
    load.py       the load clients on rtio's client layers (rtio.ws push mode +
                  rtio.client's Engine.IO core; rtio.client's EngineClient for polling)
    http_fetch.py the polling clients' HTTP/1.1: raw keep-alive connections, pooled
    stats.py      latency samples and percentiles (bounded)
    report.py     the JSON report (schema rtio-bench v1) and its check
    probe.py      CPU and RSS of a local process from /proc; who listens on a port
    progress.py   the progress display on stderr

Nothing else in rtio imports this package.
"""

from .report import SCHEMA, validate_report
from .stats import Samples, percentile

__all__ = ["SCHEMA", "Samples", "percentile", "validate_report"]
