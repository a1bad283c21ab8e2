"""``gw load FILE``: replace the whole running config in one atomic change."""

from __future__ import annotations

import argparse

from gwtransports.commands._client import (
    CommandError,
    add_admin_arguments,
    client_from_args,
    print_data,
    read_document,
    report,
    write_summary,
)

__all__ = ["add_arguments", "run"]


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("file", help="a whole config (YAML or JSON), e.g. from gw dump; - is stdin")
    parser.add_argument("--dry-run", action="store_true", help="show the diff, change nothing")
    add_admin_arguments(parser)


def run(args: argparse.Namespace) -> int:
    try:
        document = read_document(args.file)
        if not isinstance(document, dict):
            raise CommandError(f"{args.file}: expected a config mapping")
        params = {"dry_run": "1"} if args.dry_run else None
        with client_from_args(args) as client:
            data = client.json("PUT", "/config", body=document, params=params)
    except CommandError as exc:
        return report(exc)
    if args.json:
        print_data(data, True)
    else:
        print(write_summary(data, f"config from {args.file}"))
        for op in data.get("diff", []):
            print(f"  {op['op']:<6} {op['path']}")
    return 0
