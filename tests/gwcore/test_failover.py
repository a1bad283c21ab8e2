"""Failover rules: idempotency, outcome classification, candidates, retry budget."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from gwcore.config import RetryBudget
from gwcore.errors import NoHealthyEndpoint, UpstreamError, UpstreamTimeout
from gwcore.events import (
    ConnectFailed,
    Outcome,
    ResponseReceived,
    UpstreamReset,
    UpstreamTimedOut,
)
from gwcore.failover import WINDOW, Budget, Retry, candidates, classify, is_idempotent
from gwcore.resolve import Member, parse_url

# Request times in seconds, in any order of magnitude a monotonic clock gives.
TIMES = st.lists(st.floats(min_value=0, max_value=100, allow_nan=False), max_size=60)
FAILS = frozenset({500, 502, 503, 504})


@pytest.mark.parametrize(
    ("method", "headers", "expected"),
    [
        ("GET", (), True), ("HEAD", (), True), ("OPTIONS", (), True), ("PUT", (), True),
        ("DELETE", (), True), ("TRACE", (), True), ("POST", (), False), ("PATCH", (), False),
        ("get", (), False), ("POST", (("idempotency-key", "k1"),), True),
        ("PATCH", (("x-other", "1"),), False),
    ],
)  # fmt: skip
def test_is_idempotent(method: str, headers: tuple[tuple[str, str], ...], expected: bool) -> None:
    assert is_idempotent(method, headers) is expected


@pytest.mark.parametrize(
    ("event", "failed", "retry", "error"),
    [
        (ResponseReceived(status=200, latency=0), False, Retry.NEVER, None),
        (ResponseReceived(status=500, latency=0), True, Retry.NEVER, None),
        (ResponseReceived(status=503, latency=0), True, Retry.IF_IDEMPOTENT, None),
        (ResponseReceived(status=404, latency=0), False, Retry.NEVER, None),
        (ConnectFailed(reason="refused"), True, Retry.ALWAYS, UpstreamError),
        (ConnectFailed(), True, Retry.ALWAYS, UpstreamError),
        (UpstreamTimedOut(request_sent=False), True, Retry.ALWAYS, UpstreamTimeout),
        (UpstreamTimedOut(request_sent=True), True, Retry.IF_IDEMPOTENT, UpstreamTimeout),
        (UpstreamReset(request_sent=False), True, Retry.ALWAYS, UpstreamError),
        (UpstreamReset(request_sent=True, reason="rst"), True, Retry.IF_IDEMPOTENT, UpstreamError),
        (UpstreamReset(response_started=True), True, Retry.NEVER, UpstreamError),
        (UpstreamReset(response_started=True, reason="x"), True, Retry.NEVER, UpstreamError),
    ],
)
def test_classify(event: Outcome, failed: bool, retry: Retry, error: type | None) -> None:
    verdict = classify(event, "http://e", FAILS)
    assert (verdict.failed, verdict.retry) == (failed, retry)
    if error is None:
        assert verdict.error is None
    else:
        assert type(verdict.error) is error
        assert verdict.error is not None and "http://e" in verdict.error.reason


def ms(*weights: int) -> list[Member]:
    return [Member(parse_url(f"http://e{i}"), w) for i, w in enumerate(weights)]


def test_candidates() -> None:
    with pytest.raises(NoHealthyEndpoint, match="no endpoints"):
        candidates("s", [], None, frozenset(), panic=True)
    with pytest.raises(NoHealthyEndpoint, match="draining"):
        candidates("s", ms(0, 0), None, frozenset(), panic=True)
    with pytest.raises(NoHealthyEndpoint, match="all 2 endpoints are ejected"):
        candidates("s", ms(1, 1, 0), {"http://e0", "http://e1"}, frozenset(), panic=False)
    got, panicking = candidates("s", ms(1, 1, 0), {"http://e0", "http://e1"}, frozenset(), True)
    assert panicking and [m.identity for m in got] == ["http://e0", "http://e1"]
    got, panicking = candidates("s", ms(1, 1, 1), {"http://e0"}, frozenset({"http://e1"}), False)
    assert not panicking and [m.identity for m in got] == ["http://e2"]
    got, _ = candidates("s", ms(1, 1), None, frozenset({"http://e0", "http://e1"}), False)
    assert got == []


def test_budget_minimum_and_ratio() -> None:
    budget = Budget()
    policy = RetryBudget(ratio=0.5, min_per_second=0.2)  # minimum: 2 per window
    assert budget.try_spend(0.0, policy) and budget.try_spend(0.5, policy)
    assert not budget.try_spend(0.9, policy)
    for _ in range(10):
        budget.request(1.0)
    assert budget.allowance(1.0, policy) == 5.0
    assert [budget.try_spend(1.0, policy) for _ in range(4)] == [True, True, True, False]
    assert budget.totals(1.0) == (10, 5)
    # Ten seconds later the window has slid past all of it.
    assert budget.totals(1.0 + WINDOW) == (0, 0)
    assert budget.try_spend(1.0 + WINDOW, policy)


@given(times=TIMES)
def test_budget_never_exceeds_allowance(times: list[float]) -> None:
    budget = Budget()
    policy = RetryBudget(ratio=0.2, min_per_second=0.1)
    now = 0.0
    for step in sorted(times):
        now = step
        budget.request(now)
        if budget.try_spend(now, policy):
            # The promise holds when a retry is granted; later, as old requests
            # leave the window, the allowance may shrink below retries already sent.
            requests, retries = budget.totals(now)
            assert retries <= max(policy.ratio * requests, policy.min_per_second * WINDOW)
