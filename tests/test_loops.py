"""rtio/loops.py: the event loop ``run_app(loop=...)`` and ``rtio serve --loop`` run on."""

from __future__ import annotations

import asyncio
import inspect
import sys
import warnings
from collections.abc import Iterator

import pytest

from rtio import loops


async def _which() -> str:
    return type(asyncio.get_running_loop()).__module__


@pytest.fixture(autouse=True)
def _policy() -> Iterator[None]:
    """Each test leaves the loop policy as it found it."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        before = asyncio.get_event_loop_policy()
        yield
        asyncio.set_event_loop_policy(before)


def test_auto_is_uvloop_when_installed_and_no_policy_was_set() -> None:
    pytest.importorskip("uvloop")
    asyncio.set_event_loop_policy(None)  # asyncio's default policy
    assert loops.run(_which(), "auto").startswith("uvloop")
    assert loops.run(_which(), "uvloop").startswith("uvloop")
    assert loops.run(_which(), "asyncio").startswith("asyncio")


def test_auto_keeps_a_policy_the_caller_set() -> None:
    class Policy(asyncio.DefaultEventLoopPolicy):  # a policy of the app's own: asyncio's loop
        pass

    asyncio.set_event_loop_policy(Policy())
    assert loops.run(_which(), "auto").startswith("asyncio")


def test_without_uvloop_auto_falls_back_and_uvloop_is_refused(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setitem(sys.modules, "uvloop", None)  # as if not installed
    asyncio.set_event_loop_policy(None)
    assert loops.run(_which(), "auto").startswith("asyncio")
    main = _which()
    with pytest.raises(loops.LoopUnavailable, match="uvloop is not installed"):
        loops.run(main, "uvloop")
    assert inspect.getcoroutinestate(main) == "CORO_CLOSED"  # no "never awaited" warning


def test_an_unknown_loop_is_a_value_error() -> None:
    main = _which()
    with pytest.raises(ValueError, match="loop must be one of auto, asyncio, uvloop"):
        loops.run(main, "trio")
    assert inspect.getcoroutinestate(main) == "CORO_CLOSED"
