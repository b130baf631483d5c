"""Graceful drain (rtio/socketio/drain.py): at shutdown, new sessions are refused at once,
a handler awaiting something gets to answer its client, and then the client is told
"server shutting down"; a handler that outlasts ``shutdown_drain`` is cut off with a
warning. Through rtio.testing's in-memory client (the server's own engine path)."""

from __future__ import annotations

import asyncio
import logging

import pytest

import rtio
from rtio.client.errors import ConnectError
from rtio.testing import test_client


def make_server(work: float, drain: float) -> tuple[rtio.Server, list[str]]:
    sio = rtio.Server(shutdown_drain=drain, connect_timeout=None)
    log: list[str] = []

    @sio.on("work")
    async def work_handler(socket: rtio.Socket) -> str:
        log.append("started")
        await asyncio.sleep(work)
        log.append("finished")
        return "done"

    @sio.on("disconnect")
    def gone(socket: rtio.Socket, reason: str) -> None:
        log.append(f"disconnect: {reason}")

    return sio, log


async def test_a_running_handler_answers_before_the_clients_are_told() -> None:
    sio, log = make_server(work=0.3, drain=5.0)
    async with test_client(sio) as client:
        answer = asyncio.ensure_future(client.call("work", timeout=5))
        while "started" not in log:
            await asyncio.sleep(0.01)
        shutdown = asyncio.ensure_future(sio.shutdown())
        await asyncio.sleep(0.05)
        assert not shutdown.done()  # waiting for the handler
        assert await answer == "done"
        await asyncio.wait_for(shutdown, 5)
    assert log == ["started", "finished", "disconnect: server shutting down"]


async def test_new_sessions_are_refused_while_draining() -> None:
    sio, log = make_server(work=0.5, drain=5.0)
    async with test_client(sio) as client:
        answer = asyncio.ensure_future(client.call("work", timeout=5))
        while "started" not in log:
            await asyncio.sleep(0.01)
        shutdown = asyncio.ensure_future(sio.shutdown())
        await asyncio.sleep(0.05)
        with pytest.raises(ConnectError, match=r"503|shutting down"):
            async with test_client(sio):
                pass
        await answer
        await shutdown


async def test_a_handler_past_the_bound_is_cut_off_with_a_warning(
    caplog: pytest.LogCaptureFixture,
) -> None:
    sio, log = make_server(work=30, drain=0.2)
    async with test_client(sio) as client:
        asyncio.ensure_future(client.call("work", timeout=60)).add_done_callback(
            lambda f: f.exception()
        )
        while "started" not in log:
            await asyncio.sleep(0.01)
        with caplog.at_level(logging.WARNING, logger="rtio.engine"):
            started = asyncio.get_running_loop().time()
            await sio.shutdown()
            took = asyncio.get_running_loop().time() - started
    assert took < 5
    assert "finished" not in log
    assert any("shutdown_drain=0.2s" in r.getMessage() for r in caplog.records)


async def test_no_wait_when_nothing_runs() -> None:
    sio, _log = make_server(work=0, drain=30.0)
    async with test_client(sio):
        started = asyncio.get_running_loop().time()
        await sio.shutdown()
        assert asyncio.get_running_loop().time() - started < 2


def test_bad_drain_is_refused() -> None:
    with pytest.raises(ValueError, match="shutdown_drain"):
        rtio.Server(shutdown_drain=-1)
