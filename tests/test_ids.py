"""rtio.ids: 20-character url-safe ids, drawn in batches, fork-safe."""

from __future__ import annotations

import itertools
import re

import pytest

from rtio.ids import IdPool, new_id


def test_ids_are_20_url_safe_characters_and_distinct() -> None:
    ids = [new_id() for _ in range(1000)]
    assert all(re.fullmatch(r"[A-Za-z0-9_-]{20}", i) for i in ids)
    assert len(set(ids)) == 1000


def test_pool_draws_once_per_batch_in_order() -> None:
    counter = itertools.count()
    calls: list[int] = []

    def random_bytes(n: int) -> bytes:
        calls.append(n)
        return bytes(next(counter) % 256 for _ in range(n))

    pool = IdPool(random_bytes, per_draw=4)
    first = [pool() for _ in range(4)]
    assert calls == [60]
    assert first[0] == "AAECAwQFBgcICQoLDA0O"  # base64 of bytes 0..14: the first drawn
    pool()
    assert calls == [60, 60]


def test_clear_forgets_drawn_ids() -> None:
    draws: list[int] = []

    def random_bytes(n: int) -> bytes:
        draws.append(n)
        return b"\0" * n

    pool = IdPool(random_bytes, per_draw=2)
    pool()
    pool.clear()  # one id of the batch is left, and forgotten
    pool()
    assert len(draws) == 2


def test_a_prefix_replaces_the_first_characters_and_keeps_the_length() -> None:
    pool = IdPool()
    pool.set_prefix("C")
    ids = [pool() for _ in range(100)]
    assert all(len(i) == 20 and i.startswith("C") for i in ids)
    assert len(set(ids)) == 100
    pool.set_prefix("")
    assert not all(pool().startswith("C") for _ in range(50))
    with pytest.raises(ValueError):
        pool.set_prefix("x" * 10)
