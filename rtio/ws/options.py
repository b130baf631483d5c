"""The options of a WebSocket connection, and the protocol they configure.

Owns ConnectionOptions / ServerOptions (every limit and timer a deployer may tune) and
``open_protocol``, which builds the sans-I/O WebSocketProtocol of a connection whose
handshake succeeded. Knows nothing of transports or the event loop.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from .deflate import DeflateOptions, DeflateParams, PerMessageDeflate
from .protocol import Side, WebSocketProtocol

__all__ = ["DEFAULT_OPTIONS", "ConnectionOptions", "ServerOptions", "open_protocol"]


@dataclass(frozen=True)
class ConnectionOptions:
    """Limits and timers of one connection (None disables a limit or a timer).

    - max_message_size: bytes of one message after decompression (close 1009 beyond).
    - max_frame_size: bytes of one frame's payload (close 1009 beyond).
    - max_fragments: frames one message may arrive in (close 1008 beyond, logged). A
      message's fragments share one buffer, so their number costs no memory, but each
      frame costs work: an endless message of empty frames is cut off here. 100,000
      leaves room for Autobahn's 4 MiB in 64-byte fragments (65,536 frames).
    - message_timeout: seconds a fragmented message may stay open, from its first frame to
      its last (close 1008 beyond, logged); interleaved pings do not extend it.
    - max_write_buffer: bytes waiting for the peer in the transport's write buffer (what
      it has not read yet). A write that finds more already waiting aborts the connection
      without a close handshake (the peer would not read the close frame): close_code
      1008, reason "peer not reading", a warning in the log. Writers that honour
      backpressure (``await send()``, ``send_now()`` then ``drain()``) never reach it: they
      stop near ``write_limit``. Its default is Engine.IO's ``max_buffered_bytes``.
    - ping_interval / ping_timeout: keepalive pings; no pong within the timeout closes the
      connection with 1011.
    - close_timeout: how long the close handshake (and the wait for the TCP close after
      it) may take before the connection is dropped.
    - max_queue: received messages held before reading from the socket pauses.
    - write_limit: the transport's write buffer high-water mark; ``send`` waits above it,
      and reading from the peer pauses above it until the buffer drains.
    - coalesce_writes: the first frame of a loop iteration is written at once, later ones
      of the same iteration together at its end (one syscall for a burst; see writes.py).
      On by default: it costs a lone frame nothing and saves a syscall per frame of a
      burst (a broadcast's many emits, an echo's pipelined replies). Off: every frame is
      written at once.
    - offload_size: with permessage-deflate, messages at least this big (bytes, or
      characters of a str) are compressed in a worker thread: zlib releases the GIL, so the
      loop keeps flushing and reading meanwhile (bench_frames' ``send 1 MiB deflate``:
      0.69x aiohttp's wall time before, 0.82-0.96x after; benchmarks/ws/README.md).
    """

    max_message_size: int | None = 1 << 20
    max_frame_size: int | None = None
    max_fragments: int | None = 100_000
    message_timeout: float | None = 60.0
    max_write_buffer: int | None = 16 * 1024 * 1024
    ping_interval: float | None = 20.0
    ping_timeout: float | None = 20.0
    close_timeout: float = 10.0
    max_queue: int = 32
    write_limit: int = 1 << 16
    coalesce_writes: bool = True
    offload_size: int = 1 << 16


@dataclass(frozen=True)
class ServerOptions(ConnectionOptions):
    """Server side: ConnectionOptions plus the subprotocols the server speaks (in order of
    preference) and permessage-deflate (None: not offered; off by default, as in Node's ws
    and Engine.IO)."""

    subprotocols: tuple[str, ...] = ()
    compression: DeflateOptions | None = None


def open_protocol(
    side: Side,
    options: ConnectionOptions,
    deflate_params: DeflateParams | None,
    compression: DeflateOptions | None,
    *,
    mask_key: Callable[[], bytes] | None = None,
) -> WebSocketProtocol:
    """The protocol of a connection whose handshake succeeded, for either role: the
    negotiated permessage-deflate (None: not negotiated) set up with this endpoint's
    compression options, and the connection's size limits."""
    deflate = None
    if deflate_params is not None:
        assert compression is not None, "deflate was negotiated without being offered"
        deflate = PerMessageDeflate(
            deflate_params,
            is_server=side is Side.SERVER,
            threshold=compression.threshold,
            level=compression.level,
            mem_level=compression.mem_level,
        )
    return WebSocketProtocol(
        side,
        deflate=deflate,
        max_frame_size=options.max_frame_size,
        max_message_size=options.max_message_size,
        max_fragments=options.max_fragments,
        deliver_before_failing=True,
        mask_key=mask_key,
    )


#: the options of a WebSocket created without any (shared: options are never copied)
DEFAULT_OPTIONS = ConnectionOptions()
