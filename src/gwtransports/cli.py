"""The ``gw`` command line: parses arguments and wires the parts together.

Each subcommand lives in its own module and exposes ``add_arguments(parser)`` and
``run(args) -> int``; this module only builds the parser and dispatches.

Only the chosen subcommand's module is imported: ``gw routes list`` in a build
pipeline should not pay for trio, h11 or etcd imports, and ``gw --help`` lists
every subcommand from the table below without importing any of them.
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys
from collections.abc import Callable, Sequence
from typing import cast

# subcommand -> (module, one-line help).
SUBCOMMANDS: dict[str, tuple[str, str]] = {
    "serve": ("gwtransports.serve", "run the gateway"),
    "check": ("gwtransports.commands.check", "validate a config file (errors, conflicts, shadows)"),
    "routes": ("gwtransports.commands.routes", "list, get, apply or delete routes"),
    "services": ("gwtransports.commands.services", "list, get, apply or delete services"),
    "dump": ("gwtransports.commands.dump", "print the whole running config (YAML)"),
    "load": ("gwtransports.commands.load", "replace the whole running config from a file"),
    "explain": ("gwtransports.commands.explain", "say which route a request takes and why"),
    "register": ("gwtransports.commands.register", "register an instance until interrupted"),
    "promote": ("gwtransports.commands.promote", "move a route's traffic to another service"),
    "openapi": ("gwtransports.commands.openapi", "import or export OpenAPI documents"),
}


def _chosen(argv: Sequence[str]) -> str | None:
    """The subcommand named in ``argv``: the first word that is one, if any."""
    for word in argv:
        if word in SUBCOMMANDS:
            return word
        if not word.startswith("-"):
            return None
    return None


def build_parser(argv: Sequence[str] | None = None) -> argparse.ArgumentParser:
    """Build the ``gw`` parser.

    Args:
        argv: The arguments about to be parsed; only the subcommand they name gets
            its module imported and its options added. ``None`` adds every
            subcommand's options (imports everything; for documentation tools).

    Returns:
        The parser; parsed arguments carry ``_run``, the subcommand's ``run``.
    """
    parser = argparse.ArgumentParser(prog="gw", description="gw, an API gateway for microservices")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    chosen = _chosen(argv) if argv is not None else None
    for name, (module_name, help_text) in SUBCOMMANDS.items():
        sub_parser = sub.add_parser(name, help=help_text, description=help_text)
        if argv is None or name == chosen:
            module = importlib.import_module(module_name)
            module.add_arguments(sub_parser)
            sub_parser.set_defaults(_run=module.run)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``gw`` console script.

    Returns:
        The process exit status: 0 on success, 1 on a reported error, 2 on a usage
        error (argparse), 130 on Ctrl-C.
    """
    args_list = list(sys.argv[1:] if argv is None else argv)
    parser = build_parser(args_list)
    args = parser.parse_args(args_list)
    run = cast("Callable[[argparse.Namespace], int]", args._run)
    try:
        return int(run(args))
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:
        # ``gw dump | head``: the reader left; not an error worth a traceback.
        # Point stdout at /dev/null so the interpreter's final flush is quiet too.
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return 0


if __name__ == "__main__":
    sys.exit(main())
