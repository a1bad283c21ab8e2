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

Cost: :meth:`RouteTable.match` looks the raw Host value up in one dict that
gives the prefix dicts it can match, best tier first (exact host, wildcard
suffixes, no host; filled at compile for the exact hosts and remembered for other
values as they come), then looks the path up in each deepest prefix first, and
picks the winner of the first entry found with one more dict lookup by method.
A miss raises a fresh :class:`NoRouteError` built without its ``__init__``.
Nothing depends on the number of routes; see :mod:`gwcore._index` and
``benchmarks/router.py``.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence

from gwcore._explain import Candidate, Explanation, Outcome, Shadowed, describe_loss, shadowed_in
from gwcore._index import (
    Entry,
    accepts,
    base,
    check_route,
    header_map,
    headers_match,
    host_key,
    tie_errors,
)
from gwcore.config import Route
from gwcore.errors import ConfigError, FieldError, MethodNotAllowed, NoRouteError, RequestError
from gwcore.rewrite import normalise_path, rewrite_path

__all__ = ["Candidate", "Explanation", "Outcome", "RouteTable", "Shadowed"]

#: At most this many ties are listed in one ConfigError; a table with more has
#: a systematic mistake that the first ones show.
MAX_TIES_REPORTED = 100

# Prefix dict of one host pattern: prefix without trailing '/' -> its routes.
_Prefixes = dict[str, Entry]


class RouteTable:
    """A compiled, immutable set of routes. Build it with :meth:`compile`."""

    __slots__ = ("_any", "_exact", "_hosts", "_no_host", "_routes", "_wild", "_wild_labels")
    _exact: dict[str, _Prefixes]  # exact host -> its prefixes
    _wild: dict[str, _Prefixes]  # suffix ('example.com' for '*.example.com') -> prefixes
    _wild_labels: int  # fewest labels of a wildcard suffix ('example.com': 2)
    _any: _Prefixes  # routes without host
    _no_host: tuple[_Prefixes, ...]  # the tiers of a request without host: (_any,) or ()
    _hosts: dict[str, tuple[_Prefixes, ...]]  # Host value -> its tiers (_tiers_for)
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
                form, and every pair of routes that tie, both named (up to
                :data:`MAX_TIES_REPORTED` pairs).
        """
        table = object.__new__(cls)
        table._exact, table._wild, table._any = {}, {}, {}
        errors: list[FieldError] = []
        by_name: dict[str, Route] = {}
        checked: dict[tuple[str, str | None], str | None] = {}  # (field, value) -> problem
        for route in routes:
            problem = check_route(route, by_name, checked)
            if problem is None:
                by_name[route.name] = route
            else:
                errors.append(FieldError(f"routes.{route.name}", problem))
        # Sorted by (host, prefix key, name): the routes of one entry form a run,
        # the entries of one host are allocated side by side (fewer cache and TLB
        # misses per match in big tables), and nothing depends on the caller's order.
        laid_out = sorted(
            (route.host or "", base(route.prefix), route.name, route) for route in by_name.values()
        )
        ties_found: list[FieldError] = []
        start = 0
        while start < len(laid_out):
            host, key = laid_out[start][:2]
            end = start + 1
            while end < len(laid_out) and laid_out[end][:2] == (host, key):
                end += 1
            entry = Entry()
            entry.routes = tuple(item[3] for item in laid_out[start:end])
            entry.finish()
            table._prefixes_for(host or None)[key] = entry
            if end - start > 1:
                ties_found.extend(tie_errors(entry, MAX_TIES_REPORTED + 1 - len(ties_found)))
            start = end
        errors.extend(sorted(ties_found, key=str)[:MAX_TIES_REPORTED])
        if len(ties_found) > MAX_TIES_REPORTED:
            errors.append(FieldError("routes", "more ties than listed; fix these first"))
        if errors:
            raise ConfigError(errors)
        table._routes = tuple(sorted(by_name.values(), key=lambda route: route.name))
        table._wild_labels = min((s.count(".") + 1 for s in table._wild), default=0)
        table._no_host = (table._any,) if table._any else ()
        table._hosts = {key: table._tiers_of(key) for key in table._exact}
        return table

    def _prefixes_for(self, host: str | None) -> _Prefixes:
        if host is None:
            return self._any
        wildcard = host.startswith("*.")
        index = self._wild if wildcard else self._exact
        return index.setdefault(host[2:] if wildcard else host, {})

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
        # This is the hot path: one dict lookup gives every tier of prefixes
        # this Host value can match (see _tiers_for), and nothing is allocated
        # but the path slices until a decision needs more than one entry.
        if host:
            tiers = self._hosts.get(host)
            if tiers is None:
                tiers = self._tiers_for(host)
        else:
            tiers = self._no_host
        for prefixes in tiers:
            probe = path
            while (entry := prefixes.get(probe)) is None and probe:
                probe = probe[: probe.rfind("/")]
            if entry is not None:
                route = entry.get(method, entry.default)
                if route is not None:
                    return route
                return self._fallback(entry, method, host_key(host) if host else "", path, headers)
        # _no_route(_NO_ROUTE), written out. A fresh error per miss, never a shared
        # one: raising stores traceback and context (and callers notes) on it.
        raise _new_no_route(NoRouteError, _NO_ROUTE)

    def _tiers_for(self, host: str) -> tuple[_Prefixes, ...]:
        """The prefix dicts a raw, non-empty Host value can match, best tier first.

        Remembered per raw value (as sent: any case, maybe a port) so that the
        next request with it costs one dict lookup, hit or miss. The memo is
        bounded: past the limit it restarts from the normal-form exact hosts,
        so a client sending random hosts costs time, not memory.
        """
        key = host_key(host)
        tiers = self._hosts.get(key)
        if tiers is None:
            tiers = self._tiers_of(key)
        if len(self._hosts) >= max(HOST_MEMO, 2 * len(self._exact)):
            self._hosts = {name: self._hosts[name] for name in self._exact}
        self._hosts[host] = tiers
        return tiers

    def _tiers_of(self, key: str) -> tuple[_Prefixes, ...]:
        """The non-empty prefix dicts a normal-form host can match, best first."""
        exact = self._exact.get(key)
        tiers = [] if exact is None else [exact]
        tiers.extend(self._wild_tiers(key))
        return (*tiers, *self._no_host)

    def _fallback(
        self,
        entry: Entry,
        method: str,
        host: str,
        path: str,
        headers: Sequence[tuple[str, str]],
    ) -> Route:
        """The most specific entry's method index had no answer: look further."""
        if entry.headers:
            fields = header_map(headers)
            for route in entry.routes:
                if accepts(route, method, fields):
                    return route
        decision, _ = self._decide(method, host, path, headers)
        if isinstance(decision, RequestError):
            raise decision
        return decision

    def _wild_tiers(self, host: str) -> Iterator[_Prefixes]:
        # Longest suffix first: the suffix after the first dot, then the next,
        # down to the fewest labels any wildcard has. The label left of the
        # suffix must be non-empty, so '*.example.com' never matches
        # 'example.com' (nor '.example.com').
        labels = host.count(".")  # in the suffix after the first dot
        dot = host.find(".", 1)
        while dot > 0 and labels >= self._wild_labels:
            prefixes = self._wild.get(host[dot + 1 :])
            if prefixes is not None:
                yield prefixes
            dot = host.find(".", dot + 1)
            labels -= 1

    def _candidates(self, host: str, path: str) -> list[Route]:
        """Every route matching host and path, best rank first."""
        tiers: list[_Prefixes] = []
        if host:
            exact = self._exact.get(host)
            if exact is not None:
                tiers.append(exact)
            tiers.extend(self._wild_tiers(host))
        tiers.append(self._any)
        result: list[Route] = []
        for prefixes in tiers:
            probe = path
            while True:
                entry = prefixes.get(probe)
                if entry is not None:
                    result.extend(entry.routes)
                if not probe:
                    break
                probe = probe[: probe.rfind("/")]
        return result

    def _decide(
        self,
        method: str,
        host: str,
        path: str,
        headers: Sequence[tuple[str, str]],
    ) -> tuple[Route | RequestError, list[Route]]:
        """The complete decision: (the winner or the error to raise, the candidates)."""
        candidates = self._candidates(host, path)
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
            return _no_route("no route matches this request's headers"), candidates
        return _no_route(_NO_ROUTE), candidates

    def explain(
        self,
        method: str,
        host: str | None,
        path: str,
        headers: Sequence[tuple[str, str]] = (),
    ) -> Explanation:
        """Say which route wins a request, why every other candidate lost, and
        which path goes upstream; takes the same arguments as :meth:`match`,
        except that ``path`` may also be raw (as typed into ``gw explain``): it is
        normalised first, which changes nothing for a normalised path.

        Returns:
            The explanation; ``winner`` and ``upstream_path`` are ``None`` and
            ``error`` is set when there is no winner: what :meth:`match` raises,
            or the :class:`RequestError` of :func:`normalise_path` for a path
            that cannot be normalised (then there are no candidates).
        """
        key = host_key(host) if host else ""
        try:
            path = normalise_path(path)
        except RequestError as exc:
            return Explanation(
                method=method,
                host=key or None,
                path=path,
                winner=None,
                error=exc,
                candidates=(),
                upstream_path=None,
            )
        decision, candidates = self._decide(method, key, path, headers)
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
        one without methods). Only such routes can take all of its requests: any
        other host, prefix or header constraint leaves some request to it.

        Returns:
            One entry per shadowed route, naming the routes that take its traffic.
        """
        result: list[Shadowed] = []
        for prefixes in (*self._exact.values(), *self._wild.values(), self._any):
            for entry in prefixes.values():
                result.extend(shadowed_in(entry))
        return tuple(sorted(result, key=lambda shadowed: shadowed.route.name))


def _no_route(reason: str) -> NoRouteError:
    """``NoRouteError(reason)``, built without ``GatewayError.__init__`` (a
    Python-level ``super()`` chain of about 0.45 µs); for the common reason, the
    instance attribute is left out too (0.3 µs: it creates the instance dict).
    tests/gwcore/test_routes.py checks that both equal a constructed error."""
    error = _new_no_route(NoRouteError, reason)
    if reason != _NO_ROUTE:
        error.reason = reason
    return error


_NO_ROUTE = NoRouteError.reason
_new_no_route = NoRouteError.__new__

#: The memo of Host values (RouteTable._tiers_for) restarts past this many
#: entries, or twice the number of exact hosts when that is more.
HOST_MEMO = 4096
