"""_serial: a socket's handlers one after another, inline until they first suspend."""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import pytest

from rtio.socketio._serial import SerialRunner, run_inline


async def test_a_job_that_never_suspends_runs_inline_without_a_task() -> None:
    runner = SerialRunner()
    done: list[int] = []

    async def job(n: int) -> None:
        done.append(n)

    tasks_before = len(asyncio.all_tasks())
    runner.submit(job(1))
    assert done == [1] and runner.idle  # finished before submit returned
    assert len(asyncio.all_tasks()) == tasks_before


async def test_jobs_run_in_submission_order_even_when_they_suspend() -> None:
    runner = SerialRunner()
    order: list[str] = []

    async def slow(tag: str) -> None:
        order.append(f"{tag} start")
        await asyncio.sleep(0.01)
        order.append(f"{tag} end")

    async def fast(tag: str) -> None:
        order.append(tag)

    async def nested() -> None:
        runner.submit(fast("submitted by a job"))  # queued behind the running job
        order.append("nested")

    runner.submit(slow("a"))
    runner.submit(fast("b"))
    runner.submit(nested())
    runner.submit(slow("c"))
    assert not runner.idle
    await asyncio.sleep(0.05)
    # FIFO: what a job submits runs after what was submitted before it
    assert order == ["a start", "a end", "b", "nested", "c start", "c end", "submitted by a job"]
    assert runner.idle


async def test_errors_are_logged_and_the_queue_goes_on(caplog: pytest.LogCaptureFixture) -> None:
    runner = SerialRunner()
    order: list[str] = []

    async def boom_now() -> None:
        raise RuntimeError("inline failure")

    async def boom_later() -> None:
        await asyncio.sleep(0)
        raise RuntimeError("failure after suspending")

    async def ok() -> None:
        order.append("ok")

    runner.submit(boom_now())
    runner.submit(ok())
    runner.submit(boom_later())
    runner.submit(boom_later())
    runner.submit(ok())
    await asyncio.sleep(0.01)
    assert order == ["ok", "ok"]
    assert "inline failure" in caplog.text
    assert caplog.text.count("RuntimeError: failure after suspending") == 2


async def test_exceptions_thrown_into_a_resumed_job_reach_it() -> None:
    runner = SerialRunner()
    seen: list[Any] = []
    started = asyncio.Event()

    async def waits() -> None:
        try:
            started.set()
            await asyncio.sleep(10)
        except asyncio.CancelledError:
            seen.append("cancelled inside")
            raise

    async def never_runs() -> None:
        seen.append("ran")

    runner.submit(waits())
    runner.submit(never_runs())
    await started.wait()
    await asyncio.sleep(0)  # the task takes over the suspended job
    assert runner._task is not None
    runner._task.cancel()
    for _ in range(3):
        await asyncio.sleep(0)
    assert seen == ["cancelled inside"]
    assert runner.idle  # and usable again
    runner.submit(never_runs())
    assert seen == ["cancelled inside", "ran"]


async def test_a_task_cancelled_before_it_starts_leaves_the_runner_idle() -> None:
    runner = SerialRunner()

    async def waits() -> None:
        await asyncio.sleep(10)

    runner.submit(waits())
    assert runner._task is not None
    runner._task.cancel()
    for _ in range(3):
        await asyncio.sleep(0)
    assert runner.idle


async def test_a_job_can_catch_what_is_thrown_in_and_go_on() -> None:
    runner = SerialRunner()
    result: list[str] = []

    async def resilient() -> None:
        try:
            await asyncio.sleep(10)
        except asyncio.CancelledError:
            result.append("caught")
        await asyncio.sleep(0)
        result.append("went on")

    runner.submit(resilient())
    await asyncio.sleep(0)
    assert runner._task is not None
    runner._task.cancel()
    for _ in range(5):
        await asyncio.sleep(0)
    assert result == ["caught", "went on"]


async def test_run_inline(caplog: pytest.LogCaptureFixture) -> None:
    out: list[str] = []

    async def quick() -> None:
        out.append("quick")

    async def later() -> None:
        await asyncio.sleep(0)
        out.append("later")

    async def fails_now() -> None:
        raise ValueError("bad now")

    async def fails_later() -> None:
        await asyncio.sleep(0)
        raise ValueError("bad later")

    with caplog.at_level(logging.ERROR):
        run_inline(quick())
        assert out == ["quick"]
        run_inline(later())
        run_inline(fails_now())
        run_inline(fails_later())
        await asyncio.sleep(0.01)
    assert out == ["quick", "later"]
    assert "bad now" in caplog.text and "bad later" in caplog.text


async def test_a_claimed_runner_queues_submissions_until_release() -> None:
    runner = SerialRunner()
    order: list[str] = []

    async def job(tag: str) -> None:
        order.append(tag)

    assert runner.claim()  # the caller runs a plain function inline now
    assert not runner.claim() and runner.busy  # claimed once only
    runner.submit(job("submitted meanwhile"))
    assert order == [] and runner.backlog == 1
    order.append("claimed job")
    assert not runner.release()  # what was submitted meanwhile runs now, in order
    assert order == ["claimed job", "submitted meanwhile"] and runner.idle
    assert runner.claim()
    assert not runner.release()  # nothing queued: idle again at once
    assert runner.idle and runner.backlog == 0


async def test_a_job_released_into_that_suspends_keeps_the_order() -> None:
    runner = SerialRunner()
    order: list[str] = []
    gate = asyncio.Event()

    async def slow() -> None:
        await gate.wait()
        order.append("slow")

    async def fast() -> None:
        order.append("fast")

    assert runner.claim()
    runner.submit(slow())
    runner.submit(fast())
    assert runner.release()  # says a job suspended: the owner watches it
    assert runner.busy and not runner.claim()  # slow() suspended: a task finishes it
    gate.set()
    for _ in range(5):
        await asyncio.sleep(0)
    assert order == ["slow", "fast"] and runner.idle
