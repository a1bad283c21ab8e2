"""The data structure behind :class:`gwcore.routes.RouteTable`: prefix hashes per host.

Theory of operation
-------------------
Every route has a *rank* that depends on the route alone, never on the request::

    (host tier, wildcard suffix length, prefix depth, constrained, priority)

with host tier 2 for an exact host, 1 for ``*.suffix``, 0 for any host; prefix
depth the number of segments of the prefix (``/`` is 0, ``/user`` and ``/user/``
are 1); constrained 1 when the route has a method or header constraint. Among the
routes that accept a request, the highest rank wins. Two routes of equal rank can
only both accept a request if they have the same host pattern, the same prefix
segments, the same constrained flag and the same priority, so they share one
:class:`Entry`: ties are found entry by entry, never by comparing all pairs.

The routes of one host pattern are a dict from the prefix without its trailing
slash (``/user`` for ``/user/``; ``""`` for ``/``) to an :class:`Entry` -- a segment
trie flattened into one hash. A request path is looked up deepest first: the
path itself, then with its last segment cut off (``str.rfind``), down to ``""``.
The first hit holds the most specific prefix, which decides almost every request.
Against a nested trie this touches one hash table per probe instead of one per
segment, and a hit usually needs two or three probes, which is what keeps a
table of 100,000 routes (about 21 MiB, beyond the L2 caches) nearly as fast
as one of ten.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Iterator, Sequence
from itertools import groupby

from gwcore.config import Route
from gwcore.errors import FieldError, RequestError
from gwcore.rewrite import normalise_path

__all__ = [
    "Entry",
    "accepts",
    "base",
    "check_route",
    "header_map",
    "headers_match",
    "host_key",
    "rank",
    "tie_errors",
    "ties",
]

# The rank as a tuple; see the module docstring.
Rank = tuple[int, int, int, int, int]


class Entry(dict[str, Route]):
    """The routes of one host pattern and prefix; as a dict, method -> best route.

    The dict holds, for each method some route here lists, the best route
    accepting it; a method not listed falls to ``default``. Both are left empty
    when a route here has header constraints (``headers`` is true): then every
    route must be checked against the request.

    Attributes:
        routes: The routes, best rank first.
        default: Best route here accepting every method (and any headers), or
            ``None``.
        headers: Whether some route here has header constraints.
    """

    __slots__ = ("default", "headers", "routes")

    def __init__(self) -> None:
        # No dict.__init__ call: the dict starts empty and is filled by finish().
        self.routes: tuple[Route, ...] = ()
        self.default: Route | None = None
        self.headers = False

    def finish(self) -> None:
        """Sort the routes best first and index them by method (once, at compile)."""
        if len(self.routes) > 1:
            self.routes = tuple(sorted(self.routes, key=_entry_order))
        if any(route.headers for route in self.routes):
            self.headers = True
            return
        for route in self.routes:
            if route.methods is None:
                # Constrained routes rank above this one, so every route still
                # to come is worse than it for every method.
                self.default = route
                break
            for method in route.methods:
                self.setdefault(method, route)


def _entry_order(route: Route) -> tuple[int, int, str]:
    # Within one entry only (constrained, priority) differ; the name only orders
    # routes that tie, which compile reports as an error anyway.
    return (-_constrained(route), -route.priority, route.name)


def _constrained(route: Route) -> int:
    return 1 if route.methods is not None or route.headers else 0


def base(prefix: str) -> str:
    """The key of a normal-form prefix: without its trailing ``/`` (``/`` -> ``""``)."""
    return prefix[:-1] if prefix.endswith("/") else prefix


def rank(route: Route) -> Rank:
    """The precedence of a route; the highest accepting one wins."""
    host = route.host
    if host is None:
        tier, suffix = 0, 0
    elif host.startswith("*."):
        tier, suffix = 1, len(host) - 2
    else:
        tier, suffix = 2, 0
    return (tier, suffix, base(route.prefix).count("/"), _constrained(route), route.priority)


def host_key(host: str) -> str:
    """The form of a ``Host`` header value that routes are indexed by.

    Lower case, port removed, one trailing dot removed; an IPv6 literal keeps
    its brackets (``[::1]:8080`` -> ``[::1]``). Garbage stays garbage and simply
    matches no host-specific route.
    """
    host = host.lower()
    if host.startswith("["):
        end = host.find("]")
        return host[: end + 1] if end > 0 else host
    host = host.partition(":")[0]
    return host[:-1] if host.endswith(".") else host


def header_map(headers: Sequence[tuple[str, str]]) -> dict[str, str]:
    """Request headers by lower-cased name; repeated fields joined with ``", "``.

    RFC 9110 5.3 lets a recipient combine repeated field lines into one value, so
    a constraint ``x-canary: 1`` matches one ``x-canary: 1`` line but not two
    lines ``1`` and ``2`` (``"1, 2"``); Envoy's exact header match behaves alike.
    """
    result: dict[str, str] = {}
    for name, value in headers:
        key = name.lower()
        previous = result.get(key)
        result[key] = value if previous is None else f"{previous}, {value}"
    return result


def accepts(route: Route, method: str, headers: dict[str, str]) -> bool:
    """Whether ``route`` takes the method and every header constraint holds."""
    methods = route.methods
    if methods is not None and method not in methods:
        return False
    return headers_match(route, headers)


def headers_match(route: Route, headers: dict[str, str]) -> bool:
    """Whether every header constraint of ``route`` holds (exact value match)."""
    return all(headers.get(name) == value for name, value in route.headers)


def _compatible(a: Route, b: Route) -> bool:
    """Whether some request is accepted by both (methods meet, headers agree)."""
    if a.methods is not None and b.methods is not None and a.methods.isdisjoint(b.methods):
        return False
    wanted = dict(a.headers)
    return all(wanted.get(name, value) == value for name, value in b.headers)


def ties(routes: Sequence[Route]) -> Iterator[tuple[Route, Route]]:
    """Yield every pair of routes of one entry and rank that accept a common request.

    Header constraints partition the routes before anything is compared: routes
    asking different values of the same header can never tie, so 100,000 routes
    told apart by ``x-tenant`` cost one pass, not 5·10⁹ comparisons. Pairs come in
    an order that depends only on the route names.
    """
    yield from _ties(sorted(routes, key=lambda route: route.name), frozenset())


def _ties(routes: list[Route], decided: frozenset[str]) -> Iterator[tuple[Route, Route]]:
    if len(routes) < 2:
        return
    counts = Counter(name for r in routes for name, _ in r.headers if name not in decided)
    if not counts:
        yield from _method_ties(routes)
        return
    # Split on the most used header name: routes asking different values of it
    # are disjoint; routes not asking for it may meet any of them.
    pivot = min(counts, key=lambda name: (-counts[name], name))
    buckets: dict[str, list[Route]] = {}
    free: list[Route] = []
    for route in routes:
        value = dict(route.headers).get(pivot)
        if value is None:
            free.append(route)
        else:
            buckets.setdefault(value, []).append(route)
    decided |= {pivot}
    yield from _ties(free, decided)
    for bucket in buckets.values():
        yield from _ties(bucket, decided)
        for a in bucket:
            for b in free:
                if _compatible(a, b):
                    yield (a, b) if a.name < b.name else (b, a)


def _method_ties(routes: list[Route]) -> Iterator[tuple[Route, Route]]:
    """Pairs among routes whose headers all agree: those whose methods meet."""
    any_method = [route for route in routes if route.methods is None]
    by_method: dict[str, list[Route]] = {}
    for route in routes:
        for method in sorted(route.methods or ()):
            by_method.setdefault(method, []).append(route)
    seen: set[tuple[str, str]] = set()
    for group in (any_method, *by_method.values()):
        for i, a in enumerate(group):
            for b in (*group[i + 1 :], *([] if group is any_method else any_method)):
                pair = (a, b) if a.name < b.name else (b, a)
                key = (pair[0].name, pair[1].name)
                if key not in seen:
                    seen.add(key)
                    yield pair


def check_route(
    route: Route, seen: dict[str, Route], checked: dict[tuple[str, str | None], str | None]
) -> str | None:
    """What is wrong with a route on its own, or ``None``; ``checked`` caches
    the verdict on each prefix and host (most are shared by many routes)."""
    if route.name in seen:
        return "two routes have this name"
    for key in (("prefix", route.prefix), ("host", route.host)):
        if key not in checked:
            checked[key] = _problem(*key)
        problem = checked[key]
        if problem is not None:
            return problem
    return None


def _problem(field: str, value: str | None) -> str | None:
    if value is None:  # no host: any host
        return None
    if field == "host":
        if value and host_key(value) == value and "*" not in value.removeprefix("*."):
            return None
        return f"host {value!r} is not in normal form"
    try:
        normal = normalise_path(value)
    except RequestError as exc:
        return f"prefix {value!r}: {exc.reason}"
    if normal != value:
        return f"prefix {value!r} is not in normal form (would be {normal!r})"
    return None


def tie_errors(entry: Entry, limit: int) -> Iterator[FieldError]:
    """One error per pair of tying routes of ``entry``, at most ``limit``."""
    # Only routes of equal (constrained, priority) can tie; entry.routes is
    # sorted by exactly that, so each group is a run.
    for _, run in groupby(entry.routes, key=_constraint_and_priority):
        group = list(run)
        pairs: Iterable[tuple[Route, Route]]
        if len(group) == 2:  # the common case, without the general search
            pairs = [(group[0], group[1])] if _compatible(group[0], group[1]) else []
        else:
            pairs = ties(group)  # lazily: a systematic mistake has millions
        for first, second in pairs:
            a, b = (first, second) if first.name < second.name else (second, first)
            if limit <= 0:
                return
            limit -= 1
            yield FieldError(f"routes.{a.name}", _tie_message(a, b))


def _constraint_and_priority(route: Route) -> tuple[bool, int]:
    return (route.methods is not None or bool(route.headers), route.priority)


def _tie_message(a: Route, b: Route) -> str:
    common = sorted(a.methods & b.methods) if a.methods and b.methods else []
    method = common[0] if common else sorted(a.methods or b.methods or {"GET"})[0]
    fields = ", ".join(f"{name}: {value}" for name, value in sorted({*a.headers, *b.headers}))
    return (
        f"ties with routes.{b.name}: both take {method} {a.host or ''}{a.prefix}"
        f"{' with ' + fields if fields else ''} at the same rank (priority {a.priority});"
        " give one a higher priority or make their methods or headers disjoint"
    )
