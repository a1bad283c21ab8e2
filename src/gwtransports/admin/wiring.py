"""Plugging the admin API into ``gw serve``.

``gw serve`` needs three things from here:

- :func:`startup_config` -- the config file's config with the state file's routes
  and services on top, and ``--stage`` applied. Start-up and every SIGHUP reload
  go through it, so a reload never forgets admin writes.
- :func:`serve_admin` -- the admin listener as one of ``gw serve``'s extra tasks
  (``EXTRA_TASKS`` signature: ``(server, args)``); it shares the server's gateway
  and its ``apply``, the same path reloads take.
- :func:`check_admin_security` (re-exported) -- to refuse to start before
  anything listens.
"""

from __future__ import annotations

import argparse
import logging
import os
from pathlib import Path
from typing import Protocol

import trio

from gwcore.config import Config
from gwcore.errors import ConfigError
from gwcore.events import Applied, Change
from gwtransports.admin.handlers import GatewayView
from gwtransports.admin.server import check_admin_security, run_admin
from gwtransports.admin.state import load_state, overlay, state_path
from gwtransports.admin.store import FileStore, MemoryStore, Store

__all__ = [
    "ServerTarget",
    "check_admin_security",
    "file_state_path",
    "make_store",
    "serve_admin",
    "startup_config",
    "with_stage",
]

log = logging.getLogger("gw.admin")


class _Server(Protocol):
    @property
    def gateway(self) -> object: ...

    def apply(self, change: Change) -> Applied: ...


class ServerTarget:
    """The running trio :class:`~gwtransports.trio.server.Server` as an admin target."""

    def __init__(self, server: _Server) -> None:
        self._server = server

    @property
    def gateway(self) -> GatewayView:
        gateway = self._server.gateway
        assert hasattr(gateway, "stats") and hasattr(gateway, "explain")
        return gateway  # type: ignore[return-value]  # a gwcore Gateway, checked above

    def apply(self, change: Change) -> Applied:
        return self._server.apply(change)

    def now(self) -> float:
        return trio.current_time()


def with_stage(config: Config, stage: str | None) -> Config:
    """``config`` with ``stage`` as the active stage (``gw serve --stage``).

    Raises:
        ConfigError: The stage is not defined, or a variable it lacks is used.
    """
    if stage is None or stage == config.stage:
        return config
    from gwcore.config import from_dict, to_dict  # noqa: PLC0415  (only when --stage is used)

    data = to_dict(config)
    data["stage"] = stage
    return from_dict(data)


def startup_config(
    config: Config, config_file: str | os.PathLike[str] | None, stage: str | None = None
) -> Config:
    """What ``gw serve`` runs: the file's config, the state file's routes and
    services over it (deletions included), and ``--stage``.

    Raises:
        ConfigError: The state file is unreadable or the combination is invalid.
    """
    config = with_stage(config, stage)
    path = state_path(config, config_file)
    if path is None:
        return config
    return overlay(config, load_state(path))


def _address(config: Config) -> str:
    return f"{config.admin.listen.host}:{config.admin.listen.port}"


def _etcd_store(args: argparse.Namespace, config: Config, etcd_watch: object) -> Store | None:
    if not getattr(args, "etcd", None):
        return None
    from gwtransports.admin.etcd_store import EtcdStore  # noqa: PLC0415  (etcd mode only)
    from gwtransports.etcd_writer import EtcdWriter  # noqa: PLC0415
    from gwtransports.trio.etcd_watch import settings_from_args  # noqa: PLC0415

    found = settings_from_args(args, config)
    if found is None or found[1] is None:
        return None
    settings, prefix = found
    follower = etcd_watch if hasattr(etcd_watch, "status") else None
    return EtcdStore(EtcdWriter(settings, prefix=prefix), follower)  # type: ignore[arg-type]


def file_state_path(args: argparse.Namespace, config: Config) -> Path | None:
    """The state file admin writes go to, or ``None`` when they go elsewhere
    (etcd with ``--etcd`` and a prefix; memory without a config file)."""
    if getattr(args, "etcd", None):
        from gwtransports.trio.etcd_watch import settings_from_args  # noqa: PLC0415

        found = settings_from_args(args, config)
        if found is not None and found[1] is not None:
            return None
    return state_path(config, args.config)


def make_store(config: Config, config_file: str | os.PathLike[str] | None) -> Store:
    """The state file store beside the config file (memory when there is none)."""
    path = state_path(config, config_file)
    return MemoryStore() if path is None else FileStore(path)


async def serve_admin(
    server: _Server,
    args: argparse.Namespace,
    etcd_watch: object = None,
    *,
    task_status: trio.TaskStatus[list[trio.SocketListener]] = trio.TASK_STATUS_IGNORED,
) -> None:
    """Run the admin API for ``gw serve``.

    In distributed mode (``--etcd``) writes go to etcd under the prefix, and
    ``etcd_watch`` (what ``serve_etcd`` started with) feeds ``/health``; otherwise
    they go to the state file beside ``args.config``. An admin listener that would
    be unprotected raises :class:`~gwcore.errors.ConfigError` before listening.
    """
    target = ServerTarget(server)
    config = target.gateway.config
    store = _etcd_store(args, config, etcd_watch)
    if store is None:
        store = make_store(config, args.config)
        if hasattr(etcd_watch, "status") and isinstance(store, FileStore | MemoryStore):
            store.discovery = etcd_watch
    try:
        await run_admin(config, target, store, task_status=task_status)
    except ConfigError as exc:
        log.error("admin API refused to start: %s", exc)
        raise
    except OSError as exc:
        # Traffic matters more than the admin API: a busy admin port (another
        # gateway on the same machine, or the other ``--workers``, where the
        # first worker to bind serves it) is logged, and the proxy keeps serving.
        level = logging.INFO if getattr(args, "reuse_port", False) else logging.ERROR
        log.log(level, "admin API not started on %s: %s", _address(config), exc)
        task_status.started([])
