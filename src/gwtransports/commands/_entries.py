"""``gw routes`` and ``gw services``: list, get, apply and delete entries.

Both groups take the same verbs; the files they read and print are fragments of
the config schema (``routes: {name: {...}}``), so ``gw routes get users >
users.yaml`` followed by ``gw routes apply -f users.yaml`` changes nothing.
"""

from __future__ import annotations

import argparse
import sys
from typing import Any
from urllib.parse import quote

from gwtransports.commands._client import (
    AdminClient,
    CommandError,
    add_admin_arguments,
    client_from_args,
    print_data,
    read_document,
    report,
    write_summary,
)

__all__ = ["add_group_arguments", "run_group"]


def add_group_arguments(parser: argparse.ArgumentParser, group: str) -> None:
    """Add ``list|get|apply|delete`` to the ``gw routes``/``gw services`` parser."""
    singular = group[:-1]
    verbs = parser.add_subparsers(dest="verb", metavar="VERB", required=True)
    listing = verbs.add_parser("list", help=f"list {group}")
    add_admin_arguments(listing)
    get = verbs.add_parser("get", help=f"print one {singular} (YAML, apply-able)")
    get.add_argument("name")
    add_admin_arguments(get)
    apply = verbs.add_parser("apply", help=f"create or update the {group} in a file")
    apply.add_argument("-f", "--file", required=True, help=f"YAML/JSON with a '{group}:' mapping")
    apply.add_argument("--dry-run", action="store_true", help="show the diff, change nothing")
    add_admin_arguments(apply)
    delete = verbs.add_parser("delete", help=f"delete one {singular}")
    delete.add_argument("name")
    delete.add_argument("--dry-run", action="store_true", help="show the diff, change nothing")
    add_admin_arguments(delete)


_HEADERS = {
    "routes": f"{'NAME':<24} {'HOST':<20} {'PREFIX':<20} {'METHODS':<10} TARGET",
    "services": f"{'NAME':<24} {'BALANCER':<16} ENDPOINTS",
}


def _describe_route(name: str, route: dict[str, Any]) -> str:
    host = route.get("host") or "*"
    if "service" in route:
        target = f"-> {route['service']}"
    elif "backends" in route:
        target = "-> " + ", ".join(
            f"{b['service']}:{b.get('weight', 1)}" for b in route["backends"]
        )
    else:
        target = f"respond {route.get('respond', {}).get('status', 200)}"
    methods = ",".join(route.get("methods") or []) or "any"
    return f"{name:<24} {host:<20} {route.get('prefix', ''):<20} {methods:<10} {target}"


def _describe_service(name: str, service: dict[str, Any]) -> str:
    endpoints = service.get("endpoints") or []
    urls = ", ".join(
        e["url"] if e.get("weight", 1) == 1 else f"{e['url']} (weight {e['weight']})"
        for e in endpoints
    )
    balancer = service.get("balancer", "round_robin")
    return f"{name:<24} {balancer:<16} {urls or '(registered instances only)'}"


def _entries_from(document: object, group: str, path: str) -> list[tuple[str | None, object]]:
    if isinstance(document, dict) and group in document:
        document = document[group]
    if isinstance(document, dict):
        return [(str(name), body) for name, body in document.items()]
    if isinstance(document, list) and group == "routes":
        # A list of unnamed routes: each gets the name derived from host + prefix.
        return [(None, body) for body in document]
    raise CommandError(f"{path}: expected a '{group}:' mapping of names to entries")


def _apply(client: AdminClient, args: argparse.Namespace, group: str) -> int:
    entries = _entries_from(read_document(args.file), group, args.file)
    params = {"dry_run": "1"} if args.dry_run else None
    results = []
    for given, body in entries:
        if given is None:
            data = client.json("POST", f"/{group}", body=body, params=params)
            name = str(data.get("name", "?"))
        else:
            name = given
            data = client.json("PUT", f"/{group}/{quote(name, safe='')}", body=body, params=params)
        results.append({"name": name, **data})
        if not args.json:
            print(write_summary(data, f"{group[:-1]} {name}"))
            if args.dry_run:
                for op in data.get("diff", []):
                    print(f"  {op['op']:<6} {op['path']}")
    if args.json:
        print_data(results, True)
    return 0


def run_group(args: argparse.Namespace, group: str) -> int:
    """Run ``gw routes VERB`` or ``gw services VERB``."""
    try:
        with client_from_args(args) as client:
            if args.verb == "list":
                data = client.json("GET", f"/{group}")
                if args.json:
                    print_data(data, True)
                else:
                    describe = _describe_route if group == "routes" else _describe_service
                    print(_HEADERS[group])
                    for name, entry in sorted(data[group].items()):
                        print(describe(name, entry))
                return 0
            if args.verb == "get":
                entry = client.json("GET", f"/{group}/{quote(args.name, safe='')}")
                print_data({group: {args.name: entry}}, args.json)
                return 0
            if args.verb == "apply":
                return _apply(client, args, group)
            params = {"dry_run": "1"} if args.dry_run else None
            data = client.json("DELETE", f"/{group}/{quote(args.name, safe='')}", params=params)
            if args.json:
                print_data(data, True)
            else:
                print(write_summary(data, f"{group[:-1]} {args.name}"))
            return 0
    except CommandError as exc:
        return report(exc)
    finally:
        sys.stdout.flush()
