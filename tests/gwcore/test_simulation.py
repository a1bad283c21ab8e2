"""Deterministic simulations of the gateway: a fake clock, seeded randomness,
scripted upstreams; plus hypothesis properties over random event sequences."""

from __future__ import annotations

import dataclasses
import itertools
import random
from collections import Counter
from dataclasses import dataclass, field

import pytest
from hypothesis import given
from hypothesis import strategies as st

from gwcore.config import Balancer, BalancerKind, Passive, RetryBudget
from gwcore.errors import ConfigError, GatewayError, NoHealthyEndpoint
from gwcore.events import (
    Change,
    ConfigReplaced,
    ConnectFailed,
    EtcdKeyDeleted,
    EtcdKeySet,
    EtcdReachable,
    EtcdUnreachable,
    Forward,
    InstanceHeartbeat,
    InstanceRegistered,
    Outcome,
    Request,
    Respond,
    ResponseReceived,
    RouteUpserted,
    ServiceDeleted,
    ServiceUpserted,
    UpstreamReset,
    UpstreamTimedOut,
)
from gwcore.failover import WINDOW
from gwcore.gateway import Gateway
from gwcore.health import State
from tests.gwcore.helpers import Harness, config, request, route, service

A, B, C = "http://10.0.0.1:9001", "http://10.0.0.2:9002", "http://10.0.0.3:9003"
OK = ResponseReceived(status=200, latency=0.005)
REFUSED = ConnectFailed(reason="connection refused")


def failing(bad: set[str]) -> object:
    """An upstream where the endpoints in ``bad`` refuse connections."""
    return lambda fwd: REFUSED if fwd.endpoint in bad else OK


# --------------------------------------------------------------------------- scenarios


def test_one_endpoint_fails_ejection_backoff_and_return() -> None:
    passive = Passive(consecutive_failures=3, ejection=10.0, max_ejection=60.0)
    h = Harness(config({"svc": service(A, B, C, passive=passive)}, [route("r")]))
    bad = {C}
    upstream = failing(bad)
    tried_c = 0
    # Until C is ejected every third request meets it first; each such attempt fails.
    while h.gw.health.state("svc", C) is State.HEALTHY:
        result = h.run(request(), upstream)  # type: ignore[arg-type]
        assert result.error is None  # the retry went to a healthy endpoint
        tried_c += sum(f.endpoint == C for f in result.attempts)
        h.clock.advance(0.01)
    assert tried_c == 3  # ejected after exactly N failures
    ejected_at = h.clock.now - 0.01
    assert h.gw.next_deadline() == pytest.approx(ejected_at + 10.0)
    # Its share moves to the others, evenly.
    shares = Counter(h.run(request(), upstream).attempts[0].endpoint for _ in range(100))  # type: ignore[arg-type]
    assert shares == {A: 50, B: 50}
    # It returns after the ejection period ...
    h.clock.advance(9.0)
    h.tick()
    assert h.gw.health.state("svc", C) is State.EJECTED
    h.clock.now = ejected_at + 10.0
    h.tick()
    assert h.gw.health.state("svc", C) is State.HEALTHY
    # ... still failing, it is ejected again for twice as long.
    while h.gw.health.state("svc", C) is State.HEALTHY:
        h.run(request(), upstream)  # type: ignore[arg-type]
    record = h.gw.health.record("svc", C)
    assert record is not None and record.ejected_until == pytest.approx(h.clock.now + 20.0)
    # Recovered, it takes its third of the traffic again once back.
    bad.clear()
    h.clock.advance(20.0)
    h.tick()
    shares = Counter(h.run(request(), upstream).attempts[0].endpoint for _ in range(99))  # type: ignore[arg-type]
    assert shares == {A: 33, B: 33, C: 33}
    stats = h.gw.stats(h.clock.now).services[0]
    assert stats.healthy_members == 3 and stats.upstream_bad == 6


def test_smooth_wrr_exact_proportions_per_cycle() -> None:
    h = Harness(config({"svc": service(A, B, C, weights=[5, 3, 2])}, [route("r")]))
    for _ in range(5):
        cycle = [h.run(request(), lambda f: OK).attempts[0].endpoint for _ in range(10)]
        assert Counter(cycle) == {A: 5, B: 3, C: 2}
        assert all(x != y or x == A for x, y in itertools.pairwise(cycle))


def test_p2c_prefers_less_loaded() -> None:
    least = Balancer(kind=BalancerKind.LEAST_REQUEST)
    gw = Gateway(
        config({"svc": service(A, B, C, balancer=least)}, [route("r")]), rng=random.Random(42)
    )
    held: list[Forward] = []
    picks: Counter[str] = Counter()
    for _ in range(600):
        fwd = gw.decide(request(), 0.0)
        assert isinstance(fwd, Forward)
        picks[fwd.endpoint] += 1
        assert gw.outcome(fwd, OK, 0.0) is None
        if fwd.endpoint == A:
            held.append(fwd)  # A is slow: its requests stay in flight
        else:
            gw.finish(fwd, 0.0)
    assert picks[A] < 0.1 * 600 < picks[B]
    for fwd in held:
        gw.finish(fwd, 0.0)
    assert gw._services["svc"].in_flight == {}


def test_hash_moves_about_one_nth_of_keys() -> None:
    urls = [f"http://10.1.0.{i}:8080" for i in range(10)]
    balancer = Balancer(kind=BalancerKind.HASH_HEADER, key="x-user")
    gw = Gateway(config({"svc": service(*urls, balancer=balancer)}, [route("r")]))
    keys = [f"user-{i}" for i in range(10_000)]

    def owners() -> list[str | None]:
        return [gw.choose("GET", "h", "/", (("x-user", k),)).endpoint for k in keys]

    before = owners()
    new = "http://10.1.0.99:8080"
    gw.apply(ServiceUpserted(name="svc", service=service(*urls, new, balancer=balancer)), 0.0)
    after = owners()
    moved = [(b, a) for b, a in zip(before, after, strict=True) if b != a]
    assert all(a == new for _, a in moved)  # keys only move to the new endpoint
    assert 0.5 / 11 < len(moved) / len(keys) < 1.5 / 11
    assert Counter(after)[new] == len(moved)


def test_etcd_transitions() -> None:
    h = Harness(config({"svc": service("etcd(/svc/url, http://fallback:1)")}, [route("r")]))

    def where() -> str:
        return h.run(request(), lambda f: OK).attempts[0].endpoint

    steps: list[tuple[Change, str]] = [
        (EtcdKeySet(key="/svc/url", value="http://v1:1"), "http://v1:1"),
        (EtcdKeySet(key="/svc/url", value="{garbage"), "http://v1:1"),
        (EtcdUnreachable(reason="deadline exceeded"), "http://fallback:1"),
        (EtcdKeySet(key="/svc/url", value="http://v2:1"), "http://fallback:1"),
        (EtcdReachable(), "http://v2:1"),
        (EtcdKeyDeleted(key="/svc/url"), "http://fallback:1"),
        (EtcdKeySet(key="/svc/url", value="https://v3/base"), "https://v3/base"),
    ]
    assert where() == "http://fallback:1"  # unknown key
    for change, expected in steps:
        h.gw.apply(change, h.clock.advance(1.0))
        assert where() == expected, change


def test_reload_keeps_health_and_counters() -> None:
    passive = Passive(consecutive_failures=2, ejection=30.0)
    cfg = config({"svc": service(A, B, C, passive=passive)}, [route("r")])
    h = Harness(cfg)
    for _ in range(6):
        h.run(request(), failing({A}))  # type: ignore[arg-type]
    assert h.gw.health.state("svc", A) is State.EJECTED
    before = h.gw.stats(h.clock.now)
    bigger = config({"svc": service(A, B, C, "http://new:1", passive=passive)}, [route("r")])
    h.gw.apply(ConfigReplaced(config=bigger), h.clock.now)
    after = h.gw.stats(h.clock.now)
    assert h.gw.health.state("svc", A) is State.EJECTED  # a reload never heals
    assert after.services[0].requests == before.services[0].requests == 6
    assert after.routes == before.routes
    assert after.services[0].ejected == before.services[0].ejected
    assert after.generation == before.generation + 1


# --------------------------------------------------------------------------- properties

# What an upstream does with one attempt: every kind of outcome the transport reports.
OUTCOMES = st.sampled_from(
    [
        OK,
        ResponseReceived(status=503, latency=0.01),
        ResponseReceived(status=500, latency=0.01),
        REFUSED,
        UpstreamTimedOut(request_sent=False),
        UpstreamTimedOut(request_sent=True),
        UpstreamReset(request_sent=False),
        UpstreamReset(request_sent=True),
        UpstreamReset(response_started=True),
    ]
)
# One client request: method, whether it carries Idempotency-Key, and the outcome of
# each successive attempt (the last one repeats).
REQUESTS = st.tuples(
    st.sampled_from(["GET", "POST", "PUT", "PATCH", "DELETE"]),
    st.booleans(),
    st.lists(OUTCOMES, min_size=1, max_size=4),
)
# A simulation step: a request, time passing (seconds), or running the timers.
STEPS = st.one_of(
    REQUESTS,
    st.floats(min_value=0.0, max_value=15.0, allow_nan=False).map(lambda s: ("advance", s)),
    st.just(("tick",)),
)
SIMULATIONS = st.lists(STEPS, max_size=60)

_PASSIVE = Passive(consecutive_failures=2, ejection=5.0, max_ejection=20.0)
_BUDGET = RetryBudget(ratio=0.2, min_per_second=0.3)
_SIM_CONFIG = config(
    {
        "svc": service(
            A, B, C, "http://10.0.0.4:9004", passive=_PASSIVE, retries=3, retry_budget=_BUDGET
        )
    },
    [route("r")],
)


@dataclass
class _Attempt:
    forward: Forward
    healthy_before: frozenset[str]
    outcome: Outcome | None = None


@dataclass
class _Log:
    requests: list[tuple[float, str, bool, list[_Attempt]]] = field(default_factory=list)


def _simulate(steps: list[object], *, panic: bool = False) -> _Log:
    svc = dataclasses.replace(_SIM_CONFIG.services["svc"], panic=panic)
    gw = Gateway(
        dataclasses.replace(_SIM_CONFIG, services=_SIM_CONFIG.services.set("svc", svc)),
        rng=random.Random(0),
    )
    now = 100.0
    log = _Log()
    members = (A, B, C, "http://10.0.0.4:9004")
    for step in steps:
        assert isinstance(step, tuple)
        if step[0] == "advance":
            now += step[1]
            continue
        if step[0] == "tick":
            gw.tick(now)
            continue
        method, keyed, outcomes = step
        headers = [("idempotency-key", "k")] if keyed else []
        attempts: list[_Attempt] = []
        log.requests.append((now, method, keyed, attempts))

        def healthy() -> frozenset[str]:
            return frozenset(m for m in members if gw.health.state("svc", m) is State.HEALTHY)

        try:
            before = healthy()
            decision = gw.decide(request(method=method, headers=headers), now)
        except NoHealthyEndpoint:
            assert not healthy() and not panic
            continue
        assert isinstance(decision, Forward)
        fwd: Forward | None = decision
        while fwd is not None:
            attempt = _Attempt(fwd, before)
            attempts.append(attempt)
            attempt.outcome = outcomes[min(len(attempts), len(outcomes)) - 1]
            try:
                # The retry is chosen after this outcome is counted: health as it is then.
                nxt = gw.outcome(fwd, attempt.outcome, now)
            except GatewayError:
                break
            before = healthy()
            if nxt is None:
                gw.finish(fwd, now)
            fwd = nxt
    return log


@given(steps=SIMULATIONS, panic=st.booleans())
def test_ejected_never_chosen_while_a_healthy_one_exists(steps: list[object], panic: bool) -> None:
    for _, _, _, attempts in _simulate(steps, panic=panic).requests:
        for attempt in attempts:
            if attempt.healthy_before:
                assert attempt.forward.endpoint in attempt.healthy_before
                assert not attempt.forward.panic
            else:
                assert attempt.forward.panic and panic


@given(steps=SIMULATIONS)
def test_never_retries_on_an_endpoint_already_tried(steps: list[object]) -> None:
    for _, _, _, attempts in _simulate(steps).requests:
        endpoints = [a.forward.endpoint for a in attempts]
        assert len(endpoints) == len(set(endpoints))
        for i, attempt in enumerate(attempts):
            assert attempt.forward.attempt == i
            assert attempt.forward.tried == frozenset(endpoints[: i + 1])


def _bytes_went_out(outcome: Outcome | None) -> bool:
    match outcome:
        case ConnectFailed():
            return False
        case UpstreamTimedOut(request_sent=sent) | UpstreamReset(request_sent=sent):
            return sent
        case _:
            return True


@given(steps=SIMULATIONS)
def test_non_idempotent_never_sent_twice(steps: list[object]) -> None:
    for _, method, keyed, attempts in _simulate(steps).requests:
        if method in ("POST", "PATCH") and not keyed:
            sent = [_bytes_went_out(a.outcome) for a in attempts]
            assert not any(sent[:-1])  # only the last attempt may have sent bytes
        for attempt in attempts[:-1]:  # never a retry after response bytes went out
            assert not (
                isinstance(attempt.outcome, UpstreamReset) and attempt.outcome.response_started
            )


@given(steps=SIMULATIONS)
def test_retries_never_exceed_the_budget(steps: list[object]) -> None:
    events: list[tuple[int, bool]] = []  # (second, is_retry)
    for now, _, _, attempts in _simulate(steps).requests:
        for attempt in attempts:
            events.append((int(now), attempt.forward.attempt > 0))
            if attempt.forward.attempt > 0:
                second = int(now)
                window = [r for s, r in events if second - WINDOW < s <= second]
                retries = sum(window)
                requests = len(window) - retries
                allowed = max(_BUDGET.ratio * requests, _BUDGET.min_per_second * WINDOW)
                assert retries <= allowed


# Changes that must be refused whole.
INVALID_CHANGES = st.sampled_from(
    [
        RouteUpserted(route=route("dangling", "/d/", "missing")),
        RouteUpserted(route=route("tie", "/")),
        ServiceUpserted(name="svc", service=service("ftp://nope")),
        ServiceUpserted(name="svc", service=service("http://${stageVariables.undefined}/")),
        ServiceDeleted(name="svc"),
        InstanceHeartbeat(service="svc", instance="never-registered"),
        InstanceRegistered(service="svc", instance="i", url="not a url"),
    ]
)


@given(
    changes=st.lists(INVALID_CHANGES, min_size=1, max_size=4),
    n=st.integers(min_value=1, max_value=12),
)
def test_invalid_change_leaves_decisions_identical(changes: list[Change], n: int) -> None:
    cfg = config({"svc": service(A, B, C, weights=[3, 2, 1])}, [route("r")])
    touched, untouched = Gateway(cfg, rng=random.Random(1)), Gateway(cfg, rng=random.Random(1))
    for i in range(n):
        assert touched.decide(request(rid=str(i)), 0.0) == untouched.decide(
            request(rid=str(i)), 0.0
        )
        with pytest.raises(ConfigError):
            touched.apply(changes[i % len(changes)], 0.0)
    assert touched.generation == untouched.generation
    assert touched.config == untouched.config
    for i in range(12):
        assert touched.decide(request(rid=str(i)), 1.0) == untouched.decide(
            request(rid=str(i)), 1.0
        )


# Arbitrary request heads: any method, target and header text a client could send.
TEXT = st.text(alphabet=st.characters(codec="latin-1"), max_size=30)
HEADS = st.builds(
    Request,
    method=st.one_of(st.sampled_from(["GET", "POST", "OPTIONS"]), TEXT.filter(bool)),
    target=st.one_of(st.sampled_from(["/", "*", "/api/x?y", "/%2F", "/../a"]), TEXT),
    headers=st.lists(
        st.tuples(st.sampled_from(["host", "x-request-id", "connection", "cookie"]), TEXT),
        max_size=4,
    ).map(tuple),
    client=TEXT,
)


@given(head=HEADS, outcome=OUTCOMES)
def test_a_result_or_a_gateway_error(head: Request, outcome: Outcome) -> None:
    cfg = config(
        {"svc": service(A, B, balancer=Balancer(kind=BalancerKind.HASH_COOKIE, key="sid"))},
        [route("api", "/api/", methods=frozenset({"GET"})), route("root", "/")],
    )
    gw = Gateway(cfg)
    try:
        decision = gw.decide(head, 0.0)
        assert isinstance(decision, Forward | Respond)
        if isinstance(decision, Forward):
            nxt = gw.outcome(decision, outcome, 0.0)
            assert nxt is None or isinstance(nxt, Forward)
    except GatewayError as exc:
        assert 400 <= exc.status_hint <= 599
