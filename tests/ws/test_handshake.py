"""The opening handshake: every server refusal with its status, the accept key, subprotocol
and extension negotiation, the client's request bytes and its checks of the response."""

from __future__ import annotations

import pytest

from rtio.ws import DeflateOptions, HandshakeRefused, InvalidHandshakeResponse
from rtio.ws.deflate import DeflateParams
from rtio.ws.handshake import (
    accept_key,
    check_response,
    client_request_headers,
    generate_key,
    parse_response,
    serialize_request,
    server_handshake,
)

KEY = "dGhlIHNhbXBsZSBub25jZQ=="  # RFC 6455 1.3
ACCEPT = "s3pPLMBiTxaQ9kYGzzhZRbK+xOo="

GOOD = [
    ("Host", "server.example.com"),
    ("Upgrade", "websocket"),
    ("Connection", "Upgrade"),
    ("Sec-WebSocket-Key", KEY),
    ("Sec-WebSocket-Version", "13"),
]


Headers = list[tuple[str, str]]


def replace(name: str, value: str | None, headers: Headers = GOOD) -> Headers:
    """``headers`` with every ``name`` header removed, then ``name: value`` added."""
    out = [(n, v) for n, v in headers if n.lower() != name.lower()]
    if value is not None:
        out.append((name, value))
    return out


def test_accept_key_rfc_example() -> None:
    assert accept_key(KEY) == ACCEPT


def test_generate_key() -> None:
    assert generate_key(b"the sample nonce") == KEY
    with pytest.raises(ValueError):
        generate_key(b"short")


def test_accepts_a_valid_request() -> None:
    accepted = server_handshake("GET", (1, 1), GOOD)
    assert accepted.headers == [
        ("Upgrade", "websocket"),
        ("Connection", "Upgrade"),
        ("Sec-WebSocket-Accept", ACCEPT),
    ]
    assert accepted.subprotocol is None
    assert accepted.deflate is None


@pytest.mark.parametrize(
    "headers",
    [
        replace("Upgrade", "WebSocket"),
        replace("Upgrade", "foo, WEBSOCKET"),
        replace("Connection", "keep-alive, upgrade"),
        replace("Connection", "Keep-Alive,UPGRADE "),
        replace("Sec-WebSocket-Key", f"  {KEY} "),
        [*GOOD, ("Upgrade", "h2c")],  # a second Upgrade header: tokens are merged
    ],
)
def test_tokens_are_case_insensitive_comma_lists(headers: list[tuple[str, str]]) -> None:
    assert server_handshake("GET", (1, 1), headers).headers[2] == ("Sec-WebSocket-Accept", ACCEPT)


@pytest.mark.parametrize(
    ("method", "version", "headers", "status", "reason", "extra"),
    [
        ("POST", (1, 1), GOOD, 405, "uses GET", {"Allow": "GET"}),
        ("GET", (1, 0), GOOD, 505, "HTTP/1.1", {}),
        ("GET", (1, 1), replace("Upgrade", None), 426, "Upgrade header", {"Upgrade": "websocket"}),
        ("GET", (1, 1), replace("Upgrade", "h2c"), 426, "Upgrade header", {}),
        ("GET", (1, 1), replace("Connection", "keep-alive"), 426, "Connection header", {}),
        ("GET", (1, 1), replace("Connection", None), 426, "Connection header", {}),
        ("GET", (1, 1), replace("Host", None), 400, "Host", {}),
        ("GET", (1, 1), [*GOOD, ("Host", "other")], 400, "Host", {}),
        ("GET", (1, 1), replace("Sec-WebSocket-Key", None), 400, "Sec-WebSocket-Key", {}),
        ("GET", (1, 1), replace("Sec-WebSocket-Key", "not base64!"), 400, "Key", {}),
        # base64 of 15 and of 17 bytes
        ("GET", (1, 1), replace("Sec-WebSocket-Key", "AAAAAAAAAAAAAAAAAAAA"), 400, "Key", {}),
        ("GET", (1, 1), replace("Sec-WebSocket-Key", "AAAAAAAAAAAAAAAAAAAAAAA="), 400, "Key", {}),
        ("GET", (1, 1), [*GOOD, ("Sec-WebSocket-Key", KEY)], 400, "Key", {}),
        (
            "GET", (1, 1), replace("Sec-WebSocket-Version", "8"), 426, "Version",
            {"Sec-WebSocket-Version": "13"},
        ),
        (
            "GET", (1, 1), replace("Sec-WebSocket-Version", None), 426, "Version",
            {"Sec-WebSocket-Version": "13"},
        ),
        (
            "GET", (1, 1), replace("Sec-WebSocket-Version", "13, 8"), 426, "Version",
            {"Sec-WebSocket-Version": "13"},
        ),
    ],
)  # fmt: skip
def test_refusals(
    method: str,
    version: tuple[int, int],
    headers: list[tuple[str, str]],
    status: int,
    reason: str,
    extra: dict[str, str],
) -> None:
    with pytest.raises(HandshakeRefused, match=reason) as info:
        server_handshake(method, version, headers)
    assert info.value.status == status
    for name, value in extra.items():
        assert info.value.headers[name] == value


def test_refusal_as_an_aiohttp_response() -> None:
    with pytest.raises(HandshakeRefused) as info:
        server_handshake("GET", (1, 1), replace("Sec-WebSocket-Version", "7"))
    response = info.value.response()
    assert response.status == 426
    assert response.headers["Sec-WebSocket-Version"] == "13"
    assert response.text == "unsupported Sec-WebSocket-Version\n"


def test_origin_check() -> None:
    seen: list[str | None] = []

    def check(origin: str | None) -> bool:
        seen.append(origin)
        return origin == "https://ok.example"

    server_handshake("GET", (1, 1), [*GOOD, ("Origin", "https://ok.example")], origin_check=check)
    for headers in (
        [*GOOD, ("Origin", "https://evil.example")],
        GOOD,
        [*GOOD, ("Origin", "https://ok.example"), ("Origin", "https://ok.example")],
    ):
        with pytest.raises(HandshakeRefused, match="origin") as info:
            server_handshake("GET", (1, 1), headers, origin_check=check)
        assert info.value.status == 403
    assert seen == ["https://ok.example", "https://evil.example", None]


@pytest.mark.parametrize(
    ("offered", "supported", "chosen"),
    [
        ("chat, superchat", ("superchat", "chat"), "superchat"),  # server preference
        ("chat, superchat", ("chat", "superchat"), "chat"),
        ("mqtt", ("chat",), None),
        (None, ("chat",), None),
        ("chat", (), None),
    ],
)
def test_subprotocol_selection(
    offered: str | None, supported: tuple[str, ...], chosen: str | None
) -> None:
    headers = GOOD if offered is None else [*GOOD, ("Sec-WebSocket-Protocol", offered)]
    accepted = server_handshake("GET", (1, 1), headers, subprotocols=supported)
    assert accepted.subprotocol == chosen
    expected = [] if chosen is None else [("Sec-WebSocket-Protocol", chosen)]
    assert [h for h in accepted.headers if h[0] == "Sec-WebSocket-Protocol"] == expected


def test_subprotocols_across_several_headers() -> None:
    headers = [*GOOD, ("Sec-WebSocket-Protocol", "a"), ("Sec-WebSocket-Protocol", "b, c")]
    assert server_handshake("GET", (1, 1), headers, subprotocols=("c",)).subprotocol == "c"


@pytest.mark.parametrize(
    ("offer", "options", "answer", "params"),
    [
        ("permessage-deflate", DeflateOptions(), "permessage-deflate", DeflateParams()),
        (
            "permessage-deflate; client_max_window_bits",
            DeflateOptions(),
            "permessage-deflate",
            DeflateParams(),
        ),
        (
            "permessage-deflate; client_max_window_bits=10; server_max_window_bits=12",
            DeflateOptions(),
            "permessage-deflate; server_max_window_bits=12; client_max_window_bits=10",
            DeflateParams(server_max_window_bits=12, client_max_window_bits=10),
        ),
        (
            "permessage-deflate; server_no_context_takeover; client_no_context_takeover",
            DeflateOptions(),
            "permessage-deflate; server_no_context_takeover; client_no_context_takeover",
            DeflateParams(True, True),
        ),
        (  # the server adds what it wants on its own
            "permessage-deflate; client_max_window_bits",
            DeflateOptions(
                server_no_context_takeover=True,
                client_no_context_takeover=True,
                server_max_window_bits=11,
                client_max_window_bits=9,
            ),
            "permessage-deflate; server_no_context_takeover; client_no_context_takeover; "
            "server_max_window_bits=11; client_max_window_bits=9",
            DeflateParams(True, True, 11, 9),
        ),
        (  # an invalid first offer is declined, the next one taken
            "permessage-deflate; server_max_window_bits=7, permessage-deflate",
            DeflateOptions(),
            "permessage-deflate",
            DeflateParams(),
        ),
        ("x-webkit-deflate-frame, permessage-deflate", DeflateOptions(), "permessage-deflate",
         DeflateParams()),
        # declined: unknown parameter, duplicate, bad value, no client_max_window_bits when the
        # server needs to limit the client's window, unknown extension
        ("permessage-deflate; foo", DeflateOptions(), None, None),
        ("permessage-deflate; server_no_context_takeover; server_no_context_takeover",
         DeflateOptions(), None, None),
        ("permessage-deflate; server_max_window_bits=08", DeflateOptions(), None, None),
        ("permessage-deflate; server_max_window_bits=16", DeflateOptions(), None, None),
        ("permessage-deflate; server_max_window_bits", DeflateOptions(), None, None),
        ("permessage-deflate; client_no_context_takeover=1", DeflateOptions(), None, None),
        ("permessage-deflate", DeflateOptions(client_max_window_bits=10), None, None),
        ("x-webkit-deflate-frame", DeflateOptions(), None, None),
    ],
)  # fmt: skip
def test_extension_negotiation(
    offer: str, options: DeflateOptions, answer: str | None, params: DeflateParams | None
) -> None:
    accepted = server_handshake(
        "GET", (1, 1), [*GOOD, ("Sec-WebSocket-Extensions", offer)], compression=options
    )
    got = [v for n, v in accepted.headers if n == "Sec-WebSocket-Extensions"]
    assert got == ([] if answer is None else [answer])
    assert accepted.deflate == params


def test_extensions_ignored_without_compression() -> None:
    headers = [*GOOD, ("Sec-WebSocket-Extensions", "permessage-deflate")]
    assert server_handshake("GET", (1, 1), headers).deflate is None


def test_malformed_extension_header_is_refused() -> None:
    headers = [*GOOD, ("Sec-WebSocket-Extensions", 'permessage-deflate; a="b')]
    with pytest.raises(HandshakeRefused, match="Sec-WebSocket-Extensions") as info:
        server_handshake("GET", (1, 1), headers, compression=DeflateOptions())
    assert info.value.status == 400


# -- client side ---------------------------------------------------------------------------


def test_client_request_bytes() -> None:
    headers = client_request_headers(
        "server.example.com",
        KEY,
        subprotocols=("chat", "superchat"),
        compression=DeflateOptions(),
        origin="http://example.com",
    )
    assert serialize_request("/chat?x=1", headers) == (
        b"GET /chat?x=1 HTTP/1.1\r\n"
        b"Host: server.example.com\r\n"
        b"Upgrade: websocket\r\n"
        b"Connection: Upgrade\r\n"
        b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
        b"Sec-WebSocket-Version: 13\r\n"
        b"Origin: http://example.com\r\n"
        b"Sec-WebSocket-Protocol: chat, superchat\r\n"
        b"Sec-WebSocket-Extensions: permessage-deflate; client_max_window_bits\r\n"
        b"\r\n"
    )
    with pytest.raises(ValueError, match="line break"):
        serialize_request("/", [("X", "a\r\nInjected: 1")])


def test_the_server_accepts_what_the_client_builds() -> None:
    headers = client_request_headers(
        "h", generate_key(bytes(16)), subprotocols=("b", "a"), compression=DeflateOptions()
    )
    accepted = server_handshake(
        "GET", (1, 1), headers, subprotocols=("a",), compression=DeflateOptions()
    )
    response = [("Upgrade", "websocket"), *accepted.headers[1:]]
    assert check_response(
        101, response, generate_key(bytes(16)), subprotocols=("b", "a"),
        compression=DeflateOptions(),
    ) == ("a", DeflateParams())  # fmt: skip


RESPONSE = b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"


def test_parse_response() -> None:
    head = RESPONSE + b"Sec-WebSocket-Accept: " + ACCEPT.encode() + b"\r\nX-Empty:\r\n\r\n"
    data = head + b"\x81\x02hi"
    for cut in range(len(head)):
        assert parse_response(data[:cut]) is None
    response, consumed = parse_response(data)  # type: ignore[misc]
    assert consumed == len(head)
    assert response.status == 101
    assert response.reason == "Switching Protocols"
    assert response.headers[-2:] == [("Sec-WebSocket-Accept", ACCEPT), ("X-Empty", "")]
    assert check_response(response.status, response.headers, KEY) == (None, None)


@pytest.mark.parametrize(
    "head",
    [
        b"HTTP/2 101 Switching\r\n\r\n",
        b"ICY 200 OK\r\n\r\n",
        b"HTTP/1.1 10 Short\r\n\r\n",
        b"HTTP/1.1 101 OK\r\nNo colon here\r\n\r\n",
        b"HTTP/1.1 101 OK\r\n folded: header\r\n\r\n",
        b"HTTP/1.1 101 OK\r\nBad Name: x\r\n\r\n",
    ],
)
def test_parse_response_rejects_malformed_heads(head: bytes) -> None:
    with pytest.raises(InvalidHandshakeResponse):
        parse_response(head)


def test_parse_response_size_limit() -> None:
    with pytest.raises(InvalidHandshakeResponse, match="longer than 100"):
        parse_response(RESPONSE + b"X: " + b"a" * 200, max_size=100)
    assert parse_response(RESPONSE[:50], max_size=100) is None


GOOD_RESPONSE = [
    ("Upgrade", "websocket"),
    ("Connection", "Upgrade"),
    ("Sec-WebSocket-Accept", ACCEPT),
]


@pytest.mark.parametrize(
    ("status", "headers", "kwargs", "message"),
    [
        (200, GOOD_RESPONSE, {}, "answered 200"),
        (403, GOOD_RESPONSE, {}, "answered 403"),
        (101, replace("Upgrade", None, GOOD_RESPONSE), {}, "Upgrade"),
        (101, replace("Connection", "close", GOOD_RESPONSE), {}, "Connection"),
        (101, replace("Sec-WebSocket-Accept", None, GOOD_RESPONSE), {}, "Accept"),
        (101, replace("Sec-WebSocket-Accept", accept_key("x"), GOOD_RESPONSE), {}, "Accept"),
        (101, [*GOOD_RESPONSE, ("Sec-WebSocket-Accept", ACCEPT)], {}, "Accept"),
        (101, [*GOOD_RESPONSE, ("Sec-WebSocket-Protocol", "chat")], {}, "subprotocol chat"),
        (101, [*GOOD_RESPONSE, ("Sec-WebSocket-Protocol", "a, b")], {"subprotocols": ("a", "b")},
         "subprotocol"),
        (101, [*GOOD_RESPONSE, ("Sec-WebSocket-Extensions", "permessage-deflate")], {},
         "unexpected extension permessage-deflate"),
        (101, [*GOOD_RESPONSE, ("Sec-WebSocket-Extensions", "x-foo")],
         {"compression": DeflateOptions()}, "unexpected extension x-foo"),
        (101, [*GOOD_RESPONSE, ("Sec-WebSocket-Extensions", "permessage-deflate, x-y")],
         {"compression": DeflateOptions()}, "unexpected extension"),
        (101, [*GOOD_RESPONSE, ("Sec-WebSocket-Extensions", "permessage-deflate; x=1")],
         {"compression": DeflateOptions()}, "bad permessage-deflate answer"),
        (101, [*GOOD_RESPONSE, ("Sec-WebSocket-Extensions", 'permessage-deflate; "')],
         {"compression": DeflateOptions()}, "bad Sec-WebSocket-Extensions"),
        # 7.1.2.2: in a response client_max_window_bits needs a value
        (101, [*GOOD_RESPONSE, ("Sec-WebSocket-Extensions",
                                "permessage-deflate; client_max_window_bits")],
         {"compression": DeflateOptions()}, "bad permessage-deflate answer"),
        (101, [*GOOD_RESPONSE, ("Sec-WebSocket-Extensions", "permessage-deflate")],
         {"compression": DeflateOptions(server_no_context_takeover=True)}, "not accepted"),
        (101, [*GOOD_RESPONSE, ("Sec-WebSocket-Extensions", "permessage-deflate")],
         {"compression": DeflateOptions(server_max_window_bits=10)}, "not accepted"),
        (101, [*GOOD_RESPONSE, ("Sec-WebSocket-Extensions",
                                "permessage-deflate; server_max_window_bits=12")],
         {"compression": DeflateOptions(server_max_window_bits=10)}, "larger than offered"),
        (101, [*GOOD_RESPONSE, ("Sec-WebSocket-Extensions",
                                "permessage-deflate; client_max_window_bits=12")],
         {"compression": DeflateOptions(client_max_window_bits=10)}, "larger than offered"),
    ],
)  # fmt: skip
def test_client_rejects_bad_responses(
    status: int, headers: list[tuple[str, str]], kwargs: dict[str, object], message: str
) -> None:
    with pytest.raises(InvalidHandshakeResponse, match=message):
        check_response(status, headers, KEY, **kwargs)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("answer", "options", "params"),
    [
        ("permessage-deflate", DeflateOptions(), DeflateParams()),
        ("permessage-deflate; server_no_context_takeover; client_max_window_bits=9",
         DeflateOptions(), DeflateParams(True, False, 15, 9)),
        ("permessage-deflate; server_max_window_bits=9", DeflateOptions(),
         DeflateParams(server_max_window_bits=9)),
        ("permessage-deflate; server_max_window_bits=9",
         DeflateOptions(server_max_window_bits=10, client_no_context_takeover=True),
         DeflateParams(False, True, 9, 15)),
        ("PerMessage-Deflate", DeflateOptions(), None),  # names are case-sensitive tokens
    ],
)  # fmt: skip
def test_client_accepts_deflate_answers(
    answer: str, options: DeflateOptions, params: DeflateParams | None
) -> None:
    headers = [*GOOD_RESPONSE, ("Sec-WebSocket-Extensions", answer)]
    if params is None:
        with pytest.raises(InvalidHandshakeResponse):
            check_response(101, headers, KEY, compression=options)
        return
    assert check_response(101, headers, KEY, compression=options) == (None, params)


def test_client_accepts_the_chosen_subprotocol() -> None:
    headers = [*GOOD_RESPONSE, ("Sec-WebSocket-Protocol", "chat")]
    assert check_response(101, headers, KEY, subprotocols=("x", "chat")) == ("chat", None)
