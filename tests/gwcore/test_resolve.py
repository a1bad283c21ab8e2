"""Endpoint resolution: URL parsing, stage variables, etcd values, instances."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from gwcore.config import Endpoint, Service
from gwcore.errors import ConfigError
from gwcore.resolve import (
    Address,
    EtcdSpec,
    Resolver,
    parse_endpoint,
    parse_endpoints,
    parse_url,
    stage_variables,
    substitute,
)
from tests.gwcore.helpers import config, service

# Host names made of DNS labels: any of them forms a valid static URL.
HOSTS = st.from_regex(r"[a-z][a-z0-9-]{0,10}(\.[a-z][a-z0-9-]{0,10}){0,2}", fullmatch=True)
# Ports an endpoint may name.
PORTS = st.integers(min_value=1, max_value=65535)


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("http://a", ("http://a", "a", 80, "", "a")),
        ("http://a/", ("http://a", "a", 80, "", "a")),
        (
            "https://A.Example:8443/api/",
            ("https://a.example:8443/api", "a.example", 8443, "/api", "a.example:8443"),
        ),
        ("HTTPS://h:443", ("https://h", "h", 443, "", "h")),
        ("http://[::1]:9000/x", ("http://[::1]:9000/x", "::1", 9000, "/x", "[::1]:9000")),
        ("http://[::1]", ("http://[::1]", "::1", 80, "", "[::1]")),
        (
            "  http://10.0.0.1:9001  ",
            ("http://10.0.0.1:9001", "10.0.0.1", 9001, "", "10.0.0.1:9001"),
        ),
    ],
)
def test_parse_url(url: str, expected: tuple[str, str, int, str, str]) -> None:
    address = parse_url(url)
    got = (address.identity, address.host, address.port, address.base, address.netloc)
    assert got == expected
    assert parse_url(address.identity) == address


@pytest.mark.parametrize(
    "url",
    ["ftp://a", "http://", "http://a:99999", "http://u:p@a", "http://a/?q=1", "http://a?",
     "http://a/#f", "http://a b/", "not a url", "", "http://a:x/"],
)  # fmt: skip
def test_parse_url_rejects(url: str) -> None:
    with pytest.raises(ConfigError):
        parse_url(url)


@given(scheme=st.sampled_from(["http", "https"]), host=HOSTS, port=PORTS)
def test_identity_round_trips(scheme: str, host: str, port: int) -> None:
    address = parse_url(f"{scheme}://{host}:{port}/base/")
    assert parse_url(address.identity) == address
    assert address.port == port and address.base == "/base"


def test_substitute() -> None:
    assert substitute("http://h", {}) == "http://h"
    assert substitute("http://${stageVariables.h}:${stageVariables.p}/", {"h": "x", "p": "1"}) == (
        "http://x:1/"
    )
    with pytest.raises(ConfigError, match="undefined stage variable 'nope'"):
        substitute("http://${stageVariables.nope}/", {"h": "x"})


def test_parse_endpoint() -> None:
    spec = parse_endpoint("etcd( users-key , http://${stageVariables.h}:9002 )", {"h": "d"})
    assert spec == EtcdSpec(key="users-key", default=parse_url("http://d:9002"))
    assert parse_endpoint("http://a", {}) == parse_url("http://a")
    with pytest.raises(ConfigError, match="expected etcd"):
        parse_endpoint("etcd(only-key)", {})
    with pytest.raises(ConfigError):
        parse_endpoint("etcd(k, ftp://x)", {})


def test_parse_endpoints_names_every_bad_one() -> None:
    svc = Service(endpoints=(Endpoint(url="http://ok"), Endpoint(url="bad"), Endpoint(url="x://")))
    with pytest.raises(ConfigError) as info:
        parse_endpoints("users", svc, {})
    assert [e.path for e in info.value.errors] == [
        "services.users.endpoints[1].url",
        "services.users.endpoints[2].url",
    ]
    assert parse_endpoints("users", service("http://a", weights=[3]), {}) == (
        (parse_url("http://a"), 3),
    )


def test_stage_variables() -> None:
    assert stage_variables(config({}, [])) == {}
    assert stage_variables(config({}, [], variables={"a": "1"})) == {"a": "1"}


def test_etcd_values_and_reachability() -> None:
    resolver = Resolver()
    spec = EtcdSpec(key="k", default=parse_url("http://default"))
    assert resolver.resolve(spec).identity == "http://default"  # unknown key
    assert resolver.etcd_set("k", "http://one:1") == (True, None)
    assert resolver.resolve(spec).identity == "http://one:1"
    assert resolver.etcd_set("k", "http://one:1") == (False, None)  # same value again
    changed, warning = resolver.etcd_set("k", "garbage")
    assert not changed and warning is not None and "garbage" in warning
    assert resolver.resolve(spec).identity == "http://one:1"  # previous value kept
    resolver.etcd_reachable = False
    assert resolver.resolve(spec).identity == "http://default"
    resolver.etcd_reachable = True
    assert resolver.resolve(spec).identity == "http://one:1"
    assert resolver.etcd_delete("k") is True
    assert resolver.etcd_delete("k") is False
    assert resolver.resolve(spec).identity == "http://default"


def test_members_merge_and_instances() -> None:
    resolver = Resolver()
    a = parse_url("http://a")
    specs = ((a, 1), (EtcdSpec(key="k", default=a), 2), (parse_url("http://b"), 0))
    members = resolver.members("svc", specs)
    assert [(m.identity, m.weight) for m in members] == [("http://a", 3), ("http://b", 0)]
    resolver.register("svc", "i1", parse_url("http://c"), weight=5, ttl=None, now=0.0)
    members = resolver.members("svc", specs)
    assert [m.identity for m in members] == ["http://a", "http://b", "http://c"]


def test_instances_lease() -> None:
    resolver = Resolver()
    c = parse_url("http://c")
    assert resolver.register("s", "i", c, weight=1, ttl=10.0, now=0.0) is True
    assert resolver.register("s", "i", c, weight=1, ttl=10.0, now=1.0) is False
    assert resolver.register("s", "j", c, weight=1, ttl=None, now=1.0) is True
    assert resolver.next_expiry() == 11.0
    resolver.heartbeat("s", "i", 5.0)
    resolver.heartbeat("s", "j", 5.0)  # no ttl: nothing to restart
    assert resolver.next_expiry() == 15.0
    assert resolver.expire(14.9) == ()
    assert resolver.expire(15.0) == ("s",)
    assert resolver.next_expiry() is None
    with pytest.raises(ConfigError, match="not registered"):
        resolver.heartbeat("s", "i", 16.0)
    assert resolver.deregister("s", "j") is True
    assert resolver.deregister("s", "j") is False
    assert resolver.instances == {}
    resolver.register("t", "x", c, weight=1, ttl=1.0, now=0.0)
    resolver.register("t", "y", c, weight=1, ttl=9.0, now=0.0)
    assert resolver.expire(5.0) == ("t",)
    assert set(resolver.instances["t"]) == {"y"}
    resolver.register("t", "z", c, weight=1, ttl=None, now=0.0)
    assert resolver.deregister("t", "z") is True
    assert set(resolver.instances["t"]) == {"y"}


def test_address_is_hashable_value() -> None:
    assert {parse_url("http://a"), parse_url("http://a/")} == {parse_url("http://a")}
    assert isinstance(parse_url("http://a"), Address)
