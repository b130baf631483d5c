"""Soak runs of the bench server (``server.py``), bounded, on loopback.

    .venv/bin/python benchmarks/soak.py idle  [--n 10000] [--hold 60]
    .venv/bin/python benchmarks/soak.py churn [--cycles 100000] [--concurrency 100]
    .venv/bin/python benchmarks/soak.py both

``idle``: opens ``n`` Socket.IO connections over WebSocket and holds them ``hold`` seconds,
answering every ping; reports how late each ping came against the server's pingInterval
(25 s after the open packet, then 25 s after each pong), connections lost, and the server's
RSS and CPU. "On time" means every connection got every ping it was due, none later than
``--tolerance`` seconds (measured at the client, so the client's own delays count against
the server).

``churn``: ``cycles`` connect/disconnect cycles (TCP connect, WebSocket upgrade, open
packet, CONNECT ``40`` and its answer, then a close frame and the TCP close),
``concurrency`` at a time; reports the server's RSS after a warm-up, every tenth of the
run and at the end (after a short settle), and whether it came back within 5 %.

The server is started here (``server.py`` on a free port in 5000-5999, pinned to CPU 1 as
the shared harness does, this client on CPU 0) and stopped at the end. One JSON line per
run on stdout, progress on stderr. The client is a minimal RFC 6455 client on asyncio
streams-free protocols (uvloop when available); masking keys are zero (legal, RFC 6455
5.3; the server still unmasks).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import signal
import socket
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import cast

HERE = Path(__file__).resolve().parent
PY = sys.executable

UPGRADE = (
    b"GET /socket.io/?EIO=4&transport=websocket HTTP/1.1\r\n"
    b"Host: 127.0.0.1\r\n"
    b"Upgrade: websocket\r\n"
    b"Connection: Upgrade\r\n"
    b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
    b"Sec-WebSocket-Version: 13\r\n\r\n"
)
ACCEPT = b"s3pPLMBiTxaQ9kYGzzhZRbK+xOo="


def client_frame(text: str, opcode: int = 0x1) -> bytes:
    """A masked client frame with a zero masking key (payloads under 126 bytes)."""
    payload = text.encode()
    return bytes((0x80 | opcode, 0x80 | len(payload))) + b"\0\0\0\0" + payload


CONNECT = client_frame("40")
PONG = client_frame("3")
CLOSE = bytes((0x88, 0x82)) + b"\0\0\0\0" + (1000).to_bytes(2, "big")


class SioClient(asyncio.Protocol):
    """One raw Socket.IO client over WebSocket: connects to "/", answers pings."""

    def __init__(self, on_ping: bool = True) -> None:
        self.transport: asyncio.Transport | None = None
        self.buf = b""
        self.upgraded = False
        self.connected: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self.lost: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self.opened_at = 0.0
        self.last_beat = 0.0
        self.pings: list[float] = []  # lateness of each ping, seconds
        self.interval = 25.0

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        tcp = cast(asyncio.Transport, transport)  # uvloop's is not a subclass
        self.transport = tcp
        tcp.write(UPGRADE)

    def data_received(self, data: bytes) -> None:
        buf = self.buf + data
        if not self.upgraded:
            end = buf.find(b"\r\n\r\n")
            if end < 0:
                self.buf = buf
                return
            head = buf[:end]
            if not head.startswith(b"HTTP/1.1 101") or ACCEPT not in head:
                self._fail(f"bad upgrade response {head[:60]!r}")
                return
            self.upgraded = True
            buf = buf[end + 4 :]
        while len(buf) >= 2:
            n = buf[1] & 0x7F
            start = 2
            if n == 126:
                if len(buf) < 4:
                    break
                n = int.from_bytes(buf[2:4], "big")
                start = 4
            elif n == 127:
                if len(buf) < 10:
                    break
                n = int.from_bytes(buf[2:10], "big")
                start = 10
            if len(buf) < start + n:
                break
            self._frame(buf[0] & 0x0F, buf[start : start + n])
            buf = buf[start + n :]
        self.buf = buf

    def _frame(self, opcode: int, payload: bytes) -> None:
        now = time.monotonic()
        if opcode == 0x8:
            return
        if payload[:1] == b"0":
            self.opened_at = self.last_beat = now
            with contextlib.suppress(ValueError, KeyError):
                self.interval = json.loads(payload[1:])["pingInterval"] / 1000
            assert self.transport is not None
            self.transport.write(CONNECT)
        elif payload[:2] == b"40":
            if not self.connected.done():
                self.connected.set_result(None)
        elif payload == b"2":
            self.pings.append(now - self.last_beat - self.interval)
            self.last_beat = now
            assert self.transport is not None
            self.transport.write(PONG)

    def _fail(self, why: str) -> None:
        if not self.connected.done():
            self.connected.set_exception(ConnectionError(why))
        if self.transport is not None:
            self.transport.abort()

    def connection_lost(self, exc: Exception | None) -> None:
        if not self.connected.done():
            self.connected.set_exception(ConnectionError("lost before CONNECT"))
        if not self.lost.done():
            self.lost.set_result(None)

    def close(self) -> None:
        if self.transport is not None and not self.transport.is_closing():
            self.transport.write(CLOSE)
            self.transport.close()


async def open_client(port: int, timeout: float = 30.0) -> SioClient:
    loop = asyncio.get_running_loop()
    _, client = await loop.create_connection(SioClient, "127.0.0.1", port)
    await asyncio.wait_for(client.connected, timeout)
    return client


# -- the server process -----------------------------------------------------------------


def free_port() -> int:
    for port in range(5400, 5999):
        with socket.socket() as s:
            try:
                s.bind(("127.0.0.1", port))
            except OSError:
                continue
            return port
    raise RuntimeError("no free port in 5400-5999")


def pin(cpu: int) -> list[str]:
    return ["taskset", "-c", str(cpu)] if os.environ.get("BENCH_PIN", "1") == "1" else []


class Server:
    def __init__(self) -> None:
        self.port = free_port()
        self.proc = subprocess.Popen(
            [*pin(1), PY, str(HERE / "server.py"), str(self.port)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )

    async def ready(self) -> None:
        for _ in range(300):
            try:
                client = await open_client(self.port, 2.0)
            except (OSError, asyncio.TimeoutError, ConnectionError):
                await asyncio.sleep(0.1)
                continue
            client.close()
            return
        raise RuntimeError("the server did not start")

    def rss_kb(self) -> int:
        with open(f"/proc/{self.proc.pid}/status") as f:
            for line in f:
                if line.startswith("VmRSS"):
                    return int(line.split()[1])
        return 0

    def cpu_s(self) -> float:
        with open(f"/proc/{self.proc.pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def stop(self) -> str:
        self.proc.send_signal(signal.SIGTERM)
        try:
            _, err = self.proc.communicate(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            _, err = self.proc.communicate()
        return err.decode(errors="replace")[-2000:]


async def open_many(port: int, n: int, concurrency: int) -> tuple[list[SioClient], int]:
    clients: list[SioClient] = []
    errors = 0
    next_i = 0

    async def worker() -> None:
        nonlocal next_i, errors
        while next_i < n:
            next_i += 1
            try:
                clients.append(await open_client(port))
            except (OSError, asyncio.TimeoutError, ConnectionError):
                errors += 1

    await asyncio.gather(*(worker() for _ in range(concurrency)))
    return clients, errors


def log(msg: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


# -- idle --------------------------------------------------------------------------------


async def soak_idle(n: int, hold: float, concurrency: int, tolerance: float) -> dict[str, object]:
    server = Server()
    try:
        await server.ready()
        rss0 = server.rss_kb()
        t0 = time.monotonic()
        clients, errors = await open_many(server.port, n, concurrency)
        opened = time.monotonic() - t0
        log(f"idle: {len(clients)} open in {opened:.1f} s ({errors} errors), holding {hold:.0f} s")
        rss_open = server.rss_kb()
        cpu0 = server.cpu_s()
        t_hold = time.monotonic()
        await asyncio.sleep(hold)
        held = time.monotonic() - t_hold
        cpu = server.cpu_s() - cpu0
        rss_end = server.rss_kb()
        now = time.monotonic()
        lost = sum(1 for c in clients if c.lost.done())
        late = [x for c in clients for x in c.pings]
        # pings each connection was due: one per interval since its open packet
        due = sum(int((now - c.opened_at) // c.interval) for c in clients)
        missing = sum(
            max(0, int((now - c.opened_at) // c.interval) - len(c.pings)) for c in clients
        )
        for c in clients:
            c.close()
        await asyncio.sleep(1.0)
        late.sort()
        result: dict[str, object] = {
            "soak": "idle",
            "connections": len(clients),
            "open_errors": errors,
            "open_s": round(opened, 1),
            "hold_s": round(held, 1),
            "lost": lost,
            "pings_due": due,
            "pings_received": len(late),
            "pings_missing": missing,
            "ping_late_p50_ms": round(statistics.median(late) * 1000, 1) if late else None,
            "ping_late_p99_ms": round(late[int(len(late) * 0.99)] * 1000, 1) if late else None,
            "ping_late_max_ms": round(late[-1] * 1000, 1) if late else None,
            "ping_early_max_ms": round(-late[0] * 1000, 1) if late else None,
            "on_time": bool(
                late
                and lost == 0
                and missing == 0
                and errors == 0
                and late[-1] <= tolerance
                and late[0] >= -tolerance
            ),
            "tolerance_s": tolerance,
            "server_rss_before_kb": rss0,
            "server_rss_open_kb": rss_open,
            "server_rss_end_kb": rss_end,
            "server_bytes_per_conn": round((rss_end - rss0) * 1024 / max(len(clients), 1)),
            "server_cpu_pct_while_idle": round(100 * cpu / held, 2),
        }
        return result
    finally:
        server.stop()


# -- churn -------------------------------------------------------------------------------


async def soak_churn(cycles: int, concurrency: int, warmup: int) -> dict[str, object]:
    server = Server()
    try:
        await server.ready()
        port = server.port
        done = 0
        errors = 0

        async def cycle_many(count: int) -> None:
            nonlocal done, errors
            remaining = count

            async def worker() -> None:
                nonlocal remaining, done, errors
                while remaining > 0:
                    remaining -= 1
                    try:
                        client = await open_client(port)
                    except (OSError, asyncio.TimeoutError, ConnectionError):
                        errors += 1
                        continue
                    client.close()
                    await client.lost
                    done += 1

            await asyncio.gather(*(worker() for _ in range(concurrency)))

        await cycle_many(warmup)
        await asyncio.sleep(2.0)
        rss_start = server.rss_kb()
        log(f"churn: warm-up {warmup} cycles, server RSS {rss_start} kB")
        done = 0
        cpu0 = server.cpu_s()
        t0 = time.monotonic()
        checkpoints: list[tuple[int, int]] = []
        step = max(cycles // 10, 1)
        while done < cycles:
            await cycle_many(min(step, cycles - done))
            checkpoints.append((done, server.rss_kb()))
            log(f"churn: {done} cycles, RSS {checkpoints[-1][1]} kB, {errors} errors")
        elapsed = time.monotonic() - t0
        cpu = server.cpu_s() - cpu0
        await asyncio.sleep(3.0)
        rss_end = server.rss_kb()
        growth = (rss_end - rss_start) / rss_start
        return {
            "soak": "churn",
            "cycles": done,
            "errors": errors,
            "concurrency": concurrency,
            "elapsed_s": round(elapsed, 1),
            "cycles_per_s": round(done / elapsed),
            "server_us_per_cycle": round(cpu * 1e6 / max(done, 1)),
            "server_rss_start_kb": rss_start,
            "server_rss_max_kb": max(r for _, r in checkpoints),
            "server_rss_end_kb": rss_end,
            "rss_growth_pct": round(100 * growth, 2),
            "within_5pct": abs(growth) <= 0.05,
            "checkpoints": checkpoints,
        }
    finally:
        server.stop()


async def main(args: argparse.Namespace) -> None:
    if args.run in ("idle", "both"):
        print(json.dumps(await soak_idle(args.n, args.hold, args.concurrency, args.tolerance)))
    if args.run in ("churn", "both"):
        result = await soak_churn(args.cycles, args.concurrency, args.warmup)
        print(json.dumps(result))


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("run", choices=("idle", "churn", "both"))
    parser.add_argument("--n", type=int, default=10_000, help="idle connections")
    parser.add_argument("--hold", type=float, default=60.0, help="seconds to hold them")
    parser.add_argument("--tolerance", type=float, default=1.0, help="seconds a ping may be late")
    parser.add_argument("--cycles", type=int, default=100_000)
    parser.add_argument("--warmup", type=int, default=5_000)
    parser.add_argument("--concurrency", type=int, default=100)
    args = parser.parse_args()
    try:
        import resource

        soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    except (ImportError, ValueError, OSError):
        pass
    if not os.environ.get("BENCH_CPU_PINNED") and os.environ.get("BENCH_PIN", "1") == "1":
        os.environ["BENCH_CPU_PINNED"] = "1"
        os.execvp("taskset", ["taskset", "-c", "0", PY, *sys.argv])
    try:
        import uvloop

        asyncio.set_event_loop_policy(uvloop.EventLoopPolicy())
    except ImportError:
        pass
    asyncio.run(main(args))
