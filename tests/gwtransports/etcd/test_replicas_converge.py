"""Two ``gw serve --etcd`` replicas end in the same state after a burst of changes.

The changes are written back to back, without waiting for either replica, so
each replica's watch delivers them in batches of its own; what counts is that
both end where etcd ends. Timing is the benchmark's business
(``benchmarks/discovery.py``), not this test's.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.gwtransports.serving import Served, free_port, named_upstreams, wait_until

from .conftest import EtcdServer

ROUNDS = 8
NAMES = ("a", "b", "c")


def _get(port: int, path: str) -> str:
    try:
        response = httpx.get(f"http://127.0.0.1:{port}{path}", timeout=5)
    except httpx.HTTPError as exc:
        return f"error {exc}"
    return response.text if response.status_code == 200 else str(response.status_code)


def _answers(port: int, path: str, expected: str) -> bool:
    return _get(port, path) == expected


def _state(admin_port: int) -> tuple[dict[str, object], dict[str, object]]:
    """The replica's routes and services, from its admin API."""
    response = httpx.get(f"http://127.0.0.1:{admin_port}/config", timeout=5)
    response.raise_for_status()
    data = response.json()
    return data["routes"], data["services"]


def _json(value: object) -> bytes:
    return json.dumps(value).encode()


@pytest.fixture
def replicas() -> Iterator[list[Served]]:
    served: list[Served] = []
    yield served
    for one in served:
        one.close()


def test_two_replicas_converge_on_a_burst_of_changes(
    etcd: EtcdServer, tmp_path: Path, replicas: list[Served]
) -> None:
    client = etcd.client()
    with named_upstreams(*NAMES) as upstreams:
        url = {name: f"http://127.0.0.1:{port}/" for name, port in upstreams.items()}
        for name in NAMES:
            client.put(f"/gw/services/s{name}", _json({"endpoints": [{"url": url[name]}]}))
        client.put("/gw/services/moving", _json({"endpoints": [{"url": url["a"]}]}))
        client.put("/gw/services/inst", _json({"endpoints": []}))
        client.put("/gw/routes/r", _json({"prefix": "/r/", "service": "sa"}))
        client.put("/gw/routes/m", _json({"prefix": "/m/", "service": "moving"}))
        client.put("/gw/routes/i", _json({"prefix": "/i/", "service": "inst"}))
        ports, admins = [], []
        for n in range(2):
            ports.append(free_port())
            admins.append(free_port())
            config = tmp_path / f"replica{n}.yaml"
            config.write_text(
                f"listen: 127.0.0.1:{ports[n]}\nadmin:\n  listen: 127.0.0.1:{admins[n]}\n"
                "access_log: 'off'\n"
            )
            replicas.append(Served(config, "--etcd", etcd.url))
            replicas[n].start(functools.partial(_answers, ports[n], "/r/x", "a /x"))

        # The burst: route, service and instance changes, a route added and
        # deleted, and each instance replaced by the next one on a new lease.
        writes = 0
        lease = None
        for k in range(ROUNDS):
            client.put("/gw/routes/r", _json({"prefix": "/r/", "service": f"s{NAMES[k % 3]}"}))
            client.put("/gw/services/moving", _json({"endpoints": [{"url": url[NAMES[-k % 3]]}]}))
            new_lease = client.grant(60)
            instance = {"url": url[NAMES[(k + 2) % 3]], "weight": 1}
            client.put(f"/gw/instances/inst/i-{k}", _json(instance), lease=new_lease)
            if lease is not None:
                client.revoke(lease)  # deletes the previous instance
            lease = new_lease
            writes += 3 + (k > 0)
            if k == 2:
                client.put("/gw/routes/tmp", _json({"prefix": "/tmp/", "service": "sb"}))
                writes += 1
            if k == 5:
                client.delete("/gw/routes/tmp")
                writes += 1
        assert writes >= 20
        last = ROUNDS - 1
        expected = {
            "/r/x": f"{NAMES[last % 3]} /x",
            "/m/x": f"{NAMES[-last % 3]} /x",
            "/i/x": f"{NAMES[(last + 2) % 3]} /x",
            "/tmp/x": "404",
        }
        assert len(set(expected.values())) == len(expected)  # each change is visible

        def settled(port: int) -> bool:
            return all(_answers(port, path, answer) for path, answer in expected.items())

        for n, port in enumerate(ports):
            wait_until(functools.partial(settled, port), timeout=10, what=f"replica {n} settled")
        for port in ports:
            # One instance left: a stale one would show up in the round robin.
            assert {_get(port, "/i/x") for _ in range(6)} == {expected["/i/x"]}
        (routes, services), other = (_state(admin) for admin in admins)
        assert (routes, services) == other
        assert set(routes) == {"r", "m", "i"}
        assert routes["r"]["service"] == f"s{NAMES[last % 3]}"  # type: ignore[index]
    client.close()
    for one in replicas:
        one.stop()
