"""Hypothesis strategies for gateway configs: valid ones, and invalid mutations.

Stable names, for reuse by any test of the gateway:

* :func:`config_dicts` / :func:`configs` -- whole valid configs, as plain data
  (what YAML/JSON give) or as :class:`~gwcore.config.Config`.
* :func:`route_dicts` / :func:`routes` -- one valid ``routes`` entry, as plain data
  or as :class:`~gwcore.config.Route` (for router tests: hosts, prefixes, methods
  and headers are drawn from small pools so that routes overlap often).
* :func:`invalid_config_dicts` -- a valid config with one mutation that makes it
  invalid, and the field path at (or under) which an error must be reported.

The values are written in the many ways the config accepts (``"10s"``,
``10``, ``"10000ms"``; ``"8KiB"``, ``8192``; upper-case hosts with ports), so a
round trip through :func:`~gwcore.config.to_dict` exercises normalisation too.
"""

from __future__ import annotations

from typing import Any, TypeAlias

from hypothesis import strategies as st

from gwcore.config import Config, Route, from_dict, parse_route

JSON: TypeAlias = "bool | int | float | str | list[JSON] | dict[str, JSON] | None"

#: A value that is invalid wherever it is put: as a mapping it has a key that is
#: neither a schema key nor a valid name, token or variable; as anything else it
#: has the wrong type.
POISON: dict[str, JSON] = {" bad": None}
#: A key that is invalid in every mapping of the config.
BAD_KEY = " bad"

# Pools kept small so that generated routes collide on host and prefix.
_SEGMENT = st.text("abcxyz09-_~", min_size=1, max_size=4) | st.sampled_from(["%20", "a.b", "..."])
_HOSTS = ["api.example.com", "API.Example.COM:8080", "www.example.com.", "127.0.0.1", "[::1]"]
_WILDCARDS = ["*.example.com", "*.a.example.com", "*.EXAMPLE.com"]
_METHODS = ["GET", "POST", "PUT", "DELETE", "patch", "OPTIONS", "PURGE"]
_HEADER_NAMES = ["x-canary", "X-Version", "x-user"]


def names() -> st.SearchStrategy[str]:
    """Valid route/service/stage names."""
    return st.from_regex(r"[A-Za-z0-9][A-Za-z0-9._-]{0,12}", fullmatch=True)


def paths() -> st.SearchStrategy[str]:
    """Paths in the normal form a prefix or rewrite must have (``/``, ``/a/b/``)."""
    return st.builds(
        lambda segments, slash: "/" + "/".join(segments) + ("/" if slash and segments else ""),
        st.lists(_SEGMENT, max_size=4),
        st.booleans(),
    )


def durations(low: int = 1, high: int = 3600) -> st.SearchStrategy[JSON]:
    """A duration between ``low`` and ``high`` seconds, in any accepted spelling."""
    seconds = st.integers(low, high)
    return st.one_of(
        seconds,
        seconds.map(lambda s: f"{s}s"),
        seconds.map(lambda s: f"{s * 1000}ms"),
        seconds.filter(lambda s: s % 60 == 0).map(lambda s: f"{s // 60}m"),
        st.floats(low, high, allow_nan=False),
        st.integers(low * 1000, high * 1000).map(lambda ms: f"{ms}ms"),
        st.integers(low * 10, high * 10).map(lambda ds: f"{ds / 10}s"),
    )


def sizes(low: int = 1) -> st.SearchStrategy[JSON]:
    """A size of at least ``low`` bytes, as an int or with a unit."""
    return st.one_of(
        st.integers(low, 2**40),
        st.integers(max(1, low), 1024).map(lambda n: f"{n}KiB"),
        st.integers(1, 100).map(lambda n: f"{n}MB"),
    )


def _headers() -> st.SearchStrategy[dict[str, JSON]]:
    return st.dictionaries(
        st.sampled_from(_HEADER_NAMES), st.sampled_from(["1", "beta", "a b", ""]), max_size=2
    )


@st.composite
def route_dicts(draw: st.DrawFn, services: tuple[str, ...] = ("users",)) -> dict[str, JSON]:
    """One valid ``routes`` entry sending traffic to some of ``services``.

    Args:
        draw: Supplied by hypothesis.
        services: Names the route may refer to (at least one); with none, the
            route answers itself (``respond``).
    """
    route: dict[str, JSON] = {"prefix": draw(paths())}
    optional: dict[str, st.SearchStrategy[Any]] = {
        "rewrite": paths(),
        "host": st.sampled_from([*_HOSTS, *_WILDCARDS]) | st.none(),
        "methods": st.lists(st.sampled_from(_METHODS), min_size=1, max_size=3) | st.none(),
        "headers": _headers(),
        "priority": st.integers(-5, 5),
        "host_rewrite": st.sampled_from(["backend.local", "backend.local:8080", "[::1]:80"]),
        "max_body": st.none() | st.just("inherit") | st.just("unlimited") | sizes(low=0),
    }
    for key, strategy in optional.items():
        if draw(st.booleans()):
            route[key] = draw(strategy)
    if not services or draw(st.integers(0, 4)) == 0:
        route["respond"] = {
            "status": draw(st.integers(200, 599)),
            "body": draw(st.text(max_size=10)),
            "headers": draw(_headers()),
        }
    elif draw(st.booleans()):
        route["service"] = draw(st.sampled_from(services))
    else:
        chosen = draw(st.lists(st.sampled_from(services), min_size=1, unique=True))
        weights = draw(st.lists(st.integers(0, 100), min_size=len(chosen), max_size=len(chosen)))
        if not any(weights):
            weights[0] = 1
        route["backends"] = [
            {"service": s, "weight": w} for s, w in zip(chosen, weights, strict=True)
        ]
    return route


def routes(
    name: st.SearchStrategy[str] | None = None, services: tuple[str, ...] = ("users",)
) -> st.SearchStrategy[Route]:
    """Valid :class:`Route` objects (built by ``parse_route``).

    Args:
        name: Names to use; any valid name by default.
        services: Names of services the routes may send traffic to.
    """
    return st.builds(parse_route, name or names(), route_dicts(services))


_URLS = ["http://127.0.0.1:9001", "https://users.internal", "http://[::1]:8000/base", "http://b_1/"]


@st.composite
def _endpoints(draw: st.DrawFn, variables: tuple[str, ...]) -> list[JSON]:
    urls = draw(st.lists(st.sampled_from(_URLS), unique=True, max_size=3))
    if draw(st.booleans()):
        urls.append(f"etcd(key-{draw(names())}, http://127.0.0.1:9002)")
    if draw(st.booleans()) and variables:
        urls.append(f"http://${{stageVariables.{draw(st.sampled_from(variables))}}}/v1")
    result: list[JSON] = []
    for url in urls:
        if draw(st.booleans()):
            result.append(url)
        else:
            result.append({"url": url, "weight": draw(st.integers(0, 100))})
    return result


@st.composite
def service_dicts(draw: st.DrawFn, variables: tuple[str, ...] = ()) -> dict[str, JSON]:
    """One valid ``services`` entry; ``variables`` are stage variables it may use."""
    ejection = draw(st.integers(1, 60))
    optional: dict[str, st.SearchStrategy[Any]] = {
        "balancer": st.sampled_from(
            [
                "round_robin",
                "least_request",
                "hash(header:X-User)",
                "hash(cookie:sid)",
                "hash(client_ip)",
            ]
        ),
        "retries": st.integers(0, 10),
        "timeouts": st.fixed_dictionaries(
            {}, optional={"connect": durations(), "response": durations() | st.none()}
        ),
        "health": st.fixed_dictionaries(
            {},
            optional={
                "passive": st.none()
                | st.fixed_dictionaries(
                    {},
                    optional={
                        "consecutive_failures": st.integers(1, 10),
                        "ejection": st.just(f"{ejection}s"),
                        "max_ejection": st.integers(ejection, 3600),
                        "failure_statuses": st.lists(st.integers(100, 599), max_size=4),
                    },
                ),
                "active": st.none()
                | st.fixed_dictionaries(
                    {},
                    optional={
                        "path": st.sampled_from(["/health", "/ping?full=1", "/"]),
                        "interval": durations(),
                        "timeout": durations(high=10),
                        "healthy": st.integers(1, 5),
                        "unhealthy": st.integers(1, 5),
                    },
                ),
            },
        ),
        "panic": st.booleans(),
        "ca": st.none() | st.just("/etc/ssl/ca.pem"),
        "retry_budget": st.fixed_dictionaries(
            {}, optional={"ratio": st.floats(0, 1), "min_per_second": st.integers(0, 100)}
        ),
    }
    service: dict[str, JSON] = {"endpoints": draw(_endpoints(variables))}
    for key, strategy in optional.items():
        if draw(st.booleans()):
            service[key] = draw(strategy)
    return service


def _tls() -> st.SearchStrategy[JSON]:
    return st.fixed_dictionaries(
        {"cert": st.just("cert.pem"), "key": st.just("key.pem")},
        optional={"client_ca": st.none() | st.just("ca.pem")},
    )


def _listen() -> st.SearchStrategy[JSON]:
    address = st.builds(
        lambda host, port: f"{host}:{port}",
        st.sampled_from(["127.0.0.1", "0.0.0.0", "[::1]", "localhost"]),
        st.integers(8000, 8079) | st.just(0),  # 8081 is the default admin port
    )
    item = address | st.fixed_dictionaries({"address": address}, optional={"tls": _tls()})
    return address | st.lists(item, min_size=1, max_size=3)


@st.composite
def config_dicts(draw: st.DrawFn) -> dict[str, JSON]:
    """A whole valid config as plain data, with most optional parts sometimes present."""
    stage_names = draw(st.lists(names(), unique=True, max_size=2))
    variables = ("usersHost", "base_1")
    stages: dict[str, JSON] = {
        name: {
            "variables": {
                v: draw(st.sampled_from(["127.0.0.1:9001", "users.local"])) for v in variables
            }
        }
        for name in stage_names
    }
    stage = draw(st.sampled_from(stage_names)) if draw(st.booleans()) and stage_names else None
    service_names = tuple(draw(st.lists(names(), unique=True, max_size=3)))
    config: dict[str, JSON] = {
        "services": {
            name: draw(service_dicts(variables if stage else ())) for name in service_names
        },
        "routes": {
            name: draw(route_dicts(service_names))
            for name in draw(st.lists(names(), unique=True, max_size=4))
        },
    }
    optional: dict[str, st.SearchStrategy[Any]] = {
        "listen": _listen(),
        "admin": st.fixed_dictionaries(
            {},
            optional={
                "listen": st.sampled_from(["127.0.0.1:9000", "[::1]:9001"]),
                "token": st.none() | st.just("s3cret"),
                "tls": st.none() | _tls(),
            },
        ),
        "limits": st.fixed_dictionaries(
            {},
            optional={
                "max_request_line": sizes(),
                "max_header_bytes": sizes(),
                "max_body": st.none() | sizes(low=0),
                "max_connections": st.integers(1, 10**6),
            },
        ),
        "timeouts": st.fixed_dictionaries(
            {},
            optional={
                key: durations() for key in ("header_read", "idle", "connect", "response", "grace")
            },
        ),
        "etcd": st.none()
        | st.fixed_dictionaries(
            {
                "endpoints": st.sampled_from(
                    [["http://127.0.0.1:2379"], "http://a:2379, https://b:2379"]
                )
            },
            optional={
                "prefix": st.sampled_from(["/gw/", "/", "/x/y/"]),
                "resync": durations(),
                "user": st.just("gw"),
                "ca": st.none() | st.just("ca.pem"),
            },
        ),
        "state": st.none() | st.just("/var/lib/gw/state.json"),
        "access_log": st.sampled_from(["text", "json", "off"]),
    }
    if stages:
        config["stages"] = stages
        config["stage"] = stage
    for key, strategy in optional.items():
        if draw(st.booleans()):
            config[key] = draw(strategy)
    return config


def configs() -> st.SearchStrategy[Config]:
    """Valid :class:`Config` objects (built by ``from_dict`` from :func:`config_dicts`)."""
    return config_dicts().map(from_dict)


def _locations(data: JSON, path: str = "") -> list[tuple[str, JSON, str | int]]:
    """Every value below ``data`` as (field path, container, key in container)."""
    items: list[tuple[str | int, JSON, str]] = []
    if isinstance(data, dict):
        items = [(key, value, f"{path}.{key}" if path else key) for key, value in data.items()]
    elif isinstance(data, list):
        items = [(i, value, f"{path}[{i}]") for i, value in enumerate(data)]
    found: list[tuple[str, JSON, str | int]] = []
    for key, value, child in items:
        found.append((child, data, key))
        found.extend(_locations(value, child))
    return found


@st.composite
def invalid_config_dicts(draw: st.DrawFn) -> tuple[dict[str, JSON], str]:
    """A valid config with one invalid change, and where the error must be reported.

    The change is either :data:`POISON` in place of some value, or :data:`BAD_KEY`
    added to some mapping. Every error path starts with the returned path when
    the error is about the change itself (cross-references may add others).
    """
    config = draw(config_dicts())
    locations = _locations(config)
    if draw(st.booleans()):
        mappings: list[tuple[str, JSON]] = [("", config)]
        for path, parent, key in locations:
            node = parent[key]  # type: ignore[index]  # key comes from parent
            if isinstance(node, dict):
                mappings.append((path, node))
        path, node = draw(st.sampled_from(mappings))
        assert isinstance(node, dict)
        node[BAD_KEY] = draw(st.none() | st.integers() | st.text(max_size=3))
        return config, f"{path}.{BAD_KEY}" if path else BAD_KEY
    path, parent, key = draw(st.sampled_from(locations))
    parent[key] = POISON  # type: ignore[index]  # key comes from parent
    return config, path
