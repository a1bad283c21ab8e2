"""``gw explain METHOD URL``: which route a request takes, and why the others lost.

Asks the running gateway (``GET /explain``), or with ``-c FILE`` explains against a
config file without any gateway running.
"""

from __future__ import annotations

import argparse
from typing import Any
from urllib.parse import urlsplit

from gwcore.errors import ConfigError
from gwcore.gateway import Gateway
from gwtransports.admin.handlers import explain_body
from gwtransports.commands import check as _check
from gwtransports.commands._client import (
    CommandError,
    add_admin_arguments,
    client_from_args,
    print_data,
    report,
)

__all__ = ["add_arguments", "run"]


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("method", help="request method, e.g. GET")
    parser.add_argument("url", help="request URL, e.g. http://api.example.com/user/1")
    parser.add_argument("-c", "--config", help="explain against this config file instead")
    add_admin_arguments(parser)


def _offline(path: str, method: str, host: str, target: str) -> Any:
    try:
        config = _check.load(path)
        return explain_body(Gateway(config), method, host, target)
    except ConfigError as exc:
        raise CommandError(f"{path}: invalid config", tuple(f"  {e}" for e in exc.errors)) from None


def run(args: argparse.Namespace) -> int:
    parts = urlsplit(args.url if "//" in args.url else f"http://{args.url}")
    host = parts.hostname or ""
    target = parts.path or "/"
    try:
        if args.config:
            data = _offline(args.config, args.method.upper(), host, target)
        else:
            params = {"method": args.method.upper(), "host": host, "path": target}
            with client_from_args(args) as client:
                data = client.json("GET", "/explain", params=params)
    except CommandError as exc:
        return report(exc)
    if args.json:
        print_data(data, True)
    else:
        print(data["text"])
    return 0 if data["winner"] is not None else 1
