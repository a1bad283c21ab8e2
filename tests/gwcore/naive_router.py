"""A naive reference router: the precedence rules written as directly as possible.

It scans every route for every request and compares all pairs for ties, so it is
slow (linear per match, quadratic per compile) but easy to check by reading. The
tests require :class:`gwcore.routes.RouteTable` to decide exactly as it does, and
``benchmarks/router.py`` times both. It shares no code with the router.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from gwcore.config import Route
from gwcore.errors import ConfigError, FieldError, MethodNotAllowed, NoRouteError


def normal_request_host(host: str | None) -> str | None:
    """Lower case, port dropped, one trailing dot dropped; ``None`` when empty."""
    if not host:
        return None
    host = host.lower()
    if host.startswith("["):
        if "]" in host[1:]:
            host = host[: host.index("]") + 1]
    elif ":" in host:
        host = host[: host.index(":")]
    if host.endswith("."):
        host = host[:-1]
    return host or None


def host_matches(pattern: str | None, host: str | None) -> bool:
    if pattern is None:
        return True
    if host is None:
        return False
    if pattern.startswith("*."):
        suffix = pattern[1:]  # ".example.com"
        return host.endswith(suffix) and len(host) > len(suffix)
    return host == pattern


def prefix_base(prefix: str) -> str:
    """``/user/`` and ``/user`` -> ``/user``; ``/`` -> ``""``."""
    return prefix[:-1] if prefix.endswith("/") else prefix


def prefix_matches(prefix: str, path: str) -> bool:
    base = prefix_base(prefix)
    return path == base or path.startswith(base + "/")


def constrained(route: Route) -> bool:
    return route.methods is not None or len(route.headers) > 0


def route_rank(route: Route) -> tuple[int, int, int, int, int]:
    if route.host is None:
        host_tier, suffix = 0, 0
    elif route.host.startswith("*."):
        host_tier, suffix = 1, len(route.host)
    else:
        host_tier, suffix = 2, 0
    base = prefix_base(route.prefix)
    depth = base.count("/")
    return (host_tier, suffix, depth, int(constrained(route)), route.priority)


def combined_headers(headers: Sequence[tuple[str, str]]) -> dict[str, str]:
    values: dict[str, list[str]] = {}
    for name, value in headers:
        values.setdefault(name.lower(), []).append(value)
    return {name: ", ".join(vs) for name, vs in values.items()}


def headers_hold(route: Route, headers: dict[str, str]) -> bool:
    return all(name in headers and headers[name] == value for name, value in route.headers)


def method_ok(route: Route, method: str) -> bool:
    return route.methods is None or method in route.methods


def naive_ties(routes: Sequence[Route]) -> set[frozenset[str]]:
    """Every pair of routes that could both accept a request at equal rank."""
    found: set[frozenset[str]] = set()
    for i, a in enumerate(routes):
        for b in routes[i + 1 :]:
            if route_rank(a) != route_rank(b) or a.host != b.host:
                continue
            if prefix_base(a.prefix) != prefix_base(b.prefix):
                continue
            if a.methods is not None and b.methods is not None and not (a.methods & b.methods):
                continue
            mine = dict(a.headers)
            if any(name in mine and mine[name] != value for name, value in b.headers):
                continue
            found.add(frozenset({a.name, b.name}))
    return found


class NaiveRouter:
    """Linear-scan router with the same contract as ``RouteTable.match``."""

    def __init__(self, routes: Iterable[Route]) -> None:
        self.routes = list(routes)
        ties = naive_ties(self.routes)
        if ties:
            raise ConfigError(
                [FieldError(f"routes.{min(t)}", f"ties with routes.{max(t)}") for t in ties]
            )

    def candidates(self, host: str | None, path: str) -> list[Route]:
        request_host = normal_request_host(host)
        return [
            route
            for route in self.routes
            if host_matches(route.host, request_host) and prefix_matches(route.prefix, path)
        ]

    def match(
        self,
        method: str,
        host: str | None,
        path: str,
        headers: Sequence[tuple[str, str]] = (),
    ) -> Route:
        fields = combined_headers(headers)
        candidates = self.candidates(host, path)
        accepting = [r for r in candidates if method_ok(r, method) and headers_hold(r, fields)]
        if accepting:
            accepting.sort(key=route_rank, reverse=True)
            if len(accepting) > 1 and route_rank(accepting[0]) == route_rank(accepting[1]):
                raise AssertionError("tie that compile should have rejected")
            return accepting[0]
        method_rejected = [r for r in candidates if headers_hold(r, fields)]
        if method_rejected:
            allowed: set[str] = set()
            for route in method_rejected:
                assert route.methods is not None
                allowed |= route.methods
            raise MethodNotAllowed("method", allowed=tuple(sorted(allowed)))
        raise NoRouteError("no route")
