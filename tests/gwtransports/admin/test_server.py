from __future__ import annotations

import socket
import ssl
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import httpx
import pytest
import trustme

from gwcore.config import Admin, Config, Listener, Tls, from_dict
from gwcore.errors import ConfigError
from gwcore.events import Change
from gwtransports.admin.handlers import StoreStatus
from gwtransports.admin.server import check_admin_security
from gwtransports.admin.state import load_state
from gwtransports.admin.store import FileStore, StoreFailed
from gwtransports.registration import tls_context

from .harness import BASE
from .running import running_admin


def _config(**changes: object) -> Config:
    return replace(from_dict(BASE), **changes)  # type: ignore[arg-type]


def test_write_read_over_http_with_keep_alive() -> None:
    with running_admin(_config()) as admin, httpx.Client(base_url=admin.url) as client:
        put = client.put("/routes/x", json={"prefix": "/x", "service": "users"})
        assert put.status_code == 200
        assert put.json()["changed"] is True
        assert "x" in admin.gateway.config.routes
        assert client.get("/routes/x").json()["prefix"] == "/x"
        head = client.head("/health")
        assert head.status_code == 200
        assert head.content == b""


def test_body_over_one_mebibyte_is_413_and_changes_nothing() -> None:
    with running_admin(_config()) as admin, httpx.Client(base_url=admin.url) as client:
        generation = admin.gateway.generation
        big = b'{"prefix": "/x", "service": "users", "pad": "' + b"a" * (1 << 20) + b'"}'
        answer = client.put("/routes/x", content=big)
        assert answer.status_code == 413
        assert answer.json()["error"] == "body_too_large"

        def chunks() -> Iterator[bytes]:  # no Content-Length: the limit holds while streaming
            yield big[: 1 << 19]
            yield big[1 << 19 :]

        assert client.put("/routes/x", content=chunks()).status_code == 413
        assert admin.gateway.generation == generation


def test_malformed_http_is_400() -> None:
    with (
        running_admin(_config()) as admin,
        socket.create_connection(("127.0.0.1", admin.port), timeout=5) as sock,
    ):
        sock.sendall(b"GET /health HTTP/1.1\r\nHost: x\r\nbad header\r\n\r\n")
        assert sock.recv(100).startswith(b"HTTP/1.1 400")


class _BrokenStore:
    kind = "file"

    def status(self) -> StoreStatus:
        return StoreStatus(kind="file", ok=False)

    async def persist(self, before: Config, after: Config, change: Change, changed: bool) -> None:
        raise StoreFailed("disk full")


def test_write_the_store_cannot_keep_is_503_and_rolled_back() -> None:
    with running_admin(_config(), _BrokenStore()) as admin, httpx.Client(base_url=admin.url) as c:
        before = admin.gateway.config
        answer = c.put("/routes/x", json={"prefix": "/x", "service": "users"})
        assert answer.status_code == 503
        assert answer.json()["error"] == "store_unavailable"
        assert admin.gateway.config == before
        assert c.get("/health").json()["store"]["ok"] is False


def test_file_store_keeps_every_acknowledged_write(tmp_path: Path) -> None:
    state = tmp_path / "gw.yaml.state.json"
    with running_admin(_config(), FileStore(state)) as admin, httpx.Client(base_url=admin.url) as c:
        c.put("/routes/x", json={"prefix": "/x", "service": "users"}).raise_for_status()
        c.delete("/routes/usermapping").raise_for_status()
        stored = load_state(state)
        assert stored is not None
        assert set(stored["routes"]) == {"x"}
        assert set(stored["services"]) == {"users"}
        health = c.get("/health").json()
        assert health["store"] == {"kind": "file", "ok": True, "stale_since": None,
                                   "detail": str(state)}  # fmt: skip
    assert not list(tmp_path.glob("*.tmp"))


@pytest.mark.parametrize("host", ["0.0.0.0", "10.1.2.3", "example.com"])
def test_refuses_to_listen_beyond_loopback_unprotected(host: str) -> None:
    config = _config(admin=Admin(listen=Listener(host=host, port=9999)))
    with pytest.raises(ConfigError) as info:
        check_admin_security(config)
    assert info.value.errors[0].path == "admin.listen"
    check_admin_security(_config(admin=Admin(listen=Listener(host=host, port=9999), token="t")))
    check_admin_security(_config(admin=Admin(listen=Listener(host="::1", port=9999))))


def test_refuses_the_proxy_port() -> None:
    config = _config(admin=Admin(listen=Listener(host="127.0.0.1", port=8080)))
    with pytest.raises(ConfigError, match="proxy"):
        check_admin_security(config)


def test_mutual_tls(tmp_path: Path) -> None:
    ca = trustme.CA()
    server_cert = ca.issue_cert("127.0.0.1")
    server_pem, ca_pem = tmp_path / "server.pem", tmp_path / "ca.pem"
    server_cert.private_key_and_cert_chain_pem.write_to_path(server_pem)
    ca.cert_pem.write_to_path(ca_pem)
    client_cert = ca.issue_cert("deploy-bot")
    client_pem = tmp_path / "client.pem"
    client_cert.private_key_and_cert_chain_pem.write_to_path(client_pem)
    stranger = trustme.CA().issue_cert("stranger")
    stranger_pem = tmp_path / "stranger.pem"
    stranger.private_key_and_cert_chain_pem.write_to_path(stranger_pem)
    tls = Tls(cert=str(server_pem), key=str(server_pem), client_ca=str(ca_pem))
    config = _config(admin=Admin(tls=tls))
    with running_admin(config, scheme="https") as admin:
        with httpx.Client(verify=tls_context(str(ca_pem), str(client_pem))) as good:
            answer = good.put(f"{admin.url}/routes/x", json={"prefix": "/x", "service": "users"})
            assert answer.status_code == 200
        for cert in (None, str(stranger_pem)):
            with (
                httpx.Client(verify=tls_context(str(ca_pem), cert)) as bad,
                pytest.raises(
                    (httpx.ConnectError, httpx.ReadError, httpx.RemoteProtocolError, ssl.SSLError)
                ),  # fmt: skip
            ):
                bad.get(f"{admin.url}/routes").raise_for_status()
