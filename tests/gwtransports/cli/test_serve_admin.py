"""The admin API inside ``gw serve``, driven through the ``gw`` CLI as a user would.

Each test starts ``gw serve -c`` as a subprocess on free loopback ports, with real
upstream HTTP servers, then runs ``gw`` commands and sends requests through the
proxy with httpx.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from functools import partial
from pathlib import Path

import httpx
import pytest

from gwtransports.registration import register
from tests.gwtransports.serving import (
    Served,
    answers_ok,
    free_port,
    named_upstreams,
    run_gw,
    wait_until,
)

pytestmark = pytest.mark.slow


@pytest.fixture
def upstreams() -> Iterator[dict[str, int]]:
    """Upstreams answering ``<name> <path>``: "users", "blue", "green"."""
    with named_upstreams("users", "blue", "green") as ports:
        yield ports


@dataclass
class Gateway:
    config: Path
    proxy: str
    admin: str
    env: dict[str, str]

    def __post_init__(self) -> None:
        self.served = Served(self.config)

    def start(self, *args: str) -> None:
        self.served.args = args
        self.served.start(partial(answers_ok, f"{self.admin}/health"))

    def stop(self) -> None:
        self.served.stop()

    def gw(self, *args: str) -> subprocess.CompletedProcess[str]:
        return run_gw(*args, env=self.env, cwd=self.config.parent)

    def get(self, path: str) -> httpx.Response:
        return httpx.get(f"{self.proxy}{path}", timeout=5)


def _write_config(tmp_path: Path, upstreams: dict[str, int], extra: str = "") -> Gateway:
    proxy, admin = free_port(), free_port()
    config = tmp_path / "gateway.yaml"
    config.write_text(
        f"""
listen: 127.0.0.1:{proxy}
admin: {{listen: 127.0.0.1:{admin}}}
timeouts: {{grace: 1s}}
services:
  users: {{endpoints: [{{url: "http://127.0.0.1:{upstreams["users"]}"}}]}}
routes:
  hello: {{prefix: /hello, respond: {{status: 200, body: "hello from gw"}}}}
{extra}"""
    )
    env = {**os.environ, "GW_ADMIN_URL": f"http://127.0.0.1:{admin}"}
    env.pop("GW_ADMIN_TOKEN", None)
    return Gateway(config, f"http://127.0.0.1:{proxy}", f"http://127.0.0.1:{admin}", env)


@pytest.fixture
def gateway(tmp_path: Path, upstreams: dict[str, int]) -> Iterator[Gateway]:
    gw = _write_config(tmp_path, upstreams)
    gw.start()
    yield gw
    gw.stop()


def test_ambassador_flow_and_restart_persistence(gateway: Gateway, tmp_path: Path) -> None:
    assert gateway.get("/user/42").status_code == 404
    mapping = tmp_path / "user.yaml"
    mapping.write_text("routes:\n  usermapping:\n    prefix: /user/\n    service: users\n")
    applied = gateway.gw("routes", "apply", "-f", str(mapping))
    assert applied.returncode == 0, applied.stderr
    answer = gateway.get("/user/42?x=1")
    assert (answer.status_code, answer.text) == (200, "users /42?x=1")
    # The same apply again is a no-op.
    assert "unchanged" in gateway.gw("routes", "apply", "-f", str(mapping)).stdout
    listing = gateway.gw("routes", "list").stdout
    assert "usermapping" in listing and "/user/" in listing
    stats = httpx.get(f"{gateway.admin}/stats").json()
    assert stats["services"]["users"]["upstream_ok"] >= 1
    metrics = httpx.get(f"{gateway.admin}/metrics").text
    assert 'gw_service_upstream_ok_total{service="users"}' in metrics
    # Delete the file's own route too: deletions must survive a restart.
    assert gateway.gw("routes", "delete", "hello").returncode == 0
    assert gateway.get("/hello").status_code == 404
    gateway.stop()
    gateway.start()
    assert gateway.get("/user/7").text == "users /7"
    assert gateway.get("/hello").status_code == 404
    # A SIGHUP reload re-reads the file and keeps the admin writes on top.
    assert gateway.served.proc is not None
    gateway.served.proc.send_signal(signal.SIGHUP)
    wait_until(lambda: "reloaded" in gateway.config.with_suffix(".log").read_text())
    assert gateway.get("/user/8").text == "users /8"
    assert gateway.gw("routes", "delete", "usermapping").returncode == 0
    assert gateway.get("/user/42").status_code == 404


def test_invalid_write_changes_nothing(gateway: Gateway, tmp_path: Path) -> None:
    before = gateway.gw("dump").stdout
    bad = tmp_path / "bad.yaml"
    bad.write_text("routes:\n  x: {prefix: nope, service: ghost}\n")
    result = gateway.gw("routes", "apply", "-f", str(bad))
    assert result.returncode == 1
    assert "routes.x.prefix" in result.stderr and "routes.x.service" in result.stderr
    assert gateway.gw("dump").stdout == before
    assert not (gateway.config.parent / "gateway.yaml.state.json").exists()


def test_dump_load_round_trip(gateway: Gateway, tmp_path: Path) -> None:
    dump = gateway.gw("dump")
    state = tmp_path / "state.yaml"
    state.write_text(dump.stdout)
    gateway.gw("routes", "delete", "hello")
    assert gateway.gw("dump").stdout != dump.stdout
    loaded = gateway.gw("load", str(state))
    assert loaded.returncode == 0, loaded.stderr
    assert gateway.gw("dump").stdout == dump.stdout
    assert gateway.get("/hello").text == "hello from gw"


def test_instance_ttl_expiry_and_registration(gateway: Gateway, upstreams: dict[str, int]) -> None:
    url = f"http://127.0.0.1:{upstreams['blue']}"
    # ttl 1.5 s, heart-beats every 0.5 s: generous enough for a loaded CI machine.
    with register(gateway.admin, service="reg", paths=["/reg"], url=url, ttl=1.5) as reg:
        assert gateway.get("/reg/x").text == "blue /x"
        wait_until(lambda: reg.heartbeats >= 4, what="heartbeats past the ttl")
        assert gateway.get("/reg/x").text == "blue /x"
    # Deregistered: the service has no endpoint left.
    assert gateway.get("/reg/x").status_code == 503
    created = httpx.post(f"{gateway.admin}/services/reg/instances", json={"url": url, "ttl": 0.5})
    assert created.status_code == 201
    assert gateway.get("/reg/y").text == "blue /y"
    wait_until(lambda: gateway.get("/reg/y").status_code == 503, what="instance expired")


def test_promote_under_load_loses_no_request(gateway: Gateway, upstreams: dict[str, int],
                                            tmp_path: Path) -> None:  # fmt: skip
    spec = tmp_path / "bg.yaml"
    spec.write_text(
        f"""services:
  blue: {{endpoints: [{{url: "http://127.0.0.1:{upstreams["blue"]}"}}]}}
  green: {{endpoints: [{{url: "http://127.0.0.1:{upstreams["green"]}"}}]}}
"""
    )
    assert gateway.gw("services", "apply", "-f", str(spec)).returncode == 0
    route = tmp_path / "route.yaml"
    route.write_text("routes:\n  app: {prefix: /app, service: blue}\n")
    assert gateway.gw("routes", "apply", "-f", str(route)).returncode == 0
    seen: list[str] = []
    failures: list[str] = []
    stop = threading.Event()

    def load() -> None:
        with httpx.Client(base_url=gateway.proxy, timeout=5) as client:
            while not stop.is_set():
                try:
                    answer = client.get("/app/ping")
                except httpx.HTTPError as exc:
                    failures.append(repr(exc))
                    continue
                if answer.status_code != 200:
                    failures.append(f"{answer.status_code} {answer.text}")
                else:
                    seen.append(answer.text.split()[0])

    workers = [threading.Thread(target=load) for _ in range(4)]
    for worker in workers:
        worker.start()
    try:
        wait_until(lambda: len(seen) > 50 or failures, what="load running")
        assert failures == [], failures[:3]
        canary = gateway.gw("promote", "app", "--to", "green", "--weight", "10")
        assert canary.returncode == 0, canary.stderr
        mark = len(seen)
        wait_until(lambda: "green" in seen[mark:], what="canary traffic")
        full = gateway.gw("promote", "app", "--to", "green")
        assert full.returncode == 0, full.stderr
        mark = len(seen)
        wait_until(lambda: len(seen) > mark + 100, what="traffic after promote")
    finally:
        stop.set()
        for worker in workers:
            worker.join()
    assert failures == []
    # A request that started after the switch went to green only.
    tail = seen[mark + 20 :]
    assert tail and set(tail) == {"green"}


def test_token_and_unprotected_listener(tmp_path: Path, upstreams: dict[str, int]) -> None:
    gw = _write_config(tmp_path, upstreams)
    text = gw.config.read_text().replace("admin: {listen:", "admin: {token: s3cret, listen:")
    gw.config.write_text(text)
    gw.start()
    try:
        denied = gw.gw("routes", "list")
        assert denied.returncode == 1 and "401" in denied.stderr
        assert httpx.get(f"{gw.admin}/health").status_code == 200
        allowed = gw.gw("routes", "list", "--token", "s3cret", "--json")
        assert json.loads(allowed.stdout)["routes"]["hello"]["prefix"] == "/hello"
    finally:
        gw.stop()
    exposed = text.replace("admin: {token: s3cret, listen: 127.0.0.1:", "admin: {listen: 0.0.0.0:")
    gw.config.write_text(exposed)
    refused = run_gw("serve", "-c", str(gw.config))
    assert refused.returncode == 1
    assert "admin.listen" in refused.stderr


def test_openapi_import_export(gateway: Gateway, tmp_path: Path, upstreams: dict[str, int]) -> None:
    spec = tmp_path / "petstore.yaml"
    spec.write_text(
        f"""openapi: 3.0.1
info: {{title: Petstore, version: "1"}}
servers: [{{url: /petstore/v1}}]
x-gw-endpoints: ["http://127.0.0.1:{upstreams["green"]}/api"]
paths:
  /pets: {{get: {{responses: {{"200": {{description: ok}}}}}}}}
  /pets/{{id}}: {{get: {{responses: {{"200": {{description: ok}}}}}}}}
"""
    )
    imported = gateway.gw("openapi", "import", str(spec))
    assert imported.returncode == 0, imported.stderr
    assert gateway.get("/petstore/v1/pets/3").text == "green /api/pets/3"
    exported = tmp_path / "export.yaml"
    assert gateway.gw("openapi", "export", "-o", str(exported)).returncode == 0
    before = gateway.gw("dump").stdout
    again = gateway.gw("openapi", "import", str(exported))
    assert again.returncode == 0
    assert "unchanged" in again.stdout
    assert gateway.gw("dump").stdout == before


def test_stage_flag_overrides(tmp_path: Path, upstreams: dict[str, int]) -> None:
    gw = _write_config(
        tmp_path,
        upstreams,
        f"""  staged: {{prefix: /staged, service: staged}}
stage: dev
stages:
  dev: {{variables: {{host: "127.0.0.1:{upstreams["blue"]}"}}}}
  prod: {{variables: {{host: "127.0.0.1:{upstreams["green"]}"}}}}
""",
    )
    text = gw.config.read_text().replace(
        "services:\n",
        'services:\n  staged: {endpoints: [{url: "http://${stageVariables.host}"}]}\n',
    )
    gw.config.write_text(text)
    gw.start()
    try:
        assert gw.get("/staged/a").text == "blue /a"
    finally:
        gw.stop()
    gw.start("--stage", "prod")
    try:
        assert gw.get("/staged/a").text == "green /a"
    finally:
        gw.stop()
