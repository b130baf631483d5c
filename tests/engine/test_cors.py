"""The CORS policy: origins "*", list, or callable; credentials; preflight headers."""

from __future__ import annotations

import logging

import pytest

from rtio.engine import CorsOptions
from rtio.engine.cors import CorsPolicy, same_origin


def test_any_origin() -> None:
    policy = CorsPolicy(CorsOptions())
    assert policy.is_allowed("http://a.example")
    assert policy.response_headers("http://a.example") == {"Access-Control-Allow-Origin": "*"}


def test_any_origin_with_credentials_reflects() -> None:
    policy = CorsPolicy(CorsOptions(credentials=True))
    assert policy.response_headers("http://a.example") == {
        "Access-Control-Allow-Origin": "http://a.example",
        "Vary": "Origin",
        "Access-Control-Allow-Credentials": "true",
    }


def test_list_of_origins() -> None:
    policy = CorsPolicy(CorsOptions(origins=["http://a.example"]))
    assert policy.is_allowed("http://a.example")
    assert policy.is_allowed(None)
    assert not policy.is_allowed("http://evil.example")
    assert policy.response_headers("http://evil.example") == {}
    assert policy.preflight_headers("http://evil.example", "x-a") == {}


def test_single_origin_string_and_callable() -> None:
    assert CorsPolicy(CorsOptions(origins="http://a.example")).is_allowed("http://a.example")
    assert not CorsPolicy(CorsOptions(origins="http://a.example")).is_allowed("http://b.example")
    policy = CorsPolicy(CorsOptions(origins=lambda o: o.endswith(".example")))
    assert policy.is_allowed("http://b.example")
    assert not policy.is_allowed("http://b.test")


def test_preflight() -> None:
    policy = CorsPolicy(CorsOptions(max_age=600, exposed_headers=["x-id"]))
    assert policy.preflight_headers("http://a.example", "content-type") == {
        "Access-Control-Allow-Origin": "*",
        "Access-Control-Allow-Methods": "GET,POST",
        "Access-Control-Allow-Headers": "content-type",
        "Vary": "Access-Control-Request-Headers",
        "Access-Control-Max-Age": "600",
    }
    fixed = CorsPolicy(CorsOptions(allowed_headers=["x-a", "x-b"]))
    assert fixed.preflight_headers("http://a", None)["Access-Control-Allow-Headers"] == "x-a,x-b"
    assert policy.response_headers("http://a")["Access-Control-Expose-Headers"] == "x-id"


def test_preflight_without_request_headers_and_with_vary_origin() -> None:
    any_origin = CorsPolicy(CorsOptions())
    assert any_origin.preflight_headers("http://a", None) == {
        "Access-Control-Allow-Origin": "*",
        "Access-Control-Allow-Methods": "GET,POST",
    }
    listed = CorsPolicy(CorsOptions(origins=["http://a"]))
    headers = listed.preflight_headers("http://a", "x-a")
    assert headers["Vary"] == "Origin, Access-Control-Request-Headers"


@pytest.mark.parametrize(
    ("origin", "headers", "same"),
    [
        ("http://h", {"Host": "h:80"}, True),  # the scheme's default port
        ("https://h", {"Host": "h"}, True),
        ("http://h:8080", {"Host": "h"}, False),
        ("http://h", {"Host": "x", "X-Forwarded-Host": "h, proxy"}, True),
        ("null", {"Host": "h"}, False),  # a sandboxed page, a file
        ("ftp://h", {"Host": "h"}, False),  # not a web origin
        ("http://h:99999", {"Host": "h"}, False),  # a port out of range
        ("http://h", {"Host": "h:99999"}, False),
        ("http://h", {"Host": "u@h"}, False),  # credentials: not a Host
        ("http://h", {"Host": "h/path"}, False),
        ("http://h", {}, False),
    ],
)
def test_same_origin(origin: str, headers: dict[str, str], same: bool) -> None:
    assert same_origin(origin, headers) is same


def test_refused_origins_are_logged_once_within_a_bound(caplog: pytest.LogCaptureFixture) -> None:
    """Issue 12, defect 7: the set of origins already logged is bounded."""
    from rtio.engine.cors import MAX_LOGGED_ORIGINS, OriginLog

    log = OriginLog()
    caplog.set_level(logging.INFO, logger="rtio.engine")
    for i in range(MAX_LOGGED_ORIGINS * 3):
        log.refused(f"http://{i}.example", "cors_allowed_origins")
    assert len(log) <= MAX_LOGGED_ORIGINS
    assert len(caplog.records) == MAX_LOGGED_ORIGINS * 3
    log.refused(f"http://{MAX_LOGGED_ORIGINS * 3 - 1}.example", "cors_allowed_origins")
    assert len(caplog.records) == MAX_LOGGED_ORIGINS * 3  # still remembered: not again
