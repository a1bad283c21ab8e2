"""Stats: the bounded histogram and the counters."""

from __future__ import annotations

import random

import pytest
from hypothesis import given
from hypothesis import strategies as st

from gwcore.stats import Histogram, RouteCounters, status_class

# Latencies in microseconds over the whole clamped range.
MICROS = st.integers(min_value=0, max_value=2**37 - 1)


@given(micros=MICROS)
def test_bucket_contains_value(micros: int) -> None:
    index = Histogram.index(micros)
    low, high = Histogram.bounds(index)
    assert low <= micros <= high
    assert high - low <= max(1, low // 32)  # about 3 % relative width


@given(a=MICROS, b=MICROS)
def test_buckets_are_ordered(a: int, b: int) -> None:
    if a <= b:
        assert Histogram.index(a) <= Histogram.index(b)


def test_index_clamps_and_floors() -> None:
    assert Histogram.index(-5) == 0
    assert Histogram.index(2**60) == Histogram.BUCKETS - 1


def test_quantiles_within_three_percent() -> None:
    hist = Histogram()
    assert hist.quantile(0.5) is None
    rng = random.Random(3)
    values = sorted(rng.uniform(0.0005, 2.0) for _ in range(20_000))
    for value in values:
        hist.add(value)
    assert hist.count == 20_000
    for q in (0.5, 0.99):
        exact = values[int(q * len(values)) - 1]
        estimate = hist.quantile(q)
        assert estimate is not None and abs(estimate - exact) / exact < 0.03
    assert len(hist._counts) <= Histogram.BUCKETS  # bounded, whatever the traffic
    with pytest.raises(ValueError, match="quantile"):
        hist.quantile(1.5)


def test_small_values_are_exact() -> None:
    hist = Histogram()
    hist.add(0.000010)
    assert hist.quantile(0.0) == hist.quantile(1.0) == pytest.approx(0.000010)


def test_route_counters() -> None:
    counters = RouteCounters()
    for status in (200, 204, 503, 404):
        counters.respond(status)
    assert counters.responses == {"2xx": 2, "5xx": 1, "4xx": 1}
    assert status_class(101) == "1xx"
