"""Regressions found while fuzzing rtio/http/parser.py (benchmarks/fuzz/fuzz_http.py;
reproducers in benchmarks/fuzz/findings/http/). Issue 12, fuzzing: only BadRequest may
leave the parser. A Content-Length over 4,300 digits used to raise ValueError from int()
(CPython's int max str digits), escaping data_received: no 400, the connection dropped and
an ERROR traceback per request; the parser now refuses more than 18 digits first."""

from __future__ import annotations

from pathlib import Path

import pytest

from rtio.http.parser import BadRequest, parse_head

FINDINGS = Path(__file__).resolve().parents[2] / "benchmarks" / "fuzz" / "findings" / "http"


def test_content_length_of_4301_digits_is_a_bad_request() -> None:
    request = (FINDINGS / "content-length-4301-digits.request").read_bytes()
    head = request[: request.index(b"\r\n\r\n")]
    with pytest.raises(BadRequest) as info:
        parse_head(head)
    assert info.value.status == 400
