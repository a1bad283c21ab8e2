"""The config model: every rule with its exact error path, round trips, and
"a Config or a ConfigError, never anything else" for any input."""

from __future__ import annotations

import copy
import json
import math
from typing import TypeAlias

import pytest
from hypothesis import given
from hypothesis import strategies as st

from gwcore._frozen import FrozenDict
from gwcore.config import (
    Backend,
    BalancerKind,
    Config,
    Endpoint,
    Route,
    Service,
    format_duration,
    from_dict,
    parse_duration,
    parse_route,
    parse_service,
    parse_size,
    route_to_dict,
    service_to_dict,
    to_dict,
    validate,
)
from gwcore.errors import ConfigError
from tests.gwcore.strategies import (
    JSON,
    config_dicts,
    configs,
    invalid_config_dicts,
    route_dicts,
    routes,
    service_dicts,
)

Data: TypeAlias = dict[str, JSON]


def base() -> Data:
    """A small valid config that each test bends in one place."""
    return {
        "listen": "127.0.0.1:8080",
        "services": {"users": {"endpoints": [{"url": "http://127.0.0.1:9001"}]}},
        "routes": {"usermapping": {"prefix": "/user/", "service": "users"}},
    }


def errors(data: object) -> list[str]:
    """Every problem from_dict reports, as ``path: message`` lines."""
    with pytest.raises(ConfigError) as info:
        from_dict(data)
    assert info.value.errors
    return [str(error) for error in info.value.errors]


def paths(data: object) -> list[str]:
    with pytest.raises(ConfigError) as info:
        from_dict(data)
    return [error.path for error in info.value.errors]


def with_(path: str, value: JSON, data: Data | None = None) -> Data:
    """``base()`` with ``value`` at the dotted ``path`` (created as needed)."""
    data = base() if data is None else data
    *parents, last = path.split(".")
    node = data
    for key in parents:
        child = node.setdefault(key, {})
        assert isinstance(child, dict)
        node = child
    node[last] = value
    return data


def route(**fields: JSON) -> Data:
    return with_("routes.usermapping", {"prefix": "/user/", "service": "users", **fields})


def service(**fields: JSON) -> Data:
    return with_("services.users", {"endpoints": [{"url": "http://127.0.0.1:9001"}], **fields})


# --- the example --------------------------------------------------------

EXAMPLE: Data = {
    "listen": "127.0.0.1:8080",
    "admin": {"listen": "127.0.0.1:8081", "token": None},
    "stage": "dev",
    "stages": {"dev": {"variables": {"usersHost": "127.0.0.1:9001"}}},
    "services": {
        "users": {
            "endpoints": [
                {"url": "http://127.0.0.1:9001", "weight": 1},
                {"url": "etcd(users-key, http://127.0.0.1:9002)"},
                {"url": "http://${stageVariables.usersHost}/"},
            ],
            "balancer": "round_robin",
            "retries": 2,
            "timeouts": {"connect": "2s", "response": "30s"},
            "health": {
                "passive": {"consecutive_failures": 3, "ejection": "10s", "max_ejection": "5m"},
                "active": {"path": "/health", "interval": "5s", "healthy": 2, "unhealthy": 3},
            },
        }
    },
    "routes": {
        "usermapping": {
            "prefix": "/user/",
            "rewrite": "/",
            "service": "users",
            "host": "api.example.com",
            "methods": ["GET", "POST"],
            "headers": {"x-canary": "1"},
            "priority": 0,
        },
        "ok": {"prefix": "/ok", "respond": {"status": 200, "body": "ok"}},
    },
}


def test_example_parses_to_the_documented_model() -> None:
    config = from_dict(EXAMPLE)
    users = config.services["users"]
    assert [e.url for e in users.endpoints][1] == "etcd(users-key, http://127.0.0.1:9002)"
    assert users.endpoints[2] == Endpoint(url="http://${stageVariables.usersHost}/", weight=1)
    assert users.timeouts.connect == 2.0 and users.timeouts.response == 30.0
    assert users.health.passive is not None and users.health.passive.max_ejection == 300.0
    assert users.health.active is not None and users.health.active.timeout == 2.0
    mapping = config.routes["usermapping"]
    assert mapping.backends == (Backend(service="users", weight=1),)
    assert mapping.methods == frozenset({"GET", "POST"})
    assert mapping.headers == (("x-canary", "1"),)
    assert config.routes["ok"].respond is not None and config.routes["ok"].backends == ()
    assert config.admin.listen.port == 8081 and config.stage == "dev"


def test_example_dumps_canonically() -> None:
    dumped = to_dict(from_dict(EXAMPLE))
    assert list(dumped) == [
        "listen", "admin", "stage", "stages", "services", "routes",
        "limits", "timeouts", "etcd", "state", "access_log",
    ]  # fmt: skip
    assert dumped["listen"] == ["127.0.0.1:8080"]
    assert dumped["timeouts"] == {
        "header_read": "10s", "idle": "1m", "connect": "2s", "response": "30s", "grace": "30s",
    }  # fmt: skip
    routes_ = dumped["routes"]
    assert isinstance(routes_, dict)
    assert routes_["usermapping"]["service"] == "users"
    assert routes_["usermapping"]["max_body"] == "inherit"
    assert json.loads(json.dumps(dumped)) == dumped
    assert from_dict(dumped) == from_dict(EXAMPLE)


def test_defaults() -> None:
    config = from_dict({})
    assert config == Config()
    assert to_dict(config)["routes"] == {}


# --- every error at once, never a half-built config -----------------------------


def test_every_error_is_reported_at_once() -> None:
    data: Data = {
        "listen": ["127.0.0.1:8080", "nope"],
        "services": {
            "users": {
                "endpoints": [{"url": "http://a"}, {"url": "http://b"}, {"url": "ftp://c"}],
                "retries": 99,
            }
        },
        "routes": {
            "usermapping": {"prefix": "user/", "service": "users", "prefx": "/"},
            "other": {"prefix": "/o", "service": "missing"},
        },
        "acces_log": "json",
    }
    assert sorted(paths(data)) == sorted(
        [
            "listen[1]",
            "services.users.endpoints[2].url",
            "services.users.retries",
            "routes.usermapping.prefx",
            "routes.usermapping.prefix",
            "acces_log",
            "routes.other.service",
        ]
    )
    messages = errors(data)
    assert "routes.usermapping.prefix: prefix must start with '/'" in messages
    assert "routes.usermapping.prefx: unknown key; did you mean 'prefix'?" in messages
    assert "acces_log: unknown key; did you mean 'access_log'?" in messages


def test_config_error_message_joins_all_problems() -> None:
    with pytest.raises(ConfigError) as info:
        from_dict({"stage": 1, "state": 2})
    assert (
        info.value.reason
        == "stage: must be a string, not an integer; state: must be a string, not an integer"
    )


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (None, "must be a mapping, not null"),
        ([], "must be a mapping, not a list"),
        ("x", "must be a mapping, not a string"),
        (3.5, "must be a mapping, not a number"),
        (b"x", "must be a mapping, not bytes"),
    ],
)
def test_root_must_be_a_mapping(data: object, message: str) -> None:
    assert errors(data) == [message]


def test_unknown_key_far_from_any_known_lists_them() -> None:
    assert errors({"zzzzzz": 1}) == [
        "zzzzzz: unknown key (known: listen, admin, stage, stages, services, routes, limits, "
        "timeouts, etcd, state, access_log)"
    ]


def test_non_string_keys() -> None:
    assert errors({1: 2}) == ["1: keys must be strings"]
    assert paths({"routes": {5: {}}}) == ["routes.5"]


# --- listen and admin -----------------------------------------------------------


@pytest.mark.parametrize(
    ("listen", "expected"),
    [
        ("127.0.0.1:8080", [("127.0.0.1", 8080, None)]),
        ("[::1]:8080", [("::1", 8080, None)]),
        ("[0:0::1]:0", [("::1", 0, None)]),
        ("LocalHost:65535", [("localhost", 65535, None)]),
        (["0.0.0.0:80", "[::]:443"], [("0.0.0.0", 80, None), ("::", 443, None)]),
        (
            [{"address": "0.0.0.0:443", "tls": {"cert": "c.pem", "key": "k.pem"}}],
            [("0.0.0.0", 443, ("c.pem", "k.pem", None))],
        ),
    ],
)
def test_listen_forms(listen: JSON, expected: list[tuple[str, int, object]]) -> None:
    config = from_dict(with_("listen", listen))
    got = [
        (x.host, x.port, None if x.tls is None else (x.tls.cert, x.tls.key, x.tls.client_ca))
        for x in config.listen
    ]
    assert got == expected
    assert from_dict(to_dict(config)) == config


@pytest.mark.parametrize(
    ("listen", "expected"),
    [
        ("127.0.0.1", "listen: '127.0.0.1' has no port; write host:port, like 127.0.0.1:8080"),
        ("127.0.0.1:65536", "listen: port must be a number between 0 and 65535, not '65536'"),
        ("127.0.0.1:http", "listen: port must be a number between 0 and 65535, not 'http'"),
        ("::1:8080", "listen: '::1:8080': write IPv6 addresses in brackets, like [::1]:8080"),
        ("[::1:8080", "listen: '[::1:8080': '[' without ']'"),
        ("[::g]:80", "listen: '::g' is not a valid IPv6 address"),
        ("[::1]x:80", "listen: '[::1]x:80': unexpected 'x:80' after ']'"),
        ("[::1]", "listen: '[::1]' has no port; write host:port, like 127.0.0.1:8080"),
        (":8080", "listen: host name must have 1 to 253 characters"),
        ("300.1.1.1:80", "listen: '300.1.1.1' is not a valid IPv4 address"),
        ("a b:80", "listen: invalid host name label 'a b' in 'a b'"),
        ([], "listen: needs at least one address, like 127.0.0.1:8080"),
        (8080, "listen: must be a list, not an integer"),
        (["1.2.3.4:1", 5], "listen[1]: must be a mapping, not an integer"),
        ([{"tls": None}], "listen[0].address: is required"),
        ([{"address": 1}], "listen[0].address: must be a string, not an integer"),
        ([{"address": "a:1", "tls": {"cert": "c"}}], "listen[0].tls.key: is required"),
        (
            [{"address": "a:1", "tls": {"cert": "c", "key": ""}}],
            "listen[0].tls.key: must not be empty",
        ),
    ],
)
def test_listen_errors(listen: JSON, expected: str) -> None:
    assert errors(with_("listen", listen)) == [expected]


def test_admin() -> None:
    config = from_dict(
        with_(
            "admin",
            {
                "listen": "[::1]:9000",
                "token": "t",
                "tls": {"cert": "c", "key": "k", "client_ca": "ca"},
            },
        )
    )
    assert (config.admin.listen.host, config.admin.listen.port, config.admin.token) == (
        "::1",
        9000,
        "t",
    )
    assert config.admin.tls is not None and config.admin.tls.client_ca == "ca"
    assert to_dict(config)["admin"] == {
        "listen": "[::1]:9000",
        "token": "t",
        "tls": {"cert": "c", "key": "k", "client_ca": "ca"},
    }
    assert errors(with_("admin", {"listen": "127.0.0.1:8080"})) == [
        "admin.listen: must not be a proxy listen address"
    ]
    assert errors(with_("admin", {"token": ""})) == ["admin.token: must not be empty"]
    assert errors(with_("admin", {"lisen": "x"})) == [
        "admin.lisen: unknown key; did you mean 'listen'?"
    ]
    assert errors(with_("admin", None)) == ["admin: must be a mapping, not null"]
    # Port 0 picks a free port each time, so two of them never clash.
    assert from_dict(with_("admin", {"listen": "127.0.0.1:0"}, with_("listen", "127.0.0.1:0")))


# --- durations and sizes --------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "seconds"),
    [
        ("250ms", 0.25), ("10s", 10.0), ("1.5s", 1.5), ("5m", 300.0), ("1h", 3600.0),
        ("0", 0.0), (" 7 ", 7.0), ("2", 2.0), (3, 3.0), (0.5, 0.5), ("1e1s", 10.0),
        ("1ms", 0.001), ("8760h", 365 * 86400.0),
    ],
)  # fmt: skip
def test_parse_duration(text: object, seconds: float) -> None:
    assert parse_duration(text) == seconds


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("10 s", "'10 s' is not a duration (use e.g. '250ms', '10s', '5m', '1h')"),
        ("-1s", "'-1s' is not a duration (use e.g. '250ms', '10s', '5m', '1h')"),
        ("1d", "'1d' is not a duration (use e.g. '250ms', '10s', '5m', '1h')"),
        (True, "must be a duration like '250ms', '10s', '5m' or '1h'"),
        (None, "must be a duration like '250ms', '10s', '5m' or '1h'"),
        (-1, "must not be negative"),
        (math.nan, "must not be negative"),
        (math.inf, "must be at most 365 days"),
        (10**400, "must be at most 365 days"),
        ("1e400s", "must be at most 365 days"),
        ("8761h", "must be at most 365 days"),
        (0.0005, "must be 0 or at least 1ms"),
    ],
)
def test_parse_duration_rejects(value: object, message: str) -> None:
    with pytest.raises(
        ValueError, match="^" + message.replace("(", r"\(").replace(")", r"\)") + "$"
    ):
        parse_duration(value)


@pytest.mark.parametrize(
    ("seconds", "text"),
    [
        (0.0, "0s"), (3600.0, "1h"), (7200.0, "2h"), (300.0, "5m"), (90.0, "90s"), (10.0, "10s"),
        (0.25, "250ms"), (1.5, "1500ms"), (0.001, "1ms"), (0.0015, "0.0015s"),
        (0.1 + 0.2, "0.30000000000000004s"), (1 / 3, "0.3333333333333333s"),
    ],
)  # fmt: skip
def test_format_duration(seconds: float, text: str) -> None:
    assert format_duration(seconds) == text
    assert parse_duration(text) == seconds


@pytest.mark.parametrize("seconds", [-1.0, math.inf, math.nan])
def test_format_duration_rejects(seconds: float) -> None:
    with pytest.raises(ValueError, match="cannot format duration"):
        format_duration(seconds)


@given(st.floats(0, 365 * 86400.0) | st.integers(0, 365 * 86400))
def test_duration_round_trip(value: float) -> None:
    try:
        seconds = parse_duration(value)
    except ValueError:
        assert 0 < value < 0.001
        return
    assert parse_duration(format_duration(seconds)) == seconds


@pytest.mark.parametrize(
    ("text", "size"),
    [
        (0, 0), (65536, 65536), ("8KiB", 8192), ("100MiB", 100 * 2**20), ("1GiB", 2**30),
        ("1MB", 10**6), ("2 kB", 2000), ("3KB", 3000), ("1GB", 10**9), ("1TB", 10**12),
        ("1TiB", 2**40), ("12B", 12), ("42", 42),
    ],
)  # fmt: skip
def test_parse_size(text: object, size: int) -> None:
    assert parse_size(text) == size


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("1.5MiB", "'1.5MiB' is not a size"),
        ("1mib", "'1mib' is not a size"),
        ("9" * 30, "is not a size"),
        (1.0, "must be a size"),
        (False, "must be a size"),
        (-1, "must not be negative"),
        (2**50 + 1, "must be at most 1 PiB"),
        ("2048TiB", "must be at most 1 PiB"),
    ],
)
def test_parse_size_rejects(value: object, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        parse_size(value)


# --- services -------------------------------------------------------------------


def test_endpoint_forms() -> None:
    config = from_dict(
        service(
            endpoints=[
                "http://a:1",
                {"url": "https://b.example.com/base/v1", "weight": 0},
                {"url": "etcd( users/url , http://[::1]:9002/x )", "weight": 3},
            ]
        )
    )
    assert config.services["users"].endpoints == (
        Endpoint(url="http://a:1"),
        Endpoint(url="https://b.example.com/base/v1", weight=0),
        Endpoint(url="etcd( users/url , http://[::1]:9002/x )", weight=3),
    )
    assert from_dict(service(endpoints=[])).services["users"].endpoints == ()
    assert from_dict(service(endpoints=None)).services["users"].endpoints == ()


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("ftp://a", "'ftp://a' is not an http:// or https:// URL"),
        ("HTTP://a", "'HTTP://a' is not an http:// or https:// URL"),
        ("a:80", "'a:80' is not an http:// or https:// URL"),
        ("http://", "'http://' has no host"),
        ("http://u:p@a", "URL must not contain user information ('user@')"),
        ("http://a/?x=1", "URL must not have a query or fragment"),
        ("http://a/#f", "URL must not have a query or fragment"),
        ("http://a:0", "port must be a number between 1 and 65535, not '0'"),
        ("http://a/b c", "URL path must percent-encode ' '"),
        ("http://[::1/", "'[::1': '[' without ']'"),
        ("http://a..b", "invalid host name label '' in 'a..b'"),
        (
            "etcd(key)",
            "write etcd endpoints as etcd(key, default_url), like etcd(users-url, http://127.0.0.1:9002)",
        ),
        (
            "etcd(, http://a)",
            "write etcd endpoints as etcd(key, default_url), like etcd(users-url, http://127.0.0.1:9002)",
        ),
        ("etcd(k, ftp://a)", "etcd default: 'ftp://a' is not an http:// or https:// URL"),
        ("", "must not be empty"),
        ("http://${stage.x}", "write stage variable references as ${stageVariables.NAME}"),
    ],
)
def test_endpoint_url_errors(url: str, message: str) -> None:
    assert errors(service(endpoints=["http://ok", {"url": url}])) == [
        f"services.users.endpoints[1].url: {message}"
    ]


def test_endpoint_errors() -> None:
    assert errors(service(endpoints=[{"weight": 1}])) == [
        "services.users.endpoints[0].url: is required"
    ]
    assert errors(service(endpoints=[{"url": "http://a", "weight": -1}])) == [
        "services.users.endpoints[0].weight: must be between 0 and 1000000"
    ]
    assert errors(service(endpoints=[{"url": "http://a", "weight": True}])) == [
        "services.users.endpoints[0].weight: must be an integer, not a boolean"
    ]
    assert errors(service(endpoints=["http://a", "http://a"])) == [
        "services.users.endpoints[1].url: is listed twice in this service"
    ]
    assert errors(service(endpoints=[{"url": "http://a", "wieght": 2}])) == [
        "services.users.endpoints[0].wieght: unknown key; did you mean 'weight'?"
    ]
    assert errors(service(endpoints="http://a")) == [
        "services.users.endpoints: must be a list, not a string"
    ]


def staged(url: str, stage: JSON = "dev", variables: JSON | None = None) -> Data:
    data = service(endpoints=[{"url": url}])
    data["stages"] = {
        "dev": {"variables": variables or {"usersHost": "127.0.0.1:9001"}},
        "prod": {},
    }
    if stage is not None:
        data["stage"] = stage
    return data


def test_stage_variables_are_checked_but_kept_as_written() -> None:
    url = "http://${stageVariables.usersHost}/api"
    config = from_dict(staged(url))
    assert config.services["users"].endpoints[0].url == url
    assert config.stages["dev"].variables == {"usersHost": "127.0.0.1:9001"}
    assert from_dict(
        staged("etcd(k-${stageVariables.usersHost}, http://${stageVariables.usersHost})")
    )


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        (
            staged("http://${stageVariables.nope}/"),
            "services.users.endpoints[0].url: stage variable 'nope' is not defined in stage 'dev'",
        ),
        (
            staged("http://${stageVariables.usersHost}/", stage=None),
            "services.users.endpoints[0].url: uses stage variable 'usersHost', but no stage is "
            "selected ('stage:')",
        ),
        (
            staged("http://${stageVariables.usersHost}/", stage="prod"),
            "services.users.endpoints[0].url: stage variable 'usersHost' is not defined in "
            "stage 'prod'",
        ),
        (
            staged("http://${stageVariables.v}/", variables={"v": "a b"}),
            "services.users.endpoints[0].url: is 'http://a b/' in stage 'dev': invalid host name "
            "label 'a b' in 'a b'",
        ),
        (staged("http://a", stage="qa"), "stage: no stage named 'qa' (dev, prod)"),
    ],
)
def test_stage_variable_errors(data: Data, expected: str) -> None:
    assert errors(data) == [expected]


def test_unknown_stage_is_reported_once() -> None:
    assert paths(staged("http://${stageVariables.usersHost}", stage="qa")) == ["stage"]
    assert errors(with_("stage", "x")) == ["stage: no stage named 'x' (none defined)"]


def test_stage_errors() -> None:
    assert errors(with_("stages", {"dev": {"variables": {"a-b": "x", "n": 1}}})) == [
        "stages.dev.variables.a-b: variable names are letters, digits and '_'",
        "stages.dev.variables.n: must be a string, not an integer (quote it)",
    ]
    assert errors(with_("stages", {"dev": {"variables": [1]}})) == [
        "stages.dev.variables: must be a mapping of names to strings, not a list"
    ]
    assert errors(with_("stages", {"dev": {"vars": {}}})) == [
        "stages.dev.vars: unknown key; did you mean 'variables'?"
    ]
    assert errors(with_("stages", ["dev"])) == [
        "stages: must be a mapping of stage names, not a list"
    ]
    assert errors(with_("stages", {"-dev": {}})) == [
        "stages.-dev: invalid stage name '-dev': use letters, digits, '.', '_' and '-', starting "
        "with a letter or digit, at most 128 characters"
    ]
    assert from_dict(with_("stages", {"dev": {"variables": None}})).stages["dev"].variables == {}


@pytest.mark.parametrize(
    ("text", "kind", "key", "dumped"),
    [
        ("round_robin", BalancerKind.ROUND_ROBIN, "", "round_robin"),
        ("least_request", BalancerKind.LEAST_REQUEST, "", "least_request"),
        ("hash(client_ip)", BalancerKind.HASH_CLIENT_IP, "", "hash(client_ip)"),
        ("hash(header:X-User)", BalancerKind.HASH_HEADER, "x-user", "hash(header:x-user)"),
        ("hash(cookie:SID)", BalancerKind.HASH_COOKIE, "SID", "hash(cookie:SID)"),
    ],
)
def test_balancer(text: str, kind: BalancerKind, key: str, dumped: str) -> None:
    users = from_dict(service(balancer=text)).services["users"]
    assert (users.balancer.kind, users.balancer.key) == (kind, key)
    assert service_to_dict(users)["balancer"] == dumped


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("random", "must be round_robin, least_request, hash(header:NAME), hash(cookie:NAME) or "
         "hash(client_ip); got 'random'"),
        (1, "must be round_robin, least_request, hash(header:NAME), hash(cookie:NAME) or "
         "hash(client_ip); got 1"),
        ("hash(header:)", "header name '' is not a valid token (RFC 9110 5.6.2)"),
        ("hash(cookie:a b)", "cookie name 'a b' is not a valid token (RFC 9110 5.6.2)"),
    ],
)  # fmt: skip
def test_balancer_errors(value: JSON, message: str) -> None:
    assert errors(service(balancer=value)) == [f"services.users.balancer: {message}"]


def test_health() -> None:
    health: JSON = {
        "passive": {
            "consecutive_failures": 2,
            "ejection": "1s",
            "max_ejection": "1s",
            "failure_statuses": [503],
        },
        "active": {
            "path": "/ping?deep=1",
            "interval": 1,
            "timeout": "500ms",
            "healthy": 1,
            "unhealthy": 1,
        },
    }
    users = from_dict(service(health=health)).services["users"]
    assert users.health.passive is not None and users.health.passive.failure_statuses == {503}
    assert users.health.active is not None and users.health.active.timeout == 0.5
    off = from_dict(service(health={"passive": None, "active": None})).services["users"].health
    assert (off.passive, off.active) == (None, None)
    # A longer first ejection raises the default cap with it.
    passive = (
        from_dict(service(health={"passive": {"ejection": "10m"}})).services["users"].health.passive
    )
    assert passive is not None and passive.max_ejection == 600.0


@pytest.mark.parametrize(
    ("health", "expected"),
    [
        (
            {"passive": {"consecutive_failures": 0}},
            "passive.consecutive_failures: must be between 1 and 1000",
        ),
        ({"passive": {"ejection": "0s"}}, "passive.ejection: must be greater than 0"),
        (
            {"passive": {"ejection": "1m", "max_ejection": "30s"}},
            "passive.max_ejection: max_ejection must be at least ejection",
        ),
        (
            {"passive": {"ejection": "1h", "max_ejection": "30s"}},
            "passive.max_ejection: max_ejection must be at least ejection",
        ),
        (
            {"passive": {"failure_statuses": [500, 600]}},
            "passive.failure_statuses[1]: must be between 100 and 599",
        ),
        (
            {"passive": {"failure_statuses": 500}},
            "passive.failure_statuses: must be a list, not an integer",
        ),
        ({"active": {"path": "health"}}, "active.path: probe path must start with '/'"),
        (
            {"active": {"path": "/a b"}},
            "active.path: probe path must be visible ASCII without '#' (percent-encode the rest)",
        ),
        (
            {"active": {"path": "/a#b"}},
            "active.path: probe path must be visible ASCII without '#' (percent-encode the rest)",
        ),
        ({"active": {"interval": 0}}, "active.interval: must be greater than 0"),
        ({"active": {"healthy": 0}}, "active.healthy: must be between 1 and 1000"),
        ({"active": {"unhealthy": 1001}}, "active.unhealthy: must be between 1 and 1000"),
        ({"active": True}, "active: must be a mapping, not a boolean"),
        ({"pasive": {}}, "pasive: unknown key; did you mean 'passive'?"),
    ],
)
def test_health_errors(health: JSON, expected: str) -> None:
    assert errors(service(health=health)) == [f"services.users.health.{expected}"]


def test_ejection_error_when_cap_is_default() -> None:
    # ejection > the default cap is fine (the cap follows); only an explicit cap can be too low.
    assert errors(service(health={"passive": {"ejection": "2h", "max_ejection": "1h"}})) == [
        "services.users.health.passive.max_ejection: max_ejection must be at least ejection"
    ]


def test_service_scalars() -> None:
    users = from_dict(
        service(
            retries=0,
            timeouts={"connect": "250ms", "response": None},
            panic=True,
            ca="/ca.pem",
            retry_budget={"ratio": 1, "min_per_second": 0},
        )
    ).services["users"]
    assert (users.retries, users.timeouts.connect, users.timeouts.response) == (0, 0.25, None)
    assert (users.panic, users.ca, users.retry_budget.ratio, users.retry_budget.min_per_second) == (
        True, "/ca.pem", 1.0, 0.0,
    )  # fmt: skip
    assert service_to_dict(users)["timeouts"] == {"connect": "250ms", "response": None}


@pytest.mark.parametrize(
    ("fields", "expected"),
    [
        ({"retries": 11}, "retries: must be between 0 and 10"),
        ({"retries": -1}, "retries: must be between 0 and 10"),
        ({"retries": 2.0}, "retries: must be an integer, not a number"),
        ({"retries": 10**100}, "retries: must be between 0 and 10"),
        ({"timeouts": {"connect": "0s"}}, "timeouts.connect: must be greater than 0"),
        ({"timeouts": {"read": "1s"}}, "timeouts.read: unknown key (known: connect, response)"),
        ({"timeouts": None}, "timeouts: must be a mapping, not null"),
        ({"panic": "yes"}, "panic: must be true or false, not a string"),
        ({"ca": ""}, "ca: must not be empty"),
        ({"retry_budget": {"ratio": 1.5}}, "retry_budget.ratio: must be between 0 and 1"),
        ({"retry_budget": {"ratio": math.nan}}, "retry_budget.ratio: must be between 0 and 1"),
        ({"retry_budget": {"ratio": True}}, "retry_budget.ratio: must be a number, not a boolean"),
        (
            {"retry_budget": {"min_per_second": -1}},
            "retry_budget.min_per_second: must be between 0 and 1e+06",
        ),
        (
            {"retry_budget": {"min_per_second": 10**400}},
            "retry_budget.min_per_second: must be between 0 and 1e+06",
        ),
        ({"endpoint": []}, "endpoint: unknown key; did you mean 'endpoints'?"),
    ],
)
def test_service_errors(fields: Data, expected: str) -> None:
    assert errors(service(**fields)) == [f"services.users.{expected}"]


@pytest.mark.parametrize("body", [None, [], "x", 3])
def test_service_body_must_be_a_mapping(body: JSON) -> None:
    assert paths(with_("services.users", body)) == ["services.users"]


NORMAL = "requests are normalised before matching, so write the normal form"

# --- routes ---------------------------------------------------------------------


@pytest.mark.parametrize(
    "prefix",
    ["/", "/user", "/user/", "/a/b/c/", "/a%20b/", "/~u/x-y_z/", "/a.b/", "/...", "/:@!$&'()*+,;="],
)
def test_prefixes_in_normal_form(prefix: str) -> None:
    assert from_dict(route(prefix=prefix, rewrite=prefix)).routes["usermapping"].prefix == prefix


@pytest.mark.parametrize(
    ("prefix", "message"),
    [
        ("user/", "prefix must start with '/'"),
        ("", "prefix must start with '/'"),
        ("/a?b", "prefix must not contain '?': it is a path, not a URL"),
        ("/a#b", "prefix must not contain '#': it is a path, not a URL"),
        ("/a b", "prefix must not contain whitespace"),
        ("/a\tb", "prefix must not contain whitespace"),
        (
            "//a",
            "prefix must not contain '//': " + NORMAL,
        ),
        (
            "/a//",
            "prefix must not contain '//': " + NORMAL,
        ),
        (
            "/a/./b",
            "prefix must not contain '.' or '..' segments: " + NORMAL,
        ),
        (
            "/a/..",
            "prefix must not contain '.' or '..' segments: " + NORMAL,
        ),
        (
            "/%41",
            "prefix must write 'A' instead of %41: " + NORMAL,
        ),
        ("/%7e", "prefix must write percent-escapes in upper case (%7E)"),
        ("/%2F", "prefix must not contain %2F: requests with it are refused (400)"),
        ("/%5C", "prefix must not contain %5C: requests with it are refused (400)"),
        ("/%00", "prefix must not contain %00: requests with it are refused (400)"),
        ("/%2", "prefix has a '%' that is not followed by two hex digits"),
        ("/%zz", "prefix has a '%' that is not followed by two hex digits"),
        ("/ü", "prefix must percent-encode 'ü' (RFC 3986 path characters only)"),
        ("/a\\b", "prefix must percent-encode '\\\\' (RFC 3986 path characters only)"),
        ("/\x00", "prefix must percent-encode '\\x00' (RFC 3986 path characters only)"),
        (7, "must be a string, not an integer"),
    ],
)
def test_prefix_errors(prefix: JSON, message: str) -> None:
    assert errors(route(prefix=prefix)) == [f"routes.usermapping.prefix: {message}"]


def test_prefix_is_required() -> None:
    assert errors(with_("routes.usermapping", {"service": "users"})) == [
        "routes.usermapping.prefix: is required"
    ]


def test_rewrite_follows_the_prefix_rules() -> None:
    assert errors(route(rewrite="x")) == ["routes.usermapping.rewrite: rewrite must start with '/'"]
    assert paths(route(rewrite="/a/../b")) == ["routes.usermapping.rewrite"]
    assert from_dict(route(rewrite="/api/v2/")).routes["usermapping"].rewrite == "/api/v2/"


@pytest.mark.parametrize(
    ("fields", "problem"),
    [
        ({}, "has none of them"),
        ({"service": "users", "respond": {}}, "has 'service' and 'respond'"),
        ({"service": "users", "backends": [{"service": "users"}]}, "has 'service' and 'backends'"),
    ],
)
def test_exactly_one_target(fields: Data, problem: str) -> None:
    data = with_("routes.usermapping", {"prefix": "/", **fields})
    assert errors(data) == [
        f"routes.usermapping: needs exactly one of 'service', 'backends', 'respond'; {problem}"
    ]


def test_backends() -> None:
    data = with_(
        "routes.usermapping",
        {
            "prefix": "/user/",
            "backends": [{"service": "blue", "weight": 90}, {"service": "green", "weight": 0}],
        },
    )
    data["services"] = {"blue": {}, "green": {}}
    mapping = from_dict(data).routes["usermapping"]
    assert mapping.backends == (
        Backend(service="blue", weight=90),
        Backend(service="green", weight=0),
    )
    assert route_to_dict(mapping)["backends"] == [
        {"service": "blue", "weight": 90},
        {"service": "green", "weight": 0},
    ]
    # One backend of weight 1 is written back in the short form.
    single = parse_route("r", {"prefix": "/", "backends": [{"service": "blue"}]})
    assert route_to_dict(single)["service"] == "blue"
    heavy = parse_route("r", {"prefix": "/", "backends": [{"service": "blue", "weight": 5}]})
    assert route_to_dict(heavy)["backends"] == [{"service": "blue", "weight": 5}]


def backends(items: JSON) -> Data:
    data = with_("routes.usermapping", {"prefix": "/", "backends": items})
    data["services"] = {"blue": {}, "green": {}}
    return data


@pytest.mark.parametrize(
    ("items", "expected"),
    [
        ([], "backends: must list at least one {service, weight}"),
        ("blue", "backends: must be a list, not a string"),
        (
            [{"service": "blue", "weight": 0}],
            "backends: at least one backend needs a weight above 0",
        ),
        (
            [{"service": "blue"}, {"service": "blue"}],
            "backends[1].service: service 'blue' is listed twice",
        ),
        ([{"weight": 1}], "backends[0].service: is required"),
        ([{"service": "blue", "weight": -1}], "backends[0].weight: must be between 0 and 1000000"),
        (
            [{"service": "nope"}, {"service": "blue"}],
            "backends[0].service: no service named 'nope'",
        ),
        ([{"service": "a b"}], "backends[0].service: 'a b' is not a valid service name"),
    ],
)
def test_backend_errors(items: JSON, expected: str) -> None:
    assert errors(backends(items)) == [f"routes.usermapping.{expected}"]


def test_missing_service() -> None:
    assert errors(route(service="nope")) == ["routes.usermapping.service: no service named 'nope'"]
    assert errors(route(service="")) == ["routes.usermapping.service: must not be empty"]


def test_respond() -> None:
    data = with_(
        "routes.usermapping",
        {
            "prefix": "/",
            "respond": {"status": 503, "body": "down", "headers": {"Retry-After": "5"}},
        },
    )
    mapping = from_dict(data).routes["usermapping"]
    assert mapping.respond is not None and mapping.backends == ()
    assert (mapping.respond.status, mapping.respond.body, mapping.respond.headers) == (
        503, "down", (("retry-after", "5"),),
    )  # fmt: skip
    assert route_to_dict(mapping)["respond"] == {
        "status": 503,
        "body": "down",
        "headers": {"retry-after": "5"},
    }


@pytest.mark.parametrize(
    ("respond", "expected"),
    [
        ({"status": 199}, "respond.status: must be between 200 and 599"),
        ({"status": 600}, "respond.status: must be between 200 and 599"),
        ({"status": "200"}, "respond.status: must be an integer, not a string"),
        ({"body": 1}, "respond.body: must be a string, not an integer"),
        (
            {"headers": {"Content-Length": "3"}},
            "respond.headers.content-length: is set by the gateway",
        ),
        (
            {"headers": {"a": "\r\nx"}},
            "respond.headers.a: header values must be visible ASCII characters",
        ),
        (
            {"headers": []},
            "respond.headers: must be a mapping of header names to values, not a list",
        ),
        ({"stauts": 200}, "respond.stauts: unknown key; did you mean 'status'?"),
        ("ok", "respond: must be a mapping, not a string"),
    ],
)
def test_respond_errors(respond: JSON, expected: str) -> None:
    data = with_("routes.usermapping", {"prefix": "/", "respond": respond})
    assert errors(data) == [f"routes.usermapping.{expected}"]


@pytest.mark.parametrize(
    ("host", "normal"),
    [
        ("api.example.com", "api.example.com"),
        ("API.Example.COM", "api.example.com"),
        ("api.example.com:8080", "api.example.com"),
        ("api.example.com.", "api.example.com"),
        ("api.example.com.:443", "api.example.com"),
        ("*.example.com", "*.example.com"),
        ("*.Example.com.", "*.example.com"),
        ("127.0.0.1", "127.0.0.1"),
        ("[0::1]:8080", "[::1]"),
        ("svc_1", "svc_1"),
        (None, None),
    ],
)
def test_host_normal_form(host: JSON, normal: str | None) -> None:
    assert from_dict(route(host=host)).routes["usermapping"].host == normal


@pytest.mark.parametrize(
    ("host", "message"),
    [
        ("*", "a wildcard host is '*.' followed by a domain, like '*.example.com'"),
        ("a.*.com", "a wildcard host is '*.' followed by a domain, like '*.example.com'"),
        ("*.*.com", "a wildcard host is '*.' followed by a domain, like '*.example.com'"),
        ("*example.com", "a wildcard host is '*.' followed by a domain, like '*.example.com'"),
        ("*.[::1]", "a wildcard host is '*.' followed by a domain, like '*.example.com'"),
        ("-a.com", "invalid host name label '-a' in '-a.com'"),
        ("a_b!.com", "invalid host name label 'a_b!' in 'a_b!.com'"),
        ("a" * 64 + ".com", f"invalid host name label '{'a' * 64}' in '{'a' * 64}.com'"),
        ("a." * 127 + "com", "host name must have 1 to 253 characters"),
        ("", "must not be empty"),
        ("a.com:0", "port must be a number between 1 and 65535, not '0'"),
        ("a.com:x", "port must be a number between 1 and 65535, not 'x'"),
        ("1.2.3.400", "'1.2.3.400' is not a valid IPv4 address"),
        (["a.com"], "must be a string, not a list"),
    ],
)
def test_host_errors(host: JSON, message: str) -> None:
    assert errors(route(host=host)) == [f"routes.usermapping.host: {message}"]


def test_methods() -> None:
    mapping = from_dict(route(methods=["get", "POST", "GET", "PURGE"])).routes["usermapping"]
    assert mapping.methods == frozenset({"GET", "POST", "PURGE"})
    assert route_to_dict(mapping)["methods"] == ["GET", "POST", "PURGE"]
    assert from_dict(route(methods=None)).routes["usermapping"].methods is None
    assert errors(route(methods=[])) == [
        "routes.usermapping.methods: must list at least one method (or leave it out for any method)"
    ]
    assert errors(route(methods=["GET", "GE T"])) == [
        "routes.usermapping.methods[1]: method 'GE T' is not a valid token (RFC 9110 5.6.2)"
    ]
    assert errors(route(methods=[1])) == [
        "routes.usermapping.methods[0]: must be a string, not an integer"
    ]
    assert errors(route(methods="GET")) == [
        "routes.usermapping.methods: must be a list, not a string"
    ]


def test_headers() -> None:
    mapping = from_dict(route(headers={"X-Canary": "1", "a": "", "b": "x y"})).routes["usermapping"]
    assert mapping.headers == (("a", ""), ("b", "x y"), ("x-canary", "1"))
    assert from_dict(route(headers=None)).routes["usermapping"].headers == ()


@pytest.mark.parametrize(
    ("headers", "expected"),
    [
        (
            {"x-a": "1", "X-A": "2"},
            "headers.X-A: is given twice (header names are case-insensitive)",
        ),
        ({"x a": "1"}, "headers.x a: header name 'x a' is not a valid token (RFC 9110 5.6.2)"),
        ({"x": 1}, "headers.x: must be a string, not an integer"),
        ({"x": " 1"}, "headers.x: header values must not start or end with whitespace"),
        ({"x": "é"}, "headers.x: header values must be visible ASCII characters"),
        ("x-canary", "headers: must be a mapping of header names to values, not a string"),
    ],
)
def test_header_errors(headers: JSON, expected: str) -> None:
    assert errors(route(headers=headers)) == [f"routes.usermapping.{expected}"]


def test_priority_and_host_rewrite() -> None:
    mapping = from_dict(route(priority=-3, host_rewrite="backend.local:8080")).routes["usermapping"]
    assert (mapping.priority, mapping.host_rewrite) == (-3, "backend.local:8080")
    assert from_dict(route(host_rewrite="[::1]")).routes["usermapping"].host_rewrite == "[::1]"
    assert errors(route(priority=2**31)) == [
        "routes.usermapping.priority: must be between -2147483648 and 2147483647"
    ]
    assert errors(route(priority=False)) == [
        "routes.usermapping.priority: must be an integer, not a boolean"
    ]
    assert errors(route(host_rewrite="a b")) == [
        "routes.usermapping.host_rewrite: invalid host name label 'a b' in 'a b'"
    ]
    assert errors(route(host_rewrite="a:99999")) == [
        "routes.usermapping.host_rewrite: port must be a number between 1 and 65535, not '99999'"
    ]


@pytest.mark.parametrize(
    ("value", "max_body", "unlimited", "dumped"),
    [
        ("inherit", None, False, "inherit"),
        (None, None, True, None),
        ("unlimited", None, True, None),
        ("1MiB", 2**20, False, 2**20),
        (0, 0, False, 0),
    ],
)
def test_route_max_body(value: JSON, max_body: int | None, unlimited: bool, dumped: JSON) -> None:
    mapping = from_dict(route(max_body=value)).routes["usermapping"]
    assert (mapping.max_body, mapping.max_body_unlimited) == (max_body, unlimited)
    assert route_to_dict(mapping)["max_body"] == dumped


def test_route_max_body_absent_inherits() -> None:
    mapping = from_dict(base()).routes["usermapping"]
    assert (mapping.max_body, mapping.max_body_unlimited) == (None, False)
    assert mapping.body_limit(100) == 100
    assert (
        parse_route("r", {"prefix": "/", "service": "s", "max_body": None}).body_limit(100) is None
    )
    assert parse_route("r", {"prefix": "/", "service": "s", "max_body": 5}).body_limit(100) == 5
    assert errors(route(max_body="lots")) == [
        "routes.usermapping.max_body: 'lots' is not a size "
        "(use e.g. 65536, '64KiB', '100MiB', '1GB')"
    ]
    with pytest.raises(ValueError, match="both a size and unlimited"):
        Route(name="r", prefix="/", max_body=1, max_body_unlimited=True)


@pytest.mark.parametrize("name", ["a", "A.b_c-1", "0", "x" * 128])
def test_valid_names(name: str) -> None:
    data = base()
    data["routes"] = {name: {"prefix": "/", "service": "users"}}
    assert name in from_dict(data).routes


@pytest.mark.parametrize("name", ["", "-a", ".a", "a b", "a/b", "x" * 129, "é"])
def test_invalid_names(name: str) -> None:
    data = base()
    data["routes"] = {name: {"prefix": "/", "service": "users"}}
    assert paths(data) == [f"routes.{name}"]
    data = base()
    data["services"] = {name: {}}
    assert paths(data) == [f"services.{name}", "routes.usermapping.service"]


# --- limits, timeouts, etcd, state, access_log ------------------------------------


def test_limits_and_timeouts() -> None:
    config = from_dict(
        with_(
            "limits",
            {
                "max_request_line": "16KiB",
                "max_header_bytes": 1024,
                "max_body": None,
                "max_connections": 10,
            },
            with_(
                "timeouts",
                {"header_read": "5s", "idle": 1, "connect": "100ms", "response": "2m", "grace": 0},
            ),
        )
    )
    assert (
        config.limits.max_request_line,
        config.limits.max_body,
        config.limits.max_connections,
    ) == (
        16384,
        None,
        10,
    )
    assert (config.timeouts.idle, config.timeouts.connect, config.timeouts.grace) == (1.0, 0.1, 0.0)
    dumped = to_dict(config)
    assert dumped["limits"] == {
        "max_request_line": 16384,
        "max_header_bytes": 1024,
        "max_body": None,
        "max_connections": 10,
    }
    assert dumped["timeouts"] == {
        "header_read": "5s", "idle": "1s", "connect": "100ms", "response": "2m", "grace": "0s",
    }  # fmt: skip
    assert from_dict(with_("limits", {"max_body": "unlimited"})).limits.max_body is None


@pytest.mark.parametrize(
    ("path", "value", "expected"),
    [
        ("limits.max_request_line", 0, "must be at least 1 bytes"),
        (
            "limits.max_header_bytes",
            "1.5KiB",
            "'1.5KiB' is not a size (use e.g. 65536, '64KiB', '100MiB', '1GB')",
        ),
        ("limits.max_body", -1, "must not be negative"),
        ("limits.max_connections", 0, "must be between 1 and 1000000"),
        ("limits.max_conections", 1, "unknown key; did you mean 'max_connections'?"),
        ("timeouts.idle", "0ms", "must be greater than 0"),
        ("timeouts.grace", "-1s", "'-1s' is not a duration (use e.g. '250ms', '10s', '5m', '1h')"),
        ("timeouts.response", True, "must be a duration like '250ms', '10s', '5m' or '1h'"),
        ("state", "", "must not be empty"),
        ("access_log", "xml", "must be one of text, json, off; got 'xml'"),
        ("access_log", None, "must be one of text, json, off; got None"),
    ],
)
def test_top_level_errors(path: str, value: JSON, expected: str) -> None:
    assert errors(with_(path, value)) == [f"{path}: {expected}"]


def test_etcd() -> None:
    etcd: dict[str, JSON] = {
        "endpoints": "http://a:2379, https://b:2379/",
        "prefix": "/gw/prod/",
        "resync": "1m",
        "user": "gw",
        "password": "pw",
        "ca": "ca.pem",
        "cert": "c.pem",
        "key": "k.pem",
    }
    config = from_dict(with_("etcd", etcd))
    assert config.etcd is not None
    assert config.etcd.endpoints == ("http://a:2379", "https://b:2379/")
    assert (config.etcd.prefix, config.etcd.resync, config.etcd.password) == (
        "/gw/prod/",
        60.0,
        "pw",
    )
    assert to_dict(config)["etcd"] == {
        **etcd,
        "endpoints": ["http://a:2379", "https://b:2379/"],
        "resync": "1m",
    }
    assert from_dict(with_("etcd", None)).etcd is None
    listed = from_dict(with_("etcd", {"endpoints": ["http://127.0.0.1:2379"]})).etcd
    assert listed is not None and listed.prefix == "/gw/"


@pytest.mark.parametrize(
    ("etcd", "expected"),
    [
        ({}, "etcd.endpoints: is required, like [http://127.0.0.1:2379]"),
        ({"endpoints": []}, "etcd.endpoints: needs at least one URL, like http://127.0.0.1:2379"),
        (
            {"endpoints": ["http://a:1", "a:1"]},
            "etcd.endpoints[1]: 'a:1' is not an http:// or https:// URL",
        ),
        ({"endpoints": "http://a:1,"}, "etcd.endpoints: must not be empty"),
        ({"endpoints": ["http://a:1/v3"]}, "etcd.endpoints[0]: URL must not have a path"),
        ({"endpoints": None}, "etcd.endpoints: must be a list, not null"),
        (
            {"endpoints": ["http://a"], "prefix": "gw/"},
            "etcd.prefix: must start and end with '/', like /gw/",
        ),
        (
            {"endpoints": ["http://a"], "prefix": "/gw"},
            "etcd.prefix: must start and end with '/', like /gw/",
        ),
        ({"endpoints": ["http://a"], "resync": 0}, "etcd.resync: must be greater than 0"),
        ({"endpoints": ["http://a"], "cert": "c"}, "etcd.key: cert and key go together"),
        ({"endpoints": ["http://a"], "key": "k"}, "etcd.cert: cert and key go together"),
        ({"endpoints": ["http://a"], "password": "p"}, "etcd.user: is required with a password"),
        ("http://a", "etcd: must be a mapping, not a string"),
    ],
)
def test_etcd_errors(etcd: JSON, expected: str) -> None:
    assert errors(with_("etcd", etcd)) == [expected]


# --- single entries and validate() ----------------------------------------------


def test_parse_route_and_service_name_their_paths() -> None:
    assert parse_route("r1", {"prefix": "/a", "service": "s"}).name == "r1"
    with pytest.raises(ConfigError) as info:
        parse_route("r1", {"prefix": "a", "service": "s", "x": 1})
    assert [str(e) for e in info.value.errors] == [
        "routes.r1.x: unknown key (known: prefix, rewrite, service, backends, respond, host, "
        "methods, headers, priority, host_rewrite, max_body)",
        "routes.r1.prefix: prefix must start with '/'",
    ]
    with pytest.raises(ConfigError) as info:
        parse_route("bad name", {"prefix": "/", "service": "s"})
    assert [e.path for e in info.value.errors] == ["routes.bad name"]
    with pytest.raises(ConfigError) as info:
        parse_service("users", {"retries": "2"})
    assert [str(e) for e in info.value.errors] == [
        "services.users.retries: must be an integer, not a string"
    ]
    # Stage variables and services are for validate() to check.
    assert (
        parse_service("s", {"endpoints": ["http://${stageVariables.x}"]}).endpoints[0].weight == 1
    )


def test_validate_checks_references_after_an_upsert() -> None:
    config = from_dict(base())
    validate(config)
    upserted = Config(
        routes=config.routes.set("new", parse_route("new", {"prefix": "/n", "service": "gone"})),
        services=config.services.set(
            "s2", parse_service("s2", {"endpoints": ["http://${stageVariables.h}"]})
        ),
    )
    with pytest.raises(ConfigError) as info:
        validate(upserted)
    assert [str(e) for e in info.value.errors] == [
        "routes.new.service: no service named 'gone'",
        "services.s2.endpoints[0].url: uses stage variable 'h', but no stage is selected "
        "('stage:')",
    ]
    renamed = Config(
        routes=config.routes.set("x", config.routes["usermapping"]), services=config.services
    )
    with pytest.raises(ConfigError, match=r"routes\.x: holds a route named 'usermapping'"):
        validate(renamed)
    broken = Config(services=FrozenDict({"s": Service(endpoints=(Endpoint(url="http://${x"),))}))
    with pytest.raises(
        ConfigError, match=r"services.s.endpoints\[0\].url: write stage variable references"
    ):
        validate(broken)


def test_entry_round_trips() -> None:
    users = from_dict(EXAMPLE).services["users"]
    assert parse_service("users", json.loads(json.dumps(service_to_dict(users)))) == users
    mapping = from_dict(EXAMPLE).routes["usermapping"]
    assert parse_route("usermapping", route_to_dict(mapping)) == mapping


# --- properties -----------------------------------------------------------------


@given(config_dicts())
def test_valid_configs_round_trip(data: Data) -> None:
    config = from_dict(data)
    dumped = to_dict(config)
    assert json.loads(json.dumps(dumped)) == dumped
    assert from_dict(dumped) == config
    assert to_dict(from_dict(dumped)) == dumped
    # The input is never modified.
    assert from_dict(copy.deepcopy(data)) == config


@given(configs())
def test_configs_strategy_builds_configs(config: Config) -> None:
    validate(config)
    for name, route_ in config.routes.items():
        assert parse_route(name, route_to_dict(route_)) == route_
    for name, service_ in config.services.items():
        assert parse_service(name, service_to_dict(service_)) == service_


@given(routes(), route_dicts(()), service_dicts(("v",)))
def test_entry_strategies(route_: Route, respond_only: Data, service_data: Data) -> None:
    assert route_.prefix.startswith("/")
    assert parse_route("r", respond_only).respond is not None
    assert parse_service("s", service_data).retries <= 10


@given(invalid_config_dicts())
def test_invalid_mutations_are_reported_at_their_path(case: tuple[Data, str]) -> None:
    data, path = case
    with pytest.raises(ConfigError) as info:
        from_dict(data)
    found = [error.path for error in info.value.errors]
    assert found and all(isinstance(p, str) for p in found)
    assert any(p == path or p.startswith((path + ".", path + "[")) for p in found), (path, found)


# Arbitrary JSON-ish data, biased towards the schema's keys and values so that it
# gets past the first checks often.
_KEYS = st.sampled_from(
    ["listen", "routes", "services", "prefix", "service", "endpoints", "url", "weight", "stage",
     "stages", "variables", "health", "passive", "active", "backends", "respond", "max_body",
     "headers", "methods", "host", "etcd", "timeouts", "limits", "admin", "tls", "r", "s", "x"]
)  # fmt: skip
_SCALARS = (
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats()
    | st.text(max_size=8)
    | st.sampled_from(
        ["/a/", "http://a", "10s", "1KiB", "127.0.0.1:1", "${stageVariables.x}", "inherit"]
    )
)
ANY_DATA = st.recursive(
    _SCALARS,
    lambda children: (
        st.lists(children, max_size=4)
        | st.dictionaries(_KEYS | st.text(max_size=4), children, max_size=5)
    ),
    max_leaves=30,
)


@given(ANY_DATA)
def test_any_data_gives_a_config_or_a_config_error(data: JSON) -> None:
    try:
        config = from_dict(data)
    except ConfigError as exc:
        assert exc.errors
        return
    assert from_dict(to_dict(config)) == config


def test_messages_never_print_whole_containers_or_huge_ints() -> None:
    loop: list[object] = []
    loop.append(loop)
    assert errors({"access_log": loop}) == [
        "access_log: must be one of text, json, off; got a list"
    ]
    assert errors({"access_log": 10**5000}) == [
        "access_log: must be one of text, json, off; got a huge integer"
    ]
    assert errors({10**5000: 1}) == ["a huge integer: keys must be strings"]
    assert paths({"stages": {"d": {"variables": {(1, 2): "x"}}}}) == ["stages.d.variables.tuple"]
    assert paths({"routes": {None: {}}}) == ["routes.None"]
