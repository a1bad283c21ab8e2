"""``gw check -c FILE``: validate a config file without running anything.

Prints every problem on a line of its own, ``FILE:LINE: PATH: MESSAGE`` (on
stderr): field errors, unreadable files and syntax errors, and route conflicts
(ties the router refuses). Shadowed routes (routes that can never win a request)
are warnings, ``FILE:LINE: warning: PATH: MESSAGE`` (on stdout). ``--json``
gives ``{"file", "ok", "errors": [{"path", "message", "line"}], "warnings": [...]}``.
Exits 1 when the file is invalid, 0 otherwise (warnings included).
"""

from __future__ import annotations

import argparse
import sys
from typing import Any

from gwcore.config import Config
from gwcore.errors import ConfigError, FieldError
from gwcore.gateway import Gateway
from gwcore.routes import RouteTable
from gwtransports import configfile
from gwtransports.commands._client import print_data
from gwtransports.configfile import Problem

__all__ = ["add_arguments", "load", "run"]


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("-c", "--config", required=True, help="YAML or JSON config file")
    parser.add_argument("--json", action="store_true", help="print JSON for scripts")


def load(path: str) -> Config:
    """Read a config file (YAML or JSON) and validate it.

    Raises:
        ConfigError: Invalid file; each error reads ``FILE[:LINE]: PATH: MESSAGE``.
        OSError: Unreadable file.
    """
    try:
        config: Config = configfile.load_config_file(path)
    except configfile.ConfigFileError as exc:
        raise ConfigError([FieldError("", str(p)) for p in exc.problems]) from None
    return config


def _located(path: str, found: list[tuple[str, str]]) -> list[Problem]:
    """Problems found after loading (ties, shadowed routes), with their lines."""
    lines = configfile.field_lines(path, [field for field, _ in found])
    return [
        Problem(path, field, message, line)
        for (field, message), line in zip(found, lines, strict=True)
    ]


def _report(path: str) -> tuple[list[Problem], list[Problem], Config | None]:
    """The file's errors, warnings and (when valid) config."""
    try:
        config = configfile.load_config_file(path)
        Gateway(config)  # the router's conflicts (ties) and resolution errors
    except configfile.ConfigFileError as exc:
        return list(exc.problems), [], None
    except ConfigError as exc:
        return _located(path, [(e.path, e.message) for e in exc.errors]), [], None
    shadowed = []
    for entry in RouteTable.compile(config.routes.values()).shadowed():
        by = ", ".join(entry.by) if entry.by else "nothing: it accepts no request"
        shadowed.append((f"routes.{entry.route.name}", f"shadowed by {by}"))
    return [], _located(path, shadowed), config


def run(args: argparse.Namespace) -> int:
    errors, warnings, config = _report(args.config)
    if args.json:
        report: dict[str, Any] = {
            "file": args.config,
            "ok": config is not None,
            "errors": [p.to_json() for p in errors],
            "warnings": [p.to_json() for p in warnings],
        }
        if config is not None:
            report.update(routes=len(config.routes), services=len(config.services))
        print_data(report, True)
        return 0 if config is not None else 1
    for problem in errors:
        print(problem, file=sys.stderr)
    for problem in warnings:
        where = f"{problem.file}:{problem.line}" if problem.line else problem.file
        print(f"{where}: warning: {problem.path}: {problem.message}")
    if config is None:
        return 1
    print(f"{args.config}: ok ({len(config.routes)} routes, {len(config.services)} services)")
    return 0
