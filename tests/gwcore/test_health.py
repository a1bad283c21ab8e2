"""The health state machine: passive ejection with back-off, active probes."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from gwcore._probes import ProbeSchedule
from gwcore.config import Active, Passive
from gwcore.events import StartProbe
from gwcore.health import (
    RECOVERY_STATE,
    TRANSITIONS,
    EndpointHealth,
    HealthBook,
    Input,
    State,
    step,
)
from gwcore.resolve import Member, parse_url

# Every state and every input: each pair is either in the table or illegal.
STATES = st.sampled_from(list(State))
INPUTS = st.sampled_from(list(Input))

PASSIVE = Passive(consecutive_failures=3, ejection=10.0, max_ejection=35.0)
ACTIVE = Active(path="/health", interval=5.0, timeout=1.0, healthy=2, unhealthy=2)


@given(state=STATES, event=INPUTS)
def test_every_pair(state: State, event: Input) -> None:
    record = EndpointHealth()
    record.state = state
    record.failures = record.probe_passes = 1
    if (state, event) in TRANSITIONS:
        assert step(state, event) is TRANSITIONS[state, event]
        assert record.feed(event, PASSIVE, 0.0) is TRANSITIONS[state, event]
    else:
        with pytest.raises(RuntimeError, match="illegal health transition"):
            step(state, event)
        with pytest.raises(RuntimeError):
            record.feed(event, PASSIVE, 0.0)
        assert record.state is RECOVERY_STATE
        assert (record.failures, record.probe_passes, record.ejections) == (0, 0, 0)


def test_illegal_pairs_are_exactly_these() -> None:
    missing = {(s, i) for s in State for i in Input} - TRANSITIONS.keys()
    assert missing == {
        (State.HEALTHY, Input.EJECTION_ENDED),
        (State.UNHEALTHY, Input.EJECTION_ENDED),
        (State.EJECTED, Input.FAILURE_LIMIT),
        (State.UNHEALTHY, Input.FAILURE_LIMIT),
    }


def test_illegal_feed_through_book_keeps_down_map_right() -> None:
    book = HealthBook()
    for _ in range(3):
        book.observe("s", "e", True, PASSIVE, 0.0)
    assert book.down == {"s": {"e"}}
    record = book.record("s", "e")
    assert record is not None
    record.state = State.HEALTHY  # corrupt on purpose: EJECTION_ENDED is now illegal
    with pytest.raises(RuntimeError):
        book.tick(100.0)
    assert book.down == {}


def test_ejection_after_exactly_n_and_success_resets() -> None:
    book = HealthBook()
    assert book.observe("s", "e", False, PASSIVE, 0.0) is State.HEALTHY
    assert book.record("s", "e") is None  # successes of unknown endpoints cost nothing
    book.observe("s", "e", True, PASSIVE, 0.0)
    book.observe("s", "e", True, PASSIVE, 0.0)
    book.observe("s", "e", False, PASSIVE, 0.0)  # reset
    book.observe("s", "e", True, PASSIVE, 0.0)
    assert book.observe("s", "e", True, PASSIVE, 0.0) is State.HEALTHY
    assert book.observe("s", "e", True, PASSIVE, 1.0) is State.EJECTED
    assert book.down == {"s": {"e"}}
    record = book.record("s", "e")
    assert record is not None and record.ejected_until == 11.0
    # Outcomes of requests in flight change nothing while ejected.
    assert book.observe("s", "e", True, PASSIVE, 2.0) is State.EJECTED
    assert book.observe("s", "e", False, PASSIVE, 2.0) is State.EJECTED
    assert record.ejected_until == 11.0
    assert book.next_deadline() == 11.0
    assert book.tick(10.9) == ()
    assert book.tick(11.0) == (("s", "e"),)
    assert book.state("s", "e") is State.HEALTHY and book.down == {}
    assert book.next_deadline() is None


def test_backoff_doubles_caps_and_resets() -> None:
    book = HealthBook()
    now = 0.0
    periods = []
    for _ in range(4):
        for _ in range(3):
            book.observe("s", "e", True, PASSIVE, now)
        record = book.record("s", "e")
        assert record is not None and record.ejected_until is not None
        periods.append(record.ejected_until - now)
        now = record.ejected_until
        book.tick(now)
    assert periods == [10.0, 20.0, 35.0, 35.0]
    assert record is not None
    # A success soon after coming back keeps the back-off ...
    book.observe("s", "e", False, PASSIVE, now + 1)
    assert record.ejections == 4
    # ... one a full period later resets it.
    book.observe("s", "e", False, PASSIVE, now + 35.0)
    assert record.ejections == 0


def test_passive_off_never_ejects() -> None:
    book = HealthBook()
    for _ in range(10):
        assert book.observe("s", "e", True, None, 0.0) is State.HEALTHY
    assert book.record("s", "e") is None


def test_probe_thresholds() -> None:
    book = HealthBook()
    assert book.probe("s", "https://b", False, ACTIVE, 1.0) is State.HEALTHY
    assert book.probe("s", "https://b", False, ACTIVE, 2.0) is State.UNHEALTHY
    assert book.down == {"s": {"https://b"}}
    assert book.probe("s", "https://b", True, ACTIVE, 3.0) is State.UNHEALTHY
    assert book.probe("s", "https://b", True, ACTIVE, 4.0) is State.HEALTHY
    assert book.down == {}


def test_probe_schedule() -> None:
    probes = ProbeSchedule()
    ms = [Member(parse_url("http://a:1/base"), 1), Member(parse_url("https://b"), 1)]
    probes.schedule("s", ms, ACTIVE, 0.0)
    assert probes.due(0.0) == (
        StartProbe(service="s", endpoint="http://a:1/base", scheme="http", host="a", port=1,
                   target="/base/health", timeout=1.0),
        StartProbe(service="s", endpoint="https://b", scheme="https", host="b", port=443,
                   target="/health", timeout=1.0),
    )  # fmt: skip
    assert probes.next_deadline() == 5.0
    assert probes.due(4.0) == ()
    probes.schedule("s", ms, ACTIVE, 4.0)  # same settings: due time kept
    assert probes.next_deadline() == 5.0
    # New settings: probed again right away; None stops probing.
    probes.schedule("s", ms[:1], Active(interval=1.0), 4.5)
    assert [p.endpoint for p in probes.due(4.5)] == ["http://a:1/base"]
    probes.schedule("s", ms, None, 5.0)
    assert probes.next_deadline() is None
    probes.schedule("s", (), ACTIVE, 5.0)
    assert probes.next_deadline() is None


def test_probe_failures_take_ejected_endpoint_out_for_good() -> None:
    book = HealthBook()
    for _ in range(3):
        book.observe("s", "e", True, PASSIVE, 0.0)
    book.probe("s", "e", False, ACTIVE, 1.0)
    assert book.probe("s", "e", False, ACTIVE, 1.0) is State.UNHEALTHY
    record = book.record("s", "e")
    assert record is not None and record.ejected_until is None
    assert book.next_deadline() is None  # the stale ejection end is dropped
    assert book.tick(20.0) == ()


def test_forget_keeps_only_what_matters() -> None:
    book = HealthBook()
    book.forget("nothing", ())
    book.observe("s", "ok", True, PASSIVE, 0.0)  # one failure: still healthy
    for _ in range(3):
        book.observe("s", "dead", True, PASSIVE, 0.0)
    book.forget("s", ["other"])
    assert book.record("s", "ok") is None
    assert book.state("s", "dead") is State.EJECTED
    book.tick(10.0)
    book.forget("s", ())
    assert book.record("s", "dead") is None
