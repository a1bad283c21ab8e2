# Invariant: arbitrary bytes as target/host/method -> split + normalise + match: a Route whose prefix covers the path, or RequestError/NoRouteError/MethodNotAllowed; nothing else.  # noqa: E501
"""Fuzz target for the request-facing surface of the router.

An input is split on ``\\n`` into method, host, target and header lines
(``name: value``), each decoded as Latin-1 as a transport decodes header bytes;
missing parts are empty (an empty host is no Host header). The request then goes
through what the gateway does with every request: :func:`split_target`,
:func:`normalise_path`, :meth:`RouteTable.match` against a fixed table with
exact, wildcard and no-host routes, method and header constraints, and rewrites.

The outcome must be a route whose host pattern and prefix cover the request and
that accepts its method, with an upstream path that has no ``//`` and no dot
segment, that ``explain`` agrees with, and that the same request normalised
twice gets again; or a :class:`RequestError` (400) -- of which
:class:`NoRouteError` (404) and :class:`MethodNotAllowed` (405) are kinds.
Anything else (another exception, a wrong route) is a bug.

Run it under atheris (``pip install atheris``)::

    python fuzz/match_target.py fuzz/match_corpus/

Without atheris, ``check`` runs as a short hypothesis test in the normal suite
(tests/test_fuzz_match.py), together with the seed corpus.
"""

from __future__ import annotations

import sys

from gwcore.config import Backend, Route
from gwcore.errors import MethodNotAllowed, NoRouteError, RequestError
from gwcore.rewrite import normalise_path, rewrite_path, split_target
from gwcore.routes import RouteTable


def _route(name: str, prefix: str, **fields: object) -> Route:
    return Route(name=name, prefix=prefix, backends=(Backend(service="svc"),), **fields)  # type: ignore[arg-type]  # fixture shorthand


#: A table with every kind of route; there is no catch-all, so 404 is reachable.
TABLE = RouteTable.compile(
    [
        _route("users", "/user/", rewrite="/", host="api.example.com"),
        _route("users-post", "/user", host="api.example.com", methods=frozenset({"POST"})),
        _route(
            "canary", "/user/", host="api.example.com", headers=(("x-canary", "1"),), priority=1
        ),
        _route("wild", "/", host="*.example.com", rewrite="/site/"),
        _route("deep-wild", "/a/b/", host="*.a.example.com", methods=frozenset({"GET"})),
        _route("static", "/static", rewrite="/static"),
        _route("admin", "/admin/", methods=frozenset({"GET", "HEAD"}), rewrite="/internal/"),
        _route("encoded", "/%C3%A9t%C3%A9/", rewrite="/summer/"),
        _route("ip", "/", host="127.0.0.1"),
        _route("v6", "/", host="[::1]"),
    ]
)


def _covers(prefix: str, path: str) -> bool:
    base = prefix.rstrip("/")
    return path == base or path.startswith(base + "/")


def check(data: bytes) -> None:
    """Assert the invariant for one input.

    Args:
        data: Arbitrary bytes: method, host, target and header lines, ``\\n``-separated.

    Raises:
        AssertionError: When a route is returned that does not cover the request.
        Exception: Anything other than a RequestError from gwcore is a bug and
            propagates.
    """
    method, host, target, *lines = [*data.decode("latin-1").split("\n"), "", "", ""][:6]
    headers = tuple(
        (name, value.strip()) for name, _, value in (line.partition(":") for line in lines if line)
    )
    try:
        path, _query = split_target(target)
        normal = normalise_path(path)
        route = TABLE.match(method, host or None, normal, headers)
    except (NoRouteError, MethodNotAllowed, RequestError) as exc:
        assert exc.reason, "an error without a reason"
        assert exc.status_hint in (400, 404, 405)
        return
    assert _covers(route.prefix, normal), (route.prefix, normal)
    assert route.methods is None or method in route.methods
    assert route.host is None or host, "a host route matched a request without Host"
    upstream = rewrite_path(normal, route.prefix, route.rewrite)
    assert "//" not in upstream and upstream.startswith("/")
    assert all(segment not in (".", "..") for segment in upstream.split("/"))
    assert TABLE.explain(method, host or None, normal, headers).winner is route
    assert TABLE.match(method, host or None, normalise_path(normal), headers) is route


def main() -> None:
    """Run under atheris with the corpus directories given on the command line."""
    # Imported here: atheris is optional and only this entry point needs it.
    import atheris  # type: ignore[import-untyped,import-not-found,unused-ignore]  # noqa: PLC0415

    atheris.instrument_all()  # coverage feedback from gwcore, already imported
    atheris.Setup(sys.argv, check)
    atheris.Fuzz()


if __name__ == "__main__":
    main()
