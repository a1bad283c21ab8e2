"""``gw dump``: print the whole running config, in the config schema.

``gw dump > state.yaml`` then ``gw load state.yaml`` gives the identical state.
"""

from __future__ import annotations

import argparse
import sys

from gwtransports.commands._client import (
    CommandError,
    add_admin_arguments,
    client_from_args,
    report,
)

__all__ = ["add_arguments", "run"]


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("-o", "--output", help="write to this file instead of stdout")
    add_admin_arguments(parser)


def run(args: argparse.Namespace) -> int:
    accept = "application/json" if args.json else "application/yaml"
    try:
        with client_from_args(args) as client:
            text = client.request("GET", "/config", accept=accept).text
    except CommandError as exc:
        return report(exc)
    if args.output:
        with open(args.output, "w", encoding="utf-8") as out:
            out.write(text)
    else:
        sys.stdout.write(text)
    return 0
