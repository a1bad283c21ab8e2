"""Cost of a full core decision against the bare router match, in one run.

Run: ``.venv/bin/python benchmarks/core.py`` (``--quick`` for a smoke run,
``--sizes 10,10000`` to pick table sizes). Prints a markdown table.

For each size, the config has that many routes, each to its own service of 10
static endpoints (so 10,000 routes means 100,000 endpoints), every route with a
host, a prefix of two segments and a rewrite. Requests carry the headers a browser
sends (host, user-agent, accept, accept-language, accept-encoding, cookie,
connection) and hit a random route one segment below its prefix.

Measured, per request, median over ``ROUNDS`` passes over the same ``REQUESTS``
requests, the measurements taking turns in each round (the loop's own cost, about
25 ns, is included in every figure; the garbage collector runs as usual). Time is
this process's CPU time (``time.process_time_ns``), so that other processes on a
shared machine do not count; they still share its caches.

* ``match``: ``RouteTable.match`` on the already-normalised path: the bare router.
* ``router``: what a request needs before any gateway work: split and normalise
  the target (``rewrite.split_normalised``) and ``RouteTable.match``.
* ``decide``: ``Gateway.decide``: split and normalise the target, match, pick the
  backend service, take its eligible endpoints, balance (smooth WRR), rewrite,
  build the upstream headers and the ``Forward``.
* ``outcome``: ``Gateway.outcome`` with a 200 response plus ``Gateway.finish``:
  classify, count, record latency and health, release the in-flight slot.
* ``Forward() alone``: constructing the ``Forward`` command with its public,
  validating constructor (16 fields): what ``decide`` would pay for it without
  its own constructor for values it has already checked.
"""

from __future__ import annotations

import argparse
import gc
import random
import statistics
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from gwcore._frozen import FrozenDict
from gwcore.config import Backend, Config, Endpoint, Route, Service
from gwcore.events import Forward, Request, ResponseReceived
from gwcore.gateway import Gateway
from gwcore.rewrite import normalise_path, split_normalised, split_target

SEED = 20261122
ROUNDS = 7
REQUESTS = 2000
ENDPOINTS = 10
WORDS = ["api", "users", "orders", "items", "cart", "search", "v1", "v2", "admin", "billing"]
BROWSER = (
    ("user-agent", "Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0"),
    ("accept", "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"),
    ("accept-language", "en-US,en;q=0.5"),
    ("accept-encoding", "gzip, deflate, br, zstd"),
    ("cookie", "sid=4f1c2e9a7b; theme=dark"),
    ("connection", "keep-alive"),
)
OK = ResponseReceived(status=200, latency=0.012)


def build(size: int) -> tuple[Config, list[Request]]:
    """A config of ``size`` routes and services, and requests that hit them."""
    rng = random.Random(SEED)
    routes: dict[str, Route] = {}
    services: dict[str, Service] = {}
    for i in range(size):
        name = f"s{i}"
        host = f"h{i % max(1, size // 100)}.example.com"
        prefix = f"/{rng.choice(WORDS)}{i}/{rng.choice(WORDS)}/"
        endpoints = tuple(
            Endpoint(url=f"http://10.{i // 250 % 250}.{i % 250}.{j + 1}:8080")
            for j in range(ENDPOINTS)
        )
        services[name] = Service(endpoints=endpoints)
        routes[name] = Route(
            name=name, prefix=prefix, rewrite="/", backends=(Backend(service=name),), host=host
        )
    config = Config(services=FrozenDict(services), routes=FrozenDict(routes))
    chosen = [rng.choice(list(routes.values())) for _ in range(REQUESTS)]
    requests = [
        Request(
            method="GET",
            target=f"{r.prefix}{rng.choice(WORDS)}?page={rng.randrange(9)}",
            headers=(("host", r.host or ""), *BROWSER),
            client=f"198.51.100.{rng.randrange(1, 255)}",
            request_id=f"req-{k}",
        )
        for k, r in enumerate(chosen)
    ]
    return config, requests


def interleaved(runs: Sequence[Callable[[], None]], count: int) -> list[float]:
    """Median microseconds per request of each run, over ``ROUNDS`` rounds that
    take turns (so a busy moment on a shared machine hits all of them alike)."""
    samples: list[list[float]] = [[] for _ in runs]
    for _ in range(ROUNDS):
        for i, run in enumerate(runs):
            gc.collect()
            start = time.process_time_ns()
            run()
            samples[i].append((time.process_time_ns() - start) / count / 1000)
    return [statistics.median(s) for s in samples]


def measure(size: int) -> list[float]:
    """``[match, router, decide, outcome, forward-only]`` µs per request at ``size`` routes."""
    config, requests = build(size)
    gw = Gateway(config, rng=random.Random(SEED))
    table = gw._plan.table
    heads = [
        (r.method, r.headers[0][1], normalise_path(split_target(r.target)[0]), r.headers)
        for r in requests
    ]
    forwards: list[Forward] = []

    def match() -> None:
        for method, host, path, headers in heads:
            table.match(method, host, path, headers)

    targets = [(r.method, r.headers[0][1], r.target, r.headers) for r in requests]

    def router() -> None:
        for method, host, target, headers in targets:
            table.match(method, host, split_normalised(target)[0], headers)

    def decide() -> None:
        forwards.clear()
        for request in requests:
            forwards.append(gw.decide(request, 1.0))  # type: ignore[arg-type]

    def construct() -> None:
        # The floor set by the event contract: building the Forward dataclass alone.
        for forward in forwards:
            Forward(
                request_id=forward.request_id, route=forward.route, service=forward.service,
                endpoint=forward.endpoint, scheme=forward.scheme, host=forward.host,
                port=forward.port, target=forward.target, headers=forward.headers,
                tried=forward.tried, idempotent=forward.idempotent,
                connect_timeout=forward.connect_timeout,
                response_timeout=forward.response_timeout, max_body=forward.max_body,
            )  # fmt: skip

    def outcome() -> None:
        for forward in forwards:
            gw.outcome(forward, OK, 1.0)
            gw.finish(forward, 1.0)

    decide()  # the first forwards, for the first outcome round
    return interleaved([match, router, decide, outcome, construct], len(requests))


def main(argv: Sequence[str] | None = None) -> None:
    """Print the table."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--sizes", default="10,10000", help="route counts, comma-separated")
    parser.add_argument("--quick", action="store_true", help="3 rounds of 200 requests")
    parser.add_argument("--rounds", type=int, default=7, help="rounds (median taken)")
    args = parser.parse_args(argv)
    global ROUNDS, REQUESTS
    ROUNDS = args.rounds
    if args.quick:
        ROUNDS, REQUESTS = 3, 200
    print(f"python {sys.version.split()[0]}, {ROUNDS} rounds x {REQUESTS} requests, medians")
    print()
    print(
        "| routes | endpoints | match µs | router µs | decide µs | decide / match "
        "| decide / router | outcome+finish µs | Forward() alone µs |"
    )
    print("|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    for size in (int(s) for s in args.sizes.split(",")):
        match_us, router_us, decide_us, outcome_us, forward_us = measure(size)
        print(
            f"| {size:,} | {size * ENDPOINTS:,} | {match_us:.2f} | {router_us:.2f} "
            f"| {decide_us:.2f} | {decide_us / match_us:.1f}x | {decide_us / router_us:.1f}x "
            f"| {outcome_us:.2f} | {forward_us:.2f} |"
        )


if __name__ == "__main__":
    main()
