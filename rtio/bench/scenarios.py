"""The four scenarios, each ``async def(run) -> results dict``, on the bench server
contract (../shared/bench/README.md: events ``echo``, ``join``, ``bcast`` on namespace /).

    echo           N clients emit ``echo`` with an ack; closed loop (one request in flight
                   per client) or, with --rate, open loop at R round trips/s over all of
                   them. Latency: emit -> ack. Acks are checked (same args back).
    fanout         N clients join a room; one more client emits ``bcast(room, burst,
                   payload)``: closed loop (the next broadcast once every member has the
                   last one, or after drain_timeout) or R broadcasts/s. Latency: the
                   broadcast's emit -> each delivery. Lost deliveries are errors.
    connect-storm  N workers each connect, close and connect again until the end (at most
                   R connects/s over all). Latency: the handshake (TCP to the Socket.IO
                   CONNECT answer); failures counted by cause.
    idle           N clients connect and stay idle (answering heartbeats); the server's
                   RSS before and after gives its memory per connection.

Every loop ends at the run's deadline; what is still outstanding then is waited for at
most ``drain_timeout`` and counted as lost.
"""

from __future__ import annotations

import asyncio
import functools
import itertools
from collections.abc import Awaitable, Callable
from time import perf_counter
from typing import Any

from .load import BenchClient, ClientFailure, ClientState, PreparedEmit, failure_cause
from .runner import Run, make_payload

__all__ = ["SCENARIOS", "run_scenario"]

_TICK = 0.01  # open-loop scheduling step (s)


def _window_rate(run: Run, count: int) -> float:
    return round(count / run.window.seconds, 3)


async def _warmup(run: Run) -> None:
    if run.params.warmup_s > 0:
        run.phase = "warmup"
        await asyncio.sleep(run.params.warmup_s)


# -- echo -------------------------------------------------------------------------------


async def echo(run: Run) -> dict[str, Any]:
    params = run.params
    loop = run.loop
    deadline = loop.time() + params.warmup_s + params.duration_s + params.connect_timeout_s
    clients = await run.connect_all(params.clients, deadline)
    payload = make_payload(params.payload_bytes)
    expected = [payload]
    prepared = PreparedEmit.of(run.parser, run.target.namespace, "echo", expected)
    state = {"sent": 0, "answered": 0, "running": True}

    def send(client: BenchClient, due_at: float | None = None) -> None:
        if not state["running"]:
            return
        if due_at is not None:
            run.send_lag.add(max(0.0, perf_counter() - due_at))
        try:
            client.emit("echo", expected, on_ack[client], prepared)
            state["sent"] += 1
        except ClientFailure as exc:
            run.error("run", exc.cause)

    def answered(client: BenchClient, rtt: float, args: list[Any]) -> None:
        state["answered"] += 1
        if run.measuring:
            if args != expected:
                run.error("run", "bad ack")
            run.latency.add(rtt)
            run.ops += 1
        if state["running"] and params.rate is None and client.state is ClientState.CONNECTED:
            send(client)

    on_ack: dict[BenchClient, Callable[[float, list[Any]], None]] = {
        client: functools.partial(answered, client) for client in clients
    }
    ticker: asyncio.Task[None] | None = None
    if clients:
        if params.rate is None:
            for client in clients:
                send(client)
        else:
            ticker = loop.create_task(_open_loop(run, clients, params.rate, send))
    await _warmup(run)
    await run.measure(params.duration_s)
    state["running"] = False
    if ticker is not None:
        ticker.cancel()
    run.phase = "draining"
    await _wait_until(run, lambda: all(c.pending_acks == 0 for c in clients))
    lost = sum(c.pending_acks for c in clients)
    if lost:
        run.error("drain", "unanswered", lost)
    await run.close_all(clients)
    return {
        "connected": len(clients),
        "round_trips": run.ops,
        "throughput_per_s": _window_rate(run, run.ops),
        "sent": state["sent"],
        "unanswered": lost,
    }


async def _open_loop(
    run: Run, clients: list[BenchClient], rate: float,
    send: Callable[[BenchClient, float | None], None],
) -> None:
    """Send ``rate`` requests per second, round-robin over ``clients``, until cancelled,
    whatever is still unanswered (so a slow server cannot slow the load down: no
    coordinated omission). Each send is given the perf_counter time it was due; how late
    it went out (this loop's tick, or the tool falling behind) is ``run.send_lag``,
    reported apart from the latency."""
    loop = run.loop
    started = loop.time()
    origin = perf_counter()
    done = 0
    cycle = itertools.cycle(clients)
    while True:
        due = int((loop.time() - started) * rate) - done
        for i in range(max(0, due)):
            send(next(cycle), origin + (done + i + 1) / rate)
        done += max(0, due)
        await asyncio.sleep(_TICK)


async def _wait_until(run: Run, done: Callable[[], bool]) -> None:
    limit = run.loop.time() + run.params.drain_timeout_s
    while not done() and run.loop.time() < limit:
        await asyncio.sleep(0.02)


# -- fanout -----------------------------------------------------------------------------


async def fanout(run: Run) -> dict[str, Any]:
    params = run.params
    loop = run.loop
    sent_at: dict[int, float] = {}
    counts = {"delivered": 0, "expected": 0, "broadcasts": 0, "acked": 0, "round_done": 0}
    round_done: asyncio.Event = asyncio.Event()
    per_round = params.clients * params.burst
    received: dict[int, int] = {}
    in_window: set[int] = set()  # the broadcasts sent while measuring

    def on_event(client: BenchClient, name: str, args: list[Any]) -> None:
        if name != "msg" or not args or not isinstance(args[0], dict):
            return
        seq = args[0].get("seq")
        if not isinstance(seq, int):
            return
        started = sent_at.get(seq)
        if started is None:
            return  # a broadcast from before the run (or not ours)
        got = received[seq] = received.get(seq, 0) + 1
        if got == per_round:
            round_done.set()
        if seq in in_window:
            run.latency.add(perf_counter() - started)
        if run.measuring:
            run.ops += 1

    deadline = loop.time() + params.warmup_s + params.duration_s + params.connect_timeout_s
    members = await run.connect_all(
        params.clients, deadline, lambda: run.new_client(on_event=on_event)
    )
    emitters = await run.connect_all(1, deadline)
    joined = await _join_all(run, members)
    if not emitters or not joined:
        run.error("setup", "no emitter" if not emitters else "nobody joined")
        await run.close_all(members + emitters)
        return {"connected": len(members), "joined": len(joined), "broadcasts": 0}
    emitter = emitters[0]
    per_round = len(joined) * params.burst
    seq_counter = itertools.count(1)

    def broadcast(_client: BenchClient | None = None, due_at: float | None = None) -> None:
        if not running[0]:
            return
        seq = next(seq_counter)
        payload = make_payload(params.payload_bytes, seq)
        sent_at[seq] = now = perf_counter()
        if due_at is not None:
            run.send_lag.add(max(0.0, now - due_at))
        received[seq] = 0
        round_done.clear()
        try:
            emitter.emit("bcast", [params.room, params.burst, payload], bcast_acked)
        except ClientFailure as exc:
            run.error("run", exc.cause)
            return
        if run.measuring:
            in_window.add(seq)
            counts["broadcasts"] += 1
            counts["expected"] += per_round

    def bcast_acked(_rtt: float, _args: list[Any]) -> None:
        counts["acked"] += 1

    running = [True]  # not only cancel(): wait_for may swallow a cancellation (bpo-42130)

    async def closed_loop() -> None:
        while running[0]:
            broadcast()
            try:
                await asyncio.wait_for(round_done.wait(), params.drain_timeout_s)
            except asyncio.TimeoutError:
                run.error("run", "round timeout")

    driver = loop.create_task(
        closed_loop() if params.rate is None else _open_loop(run, [emitter], params.rate,
                                                              broadcast)
    )
    await _warmup(run)
    await run.measure(params.duration_s)
    running[0] = False
    driver.cancel()
    run.phase = "draining"
    measured = sorted(in_window)

    def all_in() -> bool:
        return all(received.get(s, 0) >= per_round for s in measured)

    await _wait_until(run, all_in)
    lost = sum(max(0, per_round - received.get(s, 0)) for s in measured)
    if lost:
        run.error("drain", "lost deliveries", lost)
    await run.close_all(members + emitters)
    return {
        "connected": len(members),
        "joined": len(joined),
        "broadcasts": counts["broadcasts"],
        "messages_per_broadcast": params.burst,
        "deliveries": run.ops,
        "expected_deliveries": counts["expected"],
        "lost_deliveries": lost,
        "throughput_per_s": _window_rate(run, run.ops),
    }


async def _join_all(run: Run, members: list[BenchClient]) -> list[BenchClient]:
    """Every member joins the room (``join`` with an ack); the ones that did."""
    joined: list[BenchClient] = []
    answered = [0]
    for client in members:
        def acked(_rtt: float, args: list[Any], client: BenchClient = client) -> None:
            answered[0] += 1
            if args == [run.params.room]:
                joined.append(client)
            else:
                run.error("setup", "bad join ack")

        try:
            client.emit("join", [run.params.room], acked)
        except ClientFailure as exc:
            answered[0] += 1
            run.error("setup", exc.cause)
    await _wait_until(run, lambda: answered[0] >= len(members))
    if answered[0] < len(members):
        run.error("setup", "join unanswered", len(members) - answered[0])
    return joined


# -- connect storm ----------------------------------------------------------------------


async def connect_storm(run: Run) -> dict[str, Any]:
    params = run.params
    loop = run.loop
    stop_at = loop.time() + params.duration_s
    slot = {"next": loop.time()}
    attempts = {"count": 0}

    async def take_slot() -> bool:
        if params.rate is None:
            return loop.time() < stop_at
        when = slot["next"] = max(slot["next"] + 1.0 / params.rate, loop.time())
        if when >= stop_at:
            return False
        await asyncio.sleep(when - loop.time())
        return True

    async def worker() -> None:
        while loop.time() < stop_at and await take_slot():
            client = run.new_client()
            attempts["count"] += 1
            if await run.connect_one(client, phase="connect"):
                run.ops += 1
            with_timeout = min(params.connect_timeout_s, 2.0)
            try:
                await client.close(with_timeout)
            except Exception as exc:  # counted, the storm goes on
                run.error("close", failure_cause(exc))

    run.open_window()
    workers = [loop.create_task(worker()) for _ in range(params.clients)]
    _, pending = await asyncio.wait(
        workers, timeout=params.duration_s + params.connect_timeout_s + 3.0
    )
    for task in pending:
        task.cancel()
    run.close_window()
    await run.close_all([])
    return {
        "attempts": attempts["count"],
        "connects": run.ops,
        "failed": sum(run.errors.get("connect", {}).values()),
        "throughput_per_s": _window_rate(run, run.ops),
    }


# -- idle -------------------------------------------------------------------------------


async def idle(run: Run) -> dict[str, Any]:
    params = run.params
    loop = run.loop
    before = run.server.read() if run.server else None
    deadline = loop.time() + params.duration_s + params.connect_timeout_s
    ramp_started = perf_counter()
    clients = await run.connect_all(params.clients, deadline)
    ramp = perf_counter() - ramp_started
    run.ops = len(clients)
    run.open_window()  # the window: the idle time, settle included
    settle = min(params.settle_s, params.duration_s)
    await asyncio.sleep(settle)
    after = run.server.read() if run.server else None
    await asyncio.sleep(params.duration_s - settle)
    run.close_window()
    still = sum(1 for c in clients if c.state is ClientState.CONNECTED)
    if still < len(clients):
        run.error("run", "dropped while idle", len(clients) - still)
    result: dict[str, Any] = {
        "connected": len(clients),
        "still_connected": still,
        "connects_per_s": round(len(clients) / ramp, 3) if ramp > 0 else None,
        "throughput_per_s": 0.0,
        "server_rss_before_bytes": before.rss_bytes if before else None,
        "server_rss_after_bytes": after.rss_bytes if after else None,
        "server_bytes_per_connection": (
            round((after.rss_bytes - before.rss_bytes) / len(clients))
            if before and after and clients else None
        ),
    }
    await run.close_all(clients)
    return result


SCENARIOS: dict[str, Callable[[Run], Awaitable[dict[str, Any]]]] = {
    "echo": echo,
    "fanout": fanout,
    "connect-storm": connect_storm,
    "idle": idle,
}


async def run_scenario(run: Run) -> dict[str, Any]:
    return await SCENARIOS[run.params.scenario](run)
