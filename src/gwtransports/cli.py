"""The ``gw`` command line: parses arguments and wires the parts together.

Each subcommand lives in its own module and exposes ``add_arguments(parser)`` and
``run(args) -> int``; this module only builds the parser and dispatches.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence

# subcommand -> (module, one-line help). Modules are imported only when their
# subcommand runs, so ``gw check`` never pays for trio or etcd imports.
SUBCOMMANDS: dict[str, tuple[str, str]] = {
    "serve": ("gwtransports.serve", "run the gateway"),
}


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="gw", description="gw, an API gateway for microservices")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for name, (module_name, help_text) in SUBCOMMANDS.items():
        module = importlib.import_module(module_name)
        sub_parser = sub.add_parser(name, help=help_text, description=help_text)
        module.add_arguments(sub_parser)
        sub_parser.set_defaults(_run=module.run)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return int(args._run(args))
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
