"""Stats: counters the gateway keeps from the outcomes transports report.

Theory of operation
-------------------
Counters live in mutable ``*Counters`` objects owned by the gateway, keyed by
route and service *name*, so a reload that keeps a name keeps its counts.
:meth:`gwcore.gateway.Gateway.stats` copies them into frozen ``*Stats`` values a
transport can turn into JSON or Prometheus text without touching live state.

Latency goes into a :class:`Histogram` with log-linear buckets (the HDR histogram
layout): exact below 64 us, then 32 buckets per power of two, so any quantile is
within about 3 % of the true value and the memory is bounded (at most
:data:`Histogram.BUCKETS` counters however many samples arrive). Nothing here
keeps a list that grows with traffic.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, final

from gwcore.health import State

if TYPE_CHECKING:
    from gwcore.gateway import Gateway

__all__ = [
    "EjectedEndpoint",
    "GatewayStats",
    "Histogram",
    "RouteCounters",
    "RouteStats",
    "ServiceCounters",
    "ServiceStats",
    "snapshot",
    "status_class",
]

_SUB_BITS = 5
_SUB = 1 << _SUB_BITS  # 32 sub-buckets per power of two
_LINEAR = 2 * _SUB  # values below this get a bucket each
_MAX_EXPONENT = 31  # 2**(31+6) us is about 38 hours: anything above is clamped


def status_class(status: int) -> str:
    """``"2xx"`` for 200..299 and so on.

    Args:
        status: An HTTP status (100..599).

    Returns:
        Its class name.
    """
    return f"{status // 100}xx"


# status_class() of every HTTP status, made once (counting runs per response).
_CLASSES = {status: status_class(status) for status in range(100, 600)}


class Histogram:
    """A bounded-memory latency histogram (microsecond resolution)."""

    #: Upper bound on the number of buckets.
    BUCKETS = _LINEAR + _MAX_EXPONENT * _SUB

    __slots__ = ("_counts", "count")

    def __init__(self) -> None:
        self._counts: dict[int, int] = {}
        self.count = 0

    @staticmethod
    def index(micros: int) -> int:
        """The bucket of a value.

        Args:
            micros: Microseconds (negative counts as 0, huge is clamped).

        Returns:
            The bucket index, ``0 <= index < BUCKETS``.
        """
        if micros < _LINEAR:
            return max(micros, 0)
        exponent = micros.bit_length() - _SUB_BITS - 1
        if exponent > _MAX_EXPONENT:
            return Histogram.BUCKETS - 1
        return _LINEAR + (exponent - 1) * _SUB + (micros >> exponent) - _SUB

    @staticmethod
    def bounds(index: int) -> tuple[int, int]:
        """The values a bucket holds.

        Args:
            index: A bucket index.

        Returns:
            ``(lowest, highest)`` in microseconds, inclusive.
        """
        if index < _LINEAR:
            return index, index
        exponent = (index - _LINEAR) // _SUB + 1
        low = ((index - _LINEAR) % _SUB + _SUB) << exponent
        return low, low + (1 << exponent) - 1

    def add(self, seconds: float) -> None:
        """Record one latency.

        Args:
            seconds: The latency (negative values count as 0).
        """
        key = self.index(int(seconds * 1_000_000))
        self._counts[key] = self._counts.get(key, 0) + 1
        self.count += 1

    def quantile(self, q: float) -> float | None:
        """The ``q`` quantile in seconds (bucket midpoint), or None when empty.

        Args:
            q: In ``[0, 1]``.

        Returns:
            The estimate.

        Raises:
            ValueError: When ``q`` is outside ``[0, 1]``.
        """
        if not 0.0 <= q <= 1.0:
            raise ValueError(f"quantile must be in [0, 1], got {q}")
        if not self.count:
            return None
        rank = max(1, math.ceil(q * self.count))
        seen = 0
        for key in sorted(self._counts):
            seen += self._counts[key]
            if seen >= rank:
                low, high = self.bounds(key)
                return (low + high) / 2 / 1_000_000
        raise AssertionError("rank beyond count")  # pragma: no cover


class RouteCounters:
    """Live counters of one route."""

    __slots__ = ("requests", "responses")

    def __init__(self) -> None:
        self.requests = 0
        #: Answers given to clients by status class (``"2xx"``), upstream or gateway.
        self.responses: dict[str, int] = {}

    def respond(self, status: int) -> None:
        """Count one answer to a client.

        Args:
            status: Its status code.
        """
        name = _CLASSES.get(status) or status_class(status)
        self.responses[name] = self.responses.get(name, 0) + 1


class ServiceCounters:
    """Live counters of one service."""

    __slots__ = ("latency", "panics", "requests", "retries", "upstream_bad", "upstream_ok")

    def __init__(self) -> None:
        self.requests = 0
        self.upstream_ok = 0
        self.upstream_bad = 0
        self.panics = 0
        self.retries = 0
        self.latency = Histogram()


@final
@dataclass(frozen=True, slots=True, kw_only=True)
class RouteStats:
    """Counters of one route.

    Attributes:
        name: Route name.
        requests: Requests matched to it.
        responses: Answers by status class, sorted (``(("2xx", 10), ("5xx", 1))``).
    """

    name: str
    requests: int
    responses: tuple[tuple[str, int], ...] = ()


@final
@dataclass(frozen=True, slots=True, kw_only=True)
class EjectedEndpoint:
    """An endpoint out of service.

    Attributes:
        endpoint: Its identity.
        state: ``"ejected"`` (passive) or ``"unhealthy"`` (active probes).
        until: When a passive ejection ends; None for ``unhealthy``.
    """

    endpoint: str
    state: str
    until: float | None = None


@final
@dataclass(frozen=True, slots=True, kw_only=True)
class ServiceStats:
    """Counters and health of one service.

    Attributes:
        name: Service name.
        requests: First attempts sent to it.
        upstream_ok: Attempts answered with a status that is not a failure.
        upstream_bad: Failed attempts (connect, timeout, reset, failure status).
        members: Endpoints currently resolved.
        healthy_members: Of those, how many are healthy and not draining.
        ejected: Endpoints out of service, with until-when.
        panics: Attempts sent while every endpoint was out (``panic: true``).
        retries: Retries sent.
        latency_count: Latency samples.
        latency_p50: Median response-head latency in seconds, None before any.
        latency_p99: 99th percentile, None before any.
    """

    name: str
    requests: int
    upstream_ok: int
    upstream_bad: int
    members: int
    healthy_members: int
    ejected: tuple[EjectedEndpoint, ...] = ()
    panics: int = 0
    retries: int = 0
    latency_count: int = 0
    latency_p50: float | None = None
    latency_p99: float | None = None


@final
@dataclass(frozen=True, slots=True, kw_only=True)
class GatewayStats:
    """A snapshot of every counter.

    Attributes:
        generation: Config generation.
        routes: Per route, sorted by name.
        services: Per service, sorted by name.
    """

    generation: int
    routes: tuple[RouteStats, ...] = field(default=())
    services: tuple[ServiceStats, ...] = field(default=())


def snapshot(gw: Gateway, now: float) -> GatewayStats:
    """Copy a gateway's live counters and health into frozen stats
    (:meth:`gwcore.gateway.Gateway.stats`).

    Args:
        gw: The gateway.
        now: Current time.

    Returns:
        The snapshot.
    """
    routes = tuple(
        RouteStats(
            name=name,
            requests=state.counters.requests,
            responses=tuple(sorted(state.counters.responses.items())),
        )
        for name, state in sorted(gw._routes.items())
    )
    services: list[ServiceStats] = []
    for name, state in sorted(gw._services.items()):
        ejected: list[EjectedEndpoint] = []
        healthy = 0
        for member in state.members:
            record = gw._health.record(name, member.identity)
            if record is None or record.state is State.HEALTHY:
                healthy += member.weight > 0
                continue
            until = record.ejected_until if record.state is State.EJECTED else None
            ejected.append(
                EjectedEndpoint(endpoint=member.identity, state=record.state.value, until=until)
            )
        counters = state.counters
        services.append(
            ServiceStats(
                name=name,
                requests=counters.requests,
                upstream_ok=counters.upstream_ok,
                upstream_bad=counters.upstream_bad,
                members=len(state.members),
                healthy_members=healthy,
                ejected=tuple(ejected),
                panics=counters.panics,
                retries=counters.retries,
                latency_count=counters.latency.count,
                latency_p50=counters.latency.quantile(0.5),
                latency_p99=counters.latency.quantile(0.99),
            )
        )
    return GatewayStats(generation=gw._generation, routes=routes, services=tuple(services))
