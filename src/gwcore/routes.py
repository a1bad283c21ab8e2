"""Route matching: a compiled table that picks one route per request.

Theory of operation
-------------------
Precedence is total. Among the routes whose host and prefix match a request and
that accept its method and headers, the winner is decided by, in order:

1. host: an exact host beats a wildcard host (the longer suffix first:
   ``*.api.example.com`` beats ``*.example.com``), which beats a route without host;
2. prefix: more segments win (``/user`` and ``/user/`` both have one segment and
   both match ``/user``, ``/user/`` and ``/user/x``, never ``/users``);
3. constraint: a route with a method or header constraint beats one without;
4. priority: the higher number wins.

Two routes that would be equal on all four for some request they both accept
are a config error naming both; insertion order never decides anything.

A route that matches host and path but rejects the method or headers simply does
not take part: the request falls back to the next route in precedence order that
accepts it (as Envoy and Kong users expect). Only when no route accepts does the
request fail: with :class:`MethodNotAllowed` (405) when some matching route
accepts the headers but not the method (``allowed`` lists the methods those
routes take), with :class:`NoRouteError` (404) otherwise.

Cost: :meth:`RouteTable.match` looks the host up in a dict (and its wildcard
suffixes, when the table has wildcards), walks the path's segments down a trie
(one dict lookup per segment) and picks the winner at the deepest node holding
routes with one more dict lookup. Nothing depends on the number of routes; see
:mod:`gwcore._trie` and ``benchmarks/router.py``.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from gwcore._explain import Candidate, Explanation, Outcome, Shadowed, describe_loss
from gwcore._trie import (
    Node,
    accepts,
    header_map,
    headers_match,
    host_key,
    rank,
    segments,
    ties,
)
from gwcore.config import Route
from gwcore.errors import ConfigError, FieldError, MethodNotAllowed, NoRouteError, RequestError
from gwcore.rewrite import normalise_path, rewrite_path

__all__ = ["Candidate", "Explanation", "Outcome", "RouteTable", "Shadowed"]

#: At most this many ties are listed in one ConfigError; a table with more has
#: a systematic mistake that the first ones show.
MAX_TIES_REPORTED = 100


class RouteTable:
    """A compiled, immutable set of routes. Build it with :meth:`compile`."""

    __slots__ = ("_any", "_exact", "_routes", "_wild")
    _exact: dict[str, Node]  # exact host -> trie
    _wild: dict[str, Node]  # wildcard suffix ('example.com' for '*.example.com') -> trie
    _any: Node  # routes without host
    _routes: tuple[Route, ...]

    def __init__(self) -> None:
        raise TypeError("use RouteTable.compile(routes)")

    @classmethod
    def compile(cls, routes: Iterable[Route]) -> RouteTable:
        """Check and index routes for matching.

        Args:
            routes: The routes, in any order (the order changes nothing).

        Returns:
            The table.

        Raises:
            ConfigError: Listing every problem at once, each at ``routes.<name>``:
                two routes with the same name, a prefix or host not in normal
                form, and every pair of routes that tie (both named, with a request
                they would both take).
        """
        table = object.__new__(cls)
        table._exact = {}
        table._wild = {}
        table._any = _root()
        table._routes = ()
        errors: list[FieldError] = []
        by_name: dict[str, Route] = {}
        routed: dict[int, Node] = {}
        for route in routes:
            problem = _check(route, by_name)
            if problem is not None:
                errors.append(FieldError(f"routes.{route.name}", problem))
                continue
            by_name[route.name] = route
            node = table._root_for(route.host)
            for segment in segments(route.prefix):
                child = node.get(segment)
                if child is None:
                    child = node[segment] = Node()
                node = child
            node.routes += (route,)
            routed[id(node)] = node
        tie_errors: list[FieldError] = []
        for node in routed.values():
            node.finish()
            tie_errors.extend(_tie_errors(node))
        errors.extend(sorted(tie_errors, key=str)[:MAX_TIES_REPORTED])
        if len(tie_errors) > MAX_TIES_REPORTED:
            errors.append(FieldError("routes", f"{len(tie_errors)} ties in all; fix these first"))
        if errors:
            raise ConfigError(errors)
        table._routes = tuple(sorted(by_name.values(), key=lambda route: route.name))
        return table

    def _root_for(self, host: str | None) -> Node:
        if host is None:
            return self._any
        index = self._wild if host.startswith("*.") else self._exact
        key = host[2:] if host.startswith("*.") else host
        root = index.get(key)
        if root is None:
            root = index[key] = _root()
        return root

    @property
    def routes(self) -> tuple[Route, ...]:
        """Every route of the table, sorted by name."""
        return self._routes

    def __len__(self) -> int:
        return len(self._routes)

    def match(
        self,
        method: str,
        host: str | None,
        path: str,
        headers: Sequence[tuple[str, str]] = (),
    ) -> Route:
        """Pick the route for a request; see the module docstring for the rules.

        Args:
            method: The request method, compared case-sensitively (RFC 9110 9.1).
            host: The raw ``Host`` header value (any case, maybe a port or a
                trailing dot), or ``None``/``""`` when absent: only routes without
                host can match then.
            path: The path as returned by :func:`gwcore.rewrite.normalise_path`;
                any other string gives an unspecified route or error.
            headers: Request header fields; names in any case.

        Returns:
            The winning route.

        Raises:
            NoRouteError: No route matches host and path, or none that does
                accepts the headers (404).
            MethodNotAllowed: Some route matches host, path and headers, but none
                of them accepts the method (405); ``allowed`` lists their methods.
        """
        parts = path.split("/")
        if host:
            key = host.lower()
            if ":" in key or key[-1] == ".":
                key = host_key(key)
            root = self._exact.get(key)
            if root is not None:
                found = _deepest(root, parts)
                if found is not None:
                    return self._pick(found, method, key, parts, headers)
            if self._wild:
                for root in self._wild_roots(key):
                    found = _deepest(root, parts)
                    if found is not None:
                        return self._pick(found, method, key, parts, headers)
        else:
            key = ""
        found = _deepest(self._any, parts)
        if found is not None:
            return self._pick(found, method, key, parts, headers)
        raise NoRouteError(_NO_ROUTE)

    def _pick(
        self,
        node: Node,
        method: str,
        host: str,
        parts: list[str],
        headers: Sequence[tuple[str, str]],
    ) -> Route:
        # The best route of the most specific matching node usually accepts; only
        # when it does not are all candidates gathered, in precedence order.
        by_method = node.by_method
        if by_method is not None:
            route = by_method.get(method, node.default)
            if route is not None:
                return route
        else:
            fields = header_map(headers)
            for route in node.routes:
                if accepts(route, method, fields):
                    return route
        decision, _ = self._decide(method, host, parts, headers)
        if isinstance(decision, RequestError):
            raise decision
        return decision

    def _wild_roots(self, host: str) -> Iterable[Node]:
        # Longest suffix first: the suffix after the first dot, then the next...
        # The label left of the suffix must be non-empty, so '*.example.com'
        # never matches 'example.com' (nor '.example.com').
        dot = host.find(".", 1)
        while dot > 0:
            root = self._wild.get(host[dot + 1 :])
            if root is not None:
                yield root
            dot = host.find(".", dot + 1)

    def _candidates(self, host: str, parts: list[str]) -> list[Route]:
        """Every route matching host and path, best rank first."""
        roots: list[Node] = []
        if host:
            exact = self._exact.get(host)
            if exact is not None:
                roots.append(exact)
            roots.extend(self._wild_roots(host))
        roots.append(self._any)
        result: list[Route] = []
        for root in roots:
            nodes: list[Node] = []
            node = root
            for part in parts:
                child = node.get(part)
                if child is None:
                    break
                node = child
                if node.routes and (not nodes or nodes[-1] is not node):
                    nodes.append(node)
            for node in reversed(nodes):
                result.extend(node.routes)
        return result

    def _decide(
        self,
        method: str,
        host: str,
        parts: list[str],
        headers: Sequence[tuple[str, str]],
    ) -> tuple[Route | RequestError, list[Route]]:
        """The complete decision: (the winner or the error to raise, the candidates)."""
        candidates = self._candidates(host, parts)
        fields = header_map(headers)
        allowed: set[str] = set()
        headers_ok = False
        for route in candidates:
            if accepts(route, method, fields):
                return route, candidates
            if headers_match(route, fields):
                # It was the method: a route accepting any method would have won.
                headers_ok = True
                allowed.update(route.methods or ())
        if headers_ok:
            listed = ", ".join(sorted(allowed)) or "none"
            reason = f"method {method!r} is not allowed here (allowed: {listed})"
            return MethodNotAllowed(reason, allowed=tuple(sorted(allowed))), candidates
        if candidates:
            return NoRouteError("no route matches this request's headers"), candidates
        return NoRouteError(_NO_ROUTE), candidates

    def explain(
        self,
        method: str,
        host: str | None,
        path: str,
        headers: Sequence[tuple[str, str]] = (),
    ) -> Explanation:
        """Say which route wins a request, why every other candidate lost, and
        which path goes upstream; takes the same arguments as :meth:`match`.

        Returns:
            The explanation; ``winner`` and ``upstream_path`` are ``None`` and
            ``error`` is set when :meth:`match` would raise.
        """
        key = host_key(host) if host else ""
        decision, candidates = self._decide(method, key, path.split("/"), headers)
        winner = None if isinstance(decision, RequestError) else decision
        fields = header_map(headers)
        explained: list[Candidate] = []
        for route in candidates:
            if route is winner:
                outcome, reason = Outcome.WON, "highest-ranked route accepting the request"
            elif winner is not None and accepts(route, method, fields):
                outcome, reason = Outcome.OUTRANKED, describe_loss(winner, route)
            elif headers_match(route, fields):
                listed = ", ".join(sorted(route.methods or ()))
                outcome, reason = Outcome.METHOD, f"method {method} not in [{listed}]"
            else:
                wanted = ", ".join(f"{name}: {value}" for name, value in route.headers)
                outcome, reason = Outcome.HEADERS, f"headers do not match [{wanted}]"
            explained.append(Candidate(route=route, outcome=outcome, reason=reason))
        return Explanation(
            method=method,
            host=key or None,
            path=path,
            winner=winner,
            error=decision if isinstance(decision, RequestError) else None,
            candidates=tuple(explained),
            upstream_path=None
            if winner is None
            else rewrite_path(path, winner.prefix, winner.rewrite),
        )

    def shadowed(self) -> tuple[Shadowed, ...]:
        """Routes that can never win any request, sorted by name.

        A route is fully shadowed when, for every method it accepts, a route with
        the same host and prefix, a higher rank and no more header constraints
        accepts that method too (a route without methods can only be shadowed by
        one without methods). Only such routes can cover all of its requests: any
        other host, prefix or header constraint leaves some request to it.

        Returns:
            One entry per shadowed route, naming the routes that take its traffic.
        """
        result: list[Shadowed] = []
        for root in (*self._exact.values(), *self._wild.values(), self._any):
            for node in _walk(root):
                result.extend(_shadowed_at(node))
        return tuple(sorted(result, key=lambda entry: entry.route.name))


def _root() -> Node:
    root = Node()
    root[""] = root  # path.split("/") starts with "": see gwcore._trie
    return root


def _deepest(root: Node, parts: list[str]) -> Node | None:
    """The deepest node on the path that holds routes."""
    found = None
    node = root
    for part in parts:
        child = node.get(part)
        if child is None:
            break
        node = child
        if node.routes:
            found = node
    return found


def _walk(root: Node) -> Iterable[Node]:
    stack = [root]
    while stack:
        node = stack.pop()
        yield node
        stack.extend(child for segment, child in node.items() if segment)


def _shadowed_at(node: Node) -> Iterable[Shadowed]:
    for position, route in enumerate(node.routes):
        better = [other for other in node.routes[:position] if rank(other) > rank(route)]
        takers: list[str] = []
        for method in sorted(route.methods) if route.methods is not None else (None,):
            taker = next(
                (
                    other
                    for other in better
                    if set(other.headers) <= set(route.headers)
                    and (other.methods is None or (method is not None and method in other.methods))
                ),
                None,
            )
            if taker is None:
                break
            takers.append(taker.name)
        else:
            yield Shadowed(route=route, by=tuple(sorted(set(takers))))


def _check(route: Route, seen: dict[str, Route]) -> str | None:
    if route.name in seen:
        return "two routes have this name"
    try:
        normal = normalise_path(route.prefix)
    except RequestError as exc:
        return f"prefix {route.prefix!r}: {exc.reason}"
    if normal != route.prefix:
        return f"prefix {route.prefix!r} is not in normal form (would be {normal!r})"
    host = route.host
    if host is not None and (not host or host_key(host) != host or "*" in host.removeprefix("*.")):
        return f"host {host!r} is not in normal form"
    return None


def _tie_errors(node: Node) -> Iterable[FieldError]:
    for a, b in ties(node.routes):
        if rank(a) == rank(b):
            yield FieldError(f"routes.{a.name}", _tie_message(a, b))


def _tie_message(a: Route, b: Route) -> str:
    common = sorted(a.methods & b.methods) if a.methods and b.methods else []
    method = common[0] if common else sorted(a.methods or b.methods or {"GET"})[0]
    fields = "".join(f" {name}: {value};" for name, value in sorted({*a.headers, *b.headers}))
    return (
        f"ties with routes.{b.name}: both take {method} {a.host or ''}{a.prefix}"
        f"{' with' + fields.rstrip(';') if fields else ''} at the same rank"
        f" (priority {a.priority}); give one a higher priority or make them disjoint"
    )


_NO_ROUTE = "no route matches this host and path"
