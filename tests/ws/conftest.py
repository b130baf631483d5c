"""The contract tests of the modules that take over a transport (aiohttp_adapter.py,
stream.py) run on both event loops rtio supports: asyncio's own and uvloop (the one
production uses on Linux), whose transports differ in set_protocol and flow control."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Mapping

import pytest
import uvloop

_ON_BOTH_LOOPS = ("test_aiohttp_adapter.py", "test_stream.py")


def pytest_asyncio_loop_factories(
    config: pytest.Config, item: pytest.Item
) -> Mapping[str, Callable[[], asyncio.AbstractEventLoop]]:
    if item.path.name not in _ON_BOTH_LOOPS:
        return {"asyncio": asyncio.new_event_loop}  # the hook must answer for every test
    return {"asyncio": asyncio.new_event_loop, "uvloop": uvloop.new_event_loop}
