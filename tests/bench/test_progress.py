"""rtio.bench.progress: one line rewritten in place on a terminal, plain lines otherwise."""

from __future__ import annotations

import io

from rtio.bench.load import Target
from rtio.bench.progress import Progress
from rtio.bench.runner import Params, Run


def make_run() -> Run:
    params = Params(scenario="echo", clients=3, transport="polling", duration_s=5.0)
    run = Run(params, Target("http://127.0.0.1:5000"))
    run.connected = 2
    run.ops = 10
    run.latency.extend([0.001, 0.003])
    run.error("run", "bad ack")
    return run


async def test_plain_lines_when_not_a_terminal() -> None:
    stream = io.StringIO()
    progress = Progress(make_run(), stream, tick=0.01, plain_every=0.01)
    assert not progress.interactive  # a StringIO is no TTY
    progress.start()
    await progress.stop()
    text = stream.getvalue()
    assert "\r" not in text and text.endswith("\n")
    assert "echo polling connecting" in text and "clients 2/3" in text
    assert "ops 10" in text and "mean 2.00ms" in text and "errors 1" in text


async def test_one_line_in_place_on_a_terminal() -> None:
    stream = io.StringIO()
    run = make_run()
    progress = Progress(run, stream, interactive=True)
    progress.start()
    run.ops = 20
    progress.show()  # a tick, without waiting for one
    await progress.stop()
    text = stream.getvalue()
    assert text.count("\r") == 2 and text.count("\n") == 1 and text.endswith("\n")
    assert "ops 20" in text
