"""The etcd source on trio: etcd changes in, applied through the core.

:class:`EtcdWatch` runs the blocking follower (:mod:`gwtransports._etcd_follow`)
in a worker thread and hands every change to the trio loop through a memory
channel, so the loop never blocks on etcd. :func:`apply_changes` applies them to
the gateway; a change the core refuses is logged with its etcd key and dropped.

``gw serve`` wiring: :func:`add_etcd_arguments` adds the ``--etcd*`` options and
:func:`serve_etcd` is the task that runs the watch and applies what it sees::

    watch = await nursery.start(serve_etcd, server, args)   # None: etcd not in use
"""

from __future__ import annotations

import argparse
import logging
import math
import os
from collections.abc import Callable
from pathlib import Path
from typing import Protocol

import trio

from gwcore.config import Config
from gwcore.errors import ConfigError
from gwcore.events import Applied, Change
from gwcore.store import key_of
from gwtransports._etcd_follow import EtcdFollower, Stopped, StoreStatus
from gwtransports.etcd_client import PASSWORD_ENV, EtcdSettings

__all__ = [
    "EtcdWatch",
    "StoreStatus",
    "add_etcd_arguments",
    "apply_changes",
    "open_channel",
    "serve_etcd",
    "settings_from_args",
]

log = logging.getLogger("gw.etcd")

# The channel between the worker and the loop is unbounded: changes are small and
# bursty (a re-list), and the worker must never wait on a busy loop while it holds
# an etcd stream open.
CHANNEL_BUFFER = math.inf


def open_channel() -> tuple[trio.MemorySendChannel[Change], trio.MemoryReceiveChannel[Change]]:
    """The channel :meth:`EtcdWatch.run` sends into."""
    return trio.open_memory_channel[Change](CHANNEL_BUFFER)


class EtcdWatch(EtcdFollower):
    """An :class:`EtcdFollower` run from trio (same arguments)."""

    async def run(
        self,
        send: trio.MemorySendChannel[Change],
        *,
        task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED,
    ) -> None:
        """Follow etcd until cancelled, sending changes into ``send``.

        Reports started (for ``nursery.start``) once a first state is delivered:
        etcd's, or the snapshot's when etcd is unreachable, or none when there is
        neither. When cancelled, the worker thread is told to stop and left to
        finish on its own (it closes its own client within one call timeout).
        """
        token = trio.lowlevel.current_trio_token()

        def deliver(change: Change) -> None:
            try:
                trio.from_thread.run(send.send, change, trio_token=token)
            except (trio.RunFinishedError, trio.Cancelled, trio.ClosedResourceError):
                raise Stopped from None

        def started() -> None:
            try:
                trio.from_thread.run_sync(task_status.started, trio_token=token)
            except (trio.RunFinishedError, trio.Cancelled):
                raise Stopped from None

        try:
            await trio.to_thread.run_sync(
                self.follow,
                deliver,
                started,
                abandon_on_cancel=True,
                limiter=trio.CapacityLimiter(1),
            )
        finally:
            self.stop()


class _Keys(Protocol):
    @property
    def watched_keys(self) -> frozenset[str]: ...


class _Applier(_Keys, Protocol):
    def apply(self, change: Change, now: float) -> Applied: ...


async def apply_changes(
    gateway: _Applier,
    receive: trio.MemoryReceiveChannel[Change],
    watch: EtcdFollower,
    *,
    apply: Callable[[Change], Applied] | None = None,
    now: Callable[[], float] = trio.current_time,
) -> None:
    """Apply every change from the etcd source to the gateway until the channel closes.

    A change the core refuses (``ConfigError``) is logged with its etcd key and
    dropped; the gateway keeps its previous state. When the gateway's plain keys
    change (a service from etcd brings an ``etcd(...)`` endpoint), the watch
    follows them.

    Args:
        gateway: The core (for ``watched_keys``, and ``apply`` unless given).
        receive: Where the changes come from.
        watch: The source, told about new plain keys.
        apply: Applies one change (``Server.apply``, which also refreshes the
            server's settings); defaults to ``gateway.apply(change, now())``.
        now: The clock passed to ``gateway.apply``.
    """
    apply_ = apply or (lambda change: gateway.apply(change, now()))
    async for change in receive:
        _apply_one(apply_, gateway, watch, change)


def _apply_one(
    apply: Callable[[Change], Applied], gateway: _Keys, watch: EtcdFollower, change: Change
) -> None:
    prefix = watch.prefix or "/gw/"
    try:
        applied = apply(change)
    except ConfigError as exc:
        log.error("etcd key %s refused: %s", key_of(change, prefix) or "-", exc)
        return
    for warning in applied.warnings:
        log.warning("etcd: %s", warning)
    watch.set_watched_keys(gateway.watched_keys)


# --------------------------------------------------------------------------- gw serve


def add_etcd_arguments(parser: argparse.ArgumentParser) -> None:
    """Add the ``--etcd*`` options of ``gw serve``."""
    group = parser.add_argument_group("etcd")
    group.add_argument(
        "--etcd",
        metavar="URL[,URL...]",
        help="distributed mode: routes, services and instances live in etcd under the prefix",
    )
    group.add_argument("--etcd-prefix", metavar="PREFIX", help="key prefix (default /gw/)")
    group.add_argument("--etcd-user", metavar="USER", help="etcd auth user")
    group.add_argument(
        "--etcd-password", metavar="PASSWORD", help=f"etcd auth password (or ${PASSWORD_ENV})"
    )
    group.add_argument("--etcd-ca", metavar="FILE", help="CA file for TLS to etcd")
    group.add_argument("--etcd-cert", metavar="FILE", help="client certificate for TLS to etcd")
    group.add_argument("--etcd-key", metavar="FILE", help="client key for TLS to etcd")
    group.add_argument(
        "--etcd-snapshot",
        metavar="PATH",
        help="cache of the last etcd state, served when etcd is down at start "
        "(default: <config>.etcd.json)",
    )


def settings_from_args(
    args: argparse.Namespace, config: Config
) -> tuple[EtcdSettings, str | None] | None:
    """The etcd settings and prefix for ``gw serve``, or ``None`` when etcd is unused.

    ``--etcd`` switches distributed mode on (the prefix is watched); the config's
    ``etcd:`` section alone only serves its ``etcd(key, default)`` endpoints.
    Options override the section's fields.
    """
    section = config.etcd
    urls = tuple(u.strip() for u in (getattr(args, "etcd", None) or "").split(",") if u.strip())
    if not urls and (section is None or not section.endpoints):
        return None

    def pick(option: str, field: str) -> str | None:
        value: str | None = getattr(args, option, None)
        if value is None and section is not None:
            value = getattr(section, field)
        return value

    user = pick("etcd_user", "user")
    password = pick("etcd_password", "password")
    if password is None and user is not None:
        password = os.environ.get(PASSWORD_ENV)
    settings = EtcdSettings(
        endpoints=urls or (section.endpoints if section is not None else ()),
        user=user,
        password=password if user is not None else None,
        ca=pick("etcd_ca", "ca"),
        cert=pick("etcd_cert", "cert"),
        key=pick("etcd_key", "key"),
    )
    prefix = getattr(args, "etcd_prefix", None) or (section.prefix if section else "/gw/")
    return settings, (prefix if urls else None)


async def serve_etcd(
    server: _Server,
    args: argparse.Namespace,
    *,
    task_status: trio.TaskStatus[EtcdWatch | None] = trio.TASK_STATUS_IGNORED,
) -> None:
    """Run the etcd watch for ``gw serve`` and apply what it sees to ``server``.

    Starts (for ``nursery.start``) with the :class:`EtcdWatch` once the first
    state is applied (so the first request already sees it), or with ``None``
    when etcd is not in use. ``watch.status`` is what ``/health`` reports.
    """
    config = server.gateway.config
    found = settings_from_args(args, config)
    if found is None:
        task_status.started(None)
        return
    settings, prefix = found
    snapshot = getattr(args, "etcd_snapshot", None) or f"{args.config}.etcd.json"
    watch = EtcdWatch(
        settings,
        prefix=prefix,
        watched_keys=server.gateway.watched_keys,
        resync=config.etcd.resync if config.etcd else 30.0,
        snapshot_path=Path(snapshot),
    )
    send, receive = open_channel()
    mode = f"distributed mode, prefix {prefix}" if prefix else "etcd(...) endpoints only"
    log.info("etcd: %s (%s)", ",".join(settings.endpoints), mode)
    async with trio.open_nursery() as nursery:
        await nursery.start(watch.run, send)
        # Apply what arrived before serving starts, then keep applying.
        while True:
            try:
                change = receive.receive_nowait()
            except trio.WouldBlock:
                break
            _apply_one(server.apply, server.gateway, watch, change)
        nursery.start_soon(_follow_changes, server, receive, watch)
        task_status.started(watch)


async def _follow_changes(
    server: _Server, receive: trio.MemoryReceiveChannel[Change], watch: EtcdFollower
) -> None:
    async for change in receive:
        _apply_one(server.apply, server.gateway, watch, change)


class _Gateway(_Keys, Protocol):
    @property
    def config(self) -> Config: ...


class _Server(Protocol):
    @property
    def gateway(self) -> _Gateway: ...

    def apply(self, change: Change) -> Applied: ...
