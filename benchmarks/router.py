"""Router cost against table size: the compiled RouteTable and the naive reference.

Run: ``.venv/bin/python benchmarks/router.py`` (``--quick`` for a smoke run,
``--sizes 10,1000`` to pick sizes). Prints one markdown table per measurement.

Fixtures are realistic and seeded (``random.Random(SEED)``): most routes have an
exact host (about 100 routes per host), some a ``*.suffix`` wildcard, some no host;
prefixes have one to four segments drawn from API-like words; three routes in four
constrain methods; every route has a rewrite. Requests that hit carry a port or
upper case in their ``Host`` now and then and a path one or two segments below
the prefix; requests that miss have an unknown host and path (404).

Each match figure is the median over ``ROUNDS`` passes over the same 2,000
requests, divided by the request count, so it includes the loop (about 25 ns).
Repeated passes leave the CPU caches warm with what those requests touch; the
"cold caches" column flushes the caches (a 64 MiB write) before every pass,
the worst case for big tables. Times are CPU time of the process
(``time.process_time_ns``), so time spent descheduled by other work on the
machine is not counted. Compile time is the median of 5 compiles.
"""

from __future__ import annotations

import argparse
import gc
import random
import statistics
import sys
import time
import tracemalloc
from collections.abc import Callable, Sequence
from functools import partial
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.gwcore.naive_router import NaiveRouter

from gwcore.config import Backend, Route
from gwcore.errors import NoRouteError
from gwcore.rewrite import normalise_path, rewrite_path, split_target
from gwcore.routes import RouteTable

SEED = 20261122
ROUNDS = 21
REQUESTS = 2000
WORDS = [
    "api",
    "users",
    "orders",
    "items",
    "cart",
    "checkout",
    "search",
    "v1",
    "v2",
    "v3",
    "admin",
    "billing",
    "invoices",
    "accounts",
    "auth",
    "login",
    "profile",
    "settings",
    "products",
    "catalog",
    "reviews",
    "media",
    "images",
    "static",
    "assets",
    "health",
    "metrics",
    "events",
    "reports",
    "export",
    "import",
    "teams",
    "projects",
]
METHOD_SETS = (  # pairwise disjoint, so two of them on one prefix never tie
    frozenset({"GET", "HEAD"}),
    frozenset({"POST"}),
    frozenset({"PUT", "PATCH"}),
    frozenset({"DELETE"}),
)
Request = tuple[str, str | None, str]


def make_routes(count: int, rng: random.Random) -> list[Route]:
    """``count`` routes with no ties: each (host, prefix) holds disjoint methods."""
    hosts = [f"svc{i}.example.com" for i in range(max(1, count // 100))]
    wildcards = [f"*.team{i}.example.net" for i in range(max(1, count // 1000))]
    routes: list[Route] = []
    used: set[tuple[str | None, str]] = set()
    while len(routes) < count:
        roll = rng.random()
        host = rng.choice(hosts) if roll < 0.7 else rng.choice(wildcards) if roll < 0.8 else None
        depth = rng.randint(1, 4)
        prefix = "/" + "/".join(rng.choice(WORDS) for _ in range(depth))
        if (host, prefix) in used:
            continue
        used.add((host, prefix))
        slash = "/" if rng.random() < 0.5 else ""
        rewrite = "/" if rng.random() < 0.5 else "/" + rng.choice(WORDS) + "/"
        if rng.random() < 0.25:
            method_sets: Sequence[frozenset[str] | None] = (None,)
        else:
            # One or two routes on this (host, prefix), with disjoint methods.
            method_sets = rng.sample(METHOD_SETS, rng.randint(1, 2))
        for methods in method_sets:
            if len(routes) == count:
                break
            routes.append(
                Route(
                    name=f"r{len(routes)}",
                    prefix=prefix + slash,
                    rewrite=rewrite,
                    host=host,
                    methods=methods,
                    backends=(Backend(service="svc"),),
                )
            )
    return routes


def _client_host(host: str | None, rng: random.Random) -> str | None:
    if host is None:
        return rng.choice((None, "anything.example.org"))
    if host.startswith("*."):
        host = f"{rng.choice(WORDS)}{rng.randint(1, 99)}{host[1:]}"
    roll = rng.random()
    if roll < 0.2:
        return f"{host}:8443"
    if roll < 0.3:
        return host.upper()
    return host


def make_hits(routes: Sequence[Route], rng: random.Random) -> list[Request]:
    requests: list[Request] = []
    for _ in range(REQUESTS):
        route = rng.choice(routes)
        method = sorted(route.methods)[0] if route.methods else "GET"
        tail = "".join(f"/{rng.randint(1, 99999)}" for _ in range(rng.randint(1, 2)))
        requests.append((method, _client_host(route.host, rng), route.prefix.rstrip("/") + tail))
    return requests


def make_misses(rng: random.Random) -> list[Request]:
    return [
        ("GET", f"nohost{rng.randint(1, 999)}.example.org", f"/missing/{rng.randint(1, 99999)}")
        for _ in range(REQUESTS)
    ]


def _once(fn: Callable[[], object], count: int) -> float:
    """CPU ns per item of one call of ``fn``, which does ``count`` items.

    CPU time of this process, not wall time: time spent descheduled while other
    work runs on the machine is not counted (caches shared with it still are).
    """
    start = time.process_time_ns()
    fn()
    return (time.process_time_ns() - start) / count


def _time(fn: Callable[[], object], count: int, rounds: int) -> float:
    """Median ns per item over ``rounds`` calls of ``fn`` (which does ``count`` items)."""
    gc.collect()
    return statistics.median(_once(fn, count) for _ in range(rounds))


def _hits(match: Callable[[str, str | None, str], Route], requests: list[Request]) -> None:
    for method, host, path in requests:
        match(method, host, path)


def _hits_rewritten(
    match: Callable[[str, str | None, str], Route], requests: list[Request]
) -> None:
    for method, host, path in requests:
        route = match(method, host, path)
        rewrite_path(path, route.prefix, route.rewrite)


def _misses(match: Callable[[str, str | None, str], Route], requests: list[Request]) -> int:
    missed = 0
    for method, host, path in requests:
        try:
            match(method, host, path)
        except NoRouteError:
            missed += 1
    return missed


def _flush_caches() -> None:
    """Evict the CPU caches (32 MiB L3 here) by writing a 64 MiB buffer."""
    buffer = bytearray(64 << 20)
    buffer[:: 1 << 12] = b"x" * (len(buffer) >> 12)


def _cold(fn: Callable[[], object], count: int, rounds: int) -> float:
    """Median ns per item of ``fn`` run right after the caches were flushed."""
    samples = []
    for _ in range(rounds):
        _flush_caches()
        samples.append(_once(fn, count))
    return statistics.median(samples)


def bench_match(sizes: Sequence[int], rounds: int) -> list[str]:
    lines = [
        "| routes | hit ns | hit ns, cold caches | miss ns | hit + rewrite_path ns"
        " | naive hit ns | naive miss ns | speed-up (hit) |",
        "|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for size in sizes:
        rng = random.Random(SEED + size)
        routes = make_routes(size, rng)
        table = RouteTable.compile(routes)
        naive = NaiveRouter.__new__(NaiveRouter)  # skip its quadratic tie check
        naive.routes = routes
        hits, misses = make_hits(routes, rng), make_misses(rng)
        for method, host, path in hits[:200]:  # the two must agree before timing
            assert table.match(method, host, path) is naive.match(method, host, path)
        assert _misses(table.match, misses) == len(misses)
        hit = _time(partial(_hits, table.match, hits), REQUESTS, rounds)
        cold = _cold(partial(_hits, table.match, hits), REQUESTS, rounds)
        miss = _time(partial(_misses, table.match, misses), REQUESTS, rounds)
        rewritten = _time(partial(_hits_rewritten, table.match, hits), REQUESTS, rounds)
        # The naive router is linear: time fewer requests at large sizes.
        few = max(5, min(REQUESTS, 200_000 // size))
        naive_hit = _time(partial(_hits, naive.match, hits[:few]), few, 3)
        naive_miss = _time(partial(_misses, naive.match, misses[:few]), few, 3)
        lines.append(
            f"| {size:,} | {hit:,.0f} | {cold:,.0f} | {miss:,.0f} | {rewritten:,.0f}"
            f" | {naive_hit:,.0f} | {naive_miss:,.0f} | {naive_hit / hit:,.0f}x |"
        )
        del table, naive, routes
    return lines


def bench_compile(size: int, rounds: int) -> list[str]:
    gc.collect()
    tracemalloc.start()
    routes = make_routes(size, random.Random(SEED + size))
    route_bytes = tracemalloc.get_traced_memory()[0]
    tracemalloc.stop()
    seconds = _time(lambda: RouteTable.compile(routes), 1, min(rounds, 5)) / 1e9
    gc.collect()
    tracemalloc.start()
    table = RouteTable.compile(routes)
    current, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    shadowed = _time(table.shadowed, 1, 1) / 1e9
    return [
        "| routes | compile s | table memory (tracemalloc) | per route | peak while compiling"
        " | the Route objects themselves | shadowed() s |",
        "|---:|---:|---:|---:|---:|---:|---:|",
        f"| {size:,} | {seconds:.2f} | {current / 2**20:.1f} MiB | {current / size:,.0f} B"
        f" | {peak / 2**20:.1f} MiB | {route_bytes / size:,.0f} B per route | {shadowed:.2f} |",
    ]


def bench_rewrite(rounds: int) -> list[str]:
    rng = random.Random(SEED)
    plain = [
        "/" + "/".join(rng.choice(WORDS) for _ in range(rng.randint(1, 5))) + f"/{i}"
        for i in range(REQUESTS)
    ]
    dotted = [p.replace("/", "/./", 1) + "/../x/%7Euser" for p in plain]
    targets = [f"{p}?page={i}&sort=asc" for i, p in enumerate(plain)]
    cases: list[tuple[str, Callable[[], object]]] = [
        ("split_target (with query)", lambda: [split_target(t) for t in targets]),
        ("normalise_path, canonical input", lambda: [normalise_path(p) for p in plain]),
        ("normalise_path, dot segments and %7E", lambda: [normalise_path(p) for p in dotted]),
        ("rewrite_path", lambda: [rewrite_path(p, "/" + p.split("/")[1], "/v2/") for p in plain]),
    ]
    lines = ["| operation | ns per call |", "|---|---:|"]
    lines += [f"| {name} | {_time(fn, REQUESTS, rounds):,.0f} |" for name, fn in cases]
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sizes", default="10,1000,10000,100000")
    parser.add_argument("--quick", action="store_true", help="fewer rounds, small sizes")
    args = parser.parse_args()
    sizes = [int(s) for s in ("10,1000" if args.quick else args.sizes).split(",")]
    rounds = 2 if args.quick else ROUNDS
    print(f"Python {sys.version.split()[0]}, seed {SEED}, median of {rounds} rounds\n")
    print("\n".join(bench_match(sizes, rounds)), end="\n\n")
    print("\n".join(bench_compile(max(sizes), rounds)), end="\n\n")
    print("\n".join(bench_rewrite(rounds)))


if __name__ == "__main__":
    main()
