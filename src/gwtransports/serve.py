"""``gw serve``: run the gateway (trio), optionally with the demo upstream.

Structure: one trio nursery per worker process holds the proxy server, the
signal handler, the admin listener, the etcd watcher and any extra task (the
demo upstream; more plug in through :data:`EXTRA_TASKS`). Every config change
(SIGHUP reload, admin writes, etcd events, state file changes) goes through
:meth:`gwtransports.trio.server.Server.apply`.

``--workers N`` starts N worker processes that share each listening port with
SO_REUSEPORT; the parent only forwards signals and waits. The first worker to
bind the admin listener serves it; in file mode the others follow the state
file it writes (:mod:`gwtransports.admin.state_follow`), so an admin write
reaches every worker within about a second; with ``--etcd`` every worker
watches etcd.
"""

from __future__ import annotations

import argparse
import gc
import logging
import os
import random
import signal
import subprocess
import sys
from collections.abc import Awaitable, Callable
from typing import TextIO
from urllib.parse import urlsplit

import trio

from gwcore.config import Config
from gwcore.errors import ConfigError, FieldError
from gwcore.events import ConfigReplaced
from gwcore.gateway import Gateway
from gwtransports._accesslog import AccessLog
from gwtransports._parser import PARSERS
from gwtransports.admin.state_follow import StateFollower, follow_state
from gwtransports.admin.wiring import (
    check_admin_security,
    file_state_path,
    serve_admin,
    startup_config,
)
from gwtransports.demo import serve_demo
from gwtransports.trio.etcd_watch import add_etcd_arguments, serve_etcd
from gwtransports.trio.server import Server, open_listeners

__all__ = ["EXTRA_TASKS", "add_arguments", "load_config", "run"]

log = logging.getLogger("gw")

#: Extra long-running tasks started in the worker's nursery beside the server
#: (each gets the server and the parsed arguments), e.g. an admin listener.
EXTRA_TASKS: list[Callable[[Server, argparse.Namespace], Awaitable[None]]] = []


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("-c", "--config", required=True, help="YAML or JSON config file")
    parser.add_argument("--workers", type=int, default=1, help="worker processes (SO_REUSEPORT)")
    parser.add_argument("--http", choices=sorted(PARSERS), default="h11", help="HTTP/1.1 parser")
    parser.add_argument(
        "--demo", action="store_true", help="also run the demo echo upstream in-process"
    )
    parser.add_argument(
        "--access-log", default="-", metavar="PATH", help="access log file ('-': stdout)"
    )
    parser.add_argument("--log-level", default="INFO", help="log level of the error log (stderr)")
    parser.add_argument("--reuse-port", action="store_true", help=argparse.SUPPRESS)
    add_etcd_arguments(parser)
    parser.add_argument("--stage", help="active stage, overriding the config's 'stage:'")


def load_config(path: str) -> Config:
    """Read a config file (YAML or JSON).

    Raises:
        ConfigError: The file is invalid: one error per problem, each reading
            ``FILE:LINE: PATH: MESSAGE`` (file and line, as the field path alone
            would not say where to look).
        OSError: The file cannot be read.
    """
    try:
        from gwtransports import configfile  # noqa: PLC0415
    except ImportError:  # pragma: no cover - an install without the config file loader
        import yaml  # noqa: PLC0415

        from gwcore.config import from_dict  # noqa: PLC0415

        with open(path, encoding="utf-8") as f:
            return from_dict(yaml.safe_load(f))
    try:
        return configfile.load_config_file(path)
    except configfile.ConfigFileError as exc:
        # One error per problem, each ``FILE:LINE: PATH: MESSAGE``.
        raise ConfigError([FieldError("", str(p)) for p in exc.problems]) from None


def run(args: argparse.Namespace) -> int:
    """Run ``gw serve``; returns the process exit code."""
    logging.basicConfig(
        level=args.log_level.upper(),
        stream=sys.stderr,
        format="%(asctime)s %(levelname)s %(name)s[%(process)d]: %(message)s",
    )
    try:
        config = load_config(args.config)
        # Admin writes kept in the state file, and --stage, apply on top.
        config = startup_config(config, args.config, args.stage)
        check_admin_security(config)
    except ConfigError as exc:
        for error in exc.errors:
            print(f"gw serve: {error}", file=sys.stderr)
        return 1
    except OSError as exc:
        print(f"gw serve: {exc}", file=sys.stderr)
        return 1
    if args.workers > 1:
        return _supervise(args)
    out: TextIO = sys.stdout if args.access_log == "-" else open(args.access_log, "a")  # noqa: SIM115
    try:
        return trio.run(_worker, args, config, out)
    finally:
        if out is not sys.stdout:
            out.close()


def _demo_port(config: Config) -> int:
    """The demo upstream's port: the one the config's ``demo`` service names."""
    for name in ("demo", "echo"):
        service = config.services.get(name)
        if service and service.endpoints:
            port = urlsplit(service.endpoints[0].url).port
            if port:
                return port
    return 9001


async def _worker(args: argparse.Namespace, config: Config, out: TextIO) -> int:
    gateway = Gateway(config, rng=random.Random())
    server = Server(gateway, access_log=AccessLog(out, config.access_log), http=args.http)
    try:
        listeners = await open_listeners(config.listen, reuse_port=args.reuse_port)
    except OSError as exc:
        log.error("cannot listen: %s", exc)
        return 1
    async with trio.open_nursery() as nursery:
        if args.demo:
            port = await nursery.start(serve_demo, "127.0.0.1", _demo_port(config))
            log.info("demo echo upstream on http://127.0.0.1:%d", port)
        # etcd first: its state (or the cached snapshot) is applied before serving.
        watch = await nursery.start(serve_etcd, server, args)
        state_file = file_state_path(args, config)
        follower = None if state_file is None else StateFollower(server, state_file)
        if follower is not None:
            # The instances the state file keeps (routes and services are in
            # ``config`` already): they serve until their ttl runs out.
            follower.poll()
        admin = await nursery.start(serve_admin, server, args, watch)
        if follower is not None and not admin:
            # Another worker owns the admin listener: follow its writes.
            nursery.start_soon(follow_state, follower)
        for task in EXTRA_TASKS:
            nursery.start_soon(task, server, args)
        nursery.start_soon(_signals, server, args.config, args.stage)
        for listener, tls in listeners:
            host, port = listener.socket.getsockname()[:2]
            scheme = "https" if tls else "http"
            log.info("gw serving on %s://%s:%d (pid %d)", scheme, host, port, os.getpid())
        # Start-up objects (config, route table, modules) live as long as the
        # process: move them out of the collector's way, and collect young
        # objects less often (a request makes many short-lived ones that
        # reference counting already frees).
        gc.collect()
        gc.freeze()
        gc.set_threshold(20_000, 50, 100)
        await server.serve(listeners)
        # ``serve`` returns after the drain: stop the helpers too.
        nursery.cancel_scope.cancel()
    return 0


async def _signals(server: Server, path: str, stage: str | None = None) -> None:
    with trio.open_signal_receiver(signal.SIGHUP, signal.SIGTERM, signal.SIGINT) as signals:
        async for signum in signals:
            if signum == signal.SIGHUP:
                reload(server, path, stage)
            else:
                log.info("shutting down: draining for up to %ss", server.settings.grace)
                server.shutdown()


def reload(server: Server, path: str, stage: str | None = None) -> bool:
    """Re-read the config file and apply it; an invalid file changes nothing.

    Returns:
        Whether the new config is now serving.
    """
    before = server.gateway.config.listen
    try:
        config = startup_config(load_config(path), path, stage)
        applied = server.apply(ConfigReplaced(config=config))
    except (ConfigError, OSError) as exc:
        log.error("reload refused, the previous config keeps serving: %s", exc)
        return False
    if config.listen != before:
        log.warning("reload: listener changes take effect on restart")
    log.info("reloaded %s (generation %d)", path, applied.generation)
    for line in applied.warnings:
        log.warning("reload: %s", line)
    return True


def _die_with_parent() -> None:
    """In a worker: get SIGTERM when the supervisor dies, even by SIGKILL
    (Linux ``PR_SET_PDEATHSIG``), so no orphan keeps the port."""
    if sys.platform == "linux":
        import ctypes  # noqa: PLC0415

        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(1, signal.SIGTERM)  # 1 = PR_SET_PDEATHSIG


def _own_argv() -> list[str] | None:
    """This process's ``gw serve`` arguments without ``--workers``, if it was
    started as ``gw serve`` / ``python -m gwtransports.cli serve``."""
    argv = sys.argv[1:]
    if "serve" not in argv:
        return None
    out: list[str] = []
    skip = False
    for arg in argv:
        if skip:
            skip = False
        elif arg == "--workers":
            skip = True
        elif not arg.startswith("--workers="):
            out.append(arg)
    return out


def _supervise(args: argparse.Namespace) -> int:
    """Start ``args.workers`` worker processes and forward signals to them.

    Each worker gets the command line this process got (every option, present
    or added later), less ``--workers`` and, but for the first, ``--demo``.
    """
    argv = _own_argv()
    if argv is None:  # called from Python rather than a command line: the basics
        argv = ["serve", "-c", args.config, "--http", args.http]
        argv += ["--access-log", args.access_log, "--log-level", args.log_level]
        argv += ["--stage", args.stage] if args.stage else []
        argv += ["--demo"] if args.demo else []
    base = [sys.executable, "-m", "gwtransports.cli", *argv, "--reuse-port"]
    children = []
    for i in range(args.workers):
        cmd = base if i == 0 else [a for a in base if a != "--demo"]
        children.append(subprocess.Popen(cmd, preexec_fn=_die_with_parent))  # noqa: PLW1509

    def forward(signum: int, _frame: object) -> None:
        for child in children:
            if child.poll() is None:
                child.send_signal(signum)

    for signum in (signal.SIGTERM, signal.SIGHUP, signal.SIGINT):
        signal.signal(signum, forward)
    codes = [child.wait() for child in children]
    return max(codes, default=0)
