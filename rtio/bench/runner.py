"""What every scenario shares: its parameters, the run's counters, connecting many clients
within bounds, the measured window (server and client CPU, server RSS) and the progress
ticks.

States of a run, in ``Run.phase``: "connecting" -> "warmup" -> "measuring" -> "draining"
-> "closing" -> "done". Every wait is bounded: connecting by ``connect_timeout`` per
client and the run's deadline, the window by ``duration``, draining by ``drain_timeout``,
closing by ``close_timeout``. Failures are counted by phase and cause, never raised.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections import Counter
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from time import perf_counter
from typing import Any

from rtio.socketio.parsers import JsonParser

from .http_fetch import RawHttpFetcher
from .load import BenchClient, ClientState, SharedFetcher, Target, failure_cause
from .probe import ProcessProbe, Reading, self_cpu_seconds
from .stats import Samples

__all__ = ["Params", "Run", "Window"]


@dataclass(frozen=True)
class Params:
    """A scenario's parameters (all in the report, so runs can be compared)."""

    scenario: str
    clients: int
    transport: str
    duration_s: float
    rate: float | None = None  # echo: round trips/s; fanout: broadcasts/s; storm: connects/s
    payload_bytes: int = 100
    concurrency: int = 100  # connections being opened at once
    warmup_s: float = 0.0
    burst: int = 1  # fanout: messages per broadcast
    room: str = "bench"
    connect_timeout_s: float = 10.0
    drain_timeout_s: float = 5.0
    settle_s: float = 2.0  # idle: wait before the memory reading

    def __post_init__(self) -> None:
        if self.clients < 1:
            raise ValueError("--clients must be at least 1")
        if self.duration_s <= 0:
            raise ValueError("--duration must be positive")
        if self.rate is not None and self.rate <= 0:
            raise ValueError("--rate must be positive")
        if self.concurrency < 1:
            raise ValueError("--concurrency must be at least 1")
        if self.payload_bytes < 0 or self.burst < 1 or self.warmup_s < 0:
            raise ValueError("--payload-bytes, --burst and --warmup must not be negative")
        if self.connect_timeout_s <= 0 or self.drain_timeout_s < 0 or self.settle_s < 0:
            raise ValueError("timeouts must be positive")

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def make_payload(size: int, seq: int = 0) -> dict[str, Any]:
    """A JSON object whose compact encoding is about ``size`` bytes: {"seq":N,"text":"xx…"}."""
    base = len('{"seq":' + str(seq) + ',"text":""}')
    return {"seq": seq, "text": "x" * max(0, size - base)}


@dataclass
class Window:
    """The measured window: wall (time.perf_counter), client CPU and server readings at
    both ends."""

    started: float = 0.0
    ended: float = 0.0
    client_cpu_start: float = 0.0
    client_cpu_end: float = 0.0
    server_start: Reading | None = None
    server_end: Reading | None = None
    server_rss_peak: int | None = None

    @property
    def seconds(self) -> float:
        return max(self.ended - self.started, 1e-9)


@dataclass
class Run:
    """The counters of one run, read by the scenario, the progress display and the report."""

    params: Params
    target: Target
    server: ProcessProbe | None = None
    phase: str = "connecting"
    connected: int = 0
    ops: int = 0  # what the scenario counts: round trips, deliveries, connects
    handshake: Samples = field(default_factory=Samples)
    latency: Samples = field(default_factory=Samples)
    send_lag: Samples = field(default_factory=Samples)  # open loop: sent after due (s)
    errors: dict[str, Counter[str]] = field(default_factory=dict)
    window: Window = field(default_factory=Window)
    notes: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.loop = asyncio.get_running_loop()
        self.parser = JsonParser()
        # polling: raw keep-alive connections (aiohttp's client for https://)
        self.fetcher: RawHttpFetcher | SharedFetcher | None = None
        if self.params.transport != "websocket":
            self.fetcher = SharedFetcher() if self.target.secure else RawHttpFetcher()
        self.measuring = False

    def error(self, phase: str, cause: str, count: int = 1) -> None:
        self.errors.setdefault(phase, Counter())[cause] += count

    @property
    def error_count(self) -> int:
        return sum(sum(c.values()) for c in self.errors.values())

    def new_client(self, **kwargs: Any) -> BenchClient:
        return BenchClient(
            self.target, self.params.transport, parser=self.parser, fetcher=self.fetcher,
            on_close=self._client_closed, **kwargs,
        )

    def _client_closed(self, client: BenchClient, reason: str) -> None:
        if self.phase in ("warmup", "measuring", "draining"):
            self.error("run", f"disconnected: {reason}")

    async def connect_one(self, client: BenchClient, phase: str = "connect") -> bool:
        try:
            took = await client.connect(self.params.connect_timeout_s)
        except Exception as exc:  # counted by cause: every failure is a figure
            self.error(phase, failure_cause(exc))
            return False
        self.handshake.add(took)
        self.connected += 1
        return True

    async def connect_all(
        self, count: int, deadline: float, make: Callable[[], BenchClient] | None = None
    ) -> list[BenchClient]:
        """Open ``count`` clients, ``concurrency`` at a time, stopping at ``deadline``
        (loop time); the connected ones, in order."""
        make = make or self.new_client
        gate = asyncio.Semaphore(self.params.concurrency)
        clients = [make() for _ in range(count)]

        async def one(client: BenchClient) -> None:
            async with gate:
                if self.loop.time() >= deadline:
                    self.error("connect", "run deadline")
                    return
                await self.connect_one(client)

        tasks = [self.loop.create_task(one(c)) for c in clients]
        remaining = max(0.0, deadline - self.loop.time())
        _, pending = await asyncio.wait(tasks, timeout=remaining + 1.0) if tasks else ((), ())
        for task in pending:
            task.cancel()
        return [c for c in clients if c.state is ClientState.CONNECTED]

    def open_window(self) -> None:
        window = self.window
        window.started = perf_counter()
        window.client_cpu_start = self_cpu_seconds()
        window.server_start = self.server.read() if self.server else None
        if window.server_start is not None:
            window.server_rss_peak = window.server_start.rss_bytes
        self.measuring = True
        self.phase = "measuring"

    def close_window(self) -> None:
        window = self.window
        window.ended = perf_counter()
        window.client_cpu_end = self_cpu_seconds()
        window.server_end = self.server.read() if self.server else None
        self.sample_server()
        self.measuring = False

    def sample_server(self) -> None:
        """A reading for the peak RSS (called on each progress tick)."""
        if self.server is None or not self.measuring:
            return
        reading = self.server.read()
        window = self.window
        if reading is not None and (
            window.server_rss_peak is None or reading.rss_bytes > window.server_rss_peak
        ):
            window.server_rss_peak = reading.rss_bytes

    async def measure(self, seconds: float) -> None:
        """Open the window, wait ``seconds``, close it."""
        self.open_window()
        await asyncio.sleep(seconds)
        self.close_window()

    async def close_all(self, clients: list[BenchClient], timeout: float = 5.0) -> None:
        self.phase = "closing"
        gate = asyncio.Semaphore(max(self.params.concurrency, 100))

        async def one(client: BenchClient) -> None:
            async with gate:
                with contextlib.suppress(Exception):
                    await client.close(min(timeout, 2.0))

        tasks = [self.loop.create_task(one(c)) for c in clients]
        if tasks:
            _, pending = await asyncio.wait(tasks, timeout=timeout + 1.0)
            for task in pending:
                task.cancel()
        if self.fetcher is not None:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self.fetcher.shutdown(), timeout)
        self.phase = "done"
