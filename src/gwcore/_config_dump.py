"""Writing a config back as plain data: the canonical form.

The canonical form spells out every default, writes durations with the largest
exact unit (``"10s"``, ``"250ms"``), sizes as int bytes, sets (methods, failure
statuses) sorted, and a route with one backend of weight 1 as ``service: name``.
Keys come in schema order, so a dump reads like the reference documentation.
Reading it back gives an equal :class:`~gwcore.config.Config`; that is what
``gw dump`` / ``gw load`` rely on.
"""

from __future__ import annotations

from gwcore._config_syntax import format_address
from gwcore._units import format_duration
from gwcore.config import (
    Active,
    Balancer,
    BalancerKind,
    Config,
    Listener,
    Passive,
    Route,
    Service,
    Tls,
)

__all__ = ["route_to_dict", "service_to_dict", "to_dict"]


def to_dict(config: Config) -> dict[str, object]:
    """The canonical plain-data form of a config (JSON/YAML-serialisable).

    Args:
        config: A config built by :func:`~gwcore.config.from_dict`.

    Returns:
        A dict of dicts, lists, str, int, float, bool and None, keys in schema
        order, such that ``from_dict(to_dict(config)) == config``.
    """
    limits, timeouts, etcd = config.limits, config.timeouts, config.etcd
    return {
        "listen": [_listener(listener) for listener in config.listen],
        "admin": {
            "listen": format_address(config.admin.listen.host, config.admin.listen.port),
            "token": config.admin.token,
            "tls": _tls(config.admin.tls),
        },
        "stage": config.stage,
        "stages": {
            name: {"variables": dict(stage.variables)} for name, stage in config.stages.items()
        },
        "services": {name: service_to_dict(service) for name, service in config.services.items()},
        "routes": {name: route_to_dict(route) for name, route in config.routes.items()},
        "limits": {
            "max_request_line": limits.max_request_line,
            "max_header_bytes": limits.max_header_bytes,
            "max_body": limits.max_body,
            "max_connections": limits.max_connections,
        },
        "timeouts": {
            "header_read": format_duration(timeouts.header_read),
            "idle": format_duration(timeouts.idle),
            "connect": format_duration(timeouts.connect),
            "response": format_duration(timeouts.response),
            "grace": format_duration(timeouts.grace),
        },
        "etcd": None
        if etcd is None
        else {
            "endpoints": list(etcd.endpoints),
            "prefix": etcd.prefix,
            "resync": format_duration(etcd.resync),
            "user": etcd.user,
            "password": etcd.password,
            "ca": etcd.ca,
            "cert": etcd.cert,
            "key": etcd.key,
        },
        "state": config.state,
        "access_log": config.access_log,
    }


def _listener(listener: Listener) -> object:
    address = format_address(listener.host, listener.port)
    if listener.tls is None:
        return address
    return {"address": address, "tls": _tls(listener.tls)}


def _tls(tls: Tls | None) -> dict[str, object] | None:
    if tls is None:
        return None
    return {"cert": tls.cert, "key": tls.key, "client_ca": tls.client_ca}


def route_to_dict(route: Route) -> dict[str, object]:
    """One ``routes`` entry in canonical form (without its name).

    Args:
        route: A route read by :func:`~gwcore.config.parse_route` or ``from_dict``.

    Returns:
        The entry's body, such that ``parse_route(route.name, result) == route``.
    """
    result: dict[str, object] = {"prefix": route.prefix, "rewrite": route.rewrite}
    if route.respond is not None:
        result["respond"] = {
            "status": route.respond.status,
            "body": route.respond.body,
            "headers": dict(route.respond.headers),
        }
    elif len(route.backends) == 1 and route.backends[0].weight == 1:
        result["service"] = route.backends[0].service
    else:
        result["backends"] = [
            {"service": backend.service, "weight": backend.weight} for backend in route.backends
        ]
    result["host"] = route.host
    result["methods"] = None if route.methods is None else sorted(route.methods)
    result["headers"] = dict(route.headers)
    result["priority"] = route.priority
    result["host_rewrite"] = route.host_rewrite
    # "inherit" spells out the default; null is an explicit "no limit".
    if route.max_body_unlimited:
        result["max_body"] = None
    else:
        result["max_body"] = "inherit" if route.max_body is None else route.max_body
    return result


def service_to_dict(service: Service) -> dict[str, object]:
    """One ``services`` entry in canonical form (without its name).

    Args:
        service: A service read by :func:`~gwcore.config.parse_service` or ``from_dict``.

    Returns:
        The entry's body, such that ``parse_service(name, result) == service``.
    """
    timeouts = service.timeouts
    return {
        "endpoints": [{"url": e.url, "weight": e.weight} for e in service.endpoints],
        "balancer": _balancer(service.balancer),
        "retries": service.retries,
        "timeouts": {
            "connect": None if timeouts.connect is None else format_duration(timeouts.connect),
            "response": None if timeouts.response is None else format_duration(timeouts.response),
        },
        "health": {
            "passive": _passive(service.health.passive),
            "active": _active(service.health.active),
        },
        "panic": service.panic,
        "ca": service.ca,
        "retry_budget": {
            "ratio": service.retry_budget.ratio,
            "min_per_second": service.retry_budget.min_per_second,
        },
    }


def _balancer(balancer: Balancer) -> str:
    match balancer.kind:
        case BalancerKind.HASH_HEADER | BalancerKind.HASH_COOKIE:
            return f"hash({balancer.kind.value}:{balancer.key})"
        case BalancerKind.HASH_CLIENT_IP:
            return "hash(client_ip)"
        case _:
            return str(balancer.kind.value)


def _passive(passive: Passive | None) -> dict[str, object] | None:
    if passive is None:
        return None
    return {
        "consecutive_failures": passive.consecutive_failures,
        "ejection": format_duration(passive.ejection),
        "max_ejection": format_duration(passive.max_ejection),
        "failure_statuses": sorted(passive.failure_statuses),
    }


def _active(active: Active | None) -> dict[str, object] | None:
    if active is None:
        return None
    return {
        "path": active.path,
        "interval": format_duration(active.interval),
        "timeout": format_duration(active.timeout),
        "healthy": active.healthy,
        "unhealthy": active.unhealthy,
    }
