"""permessage-deflate (RFC 7692): parsing Sec-WebSocket-Extensions, negotiation on both
sides, and the per-message codec.

Sans-I/O. Knows nothing of frames beyond "this message's payload, in pieces"; the protocol
sets RSV1 and decides which messages go through here.

zlib cannot compress with a 256-byte window (raw deflate with wbits=8 is refused since zlib
1.2.9). When the peer limits our window to 8 bits we accept and simply send every message
uncompressed, which RFC 7692 allows (compression is per message, 6: "An endpoint MAY
choose not to compress a message").
"""

from __future__ import annotations

import re
import zlib
from dataclasses import dataclass

from .errors import PayloadTooBig, ProtocolError

__all__ = [
    "EXTENSION_NAME",
    "DeflateOptions",
    "DeflateParams",
    "PerMessageDeflate",
    "client_accept",
    "client_offer",
    "parse_extensions",
    "server_negotiate",
]

EXTENSION_NAME = "permessage-deflate"
_TAIL = b"\x00\x00\xff\xff"

ExtensionOffer = tuple[str, list[tuple[str, "str | None"]]]

_TOKEN = r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+"
_QUOTED = r'"(?:[^"\\]|\\.)*"'
_ITEM = re.compile(rf"\s*({_TOKEN})\s*(?:=\s*({_TOKEN}|{_QUOTED})\s*)?")


@dataclass(frozen=True)
class DeflateOptions:
    """What this endpoint asks for / allows. Window bits are 8..15; None means "no limit"
    (15). ``threshold``: messages shorter than this many bytes are sent uncompressed."""

    server_no_context_takeover: bool = False
    client_no_context_takeover: bool = False
    server_max_window_bits: int | None = None
    client_max_window_bits: int | None = None
    threshold: int = 64
    level: int = 6
    mem_level: int = 8

    def __post_init__(self) -> None:
        for bits in (self.server_max_window_bits, self.client_max_window_bits):
            if bits is not None and not 8 <= bits <= 15:
                raise ValueError("max window bits must be in 8..15")


@dataclass(frozen=True)
class DeflateParams:
    """The negotiated agreement (what both sides must honour)."""

    server_no_context_takeover: bool = False
    client_no_context_takeover: bool = False
    server_max_window_bits: int = 15
    client_max_window_bits: int = 15


def parse_extensions(values: list[str]) -> list[ExtensionOffer]:
    """Parse Sec-WebSocket-Extensions header values (RFC 6455 9.1 grammar) into
    [(name, [(param, value or None), ...]), ...]. Raises ValueError when malformed."""
    result: list[ExtensionOffer] = []
    for value in values:
        for element in _split_outside_quotes(value, ","):
            if not element.strip():
                continue  # 1#extension allows empty list elements
            parts = _split_outside_quotes(element, ";")
            name = parts[0].strip()
            if not re.fullmatch(_TOKEN, name):
                raise ValueError(f"bad extension name {name!r}")
            params: list[tuple[str, str | None]] = []
            for part in parts[1:]:
                m = _ITEM.fullmatch(part)
                if m is None:
                    raise ValueError(f"bad extension parameter {part!r}")
                pvalue = m.group(2)
                if pvalue is not None and pvalue.startswith('"'):
                    pvalue = re.sub(r"\\(.)", r"\1", pvalue[1:-1])
                    # 9.1: a quoted-string value must still be a token after unescaping
                    if not re.fullmatch(_TOKEN, pvalue):
                        raise ValueError(f"bad quoted parameter value {pvalue!r}")
                params.append((m.group(1), pvalue))
            result.append((name, params))
    return result


def _split_outside_quotes(text: str, sep: str) -> list[str]:
    if '"' not in text:
        return text.split(sep)
    parts: list[str] = []
    current: list[str] = []
    quoted = escaped = False
    for ch in text:
        if escaped:
            escaped = False
        elif quoted and ch == "\\":
            escaped = True
        elif ch == '"':
            quoted = not quoted
        elif ch == sep and not quoted:
            parts.append("".join(current))
            current = []
            continue
        current.append(ch)
    if quoted:
        raise ValueError("unterminated quoted string")
    parts.append("".join(current))
    return parts


def _window_bits(value: str | None) -> int:
    # 7.1.2.1 / 7.1.2.2: "a decimal integer value without leading zeroes between 8 and 15"
    if value is None or not re.fullmatch(r"[1-9][0-9]?", value) or not 8 <= int(value) <= 15:
        raise ValueError(f"bad window bits {value!r}")
    return int(value)


class _Offer:
    """One permessage-deflate offer's parameters, validated (ValueError otherwise)."""

    def __init__(self, params: list[tuple[str, str | None]], *, response: bool) -> None:
        self.server_no_context_takeover = False
        self.client_no_context_takeover = False
        self.server_max_window_bits: int | None = None
        self.client_max_window_bits: int | None = None
        self.client_max_window_bits_offered = False
        seen: set[str] = set()
        for name, value in params:
            # 7.1: "A server MUST decline an extension negotiation offer for this extension
            # if ... The negotiation offer contains an extension parameter not defined for
            # use in an offer. ... has an extension parameter with an invalid value. ...
            # contains multiple extension parameters with the same name."
            if name in seen:
                raise ValueError(f"duplicate parameter {name}")
            seen.add(name)
            if name == "server_no_context_takeover":
                if value is not None:
                    raise ValueError("server_no_context_takeover takes no value")
                self.server_no_context_takeover = True
            elif name == "client_no_context_takeover":
                if value is not None:
                    raise ValueError("client_no_context_takeover takes no value")
                self.client_no_context_takeover = True
            elif name == "server_max_window_bits":
                self.server_max_window_bits = _window_bits(value)
            elif name == "client_max_window_bits":
                self.client_max_window_bits_offered = True
                if value is not None or response:
                    # 7.1.2.2: in a response the value is mandatory
                    self.client_max_window_bits = _window_bits(value)
            else:
                raise ValueError(f"unknown parameter {name}")


def server_negotiate(
    offers: list[ExtensionOffer], options: DeflateOptions
) -> tuple[DeflateParams, str] | None:
    """Pick the first acceptable permessage-deflate offer: (params, response header value),
    or None to decline them all (the connection then goes on without compression)."""
    for name, params in offers:
        if name != EXTENSION_NAME:
            continue
        try:
            offer = _Offer(params, response=False)
        except ValueError:
            continue  # 7.1: decline this offer, try the next one
        response = [EXTENSION_NAME]
        # 7.1.1.1: "A server MAY include the server_no_context_takeover extension parameter
        # in the response even if the extension negotiation offer doesn't include it."
        server_nct = offer.server_no_context_takeover or options.server_no_context_takeover
        if server_nct:
            response.append("server_no_context_takeover")
        # 7.1.1.2: client_no_context_takeover MAY be in the response whether or not offered.
        client_nct = offer.client_no_context_takeover or options.client_no_context_takeover
        if client_nct:
            response.append("client_no_context_takeover")
        # 7.1.2.1: "A server accepts an extension negotiation offer with this parameter by
        # including the server_max_window_bits extension parameter in the extension
        # negotiation response to send back to the client with the same or smaller value"
        server_bits = 15
        if offer.server_max_window_bits is not None or options.server_max_window_bits:
            server_bits = min(
                offer.server_max_window_bits or 15, options.server_max_window_bits or 15
            )
            response.append(f"server_max_window_bits={server_bits}")
        client_bits = 15
        if options.client_max_window_bits is not None:
            # 7.1.2.2: "If a received extension negotiation offer doesn't have the
            # client_max_window_bits extension parameter, the corresponding extension
            # negotiation response to the offer MUST NOT include" it: such an offer cannot
            # meet our limit, so it is declined.
            if not offer.client_max_window_bits_offered:
                continue
            client_bits = min(offer.client_max_window_bits or 15, options.client_max_window_bits)
            response.append(f"client_max_window_bits={client_bits}")
        elif offer.client_max_window_bits is not None:
            client_bits = offer.client_max_window_bits
            response.append(f"client_max_window_bits={client_bits}")
        agreed = DeflateParams(server_nct, client_nct, server_bits, client_bits)
        return agreed, "; ".join(response)
    return None


def client_offer(options: DeflateOptions) -> str:
    """The Sec-WebSocket-Extensions value a client sends to offer permessage-deflate."""
    parts = [EXTENSION_NAME]
    if options.server_no_context_takeover:
        parts.append("server_no_context_takeover")
    if options.client_no_context_takeover:
        parts.append("client_no_context_takeover")
    if options.server_max_window_bits is not None:
        parts.append(f"server_max_window_bits={options.server_max_window_bits}")
    # 7.1.2.2: offering client_max_window_bits without a value tells the server it may limit
    # our window; with a value, we limit it ourselves.
    if options.client_max_window_bits is None:
        parts.append("client_max_window_bits")
    else:
        parts.append(f"client_max_window_bits={options.client_max_window_bits}")
    return "; ".join(parts)


def client_accept(params: list[tuple[str, str | None]], options: DeflateOptions) -> DeflateParams:
    """Check the server's permessage-deflate response against our offer (ValueError if it is
    not a valid answer to it) and return the agreement."""
    resp = _Offer(params, response=True)
    if options.server_no_context_takeover and not resp.server_no_context_takeover:
        # 7.1.1.1: the server accepts this parameter by echoing it
        raise ValueError("server_no_context_takeover was not accepted")
    server_bits = 15
    if options.server_max_window_bits is not None:
        if resp.server_max_window_bits is None:
            raise ValueError("server_max_window_bits was not accepted")
        if resp.server_max_window_bits > options.server_max_window_bits:
            raise ValueError("server_max_window_bits larger than offered")
    if resp.server_max_window_bits is not None:
        server_bits = resp.server_max_window_bits
    client_bits = options.client_max_window_bits or 15
    if resp.client_max_window_bits is not None:
        if resp.client_max_window_bits > client_bits:
            raise ValueError("client_max_window_bits larger than offered")
        client_bits = resp.client_max_window_bits
    return DeflateParams(
        resp.server_no_context_takeover,
        resp.client_no_context_takeover or options.client_no_context_takeover,
        server_bits,
        client_bits,
    )


class PerMessageDeflate:
    """One connection's compressor and decompressor, from the negotiated params and this
    endpoint's side."""

    # slots: one per connection with permessage-deflate
    # (~45 B less each than an instance dict: bench_tricks.py, per-connection objects)
    __slots__ = (
        "_compressor",
        "_decompressor",
        "_level",
        "_mem_level",
        "_reset_compressor",
        "_reset_decompressor",
        "_send_bits",
        "threshold",
    )

    def __init__(
        self, params: DeflateParams, *, is_server: bool, threshold: int = 64, level: int = 6,
        mem_level: int = 8,
    ) -> None:
        if is_server:
            self._send_bits = params.server_max_window_bits
            self._reset_compressor = params.server_no_context_takeover
            self._reset_decompressor = params.client_no_context_takeover
        else:
            self._send_bits = params.client_max_window_bits
            self._reset_compressor = params.client_no_context_takeover
            self._reset_decompressor = params.server_no_context_takeover
        self._level = level
        self._mem_level = mem_level
        # A window of 8 bits cannot be produced by zlib: send uncompressed (see module doc).
        self.threshold = threshold if self._send_bits > 8 else -1
        self._compressor: zlib._Compress | None = None
        self._decompressor: zlib._Decompress | None = None

    def should_compress(self, size: int) -> bool:
        return 0 <= self.threshold <= size

    def compress(self, data: bytes) -> bytes:
        """The compressed payload of one whole message (7.2.1)."""
        c = self._compressor
        if c is None:
            c = zlib.compressobj(self._level, zlib.DEFLATED, -self._send_bits, self._mem_level)
            if not self._reset_compressor:
                self._compressor = c
        out = c.compress(data) + c.flush(zlib.Z_SYNC_FLUSH)
        # 7.2.1: "Remove 4 octets (that are 0x00 0x00 0xff 0xff) from the tail end."
        return out[:-4] if out.endswith(_TAIL) else out

    def decompress(self, data: bytes, final: bool, max_size: int | None) -> bytes:
        """Decompress one frame's payload of a compressed message; ``final`` on its last
        frame. ``max_size`` bounds the output of this call (PayloadTooBig beyond it), so a
        small frame cannot expand into unbounded memory."""
        d = self._decompressor
        if d is None:
            # A receiver may always use the maximum window: the sender's is never larger.
            d = self._decompressor = zlib.decompressobj(-15)
        if final:
            # 7.2.2: "Append 4 octets of 0x00 0x00 0xff 0xff to the tail end of the payload
            # of the message."
            data += _TAIL
        try:
            if max_size is None:
                out = d.decompress(data)
            else:
                out = d.decompress(data, max_size + 1)
                if len(out) > max_size:
                    raise PayloadTooBig("decompressed message over the size limit")
        except zlib.error as exc:
            raise ProtocolError(f"bad deflate data: {exc}") from exc
        if final and self._reset_decompressor:
            self._decompressor = None
        return out
