"""The gateway's run-time view of a config: per-service and per-route state.

A config change is applied in two steps. :func:`plan` builds everything the new
config needs (parsed endpoints, the compiled route table, which etcd keys are
watched) without touching the running state, and raises on any problem;
:class:`Plan` values are then swapped in whole by the gateway. State that must
survive a reload (balancer rotation, retry budget, counters, health) is carried
over by name and endpoint identity, never rebuilt needlessly.
"""

from __future__ import annotations

import random
from dataclasses import dataclass

from gwcore.balance import Policy, SmoothWeightedRoundRobin, make_policy
from gwcore.config import BalancerKind, Config, Route, Service, validate
from gwcore.errors import ConfigError, FieldError
from gwcore.events import Request
from gwcore.failover import Budget
from gwcore.resolve import EtcdSpec, Member, Specs, parse_endpoints, stage_variables
from gwcore.routes import RouteTable
from gwcore.stats import RouteCounters, ServiceCounters

_HASH_KINDS = frozenset(
    {BalancerKind.HASH_HEADER, BalancerKind.HASH_COOKIE, BalancerKind.HASH_CLIENT_IP}
)


class ServiceState:
    """One service at run time."""

    __slots__ = (
        "budget",
        "counters",
        "etcd_keys",
        "in_flight",
        "members",
        "name",
        "policy",
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

    def set_members(self, members: tuple[Member, ...]) -> None:
        """Take a new member list (and the balancer state follows)."""
        self.members = members
        self.serving = tuple(m for m in members if m.weight > 0)
        self.policy.update(members)

    def hash_key(self, request: Request) -> str | None:
        """The request's consistent-hash key, or None (not a hash policy, or no key)."""
        kind = self.service.balancer.kind
        if kind not in _HASH_KINDS:
            return None
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
    """One route at run time: its counters and its traffic split."""

    __slots__ = ("counters", "names", "route", "split", "weights")

    def __init__(self, route: Route) -> None:
        self.route = route
        self.counters = RouteCounters()
        self.split = SmoothWeightedRoundRobin()
        self.names: list[str] = []
        self.weights: list[int] = []
        self.set(route)

    def set(self, route: Route) -> None:
        """Take a new version of the route (the split rotation keeps its place)."""
        self.route = route
        live = [b for b in route.backends if b.weight > 0]
        self.names = [b.service for b in live]
        self.weights = [b.weight for b in live]
        self.split.retain(self.names)

    def pick_service(self) -> str | None:
        """The service for the next request (smooth WRR over the backends).

        Returns:
            A service name, or None when every backend has weight 0.
        """
        if len(self.names) <= 1:
            return self.names[0] if self.names else None
        return self.names[self.split.choose(self.names, self.weights)]


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
