"""The gateway's run-time view of a config: per-service and per-route state.

A config change is applied in two steps. :func:`plan` builds everything the new
config needs (parsed endpoints, the compiled route table, which etcd keys are
watched) without touching the running state, and raises on any problem;
:class:`Plan` values are then swapped in whole by the gateway. State that must
survive a reload (balancer rotation, retry budget, counters, health) is carried
over by name and endpoint identity, never rebuilt needlessly.
"""

from __future__ import annotations

import dataclasses
import random
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import cast

from gwcore.balance import Policy, SmoothWeightedRoundRobin, make_policy
from gwcore.config import BalancerKind, Config, Route, Service, validate
from gwcore.errors import ConfigError, FieldError, NoHealthyEndpoint
from gwcore.events import Forward, Request
from gwcore.failover import Budget, candidates
from gwcore.health import HealthBook
from gwcore.resolve import EtcdSpec, Member, Specs, parse_endpoints, stage_variables
from gwcore.routes import RouteTable
from gwcore.stats import RouteCounters, ServiceCounters

_HASH_KINDS = frozenset(
    {BalancerKind.HASH_HEADER, BalancerKind.HASH_COOKIE, BalancerKind.HASH_CLIENT_IP}
)
_NONE: frozenset[str] = frozenset()

# --------------------------------------------------------------------------- Forward

# The gateway builds a Forward per request from values it has already checked
# (a parsed endpoint's scheme and port, headers it assembled itself). The public
# constructor re-validates all of them and sets each field through
# object.__setattr__, which costs more than the rest of a decision; so the
# gateway's own Forwards are built by setting the slots directly. The field list
# is checked here against the class, so a new field cannot be left unset.
_FORWARD_FIELDS = (
    "request_id", "route", "service", "endpoint", "scheme", "host", "port", "target",
    "headers", "attempt", "tried", "idempotent", "connect_timeout", "response_timeout",
    "max_body", "panic",
)  # fmt: skip
assert tuple(f.name for f in dataclasses.fields(Forward)) == _FORWARD_FIELDS
_Setter = Callable[[Forward, object], None]
(
    _rid, _route, _service, _endpoint, _scheme, _host, _port, _target,
    _headers, _attempt, _tried, _idempotent, _connect, _response, _max_body, _panic,
) = (cast(_Setter, getattr(Forward, name).__set__) for name in _FORWARD_FIELDS)  # fmt: skip
_new = object.__new__


def make_forward(  # noqa: PLR0917  (one argument per field, positional: the hot path)
    request_id: str,
    route: str,
    service: str,
    member: Member,
    target: str,
    headers: tuple[tuple[str, str], ...],
    attempt: int,
    tried: frozenset[str],
    idempotent: bool,
    connect_timeout: float,
    response_timeout: float,
    max_body: int | None,
    panic: bool,
) -> Forward:
    """A :class:`Forward` to ``member``, built without re-validation.

    Only for values the gateway guarantees: ``member`` is a parsed endpoint (its
    scheme is http or https, its port in range), ``headers`` are pairs and
    ``attempt >= 0``. The result is an ordinary Forward: equal to, and hashing as,
    one made by the public constructor from the same values.
    """
    address = member.address
    forward = _new(Forward)
    _rid(forward, request_id)
    _route(forward, route)
    _service(forward, service)
    _endpoint(forward, member.identity)
    _scheme(forward, address.scheme)
    _host(forward, address.host)
    _port(forward, address.port)
    _target(forward, target)
    _headers(forward, headers)
    _attempt(forward, attempt)
    _tried(forward, tried)
    _idempotent(forward, idempotent)
    _connect(forward, connect_timeout)
    _response(forward, response_timeout)
    _max_body(forward, max_body)
    _panic(forward, panic)
    return forward


# --------------------------------------------------------------------------- run-time state


class ServiceState:
    """One service at run time.

    What a request needs that does not depend on the request is kept here,
    ready: the resolved timeouts, whether the policy hashes, and the members a
    first attempt may go to (:attr:`eligible`), recomputed only when the health
    book or the members change (:attr:`seen` holds the health generation it
    was computed at).
    """

    __slots__ = (
        "budget",
        "connect_timeout",
        "counters",
        "eligible",
        "etcd_keys",
        "hashing",
        "in_flight",
        "members",
        "name",
        "panicking",
        "policy",
        "refusal",
        "response_timeout",
        "seen",
        "service",
        "serving",
        "specs",
    )

    def __init__(self, name: str, service: Service, specs: Specs, rng: random.Random) -> None:
        self.name = name
        self.service = service
        self.set_specs(specs)
        self.members: tuple[Member, ...] = ()
        #: The members with weight > 0: the candidates when all are healthy.
        self.serving: tuple[Member, ...] = ()
        self.policy: Policy = make_policy(service.balancer, rng)
        self.budget = Budget()
        self.counters = ServiceCounters()
        #: In-flight attempts per endpoint identity (least-request reads it).
        self.in_flight: dict[str, int] = {}
        #: Candidates of a first attempt; empty when the service cannot serve.
        self.eligible: Sequence[Member] = ()
        self.panicking = False
        #: Why the service cannot serve (when :attr:`eligible` is empty).
        self.refusal = ""
        self.seen = -1
        self.hashing = False
        self.connect_timeout = 0.0
        self.response_timeout = 0.0

    def prepare(self, config: Config) -> None:
        """Take the service's settings that a request reads, resolved against
        ``config``'s defaults (called whenever a config is installed)."""
        service = self.service
        self.hashing = service.balancer.kind in _HASH_KINDS
        timeouts, defaults = service.timeouts, config.timeouts
        self.connect_timeout = (
            timeouts.connect if timeouts.connect is not None else defaults.connect
        )
        self.response_timeout = (
            timeouts.response if timeouts.response is not None else defaults.response
        )

    def set_members(self, members: tuple[Member, ...]) -> None:
        """Take a new member list (and the balancer state follows)."""
        self.members = members
        self.serving = tuple(m for m in members if m.weight > 0)
        self.policy.update(members)
        self.seen = -1

    def check(self, health: HealthBook) -> None:
        """Recompute :attr:`eligible` from the health book."""
        self.seen = health.generation
        down = health.down.get(self.name)
        if not down and self.serving:
            self.eligible, self.panicking = self.serving, False
            return
        try:
            self.eligible, self.panicking = candidates(
                self.name, self.members, down, _NONE, self.service.panic
            )
        except NoHealthyEndpoint as exc:
            self.eligible, self.refusal = (), exc.reason

    def hash_key(self, request: Request) -> str | None:
        """The request's consistent-hash key, or None (no key); for a hash policy
        only (:attr:`hashing`)."""
        kind = self.service.balancer.kind
        if kind is BalancerKind.HASH_CLIENT_IP:
            return request.client or None
        wanted = self.service.balancer.key
        for name, value in request.headers:
            if kind is BalancerKind.HASH_HEADER and name == wanted:
                return value
            if kind is BalancerKind.HASH_COOKIE and name == "cookie":
                for pair in value.split(";"):
                    cookie, _, content = pair.strip().partition("=")
                    if cookie == wanted:
                        return content
        return None

    def set_specs(self, specs: Specs) -> None:
        """Take newly parsed endpoints (members are re-resolved by the caller)."""
        self.specs = specs
        #: Keys of this service's ``etcd(...)`` endpoints.
        self.etcd_keys = frozenset(spec.key for spec, _ in specs if isinstance(spec, EtcdSpec))


class RouteState:
    """One route at run time: its counters, its traffic split, and what a
    request needs of it ready-made (the rewrite's parts, the body limit, a
    ``respond:`` body as bytes)."""

    __slots__ = (
        "body",
        "counters",
        "cut",
        "head",
        "max_body",
        "name",
        "names",
        "route",
        "single",
        "split",
        "weights",
    )

    def __init__(self, route: Route) -> None:
        self.route = route
        self.counters = RouteCounters()
        self.split = SmoothWeightedRoundRobin()
        self.names: list[str] = []
        self.weights: list[int] = []
        self.max_body: int | None = None
        self.set(route)

    def set(self, route: Route) -> None:
        """Take a new version of the route (the split rotation keeps its place)."""
        self.route = route
        self.name = route.name
        live = [b for b in route.backends if b.weight > 0]
        self.names = [b.service for b in live]
        self.weights = [b.weight for b in live]
        self.split.retain(self.names)
        #: The service when there is exactly one to pick (no rotation to move).
        self.single = self.names[0] if len(self.names) == 1 else None
        self.body = route.respond.body.encode() if route.respond is not None else b""
        # rewrite_path() split in two: the upstream path is head + path[cut:] (or
        # "/"). A rewrite that is not a path leaves head None: rewrite_path then
        # says why, as it always did.
        prefix, rewrite = route.prefix, route.rewrite
        self.cut = len(prefix) - 1 if prefix[-1:] == "/" else len(prefix)
        self.head: str | None = None
        if rewrite[:1] == "/":
            self.head = rewrite[:-1] if rewrite[-1] == "/" else rewrite

    def prepare(self, config: Config) -> None:
        """Take the settings that depend on the whole config (the body limit)."""
        self.max_body = self.route.body_limit(config.limits.max_body)

    def pick_service(self) -> str | None:
        """The service for the next request (smooth WRR over the backends).

        Returns:
            A service name, or None when every backend has weight 0.
        """
        if len(self.names) <= 1:
            return self.names[0] if self.names else None
        return self.names[self.split.choose(self.names, self.weights)]


def refusal(route: RouteState, service: ServiceState | None) -> str:
    """Why a request to ``route`` has no endpoint.

    Args:
        route: The matched route.
        service: The service picked, or None when every backend has weight 0.

    Returns:
        The reason for :class:`NoHealthyEndpoint`.
    """
    if service is None:
        return f"route {route.name!r}: every backend has weight 0"
    return service.refusal


def peek(
    route: RouteState, services: dict[str, ServiceState], health: HealthBook, request: Request
) -> tuple[ServiceState, Member, bool]:
    """The endpoint a request would go to, moving no balancer (``choose``).

    Args:
        route: The matched route (its first backend is taken).
        services: The running services.
        health: The health book.
        request: The request (for a hash key).

    Returns:
        ``(service, member, panicking)``.

    Raises:
        NoHealthyEndpoint: As a decision would.
    """
    service = services[route.names[0]] if route.names else None
    if service is not None and service.seen != health.generation:
        service.check(health)
    if service is None or not service.eligible:
        raise NoHealthyEndpoint(refusal(route, service))
    key = service.hash_key(request) if service.hashing else None
    member = service.policy.pick(service.eligible, key, service.in_flight, commit=False)
    return service, member, service.panicking


@dataclass(frozen=True, slots=True)
class Plan:
    """Everything a config needs, checked, ready to swap in."""

    config: Config
    table: RouteTable
    specs: dict[str, Specs]
    variables: dict[str, str]


def plan(config: Config, current: Plan | None) -> Plan:
    """Check a config and prepare its run-time parts.

    Args:
        config: The candidate config.
        current: The running plan, whose parsed endpoints are reused for services
            that did not change.

    Returns:
        The plan.

    Raises:
        ConfigError: Listing every problem; nothing running is touched.
    """
    validate(config)
    variables = stage_variables(config)
    reuse = current is not None and current.variables == variables
    errors: list[FieldError] = []
    specs: dict[str, Specs] = {}
    for name, service in config.services.items():
        if reuse and current is not None and current.config.services.get(name) == service:
            specs[name] = current.specs[name]
            continue
        try:
            specs[name] = parse_endpoints(name, service, variables)
        except ConfigError as exc:
            errors.extend(exc.errors)
    if errors:
        raise ConfigError(errors)
    table = RouteTable.compile(config.routes.values())
    return Plan(config, table, specs, variables)
