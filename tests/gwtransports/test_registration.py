from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Iterator

import httpx
import pytest
import trio

from gwcore.config import from_dict
from gwtransports.registration import Registration, RegistrationError, aregister, register
from tests.gwtransports.admin.harness import BASE
from tests.gwtransports.admin.running import RunningAdmin, running_admin

URL = "http://127.0.0.1:5123"


@pytest.fixture
def admin() -> Iterator[RunningAdmin]:
    with running_admin(from_dict(BASE)) as running:
        yield running


def _members(admin: RunningAdmin, service: str) -> int:
    stats = admin.gateway.stats(0.0)
    return next((s.members for s in stats.services if s.name == service), 0)


def _poll(predicate: Callable[[], bool], timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "condition not reached in time"
        time.sleep(0.01)


def test_sync_register_heartbeats_and_deregisters(admin: RunningAdmin) -> None:
    with register(admin.url, service="hello", paths=["/hello"], url=URL, weight=10, ttl=1.0) as reg:
        assert reg.instance_id
        assert "hello" in admin.gateway.config.services  # created on demand
        route = admin.gateway.config.routes[reg.routes[0]]
        assert (route.prefix, route.backends[0].service) == ("/hello", "hello")
        assert _members(admin, "hello") == 1
        # Heart-beats outlive the ttl several times over.
        _poll(lambda: reg.heartbeats >= 4)
        assert _members(admin, "hello") == 1
    assert _members(admin, "hello") == 0
    assert reg.routes[0] in admin.gateway.config.routes  # routes stay for other instances


def test_two_instances_share_the_route(admin: RunningAdmin) -> None:
    with (
        register(admin.url, service="users", paths=["/u"], url=URL, ttl=5) as one,
        register(
            admin.url, service="users", paths=["/u"], url="http://127.0.0.1:5124", ttl=5
        ) as two,
    ):
        assert one.routes == two.routes
        assert one.instance_id != two.instance_id
        assert _members(admin, "users") == 3
    assert _members(admin, "users") == 1


def test_instance_expires_when_heartbeats_stop(admin: RunningAdmin) -> None:
    with httpx.Client(base_url=admin.url) as client:
        client.post("/services/users/instances", json={"url": URL, "ttl": 0.3}).raise_for_status()
        assert _members(admin, "users") == 2
        _poll(lambda: _members(admin, "users") == 1)


def test_registration_fails_at_once() -> None:
    with (
        pytest.raises(RegistrationError, match="cannot reach"),
        register("http://127.0.0.1:9", service="s", url=URL, timeout=1),
    ):
        raise AssertionError("the block must not run")


def test_refused_registration_raises(admin: RunningAdmin) -> None:
    with (
        pytest.raises(RegistrationError, match="url"),
        register(admin.url, service="users", url="not a url"),
    ):
        raise AssertionError("the block must not run")
    with (
        pytest.raises(RegistrationError, match="prefix"),
        register(admin.url, service="users", url=URL, paths=["no-slash"]),
    ):
        raise AssertionError("the block must not run")


async def _use_async(admin: RunningAdmin, sleep: Callable[[float], object]) -> Registration:
    async with aregister(admin.url, service="hello", paths=["/hello"], url=URL, ttl=0.6) as reg:
        assert _members(admin, "hello") == 1
        deadline = time.monotonic() + 10
        while reg.heartbeats < 3:
            assert time.monotonic() < deadline
            await sleep(0.01)  # type: ignore[misc]
    return reg


def test_async_register_on_trio(admin: RunningAdmin) -> None:
    reg = trio.run(_use_async, admin, trio.sleep)
    assert reg.heartbeats >= 3
    assert _members(admin, "hello") == 0


def test_async_register_on_asyncio(admin: RunningAdmin) -> None:
    reg = asyncio.run(_use_async(admin, asyncio.sleep))
    assert reg.heartbeats >= 3
    assert _members(admin, "hello") == 0


def test_async_registration_failure_raises_on_entry() -> None:
    async def main() -> None:
        async with aregister("http://127.0.0.1:9", service="s", url=URL, timeout=1):
            raise AssertionError("the block must not run")

    with pytest.raises(RegistrationError):
        trio.run(main)


def test_reregisters_after_the_gateway_forgot_the_instance(admin: RunningAdmin) -> None:
    with register(admin.url, service="users", url=URL, ttl=0.6) as reg:
        with httpx.Client(base_url=admin.url) as client:
            client.delete(f"/services/users/instances/{reg.instance_id}").raise_for_status()
        assert _members(admin, "users") == 1
        _poll(lambda: _members(admin, "users") == 2)
