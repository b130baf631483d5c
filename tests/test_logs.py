"""rtio/logs.py: the text and JSON formats, the repeat filter's window, and the ``rtio``
command's --log-format."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Iterator

import pytest

from rtio.__main__ import _parser
from rtio.logs import RepeatFilter, configure_logging


@pytest.fixture
def restore_root() -> Iterator[None]:
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    yield
    for handler in root.handlers[:]:
        root.removeHandler(handler)
    for handler in handlers:
        root.addHandler(handler)
    root.setLevel(level)


def test_json_lines(restore_root: None) -> None:
    out = io.StringIO()
    configure_logging("info", "json", stream=out, force=True)
    log = logging.getLogger("rtio.engine")
    log.info("client %s refused: %s", "abc", "bad origin")
    try:
        raise RuntimeError("boom")
    except RuntimeError:
        log.exception("handler failed")
    first, second = (json.loads(line) for line in out.getvalue().splitlines())
    assert first["level"] == "INFO"
    assert first["logger"] == "rtio.engine"
    assert first["message"] == "client abc refused: bad origin"
    assert first["time"].endswith("+00:00")
    assert second["message"] == "handler failed"
    assert "RuntimeError: boom" in second["exception"]


def test_text_lines_and_level(restore_root: None) -> None:
    out = io.StringIO()
    configure_logging("warning", "text", stream=out, force=True)
    logging.getLogger("rtio.ws").info("not shown")
    logging.getLogger("rtio.ws").warning("shown")
    assert out.getvalue().count("\n") == 1
    assert "WARNING rtio.ws: shown" in out.getvalue()


def test_an_application_setup_is_kept(restore_root: None) -> None:
    root = logging.getLogger()
    mine = logging.NullHandler()
    root.addHandler(mine)
    assert configure_logging("info", "json") is None
    assert mine in root.handlers


def test_unknown_format_is_refused() -> None:
    with pytest.raises(ValueError, match="text, json"):
        configure_logging("info", "xml")


def test_repeats_are_limited_per_template(monkeypatch: pytest.MonkeyPatch) -> None:
    clock = [100.0]
    monkeypatch.setattr("rtio.logs.time.monotonic", lambda: clock[0])
    gate = RepeatFilter(burst=3, interval=10.0)

    def record(msg: str, *args: object) -> logging.LogRecord:
        return logging.LogRecord("rtio.engine", logging.INFO, __file__, 1, msg, args, None)

    passed = [gate.filter(record("refused %s", i)) for i in range(50)]
    assert passed == [True] * 3 + [False] * 47
    assert gate.filter(record("another line")) is True  # its own template, its own window
    clock[0] += 10.0
    again = record("refused %s", "x")
    assert gate.filter(again) is True
    assert again.getMessage() == "refused x (47 similar lines suppressed in the last 10 s)"


def test_the_filter_tracks_a_bounded_number_of_templates() -> None:
    gate = RepeatFilter(burst=1, interval=60.0, max_keys=5)
    for i in range(100):
        gate.filter(logging.LogRecord("rtio", logging.INFO, __file__, 1, f"line {i}", (), None))
    assert len(gate._windows) == 5


def test_the_command_takes_log_format() -> None:
    args = _parser().parse_args(["demo", "--log-format", "json"])
    assert args.log_format == "json"
    with pytest.raises(SystemExit):
        _parser().parse_args(["demo", "--log-format", "xml"])
