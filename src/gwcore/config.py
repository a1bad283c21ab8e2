"""The config model: what a gateway is told to do, as frozen dataclasses.

Theory of operation
-------------------
A config arrives as plain data (a dict from YAML or JSON, an admin API body, an
etcd value). :func:`from_dict` checks all of it and either returns a complete
:class:`Config` or raises one :class:`~gwcore.errors.ConfigError` listing *every*
problem with its field path (``routes.usermapping.prefix: must start with '/'``).
There is no half-built config: the running gateway keeps its old one.

:func:`to_dict` gives the canonical form back (defaults spelled out, durations as
``"10s"``/``"250ms"``), so ``from_dict(to_dict(c)) == c`` for every config; that
is what makes ``gw dump`` / ``gw load`` restore a gateway exactly.

The server part of the model (listeners, TLS, the admin listener, limits,
server timeouts, etcd) lives in :mod:`gwcore._config_server` and is re-exported
here: ``gwcore.config`` is the one import path for every config class.

Durations are held as float seconds; sizes as int bytes. Endpoint URLs are held
as written (``http://...``, ``etcd(key, default)``, ``${stageVariables.X}``);
:mod:`gwcore.resolve` turns them into addresses.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import Enum
from typing import final

from gwcore._config_server import (
    DEFAULT_MAX_BODY,
    Admin,
    Etcd,
    Limits,
    Listener,
    ServerTimeouts,
    Tls,
)
from gwcore._frozen import FrozenDict
from gwcore._units import format_duration, parse_duration, parse_size

__all__ = [
    "DEFAULT_MAX_BODY",
    "Active",
    "Admin",
    "Backend",
    "Balancer",
    "BalancerKind",
    "Config",
    "Endpoint",
    "Etcd",
    "Health",
    "Limits",
    "Listener",
    "Passive",
    "Respond",
    "RetryBudget",
    "Route",
    "ServerTimeouts",
    "Service",
    "ServiceTimeouts",
    "Stage",
    "Tls",
    "format_duration",
    "from_dict",
    "parse_duration",
    "parse_route",
    "parse_service",
    "parse_size",
    "route_to_dict",
    "service_to_dict",
    "to_dict",
    "validate",
]


class BalancerKind(Enum):
    """How a service picks one of its endpoints."""

    #: Smooth weighted round robin (nginx): exact proportions, no bursts.
    ROUND_ROBIN = "round_robin"
    #: Power of two choices on in-flight requests, weighted.
    LEAST_REQUEST = "least_request"
    #: Consistent hash of a request header (``hash(header:x-user)``).
    HASH_HEADER = "header"
    #: Consistent hash of a cookie (``hash(cookie:sid)``).
    HASH_COOKIE = "cookie"
    #: Consistent hash of the client address (``hash(client_ip)``).
    HASH_CLIENT_IP = "client_ip"


@final
@dataclass(frozen=True, slots=True, kw_only=True)
class Balancer:
    """A balancing policy as written in ``services.<name>.balancer``.

    Attributes:
        kind: The algorithm.
        key: Header or cookie name (lower-cased header) for the hash kinds; ``""``
            otherwise.
    """

    kind: BalancerKind = BalancerKind.ROUND_ROBIN
    key: str = ""


@final
@dataclass(frozen=True, slots=True, kw_only=True)
class Endpoint:
    """One upstream of a service.

    Attributes:
        url: As written: ``http(s)://host[:port][/base]``, ``etcd(key, default_url)``,
            possibly with ``${stageVariables.NAME}`` references.
        weight: Relative share; 0 drains (no new requests).
    """

    url: str
    weight: int = 1


@final
@dataclass(frozen=True, slots=True, kw_only=True)
class Passive:
    """Passive health checking (outlier ejection) from real traffic.

    Attributes:
        consecutive_failures: Failures in a row that eject an endpoint.
        ejection: First ejection period in seconds; doubles on each repeat.
        max_ejection: Cap of the doubling, seconds.
        failure_statuses: Upstream statuses that count as a failure.
    """

    consecutive_failures: int = 5
    ejection: float = 10.0
    max_ejection: float = 300.0
    failure_statuses: frozenset[int] = frozenset({500, 502, 503, 504})


@final
@dataclass(frozen=True, slots=True, kw_only=True)
class Active:
    """Active health probes, sent by the transport when the core says they are due.

    Attributes:
        path: Request path of the probe (``GET``).
        interval: Seconds between probes of one endpoint.
        timeout: Seconds before a probe counts as failed.
        healthy: Successes in a row that bring an endpoint back.
        unhealthy: Failures in a row that take it out.
    """

    path: str = "/health"
    interval: float = 5.0
    timeout: float = 2.0
    healthy: int = 2
    unhealthy: int = 3


@final
@dataclass(frozen=True, slots=True, kw_only=True)
class Health:
    """Health checking of a service's endpoints; ``None`` parts are switched off."""

    passive: Passive | None = field(default_factory=Passive)
    active: Active | None = None


@final
@dataclass(frozen=True, slots=True, kw_only=True)
class ServiceTimeouts:
    """Upstream timeouts of one service, seconds; ``None`` inherits ``timeouts.*``."""

    connect: float | None = None
    response: float | None = None


@final
@dataclass(frozen=True, slots=True, kw_only=True)
class RetryBudget:
    """Bounds retries so that failures cannot multiply upstream load (Envoy's
    ``retry_budget``, Finagle's ``RetryBudget``).

    Attributes:
        ratio: Retries may add at most this share of the service's requests
            (over a sliding 10 s window).
        min_per_second: Retries always allowed per second, so low-traffic
            services can still retry.
    """

    ratio: float = 0.2
    min_per_second: float = 3.0


@final
@dataclass(frozen=True, slots=True, kw_only=True)
class Service:
    """A named set of interchangeable upstream endpoints.

    Attributes:
        endpoints: Static and ``etcd(...)`` endpoints; registered instances are
            added at run time and are not part of the config.
        balancer: How one endpoint is picked.
        retries: Extra attempts after the first, each on another endpoint.
        timeouts: Connect and response timeouts.
        health: Passive and active health checking.
        panic: When every endpoint is ejected, route over all of them (and say so
            in stats) instead of answering 503.
        ca: PEM file of CAs to verify ``https://`` endpoints with; ``None`` uses the
            system store.
        retry_budget: Upper bound on retries relative to requests.
    """

    endpoints: tuple[Endpoint, ...] = ()
    balancer: Balancer = field(default_factory=Balancer)
    retries: int = 2
    timeouts: ServiceTimeouts = field(default_factory=ServiceTimeouts)
    health: Health = field(default_factory=Health)
    panic: bool = False
    ca: str | None = None
    retry_budget: RetryBudget = field(default_factory=RetryBudget)


@final
@dataclass(frozen=True, slots=True, kw_only=True)
class Backend:
    """One weighted share of a route's traffic (blue/green, canary)."""

    service: str
    weight: int = 1


@final
@dataclass(frozen=True, slots=True, kw_only=True)
class Respond:
    """A fixed answer given by the gateway itself, without an upstream.

    Attributes:
        status: HTTP status, 200..599.
        body: Response body (UTF-8 text).
        headers: Extra response headers, names lower-cased, sorted.
    """

    status: int = 200
    body: str = ""
    headers: tuple[tuple[str, str], ...] = ()


@final
@dataclass(frozen=True, slots=True, kw_only=True)
class Route:
    """A mapping from requests (host, path prefix, method, headers) to a target.

    Exactly one of ``backends`` (non-empty) or ``respond`` is set; a config's
    ``service: users`` is held as ``backends=(Backend(service="users"),)`` and
    written back as ``service: users``.

    Attributes:
        name: The route's key under ``routes``.
        prefix: Path prefix, matched on whole segments; starts with ``/``.
        rewrite: What the matched prefix is replaced with (default ``/``).
        backends: Weighted services receiving the traffic.
        respond: A fixed answer instead of an upstream.
        host: Exact host, ``*.suffix`` wildcard, or ``None`` for any host; held
            lower-cased without port or trailing dot.
        methods: Accepted methods (upper-case), or ``None`` for any.
        headers: Exact-match header constraints, names lower-cased, sorted.
        priority: Higher wins among otherwise equal routes.
        host_rewrite: Host header sent upstream instead of the client's.
        max_body: Request body limit for this route in bytes, overriding
            ``limits.max_body``; ``None`` inherits it (unless ``max_body_unlimited``).
        max_body_unlimited: This route takes bodies of any size (``max_body: null``
            in the config), whatever ``limits.max_body`` says. Use
            :meth:`body_limit` rather than reading the two fields.
    """

    name: str
    prefix: str
    rewrite: str = "/"
    backends: tuple[Backend, ...] = ()
    respond: Respond | None = None
    host: str | None = None
    methods: frozenset[str] | None = None
    headers: tuple[tuple[str, str], ...] = ()
    priority: int = 0
    host_rewrite: str | None = None
    max_body: int | None = None
    max_body_unlimited: bool = False

    def __post_init__(self) -> None:
        if self.max_body_unlimited and self.max_body is not None:
            raise ValueError("a route's max_body cannot be both a size and unlimited")

    def body_limit(self, default: int | None) -> int | None:
        """The request body limit for this route.

        Args:
            default: ``limits.max_body`` of the config (``None`` is unlimited).

        Returns:
            Bytes, or ``None`` for no limit.
        """
        if self.max_body_unlimited:
            return None
        return default if self.max_body is None else self.max_body


@final
@dataclass(frozen=True, slots=True, kw_only=True)
class Stage:
    """A deployment stage (``dev``, ``prod``) and its variables."""

    variables: FrozenDict[str, str] = field(default_factory=FrozenDict)


@final
@dataclass(frozen=True, slots=True, kw_only=True)
class Config:
    """A whole gateway config; built only by :func:`from_dict` or ``replace``.

    Attributes:
        listen: Proxy listeners (at least one).
        admin: Admin API listener and credentials.
        stage: Name of the active stage, or ``None``.
        stages: Every stage and its variables.
        services: Services by name.
        routes: Routes by name.
        limits: Request limits.
        timeouts: Client-side and default upstream timeouts.
        etcd: etcd connection, or ``None`` when etcd is not used.
        state: Path of the admin API's state file; ``None`` derives
            ``<config file>.state.json``.
        access_log: ``"text"``, ``"json"`` or ``"off"``.
    """

    listen: tuple[Listener, ...] = (Listener(host="127.0.0.1", port=8080),)
    admin: Admin = field(default_factory=Admin)
    stage: str | None = None
    stages: FrozenDict[str, Stage] = field(default_factory=FrozenDict)
    services: FrozenDict[str, Service] = field(default_factory=FrozenDict)
    routes: FrozenDict[str, Route] = field(default_factory=FrozenDict)
    limits: Limits = field(default_factory=Limits)
    timeouts: ServerTimeouts = field(default_factory=ServerTimeouts)
    etcd: Etcd | None = None
    state: str | None = None
    access_log: str = "text"


# The readers and writers build the dataclasses above, so they are imported once
# those exist (the modules import this one). Their docs: docs/config.md.
from gwcore._config_dump import route_to_dict, service_to_dict, to_dict  # noqa: E402
from gwcore._config_parse import from_dict, parse_route, parse_service, validate  # noqa: E402
