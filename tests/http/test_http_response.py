"""rtio.http.response: a response as the bytes of one write, its caches (the constant
prefix, the Date line), and the plain-text refusals."""

from __future__ import annotations

import pytest

from rtio.http import response
from rtio.http.response import CONTINUE, MAX_PREFIXES, serialize_response, text_response


def test_serialize_response_reuses_the_constant_part_and_refuses_cr_lf() -> None:
    headers = {"Content-Type": "text/plain; charset=UTF-8", "Access-Control-Allow-Origin": "*"}
    first = serialize_response(200, dict(headers), b"4hi", keep_alive=True)
    again = serialize_response(200, dict(headers), b"4hello", keep_alive=True)
    for data, body in ((first, b"4hi"), (again, b"4hello")):
        head, _, rest = data.partition(b"\r\n\r\n")
        lines = head.split(b"\r\n")
        assert lines[0] == b"HTTP/1.1 200 OK" and rest == body
        assert b"Access-Control-Allow-Origin: *" in lines
        assert f"Content-Length: {len(body)}".encode() in lines
        assert any(line.startswith(b"Date: ") for line in lines)
    closing = serialize_response(200, dict(headers), b"", keep_alive=False, head_only=True)
    assert b"\r\nConnection: close\r\n" in closing and closing.endswith(b"\r\n\r\n")
    http10 = serialize_response(404, {}, b"x", keep_alive=True, http10=True)
    assert http10.startswith(b"HTTP/1.1 404 Not Found\r\n")
    assert b"\r\nConnection: keep-alive\r\n" in http10
    # a CR or LF in a name or value would split the response: refused every time
    for bad in ({"X-A": "1\r\nSet-Cookie: x=1"}, {"X-A\n": "1"}, {"X-A": "1\r"}):
        for _ in range(2):
            with pytest.raises(ValueError, match="CR or LF"):
                serialize_response(200, bad, b"", keep_alive=True)



def test_bytes_on_the_wire(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(response, "_time", lambda: 784111777.5)
    assert serialize_response(200, {"X-A": "1"}, b"hello", keep_alive=True) == (
        b"HTTP/1.1 200 OK\r\nX-A: 1\r\nDate: Sun, 06 Nov 1994 08:49:37 GMT\r\n"
        b"Content-Length: 5\r\n\r\nhello"
    )
    # HEAD: the length of the body, not the body
    assert serialize_response(200, {}, b"hello", keep_alive=True, head_only=True) == (
        b"HTTP/1.1 200 OK\r\nDate: Sun, 06 Nov 1994 08:49:37 GMT\r\nContent-Length: 5\r\n\r\n"
    )
    assert text_response(408, "too slow") == (
        b"HTTP/1.1 408 Request Timeout\r\nContent-Type: text/plain; charset=utf-8\r\n"
        b"Connection: close\r\nDate: Sun, 06 Nov 1994 08:49:37 GMT\r\n"
        b"Content-Length: 9\r\n\r\ntoo slow\n"
    )
    assert CONTINUE == b"HTTP/1.1 100 Continue\r\n\r\n"


def test_the_date_line_changes_with_the_second(monkeypatch: pytest.MonkeyPatch) -> None:
    now = [784111777.0]
    monkeypatch.setattr(response, "_time", lambda: now[0])
    first = serialize_response(204, {}, b"", keep_alive=True)
    now[0] += 0.9
    assert serialize_response(204, {}, b"", keep_alive=True) == first
    now[0] += 0.2
    later = serialize_response(204, {}, b"", keep_alive=True)
    assert b"Date: Sun, 06 Nov 1994 08:49:38 GMT\r\n" in later


def test_an_unknown_status_has_a_reason_and_the_prefix_cache_is_bounded() -> None:
    assert serialize_response(599, {}, b"", keep_alive=True).startswith(
        b"HTTP/1.1 599 Unknown\r\n"
    )
    for n in range(MAX_PREFIXES + 5):
        data = serialize_response(200, {"Set-Cookie": f"io={n}"}, b"", keep_alive=True)
        assert f"\r\nSet-Cookie: io={n}\r\n".encode() in data
    assert len(response._prefixes) <= MAX_PREFIXES
