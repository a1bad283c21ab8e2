"""The request path's shortcuts give what the plain computation gives: Forwards
built without the public constructor, settings resolved ahead of requests, the
eligible endpoints kept per service, and the header edits."""

from __future__ import annotations

import dataclasses

import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from gwcore import _headers
from gwcore._runtime import make_forward
from gwcore.config import Backend, Passive, Route, ServerTimeouts, ServiceTimeouts
from gwcore.errors import NoHealthyEndpoint, RequestError
from gwcore.events import ConfigReplaced, Forward, Request, Respond, ResponseReceived, RouteDeleted
from gwcore.gateway import Gateway
from gwcore.resolve import Member, parse_url
from gwcore.rewrite import normalise_path, split_normalised, split_target
from tests.gwcore.helpers import config, request, respond_route, route, service, three


def _forward(gw: Gateway, req: Request, now: float = 0.0) -> Forward:
    decision = gw.decide(req, now)
    assert isinstance(decision, Forward)
    return decision


def test_made_forward_is_an_ordinary_forward() -> None:
    member = Member(parse_url("https://up:8443/base"), 1)
    headers = (("host", "h"), ("via", "1.1 gw"))
    made = make_forward(
        "rid", "r", "svc", member, "/base/x", headers, 2, member.alone, False, 1.5, 9.0, None, True
    )
    public = Forward(
        request_id="rid", route="r", service="svc", endpoint="https://up:8443/base",
        scheme="https", host="up", port=8443, target="/base/x", headers=headers, attempt=2,
        tried=frozenset({"https://up:8443/base"}), idempotent=False, connect_timeout=1.5,
        response_timeout=9.0, max_body=None, panic=True,
    )  # fmt: skip
    assert type(made) is Forward
    assert made == public and hash(made) == hash(public) and repr(made) == repr(public)
    with pytest.raises(dataclasses.FrozenInstanceError):
        made.port = 1  # type: ignore[misc]
    assert dataclasses.replace(made, attempt=3).attempt == 3


def test_decide_equals_the_public_constructor() -> None:
    gw = Gateway(three())
    fwd = _forward(gw, request("/x?q=1"))
    rebuilt = Forward(**{f.name: getattr(fwd, f.name) for f in dataclasses.fields(Forward)})
    assert rebuilt == fwd


def test_a_rewrite_that_is_not_a_path_is_refused_at_request_time() -> None:
    gw = Gateway(config({"svc": service("http://a")}, [route("r", "/api/", rewrite="v1")]))
    with pytest.raises(ValueError, match="must start with '/'"):
        gw.decide(request("/api/x"), 0.0)


@pytest.mark.parametrize(
    ("prefix", "rewrite", "path", "upstream"),
    [("/", "/", "/", "/"), ("/api/", "/", "/api", "/"), ("/api", "/v1/", "/api/", "/v1/"),
     ("/api/", "/v1", "/api/x/", "/v1/x/"), ("/", "/v1/", "/a", "/v1/a")],
)  # fmt: skip
def test_rewrite_parts_match_rewrite_path(
    prefix: str, rewrite: str, path: str, upstream: str
) -> None:
    gw = Gateway(config({"svc": service("http://a")}, [route("r", prefix, rewrite=rewrite)]))
    assert _forward(gw, request(path)).target == upstream


def test_choose_refuses_as_decide_does() -> None:
    drained = Route(name="r", prefix="/", backends=(Backend(service="svc", weight=0),))
    gw = Gateway(config({"svc": service("http://a")}, [drained]))
    with pytest.raises(NoHealthyEndpoint, match="every backend has weight 0"):
        gw.choose("GET", "h", "/")
    with pytest.raises(NoHealthyEndpoint, match="every backend has weight 0"):
        gw.decide(request("/"), 0.0)
    gw = Gateway(config({"svc": service("http://a", weights=[0])}, [route("r")]))
    with pytest.raises(NoHealthyEndpoint, match="every endpoint is draining"):
        gw.choose("GET", "h", "/")


def test_eligible_endpoints_follow_health() -> None:
    gw = Gateway(three())  # ejected after 5 failures in a row, for 10 s
    first = _forward(gw, request("/"))
    bad = first.endpoint
    for _ in range(5):
        assert gw.outcome(first, ResponseReceived(status=500, latency=0.01), 1.0) is None
    picked = {_forward(gw, request("/"), 1.0).endpoint for _ in range(12)}
    assert bad not in picked and len(picked) == 2
    gw.tick(1000.0)  # the ejection ended
    picked = {_forward(gw, request("/"), 1000.0).endpoint for _ in range(12)}
    assert bad in picked


def test_settings_follow_a_config_change_that_keeps_routes_and_services() -> None:
    cfg = config({"svc": service("http://a")}, [route("r")])
    gw = Gateway(cfg)
    assert (_forward(gw, request("/")).connect_timeout, _forward(gw, request("/")).max_body) == (
        2.0,
        cfg.limits.max_body,
    )
    changed = dataclasses.replace(
        cfg,
        timeouts=ServerTimeouts(connect=0.5, response=4.0),
        limits=dataclasses.replace(cfg.limits, max_body=7),
    )
    gw.apply(ConfigReplaced(config=changed), 0.0)
    fwd = _forward(gw, request("/"))
    assert (fwd.connect_timeout, fwd.response_timeout, fwd.max_body) == (0.5, 4.0, 7)
    own = config({"svc": service("http://a", timeouts=ServiceTimeouts(response=9.0))}, [route("r")])
    gw.apply(ConfigReplaced(config=own), 0.0)
    assert _forward(gw, request("/")).response_timeout == 9.0


@pytest.mark.parametrize(
    ("headers", "expected"),
    [
        # Two Connection headers: both lists count; an end-to-end name listed is dropped.
        ([("connection", "close"), ("connection", "x-a"), ("x-a", "1"), ("x-b", "2")],
         [("x-b", "2")]),
        # Only hop-by-hop names listed: the end-to-end ones all stay, in order.
        ([("x-b", "2"), ("connection", "Keep-Alive, Upgrade"), ("upgrade", "h2c"), ("x-a", "1")],
         [("x-b", "2"), ("x-a", "1")]),
        # The first X-Request-Id decides; a listed Host gives no X-Forwarded-Host.
        ([("x-request-id", "bad id"), ("x-request-id", "good"), ("connection", "host")], []),
    ],
)  # fmt: skip
def test_header_edits(headers: list[tuple[str, str]], expected: list[tuple[str, str]]) -> None:
    gw = Gateway(three())
    fwd = _forward(gw, Request(method="GET", target="/", headers=tuple(headers), client="c",
                               request_id="fresh"))  # fmt: skip
    assert fwd.headers[1 : 1 + len(expected)] == tuple(expected)
    names = [name for name, _ in fwd.headers]
    assert names[1 + len(expected) :] == ["x-forwarded-for", "x-forwarded-proto", "via",
                                          "x-request-id"]  # fmt: skip
    assert fwd.request_id == "fresh"


def test_connection_values_cache_is_bounded(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(_headers, "_DROPS_MAX", 2)
    monkeypatch.setattr(_headers, "_DROPS", {})
    for i in range(5):
        assert f"x-{i}" in _headers._drops(f"X-{i}")
    assert len(_headers._DROPS) <= 2
    assert _headers._drops("X-4") is _headers._drops("X-4")  # kept while it fits


def test_responses_after_the_shortcut_still_count() -> None:
    gw = Gateway(three())
    fwd = _forward(gw, request("/"))
    assert gw.outcome(fwd, ResponseReceived(status=200, latency=0.01), 0.0) is None
    gw.finish(fwd, 0.0)
    stats = gw.stats(0.0)
    assert stats.services[0].requests == 1 and stats.services[0].upstream_ok == 1


# Targets from every character class the splitter and normaliser treat apart.
TARGETS = st.text(
    alphabet=st.sampled_from(list("/.?%2eEF5c0aZ~-_:@!$&'()*+,;=\"<>[]^`{|}\\# \té*")),
    max_size=20,
) | st.lists(st.sampled_from(["a", "", ".", "..", "x.y", "%41", "?q", "?a?b"]), max_size=5).map(
    lambda parts: "/" + "/".join(parts)
)


def _plain_steps(target: str) -> tuple[str, str] | str:
    try:
        path, query = split_target(target)
        return normalise_path(path), query
    except RequestError as exc:
        return exc.reason


@given(TARGETS)
@example("/a/b?x=1")
@example("/a?")
@example("/a//b?q")
@example("/a/.b?#")
@example("*")
def test_split_normalised_equals_the_two_steps(target: str) -> None:
    try:
        result: tuple[str, str] | str = split_normalised(target)
    except RequestError as exc:
        result = exc.reason
    assert result == _plain_steps(target)


def test_a_success_after_its_route_left_counts_for_the_service() -> None:
    gw = Gateway(config({"svc": service("http://a")}, [route("r"), route("other", "/o/")]))
    fwd = _forward(gw, request("/"))
    gw.apply(RouteDeleted(name="r"), 0.0)
    assert gw.outcome(fwd, ResponseReceived(status=200, latency=0.01), 0.0) is None
    stats = gw.stats(0.0)
    assert stats.services[0].upstream_ok == 1
    assert [r.name for r in stats.routes] == ["other"]


def test_a_retryable_status_that_is_no_failure_counts_as_ok_and_retries() -> None:
    gw = Gateway(three(passive=Passive(failure_statuses=frozenset({500}))))
    fwd = _forward(gw, request("/"))
    retry = gw.outcome(fwd, ResponseReceived(status=503, latency=0.01), 0.0)
    assert isinstance(retry, Forward) and retry.endpoint != fwd.endpoint
    assert gw.stats(0.0).services[0].upstream_ok == 1


def test_respond_routes_keep_the_fresh_request_id() -> None:
    gw = Gateway(config({"svc": service("http://a")}, [respond_route("ping", "/ping")]))
    answer = gw.decide(request("/ping", rid="fresh"), 0.0)
    assert isinstance(answer, Respond) and answer.request_id == "fresh"
    answer = gw.decide(request("/ping", headers=[("x-request-id", "mine")]), 0.0)
    assert isinstance(answer, Respond) and answer.request_id == "mine"
