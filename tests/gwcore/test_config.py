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

from gwcore.config import (
    Backend,
    BalancerKind,
    Config,
    Endpoint,
    Route,
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
    assert sorted(paths(data)) == sorted([
        "listen[1]",
        "services.users.endpoints[2].url",
        "services.users.retries",
        "routes.usermapping.prefx",
        "routes.usermapping.prefix",
        "acces_log",
        "routes.other.service",
    ])
    messages = errors(data)
    assert "routes.usermapping.prefix: prefix must start with '/'" in messages
    assert "routes.usermapping.prefx: unknown key; did you mean 'prefix'?" in messages
    assert "acces_log: unknown key; did you mean 'access_log'?" in messages


def test_config_error_message_joins_all_problems() -> None:
    with pytest.raises(ConfigError) as info:
        from_dict({"stage": 1, "state": 2})
    assert info.value.reason == "stage: must be a string, not an integer; state: must be a string, not an integer"


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
        ([{"address": "a:1", "tls": {"cert": "c", "key": ""}}], "listen[0].tls.key: must not be empty"),
    ],
)
def test_listen_errors(listen: JSON, expected: str) -> None:
    assert errors(with_("listen", listen)) == [expected]


def test_admin() -> None:
    config = from_dict(
        with_("admin", {"listen": "[::1]:9000", "token": "t", "tls": {"cert": "c", "key": "k", "client_ca": "ca"}})
    )
    assert (config.admin.listen.host, config.admin.listen.port, config.admin.token) == ("::1", 9000, "t")
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
    assert errors(with_("admin", {"lisen": "x"})) == ["admin.lisen: unknown key; did you mean 'listen'?"]
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
    with pytest.raises(ValueError, match="^" + message.replace("(", r"\(").replace(")", r"\)") + "$"):
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
