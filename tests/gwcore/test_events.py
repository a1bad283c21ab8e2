"""Events and commands validate themselves: an invalid one cannot exist."""

from __future__ import annotations

import dataclasses
import re

import pytest

from gwcore.events import (
    Forward,
    InstanceRegistered,
    Request,
    Respond,
    ResponseReceived,
)

FORWARD = {
    "request_id": "r",
    "route": "users",
    "service": "users",
    "endpoint": "http://127.0.0.1:9001",
    "scheme": "http",
    "host": "127.0.0.1",
    "port": 9001,
    "target": "/x",
    "headers": (("host", "example.com"),),
}


def test_valid_events_are_frozen_and_hashable() -> None:
    forward = Forward(**FORWARD)  # type: ignore[arg-type]
    assert hash(forward) == hash(Forward(**FORWARD))  # type: ignore[arg-type]
    with pytest.raises(dataclasses.FrozenInstanceError):
        forward.port = 1  # type: ignore[misc]
    request = Request(method="GET", target="/", headers=(("host", "a"),))
    assert request == Request(method="GET", target="/", headers=(("host", "a"),))


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"scheme": "ftp"}, "scheme must be http or https"),
        ({"port": 0}, "port out of range"),
        ({"port": 65536}, "port out of range"),
        ({"attempt": -1}, "attempt must be >= 0"),
        ({"headers": (("host",),)}, "headers must be (name, value) pairs"),
    ],
)
def test_forward_rejects_invalid_fields(change: dict[str, object], message: str) -> None:
    with pytest.raises(
        (ValueError, TypeError), match=message.replace("(", r"\(").replace(")", r"\)")
    ):
        Forward(**{**FORWARD, **change})  # type: ignore[arg-type]


def test_request_needs_a_method_and_pairs() -> None:
    with pytest.raises(ValueError, match="method must not be empty"):
        Request(method="", target="/")
    with pytest.raises(TypeError, match="pairs"):
        Request(method="GET", target="/", headers=["host: a"])  # type: ignore[arg-type]


@pytest.mark.parametrize("status", [199, 600])
def test_respond_status_range(status: int) -> None:
    with pytest.raises(ValueError, match=re.escape("200..599")):
        Respond(request_id="r", route="r", status=status)
    with pytest.raises(TypeError, match="pairs"):
        Respond(request_id="r", route="r", status=200, headers=(("a", "b", "c"),))  # type: ignore[arg-type]


@pytest.mark.parametrize(("status", "latency"), [(99, 0.0), (600, 0.0), (200, -0.001)])
def test_response_received_ranges(status: int, latency: float) -> None:
    with pytest.raises(ValueError, match=r"status must be 100..599|latency must be >= 0"):
        ResponseReceived(status=status, latency=latency)
    assert ResponseReceived(status=204, latency=0.0).status == 204


@pytest.mark.parametrize(
    ("weight", "ttl", "message"), [(-1, None, "weight"), (1, 0.0, "ttl"), (1, -5.0, "ttl")]
)
def test_instance_registered_ranges(weight: int, ttl: float | None, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        InstanceRegistered(service="s", instance="i", url="http://a", weight=weight, ttl=ttl)
    assert InstanceRegistered(service="s", instance="i", url="http://a", ttl=None).ttl is None
