"""Property tests of the admin handlers: dump/load round trip and the fuzz invariant."""

from __future__ import annotations

import json
from typing import Any

from hypothesis import assume, given
from hypothesis import strategies as st

from gwcore.config import Config, to_dict
from gwcore.errors import ConfigError
from gwcore.gateway import Gateway
from tests.gwcore.strategies import configs, invalid_config_dicts

from .harness import call, data, gateway, snapshot


def _gateway_on(config: Config) -> Gateway:
    try:
        return Gateway(config)
    except ConfigError:
        # A generated config may hold routes that tie (a router conflict): not a
        # config the admin API could have been given.
        assume(False)
        raise


@given(configs())
def test_dump_then_load_gives_the_identical_state(config: Config) -> None:
    _gateway_on(config)
    gw = gateway()
    canonical = json.loads(json.dumps(to_dict(config)))
    loaded = call(gw, "PUT", "/config", canonical)
    assert loaded.status == 200, loaded.body
    assert gw.config == config
    dumped = data(call(gw, "GET", "/config"))
    assert dumped == canonical
    generation = gw.generation
    again = data(call(gw, "PUT", "/config", dumped))
    assert again["changed"] is False
    assert gw.generation == generation


@given(invalid_config_dicts())
def test_invalid_config_is_refused_with_the_field_path(case: tuple[dict[str, Any], str]) -> None:
    bad, path = case
    gw = gateway()
    before = snapshot(gw)
    response = call(gw, "PUT", "/config", bad)
    assert response.status == 400
    reported = [e["path"] for e in data(response)["errors"]]
    assert any(p == path or p.startswith(path) or path.startswith(p) for p in reported), reported
    assert snapshot(gw) == before


_JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=8),
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3)
    ),
    max_leaves=10,
)
_TARGETS = st.sampled_from(
    ["/health", "/routes", "/routes/usermapping", "/routes/new", "/services", "/services/users",
     "/services/new", "/services/users/instances", "/services/users/instances/abc", "/stats",
     "/config", "/explain?path=/user/1", "/routes/usermapping?dry_run=1", "/config?dry_run=1",
     "/routes/%2e%2e", "/services/users/instances/", "//routes"]
) | st.text(max_size=20).map(lambda t: "/" + t)  # fmt: skip
_BODIES = _JSON.map(lambda v: json.dumps(v).encode()) | st.binary(max_size=64) | st.sampled_from(
    [b'{"prefix": "/new", "service": "users"}', b'{"endpoints": [{"url": "http://h:1"}]}',
     b'{"url": "http://127.0.0.1:9009", "ttl": 3}']
)  # fmt: skip


@given(st.sampled_from(["GET", "PUT", "POST", "DELETE", "PATCH", "HEAD"]), _TARGETS, _BODIES)
def test_any_request_gets_json_2xx_or_4xx_and_changes_nothing_unless_2xx(
    method: str, target: str, body: bytes
) -> None:
    gw = gateway()
    before = snapshot(gw)
    response = call(gw, method, target, raw=body)
    assert 200 <= response.status < 500
    if not target.startswith("/metrics"):
        json.loads(response.body)
    if response.status >= 300 or "dry_run=1" in target:
        assert snapshot(gw) == before
