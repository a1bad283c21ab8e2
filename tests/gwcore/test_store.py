"""gwcore.store: what etcd keys and values mean, the inverse encoding, diff, snapshot, back-off."""

from __future__ import annotations

import json
import random

import pytest
from hypothesis import given
from hypothesis import strategies as st

from gwcore.config import Backend, Endpoint, Route, Service, parse_route, parse_service
from gwcore.errors import ConfigError
from gwcore.events import (
    EtcdKeyDeleted,
    EtcdKeySet,
    EtcdReachable,
    InstanceDeregistered,
    InstanceRegistered,
    RouteDeleted,
    RouteUpserted,
    ServiceDeleted,
    ServiceUpserted,
)
from gwcore.store import (
    SNAPSHOT_FORMAT,
    Backoff,
    decode,
    diff,
    encode_instance,
    encode_route,
    encode_service,
    instance_key,
    key_of,
    route_key,
    service_key,
    snapshot_from_dict,
    snapshot_to_dict,
)

P = "/gw/"
NONE: frozenset[str] = frozenset()
ROUTE_JSON = b'{"prefix": "/pets/", "service": "petstore"}'
SERVICE_JSON = b'{"endpoints": [{"url": "http://127.0.0.1:9000/"}]}'


def _decode(key: str, value: bytes | None, watched: frozenset[str] = NONE) -> object:
    return decode(key, value, prefix=P, watched=watched)


def _error_text(key: str, value: bytes | None, watched: frozenset[str] = NONE) -> str:
    with pytest.raises(ConfigError) as info:
        _decode(key, value, watched)
    return str(info.value)


# --------------------------------------------------------------------------- plain keys


def test_watched_key_set_and_deleted() -> None:
    keys = frozenset({"petstore"})
    assert _decode("petstore", b"http://127.0.0.1:8000/v2/", keys) == EtcdKeySet(
        key="petstore", value="http://127.0.0.1:8000/v2/"
    )
    assert _decode("petstore", None, keys) == EtcdKeyDeleted(key="petstore")


def test_watched_key_value_is_stripped_and_kept_otherwise_verbatim() -> None:
    # A garbage URL is delivered as is: whether to use it is the gateway's decision.
    keys = frozenset({"k"})
    assert _decode("k", b"  http://h/\n", keys) == EtcdKeySet(key="k", value="http://h/")
    assert _decode("k", b"not a url", keys) == EtcdKeySet(key="k", value="not a url")


def test_watched_key_under_prefix_means_its_literal_value() -> None:
    keys = frozenset({"/gw/routes/x"})
    assert _decode("/gw/routes/x", b"http://h/", keys) == EtcdKeySet(
        key="/gw/routes/x", value="http://h/"
    )


def test_watched_key_not_utf8_names_the_key() -> None:
    assert "petstore: value is not UTF-8" in _error_text(
        "petstore", b"\xff", frozenset({"petstore"})
    )


def test_unknown_key_is_refused() -> None:
    assert "/other: not a watched key" in _error_text("/other", b"x")
    assert "/gw/misc: not a watched key" in _error_text("/gw/misc", b"x")


# --------------------------------------------------------------------------- layout


def test_route_upserted_and_deleted() -> None:
    change = _decode("/gw/routes/pets", ROUTE_JSON)
    assert change == RouteUpserted(route=parse_route("pets", json.loads(ROUTE_JSON)))
    assert isinstance(change, RouteUpserted)
    assert change.route.backends == (Backend(service="petstore"),)
    assert _decode("/gw/routes/pets", None) == RouteDeleted(name="pets")


def test_service_upserted_and_deleted() -> None:
    change = _decode("/gw/services/petstore", SERVICE_JSON)
    assert change == ServiceUpserted(
        name="petstore", service=parse_service("petstore", json.loads(SERVICE_JSON))
    )
    assert _decode("/gw/services/petstore", None) == ServiceDeleted(name="petstore")


def test_instance_registered_without_ttl_and_deregistered() -> None:
    assert _decode("/gw/instances/hello/i-1", b'{"url": "http://10.0.0.1:5000", "weight": 3}') == (
        InstanceRegistered(
            service="hello", instance="i-1", url="http://10.0.0.1:5000", weight=3, ttl=None
        )
    )
    assert _decode("/gw/instances/hello/i-1", b'{"url": "https://h"}') == InstanceRegistered(
        service="hello", instance="i-1", url="https://h", weight=1
    )
    assert _decode("/gw/instances/hello/i-1", None) == InstanceDeregistered(
        service="hello", instance="i-1"
    )


@pytest.mark.parametrize(
    ("key", "value", "expected"),
    [
        ("/gw/routes/pets", b"{not json", "/gw/routes/pets: not valid JSON"),
        ("/gw/routes/pets", b"\xff\xfe", "/gw/routes/pets: not valid JSON"),
        ("/gw/routes/pets", b"[1, 2]", "/gw/routes/pets: must hold a JSON object, got list"),
        ("/gw/routes/pets", b'{"prefix": "pets"}', "/gw/routes/pets: routes.pets"),
        ("/gw/services/s", b'{"endpoints": 3}', "/gw/services/s: services.s"),
        ("/gw/services/s", b"null", "must hold a JSON object, got NoneType"),
        ("/gw/routes/", b"{}", "route keys are <prefix>routes/<name>"),
        ("/gw/routes/a/b", b"{}", "route keys are <prefix>routes/<name>"),
        ("/gw/services/", None, "service keys are <prefix>services/<name>"),
        ("/gw/instances/hello", b"{}", "instance keys are"),
        ("/gw/instances/hello/", None, "instance keys are"),
        ("/gw/instances//i", None, "instance keys are"),
        ("/gw/instances/s/i/j", None, "instance keys are"),
        ("/gw/instances/s/i", b'{"url": "http://h", "ttl": 3}', "unknown field(s) ttl"),
        ("/gw/instances/s/i", b'{"weight": 1}', "url: required"),
        ("/gw/instances/s/i", b'{"url": "ftp://h"}', "url: must be http(s)://host[:port]"),
        ("/gw/instances/s/i", b'{"url": "http://"}', "url: must be http(s)://host[:port]"),
        ("/gw/instances/s/i", b'{"url": "http://h:99999"}', "url: bad port"),
        ("/gw/instances/s/i", b'{"url": "http://h", "weight": -1}', "weight: must be an integer"),
        ("/gw/instances/s/i", b'{"url": "http://h", "weight": true}', "weight: must be an integer"),
        ("/gw/instances/s/i", b'{"url": "http://h", "weight": 1.5}', "weight: must be an integer"),
    ],
)
def test_garbage_names_the_key(key: str, value: bytes | None, expected: str) -> None:
    assert expected in _error_text(key, value)


@pytest.mark.parametrize("cut", range(1, len(ROUTE_JSON)))
def test_route_value_split_anywhere_is_refused_not_misread(cut: int) -> None:
    # A truncated value (a partial write seen by a buggy writer) is never half-applied.
    with pytest.raises(ConfigError):
        _decode("/gw/routes/pets", ROUTE_JSON[:cut])


def test_route_value_with_trailing_data_is_refused() -> None:
    with pytest.raises(ConfigError):
        _decode("/gw/routes/pets", ROUTE_JSON + b"{}")


# Strategy: arbitrary keys, half of them shaped like layout keys, and arbitrary bytes.
_KEYS = st.one_of(
    st.text(max_size=20),
    st.builds(
        lambda kind, rest: f"/gw/{kind}/{rest}",
        st.sampled_from(["routes", "services", "instances"]),
        st.text(max_size=15),
    ),
)
_VALUES = st.one_of(st.none(), st.binary(max_size=40), st.just(ROUTE_JSON), st.just(SERVICE_JSON))


@given(key=_KEYS, value=_VALUES, watch=st.booleans())
def test_decode_gives_a_change_or_a_config_error(
    key: str, value: bytes | None, watch: bool
) -> None:
    watched = frozenset({key}) if watch else NONE
    try:
        change = decode(key, value, prefix=P, watched=watched)
    except ConfigError as exc:
        assert exc.errors[0].path == key
    else:
        assert key_of(change, P) == key


# --------------------------------------------------------------------------- keys and encoding


def test_key_builders() -> None:
    assert route_key(P, "pets") == "/gw/routes/pets"
    assert service_key("/x/", "s") == "/x/services/s"
    assert instance_key(P, "s", "i") == "/gw/instances/s/i"


@pytest.mark.parametrize(
    "call",
    [
        lambda: route_key("gw/", "a"),
        lambda: route_key("/gw", "a"),
        lambda: route_key(P, ""),
        lambda: service_key(P, "a/b"),
        lambda: instance_key(P, "s", ""),
        lambda: encode_instance(P, "s", "i", url="http://h", weight=-1),
    ],
)
def test_key_builders_refuse_misuse(call: object) -> None:
    with pytest.raises(ValueError):
        call()  # type: ignore[operator]


def test_encoding_round_trips_through_decode() -> None:
    route = Route(name="pets", prefix="/pets/", backends=(Backend(service="petstore"),))
    key, value = encode_route(P, route)
    assert (key, _decode(key, value)) == ("/gw/routes/pets", RouteUpserted(route=route))
    service = Service(endpoints=(Endpoint(url="etcd(petstore, http://127.0.0.1:1/)"),))
    key, value = encode_service(P, "petstore", service)
    assert _decode(key, value) == ServiceUpserted(name="petstore", service=service)
    key, value = encode_instance(P, "hello", "i-1", url="http://h:1", weight=2)
    assert value == b'{"url":"http://h:1","weight":2}'
    assert _decode(key, value) == InstanceRegistered(
        service="hello", instance="i-1", url="http://h:1", weight=2
    )


def test_key_of_covers_every_change() -> None:
    assert key_of(EtcdKeyDeleted(key="k"), P) == "k"
    assert key_of(RouteDeleted(name="r"), P) == "/gw/routes/r"
    route = Route(name="r", prefix="/", backends=(Backend(service="s"),))
    assert key_of(RouteUpserted(route=route), P) == "/gw/routes/r"
    assert key_of(ServiceDeleted(name="s"), P) == "/gw/services/s"
    assert key_of(InstanceDeregistered(service="s", instance="i"), P) == "/gw/instances/s/i"
    assert key_of(EtcdReachable(), P) is None


# --------------------------------------------------------------------------- diff


def test_diff_orders_services_before_routes_and_deletes_routes_first() -> None:
    old = {
        "/gw/routes/old": b"r",
        "/gw/services/old": b"s",
        "/gw/instances/old/1": b"i",
        "plain-old": b"x",
        "same": b"1",
    }
    new = {
        "/gw/routes/new": b"r",
        "/gw/instances/new/1": b"i",
        "/gw/services/new": b"s",
        "plain-new": b"x",
        "same": b"1",
    }
    assert diff(old, new, prefix=P) == (
        ("/gw/services/new", b"s"),
        ("/gw/instances/new/1", b"i"),
        ("/gw/routes/new", b"r"),
        ("plain-new", b"x"),
        ("/gw/routes/old", None),
        ("/gw/instances/old/1", None),
        ("/gw/services/old", None),
        ("plain-old", None),
    )


def test_diff_of_equal_states_is_empty() -> None:
    assert diff({"a": b"1"}, {"a": b"1"}, prefix=P) == ()


_STATES = st.dictionaries(_KEYS, st.binary(max_size=4), max_size=8)


@given(old=_STATES, new=_STATES)
def test_diff_applied_to_old_gives_new(old: dict[str, bytes], new: dict[str, bytes]) -> None:
    state = dict(old)
    for key, value in diff(old, new, prefix=P):
        if value is None:
            del state[key]
        else:
            state[key] = value
    assert state == new


# --------------------------------------------------------------------------- snapshot


@given(kvs=st.dictionaries(st.text(max_size=10), st.binary(max_size=10), max_size=5))
def test_snapshot_round_trips_through_json(kvs: dict[str, bytes]) -> None:
    data = json.loads(json.dumps(snapshot_to_dict(kvs, 42)))
    assert snapshot_from_dict(data) == (kvs, 42)


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        ([], "must be a JSON object"),
        ({"format": "other"}, "format"),
        ({"format": SNAPSHOT_FORMAT, "revision": -1, "kvs": {}}, "revision"),
        ({"format": SNAPSHOT_FORMAT, "revision": True, "kvs": {}}, "revision"),
        ({"format": SNAPSHOT_FORMAT, "revision": 1, "kvs": []}, "kvs"),
        ({"format": SNAPSHOT_FORMAT, "revision": 1, "kvs": {"a": 1}}, "kvs.a"),
    ],
)
def test_snapshot_garbage_is_refused(data: object, expected: str) -> None:
    with pytest.raises(ConfigError, match=expected):
        snapshot_from_dict(data)


def test_snapshot_refuses_negative_revision() -> None:
    with pytest.raises(ValueError):
        snapshot_to_dict({}, -1)


# --------------------------------------------------------------------------- back-off


def test_backoff_grows_then_caps_with_jitter_in_bounds() -> None:
    backoff = Backoff(initial=0.1, cap=2.0)
    rng = random.Random(7)
    delays = [backoff.delay(n, rng) for n in range(10)]
    assert 0.05 <= delays[0] <= 0.1
    assert 0.4 <= delays[3] <= 0.8
    assert all(1.0 <= d <= 2.0 for d in delays[5:])


def test_backoff_is_reproducible_with_a_seeded_rng() -> None:
    backoff = Backoff()
    first = [backoff.delay(n, random.Random(1)) for n in range(5)]
    assert first == [backoff.delay(n, random.Random(1)) for n in range(5)]


def test_backoff_jitter_spreads_replicas() -> None:
    backoff = Backoff(initial=1.0, cap=1.0)
    rng = random.Random(3)
    assert len({round(backoff.delay(0, rng), 6) for _ in range(20)}) > 15


@given(attempt=st.integers(min_value=0, max_value=100_000))
def test_backoff_never_exceeds_cap_nor_overflows(attempt: int) -> None:
    backoff = Backoff(initial=0.5, cap=30.0, factor=10.0)
    assert 0.25 <= backoff.delay(attempt, random.Random(0)) <= 30.0


@pytest.mark.parametrize(
    "kwargs", [{"initial": 0.0}, {"initial": 5.0, "cap": 1.0}, {"factor": 0.5}]
)
def test_backoff_refuses_bad_parameters(kwargs: dict[str, float]) -> None:
    with pytest.raises(ValueError):
        Backoff(**kwargs)


def test_backoff_refuses_negative_attempt() -> None:
    with pytest.raises(ValueError):
        Backoff().delay(-1, random.Random(0))
