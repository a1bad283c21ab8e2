"""Health: whether each endpoint may receive traffic. Every change of health state
happens in this module; failover and balancing only read it.

Theory of operation
-------------------
Each endpoint of each service (keyed ``(service, identity)``) is in one
:class:`State`. Real traffic (passive checking, Envoy's outlier detection) and
probes (active checking) are turned into an :class:`Input`, and the module-level
table :data:`TRANSITIONS` says where the endpoint goes. Counting (how many
failures in a row) happens before the table: the count decides *which* input is
fed, so the table itself stays pure data that a script can draw::

    HEALTHY ──FAILURE_LIMIT──▶ EJECTED ──EJECTION_ENDED──▶ HEALTHY
       │                         │
       └──PROBE_FAIL_LIMIT──▶ UNHEALTHY ◀──PROBE_FAIL_LIMIT──┘
                                 └──PROBE_PASS_LIMIT──▶ HEALTHY

* Passive: ``consecutive_failures`` failures in a row (connect failure, timeout,
  reset, a status in ``failure_statuses``) eject the endpoint for ``ejection``
  seconds; each further ejection doubles the period up to ``max_ejection``. A
  success resets the count; a success more than one ejection period after the
  endpoint came back also resets the back-off, so an endpoint that recovered for
  good starts from ``ejection`` again while one that flaps keeps doubling.
  Outcomes of requests that were in flight while an endpoint is out change nothing.
* Active: :mod:`gwcore._probes` says when a probe is due (the transport sends it
  and reports the result to :meth:`HealthBook.probe`); ``unhealthy`` failed probes in a
  row take an endpoint out until ``healthy`` probes in a row pass. Probes keep
  running while an endpoint is out: they are how it comes back.
* A new endpoint starts HEALTHY: a fresh registration must be usable at once.

A pair missing from the table is a bug in the counting above. :func:`step` raises
``RuntimeError`` for it and the endpoint lands in HEALTHY with its counts cleared
(losing history can at worst delay an ejection by N failures; the opposite choice
could take a working endpoint out for good).

Time is only ever passed in (``now``); ejection ends sit in a heap so
:meth:`HealthBook.next_deadline` and :meth:`HealthBook.tick` cost O(log n) per
due item, not a scan of every endpoint.
"""

from __future__ import annotations

import heapq
from collections.abc import Iterable
from enum import Enum

from gwcore.config import Active, Passive

__all__ = ["TRANSITIONS", "EndpointHealth", "HealthBook", "Input", "State", "step"]


class State(Enum):
    """Health of one endpoint."""

    #: Receives traffic.
    HEALTHY = "healthy"
    #: Passively ejected until a deadline.
    EJECTED = "ejected"
    #: Taken out by failed probes until enough probes pass.
    UNHEALTHY = "unhealthy"


class Input(Enum):
    """What happened to an endpoint, after counting."""

    #: A response that is not a failure.
    SUCCESS = "success"
    #: A failure that does not reach ``consecutive_failures``.
    FAILURE = "failure"
    #: The failure that reaches ``consecutive_failures``.
    FAILURE_LIMIT = "failure_limit"
    #: The ejection period is over.
    EJECTION_ENDED = "ejection_ended"
    #: A passed probe short of ``healthy`` in a row.
    PROBE_PASS = "probe_pass"
    #: The passed probe that reaches ``healthy`` in a row.
    PROBE_PASS_LIMIT = "probe_pass_limit"
    #: A failed probe short of ``unhealthy`` in a row.
    PROBE_FAIL = "probe_fail"
    #: The failed probe that reaches ``unhealthy`` in a row.
    PROBE_FAIL_LIMIT = "probe_fail_limit"


_H, _E, _U = State.HEALTHY, State.EJECTED, State.UNHEALTHY

#: The health state machine. Missing pairs are illegal (see :func:`step`).
TRANSITIONS: dict[tuple[State, Input], State] = {
    (_H, Input.SUCCESS): _H,
    (_H, Input.FAILURE): _H,
    (_H, Input.FAILURE_LIMIT): _E,
    (_H, Input.PROBE_PASS): _H,
    (_H, Input.PROBE_PASS_LIMIT): _H,
    (_H, Input.PROBE_FAIL): _H,
    (_H, Input.PROBE_FAIL_LIMIT): _U,
    # In-flight outcomes and passing probes do not shorten an ejection.
    (_E, Input.SUCCESS): _E,
    (_E, Input.FAILURE): _E,
    (_E, Input.EJECTION_ENDED): _H,
    (_E, Input.PROBE_PASS): _E,
    (_E, Input.PROBE_PASS_LIMIT): _E,
    (_E, Input.PROBE_FAIL): _E,
    (_E, Input.PROBE_FAIL_LIMIT): _U,
    # Only probes bring an UNHEALTHY endpoint back.
    (_U, Input.SUCCESS): _U,
    (_U, Input.FAILURE): _U,
    (_U, Input.PROBE_PASS): _U,
    (_U, Input.PROBE_PASS_LIMIT): _H,
    (_U, Input.PROBE_FAIL): _U,
    (_U, Input.PROBE_FAIL_LIMIT): _U,
}

#: Where an illegal pair lands.
RECOVERY_STATE = State.HEALTHY


def step(state: State, event: Input) -> State:
    """Look up one transition.

    Args:
        state: The current state.
        event: The input.

    Returns:
        The next state.

    Raises:
        RuntimeError: For a pair missing from :data:`TRANSITIONS`.
    """
    try:
        return TRANSITIONS[state, event]
    except KeyError:
        raise RuntimeError(f"illegal health transition: {state.name} on {event.name}") from None


class EndpointHealth:
    """The health record of one endpoint."""

    __slots__ = (
        "ejected_until",
        "ejections",
        "failures",
        "last_period",
        "probe_failures",
        "probe_passes",
        "returned_at",
        "state",
    )

    def __init__(self) -> None:
        self._reset()

    def _reset(self) -> None:
        self.state = State.HEALTHY
        #: Passive failures in a row.
        self.failures = 0
        #: Ejections since the back-off was last reset (the doubling exponent).
        self.ejections = 0
        self.ejected_until: float | None = None
        self.last_period = 0.0
        self.returned_at: float | None = None
        self.probe_passes = 0
        self.probe_failures = 0

    def feed(self, event: Input, passive: Passive | None, now: float) -> State:
        """Apply one input and its side effects.

        Args:
            event: The input (already counted).
            passive: The service's passive settings (for the ejection period).
            now: Current time.

        Returns:
            The new state.

        Raises:
            RuntimeError: On an illegal pair; the record is then reset to HEALTHY.
        """
        old = self.state
        try:
            new = step(old, event)
        except RuntimeError:
            self._reset()  # the defined landing state: HEALTHY, counts cleared
            raise
        self.state = new
        if new is State.EJECTED and old is State.HEALTHY:
            base = passive.ejection if passive is not None else 0.0
            cap = passive.max_ejection if passive is not None else 0.0
            self.last_period = min(base * 2**self.ejections, max(cap, base))
            self.ejections += 1
            self.ejected_until = now + self.last_period
            self.failures = 0
        elif new is not State.EJECTED:
            self.ejected_until = None
        if event is Input.EJECTION_ENDED:
            self.returned_at = now
        if event is Input.SUCCESS and new is State.HEALTHY:
            self.failures = 0
            back_for = now - self.returned_at if self.returned_at is not None else 0.0
            if self.ejections and back_for >= self.last_period:
                self.ejections = 0
        return new


# What a service without records reads as (never written to).
_NO_RECORDS: dict[str, EndpointHealth] = {}


class HealthBook:
    """Health of every endpoint, ejection deadlines and the probe schedule."""

    def __init__(self) -> None:
        self._records: dict[str, dict[str, EndpointHealth]] = {}  # service -> identity ->
        #: Identities not HEALTHY, by service (what request-time filtering reads).
        self.down: dict[str, set[str]] = {}
        #: Bumped whenever an endpoint enters or leaves :attr:`down`, so that a
        #: reader may keep what it derived from ``down`` until this moves.
        self.generation = 0
        self._heap: list[tuple[float, str, str]] = []  # (ejection end, service, identity)

    def state(self, service: str, identity: str) -> State:
        """The state of an endpoint (HEALTHY when never seen).

        Args:
            service: Service name.
            identity: Endpoint identity.

        Returns:
            Its state.
        """
        record = self._records.get(service, {}).get(identity)
        return record.state if record is not None else State.HEALTHY

    def record(self, service: str, identity: str) -> EndpointHealth | None:
        """The record of an endpoint (read it; change it only through this book).

        Args:
            service: Service name.
            identity: Endpoint identity.

        Returns:
            The record, or None when the endpoint has none (it is healthy).
        """
        return self._records.get(service, {}).get(identity)

    def _feed(
        self,
        key: tuple[str, str],
        record: EndpointHealth,
        event: Input,
        passive: Passive | None,
        now: float,
    ) -> None:
        was_up = record.state is State.HEALTHY
        try:
            state = record.feed(event, passive, now)
        finally:
            down = self.down.setdefault(key[0], set())
            if record.state is State.HEALTHY:
                down.discard(key[1])
            else:
                down.add(key[1])
            if not down:
                del self.down[key[0]]
            if was_up is not (record.state is State.HEALTHY):
                self.generation += 1
        if state is State.EJECTED and record.ejected_until is not None:
            heapq.heappush(self._heap, (record.ejected_until, key[0], key[1]))

    def _get(self, key: tuple[str, str]) -> EndpointHealth:
        table = self._records.setdefault(key[0], {})
        record = table.get(key[1])
        if record is None:
            record = table[key[1]] = EndpointHealth()
        return record

    def observe(
        self, service: str, identity: str, failed: bool, passive: Passive | None, now: float
    ) -> State:
        """Count one passive outcome of real traffic.

        Args:
            service: Service name.
            identity: Endpoint identity.
            failed: Whether the attempt failed (connect, timeout, reset, bad status).
            passive: The service's passive settings; None disables ejection.
            now: Current time.

        Returns:
            The endpoint's state afterwards.
        """
        record = self._records.get(service, _NO_RECORDS).get(identity)
        if record is None:
            if not failed or passive is None:
                return State.HEALTHY  # nothing to remember: skip the allocation
            record = self._get((service, identity))
        if not failed:
            event = Input.SUCCESS
        elif passive is None or record.state is not State.HEALTHY:
            event = Input.FAILURE
        else:
            record.failures += 1
            limit = record.failures >= passive.consecutive_failures
            event = Input.FAILURE_LIMIT if limit else Input.FAILURE
        self._feed((service, identity), record, event, passive, now)
        return record.state

    def probe(self, service: str, identity: str, passed: bool, active: Active, now: float) -> State:
        """Count one active probe result.

        Args:
            service: Service name.
            identity: Endpoint identity.
            passed: Whether the probe passed.
            active: The service's active settings (thresholds).
            now: Current time.

        Returns:
            The endpoint's state afterwards.
        """
        key = (service, identity)
        record = self._get(key)
        if passed:
            record.probe_passes += 1
            record.probe_failures = 0
            limit = record.probe_passes >= active.healthy
            event = Input.PROBE_PASS_LIMIT if limit else Input.PROBE_PASS
        else:
            record.probe_failures += 1
            record.probe_passes = 0
            limit = record.probe_failures >= active.unhealthy
            event = Input.PROBE_FAIL_LIMIT if limit else Input.PROBE_FAIL
        self._feed(key, record, event, None, now)
        return record.state

    def forget(self, service: str, keep: Iterable[str]) -> None:
        """Drop the records of a service's former endpoints that are in service.

        Records of endpoints out of service (ejected or unhealthy) stay, so that a
        change removing and later re-adding an endpoint does not bring a dead one
        back; an ejected one is dropped at a later change once its ejection ended.

        Args:
            service: Service name.
            keep: Identities still present.
        """
        table = self._records.get(service)
        if not table:
            return
        live = set(keep)
        for identity in [i for i, r in table.items() if i not in live and r.state is _H]:
            del table[identity]
        if not table:
            del self._records[service]

    def _valid(self, item: tuple[float, str, str]) -> bool:
        when, service, identity = item
        record = self._records.get(service, {}).get(identity)
        return record is not None and record.ejected_until == when

    def next_deadline(self) -> float | None:
        """When the next ejection ends, or None."""
        while self._heap and not self._valid(self._heap[0]):
            heapq.heappop(self._heap)
        return self._heap[0][0] if self._heap else None

    def tick(self, now: float) -> tuple[tuple[str, str], ...]:
        """End every ejection due at ``now``.

        Args:
            now: Current time.

        Returns:
            ``(service, identity)`` of the endpoints back in service.
        """
        returned: list[tuple[str, str]] = []
        while self._heap and self._heap[0][0] <= now:
            item = heapq.heappop(self._heap)
            if self._valid(item):
                _, service, identity = item
                record = self._records[service][identity]
                self._feed((service, identity), record, Input.EJECTION_ENDED, None, now)
                returned.append((service, identity))
        return tuple(returned)
