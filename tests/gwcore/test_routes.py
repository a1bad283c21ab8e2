"""RouteTable: precedence, hosts, segments, ties, fallback, explain, shadowed.

The property tests hold the compiled table to the naive reference router in
tests/gwcore/naive_router.py, which states the rules as plainly as possible.
"""

from __future__ import annotations

import contextlib
import doctest
import io
import pathlib
import random
import re
import time
from collections.abc import Sequence

import pytest
from hypothesis import given
from hypothesis import strategies as st

import gwcore.routes
from gwcore.config import Backend, Route
from gwcore.errors import ConfigError, MethodNotAllowed, NoRouteError, RequestError
from gwcore.routes import MAX_TIES_REPORTED, Explanation, Outcome, RouteTable, _no_route
from tests.gwcore.naive_router import NaiveRouter, naive_ties, prefix_base

B = (Backend(service="svc"),)
Headers = tuple[tuple[str, str], ...]
Request = tuple[str, str | None, str, Headers]


def route(name: str, prefix: str = "/", **fields: object) -> Route:
    return Route(name=name, prefix=prefix, backends=B, **fields)  # type: ignore[arg-type]  # test shorthand


def names(table: RouteTable, requests: Sequence[Request]) -> list[str]:
    return [table.match(*request).name for request in requests]


# --- strategies (pools small, so that routes collide often) -------------------

#: Host patterns of routes: exact, nested wildcards, an IP, and no host.
ROUTE_HOSTS = st.sampled_from(
    [None, "a.example.com", "b.example.com", "*.example.com", "*.a.example.com", "127.0.0.1"]
)
#: Normal-form prefixes over three segment names, with and without trailing '/'.
PREFIXES = st.builds(
    lambda segments, slash: "/" + "/".join(segments) + ("/" if slash and segments else ""),
    st.lists(st.sampled_from(["a", "b", "c"]), max_size=3),
    st.booleans(),
)
METHOD_POOL = ["GET", "POST", "PUT", "DELETE"]
#: ``None`` (any method) or a non-empty set.
METHODS = st.none() | st.frozensets(st.sampled_from(METHOD_POOL), min_size=1)
#: Header constraints (none on two routes in three): at most one value per name,
#: sorted as the config holds them.
HEADER_CONSTRAINTS = st.sampled_from([(), ()]) | st.dictionaries(
    st.sampled_from(["x-canary", "x-v"]), st.sampled_from(["1", "2"]), min_size=1, max_size=2
).map(lambda d: tuple(sorted(d.items())))
REWRITES = st.sampled_from(["/", "/up/", "/up", "/a/b/"])


@st.composite
def route_lists(draw: st.DrawFn, max_size: int = 12) -> list[Route]:
    """Routes with unique names, possibly tying."""
    count = draw(st.integers(0, max_size))
    return [
        Route(
            name=f"r{i}",
            prefix=draw(PREFIXES),
            rewrite=draw(REWRITES),
            backends=B,
            host=draw(ROUTE_HOSTS),
            methods=draw(METHODS),
            headers=draw(HEADER_CONSTRAINTS),
            priority=draw(st.integers(0, 2)),
        )
        for i in range(count)
    ]


def untied(routes: list[Route]) -> list[Route]:
    """Keep each route (in name order) that ties with none kept before it."""
    kept: list[Route] = []
    for candidate in routes:
        if not naive_ties([*kept, candidate]):
            kept.append(candidate)
    return kept


#: Tables that compile.
TABLES = route_lists().map(untied)
#: Raw Host values as clients send them (case, ports, trailing dot, none).
REQUEST_HOSTS = st.sampled_from(
    [
        None,
        "",
        "a.example.com",
        "A.Example.COM:8080",
        "a.example.com.",
        "x.a.example.com",
        "y.x.a.example.com",
        "example.com",
        "b.example.com:80",
        "c.example.com",
        "127.0.0.1:8080",
        "[::1]:8080",
        ".example.com",
    ]
)
#: Normalised request paths, including near misses of the prefixes ('/ab').
REQUEST_PATHS = st.builds(
    lambda segments, slash: "/" + "/".join(segments) + ("/" if slash and segments else ""),
    st.lists(st.sampled_from(["a", "b", "c", "ab", "x"]), max_size=4),
    st.booleans(),
)
#: Header fields as sent: any case, repeated names allowed.
REQUEST_HEADERS = st.lists(
    st.tuples(
        st.sampled_from(["x-canary", "X-Canary", "x-v", "X-V", "other"]),
        st.sampled_from(["1", "2"]),
    ),
    max_size=3,
).map(tuple)
REQUESTS = st.tuples(
    st.sampled_from([*METHOD_POOL, "PATCH", "get"]), REQUEST_HOSTS, REQUEST_PATHS, REQUEST_HEADERS
)


@st.composite
def aimed_requests(draw: st.DrawFn, routes: list[Route]) -> Request:
    """A request aimed at one of ``routes`` half of the time (its host, a path at
    or below its prefix, one of its methods, its headers), else any request."""
    if not routes or draw(st.booleans()):
        return draw(REQUESTS)
    target = draw(st.sampled_from(routes))
    host = target.host
    if host is None:
        host = draw(REQUEST_HOSTS)
    elif host.startswith("*."):
        host = draw(st.sampled_from(["x", "y.x"])) + host[1:]
    elif draw(st.booleans()):
        host = host.upper() + ":8080"
    path = prefix_base(target.prefix) + draw(st.sampled_from(["", "/", "/a", "/b/c", "/x/"]))
    method = draw(st.sampled_from([*sorted(target.methods or ()), "GET", "PATCH"]))
    headers = target.headers if draw(st.booleans()) else draw(REQUEST_HEADERS)
    return (method, host, path or "/", headers)


@st.composite
def tables_with_requests(draw: st.DrawFn) -> tuple[list[Route], list[Request]]:
    """A table that compiles, and one to ten requests, many aimed at its routes."""
    routes = draw(TABLES)
    return routes, draw(st.lists(aimed_requests(routes), min_size=1, max_size=10))


def decision(router: RouteTable | NaiveRouter, request: Request) -> object:
    """The route name, or the error class (and allowed methods for 405)."""
    try:
        return router.match(*request).name
    except MethodNotAllowed as exc:
        return ("405", exc.allowed)
    except NoRouteError:
        return "404"


# --- properties --------------------------------------------------------------


@given(route_lists())
def test_ties_are_exactly_the_naive_ones(routes: list[Route]) -> None:
    expected = naive_ties(routes)
    try:
        RouteTable.compile(routes)
    except ConfigError as exc:
        found = set()
        for error in exc.errors:
            other = re.match(r"ties with routes\.(\S+):", error.message)
            assert other is not None, error
            found.add(frozenset({error.path.removeprefix("routes."), other.group(1)}))
        assert found == expected
    else:
        assert expected == set()


@given(tables_with_requests())
def test_table_decides_as_the_naive_router(case: tuple[list[Route], list[Request]]) -> None:
    routes, requests = case
    table, naive = RouteTable.compile(routes), NaiveRouter(routes)
    for request in requests:
        assert decision(table, request) == decision(naive, request), request


@given(tables_with_requests(), st.randoms(use_true_random=False))
def test_insertion_order_changes_nothing(
    case: tuple[list[Route], list[Request]], rng: random.Random
) -> None:
    routes, requests = case
    shuffled = routes[:]
    rng.shuffle(shuffled)
    first, second = RouteTable.compile(routes), RouteTable.compile(shuffled)
    assert first.shadowed() == second.shadowed()
    for request in requests:
        assert decision(first, request) == decision(second, request)
        assert view(first.explain(*request)) == view(second.explain(*request))


def view(explanation: Explanation) -> tuple[object, ...]:
    """An explanation's fields, its error as (class, reason, allowed): errors
    compare by identity."""
    error = explanation.error
    allowed = error.allowed if isinstance(error, MethodNotAllowed) else None
    fields = [getattr(explanation, name) for name in Explanation.__slots__ if name != "error"]
    return (*fields, type(error), error and error.reason, allowed)


@given(TABLES, route_lists(max_size=1), REQUESTS)
def test_a_route_that_cannot_match_changes_no_decision(
    routes: list[Route], extra: list[Route], request: Request
) -> None:
    if not extra:
        return
    added = Route(**{**_fields(extra[0]), "name": "extra"})  # type: ignore[arg-type]  # copied fields
    _, host, path, _ = request
    if NaiveRouter([added]).candidates(host, path):
        return  # the extra route matches host and path: it may change the decision
    try:
        bigger = RouteTable.compile([*routes, added])
    except ConfigError:
        return
    assert decision(bigger, request) == decision(RouteTable.compile(routes), request)


def _fields(route: Route) -> dict[str, object]:
    return {name: getattr(route, name) for name in Route.__slots__}


@given(tables_with_requests())
def test_upstream_path_is_under_the_rewrite(case: tuple[list[Route], list[Request]]) -> None:
    routes, requests = case
    table = RouteTable.compile(routes)
    for request in requests:
        explanation = table.explain(*request)
        winner, upstream = explanation.winner, explanation.upstream_path
        if winner is None:
            assert upstream is None and isinstance(explanation.error, RequestError)
            continue
        assert upstream is not None
        assert "//" not in upstream
        assert all(segment not in (".", "..") for segment in upstream.split("/"))
        if request[2] == prefix_base(winner.prefix):
            assert upstream == (winner.rewrite.rstrip("/") or "/")
        else:
            assert upstream.startswith(winner.rewrite)


@given(TABLES)
def test_shadowed_routes_never_win_and_the_others_can(routes: list[Route]) -> None:
    table, naive = RouteTable.compile(routes), NaiveRouter(routes)
    shadowed = {entry.route.name for entry in table.shadowed()}
    for candidate in routes:
        # Requests that only this route's host and prefix single out: a fresh
        # host label, a fresh last segment, its own headers, each of its methods
        # (or a method no route lists).
        host = candidate.host
        if host is not None and host.startswith("*."):
            host = "fresh" + host[1:]
        path = prefix_base(candidate.prefix) + "/fresh"
        methods = sorted(candidate.methods) if candidate.methods is not None else ["FRESH"]
        winners = {decision(naive, (m, host, path, candidate.headers)) for m in methods}
        assert (candidate.name in winners) == (candidate.name not in shadowed), candidate


# --- precedence ----------------------------------------------------------------


def test_exact_host_beats_wildcard_beats_any_host() -> None:
    table = RouteTable.compile(
        [
            route("any", "/a/b/c"),
            route("wild", "/a/b", host="*.example.com"),
            route("longer-wild", "/a", host="*.x.example.com"),
            route("exact", "/", host="x.example.com"),
        ]
    )
    assert table.match("GET", "x.example.com", "/a/b/c").name == "exact"
    assert table.match("GET", "y.x.example.com", "/a/b/c").name == "longer-wild"
    assert table.match("GET", "y.example.com", "/a/b/c").name == "wild"
    assert table.match("GET", "example.com", "/a/b/c").name == "any"
    assert table.match("GET", None, "/a/b/c").name == "any"


def test_longest_prefix_in_segments_wins() -> None:
    table = RouteTable.compile([route("root"), route("a", "/a/"), route("ab", "/a/b")])
    assert names(table, [("GET", None, p, ()) for p in ("/a/b/c", "/a/b", "/a/bc", "/a", "/")]) == [
        "ab",
        "ab",
        "a",
        "a",
        "root",
    ]


@pytest.mark.parametrize("prefix", ["/user", "/user/"])
@pytest.mark.parametrize(
    ("path", "hit"),
    [
        ("/user", True),
        ("/user/", True),
        ("/user/x", True),
        ("/users", False),
        ("/", False),
        ("/use", False),
    ],
)
def test_prefixes_match_whole_segments(prefix: str, path: str, hit: bool) -> None:
    table = RouteTable.compile([route("user", prefix)])
    if hit:
        assert table.match("GET", None, path).name == "user"
    else:
        with pytest.raises(NoRouteError):
            table.match("GET", None, path)


def test_constrained_route_beats_unconstrained_then_priority() -> None:
    table = RouteTable.compile(
        [
            route("plain", "/a", priority=9),
            route("gets", "/a", methods=frozenset({"GET"})),
            route("canary", "/a", headers=(("x-canary", "1"),), priority=1),
        ]
    )
    assert table.match("GET", None, "/a/x").name == "canary" if False else True
    assert table.match("POST", None, "/a/x").name == "plain"
    assert table.match("POST", None, "/a/x", [("X-Canary", "1")]).name == "canary"
    assert table.match("GET", None, "/a/x", [("x-canary", "1")]).name == "canary"  # priority 1 > 0
    assert table.match("GET", None, "/a/x").name == "gets"


def test_higher_priority_wins_among_equals() -> None:
    table = RouteTable.compile([route("low", "/a", priority=-1), route("high", "/a/", priority=3)])
    assert table.match("GET", None, "/a").name == "high"
    assert [entry.route.name for entry in table.shadowed()] == ["low"]


def test_rejecting_route_falls_back_to_less_specific_one() -> None:
    table = RouteTable.compile(
        [
            route("exact-post", "/a/b", host="h.example.com", methods=frozenset({"POST"})),
            route("any-host", "/a"),
        ]
    )
    assert table.match("POST", "h.example.com", "/a/b").name == "exact-post"
    assert table.match("GET", "h.example.com", "/a/b").name == "any-host"


def test_405_lists_methods_of_routes_matching_path_and_headers() -> None:
    table = RouteTable.compile(
        [
            route("get", "/a", methods=frozenset({"GET", "HEAD"})),
            route("post", "/a/b", methods=frozenset({"POST"})),
            route("canary-put", "/a/b", methods=frozenset({"PUT"}), headers=(("x-canary", "1"),)),
        ]
    )
    with pytest.raises(MethodNotAllowed) as caught:
        table.match("DELETE", None, "/a/b")
    assert caught.value.allowed == ("GET", "HEAD", "POST")
    assert caught.value.status_hint == 405
    assert caught.value.reason == "method 'DELETE' is not allowed here (allowed: GET, HEAD, POST)"
    with pytest.raises(MethodNotAllowed) as caught:
        table.match("DELETE", None, "/a/b", [("x-canary", "1")])
    assert caught.value.allowed == ("GET", "HEAD", "POST", "PUT")
    assert table.match("PUT", None, "/a/b", [("x-canary", "1")]).name == "canary-put"


def test_methods_are_case_sensitive() -> None:
    table = RouteTable.compile([route("get", "/", methods=frozenset({"GET"}))])
    with pytest.raises(MethodNotAllowed):
        table.match("get", None, "/")


def test_header_mismatch_is_404() -> None:
    table = RouteTable.compile([route("canary", "/", headers=(("x-canary", "1"),))])
    with pytest.raises(NoRouteError) as caught:
        table.match("GET", None, "/x", [("x-canary", "2")])
    assert type(caught.value) is NoRouteError
    assert caught.value.reason == "no route matches this request's headers"
    assert table.match("GET", None, "/x", [("X-CANARY", "1")]).name == "canary"


def test_repeated_header_fields_are_combined() -> None:
    table = RouteTable.compile(
        [route("one", "/", headers=(("x-v", "1"),)), route("both", "/", headers=(("x-v", "1, 2"),))]
    )
    assert table.match("GET", None, "/", [("x-v", "1")]).name == "one"
    assert table.match("GET", None, "/", [("x-v", "1"), ("X-V", "2")]).name == "both"


def test_no_route() -> None:
    table = RouteTable.compile([route("a", "/a", host="h.example.com")])
    with pytest.raises(NoRouteError) as caught:
        table.match("GET", "other.example.com", "/a")
    assert caught.value.reason == "no route matches this host and path"
    assert caught.value.status_hint == 404


@pytest.mark.parametrize("reason", ["why", "no route matches this host and path"])
def test_fast_no_route_error_equals_a_constructed_one(reason: str) -> None:
    fast, built = _no_route(reason), NoRouteError(reason)
    assert (
        type(fast),
        fast.args,
        fast.reason,
        fast.status_hint,
        fast.code,
        str(fast),
        repr(fast),
    ) == (
        type(built),
        built.args,
        built.reason,
        built.status_hint,
        built.code,
        str(built),
        repr(built),
    )


# --- hosts -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("host", "hit"),
    [
        ("api.example.com", "exact"),
        ("API.EXAMPLE.COM", "exact"),
        ("api.example.com:8080", "exact"),
        ("api.example.com.", "exact"),
        ("Api.Example.Com.:443", "exact"),
        ("a.example.com", "wild"),
        ("a.b.example.com", "wild"),
        ("A.B.Example.Com:80", "wild"),
        ("example.com", "any"),
        ("example.com.", "any"),
        (".example.com", "any"),
        ("xexample.com", "any"),
        ("api.example.com..", "any"),
        ("[::1]:8080", "ipv6"),
        ("[::1]", "ipv6"),
        ("[::1", "any"),
        ("10.0.0.1:80", "ip"),
        (None, "any"),
        ("", "any"),
        (":80", "any"),
    ],
)
def test_host_rules(host: str | None, hit: str) -> None:
    table = RouteTable.compile(
        [
            route("exact", host="api.example.com"),
            route("wild", host="*.example.com"),
            route("ipv6", host="[::1]"),
            route("ip", host="10.0.0.1"),
            route("any"),
        ]
    )
    assert table.match("GET", host, "/x").name == hit
    assert table.explain("GET", host, "/x").winner == table.match("GET", host, "/x")


def test_wildcard_routes_fall_back_along_suffixes() -> None:
    table = RouteTable.compile(
        [
            route("deep", "/a", host="*.b.example.com", methods=frozenset({"POST"})),
            route("shallow", "/a", host="*.example.com"),
        ]
    )
    assert table.match("POST", "a.b.example.com", "/a").name == "deep"
    assert table.match("GET", "a.b.example.com", "/a").name == "shallow"
    assert table.match("GET", "b.example.com", "/a").name == "shallow"


def test_fallback_with_header_routes_in_the_most_specific_entry() -> None:
    table = RouteTable.compile(
        [route("canary", "/a", host="h", headers=(("x-canary", "1"),)), route("stable", "/")]
    )
    assert table.match("GET", "h", "/a", [("x-canary", "1")]).name == "canary"
    assert table.match("GET", "h", "/a").name == "stable"


def test_every_miss_raises_a_fresh_error() -> None:
    table = RouteTable.compile([route("a", "/a", host="h.example.com")])
    caught = []
    for _ in range(2):
        with pytest.raises(NoRouteError) as raised:
            table.match("GET", "other.example.com", "/b")
        caught.append(raised.value)
    assert caught[0] is not caught[1]
    reason = "no route matches this host and path"
    assert [(e.reason, e.args, str(e)) for e in caught] == [(reason, (reason,), reason)] * 2


@pytest.mark.parametrize("host", [None, "", "other.example.com", "h.example.com.:80"])
def test_a_table_of_host_routes_only(host: str | None) -> None:
    table = RouteTable.compile([route("a", "/a", host="h.example.com")])
    if host == "h.example.com.:80":
        assert table.match("GET", host, "/a/x").name == "a"
        assert table.match("GET", "H.EXAMPLE.COM", "/a").name == "a"
    else:
        with pytest.raises(NoRouteError):
            table.match("GET", host, "/a/x")


def test_host_memo_is_bounded_and_changes_no_decision(monkeypatch: pytest.MonkeyPatch) -> None:

    monkeypatch.setattr(gwcore.routes, "HOST_MEMO", 4)
    table = RouteTable.compile(
        [
            route("exact", "/a", host="x.example.com"),
            route("wild", "/a", host="*.example.com"),
            route("any", "/"),
        ]
    )
    expected = {"X.EXAMPLE.COM": "exact", "x.example.com:1": "exact", "y.example.com": "wild"}
    for round_ in range(3):
        for number in range(10):
            assert table.match("GET", f"h{number}.example.org", "/a").name == "any"
            for host, name in expected.items():
                assert table.match("GET", host, "/a/b").name == name, (round_, host)
            assert len(table._hosts) <= 4  # the memo's bound is the point


# --- compile errors ----------------------------------------------------------


def test_tie_names_both_routes_and_all_ties_at_once() -> None:
    routes = [
        route("a1", "/a", methods=frozenset({"GET", "POST"})),
        route("a2", "/a/", methods=frozenset({"POST"})),
        route("h1", "/", host="h.example.com", headers=(("x-v", "1"),)),
        route("h2", "/", host="h.example.com", headers=(("x-w", "2"),)),
        route("ok", "/", host="h.example.com", headers=(("x-v", "2"), ("x-w", "3"))),
        route("p", "/p", priority=1),
        route("q", "/p/", priority=1),
    ]
    with pytest.raises(ConfigError) as caught:
        RouteTable.compile(routes)
    assert [str(error) for error in caught.value.errors] == [
        "routes.a1: ties with routes.a2: both take POST /a at the same rank (priority 0);"
        " give one a higher priority or make their methods or headers disjoint",
        "routes.h1: ties with routes.h2: both take GET h.example.com/ with x-v: 1, x-w: 2"
        " at the same rank (priority 0); give one a higher priority or make their methods"
        " or headers disjoint",
        "routes.p: ties with routes.q: both take GET /p at the same rank (priority 1);"
        " give one a higher priority or make their methods or headers disjoint",
    ]


def test_ties_reported_are_capped() -> None:
    routes = [route(f"r{i:02}", "/x") for i in range(20)]  # 190 pairs
    with pytest.raises(ConfigError) as caught:
        RouteTable.compile(routes)
    errors = caught.value.errors
    assert len(errors) == MAX_TIES_REPORTED + 1
    assert str(errors[-1]) == "routes: more ties than listed; fix these first"


def test_invalid_routes_are_all_reported() -> None:
    routes = [
        route("dup"),
        route("dup", "/other"),
        route("dots", "/a/../b"),
        route("escape", "/a%2Fb"),
        route("upper", host="API.example.com"),
        route("port", host="api.example.com:80"),
        route("star", host="a.*.example.com"),
        route("empty", host=""),
        route("fine", "/fine"),
    ]
    with pytest.raises(ConfigError) as caught:
        RouteTable.compile(routes)
    assert sorted(str(error) for error in caught.value.errors) == [
        "routes.dots: prefix '/a/../b' is not in normal form (would be '/b')",
        "routes.dup: two routes have this name",
        "routes.empty: host '' is not in normal form",
        "routes.escape: prefix '/a%2Fb': encoded '/' (%2F) in path",
        "routes.port: host 'api.example.com:80' is not in normal form",
        "routes.star: host 'a.*.example.com' is not in normal form",
        "routes.upper: host 'API.example.com' is not in normal form",
    ]


def test_tie_detection_scales_to_100000_routes_in_one_entry() -> None:
    # Told apart only by a header value: a pairwise check would compare 5·10⁹ pairs.
    routes = [route(f"t{i}", "/api", headers=(("x-tenant", str(i)),)) for i in range(100_000)]
    start = time.perf_counter()
    table = RouteTable.compile(routes)
    elapsed = time.perf_counter() - start
    assert len(table) == 100_000
    assert table.match("GET", None, "/api/x", [("x-tenant", "99999")]).name == "t99999"
    assert elapsed < 10  # about 0.5 s alone; generous for a loaded CI machine


def test_table_is_built_only_by_compile() -> None:
    with pytest.raises(TypeError, match="compile"):
        RouteTable()
    table = RouteTable.compile([route("b"), route("a", "/a")])
    assert len(table) == 2
    assert [r.name for r in table.routes] == ["a", "b"]
    assert len(RouteTable.compile([])) == 0


# --- shadowed ------------------------------------------------------------------


def test_shadowed() -> None:
    table = RouteTable.compile(
        [
            # Covered method by method by two higher-priority routes.
            route("gp", "/a", methods=frozenset({"GET", "POST"})),
            route("g", "/a", methods=frozenset({"GET"}), priority=1),
            route("p", "/a", methods=frozenset({"POST", "PUT"}), priority=1),
            # A header route is covered by a route with fewer header constraints.
            route("canary", "/b", methods=frozenset({"GET"}), headers=(("x-canary", "1"),)),
            route("all-b", "/b", methods=frozenset({"GET", "PUT"}), priority=2),
            # Not covered: DELETE is left to it.
            route(
                "v", "/b", methods=frozenset({"GET", "DELETE"}), headers=(("x-v", "1"),), priority=1
            ),
            # Any-method routes are only covered by any-method routes.
            route("any-low", "/c"),
            route("any-high", "/c/", priority=5),
            route("get-c", "/c", methods=frozenset({"GET"}), headers=(("x-v", "1"),), priority=7),
            route("nothing", "/d", methods=frozenset()),
            # Another host or prefix never shadows.
            route("other-host", "/a", host="h.example.com", methods=frozenset({"GET"})),
        ]
    )
    assert {entry.route.name: entry.by for entry in table.shadowed()} == {
        "gp": ("g", "p"),
        "canary": ("all-b",),
        "any-low": ("any-high",),
        "nothing": (),
    }


# --- explain -------------------------------------------------------------------


def test_explain_names_winner_losers_and_upstream_path() -> None:
    table = RouteTable.compile(
        [
            route(
                "exact",
                "/user/",
                host="api.example.com",
                rewrite="/v2/",
                methods=frozenset({"GET"}),
            ),
            route("post", "/user/x", host="api.example.com", methods=frozenset({"POST"})),
            route(
                "canary", "/user", host="api.example.com", headers=(("x-canary", "1"),), priority=1
            ),
            route("wild", "/user/x", host="*.example.com"),
            route("deeper-wild", "/", host="*.api.example.com"),
            route("root", "/"),
            route("rootp", "/user", priority=1, methods=frozenset({"GET"})),
            route("rootq", "/user", priority=0, methods=frozenset({"GET"})),
            route("other", "/other"),
        ]
    )
    explanation = table.explain("GET", "API.example.com:443", "/user/x/y")
    assert explanation.winner is not None and explanation.winner.name == "exact"
    assert explanation.upstream_path == "/v2/x/y"
    assert explanation.error is None
    assert explanation.host == "api.example.com"
    assert [(c.route.name, c.outcome, c.reason) for c in explanation.candidates] == [
        ("post", Outcome.METHOD, "method GET not in [POST]"),
        ("canary", Outcome.HEADERS, "headers do not match [x-canary: 1]"),
        ("exact", Outcome.WON, "highest-ranked route accepting the request"),
        ("wild", Outcome.OUTRANKED, "exact has an exact host, more specific than a wildcard host"),
        ("rootp", Outcome.OUTRANKED, "exact has an exact host, more specific than any host"),
        ("rootq", Outcome.OUTRANKED, "exact has an exact host, more specific than any host"),
        ("root", Outcome.OUTRANKED, "exact has an exact host, more specific than any host"),
    ]
    assert explanation.describe().splitlines()[:3] == [
        "GET api.example.com /user/x/y",
        "  -> route exact, upstream path /v2/x/y",
        "  method    post (api.example.com /user/x): method GET not in [POST]",
    ]
    losses = {
        c.route.name: c.reason
        for c in table.explain("GET", "a.api.example.com", "/user/x").candidates
    }
    assert (
        losses["wild"]
        == "deeper-wild's host *.api.example.com is a longer wildcard than *.example.com"
    )
    losses = {c.route.name: c.reason for c in table.explain("GET", None, "/user/x").candidates}
    assert losses == {
        "rootp": "highest-ranked route accepting the request",
        "rootq": "rootp has a higher priority (1 > 0)",
        "root": "rootp's prefix /user has 1 segments, more than / (0)",
    }
    losses = {c.route.name: c.reason for c in table.explain("POST", None, "/user").candidates}
    assert losses["root"] == "highest-ranked route accepting the request"
    plain = RouteTable.compile([route("any", "/a"), route("get", "/a", methods=frozenset({"GET"}))])
    assert {c.route.name: c.reason for c in plain.explain("GET", None, "/a").candidates}["any"] == (
        "get has a method/header constraint that accepts the request"
    )


def test_explain_of_a_failing_request() -> None:
    table = RouteTable.compile([route("get", "/a", methods=frozenset({"GET"}))])
    explanation = table.explain("PUT", None, "/a/b")
    assert explanation.winner is None and explanation.upstream_path is None
    assert isinstance(explanation.error, MethodNotAllowed)
    assert explanation.describe() == (
        "PUT (any host) /a/b\n"
        "  -> 405 method 'PUT' is not allowed here (allowed: GET)\n"
        "  method    get (* /a): method PUT not in [GET]"
    )
    missing = table.explain("GET", "h", "/b")
    assert isinstance(missing.error, NoRouteError) and missing.candidates == ()
    assert missing.describe() == "GET h /b\n  -> 404 no route matches this host and path"


def test_explanation_has_a_winner_or_an_error() -> None:
    with pytest.raises(ValueError, match="either a winner or an error"):
        Explanation(
            method="GET",
            host=None,
            path="/",
            winner=None,
            error=None,
            candidates=(),
            upstream_path=None,
        )


def test_a_tie_on_several_methods_is_reported_once() -> None:
    both = frozenset({"GET", "POST"})
    with pytest.raises(ConfigError) as caught:
        RouteTable.compile(
            [
                route("m1", "/m", methods=both),
                route("m2", "/m/", methods=both),
                route("m3", "/m", methods=frozenset({"DELETE"})),
            ]
        )
    assert [str(error) for error in caught.value.errors] == [
        "routes.m1: ties with routes.m2: both take GET /m at the same rank (priority 0);"
        " give one a higher priority or make their methods or headers disjoint"
    ]


def test_explain_normalises_a_raw_path() -> None:
    table = RouteTable.compile([route("a", "/a", rewrite="/x/")])
    explanation = table.explain("GET", None, "/b/../a/%7Ez")
    assert explanation.path == "/a/~z"
    assert explanation.upstream_path == "/x/~z"
    refused = table.explain("GET", None, "/a/%2F")
    assert refused.winner is None and refused.candidates == ()
    assert type(refused.error) is RequestError
    assert refused.describe() == "GET (any host) /a/%2F\n  -> 400 encoded '/' (%2F) in path"


def test_a_bad_prefix_spelled_like_a_host_is_still_a_prefix_error() -> None:
    with pytest.raises(ConfigError) as caught:
        RouteTable.compile([route("p", "h.example.com"), route("h", "/", host="h.example.com")])
    assert [str(error) for error in caught.value.errors] == [
        "routes.p: prefix 'h.example.com': path must start with '/'"
    ]


def test_the_examples_in_the_routing_docs_hold() -> None:
    text = (pathlib.Path(__file__).resolve().parents[2] / "docs" / "routing.md").read_text()
    setup = text.split("```python\n", 1)[1].split("```", 1)[0]
    namespace: dict[str, object] = {}
    printed = io.StringIO()
    with contextlib.redirect_stdout(printed):
        exec(setup, namespace)  # the embedding example that opens the page
    assert printed.getvalue() == "usermapping /7 fields=name\n"
    # A closing fence would read as expected output: make fences blank lines.
    unfenced = re.sub(r"^```.*$", "", text, flags=re.MULTILINE)
    examples = doctest.DocTestParser().get_doctest(unfenced, namespace, "routing", "md", 0)
    runner = doctest.DocTestRunner(optionflags=doctest.ELLIPSIS)
    with contextlib.redirect_stdout(io.StringIO()) as report:
        runner.run(examples)
    assert runner.failures == 0, report.getvalue()
    assert runner.tries >= 3
