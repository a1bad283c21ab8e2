"""End-to-end proxy benchmark: gw serve against the upstream directly, a bare
trio + h11 relay (the floor of this stack), and nginx as a reverse proxy.

    python benchmarks/proxy.py                 # 3 rounds of 10 s per target and concurrency
    python benchmarks/proxy.py --duration 3    # quicker, noisier

The upstream is nginx when installed (else a small built-in asyncio server);
the load generator is wrk when installed (else a built-in asyncio one). Targets
are measured in interleaved rounds (every target once per round) so that drift
of a shared machine hits them all alike; the table shows the median round.
On a machine with 2 or more cores the proxy under test is pinned to CPU 0 and
everything else to the other CPUs, so each proxy gets exactly one core.
gw runs with every feature of ``gw serve`` on, access log included.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
BODY = b"hello from the upstream\n"
CORES = os.cpu_count() or 1
PROXY_CPUS = {0}
OTHER_CPUS = set(range(1, CORES)) or {0}


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _pin(cpus: set[int]) -> Callable[[], None]:
    def pin() -> None:
        if CORES > 1:
            os.sched_setaffinity(0, cpus)

    return pin


def _popen(cmd: list[str], cpus: set[int]) -> subprocess.Popen[bytes]:
    # preexec_fn runs before any thread exists in the child: safe here.
    return subprocess.Popen(cmd, preexec_fn=_pin(cpus))  # noqa: PLW1509


def _wait_port(port: int, timeout: float = 15) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
            return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError(f"nothing listens on {port}")


# ----------------------------------------------------------------- upstreams


def _nginx_conf(tmp: Path, name: str, server_block: str) -> Path:
    conf = tmp / f"{name}.conf"
    conf.write_text(
        f"""worker_processes 1;
daemon off;
pid {tmp}/{name}.pid;
error_log {tmp}/{name}.err warn;
events {{ worker_connections 4096; }}
http {{
  access_log off;
  keepalive_requests 1000000;
  client_body_temp_path {tmp}/{name}-body;
  proxy_temp_path {tmp}/{name}-proxy;
  fastcgi_temp_path {tmp}/{name}-fcgi;
  uwsgi_temp_path {tmp}/{name}-uwsgi;
  scgi_temp_path {tmp}/{name}-scgi;
  {server_block}
}}
"""
    )
    return conf


_BUILTIN_UPSTREAM = r"""
import asyncio, sys
BODY = sys.argv[2].encode() + b"\n"
HEAD = b"HTTP/1.1 200 OK\r\ncontent-type: text/plain\r\ncontent-length: %d\r\n\r\n"
RESP = HEAD % len(BODY) + BODY
class P(asyncio.Protocol):
    def connection_made(self, t): self.t = t; self.buf = b""
    def data_received(self, d):
        self.buf += d
        n = self.buf.count(b"\r\n\r\n")
        if n:
            self.buf = self.buf[self.buf.rfind(b"\r\n\r\n") + 4:]
            self.t.write(RESP * n)
async def main():
    loop = asyncio.get_running_loop()
    srv = await loop.create_server(P, "127.0.0.1", int(sys.argv[1]), backlog=1024)
    await srv.serve_forever()
asyncio.run(main())
"""


def start_upstream(tmp: Path, port: int) -> tuple[subprocess.Popen[bytes], str]:
    nginx = shutil.which("nginx")
    if nginx:
        body = BODY.decode().strip()
        block = f'server {{ listen 127.0.0.1:{port}; location / {{ return 200 "{body}\\n"; }} }}'
        conf = _nginx_conf(tmp, "upstream", block)
        cmd = [nginx, "-c", str(conf), "-p", str(tmp)]
        kind = "nginx"
    else:
        cmd = [sys.executable, "-c", _BUILTIN_UPSTREAM, str(port), BODY.decode().strip()]
        kind = "built-in asyncio"
    proc = _popen(cmd, OTHER_CPUS)
    _wait_port(port)
    return proc, kind


# ------------------------------------------------------------------- proxies


def start_gw(tmp: Path, port: int, up_port: int) -> subprocess.Popen[bytes]:
    cfg = tmp / "gw.yaml"
    cfg.write_text(
        f"""listen: 127.0.0.1:{port}
admin: {{listen: 127.0.0.1:0}}
access_log: text
services:
  up:
    endpoints: [{{url: http://127.0.0.1:{up_port}}}]
    health: {{passive: {{consecutive_failures: 5}}}}
routes:
  all: {{prefix: /, service: up}}
"""
    )
    cmd = [sys.executable, "-m", "gwtransports.cli", "serve", "-c", str(cfg)]
    cmd += ["--access-log", str(tmp / "gw-access.log"), "--log-level", "WARNING"]
    proc = _popen(cmd, PROXY_CPUS)
    _wait_port(port)
    return proc


def start_relay(port: int, up_port: int) -> subprocess.Popen[bytes]:
    cmd = [sys.executable, str(ROOT / "benchmarks" / "relay.py"), "--listen", str(port)]
    cmd += ["--upstream", f"127.0.0.1:{up_port}"]
    proc = _popen(cmd, PROXY_CPUS)
    _wait_port(port)
    return proc


def start_nginx_proxy(tmp: Path, port: int, up_port: int) -> subprocess.Popen[bytes] | None:
    nginx = shutil.which("nginx")
    if not nginx:
        return None
    block = (
        f"upstream up {{ server 127.0.0.1:{up_port}; keepalive 64; }}\n"
        f"  server {{ listen 127.0.0.1:{port}; location / {{ proxy_pass http://up; "
        'proxy_http_version 1.1; proxy_set_header Connection ""; } }'
    )
    conf = _nginx_conf(tmp, "proxy", block)
    proc = _popen([nginx, "-c", str(conf), "-p", str(tmp)], PROXY_CPUS)
    _wait_port(port)
    return proc


# ------------------------------------------------------------ load generation

_WRK_LAT = re.compile(r"^\s+(50|99)(?:\.000)?%\s+([\d.]+)(us|ms|s)\s*$", re.M)


def _seconds(value: str, unit: str) -> float:
    return float(value) * {"us": 1e-6, "ms": 1e-3, "s": 1.0}[unit]


def run_wrk(port: int, conns: int, duration: float) -> tuple[float, float, float, int]:
    wrk = shutil.which("wrk")
    assert wrk
    cmd = [
        wrk,
        "-t1",
        f"-c{conns}",
        f"-d{max(1, round(duration))}s",
        "--latency",
        f"http://127.0.0.1:{port}/",
    ]
    out = subprocess.run(
        cmd, capture_output=True, text=True, check=True, preexec_fn=_pin(OTHER_CPUS)
    ).stdout
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))  # type: ignore[union-attr]
    count = int(re.search(r"(\d+) requests in", out).group(1))  # type: ignore[union-attr]
    lat = {p: _seconds(v, u) for p, v, u in _WRK_LAT.findall(out)}
    if "Non-2xx" in out or "Socket errors" in out:
        print(f"  warning: errors in wrk run on port {port}", file=sys.stderr)
    return rps, lat["50"], lat["99"], count


_GEN = r"""
import asyncio, sys, time
port, conns, duration = int(sys.argv[1]), int(sys.argv[2]), float(sys.argv[3])
REQ = b"GET / HTTP/1.1\r\nhost: bench\r\n\r\n"
lat = []
async def worker(stop):
    r, w = await asyncio.open_connection("127.0.0.1", port)
    while time.monotonic() < stop:
        t = time.perf_counter()
        w.write(REQ)
        head = await r.readuntil(b"\r\n\r\n")
        length = 0
        for line in head.split(b"\r\n"):
            if line[:15].lower() == b"content-length:":
                length = int(line[15:])
        if length:
            await r.readexactly(length)
        lat.append(time.perf_counter() - t)
    w.close()
async def main():
    stop = time.monotonic() + duration
    await asyncio.gather(*(worker(stop) for _ in range(conns)))
asyncio.run(main())
lat.sort()
print(len(lat) / duration, lat[len(lat) // 2], lat[int(len(lat) * 0.99)], len(lat))
"""


def run_python_gen(port: int, conns: int, duration: float) -> tuple[float, float, float, int]:
    out = subprocess.run(
        [sys.executable, "-c", _GEN, str(port), str(conns), str(duration)],
        capture_output=True,
        text=True,
        check=True,
        preexec_fn=_pin(OTHER_CPUS),
    ).stdout
    rps, p50, p99, count = out.split()
    return float(rps), float(p50), float(p99), int(count)


def _cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process and its children (nginx workers)."""
    ticks = os.sysconf("SC_CLK_TCK")
    total = 0.0
    pids = [pid]
    try:
        with open(f"/proc/{pid}/task/{pid}/children") as f:
            pids += [int(x) for x in f.read().split()]
    except OSError:
        pass
    for p in pids:
        try:
            with open(f"/proc/{p}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
            total += (int(fields[11]) + int(fields[12])) / ticks
        except OSError:
            pass
    return total


def measure(
    load: Callable[[int, int, float], tuple[float, float, float, int]],
    port: int,
    pid: int | None,
    conns: int,
    duration: float,
) -> tuple[float, float, float, float]:
    """req/s, p50, p99 and the proxy's CPU microseconds per request (0: not
    measured). CPU per request does not depend on what else runs on a shared
    machine the way req/s does."""
    before = _cpu_seconds(pid) if pid else 0.0
    rps, p50, p99, count = load(port, conns, duration)
    cpu = (_cpu_seconds(pid) - before) / max(count, 1) * 1e6 if pid else 0.0
    return rps, p50, p99, cpu


# ---------------------------------------------------------------------- main


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--duration", type=float, default=10.0, help="seconds per measurement")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--concurrency", default="1,50", help="comma-separated")
    args = parser.parse_args()
    levels = [int(c) for c in args.concurrency.split(",")]
    load = run_wrk if shutil.which("wrk") else run_python_gen
    procs: list[subprocess.Popen[bytes]] = []
    with tempfile.TemporaryDirectory() as tmpdir:
        tmp = Path(tmpdir)
        try:
            up_port = _free_port()
            up, kind = start_upstream(tmp, up_port)
            procs.append(up)
            targets: dict[str, tuple[int, int | None]] = {"direct": (up_port, None)}
            gw_port, relay_port, nginx_port = _free_port(), _free_port(), _free_port()
            procs.append(start_gw(tmp, gw_port, up_port))
            targets["gw"] = (gw_port, procs[-1].pid)
            procs.append(start_relay(relay_port, up_port))
            targets["relay"] = (relay_port, procs[-1].pid)
            ngx = start_nginx_proxy(tmp, nginx_port, up_port)
            if ngx is not None:
                procs.append(ngx)
                targets["nginx"] = (nginx_port, ngx.pid)
            gen = "wrk" if load is run_wrk else "python asyncio generator"
            print(f"upstream: {kind}; load: {gen}; {args.rounds} rounds x {args.duration:g}s")
            for port, _ in targets.values():  # warm up every path (pools, caches)
                load(port, 4, 1.0)
            results: dict[tuple[str, int], list[tuple[float, float, float, float]]] = {}
            for rnd in range(args.rounds):
                for conns in levels:
                    for name, (port, pid) in targets.items():
                        results.setdefault((name, conns), []).append(
                            measure(load, port, pid, conns, args.duration)
                        )
                print(f"  round {rnd + 1}/{args.rounds} done", file=sys.stderr)
        finally:
            for p in procs:
                p.terminate()
            for p in procs:
                try:
                    p.wait(timeout=10)
                except subprocess.TimeoutExpired:
                    p.kill()
    med = {
        key: tuple(statistics.median(r[i] for r in runs) for i in range(4))
        for key, runs in results.items()
    }
    print(f"\n{'target':<8} {'c':>3} {'req/s':>9} {'p50 ms':>8} {'p99 ms':>8} {'cpu us/req':>11}")
    for conns in levels:
        for name in targets:
            rps, p50, p99, cpu = med[(name, conns)]
            cpu_text = f"{cpu:>11.0f}" if cpu else f"{'-':>11}"
            print(
                f"{name:<8} {conns:>3} {rps:>9.0f} {p50 * 1e3:>8.2f} {p99 * 1e3:>8.2f} {cpu_text}"
            )
    print("\nratios of req/s (and, in brackets, of CPU cost per request: relay/gw etc.)")
    for conns in levels:
        gw = med[("gw", conns)]
        line = [f"c={conns}:"]
        for other in ("relay", "nginx", "direct"):
            if (other, conns) in med:
                o = med[(other, conns)]
                cost = f" ({o[3] / gw[3]:.2f}x)" if o[3] and gw[3] else ""
                line.append(f"gw/{other} {gw[0] / o[0]:.2f}x{cost}")
        added = (gw[1] - med[("direct", conns)][1]) * 1e6
        line.append(f"added p50 {added:.0f} us")
        print("  ".join(line))
    # Each round measured gw and the relay minutes apart at most: their ratio per
    # round shows whether the median is typical or one lucky round.
    for conns in levels:
        pairs = zip(results[("gw", conns)], results[("relay", conns)], strict=True)
        rounds = " ".join(f"{g[0] / r[0]:.2f}x" for g, r in pairs)
        print(f"  c={conns} gw/relay req/s per round: {rounds}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
