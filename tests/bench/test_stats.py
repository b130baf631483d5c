"""rtio.bench.stats: nearest-rank percentiles and the bounded sample store."""

from __future__ import annotations

import pytest

from rtio.bench.stats import Samples, percentile


@pytest.mark.parametrize(("values", "fraction", "expected"), [
    ([1.0], 0.5, 1.0),
    ([1.0], 0.99, 1.0),
    ([1.0, 2.0], 0.5, 1.0),  # rank ceil(0.5 * 2) = 1
    ([1.0, 2.0], 0.51, 2.0),
    ([1.0, 2.0, 3.0, 4.0], 0.5, 2.0),
    ([1.0, 2.0, 3.0, 4.0], 0.75, 3.0),
    ([1.0, 2.0, 3.0, 4.0], 1.0, 4.0),
    ([1.0, 2.0, 3.0, 4.0], 0.0, 1.0),  # the smallest, not an index -1
    ([float(i) for i in range(1, 101)], 0.9, 90.0),
    ([float(i) for i in range(1, 101)], 0.99, 99.0),
    ([float(i) for i in range(1, 1001)], 0.99, 990.0),
])
def test_percentile_is_nearest_rank(values: list[float], fraction: float, expected: float) -> None:
    assert percentile(values, fraction) == expected


def test_percentile_refuses_nothing_and_bad_fractions() -> None:
    with pytest.raises(ValueError, match="no values"):
        percentile([], 0.5)
    with pytest.raises(ValueError, match="not in"):
        percentile([1.0], 1.5)


def test_summary_in_milliseconds() -> None:
    samples = Samples()
    samples.extend(i / 1000 for i in range(1, 101))  # 1 .. 100 ms
    assert samples.summary_ms() == {
        "count": 100, "min": 1.0, "mean": 50.5, "p50": 50.0, "p90": 90.0, "p99": 99.0,
        "max": 100.0,
    }


def test_summary_of_nothing_has_the_same_keys() -> None:
    summary = Samples().summary_ms()
    assert summary == {"count": 0, "min": None, "mean": None, "p50": None, "p90": None,
                       "p99": None, "max": None}


def test_rounding_to_microseconds() -> None:
    samples = Samples()
    samples.add(0.0012345678)
    assert samples.summary_ms()["p50"] == 1.235


def test_past_capacity_a_reservoir_keeps_the_shape_and_exact_extremes() -> None:
    samples = Samples(capacity=1000, seed=7)
    values = [i / 1_000_000 for i in range(100_000)]  # 0 .. 99.999 ms, uniform
    samples.extend(values)
    summary = samples.summary_ms()
    assert summary["count"] == 100_000
    assert summary["min"] == 0.0 and summary["max"] == 99.999  # exact, not sampled
    assert summary["mean"] == pytest.approx(49.9995, abs=1e-3)  # exact too
    # the percentiles come from 1000 kept values: close to the truth, not equal
    assert summary["p50"] == pytest.approx(50.0, abs=5.0)
    assert summary["p99"] == pytest.approx(99.0, abs=2.0)


def test_capacity_must_be_positive() -> None:
    with pytest.raises(ValueError):
        Samples(capacity=0)
