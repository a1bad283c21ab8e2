"""The admin subcommands as a user runs them, against a real admin listener."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import pytest
import trustme
import yaml

from gwcore.config import Admin, Tls, from_dict
from gwtransports.commands.promote import promoted
from tests.gwtransports.admin.harness import BASE
from tests.gwtransports.admin.running import RunningAdmin, running_admin


def gw(
    admin: RunningAdmin | None, *args: str, stdin: str | None = None
) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "GW_ADMIN_URL": admin.url if admin else "http://127.0.0.1:9"}
    env.pop("GW_ADMIN_TOKEN", None)
    return subprocess.run(
        [sys.executable, "-m", "gwtransports.cli", *args],
        capture_output=True, text=True, env=env, input=stdin, timeout=60, check=False,
    )  # fmt: skip


@pytest.fixture
def admin() -> Iterator[RunningAdmin]:
    with running_admin(from_dict(BASE)) as running:
        yield running


def test_routes_apply_list_get_delete(admin: RunningAdmin, tmp_path: Path) -> None:
    spec = tmp_path / "routes.yaml"
    spec.write_text("routes:\n  orders:\n    prefix: /orders/\n    service: users\n")
    first = gw(admin, "routes", "apply", "-f", str(spec))
    assert first.returncode == 0, first.stderr
    assert "route orders: created" in first.stdout
    second = gw(admin, "routes", "apply", "-f", str(spec))
    assert "route orders: unchanged" in second.stdout
    listing = gw(admin, "routes", "list")
    assert "orders" in listing.stdout and "usermapping" in listing.stdout
    got = gw(admin, "routes", "get", "orders")
    assert yaml.safe_load(got.stdout)["routes"]["orders"]["prefix"] == "/orders/"
    # What get prints applies back unchanged.
    again = gw(admin, "routes", "apply", "-f", "-", stdin=got.stdout)
    assert "unchanged" in again.stdout
    as_json = json.loads(gw(admin, "routes", "list", "--json").stdout)
    assert set(as_json["routes"]) == {"orders", "usermapping"}
    deleted = gw(admin, "routes", "delete", "orders")
    assert deleted.returncode == 0
    assert "orders" not in admin.gateway.config.routes


def test_invalid_apply_prints_every_error_and_exits_1(admin: RunningAdmin, tmp_path: Path) -> None:
    spec = tmp_path / "bad.yaml"
    spec.write_text("routes:\n  bad:\n    prefix: nope\n    service: ghost\n")
    before = admin.gateway.config
    result = gw(admin, "routes", "apply", "-f", str(spec))
    assert result.returncode == 1
    assert "routes.bad.prefix" in result.stderr
    assert "routes.bad.service" in result.stderr
    assert result.stdout == ""
    assert admin.gateway.config == before


def test_services_and_dry_run(admin: RunningAdmin, tmp_path: Path) -> None:
    spec = tmp_path / "services.yaml"
    spec.write_text("services:\n  orders:\n    endpoints: [{url: 'http://127.0.0.1:9100'}]\n")
    dry = gw(admin, "services", "apply", "-f", str(spec), "--dry-run")
    assert "dry run" in dry.stdout
    assert "add    services.orders" in dry.stdout
    assert "orders" not in admin.gateway.config.services
    assert gw(admin, "services", "apply", "-f", str(spec)).returncode == 0
    assert "http://127.0.0.1:9100" in gw(admin, "services", "list").stdout


def test_dump_then_load_gives_the_identical_state(admin: RunningAdmin, tmp_path: Path) -> None:
    dump = gw(admin, "dump")
    assert dump.returncode == 0
    state = tmp_path / "state.yaml"
    state.write_text(dump.stdout)
    config = admin.gateway.config
    gw(admin, "routes", "delete", "usermapping")
    assert admin.gateway.config != config
    loaded = gw(admin, "load", str(state))
    assert loaded.returncode == 0, loaded.stderr
    assert admin.gateway.config == config
    assert gw(admin, "dump").stdout == dump.stdout


def test_explain(admin: RunningAdmin) -> None:
    result = gw(admin, "explain", "GET", "http://api.example.com/user/42")
    assert result.returncode == 0
    assert "-> route usermapping, upstream path /42" in result.stdout
    endpoint = BASE["services"]["users"]["endpoints"][0]["url"]
    assert f"-> service users, endpoint {endpoint}, target /42" in result.stdout
    as_json = json.loads(
        gw(admin, "explain", "GET", "http://api.example.com/user/42", "--json").stdout
    )
    assert (as_json["destination"]["service"], as_json["destination"]["endpoint"]) == (
        "users", endpoint)  # fmt: skip
    missing = gw(admin, "explain", "GET", "http://api.example.com/nothing")
    assert missing.returncode == 1
    assert "-> service" not in missing.stdout


def test_promote_blue_green_and_canary(admin: RunningAdmin, tmp_path: Path) -> None:
    spec = tmp_path / "green.yaml"
    spec.write_text("services:\n  green:\n    endpoints: [{url: 'http://127.0.0.1:9200'}]\n")
    gw(admin, "services", "apply", "-f", str(spec))
    canary = gw(admin, "promote", "usermapping", "--to", "green", "--weight", "10")
    assert canary.returncode == 0, canary.stderr
    backends = {b.service: b.weight for b in admin.gateway.config.routes["usermapping"].backends}
    assert backends == {"users": 90, "green": 10}
    full = gw(admin, "promote", "usermapping", "--to", "green")
    assert full.returncode == 0
    route = admin.gateway.config.routes["usermapping"]
    assert [(b.service, b.weight) for b in route.backends] == [("green", 1)]


def test_promoted_shares() -> None:
    route = {
        "prefix": "/a",
        "backends": [{"service": "a", "weight": 3}, {"service": "b", "weight": 1}],
    }
    entry = promoted(route, "c", 20)
    assert [(b["service"], b["weight"]) for b in entry["backends"]] == [
        ("a", 60),
        ("b", 20),
        ("c", 20),
    ]
    assert promoted(route, "a", 100) == {"prefix": "/a", "service": "a"}
    assert promoted({"prefix": "/a", "service": "a"}, "b", 0)["backends"] == [
        {"service": "a", "weight": 100}
    ]
    with pytest.raises(ValueError):
        promoted(route, "c", 101)


def test_unreachable_admin_is_a_clear_error() -> None:
    result = gw(None, "routes", "list")
    assert result.returncode == 1
    assert "cannot reach the admin API" in result.stderr


def test_token_from_environment(tmp_path: Path) -> None:
    config = from_dict({**BASE, "admin": {"listen": "127.0.0.1:0", "token": "s3cret"}})
    with running_admin(config) as admin:
        denied = gw(admin, "routes", "list")
        assert denied.returncode == 1
        assert "401" in denied.stderr
        env = {**os.environ, "GW_ADMIN_URL": admin.url, "GW_ADMIN_TOKEN": "s3cret"}
        allowed = subprocess.run(
            [sys.executable, "-m", "gwtransports.cli", "routes", "list"],
            capture_output=True, text=True, env=env, timeout=60, check=False,
        )  # fmt: skip
        assert allowed.returncode == 0
        assert "usermapping" in allowed.stdout


def test_check(tmp_path: Path) -> None:
    good = tmp_path / "good.yaml"
    good.write_text(yaml.safe_dump({**BASE, "routes": {
        "a": {"prefix": "/user/", "service": "users", "methods": ["GET"]},
        "b": {"prefix": "/user/", "service": "users", "methods": ["GET"], "priority": -1},
    }}))  # fmt: skip
    result = gw(None, "check", "-c", str(good))
    assert result.returncode == 0
    assert "warning: routes.b: shadowed by a" in result.stdout
    bad = tmp_path / "bad.yaml"
    bad.write_text("routes:\n  a: {prefix: x, service: nope}\n")
    result = gw(None, "check", "-c", str(bad))
    assert result.returncode == 1
    assert "routes.a.prefix" in result.stderr and "routes.a.service" in result.stderr
    tie = tmp_path / "tie.yaml"
    same = {"prefix": "/user/", "service": "users"}
    tie.write_text(yaml.safe_dump({**BASE, "routes": {"a": same, "b": same}}))
    assert gw(None, "check", "-c", str(tie)).returncode == 1


def test_help_lists_every_subcommand() -> None:
    result = gw(None, "--help")
    for name in ("serve", "check", "routes", "services", "dump", "load", "explain", "register",
                 "promote", "openapi"):  # fmt: skip
        assert name in result.stdout


def test_client_certificate_options(tmp_path: Path) -> None:
    ca = trustme.CA()
    ca_pem, server_pem, client_pem = tmp_path / "ca.pem", tmp_path / "srv.pem", tmp_path / "cl.pem"
    ca.cert_pem.write_to_path(ca_pem)
    ca.issue_cert("127.0.0.1").private_key_and_cert_chain_pem.write_to_path(server_pem)
    client = ca.issue_cert("deploy-bot")
    client.cert_chain_pems[0].write_to_path(client_pem)
    key_pem = tmp_path / "cl.key"
    client.private_key_pem.write_to_path(key_pem)
    tls = Tls(cert=str(server_pem), key=str(server_pem), client_ca=str(ca_pem))
    config = replace(from_dict(BASE), admin=Admin(tls=tls))
    with running_admin(config, scheme="https") as admin:
        ok = gw(admin, "routes", "list", "--cacert", str(ca_pem),
                "--cert", str(client_pem), "--key", str(key_pem))  # fmt: skip
        assert ok.returncode == 0, ok.stderr
        assert "usermapping" in ok.stdout
        refused = gw(admin, "routes", "list", "--cacert", str(ca_pem))
        assert refused.returncode == 1
        assert "cannot reach the admin API" in refused.stderr


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM])
def test_register_until_interrupted(admin: RunningAdmin, signum: int) -> None:
    env = {**os.environ, "GW_ADMIN_URL": admin.url}
    command = ["register", "--service", "greeter", "--url", "http://127.0.0.1:5999",
               "--path", "/greet", "--ttl", "0.6"]  # fmt: skip
    with subprocess.Popen(
        [sys.executable, "-m", "gwtransports.cli", *command],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env,
    ) as proc:  # fmt: skip
        assert proc.stdout is not None and proc.stderr is not None
        first = proc.stdout.readline()
        assert first.startswith("registered greeter instance"), proc.stderr.read()
        members = [s.members for s in admin.gateway.stats(0.0).services if s.name == "greeter"]
        assert members == [1]
        route = next(r for r in admin.gateway.config.routes.values() if r.prefix == "/greet")
        assert route.backends[0].service == "greeter"
        proc.send_signal(signum)
        assert proc.wait(timeout=20) == 0
        assert proc.stdout.read().startswith("deregistered greeter instance")
    assert [s.members for s in admin.gateway.stats(0.0).services if s.name == "greeter"] == [0]


def test_explain_against_a_config_file(tmp_path: Path) -> None:
    config = tmp_path / "gw.yaml"
    config.write_text(yaml.safe_dump(BASE))
    result = gw(None, "explain", "-c", str(config), "GET", "http://any.example/user/9", "--json")
    assert result.returncode == 0, result.stderr
    explained = json.loads(result.stdout)
    assert (explained["winner"], explained["upstream_path"]) == ("usermapping", "/9")
    endpoint = BASE["services"]["users"]["endpoints"][0]["url"]
    assert explained["destination"]["endpoint"] == endpoint
    assert explained["destination"]["service"] == "users"


def test_explain_against_a_config_file_without_healthy_endpoint(tmp_path: Path) -> None:
    config = tmp_path / "gw.yaml"
    config.write_text(yaml.safe_dump({**BASE, "services": {"users": {"endpoints": []}}}))
    result = gw(None, "explain", "-c", str(config), "GET", "http://any.example/user/9")
    assert result.returncode == 0, result.stderr
    assert "-> route usermapping, upstream path /9" in result.stdout
    assert "-> no endpoint: 503 service 'users' cannot serve: it has no endpoints" in result.stdout
