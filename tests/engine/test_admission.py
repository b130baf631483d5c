"""Admission control (rtio/engine/admission.py): the token bucket driven by a hand clock,
then through a real engine: a storm of handshakes past ``max_handshake_rate`` is answered
503 with Retry-After, the sessions already open keep working, and the refused clients get in
once the rate allows (the bucket's refill, checked with the hand clock)."""

from __future__ import annotations

import json
import logging

import pytest

from rtio.engine import EngineOptions
from rtio.engine.admission import HandshakeAdmission

from .conftest import MakeEngine


def test_a_burst_then_the_sustained_rate() -> None:
    gate = HandshakeAdmission(rate=10, burst=3)
    assert [gate.admit(0.0) for _ in range(3)] == [None, None, None]
    wait = gate.admit(0.0)
    assert wait == pytest.approx(0.1)  # one token comes back every 1/rate s
    assert gate.admit(0.05) == pytest.approx(0.05)
    assert gate.admit(0.1) is None
    assert gate.admit(0.1) is not None
    # a quiet second refills the bucket to its burst, never above it
    assert [gate.admit(5.0) for _ in range(4)][:3] == [None, None, None]
    assert gate.admit(5.0) is not None


def test_default_burst_is_one_seconds_worth() -> None:
    assert HandshakeAdmission(rate=250).burst == 250
    assert HandshakeAdmission(rate=0.5).burst == 1


def test_retry_after_is_whole_seconds_at_least_one() -> None:
    gate = HandshakeAdmission(rate=1000)
    assert gate.retry_after(0.001) == "1"
    assert gate.retry_after(2.2) == "3"


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
    "options", [{"max_handshake_rate": 0}, {"max_handshake_rate": -1}, {"handshake_burst": 0}]
)
def test_bad_options_are_refused(options: dict[str, float]) -> None:
    with pytest.raises(ValueError, match=r"max_handshake_rate|handshake_burst"):
        EngineOptions(**options)  # type: ignore[arg-type]


async def test_a_storm_gets_503_with_retry_after_and_open_sessions_go_on(
    make_engine: MakeEngine,
) -> None:
    engine = await make_engine(max_handshake_rate=0.5, handshake_burst=2)
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
