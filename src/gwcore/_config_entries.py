"""Reading one ``services`` entry and one ``routes`` entry.

These are the units the admin API (``PUT /routes/{name}``) and etcd
(``/gw/routes/<name>``) write one at a time, so they are read without the rest
of the config: a route's service and a service's stage variables are checked by
:func:`gwcore._config_parse.cross_check` once the whole config is known.
"""

from __future__ import annotations

import re
from collections.abc import Callable

from gwcore._config_fields import (
    NAME_RE,
    Errors,
    Section,
    as_bool,
    as_list,
    duration,
    index,
    integer,
    join,
    key_text,
    number,
    optional,
    shown,
    size,
    string,
    type_name,
)
from gwcore._config_syntax import (
    check_endpoint_url,
    check_header_value,
    check_host_header,
    check_path,
    check_token,
    normal_host,
    stage_references,
)
from gwcore.config import (
    Active,
    Backend,
    Balancer,
    BalancerKind,
    Endpoint,
    Health,
    Passive,
    Respond,
    RetryBudget,
    Route,
    Service,
    ServiceTimeouts,
)
from gwcore.errors import FieldError

SERVICE_KEYS = (
    "endpoints",
    "balancer",
    "retries",
    "timeouts",
    "health",
    "panic",
    "ca",
    "retry_budget",
)
ROUTE_KEYS = (
    "prefix",
    "rewrite",
    "service",
    "backends",
    "respond",
    "host",
    "methods",
    "headers",
    "priority",
    "host_rewrite",
    "max_body",
)
_TARGETS = ("service", "backends", "respond")
#: Upper bounds that catch typos (a weight of 10**9 is a slip of the finger).
MAX_RETRIES = 10
MAX_WEIGHT = 1_000_000
MAX_THRESHOLD = 1000
PRIORITY_RANGE = (-(2**31), 2**31 - 1)
_BALANCER_RE = re.compile(r"hash\((header|cookie):(.*)\)")
_BALANCER_HELP = (
    "must be round_robin, least_request, hash(header:NAME), hash(cookie:NAME) or hash(client_ip)"
)
# Framing headers are the gateway's to set on a fixed response.
_FRAMING_HEADERS = frozenset({"content-length", "transfer-encoding", "connection"})

_positive = duration()
_threshold = integer(1, MAX_THRESHOLD)
_weight = integer(0, MAX_WEIGHT)


def read_service(data: object, path: str, errors: Errors) -> Service:
    """Read one ``services.<name>`` body (stage variables unchecked).

    Args:
        data: The body.
        path: ``services.<name>``.
        errors: Where problems are recorded.

    Returns:
        The service, with defaults standing in for invalid fields.
    """
    section = Section(data, path, errors, SERVICE_KEYS)
    timeouts = section.child("timeouts", ("connect", "response"))
    budget = section.child("retry_budget", ("ratio", "min_per_second"))
    return Service(
        endpoints=_endpoints(section, errors),
        balancer=section.get("balancer", Balancer(), _balancer),
        retries=section.get("retries", 2, integer(0, MAX_RETRIES)),
        timeouts=ServiceTimeouts(
            connect=timeouts.get("connect", None, optional(_positive)),
            response=timeouts.get("response", None, optional(_positive)),
        ),
        health=_health(section.child("health", ("passive", "active"))),
        panic=section.get("panic", False, as_bool),
        ca=section.get("ca", None, optional(string())),
        retry_budget=RetryBudget(
            ratio=budget.get("ratio", 0.2, number(0, 1)),
            min_per_second=budget.get("min_per_second", 3.0, number(0, 1e6)),
        ),
    )


def _endpoints(section: Section, errors: Errors) -> tuple[Endpoint, ...]:
    given = section.get("endpoints", None, optional(as_list))
    items = given or []
    result: list[Endpoint] = []
    for position, item in enumerate(items):
        path = index(section.at("endpoints"), position)
        # A bare string is shorthand for {url: ..., weight: 1}.
        entry = Section(
            {"url": item} if isinstance(item, str) else item,
            path,
            errors,
            ("url", "weight"),
            required=("url",),
        )
        url = entry.get("url", "", _endpoint_url)
        if url and any(url == other.url for other in result):
            entry.error("url", "is listed twice in this service")
        result.append(Endpoint(url=url, weight=entry.get("weight", 1, _weight)))
    return tuple(result)


def _endpoint_url(value: object) -> str:
    url = string()(value)
    # With stage variables the URL is checked once the stage is known.
    return url if stage_references(url) else check_endpoint_url(url)


def _balancer(value: object) -> Balancer:
    if value in ("round_robin", "least_request", "hash(client_ip)"):
        kinds = {
            "round_robin": BalancerKind.ROUND_ROBIN,
            "least_request": BalancerKind.LEAST_REQUEST,
            "hash(client_ip)": BalancerKind.HASH_CLIENT_IP,
        }
        return Balancer(kind=kinds[str(value)])
    match = _BALANCER_RE.fullmatch(value) if isinstance(value, str) else None
    if match is None:
        raise ValueError(f"{_BALANCER_HELP}; got {shown(value)}")
    if match[1] == "header":
        name = check_token(match[2], "header name").lower()
        return Balancer(kind=BalancerKind.HASH_HEADER, key=name)
    return Balancer(kind=BalancerKind.HASH_COOKIE, key=check_token(match[2], "cookie name"))


def _health(section: Section) -> Health:
    passive: Passive | None = Passive()
    if section.has("passive"):
        passive = None if section.raw("passive") is None else _passive(section, "passive")
    active = None if section.raw("active") is None else _active(section, "active")
    return Health(passive=passive, active=active)


def _passive(parent: Section, key: str) -> Passive:
    section = Section(
        parent.raw(key),
        parent.at(key),
        parent.errors,
        ("consecutive_failures", "ejection", "max_ejection", "failure_statuses"),
    )
    default = Passive()
    ejection = section.get("ejection", default.ejection, _positive)
    max_ejection = section.get("max_ejection", max(ejection, default.max_ejection), _positive)
    # Without an explicit cap the default cap follows a long first ejection, so
    # only an explicit cap can be too short.
    if max_ejection < ejection:
        section.error("max_ejection", "max_ejection must be at least ejection")
    return Passive(
        consecutive_failures=section.get("consecutive_failures", 5, _threshold),
        ejection=ejection,
        max_ejection=max_ejection,
        failure_statuses=frozenset(section.each("failure_statuses", integer(100, 599)))
        if section.has("failure_statuses")
        else default.failure_statuses,
    )


def _active(parent: Section, key: str) -> Active:
    section = Section(
        parent.raw(key),
        parent.at(key),
        parent.errors,
        ("path", "interval", "timeout", "healthy", "unhealthy"),
    )
    return Active(
        path=section.get("path", "/health", _probe_path),
        interval=section.get("interval", 5.0, _positive),
        timeout=section.get("timeout", 2.0, _positive),
        healthy=section.get("healthy", 2, _threshold),
        unhealthy=section.get("unhealthy", 3, _threshold),
    )


def _probe_path(value: object) -> str:
    path = string()(value)
    if not path.startswith("/"):
        raise ValueError("probe path must start with '/'")
    if "#" in path or any(not "!" <= ch <= "~" for ch in path):
        raise ValueError("probe path must be visible ASCII without '#' (percent-encode the rest)")
    return path


def read_route(name: str, data: object, path: str, errors: Errors) -> Route:
    """Read one ``routes.<name>`` body (its services unchecked).

    Args:
        name: The route's name (already checked).
        data: The body.
        path: ``routes.<name>``.
        errors: Where problems are recorded.

    Returns:
        The route, with defaults standing in for invalid fields.
    """
    section = Section(data, path, errors, ROUTE_KEYS, required=("prefix",))
    targets = [key for key in _TARGETS if section.has(key)]
    if section.ok and len(targets) != 1:
        given = " and ".join(repr(key) for key in targets)
        problem = f"has {given}" if targets else "has none of them"
        errors.append(
            FieldError(path, f"needs exactly one of 'service', 'backends', 'respond'; {problem}")
        )
    respond = section.get(
        "respond", None, lambda value: _respond(value, section.at("respond"), errors)
    )
    max_body, unlimited = _max_body(section)
    return Route(
        name=name,
        prefix=section.get("prefix", "/", _path("prefix")),
        rewrite=section.get("rewrite", "/", _path("rewrite")),
        backends=_backends(section) if respond is None else (),
        respond=respond,
        host=section.get("host", None, optional(lambda value: normal_host(string()(value)))),
        methods=_methods(section),
        headers=section.get(
            "headers", (), lambda value: _headers(value, section.at("headers"), errors)
        ),
        priority=section.get("priority", 0, integer(*PRIORITY_RANGE)),
        host_rewrite=section.get("host_rewrite", None, optional(_host_header)),
        max_body=max_body,
        max_body_unlimited=unlimited,
    )


def _max_body(section: Section) -> tuple[int | None, bool]:
    # Absent (or "inherit") takes limits.max_body; null (or "unlimited") lifts
    # every limit for this route; a size sets this route's own limit.
    if not section.has("max_body") or section.raw("max_body") == "inherit":
        return None, False
    if section.raw("max_body") in (None, "unlimited"):
        return None, True
    return section.get("max_body", None, size()), False


def _path(what: str) -> Callable[[object], str]:
    return lambda value: check_path(string(empty=True)(value), what)


def _backends(section: Section) -> tuple[Backend, ...]:
    if section.has("service"):
        return (Backend(service=section.get("service", "", _service_name)),)
    items: list[object] = section.get("backends", [], as_list)
    if section.raw("backends") == []:
        section.error("backends", "must list at least one {service, weight}")
    result: list[Backend] = []
    for position, item in enumerate(items):
        entry = Section(
            item,
            index(section.at("backends"), position),
            section.errors,
            ("service", "weight"),
            required=("service",),
        )
        service = entry.get("service", "", _service_name)
        if service and any(service == other.service for other in result):
            entry.error("service", f"service {service!r} is listed twice")
        result.append(Backend(service=service, weight=entry.get("weight", 1, _weight)))
    if result and not any(backend.weight for backend in result):
        section.error("backends", "at least one backend needs a weight above 0")
    return tuple(result)


def _service_name(value: object) -> str:
    name = string()(value)
    if NAME_RE.fullmatch(name) is None:
        raise ValueError(f"{name!r} is not a valid service name")
    return name


def _respond(value: object, path: str, errors: Errors) -> Respond:
    section = Section(value, path, errors, ("status", "body", "headers"))
    headers: tuple[tuple[str, str], ...] = section.get(
        "headers", (), lambda raw: _headers(raw, section.at("headers"), errors)
    )
    for name, _value in headers:
        if name in _FRAMING_HEADERS:
            errors.append(FieldError(join(section.at("headers"), name), "is set by the gateway"))
    return Respond(
        status=section.get("status", 200, integer(200, 599)),
        body=section.get("body", "", string(empty=True)),
        headers=headers,
    )


def _headers(value: object, path: str, errors: Errors) -> tuple[tuple[str, str], ...]:
    if value is None:
        return ()
    if not isinstance(value, dict):
        raise ValueError(f"must be a mapping of header names to values, not {type_name(value)}")
    result: dict[str, str] = {}
    for raw_name, raw_value in value.items():
        at = join(path, key_text(raw_name))
        try:
            name = check_token(string()(raw_name), "header name").lower()
            if name in result:
                raise ValueError("is given twice (header names are case-insensitive)")
            result[name] = check_header_value(string(empty=True)(raw_value))
        except ValueError as exc:
            errors.append(FieldError(at, str(exc)))
    return tuple(sorted(result.items()))


def _methods(section: Section) -> frozenset[str] | None:
    if section.raw("methods") is None:
        return None
    if section.raw("methods") == []:
        section.error("methods", "must list at least one method (or leave it out for any method)")
    return frozenset(section.each("methods", _method))


def _method(value: object) -> str:
    return check_token(string()(value), "method").upper()


def _host_header(value: object) -> str:
    return check_host_header(string()(value))
