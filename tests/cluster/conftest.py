"""Fixtures of rtio.cluster's tests: a real redis-server (redis_server.py) when installed.

Tests that need one are skipped with the reason when Debian's redis-server is absent, unless
RTIO_REQUIRE_REDIS=1 (the CI stage sets it), when they fail instead.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from redis_server import REDIS_SERVER, RedisServer


@pytest.fixture
def redis_server(tmp_path: Path) -> Iterator[RedisServer]:
    if REDIS_SERVER is None:
        reason = "redis-server is not installed (apt-get install -y redis-server)"
        if os.environ.get("RTIO_REQUIRE_REDIS") == "1":
            pytest.fail(reason)
        pytest.skip(reason)
    server = RedisServer(tmp_path)
    server.start()
    try:
        yield server
    finally:
        server.stop()
