"""``gw openapi import FILE`` / ``gw openapi export [-o FILE]``.

Import merges the document's routes and services into the running config in one
atomic ``PUT /config`` (``--dry-run`` shows the diff); export writes an OpenAPI 3
document of the running routes that imports back to the same routes and services.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import yaml

from gwtransports.commands._client import (
    CommandError,
    add_admin_arguments,
    client_from_args,
    print_data,
    read_document,
    report,
    write_summary,
)
from gwtransports.openapi import OpenAPIError, export_document, import_document

__all__ = ["add_arguments", "run"]


def add_arguments(parser: argparse.ArgumentParser) -> None:
    verbs = parser.add_subparsers(dest="verb", metavar="VERB", required=True)
    imp = verbs.add_parser("import", help="add the document's routes and services")
    imp.add_argument("file", help="OpenAPI 3 or Swagger 2 document (YAML or JSON)")
    imp.add_argument("--dry-run", action="store_true", help="show the diff, change nothing")
    add_admin_arguments(imp)
    exp = verbs.add_parser("export", help="write the running routes as OpenAPI 3")
    exp.add_argument("-o", "--output", help="file to write (default stdout)")
    exp.add_argument("--title", default="gw", help="info.title of the document")
    add_admin_arguments(exp)


def run(args: argparse.Namespace) -> int:
    try:
        with client_from_args(args) as client:
            config = client.json("GET", "/config")
            if args.verb == "export":
                doc = export_document(config, title=args.title)
                if args.json:
                    print_data(doc, True)
                    return 0
                text = yaml.safe_dump(doc, sort_keys=False, allow_unicode=True)
                if args.output:
                    Path(args.output).write_text(text, encoding="utf-8")
                else:
                    sys.stdout.write(text)
                return 0
            try:
                entries = import_document(read_document(args.file))
            except OpenAPIError as exc:
                raise CommandError(f"{args.file}: {exc}") from None
            config["services"] = {**(config.get("services") or {}), **entries["services"]}
            config["routes"] = {**(config.get("routes") or {}), **entries["routes"]}
            params = {"dry_run": "1"} if args.dry_run else None
            data = client.json("PUT", "/config", body=config, params=params)
    except CommandError as exc:
        return report(exc)
    if args.json:
        print_data(data, True)
    else:
        what = f"{len(entries['routes'])} route(s), {len(entries['services'])} service(s)"
        print(write_summary(data, f"openapi import {args.file}: {what}"))
        for op in data.get("diff", []):
            print(f"  {op['op']:<6} {op['path']}")
    return 0
