"""The Gateway: decide, outcome, apply, tick, stats, explain."""

from __future__ import annotations

import dataclasses

import pytest

from gwcore._frozen import FrozenDict
from gwcore.config import (
    Active,
    Balancer,
    BalancerKind,
    Health,
    Limits,
    Passive,
    RetryBudget,
    ServiceTimeouts,
)
from gwcore.errors import (
    ConfigError,
    MethodNotAllowed,
    NoHealthyEndpoint,
    NoRouteError,
    RequestError,
    UpstreamError,
    UpstreamTimeout,
)
from gwcore.events import (
    ConfigReplaced,
    ConnectFailed,
    EtcdKeyDeleted,
    EtcdKeySet,
    EtcdReachable,
    EtcdUnreachable,
    Forward,
    InstanceDeregistered,
    InstanceHeartbeat,
    InstanceRegistered,
    ProbeFailed,
    ProbeSucceeded,
    Request,
    Respond,
    ResponseReceived,
    RouteDeleted,
    RouteUpserted,
    ServiceDeleted,
    ServiceUpserted,
    UpstreamReset,
    UpstreamTimedOut,
)
from gwcore.gateway import Choice, Gateway
from gwcore.health import State
from tests.gwcore.helpers import config, request, respond_route, route, service, three

OK = ResponseReceived(status=200, latency=0.01)
UNAVAILABLE = ResponseReceived(status=503, latency=0.01)
REFUSED = ConnectFailed(reason="refused")


def forward(gw: Gateway, *args: object, now: float = 0.0, **kwargs: object) -> Forward:
    decision = gw.decide(request(*args, **kwargs), now)  # type: ignore[arg-type]
    assert isinstance(decision, Forward)
    return decision


def test_forward_fields() -> None:
    svc = service(
        "https://u1:8443/base/",
        timeouts=ServiceTimeouts(connect=1.5),
    )
    cfg = config({"users": svc}, [route("u", "/user/", "users", rewrite="/v1/", max_body=10)])
    gw = Gateway(cfg)
    fwd = forward(
        gw, "/user/a/../b?x=1&y", method="POST",
        headers=[("connection", "x-hop, keep-alive"), ("x-hop", "1"), ("keep-alive", "5"),
                 ("transfer-encoding", "chunked"), ("te", "trailers"), ("upgrade", "h2c"),
                 ("content-length", "3"), ("x-forwarded-for", "1.1.1.1"), ("via", "1.0 edge"),
                 ("x-request-id", "client-id"), ("accept", "*/*")],
    )  # fmt: skip
    assert (fwd.route, fwd.service, fwd.endpoint) == ("u", "users", "https://u1:8443/base")
    assert (fwd.scheme, fwd.host, fwd.port) == ("https", "u1", 8443)
    assert fwd.target == "/base/v1/b?x=1&y"
    assert fwd.headers == (
        ("host", "api.test"),
        ("content-length", "3"),
        ("accept", "*/*"),
        ("x-forwarded-for", "1.1.1.1, 192.0.2.7"),
        ("x-forwarded-host", "api.test"),
        ("x-forwarded-proto", "http"),
        ("via", "1.0 edge, 1.1 gw"),
        ("x-request-id", "client-id"),
    )
    assert fwd.request_id == "client-id"
    assert (fwd.connect_timeout, fwd.response_timeout, fwd.max_body) == (1.5, 30.0, 10)
    assert fwd.idempotent is False and fwd.attempt == 0 and fwd.tried == {fwd.endpoint}
    assert fwd.panic is False


@pytest.mark.parametrize(
    ("rid", "expected"),
    [("ok-1", "ok-1"), ("has space", "fresh"), ("x" * 201, "fresh"), ("x" * 200, "x" * 200),
     ("", "fresh"), ("é", "fresh")],
)  # fmt: skip
def test_request_id(rid: str, expected: str) -> None:
    gw = Gateway(three())
    fwd = forward(gw, headers=[("x-request-id", rid)], rid="fresh")
    assert fwd.request_id == expected
    assert ("x-request-id", expected) in fwd.headers


def test_host_policy_and_defaults() -> None:
    cfg = config(
        {"svc": service("http://up:81")},
        [route("r", "/", host_rewrite="internal.svc"), route("plain", "/plain/")],
    )
    cfg = dataclasses.replace(cfg, limits=Limits(max_body=None))
    gw = Gateway(cfg)
    assert forward(gw).headers[0] == ("host", "internal.svc")
    late = gw.decide(Request(method="GET", target="/", headers=(("a", "1"), ("host", "late"))), 0)
    assert isinstance(late, Forward) and ("x-forwarded-host", "late") in late.headers
    bare = forward(gw, "/plain/x", host=None)
    assert bare.headers[0] == ("host", "up:81")
    assert not any(name == "x-forwarded-host" for name, _ in bare.headers)
    assert (bare.max_body, bare.connect_timeout) == (None, 2.0)
    no_client = gw.decide(dataclasses.replace(request("/plain/"), client=""), 0.0)
    assert isinstance(no_client, Forward)
    assert not any(name == "x-forwarded-for" for name, _ in no_client.headers)


def test_respond_route_and_request_errors() -> None:
    cfg = config(
        {"svc": service("http://a")},
        [
            respond_route("ping", "/ping", 200, "pong"),
            route("r", "/api/", methods=frozenset({"GET"})),
        ],
    )
    gw = Gateway(cfg)
    answer = gw.decide(request("/ping", rid="id-9"), 0.0)
    assert answer == Respond(request_id="id-9", route="ping", status=200, body=b"pong")
    with pytest.raises(RequestError):
        gw.decide(request("/a/%2F"), 0.0)
    with pytest.raises(RequestError):
        gw.decide(request("http://absolute/"), 0.0)
    with pytest.raises(NoRouteError):
        gw.decide(request("/nothing"), 0.0)
    with pytest.raises(MethodNotAllowed):
        gw.decide(request("/api/x", method="POST"), 0.0)
    stats = gw.stats(0.0)
    assert [(r.name, r.requests, r.responses) for r in stats.routes] == [
        ("ping", 1, (("2xx", 1),)),
        ("r", 0, ()),
    ]


def test_traffic_split_is_exact_and_promotable() -> None:
    cfg = config(
        {"blue": service("http://blue"), "green": service("http://green")},
        [route("r", "/", {"blue": 9, "green": 1})],
    )
    gw = Gateway(cfg)
    picks = [forward(gw).service for _ in range(20)]
    assert picks.count("blue") == 18 and picks.count("green") == 2
    assert picks[:10].count("green") == 1  # smooth: never two in a row
    promoted = gw.apply(RouteUpserted(route=route("r", "/", {"blue": 0, "green": 1})), 1.0)
    assert promoted.changed and promoted.summary == ("route r: updated",)
    assert {forward(gw).service for _ in range(5)} == {"green"}
    gw.apply(RouteUpserted(route=route("r", "/", {"blue": 0, "green": 0})), 2.0)
    with pytest.raises(NoHealthyEndpoint, match="every backend has weight 0"):
        gw.decide(request(), 3.0)
    assert gw.stats(3.0).routes[0].responses == (("5xx", 1),)


@pytest.mark.parametrize(
    ("balancer", "same", "other"),
    [
        (Balancer(kind=BalancerKind.HASH_HEADER, key="x-user"),
         {"headers": [("x-user", "alice")]}, {"headers": [("x-user", "bob")]}),
        (Balancer(kind=BalancerKind.HASH_COOKIE, key="sid"),
         {"headers": [("cookie", "a=1; sid=s1")]}, {"headers": [("cookie", "sid=s2")]}),
        (Balancer(kind=BalancerKind.HASH_CLIENT_IP), {"client": "10.1.1.1"},
         {"client": "10.2.2.2"}),
    ],
)  # fmt: skip
def test_hash_balancers_are_sticky(
    balancer: Balancer, same: dict[str, object], other: dict[str, object]
) -> None:
    urls = [f"http://e{i}" for i in range(10)]
    gw = Gateway(config({"svc": service(*urls, balancer=balancer)}, [route("r")]))
    assert len({forward(gw, **same).endpoint for _ in range(5)}) == 1  # type: ignore[arg-type]
    keys = [f"k{i}" for i in range(40)]
    if "headers" in other:
        name = "x-user" if balancer.kind is BalancerKind.HASH_HEADER else "cookie"
        prefix = "" if name == "x-user" else "sid="
        spread = {forward(gw, headers=[(name, prefix + k)]).endpoint for k in keys}
    else:
        spread = {forward(gw, client=f"10.0.0.{i}").endpoint for i in range(40)}
    assert len(spread) > 3
    # No key at all: round robin over the endpoints.
    assert len({forward(gw, client="").endpoint for _ in range(10)}) == 10
    keyless = [("cookie", "other=1"), ("x-other", "1")]
    assert len({forward(gw, client="", headers=keyless).endpoint for _ in range(10)}) == 10


def test_least_request_tracks_in_flight() -> None:
    gw = Gateway(three(balancer=Balancer(kind=BalancerKind.LEAST_REQUEST)))
    first = forward(gw)
    second = forward(gw)
    third = forward(gw)
    assert len({first.endpoint, second.endpoint, third.endpoint}) == 3  # spread while busy
    gw.finish(first, 1.0)
    gw.finish(first, 1.0)  # a repeated finish cannot go below zero
    assert forward(gw).endpoint == first.endpoint  # the only idle one wins


def test_retry_rules() -> None:
    gw = Gateway(three())
    fwd = forward(gw, "/x?q")
    retry = gw.outcome(fwd, UNAVAILABLE, 0.0)
    assert retry is not None and retry.attempt == 1 and retry.endpoint != fwd.endpoint
    assert retry.tried == {fwd.endpoint, retry.endpoint} and retry.target == "/x?q"
    assert gw.outcome(retry, OK, 0.0) is None
    gw.finish(retry, 0.0)
    # POST: a 503 is the answer; a connect failure is retried; a sent timeout is not.
    post = forward(gw, method="POST")
    assert gw.outcome(post, UNAVAILABLE, 0.0) is None
    gw.finish(post, 0.0)
    post = forward(gw, method="POST")
    again = gw.outcome(post, REFUSED, 0.0)
    assert again is not None
    with pytest.raises(UpstreamTimeout, match="not idempotent"):
        gw.outcome(again, UpstreamTimedOut(request_sent=True), 0.0)
    keyed = forward(gw, method="POST", headers=[("idempotency-key", "k")])
    assert gw.outcome(keyed, UpstreamTimedOut(), 0.0) is not None
    # Once response bytes went out nothing is retried.
    got = forward(gw)
    with pytest.raises(UpstreamError, match="mid-response"):
        gw.outcome(got, UpstreamReset(response_started=True), 0.0)
    stats = gw.stats(0.0)
    assert stats.services[0].retries == 3


def test_retry_gives_up_with_the_reason() -> None:
    gw = Gateway(three(retries=1))
    fwd = forward(gw)
    retry = gw.outcome(fwd, REFUSED, 0.0)
    assert retry is not None
    with pytest.raises(UpstreamError, match=r"gave up after 2 attempts \(retries: 1\)"):
        gw.outcome(retry, REFUSED, 0.0)
    gw = Gateway(config({"svc": service("http://a", "http://b")}, [route("r")]))
    fwd = forward(gw)
    retry = gw.outcome(fwd, REFUSED, 0.0)
    assert retry is not None
    with pytest.raises(
        UpstreamError, match=r"every healthy endpoint was tried \(2 tried\)"
    ) as info:
        gw.outcome(retry, REFUSED, 0.0)
    assert info.value.status_hint == 502
    # The last 5xx response is passed through when nothing is left to try.
    fwd = forward(gw)
    retry = gw.outcome(fwd, UNAVAILABLE, 0.0)
    assert retry is not None and gw.outcome(retry, UNAVAILABLE, 0.0) is None


def test_retry_budget_stops_retries() -> None:
    budget = RetryBudget(ratio=0.0, min_per_second=0.1)  # one retry per 10 s window
    gw = Gateway(three(retry_budget=budget))
    assert gw.outcome(forward(gw), REFUSED, 0.0) is not None
    with pytest.raises(UpstreamError, match="retry budget"):
        gw.outcome(forward(gw), REFUSED, 0.0)


def test_retry_when_rest_is_ejected_and_host_follows_endpoint() -> None:
    passive = Passive(consecutive_failures=1)
    gw = Gateway(config({"svc": service("http://a:1/p", "http://b:2/q", passive=passive)},
                        [route("r")]))  # fmt: skip
    first = forward(gw, "/x", host=None)
    assert first.headers[0] == ("host", "a:1") and first.target == "/p/x"
    retry = gw.outcome(first, REFUSED, 0.0)  # a is ejected now
    assert retry is not None and retry.headers[0] == ("host", "b:2") and retry.target == "/q/x"
    with pytest.raises(UpstreamError, match="not retried: service 'svc' cannot serve"):
        gw.outcome(retry, REFUSED, 0.0)
    with pytest.raises(NoHealthyEndpoint, match="all 2 endpoints are ejected"):
        gw.decide(request(), 0.0)


def test_panic_routes_over_all_and_says_so() -> None:
    passive = Passive(consecutive_failures=1)
    gw = Gateway(config({"svc": service("http://a", "http://b", passive=passive, panic=True)},
                        [route("r")]))  # fmt: skip
    retry = gw.outcome(forward(gw), REFUSED, 0.0)
    assert retry is not None
    with pytest.raises(UpstreamError):
        gw.outcome(retry, REFUSED, 0.0)  # both ejected now, both tried
    fwd = forward(gw)
    assert fwd.panic is True
    retry = gw.outcome(fwd, REFUSED, 0.0)
    assert retry is not None and retry.panic is True
    stats = gw.stats(0.0).services[0]
    assert stats.panics == 2 and stats.healthy_members == 0


def test_outcome_after_service_removed() -> None:
    gw = Gateway(config({"svc": service("http://a"), "new": service("http://n")},
                        [route("r", "/", "svc")]))  # fmt: skip
    fwd = forward(gw)
    gw.apply(RouteUpserted(route=route("r", "/", "new")), 1.0)
    gw.apply(ServiceDeleted(name="svc"), 1.0)
    with pytest.raises(UpstreamError, match="was removed"):
        gw.outcome(fwd, REFUSED, 1.0)
    gw.finish(fwd, 1.0)  # harmless
    gw.apply(RouteDeleted(name="r"), 1.0)
    assert gw.outcome(fwd, OK, 1.0) is None


def test_apply_routes_and_services() -> None:
    gw = Gateway(three())
    assert gw.generation == 1 and gw.config == three()
    same = gw.apply(RouteUpserted(route=route("r")), 0.0)
    assert (same.changed, same.generation) == (False, 1)
    created = gw.apply(RouteUpserted(route=route("s", "/s/")), 0.0)
    assert created.changed and created.generation == 2 and created.summary == ("route s: created",)
    assert gw.apply(RouteDeleted(name="s"), 0.0).summary == ("route s: deleted",)
    assert gw.apply(RouteDeleted(name="s"), 0.0).changed is False
    added = gw.apply(ServiceUpserted(name="x", service=service("http://x")), 0.0)
    assert added.summary == ("service x: created",)
    assert gw.apply(ServiceDeleted(name="x"), 0.0).summary == ("service x: deleted",)
    assert gw.apply(ServiceDeleted(name="x"), 0.0).changed is False
    with pytest.raises(ConfigError, match="still used by route"):
        gw.apply(ServiceDeleted(name="svc"), 0.0)
    with pytest.raises(ConfigError):
        gw.apply(RouteUpserted(route=route("bad", "/b/", "nope")), 0.0)
    with pytest.raises(ConfigError):
        gw.apply(RouteUpserted(route=route("tie", "/")), 0.0)  # ties with r
    with pytest.raises(ConfigError):
        gw.apply(ServiceUpserted(name="svc", service=service("ftp://x")), 0.0)
    assert gw.generation == 5
    updated = gw.apply(ServiceUpserted(name="svc", service=service("http://only")), 0.0)
    assert updated.summary == ("service svc: updated",)
    assert forward(gw).endpoint == "http://only"


def test_reload_keeps_health_counters_and_rotation() -> None:
    passive = Passive(consecutive_failures=1, ejection=30.0)
    cfg = three(passive=passive)
    gw = Gateway(cfg)
    retry = gw.outcome(forward(gw), ConnectFailed(), 0.0)  # ejects a
    assert retry is not None and gw.outcome(retry, OK, 0.0) is None
    gw.apply(ConfigReplaced(config=dataclasses.replace(cfg, routes=FrozenDict())), 1.0)
    gw.apply(ConfigReplaced(config=cfg), 2.0)
    assert gw.health.state("svc", "http://10.0.0.1:9001") is State.EJECTED
    assert gw.stats(2.0).services[0].requests == 1
    assert gw.apply(ConfigReplaced(config=cfg), 2.0).changed is False
    # A balancer change replaces the policy, keeping everything else.
    least = three(passive=passive, balancer=Balancer(kind=BalancerKind.LEAST_REQUEST))
    gw.apply(ConfigReplaced(config=least), 3.0)
    assert forward(gw, now=3.0).endpoint != "http://10.0.0.1:9001"


def test_etcd_endpoints() -> None:
    svc = service("etcd(users, http://default:1)", "http://static")
    gw = Gateway(config({"svc": svc}, [route("r")]))
    assert gw.watched_keys == {"users"}
    assert {forward(gw).endpoint for _ in range(2)} == {"http://default:1", "http://static"}
    moved = gw.apply(EtcdKeySet(key="users", value="http://moved:2"), 1.0)
    assert moved.changed and moved.generation == 2 and not moved.warnings
    assert {forward(gw).endpoint for _ in range(2)} == {"http://moved:2", "http://static"}
    garbage = gw.apply(EtcdKeySet(key="users", value="not a url"), 2.0)
    assert not garbage.changed and garbage.warnings and "not a url" in garbage.warnings[0]
    assert {forward(gw).endpoint for _ in range(2)} == {"http://moved:2", "http://static"}
    down = gw.apply(EtcdUnreachable(reason="timeout"), 3.0)
    assert down.changed and "timeout" in down.summary[0]
    assert {forward(gw).endpoint for _ in range(2)} == {"http://default:1", "http://static"}
    assert gw.apply(EtcdUnreachable(), 3.0).changed is False
    assert gw.apply(EtcdReachable(), 4.0).changed is True
    assert {forward(gw).endpoint for _ in range(2)} == {"http://moved:2", "http://static"}
    assert gw.apply(EtcdKeyDeleted(key="users"), 5.0).changed is True
    assert {forward(gw).endpoint for _ in range(2)} == {"http://default:1", "http://static"}
    assert gw.apply(EtcdKeySet(key="other", value="http://o"), 6.0).changed is False
    assert gw.choose("GET", "h", "/").endpoint in {"http://default:1", "http://static"}


def test_instances_register_expire_deregister() -> None:
    gw = Gateway(config({"svc": service()}, [route("r")]))
    with pytest.raises(NoHealthyEndpoint, match="no endpoints") as refused:
        gw.decide(request(), 0.0)
    assert refused.value.route == "r"  # the transport logs the route a 503 matched
    reg = gw.apply(InstanceRegistered(service="svc", instance="i1", url="http://i1", ttl=10), 0.0)
    assert reg.changed and gw.next_deadline() == 10.0
    assert forward(gw, now=1.0).endpoint == "http://i1"
    assert gw.apply(InstanceHeartbeat(service="svc", instance="i1"), 5.0).changed is False
    assert gw.next_deadline() == 15.0
    gen = gw.generation
    with pytest.raises(NoHealthyEndpoint):
        gw.decide(request(), 15.0)  # the lease ended: expired before deciding
    assert gw.generation == gen + 1 and gw.next_deadline() is None
    with pytest.raises(ConfigError, match="not registered"):
        gw.apply(InstanceHeartbeat(service="svc", instance="i1"), 16.0)
    with pytest.raises(ConfigError) as info:
        gw.apply(InstanceRegistered(service="svc", instance="i2", url="ftp://x"), 16.0)
    assert info.value.errors[0].path == "url"
    gw.apply(InstanceRegistered(service="svc", instance="i2", url="http://i2", ttl=1), 16.0)
    assert gw.tick(17.0) == () and gw.stats(17.0).services[0].members == 0
    gw.apply(InstanceRegistered(service="svc", instance="i3", url="http://i3"), 18.0)
    assert gw.apply(InstanceDeregistered(service="svc", instance="i3"), 19.0).changed is True
    assert gw.apply(InstanceDeregistered(service="svc", instance="i3"), 19.0).changed is False
    gw.apply(InstanceRegistered(service="ghost", instance="g", url="http://g", ttl=1), 20.0)
    gen = gw.generation
    gw.tick(21.0)  # expires an instance of a service nobody configured: nothing changes
    assert gw.generation == gen
    later = gw.apply(InstanceRegistered(service="later", instance="x", url="http://x"), 20.0)
    assert later.warnings and "not configured" in later.warnings[0]
    gw.apply(ServiceUpserted(name="later", service=service()), 21.0)
    gw.apply(RouteUpserted(route=route("l", "/l/", "later")), 21.0)
    assert forward(gw, "/l/", now=22.0).endpoint == "http://x"


def test_probes_and_deadlines() -> None:
    active = Active(interval=5.0, timeout=1.0, healthy=1, unhealthy=1)
    passive = Passive(consecutive_failures=1, ejection=100.0)
    cfg = config(
        {"svc": service("http://a", "http://b", passive=passive)},
        [route("r")],
    )
    cfg = dataclasses.replace(
        cfg,
        services=FrozenDict(
            {"svc": dataclasses.replace(cfg.services["svc"],
                                        health=Health(passive=passive, active=active))}
        ),
    )  # fmt: skip
    gw = Gateway(cfg)
    assert gw.next_deadline() == 0.0
    probes = gw.tick(1.0)
    assert [p.endpoint for p in probes] == ["http://a", "http://b"]
    assert gw.next_deadline() == 6.0
    gw.probe_result(ProbeFailed(service="svc", endpoint="http://a", reason="500"), 1.0)
    gw.probe_result(ProbeFailed(service="gone", endpoint="http://a"), 1.0)  # ignored
    gw.probe_result(ProbeFailed(service="svc", endpoint="http://left"), 1.0)  # ignored
    assert gw.health.record("svc", "http://left") is None
    assert {forward(gw).endpoint for _ in range(3)} == {"http://b"}
    stats = gw.stats(1.0).services[0]
    assert stats.healthy_members == 1 and stats.ejected[0].state == "unhealthy"
    assert stats.ejected[0].until is None
    gw.probe_result(ProbeSucceeded(service="svc", endpoint="http://a"), 2.0)
    retry = gw.outcome(forward(gw, now=2.0), REFUSED, 2.0)  # ejects one for 100 s
    assert retry is not None
    stats = gw.stats(2.0).services[0]
    assert stats.ejected[0].until == 102.0 and stats.ejected[0].state == "ejected"
    assert gw.next_deadline() == 6.0
    gw.apply(InstanceRegistered(service="svc", instance="i", url="http://i", ttl=1), 2.0)
    assert gw.next_deadline() == 2.0  # a new member is probed at once
    assert [p.endpoint for p in gw.tick(2.0)] == ["http://i"]
    assert gw.next_deadline() == 3.0  # its lease
    assert gw.tick(3.0) == ()
    assert gw.next_deadline() == 6.0 and gw.stats(3.0).services[0].members == 2
    # Probing switched off; the ejection of a removed endpoint still runs out.
    gw.apply(ConfigReplaced(config=three()), 4.0)
    assert gw.next_deadline() == 102.0
    gw.tick(102.0)
    assert gw.next_deadline() is None


def test_stats_snapshot() -> None:
    cfg = config({"svc": service("http://a", "http://b", weights=[1, 0])}, [route("r")])
    gw = Gateway(cfg)
    fwd = forward(gw)
    assert gw.outcome(fwd, ResponseReceived(status=404, latency=0.002), 0.0) is None
    gw.finish(fwd, 0.0)
    fwd = forward(gw)
    assert gw.outcome(fwd, ResponseReceived(status=500, latency=0.004), 0.0) is None
    stats = gw.stats(0.0)
    assert stats.generation == 1
    (svc,) = stats.services
    assert (svc.requests, svc.upstream_ok, svc.upstream_bad) == (2, 1, 1)
    assert (svc.members, svc.healthy_members, svc.latency_count) == (2, 1, 2)
    assert svc.latency_p50 == pytest.approx(0.002, rel=0.03)
    assert svc.latency_p99 == pytest.approx(0.004, rel=0.03)
    assert stats.routes[0].responses == (("4xx", 1), ("5xx", 1))


def test_explain_and_choose() -> None:
    cfg = config(
        {"svc": service("http://a/base", "http://b")},
        [route("r", "/api/", rewrite="/v2/"), respond_route("ping", "/ping")],
    )
    gw = Gateway(cfg)
    explanation = gw.explain("GET", "api.test", "/api/x")
    assert explanation.winner is not None and explanation.winner.name == "r"
    assert explanation.upstream_path == "/v2/x"
    first = gw.choose("GET", "api.test", "/api/x")
    assert gw.choose("GET", "api.test", "/api/x") == first  # looking moves nothing
    assert first == Choice(route="r", service="svc", endpoint="http://a/base",
                           target="/base/v2/x")  # fmt: skip
    assert forward(gw, "/api/x").endpoint == first.endpoint
    assert gw.choose("GET", "api.test", "/ping") == Choice(route="ping")
    with pytest.raises(NoRouteError):
        gw.choose("GET", "api.test", "/nope")


def test_invalid_initial_config() -> None:
    with pytest.raises(ConfigError) as info:
        Gateway(config({"svc": service("http://${stageVariables.missing}/")}, [route("r")]))
    assert "missing" in str(info.value)
    gw = Gateway(
        config({"svc": service("http://${stageVariables.h}:1/")}, [route("r")],
               variables={"h": "staged"})
    )  # fmt: skip
    assert forward(gw).endpoint == "http://staged:1"


def test_in_flight_counts_per_endpoint() -> None:
    gw = Gateway(config({"svc": service("http://a")}, [route("r")]))
    one, two = forward(gw), forward(gw)
    gw.finish(one, 0.0)
    assert gw._services["svc"].in_flight == {"http://a": 1}
    gw.finish(two, 0.0)
    assert gw._services["svc"].in_flight == {}


def test_connection_listed_names_are_dropped_even_gateway_ones() -> None:
    gw = Gateway(three())
    listed = [("connection", "X-Forwarded-For , Via"), ("x-forwarded-for", "6"), ("via", "1.0 x")]
    fwd = forward(gw, headers=listed)
    assert ("x-forwarded-for", "192.0.2.7") in fwd.headers
    assert ("via", "1.1 gw") in fwd.headers


def test_address_cache_is_bounded(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("gwcore.gateway._ADDRESS_CACHE", 2)
    gw = Gateway(three())
    for i in range(5):
        assert gw.address(f"http://h{i}").host == f"h{i}"
    assert len(gw._addresses) <= 2
