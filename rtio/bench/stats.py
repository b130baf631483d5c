"""Latency samples and their summary: count, min, mean, p50, p90, p99, max.

Pure code, no clock: callers record durations they measured (seconds) and ask for a
summary in milliseconds. Bounded: exact samples up to ``capacity``; past it, a uniform
reservoir of ``capacity`` samples (Vitter's algorithm R) stands for all of them, while
count, min, max and mean stay exact. Percentiles are nearest-rank on the kept samples.
"""

from __future__ import annotations

import math
import random
from array import array
from collections.abc import Iterable, Sequence

__all__ = ["PERCENTILES", "Samples", "percentile", "summarize"]

#: the percentiles every summary reports, as (name, fraction)
PERCENTILES = (("p50", 0.50), ("p90", 0.90), ("p99", 0.99))


def percentile(sorted_values: Sequence[float], fraction: float) -> float:
    """Nearest-rank percentile of ascending ``sorted_values`` (non-empty): the smallest
    value with at least ``fraction`` of the values at or below it."""
    if not sorted_values:
        raise ValueError("no values")
    if not 0.0 <= fraction <= 1.0:
        raise ValueError(f"fraction {fraction} not in [0, 1]")
    rank = max(1, math.ceil(fraction * len(sorted_values)))
    return sorted_values[rank - 1]


class Samples:
    """Durations in seconds, bounded to ``capacity`` kept values."""

    __slots__ = ("_kept", "_rng", "capacity", "count", "max", "min", "total")

    def __init__(self, capacity: int = 1_000_000, seed: int = 1) -> None:
        if capacity < 1:
            raise ValueError("capacity must be at least 1")
        self.capacity = capacity
        self._kept = array("d")
        self._rng = random.Random(seed)
        self.count = 0
        self.total = 0.0
        self.min = math.inf
        self.max = -math.inf

    def add(self, seconds: float) -> None:
        self.count += 1
        self.total += seconds
        if seconds < self.min:
            self.min = seconds
        if seconds > self.max:
            self.max = seconds
        kept = self._kept
        if len(kept) < self.capacity:
            kept.append(seconds)
            return
        slot = self._rng.randrange(self.count)  # algorithm R: keep with p = capacity/count
        if slot < self.capacity:
            kept[slot] = seconds

    def extend(self, values: Iterable[float]) -> None:
        for value in values:
            self.add(value)

    def summary_ms(self) -> dict[str, float | int | None]:
        """``{"count", "min", "mean", "p50", "p90", "p99", "max"}`` in milliseconds
        (rounded to µs); every figure but count is None when there is no sample."""
        return summarize(self._kept, self.count, self.total, self.min, self.max)


def summarize(
    kept: Iterable[float], count: int, total: float, low: float, high: float
) -> dict[str, float | int | None]:
    out: dict[str, float | int | None] = {"count": count}
    if count == 0:
        out.update({"min": None, "mean": None, **{n: None for n, _ in PERCENTILES}, "max": None})
        return out
    ordered = sorted(kept)
    out["min"] = _ms(low)
    out["mean"] = _ms(total / count)
    for name, fraction in PERCENTILES:
        out[name] = _ms(percentile(ordered, fraction))
    out["max"] = _ms(high)
    return out


def _ms(seconds: float) -> float:
    return round(seconds * 1000.0, 3)
