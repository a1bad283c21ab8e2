"""``gw promote ROUTE --to SERVICE [--weight N]``: blue/green and canary in one change.

Without ``--weight`` the route's whole traffic moves to SERVICE. With ``--weight
N`` (0..100) SERVICE gets N percent and the route's other backends share the rest
in their current proportions. Either way it is one ``PUT /routes/ROUTE``: the
gateway switches atomically, no request sees a half-moved route.
"""

from __future__ import annotations

import argparse
from typing import Any
from urllib.parse import quote

from gwtransports.commands._client import (
    CommandError,
    add_admin_arguments,
    client_from_args,
    print_data,
    report,
    write_summary,
)

__all__ = ["add_arguments", "promoted", "run"]


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("route", help="route name")
    parser.add_argument("--to", required=True, metavar="SERVICE", help="service to promote")
    parser.add_argument(
        "--weight", type=int, default=100, help="percent of traffic for SERVICE (default 100)"
    )
    parser.add_argument("--dry-run", action="store_true", help="show the diff, change nothing")
    add_admin_arguments(parser)


def _backends(route: dict[str, Any]) -> list[tuple[str, int]]:
    if "service" in route:
        return [(str(route["service"]), 1)]
    return [(str(b["service"]), int(b.get("weight", 1))) for b in route.get("backends") or []]


def promoted(route: dict[str, Any], service: str, weight: int = 100) -> dict[str, Any]:
    """The route entry with ``weight`` percent of its traffic on ``service``.

    Args:
        route: The route entry in the config schema (``service:`` or ``backends:``).
        service: The service to promote.
        weight: Its share in percent, 0..100; 100 moves everything.

    Returns:
        A new entry: ``service: SERVICE`` at 100, else ``backends`` with SERVICE at
        ``weight`` and the others scaled to share ``100 - weight``.

    Raises:
        ValueError: ``weight`` outside 0..100.
    """
    if not 0 <= weight <= 100:
        raise ValueError("weight must be between 0 and 100")
    entry = {k: v for k, v in route.items() if k not in ("service", "backends", "respond")}
    others = [(name, w) for name, w in _backends(route) if name != service]
    total = sum(w for _, w in others)
    if weight == 100 or total == 0:
        entry["service"] = service
        return entry
    backends: list[dict[str, Any]] = []
    rest = 100 - weight
    shares = [(name, rest * w // total) for name, w in others]
    # Integer shares may lose a little to rounding; the first backend takes it so
    # the shares still add up to 100.
    missing = rest - sum(s for _, s in shares)
    if shares:
        shares[0] = (shares[0][0], shares[0][1] + missing)
    backends.extend({"service": name, "weight": share} for name, share in shares if share > 0)
    if weight > 0:
        backends.append({"service": service, "weight": weight})
    entry["backends"] = backends
    return entry


def run(args: argparse.Namespace) -> int:
    path = f"/routes/{quote(args.route, safe='')}"
    try:
        with client_from_args(args) as client:
            route = client.json("GET", path)
            try:
                entry = promoted(route, args.to, args.weight)
            except ValueError as exc:
                raise CommandError(str(exc)) from None
            params = {"dry_run": "1"} if args.dry_run else None
            data = client.json("PUT", path, body=entry, params=params)
    except CommandError as exc:
        return report(exc)
    if args.json:
        print_data(data, True)
    else:
        backends = _backends(entry)
        total = sum(w for _, w in backends) or 1
        shares = ", ".join(f"{n} {w * 100 / total:g}%" for n, w in backends)
        print(write_summary(data, f"route {args.route}: {shares}"))
    return 0
