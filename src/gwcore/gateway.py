"""The Gateway: one object that decides everything about traffic.

CONTRACT (transports code against exactly these signatures).

    gw = Gateway(config, rng=random.Random(seed))
    gw.config -> Config                      the running config (read-only)
    gw.generation -> int                     bumped on every applied change
    gw.watched_keys -> frozenset[str]        etcd keys used by etcd(key, default) endpoints
    gw.decide(request: Request, now) -> Forward | Respond
        raises RequestError (400) / NoRouteError (404) / MethodNotAllowed (405) /
        NoHealthyEndpoint (503)
    gw.outcome(forward: Forward, event: Outcome, now) -> Forward | None
        None: go on (stream the response), then call finish();
        Forward: retry on that one (the old attempt is over);
        raises UpstreamError (502) / UpstreamTimeout (504) / NoHealthyEndpoint (503)
        when giving up (the attempt is over).
    gw.finish(forward: Forward, now) -> None     the attempt is over (response streamed
                                                 or abandoned); releases its in-flight slot
    gw.apply(change: Change, now) -> Applied     raises ConfigError and changes nothing
    gw.probe_result(event: ProbeSucceeded | ProbeFailed, now) -> None
    gw.tick(now) -> tuple[StartProbe, ...]   expires instances, ends ejections; due probes
    gw.next_deadline() -> float | None           when tick() next has something to do
    gw.stats(now) -> GatewayStats                per route / per service counters
    gw.explain(method, host, path, headers=()) -> routes.Explanation
    gw.choose(method, host, path, headers=()) -> Choice | None
                                                 the endpoint decide() would pick, without
                                                 moving any balancer

Theory of operation
-------------------
``decide`` runs the whole request-time path: split and normalise the target
(:mod:`gwcore.rewrite`), match a route (:mod:`gwcore.routes`), pick a backend
service by weight, filter its members (:mod:`gwcore.failover`, reading
:mod:`gwcore.health`), balance (:mod:`gwcore.balance`) and build the upstream
target and headers. Members are resolved (:mod:`gwcore.resolve`) when a change
arrives, never per request. ``outcome`` feeds health and stats and decides on a
retry; ``apply`` swaps in changes all-or-nothing (:mod:`gwcore._runtime`).
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from typing import final

from gwcore import _changes
from gwcore._headers import client_host, request_id, server_options, upstream_headers
from gwcore._probes import ProbeSchedule
from gwcore._runtime import Plan, RouteState, ServiceState, make_forward, peek, plan, refusal
from gwcore.config import Config
from gwcore.errors import NoHealthyEndpoint, RequestError
from gwcore.events import (
    Applied,
    Change,
    Forward,
    Outcome,
    ProbeFailed,
    ProbeSucceeded,
    Request,
    Respond,
    StartProbe,
)
from gwcore.failover import IDEMPOTENT_METHODS, is_idempotent
from gwcore.health import HealthBook
from gwcore.resolve import Address, Resolver, parse_url
from gwcore.rewrite import normalise_path, rewrite_path, split_normalised
from gwcore.routes import Explanation
from gwcore.stats import GatewayStats, snapshot

__all__ = ["Choice", "Gateway"]

# Parsed identities kept for retries; more than this and the cache starts over.
_ADDRESS_CACHE = 4096


@final
@dataclass(frozen=True, slots=True, kw_only=True)
class Choice:
    """Where a request would go (``gw explain``).

    Attributes:
        route: The matched route.
        service: The service picked (None for a ``respond:`` route).
        endpoint: The endpoint identity picked (None for a ``respond:`` route).
        target: The upstream target (None for a ``respond:`` route).
        panic: Picked while every endpoint was out of service.
    """

    route: str
    service: str | None = None
    endpoint: str | None = None
    target: str | None = None
    panic: bool = False


class Gateway:
    """The pure state machine between requests and upstreams.

    Args:
        config: The initial config.
        rng: Randomness for least-request balancing; seed it for determinism.

    Raises:
        ConfigError: When ``config`` is invalid (a bad stage variable, an endpoint
            URL that does not parse, a route tie).
    """

    def __init__(self, config: Config, *, rng: random.Random | None = None) -> None:
        self._rng = rng if rng is not None else random.Random(0)
        self._plan: Plan = plan(config, None)
        self._generation = 1
        self._resolver = Resolver()
        self._health = HealthBook()
        self._probes = ProbeSchedule()
        self._services: dict[str, ServiceState] = {}
        self._routes: dict[str, RouteState] = {}
        self._addresses: dict[str, Address] = {}
        self._next_expiry = float("inf")
        _changes.install(self, self._plan, 0.0)

    # ------------------------------------------------------------------ read-only state

    @property
    def config(self) -> Config:
        """The running config."""
        return self._plan.config

    @property
    def generation(self) -> int:
        """Bumped by every change that changed something."""
        return self._generation

    @property
    def watched_keys(self) -> frozenset[str]:
        """The etcd keys named by ``etcd(key, default)`` endpoints."""
        return frozenset().union(*(s.etcd_keys for s in self._services.values()))

    @property
    def health(self) -> HealthBook:
        """Health of every endpoint (read it; only outcomes and probes change it)."""
        return self._health

    # ------------------------------------------------------------------ requests

    def decide(self, request: Request, now: float) -> Forward | Respond:
        """Decide what to do with a request head.

        Args:
            request: The request head.
            now: Current time (instance leases are checked against it).

        Returns:
            A :class:`Forward` to an endpoint, or a :class:`Respond` for a
            ``respond:`` route (and for ``OPTIONS *``: 200 with ``Allow``).

        Raises:
            RequestError: Bad target (400).
            NoRouteError: No route matches (404).
            MethodNotAllowed: A route matches all but the method (405).
            NoHealthyEndpoint: No endpoint can take it (503), with the reason.
        """
        if now >= self._next_expiry:
            _changes.expire(self, now)
        try:
            path, query = split_normalised(request.target)
        except RequestError:
            if request.target == "*" and request.method == "OPTIONS":
                return server_options(request)  # about the server itself, no route
            raise
        headers = request.headers
        host = client_host(headers)
        state = self._routes[self._plan.table.match(request.method, host, path, headers).name]
        counters = state.counters
        counters.requests += 1
        route = state.route
        if route.respond is not None:
            answer = route.respond
            counters.respond(answer.status)
            rid = request_id(headers, request.request_id)
            return Respond(
                request_id=rid,
                route=state.name,
                status=answer.status,
                headers=answer.headers,
                body=state.body,
            )
        name = state.single if state.single is not None else state.pick_service()
        service = self._services[name] if name is not None else None
        if service is not None and service.seen != self._health.generation:
            service.check(self._health)
        if service is None or not service.eligible:
            counters.respond(NoHealthyEndpoint.status_hint)
            raise NoHealthyEndpoint(refusal(state, service), route=state.name)
        in_flight = service.in_flight
        key = service.hash_key(request) if service.hashing else None
        member = service.policy.pick(service.eligible, key, in_flight)
        head = state.head
        if head is not None:
            rewritten = head + path[state.cut :] or "/"
        else:  # the rewrite is not a path: rewrite_path says so (ValueError)
            rewritten = rewrite_path(path, route.prefix, route.rewrite)
        address = member.address
        target = f"{address.base}{rewritten}?{query}" if query else address.base + rewritten
        upstream, rid = upstream_headers(
            headers,
            route.host_rewrite or host or address.netloc,
            request.client,
            request.scheme,
            request.request_id,
        )
        identity = member.identity
        service.counters.requests += 1
        service.budget.request(now)
        panicking = service.panicking
        if panicking:
            service.counters.panics += 1
        in_flight[identity] = in_flight.get(identity, 0) + 1
        method = request.method
        return make_forward(
            rid,
            state.name,
            service.name,
            member,
            target,
            upstream,
            0,
            member.alone,
            method in IDEMPOTENT_METHODS or is_idempotent(method, headers),
            service.connect_timeout,
            service.response_timeout,
            state.max_body,
            panicking,
        )

    def outcome(self, forward: Forward, event: Outcome, now: float) -> Forward | None:
        """Report how an attempt went.

        Args:
            forward: The attempt (as returned by :meth:`decide` or a retry).
            event: What happened.
            now: Current time.

        Returns:
            None: the response is the answer (stream it, then :meth:`finish`);
            a :class:`Forward`: retry there (this attempt is over).

        Raises:
            UpstreamError: Giving up after a connect failure or reset (502).
            UpstreamTimeout: Giving up after a timeout (504).
            Either error's reason says what failed and why no retry was made.
        """
        return _changes.outcome(self, forward, event, now)

    def finish(self, forward: Forward, now: float) -> None:
        """An attempt is over (its response was streamed or abandoned).

        Args:
            forward: The attempt.
            now: Current time.
        """
        _changes.release(self, forward)

    # ------------------------------------------------------------------ changes and time

    def apply(self, change: Change, now: float) -> Applied:
        """Apply a config, store or registration change, all or nothing.

        Args:
            change: The change.
            now: Current time (instance leases start from it).

        Returns:
            What changed; ``changed=False`` (and the same generation) when nothing did.

        Raises:
            ConfigError: The change is invalid; nothing changed.
        """
        return _changes.apply(self, change, now)

    def probe_result(self, event: ProbeSucceeded | ProbeFailed, now: float) -> None:
        """Report an active probe's result.

        A result for an endpoint that is no longer probed (it left the service, or
        the service stopped probing while the probe ran) is ignored.

        Args:
            event: The result.
            now: Current time.
        """
        active = self._probes.settings(event.service, event.endpoint)
        if active is not None:
            passed = isinstance(event, ProbeSucceeded)
            self._health.probe(event.service, event.endpoint, passed, active, now)

    def tick(self, now: float) -> tuple[StartProbe, ...]:
        """Do what is due: expire instance leases, end ejections, start probes.

        Args:
            now: Current time.

        Returns:
            The probes to send now.
        """
        if now >= self._next_expiry:
            _changes.expire(self, now)
        self._health.tick(now)
        return self._probes.due(now)

    def next_deadline(self) -> float | None:
        """When :meth:`tick` next has work, or None."""
        deadlines = [self._health.next_deadline(), self._probes.next_deadline()]
        if self._next_expiry != float("inf"):
            deadlines.append(self._next_expiry)
        return min((d for d in deadlines if d is not None), default=None)

    # ------------------------------------------------------------------ introspection

    def stats(self, now: float) -> GatewayStats:
        """A snapshot of every counter (see :mod:`gwcore.stats`).

        Args:
            now: Current time.

        Returns:
            Frozen stats.
        """
        return snapshot(self, now)

    def explain(
        self, method: str, host: str, path: str, headers: tuple[tuple[str, str], ...] = ()
    ) -> Explanation:
        """Which route a request would match and why the others lost.

        Args:
            method: Request method.
            host: ``Host`` header value.
            path: Normalised request path.
            headers: Request headers (lower-case names).

        Returns:
            The router's explanation.
        """
        return self._plan.table.explain(method, host, path, headers)

    def choose(
        self, method: str, host: str, path: str, headers: tuple[tuple[str, str], ...] = ()
    ) -> Choice:
        """The endpoint :meth:`decide` would pick now, without moving any balancer.

        Args:
            method: Request method.
            host: ``Host`` header value.
            path: Request path (normalised here).
            headers: Request headers (lower-case names).

        Returns:
            The choice.

        Raises:
            GatewayError: As :meth:`decide` would.
        """
        path = normalise_path(path)
        route = self._plan.table.match(method, host, path, headers)
        if route.respond is not None:
            return Choice(route=route.name)
        request = Request(method=method, target=path, headers=(("host", host), *headers))
        service, member, panicking = peek(
            self._routes[route.name], self._services, self._health, request
        )
        rewritten = rewrite_path(path, route.prefix, route.rewrite)
        return Choice(
            route=route.name,
            service=service.name,
            endpoint=member.identity,
            target=member.address.base + rewritten,
            panic=panicking,
        )

    def address(self, identity: str) -> Address:
        """The parsed address of an endpoint identity (identities are base URLs).

        Args:
            identity: An endpoint identity, as in ``Forward.endpoint``.

        Returns:
            Its address.

        Raises:
            ConfigError: When ``identity`` is not a URL (never for one gwcore made).
        """
        address = self._addresses.get(identity)
        if address is None:
            if len(self._addresses) >= _ADDRESS_CACHE:
                self._addresses.clear()  # endpoints come and go: keep the cache bounded
            address = self._addresses[identity] = parse_url(identity)
        return address
