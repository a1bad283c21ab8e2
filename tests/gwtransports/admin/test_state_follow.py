"""The state file as the channel between the worker that owns the admin listener
(its :class:`FileStore` writes) and the others (their :class:`StateFollower` reads)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import trio

from gwcore.config import from_dict
from gwcore.errors import ConfigError
from gwcore.events import (
    Change,
    InstanceDeregistered,
    InstanceHeartbeat,
    InstanceRegistered,
    RouteDeleted,
)
from gwcore.gateway import Gateway
from gwtransports.admin.server import GatewayTarget
from gwtransports.admin.state import load_state
from gwtransports.admin.state_follow import StateFollower
from gwtransports.admin.store import FileStore

from .harness import BASE


class _Clock:
    """Wall and monotonic time in one, moved only by the test."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def _members(gw: Gateway, service: str = "users") -> int:
    (stats,) = [s for s in gw.stats(0.0).services if s.name == service]
    return stats.members


def _write(store: FileStore, writer: Gateway, change: Change, clock: _Clock) -> None:
    before = writer.config
    applied = writer.apply(change, clock.now)
    trio.run(store.persist, before, writer.config, change, applied.changed)


def test_follower_applies_routes_services_and_instances(tmp_path: Path) -> None:
    clock = _Clock()
    path = tmp_path / "gw.yaml.state.json"
    writer, reader = Gateway(from_dict(BASE)), Gateway(from_dict(BASE))
    store = FileStore(path, clock=clock)
    follower = StateFollower(GatewayTarget(reader, clock), path, clock=clock)
    assert not follower.changed()  # no state file yet

    _write(store, writer, RouteDeleted(name="usermapping"), clock)
    register = InstanceRegistered(
        service="users", instance="a", url="http://127.0.0.1:9100", weight=2, ttl=10
    )
    _write(store, writer, register, clock)
    follower.poll()
    assert "usermapping" not in reader.config.routes
    assert _members(reader) == 2
    stored = load_state(path)
    assert stored is not None
    assert stored["instances"]["users"]["a"] == {
        "url": "http://127.0.0.1:9100", "weight": 2, "ttl": 10.0, "expires": 1010.0,
    }  # fmt: skip
    assert not follower.changed()  # nothing new: one stat, no read

    # A heartbeat moves the expiry: the reader keeps the instance past the first ttl.
    clock.now = 1008.0
    _write(store, writer, InstanceHeartbeat(service="users", instance="a"), clock)
    follower.poll()
    clock.now = 1012.0
    reader.tick(clock.now)
    assert _members(reader) == 2
    clock.now = 1019.0
    reader.tick(clock.now)
    assert _members(reader) == 1  # expired at 1018 without a further heartbeat

    _write(store, writer, register, clock)
    follower.poll()
    assert _members(reader) == 2
    _write(store, writer, InstanceDeregistered(service="users", instance="a"), clock)
    follower.poll()
    assert _members(reader) == 1
    stored = load_state(path)
    assert stored is not None and stored["instances"] == {}


def test_a_new_store_carries_the_file_instances_on(tmp_path: Path) -> None:
    clock = _Clock()
    path = tmp_path / "state.json"
    writer = Gateway(from_dict(BASE))
    register = InstanceRegistered(service="users", instance="a", url="http://127.0.0.1:9100")
    _write(FileStore(path, clock=clock), writer, register, clock)
    restarted = FileStore(path, clock=clock)
    assert restarted.instances["users"]["a"]["expires"] is None
    _write(restarted, writer, RouteDeleted(name="usermapping"), clock)
    stored = load_state(path)
    assert stored is not None and set(stored["instances"]["users"]) == {"a"}


@pytest.mark.parametrize(
    "text",
    [
        "{not json",
        '{"format": 1, "routes": {"x": {"prefix": "nope"}}, "services": {}}',
        '{"format": 1, "routes": {}, "services": {}, "instances": {"users": {"a": {}}}}',
    ],
)
def test_a_broken_state_file_changes_nothing(
    tmp_path: Path, text: str, caplog: pytest.LogCaptureFixture
) -> None:
    path = tmp_path / "state.json"
    reader = Gateway(from_dict(BASE))
    follower = StateFollower(GatewayTarget(reader, _Clock()), path)
    path.write_text(text)
    before = (reader.config, reader.generation)
    follower.poll()
    assert (reader.config, reader.generation) == before
    assert "ignored" in caplog.text
    caplog.clear()
    follower.poll()  # the same broken version is logged once
    assert caplog.text == ""


@pytest.mark.parametrize(
    ("instances", "problem"),
    [
        ([], "must be an object"),
        ({"users": []}, "users: must be an object"),
        ({"users": {"a": {"url": "http://x", "weight": -1}}}, "users.a.weight"),
        ({"users": {"a": {"url": "http://x", "ttl": 0}}}, "users.a.ttl"),
        ({"users": {"a": {"url": "http://x", "expires": "soon"}}}, "users.a.expires"),
    ],
)
def test_load_state_names_what_is_wrong_with_instances(
    tmp_path: Path, instances: object, problem: str
) -> None:
    path = tmp_path / "state.json"
    doc = {"format": 1, "routes": {}, "services": {}, "instances": instances}
    path.write_text(json.dumps(doc))
    with pytest.raises(ConfigError, match=problem):
        load_state(path)
