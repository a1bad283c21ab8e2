"""``gw serve --workers 2`` in file mode: admin writes reach every worker.

Only one worker owns the admin listener; the other follows the state file. Every
check sends its requests on fresh connections (one per request), so SO_REUSEPORT
spreads them over both workers: 40 requests all land on the same worker with
probability 2**-39.
"""

from __future__ import annotations

import os
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from gwtransports.registration import register
from tests.gwtransports.serving import Served, answers_ok, run_gw, wait_until

from .test_serve_admin import _write_config, upstreams

__all__ = ["upstreams"]  # the fixture, imported for the tests below

pytestmark = pytest.mark.slow

#: Requests per check, each on a fresh connection.
SPREAD = 40

#: How long an admin write may take to reach every worker: the follower looks
#: every 0.25 s; the rest is slack for a loaded CI machine.
REACH = 5.0


@dataclass
class Workers:
    config: Path
    log: Path
    proxy: str
    admin: str
    env: dict[str, str]

    def __post_init__(self) -> None:
        self.served = Served(
            self.config, "--workers", "2", "--access-log", os.devnull, log=self.log
        )

    def start(self) -> None:
        self.served.start(self._up, what="both workers serving")

    def _up(self) -> bool:
        serving = self.log.read_text().count("gw serving on") >= 2
        return serving and answers_ok(f"{self.admin}/health")

    def stop(self) -> None:
        self.served.stop()

    def gw(self, *args: str) -> subprocess.CompletedProcess[str]:
        return run_gw(*args, env=self.env)

    def spread(self, path: str) -> list[tuple[int, str]]:
        """``SPREAD`` requests, each on its own connection: (status, body)."""
        answers = []
        for _ in range(SPREAD):
            answer = httpx.get(f"{self.proxy}{path}", timeout=5)
            answers.append((answer.status_code, answer.text))
        return answers

    def reaches_all(self, path: str, want: tuple[int, str] | int) -> float:
        """Seconds until every request of a spread answers ``want``."""
        started = time.monotonic()

        def ok() -> bool:
            got = self.spread(path)
            if isinstance(want, int):
                return all(status == want for status, _ in got)
            return all(answer == want for answer in got)

        wait_until(ok, timeout=REACH, what=f"{path} -> {want} on every worker")
        return time.monotonic() - started


@pytest.fixture
def workers(tmp_path: Path, upstreams: dict[str, int]) -> Iterator[Workers]:
    # The config of the single-process tests (on fresh ports), served by two workers.
    single = _write_config(tmp_path, upstreams)
    running = Workers(single.config, tmp_path / "gw.log", single.proxy, single.admin, single.env)
    running.start()
    yield running
    running.stop()


def test_route_writes_reach_every_worker(workers: Workers, tmp_path: Path) -> None:
    pids = {line.rsplit("pid ", 1)[1] for line in workers.log.read_text().splitlines()
            if "gw serving on" in line}  # fmt: skip
    assert len(pids) == 2
    assert all(status == 404 for status, _ in workers.spread("/user/1"))
    mapping = tmp_path / "user.yaml"
    mapping.write_text("routes:\n  usermapping:\n    prefix: /user/\n    service: users\n")
    assert workers.gw("routes", "apply", "-f", str(mapping)).returncode == 0
    workers.reaches_all("/user/1", (200, "users /1"))
    # The worker without the admin listener logged that it followed the file.
    assert "state file applied" in workers.log.read_text()
    # Deletions travel the same way.
    assert workers.gw("routes", "delete", "hello").returncode == 0
    workers.reaches_all("/hello", 404)
    assert workers.gw("routes", "delete", "usermapping").returncode == 0
    workers.reaches_all("/user/1", 404)


def test_registered_instances_serve_on_every_worker(
    workers: Workers, upstreams: dict[str, int]
) -> None:
    url = f"http://127.0.0.1:{upstreams['blue']}"
    with register(workers.admin, service="reg", paths=["/reg"], url=url, ttl=1.5) as reg:
        workers.reaches_all("/reg/x", (200, "blue /x"))
        # Heartbeats move the expiry every worker sees: still served past the ttl.
        wait_until(lambda: reg.heartbeats >= 4, what="heartbeats past the ttl")
        assert set(workers.spread("/reg/x")) == {(200, "blue /x")}
    # Deregistered: no endpoint left, on any worker.
    workers.reaches_all("/reg/x", 503)
    # An instance that stops heart-beating expires on every worker.
    created = httpx.post(f"{workers.admin}/services/reg/instances", json={"url": url, "ttl": 1})
    assert created.status_code == 201
    workers.reaches_all("/reg/y", 503)


def test_broken_state_file_is_ignored_until_fixed(workers: Workers, tmp_path: Path) -> None:
    state = tmp_path / "gateway.yaml.state.json"
    mapping = tmp_path / "user.yaml"
    mapping.write_text("routes:\n  usermapping:\n    prefix: /user/\n    service: users\n")
    assert workers.gw("routes", "apply", "-f", str(mapping)).returncode == 0
    workers.reaches_all("/user/1", (200, "users /1"))
    state.write_text('{"format": 1, "routes": {"x": {"prefix": "no-slash"}}, "services": {}}')
    wait_until(lambda: "state file" in workers.log.read_text() and "ignored" in
               workers.log.read_text(), timeout=REACH, what="broken state file logged")  # fmt: skip
    # Every worker keeps serving what it had.
    assert set(workers.spread("/user/1")) == {(200, "users /1")}
    # The next admin write rewrites the file whole, and every worker follows again.
    assert workers.gw("routes", "delete", "hello").returncode == 0
    workers.reaches_all("/hello", 404)
    assert set(workers.spread("/user/1")) == {(200, "users /1")}


def test_instances_survive_a_restart_until_their_ttl(
    workers: Workers, upstreams: dict[str, int]
) -> None:
    url = f"http://127.0.0.1:{upstreams['green']}"
    service: dict[str, object] = {"endpoints": []}
    assert httpx.put(f"{workers.admin}/services/reg", json=service).status_code in (200, 201)
    route = {"prefix": "/reg", "service": "reg"}
    assert httpx.put(f"{workers.admin}/routes/reg", json=route).status_code in (200, 201)
    created = httpx.post(f"{workers.admin}/services/reg/instances", json={"url": url, "ttl": 60})
    assert created.status_code == 201
    ident = created.json()["id"]
    workers.reaches_all("/reg/a", (200, "green /a"))
    workers.stop()
    workers.start()
    # Served at once by both workers, and the gateway still knows it: a
    # heartbeat renews it instead of asking it to register again.
    assert set(workers.spread("/reg/b")) == {(200, "green /b")}
    beat = httpx.put(f"{workers.admin}/services/reg/instances/{ident}")
    assert beat.status_code == 200, beat.text
