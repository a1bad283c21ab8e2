"""``gw check -c FILE``: validate a config file without running anything.

Prints every error with its field path, route conflicts (ties the router refuses),
and shadowed routes (routes that can never win a request) as warnings. Exits 1
when the file is invalid, 0 otherwise (warnings included).
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

__all__ = ["add_arguments", "load", "run"]


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("-c", "--config", required=True, help="YAML or JSON config file")
    parser.add_argument("--json", action="store_true", help="print JSON for scripts")


def load(path: str) -> Config:
    """Read a config file (YAML or JSON) and validate it.

    Raises:
        ConfigError: Invalid file; each message is ``FILE[:LINE]: path: message``.
        OSError: Unreadable file.
    """
    try:
        config: Config = configfile.load_config_file(path)
    except configfile.ConfigFileError as exc:
        raise ConfigError(
            [FieldError("", line) for line in str(exc).splitlines() if line.strip()]
        ) from None
    return config


def _whole_file_error(path: str, message: str) -> dict[str, Any]:
    """``FILE[:LINE]: message`` (unreadable file, syntax error) as a report entry."""
    rest = message.removeprefix(f"{path}:").strip()
    number, sep, text = rest.partition(":")
    if sep and number.isdigit():
        return {"path": "", "message": text.strip(), "line": int(number)}
    return {"path": "", "message": rest, "line": None}


def _report(path: str) -> dict[str, Any]:
    report: dict[str, Any] = {"file": path, "ok": False, "errors": [], "warnings": []}
    try:
        config = configfile.load_config_file(path)
        Gateway(config)  # the router's conflicts (ties) and resolution errors
    except configfile.ConfigFileError as exc:
        lines = exc.lines or (None,) * len(exc.errors)
        report["errors"] = [
            {"path": e.path, "message": e.message, "line": line}
            for e, line in zip(exc.errors, lines, strict=False)
        ] or [_whole_file_error(path, str(exc))]
        return report
    except ConfigError as exc:
        report["errors"] = [
            {"path": e.path, "message": e.message, "line": None} for e in exc.errors
        ]
        return report
    for entry in RouteTable.compile(config.routes.values()).shadowed():
        by = ", ".join(entry.by) if entry.by else "nothing: it accepts no request"
        report["warnings"].append(
            {"path": f"routes.{entry.route.name}", "message": f"shadowed by {by}"}
        )
    report.update(ok=True, routes=len(config.routes), services=len(config.services))
    return report


def run(args: argparse.Namespace) -> int:
    report = _report(args.config)
    if args.json:
        print_data(report, True)
        return 0 if report["ok"] else 1
    for error in report["errors"]:
        line = f":{error['line']}" if error["line"] else ""
        where = f"{error['path']}: " if error["path"] else ""
        print(f"{args.config}{line}: error: {where}{error['message']}", file=sys.stderr)
    for warning in report["warnings"]:
        print(f"{args.config}: warning: {warning['path']}: {warning['message']}")
    if not report["ok"]:
        return 1
    print(f"{args.config}: ok ({report['routes']} routes, {report['services']} services)")
    return 0
