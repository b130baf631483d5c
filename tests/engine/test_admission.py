"""Admission control (rtio/engine/admission.py): the token bucket driven by a hand clock,
then through a real engine: a storm of handshakes past ``max_handshake_rate`` is answered
503 with Retry-After, the sessions already open keep working, and the refused clients get in
once the rate allows (the bucket's refill, checked with the hand clock)."""

from __future__ import annotations

import asyncio
import json
import logging

import pytest

from rtio.engine import EngineOptions
from rtio.engine.admission import HandshakeAdmission

from .conftest import MakeEngine


def test_a_burst_then_the_sustained_rate() -> None:
    gate = HandshakeAdmission(rate=10, burst=3)  # no wait: refused at once
    assert [gate.admit(0.0) for _ in range(3)] == [0.0, 0.0, 0.0]
    assert gate.admit(0.0) is None
    assert gate.retry_after(0.0) == "1"  # one token comes back every 1/rate s
    assert gate.admit(0.05) is None
    assert gate.admit(0.1) == 0.0
    assert gate.admit(0.1) is None
    # a quiet second refills the bucket to its burst, never above it
    assert [gate.admit(5.0) for _ in range(4)] == [0.0, 0.0, 0.0, None]


def test_handshakes_over_the_rate_wait_in_line_up_to_max_wait() -> None:
    gate = HandshakeAdmission(rate=10, burst=2, max_wait=0.5)
    assert [gate.admit(0.0) for _ in range(2)] == [0.0, 0.0]
    # the next ones wait for their token, 1/rate apart, as long as max_wait allows
    waits = [gate.admit(0.0) for _ in range(6)]
    assert waits[:5] == pytest.approx([0.1, 0.2, 0.3, 0.4, 0.5])
    assert waits[5] is None
    # the refused one comes back when the line is short enough again
    assert gate.retry_after(0.0) == "1"
    assert gate.admit(0.1) == pytest.approx(0.5)  # a token came back: one place in line
    assert gate.admit(0.1) is None
    # once the line has been served the bucket refills as before
    assert [gate.admit(10.0) for _ in range(2)] == [0.0, 0.0]


def test_lockstep_retries_are_not_starved_by_a_small_burst() -> None:
    # the npm client's retries at its 5 s backoff cap come back together: 94 clients
    # left out, a rate of 30/s and a burst of 3 (docs/OPERATIONS.md, the 3,000-client run).
    # Refusing at once lets 3 in per round; waiting up to 2 s lets in a round's worth.
    def rounds_to_let_all_in(max_wait: float) -> int:
        gate = HandshakeAdmission(rate=30, burst=3, max_wait=max_wait)
        left, rounds = 94, 0
        while left and rounds < 100:
            now = 5.0 * rounds
            left -= sum(gate.admit(now + i * 1e-4) is not None for i in range(left))
            rounds += 1
        return rounds

    assert rounds_to_let_all_in(0.0) == 32
    assert rounds_to_let_all_in(2.0) == 2


def test_default_burst_is_one_seconds_worth() -> None:
    assert HandshakeAdmission(rate=250).burst == 250
    assert HandshakeAdmission(rate=0.5).burst == 1


def test_retry_after_is_whole_seconds_at_least_one() -> None:
    gate = HandshakeAdmission(rate=1, burst=1, max_wait=1.0)
    assert gate.admit(0.0) == 0.0
    assert gate.admit(0.0) == 1.0
    assert gate.admit(0.0) is None
    assert gate.retry_after(0.0) == "1"  # 2 s for a token, 1 s of it in line
    assert gate.admit(0.0) is None
    assert HandshakeAdmission(rate=0.5, burst=1).retry_after(0.0) == "1"
    slow = HandshakeAdmission(rate=0.1, burst=1)
    slow.admit(0.0)
    assert slow.retry_after(0.8) == "10"


def test_refusals_are_logged_once_per_interval(caplog: pytest.LogCaptureFixture) -> None:
    gate = HandshakeAdmission(rate=1, burst=1)
    gate.admit(0.0)
    with caplog.at_level(logging.WARNING, logger="rtio.engine"):
        for i in range(100):
            gate.admit(0.001 * i)
    lines = [r.getMessage() for r in caplog.records]
    assert len(lines) == 1
    assert "max_handshake_rate=1/s" in lines[0]


@pytest.mark.parametrize(
    "options",
    [
        {"max_handshake_rate": 0},
        {"max_handshake_rate": -1},
        {"handshake_burst": 0},
        {"handshake_wait": -1},
        {"handshake_wait": 61},
    ],
)
def test_bad_options_are_refused(options: dict[str, float]) -> None:
    with pytest.raises(ValueError, match=r"max_handshake_rate|handshake_burst|handshake_wait"):
        EngineOptions(**options)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    "arguments", [{"rate": 0}, {"rate": 1, "burst": 0}, {"rate": 1, "max_wait": -0.1}]
)
def test_the_bucket_refuses_bad_arguments_itself(arguments: dict[str, float]) -> None:
    with pytest.raises(ValueError, match=r"max_handshake_rate|handshake_burst|handshake_wait"):
        HandshakeAdmission(**arguments)  # type: ignore[arg-type]


async def test_a_storm_gets_503_with_retry_after_and_open_sessions_go_on(
    make_engine: MakeEngine,
) -> None:
    engine = await make_engine(max_handshake_rate=0.5, handshake_burst=2, handshake_wait=0)
    first, _ = await engine.handshake()
    await engine.handshake()
    statuses = []
    for _ in range(20):
        resp = await engine.client.get("/engine.io/", params={"EIO": "4", "transport": "polling"})
        statuses.append(resp.status)
        if resp.status == 503:
            assert resp.headers["Retry-After"] == "2"
            assert json.loads(await resp.text()) == {
                "code": 3,
                "message": "Too many new sessions, retry later",
            }
    assert statuses == [503] * 20
    assert len(engine.server.sessions) == 2
    # a session let in before the storm is served as usual
    resp = await engine.client.post(
        "/engine.io/", params={"EIO": "4", "transport": "polling", "sid": first}, data="4hi"
    )
    assert resp.status == 200


async def test_handshakes_just_over_the_rate_wait_for_their_turn(
    make_engine: MakeEngine,
) -> None:
    engine = await make_engine(max_handshake_rate=20, handshake_burst=1, handshake_wait=1.0)
    loop = asyncio.get_running_loop()
    started = loop.time()

    async def handshake() -> tuple[int, float]:
        resp = await engine.client.get("/engine.io/", params={"EIO": "4", "transport": "polling"})
        return resp.status, loop.time() - started

    results = await asyncio.gather(*(handshake() for _ in range(4)))
    assert [status for status, _ in results] == [200] * 4
    # 1 at once, then 1/rate apart: the last one after about 3/20 s
    assert max(elapsed for _, elapsed in results) >= 0.14
    assert len(engine.server.sessions) == 4


async def test_a_handshake_waiting_in_line_is_refused_when_shutdown_begins(
    make_engine: MakeEngine,
) -> None:
    engine = await make_engine(max_handshake_rate=2, handshake_burst=1, handshake_wait=5.0)
    await engine.handshake()
    waiting = asyncio.ensure_future(
        engine.client.get("/engine.io/", params={"EIO": "4", "transport": "polling"})
    )
    await asyncio.sleep(0.1)  # it waits for its token (0.5 s)
    shutdown = asyncio.ensure_future(engine.server.shutdown())
    resp = await waiting
    assert resp.status == 503
    assert json.loads(await resp.text())["message"] == "Server shutting down"
    await shutdown
