from __future__ import annotations

import json
import re

import pytest
import yaml

from gwcore.config import to_dict
from gwtransports.admin._render import prometheus
from gwtransports.admin.handlers import AdminContext, StoreStatus, route_name_for

from .harness import call, data, gateway, snapshot

TOKEN = AdminContext(token="s3cret", version="9.9")


def test_health_needs_no_token_and_reports_store_and_generation() -> None:
    gw = gateway()
    context = AdminContext(token="s3cret", version="9.9", store=StoreStatus(kind="etcd", ok=False,
                           stale_since=12.5))  # fmt: skip
    answer = data(call(gw, "GET", "/health", context=context))
    assert answer["ok"] is True
    assert answer["version"] == "9.9"
    assert answer["store"]["kind"] == "etcd"
    assert answer["store"]["ok"] is False
    assert answer["store"]["stale_since"] == 12.5
    assert answer["generation"] == gw.generation


@pytest.mark.parametrize(
    "headers",
    [(), (("authorization", "Bearer wrong"),), (("authorization", "Basic s3cret"),),
     (("authorization", "Bearer s3cret2"),), (("authorization", "s3cret"),)],
)  # fmt: skip
def test_wrong_or_missing_token_is_401_and_changes_nothing(
    headers: tuple[tuple[str, str], ...],
) -> None:
    gw = gateway()
    before = snapshot(gw)
    response = call(gw, "PUT", "/routes/x", {"prefix": "/x", "service": "users"},
                    headers=headers, context=TOKEN)  # fmt: skip
    assert response.status == 401
    assert data(response)["error"] == "unauthorized"
    assert snapshot(gw) == before
    assert call(gw, "GET", "/routes", headers=headers, context=TOKEN).status == 401


def test_right_token_is_accepted() -> None:
    gw = gateway()
    response = call(gw, "GET", "/routes", headers=(("authorization", "Bearer s3cret"),),
                    context=TOKEN)  # fmt: skip
    assert response.status == 200
    assert set(data(response)["routes"]) == {"usermapping"}


def test_put_is_an_idempotent_upsert() -> None:
    gw = gateway()
    body = {"prefix": "/orders/", "service": "users", "methods": ["GET"]}
    first = data(call(gw, "PUT", "/routes/orders", body))
    assert first["changed"] is True
    assert first["diff"][0] == {
        "op": "add",
        "path": "routes.orders",
        "new": first["diff"][0]["new"],
    }
    generation = gw.generation
    second = data(call(gw, "PUT", "/routes/orders", body))
    assert second["changed"] is False
    assert second["result"] == "unchanged"
    assert second["diff"] == []
    assert gw.generation == generation
    # What GET gives back can be PUT back unchanged.
    got = data(call(gw, "GET", "/routes/orders"))
    assert data(call(gw, "PUT", "/routes/orders", got))["changed"] is False


def test_invalid_write_lists_every_error_with_its_path_and_changes_nothing() -> None:
    gw = gateway()
    before = snapshot(gw)
    response = call(gw, "PUT", "/routes/bad", {"prefix": "nope", "service": "ghost", "x": 1})
    assert response.status == 400
    body = data(response)
    paths = {e["path"] for e in body["errors"]}
    assert {"routes.bad.prefix", "routes.bad.service"} <= paths
    assert any(p.startswith("routes.bad") and "x" in p for p in paths)
    assert set(body) == {"error", "detail", "errors"}
    assert snapshot(gw) == before


@pytest.mark.parametrize(
    ("raw", "content_type"),
    [
        (b"", ""),
        (b"{not json", ""),
        (b"\xff\xfe", ""),
        (b"[1, 2]", ""),
        (b"a: [", "application/yaml"),
    ],
)
def test_unparseable_bodies_are_400(raw: bytes, content_type: str) -> None:
    gw = gateway()
    before = snapshot(gw)
    response = call(gw, "PUT", "/routes/x", raw=raw, headers=(("content-type", content_type),))
    assert response.status == 400
    assert data(response)["errors"]
    assert snapshot(gw) == before


def test_dry_run_returns_the_diff_and_changes_nothing() -> None:
    gw = gateway()
    before = snapshot(gw)
    answer = data(call(gw, "PUT", "/routes/usermapping?dry_run=1",
                       {"prefix": "/user/", "rewrite": "/user/", "service": "users"}))  # fmt: skip
    assert answer["dry_run"] is True
    assert answer["diff"] == [
        {"op": "change", "path": "routes.usermapping.rewrite", "old": "/", "new": "/user/"}
    ]
    assert snapshot(gw) == before
    assert data(call(gw, "DELETE", "/routes/usermapping?dry_run=1"))["diff"][0]["op"] == "remove"
    assert snapshot(gw) == before


def test_post_derives_a_stable_name_from_host_and_prefix() -> None:
    gw = gateway()
    body = {"prefix": "/hello", "service": "users", "host": "api.example.com"}
    first = data(call(gw, "POST", "/routes", body))
    assert first["name"] == route_name_for("api.example.com", "/hello")
    assert re.fullmatch(r"api-example-com-hello-[0-9a-f]{6}", first["name"])
    again = data(call(gw, "POST", "/routes", body))
    assert again["name"] == first["name"]
    assert again["changed"] is False
    assert route_name_for(None, "/a-b") != route_name_for(None, "/a/b")


def test_delete() -> None:
    gw = gateway()
    assert call(gw, "DELETE", "/routes/ghost").status == 404
    before = snapshot(gw)
    refused = call(gw, "DELETE", "/services/users")  # still used by usermapping
    assert refused.status == 400
    assert snapshot(gw) == before
    assert data(call(gw, "DELETE", "/routes/usermapping"))["changed"] is True
    assert data(call(gw, "DELETE", "/services/users"))["changed"] is True
    assert dict(gw.config.routes) == {}
    assert dict(gw.config.services) == {}


def test_services_put_get() -> None:
    gw = gateway()
    body = {"endpoints": [{"url": "http://127.0.0.1:9100", "weight": 3}], "retries": 1}
    assert data(call(gw, "PUT", "/services/orders", body))["changed"] is True
    assert gw.config.services["orders"].retries == 1
    got = data(call(gw, "GET", "/services/orders"))
    assert got["endpoints"] == [{"url": "http://127.0.0.1:9100", "weight": 3}]
    assert set(data(call(gw, "GET", "/services"))["services"]) == {"users", "orders"}
    assert call(gw, "GET", "/services/ghost").status == 404


def test_name_in_body_must_match_the_url() -> None:
    gw = gateway()
    response = call(gw, "PUT", "/routes/a", {"name": "b", "prefix": "/a", "service": "users"})
    assert response.status == 400
    assert data(response)["errors"][0]["path"] == "name"


@pytest.mark.parametrize(
    ("method", "target", "status"),
    [("GET", "/nope", 404), ("GET", "/routes/a/b/c", 404), ("PATCH", "/routes/x", 405),
     ("DELETE", "/routes", 405), ("POST", "/health", 405), ("PUT", "/stats", 405)],
)  # fmt: skip
def test_unknown_paths_and_methods(method: str, target: str, status: int) -> None:
    gw = gateway()
    response = call(gw, method, target)
    assert response.status == status
    body = data(response)
    assert set(body) == {"error", "detail", "errors"}
    if status == 405:
        assert dict(response.headers)["allow"]


def test_instances_register_heartbeat_drain_deregister_and_expire() -> None:
    gw = gateway()
    created = call(gw, "POST", "/services/users/instances",
                   {"url": "http://127.0.0.1:9002", "weight": 2, "ttl": 5})  # fmt: skip
    assert created.status == 201
    ident = data(created)["id"]
    assert gw.stats(0).services[0].members == 2
    # The same URL registers the same instance.
    again = call(
        gw, "POST", "/services/users/instances", {"url": "http://127.0.0.1:9002", "ttl": 5}
    )
    assert data(again)["id"] == ident
    assert call(gw, "PUT", f"/services/users/instances/{ident}", now=4.0).status == 200
    gw.tick(8.0)  # 4 s after the heartbeat: still there
    assert gw.stats(8.0).services[0].members == 2
    # weight 0 drains: a member, but not a healthy one.
    call(gw, "POST", "/services/users/instances",
         {"url": "http://127.0.0.1:9002", "weight": 0, "ttl": 5}, now=8.0)  # fmt: skip
    assert gw.stats(8.0).services[0].healthy_members == 1
    gw.tick(20.0)
    assert gw.stats(20.0).services[0].members == 1
    gone = call(gw, "PUT", f"/services/users/instances/{ident}", now=20.0)
    assert gone.status == 404  # expired: the client registers again
    assert call(gw, "DELETE", f"/services/users/instances/{ident}").status == 200


@pytest.mark.parametrize(
    "body",
    [{"url": "ftp://x"}, {"url": "http://h:1", "weight": -1}, {"url": "http://h:1", "ttl": 0},
     {"url": "http://h:1", "color": "red"}, [], {"url": "http://h:1", "weight": True}],
)  # fmt: skip
def test_bad_instance_bodies_are_400(body: object) -> None:
    gw = gateway()
    before = snapshot(gw)
    response = call(gw, "POST", "/services/users/instances", body)
    assert response.status == 400
    assert data(response)["errors"]
    assert snapshot(gw) == before


def test_instance_of_unknown_service_is_404() -> None:
    gw = gateway()
    assert call(gw, "POST", "/services/ghost/instances", {"url": "http://h:1"}).status == 404


def test_config_json_yaml_and_replace() -> None:
    gw = gateway()
    as_json = data(call(gw, "GET", "/config"))
    assert as_json == json.loads(json.dumps(to_dict(gw.config)))
    as_yaml = call(gw, "GET", "/config", headers=(("accept", "application/yaml"),))
    assert as_yaml.content_type == "application/yaml"
    assert yaml.safe_load(as_yaml.body) == as_json
    # dump then load: the identical state, and nothing changes.
    assert data(call(gw, "PUT", "/config", as_json))["changed"] is False
    as_json["routes"]["other"] = {"prefix": "/other", "service": "users"}
    del as_json["routes"]["usermapping"]
    answer = data(call(gw, "PUT", "/config", as_json))
    assert answer["changed"] is True
    assert set(gw.config.routes) == {"other"}


def test_stats_and_explain() -> None:
    gw = gateway()
    stats = data(call(gw, "GET", "/stats"))
    assert stats["services"]["users"]["healthy_members"] == 1
    assert stats["routes"]["usermapping"]["requests"] == 0
    explained = data(call(gw, "GET", "/explain?method=GET&host=a.example&path=/user/7"))
    assert explained["winner"] == "usermapping"
    assert explained["upstream_path"] == "/7"
    missing = data(call(gw, "GET", "/explain?path=/nothing"))
    assert missing["winner"] is None
    assert missing["error"]["status"] == 404
    assert call(gw, "GET", "/explain").status == 400


def test_explain_says_where_the_request_would_go() -> None:
    gw = gateway({
        "services": {"users": {"endpoints": [{"url": "http://127.0.0.1:9001/base"}]},
                     "empty": {"endpoints": []}},
        "routes": {"usermapping": {"prefix": "/user/", "service": "users"},
                   "ping": {"prefix": "/ping", "respond": {"status": 200, "body": "pong"}},
                   "nowhere": {"prefix": "/nowhere/", "service": "empty"}},
    })  # fmt: skip
    before = gw.stats(0.0)
    chosen = data(call(gw, "GET", "/explain?host=a.example&path=/user/7"))
    assert chosen["destination"] == {
        "route": "usermapping", "service": "users", "endpoint": "http://127.0.0.1:9001/base",
        "target": "/base/7", "panic": False, "respond": False, "error": None,
    }  # fmt: skip
    assert chosen["text"].splitlines()[2] == (
        "  -> service users, endpoint http://127.0.0.1:9001/base, target /base/7"
    )
    answered = data(call(gw, "GET", "/explain?path=/ping"))["destination"]
    assert (answered["respond"], answered["service"], answered["error"]) == (True, None, None)
    refused = data(call(gw, "GET", "/explain?path=/nowhere/1"))
    assert refused["destination"]["endpoint"] is None
    assert refused["destination"]["error"]["status"] == 503
    assert refused["destination"]["error"]["error"] == "no_healthy_endpoint"
    assert "  -> no endpoint: 503 " in refused["text"]
    missing = data(call(gw, "GET", "/explain?path=/else"))
    assert missing["destination"] is None
    # Explaining moves no balancer and counts no request.
    assert gw.stats(0.0) == before


_SAMPLE = re.compile(r'^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{([a-z_]+="([^"\\]|\\.)*",?)*\})? \S+$')


def test_metrics_is_valid_prometheus_text() -> None:
    gw = gateway()
    response = call(gw, "GET", "/metrics")
    assert response.content_type.startswith("text/plain; version=0.0.4")
    text = response.body.decode()
    assert text.endswith("\n")
    typed: set[str] = set()
    helped: set[str] = set()
    for line in text.splitlines():
        if line.startswith("# HELP "):
            helped.add(line.split()[2])
        elif line.startswith("# TYPE "):
            name, kind = line.split()[2:4]
            assert kind in ("counter", "gauge")
            assert name not in typed  # one TYPE line per family
            typed.add(name)
        else:
            match = _SAMPLE.match(line)
            assert match, line
            assert match.group(1) in typed and match.group(1) in helped
    assert 'gw_service_healthy_members{service="users"} 1' in text
    assert 'gw_route_requests_total{route="usermapping"} 0' in text


def test_metric_labels_are_escaped() -> None:
    text = prometheus(
        {"routes": {'a"b\\c\nd': {"requests": 3, "responses": {"2xx": 3}}}, "services": {}},
        {"store": {"kind": "file", "ok": True}, "generation": 1},
    ).decode()
    assert 'gw_route_requests_total{route="a\\"b\\\\c\\nd"} 3' in text
    assert 'gw_route_responses_total{route="a\\"b\\\\c\\nd",class="2xx"} 3' in text
