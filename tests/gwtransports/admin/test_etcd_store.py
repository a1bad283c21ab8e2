"""Admin writes and self-registration in distributed mode, against a real etcd."""

from __future__ import annotations

import functools
import json
import os
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import anyio
import httpx
import pytest

from gwcore.config import from_dict
from gwcore.events import (
    ConfigReplaced,
    InstanceDeregistered,
    InstanceHeartbeat,
    InstanceRegistered,
    RouteDeleted,
    RouteUpserted,
)
from gwtransports.admin.etcd_store import EtcdStore
from gwtransports.admin.store import StoreFailed
from gwtransports.etcd_writer import EtcdWriter
from gwtransports.registration import RegistrationError, register_etcd
from tests.gwtransports.etcd.conftest import (  # noqa: F401  (fixtures)
    EtcdServer,
    etcd,
    etcd_factory,
)
from tests.gwtransports.serving import free_port, wait_until

from .harness import BASE

pytestmark = pytest.mark.etcd


def _keys(server: EtcdServer) -> dict[str, dict[str, object]]:
    client = server.client()
    try:
        found, _ = client.read("/gw/", frozenset())
    finally:
        client.close()
    return {k: json.loads(v) for k, v in found.items()}


def test_store_writes_routes_services_and_instances(etcd: EtcdServer) -> None:  # noqa: F811
    store = EtcdStore(EtcdWriter(etcd.settings(), prefix="/gw/"))
    before = from_dict(BASE)
    route = from_dict({**BASE, "routes": {"x": {"prefix": "/x", "service": "users"}}}).routes["x"]
    after = replace(before, routes=before.routes.set("x", route))

    async def scenario() -> None:
        await store.persist(before, after, RouteUpserted(route=route), True)
        assert "/gw/routes/x" in _keys(etcd)
        await store.persist(after, before, RouteDeleted(name="x"), True)
        assert "/gw/routes/x" not in _keys(etcd)
        await store.persist(from_dict({}), after, ConfigReplaced(config=after), True)
        assert set(_keys(etcd)) == {"/gw/routes/x", "/gw/routes/usermapping", "/gw/services/users"}
        registered = InstanceRegistered(service="users", instance="i1", url="http://h:1", ttl=5)
        await store.persist(after, after, registered, True)
        assert _keys(etcd)["/gw/instances/users/i1"] == {"url": "http://h:1", "weight": 1}
        await store.persist(after, after, InstanceHeartbeat(service="users", instance="i1"), False)
        await store.persist(
            after, after, InstanceDeregistered(service="users", instance="i1"), True
        )
        assert "/gw/instances/users/i1" not in _keys(etcd)
        assert store.status().ok
        etcd.stop()
        with pytest.raises(StoreFailed):
            await store.persist(before, after, RouteUpserted(route=route), True)
        assert store.status().ok is False
        assert store.status().stale_since is not None

    anyio.run(scenario)


def test_register_straight_into_etcd(etcd: EtcdServer) -> None:  # noqa: F811
    with register_etcd(
        etcd.url, service="hello", paths=["/hello"], url="http://h:5000", ttl=2
    ) as reg:
        keys = _keys(etcd)
        assert f"/gw/instances/hello/{reg.instance_id}" in keys
        assert "/gw/services/hello" in keys
        assert keys[f"/gw/routes/{reg.routes[0]}"]["prefix"] == "/hello"
    assert f"/gw/instances/hello/{reg.instance_id}" not in _keys(etcd)
    assert "/gw/services/hello" in _keys(etcd)
    with (
        pytest.raises(RegistrationError),
        register_etcd(etcd.url, service="hello", url="http://h:1", paths=["bad"]),
    ):
        raise AssertionError("the block must not run")


def test_admin_writes_in_distributed_mode_reach_every_replica(
    etcd: EtcdServer,  # noqa: F811
    tmp_path: Path,
) -> None:
    replicas = []
    for n in range(2):
        proxy, admin = free_port(), free_port()
        config = tmp_path / f"gw{n}.yaml"
        config.write_text(
            f"listen: 127.0.0.1:{proxy}\nadmin: {{listen: 127.0.0.1:{admin}}}\n"
            "routes: {}\nservices: {}\n"
        )
        proc = subprocess.Popen(
            [sys.executable, "-m", "gwtransports.cli", "serve", "-c", str(config),
             "--etcd", etcd.url],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )  # fmt: skip
        replicas.append((proc, proxy, f"http://127.0.0.1:{admin}"))
    try:
        for _, _, admin_url in replicas:
            wait_until(functools.partial(_up, admin_url), timeout=20, what="replica up")
        health = httpx.get(f"{replicas[0][2]}/health").json()
        assert health["store"]["kind"] == "etcd"
        spec = tmp_path / "hello.yaml"
        spec.write_text("routes:\n  hello: {prefix: /hello, respond: {status: 200, body: hi}}\n")
        env = {**os.environ, "GW_ADMIN_URL": replicas[0][2]}
        applied = subprocess.run(
            [sys.executable, "-m", "gwtransports.cli", "routes", "apply", "-f", str(spec)],
            capture_output=True, text=True, env=env, timeout=60, check=False,
        )  # fmt: skip
        assert applied.returncode == 0, applied.stderr
        assert "/gw/routes/hello" in _keys(etcd)
        # The other replica learns it through its etcd watch.
        other = replicas[1][1]
        wait_until(lambda: _text(other, "/hello") == "hi", what="second replica has the route")
    finally:
        for proc, _, _ in replicas:
            proc.terminate()
            proc.wait(timeout=20)


def _up(url: str) -> bool:
    try:
        return httpx.get(f"{url}/health", timeout=1).status_code == 200
    except httpx.HTTPError:
        return False


def _text(port: int, path: str) -> str:
    try:
        return httpx.get(f"http://127.0.0.1:{port}{path}", timeout=2).text
    except httpx.HTTPError:
        return ""
