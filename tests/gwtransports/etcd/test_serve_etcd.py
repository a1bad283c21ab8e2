"""``gw serve`` with etcd, run as a user would: a subprocess, real upstreams, real etcd."""

from __future__ import annotations

import functools
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.gwtransports.serving import Served, free_port, named_upstreams, wait_until

from .conftest import EtcdServer


@pytest.fixture
def upstreams() -> Iterator[dict[str, int]]:
    """Upstreams answering ``<name> <path>``: "first", "default" and "second"."""
    with named_upstreams("first", "default", "second") as ports:
        yield ports


def _get(port: int, path: str) -> str:
    try:
        return httpx.get(f"http://127.0.0.1:{port}{path}", timeout=10).text
    except httpx.HTTPError as exc:
        return f"error {exc}"


def _answers(port: int, path: str, expected: str) -> bool:
    return _get(port, path) == expected


@pytest.fixture
def stop_all() -> Iterator[list[Served]]:
    served: list[Served] = []
    yield served
    for one in served:
        one.close()


def _admin_text(port: int, path: str) -> str:
    return httpx.get(f"http://127.0.0.1:{port}{path}", timeout=5).text


def _admin(port: int, path: str) -> Any:
    return json.loads(_admin_text(port, path))


def test_seed_scenario(
    etcd: EtcdServer,
    upstreams: dict[str, int],
    tmp_path: Path,
    stop_all: list[Served],
) -> None:
    client = etcd.client()
    client.put("petstore", f"http://127.0.0.1:{upstreams['first']}/v2/".encode())
    port, admin = free_port(), free_port()
    config = tmp_path / "gateway.yaml"
    config.write_text(
        f"""
listen: 127.0.0.1:{port}
admin:
  listen: 127.0.0.1:{admin}
services:
  petstore:
    endpoints:
      - url: etcd(petstore, http://127.0.0.1:{upstreams["default"]}/)
routes:
  pets:
    prefix: /pets/
    service: petstore
etcd:
  endpoints: [{etcd.url}]
"""
    )
    stop_all.append(Served(config))
    stop_all[0].start(lambda: _get(port, "/pets/1").startswith("first"))
    assert _get(port, "/pets/1") == "first /v2/1"
    assert _admin(admin, "/health")["etcd"] == {"ok": True, "stale_since": None}
    # The key changes: traffic moves.
    client.put("petstore", f"http://127.0.0.1:{upstreams['second']}/v3/".encode())
    wait_until(lambda: _get(port, "/pets/1") == "second /v3/1", what="traffic moved")
    # Garbage in the key: ignored, the last good URL keeps serving.
    client.put("petstore", b"not a url")
    client.put("unrelated", b"x")  # a later revision, to know the garbage was seen
    assert _get(port, "/pets/1") == "second /v3/1"
    client.close()
    # etcd stops: traffic keeps flowing (to the endpoint's default while etcd is away).
    etcd.stop()
    wait_until(lambda: _get(port, "/pets/2") == "default /2", what="default while etcd down")
    answers = [_get(port, f"/pets/{n}") for n in range(20)]
    assert answers == [f"default /{n}" for n in range(20)]
    # /health and /metrics say the etcd watch is stale, and since when.
    health = _admin(admin, "/health")
    assert health["etcd"]["ok"] is False and health["etcd"]["stale_since"] > 0
    assert health["store"]["kind"] == "file" and health["store"]["ok"] is True
    metrics = _admin_text(admin, "/metrics")
    assert "\ngw_etcd_ok 0\n" in metrics and "\ngw_etcd_stale_since_seconds 1" in metrics
    # etcd returns: the key is re-read and serves again.
    etcd.start()
    wait_until(lambda: _get(port, "/pets/3") == "second /v3/3", what="etcd back", timeout=15)
    log = config.with_suffix(".log").read_text()
    assert "ignored value 'not a url'" in log


def test_distributed_mode_two_replicas_and_the_snapshot(
    etcd: EtcdServer,
    upstreams: dict[str, int],
    tmp_path: Path,
    stop_all: list[Served],
) -> None:
    client = etcd.client()
    service = {"endpoints": [{"url": f"http://127.0.0.1:{upstreams['first']}/"}]}
    client.put("/gw/services/petstore", json.dumps(service).encode())
    client.put("/gw/routes/pets", json.dumps({"prefix": "/pets/", "service": "petstore"}).encode())
    ports = [free_port(), free_port()]
    configs = []
    for n, port in enumerate(ports):
        config = tmp_path / f"replica{n}.yaml"
        config.write_text(f"listen: 127.0.0.1:{port}\nadmin:\n  listen: 127.0.0.1:{free_port()}\n")
        configs.append(config)
        stop_all.append(Served(config, "--etcd", etcd.url))
        stop_all[-1].start(functools.partial(_answers, port, "/pets/1", "first /1"))
    # A route written once reaches both replicas.
    body = {"prefix": "/new/", "service": "petstore"}
    client.put("/gw/routes/new", json.dumps(body).encode())
    for port in ports:
        wait_until(functools.partial(_answers, port, "/new/x", "first /x"), what="both replicas")
    # An invalid entry is refused with the key logged; the rest keeps serving.
    client.put("/gw/routes/broken", b'{"prefix": "no-slash", "service": "petstore"}')
    client.put("/gw/routes/late", json.dumps({"prefix": "/late/", "service": "petstore"}).encode())
    wait_until(lambda: _get(ports[0], "/late/x") == "first /x", what="later key")
    assert "/gw/routes/broken" in configs[0].with_suffix(".log").read_text()
    # A registered instance on a lease: served, then gone when the lease ends.
    lease = client.grant(2)
    instance = {"url": f"http://127.0.0.1:{upstreams['second']}", "weight": 1}
    client.put("/gw/instances/hello/i-1", json.dumps(instance).encode(), lease=lease)
    client.put("/gw/services/hello", b'{"endpoints": []}')
    client.put("/gw/routes/hello", b'{"prefix": "/hello/", "service": "hello"}')
    wait_until(lambda: _get(ports[1], "/hello/x") == "second /x", what="instance served")
    client.revoke(lease)
    wait_until(lambda: "no_healthy_endpoint" in _get(ports[1], "/hello/x"), what="instance gone")
    client.close()
    # Restart a replica while etcd is down: it serves from its snapshot.
    etcd.stop()
    stop_all[0].stop()
    assert Path(f"{configs[0]}.etcd.json").exists()
    stop_all[0].start(lambda: _get(ports[0], "/new/x") == "first /x", what="from the snapshot")
    etcd.start()
    client = etcd.client()
    client.delete("/gw/routes/new")
    client.close()
    wait_until(lambda: "no_route" in _get(ports[0], "/new/x"), what="re-listed after etcd returned")
