"""``gw register --service S --url U``: register an instance until interrupted.

Registers (creating the service and the ``--path`` routes when needed), heart-beats
every ttl/3 seconds, and deregisters on Ctrl-C or SIGTERM. Useful beside a
process that cannot use the Python library, e.g. in a container entry point.
"""

from __future__ import annotations

import argparse
import signal
import sys
import threading
from types import FrameType

from gwtransports.commands._client import add_admin_arguments, print_data
from gwtransports.registration import RegistrationError, register

__all__ = ["add_arguments", "run"]


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--service", required=True, help="service name")
    parser.add_argument(
        "--url", required=True, help="this instance's URL, e.g. http://10.0.0.5:5000"
    )
    parser.add_argument("--ttl", type=float, default=10.0, help="seconds (default %(default)s)")
    parser.add_argument("--weight", type=int, default=1, help="share; 0 drains (default 1)")
    parser.add_argument(
        "--path", action="append", default=[], help="route this prefix to the service (repeatable)"
    )
    parser.add_argument("--host", help="host the --path routes match (default: any)")
    add_admin_arguments(parser)


def run(args: argparse.Namespace) -> int:
    stop = threading.Event()

    def on_signal(signum: int, frame: FrameType | None) -> None:
        stop.set()

    # SIGINT too: a shell starts background jobs with SIGINT ignored, so Python's
    # KeyboardInterrupt would never come.
    previous = {sig: signal.signal(sig, on_signal) for sig in (signal.SIGTERM, signal.SIGINT)}
    cert = (args.cert, args.key) if args.cert and args.key else args.cert
    try:
        with register(
            args.admin,
            service=args.service,
            url=args.url,
            paths=args.path,
            host=args.host,
            weight=args.weight,
            ttl=args.ttl,
            token=args.token,
            cert=cert,
            verify=args.cacert or True,
            timeout=args.timeout,
        ) as reg:
            if args.json:
                print_data(
                    {"service": reg.service, "id": reg.instance_id, "routes": reg.routes}, True
                )
            else:
                print(
                    f"registered {reg.service} instance {reg.instance_id} at {reg.url}"
                    f" (routes: {', '.join(reg.routes) or 'none'}); heart-beating every"
                    f" {args.ttl / 3:g}s, Ctrl-C to deregister"
                )
            sys.stdout.flush()
            while not stop.wait(0.5):
                pass
        if not args.json:
            print(f"deregistered {args.service} instance {reg.instance_id}")
        return 0
    except RegistrationError as exc:
        print(f"gw: {exc}", file=sys.stderr)
        return 1
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
