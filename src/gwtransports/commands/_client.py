"""What every admin-API subcommand shares: connection options, the client, output.

Options: ``--admin URL`` (or ``GW_ADMIN_URL``, default ``http://127.0.0.1:8081``),
``--token`` (or ``GW_ADMIN_TOKEN``), ``--cert/--key`` (client certificate) and
``--cacert`` (CA that signed the admin listener's certificate), ``--json``.
Errors go to stderr with exit status 1; the admin API's field errors are printed
one per line as ``path: message``.
"""

from __future__ import annotations

import argparse
import json
import os
import ssl
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import yaml

from gwtransports.registration import tls_context

__all__ = [
    "DEFAULT_ADMIN",
    "AdminClient",
    "CommandError",
    "add_admin_arguments",
    "client_from_args",
    "print_data",
    "read_document",
    "report",
    "write_summary",
]

DEFAULT_ADMIN = "http://127.0.0.1:8081"


class CommandError(Exception):
    """A failure to report on stderr; ``lines`` are printed after the message."""

    def __init__(self, message: str, lines: tuple[str, ...] = ()) -> None:
        super().__init__(message)
        self.lines = lines


def add_admin_arguments(parser: argparse.ArgumentParser) -> None:
    """Add the options that say how to reach the admin API."""
    group = parser.add_argument_group("admin API")
    group.add_argument(
        "--admin",
        default=os.environ.get("GW_ADMIN_URL", DEFAULT_ADMIN),
        help="admin API URL (env GW_ADMIN_URL; default %(default)s)",
    )
    group.add_argument(
        "--token",
        default=os.environ.get("GW_ADMIN_TOKEN"),
        help="bearer token (env GW_ADMIN_TOKEN)",
    )
    group.add_argument("--cert", help="client certificate (PEM) for mutual TLS")
    group.add_argument("--key", help="client certificate's private key (PEM)")
    group.add_argument("--cacert", help="CA file to verify the admin listener's certificate")
    group.add_argument("--timeout", type=float, default=10.0, help="seconds per request")
    parser.add_argument("--json", action="store_true", help="print JSON for scripts")


class AdminClient:
    """A thin synchronous client of the admin API.

    Raises :class:`CommandError` for transport failures and for every non-2xx
    answer, carrying the admin API's error and field errors.
    """

    def __init__(self, http: httpx.Client) -> None:
        self.http = http

    def request(
        self,
        method: str,
        path: str,
        *,
        body: object = None,
        params: dict[str, str] | None = None,
        accept: str = "application/json",
    ) -> httpx.Response:
        try:
            response = self.http.request(
                method,
                path,
                json=body if body is not None else None,
                params=params,
                headers={"accept": accept},
            )
        except httpx.HTTPError as exc:
            raise CommandError(
                f"cannot reach the admin API at {self.http.base_url}: {exc}"
            ) from None
        if response.status_code >= 400:
            raise _error(response)
        return response

    def json(self, method: str, path: str, **kwargs: Any) -> Any:
        return self.request(method, path, **kwargs).json()


def _error(response: httpx.Response) -> CommandError:
    try:
        data = response.json()
        lines = tuple(
            f"  {e['path']}: {e['message']}" if e.get("path") else f"  {e['message']}"
            for e in data.get("errors", [])
        )
        return CommandError(f"{response.status_code} {data['error']}: {data['detail']}", lines)
    except (ValueError, KeyError, TypeError, AttributeError):
        return CommandError(f"{response.status_code}: {response.text.strip()[:200]}")


@contextmanager
def client_from_args(args: argparse.Namespace) -> Iterator[AdminClient]:
    """An :class:`AdminClient` configured from the parsed admin options."""
    headers = {"authorization": f"Bearer {args.token}"} if args.token else {}
    cert = (args.cert, args.key) if args.cert and args.key else args.cert
    try:
        verify = tls_context(args.cacert or True, cert)
    except (OSError, ssl.SSLError) as exc:
        raise CommandError(f"cannot load TLS files: {exc}") from None
    with httpx.Client(
        base_url=args.admin.rstrip("/"),
        headers=headers,
        verify=verify,
        timeout=args.timeout,
        trust_env=False,
    ) as http:
        yield AdminClient(http)


def read_document(path: str) -> object:
    """Read a YAML or JSON file (``-`` is stdin).

    Raises:
        CommandError: The file cannot be read or parsed.
    """
    try:
        text = sys.stdin.read() if path == "-" else Path(path).read_text(encoding="utf-8")
        return yaml.safe_load(text)
    except OSError as exc:
        raise CommandError(f"{path}: {exc.strerror or exc}") from None
    except yaml.YAMLError as exc:
        raise CommandError(f"{path}: not YAML or JSON: {exc}") from None


def print_data(data: object, as_json: bool) -> None:
    """Print data as JSON (``--json``) or as YAML for people."""
    if as_json:
        print(json.dumps(data, indent=2))
    else:
        print(yaml.safe_dump(data, sort_keys=False, allow_unicode=True), end="")


def report(exc: CommandError) -> int:
    """Print a command error on stderr; return the exit status 1."""
    print(f"gw: {exc}", file=sys.stderr)
    for line in exc.lines:
        print(line, file=sys.stderr)
    return 1


def write_summary(data: dict[str, Any], what: str) -> str:
    """One human line for a write's answer: ``route users: created (generation 4)``."""
    if data.get("dry_run"):
        return f"{what}: dry run, {len(data.get('diff', []))} change(s)"
    generation = f"(generation {data.get('generation')})"
    summary = data.get("summary") or []
    if data.get("changed") and len(summary) == 1 and ": " in summary[0]:
        # The gateway's own word for it: created, updated, deleted, registered.
        return f"{what}: {summary[0].rsplit(': ', 1)[1]} {generation}"
    return f"{what}: {'changed' if data.get('changed') else 'unchanged'} {generation}"
