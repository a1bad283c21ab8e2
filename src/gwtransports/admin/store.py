"""Where admin writes go: the seam between the admin API and durable state.

An admin write is acknowledged only after :meth:`Store.persist` returned, so an
acknowledged write is never lost. The embedded default is :class:`FileStore`
(the state file); distributed mode uses :class:`EtcdStore` (keys under the etcd
prefix, which every replica watches). :class:`MemoryStore` keeps nothing, for
gateways started without a config file and for tests.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import replace
from functools import partial
from pathlib import Path
from typing import Any, Protocol

import anyio.to_thread

from gwcore.config import Config
from gwcore.errors import ConfigError
from gwcore.events import Change, InstanceDeregistered, InstanceHeartbeat, InstanceRegistered
from gwtransports.admin.handlers import StoreStatus
from gwtransports.admin.state import load_state, save_state

__all__ = ["FileStore", "MemoryStore", "Store", "StoreFailed"]

_INSTANCE_CHANGES = (InstanceRegistered, InstanceHeartbeat, InstanceDeregistered)


def _alive(entry: dict[str, Any], now: float) -> bool:
    expires = entry.get("expires")
    return expires is None or expires > now


class StoreFailed(Exception):
    """A write could not be made durable; the admin API answers 503 and rolls back."""


class Store(Protocol):
    """Durable home of routes and services written through the admin API."""

    @property
    def kind(self) -> str:
        """``"file"``, ``"etcd"`` or ``"memory"``."""
        ...

    def status(self) -> StoreStatus:
        """Whether the store works, for ``/health`` and ``/metrics``."""
        ...

    async def persist(self, before: Config, after: Config, change: Change, changed: bool) -> None:
        """Make ``change`` durable once the gateway applied it.

        Args:
            before: The config before the change.
            after: The config after it.
            change: The change (routes, services, the whole config, or an instance
                registration, heartbeat or deregistration).
            changed: Whether the gateway said anything changed (a repeated upsert
                did not; a heartbeat never does, yet renews an etcd lease).

        Raises:
            StoreFailed: Nothing was made durable (the caller rolls back).
        """
        ...


class Watched(Protocol):
    """The etcd watch behind ``etcd(key, default)`` endpoints (its ``status``)."""

    @property
    def status(self) -> Any: ...


def _with_discovery(status: StoreStatus, discovery: Watched | None) -> StoreStatus:
    """Add the etcd watch's state to a store status that is not etcd's own."""
    if discovery is None:
        return status
    watched = discovery.status
    return replace(status, etcd_ok=bool(watched.reachable), etcd_stale_since=watched.stale_since)


class MemoryStore:
    """Keeps nothing: admin writes last until the process exits."""

    kind = "memory"
    #: The etcd watch of ``etcd(key, default)`` endpoints, reported by ``status``.
    discovery: Watched | None = None

    def status(self) -> StoreStatus:
        return _with_discovery(StoreStatus(kind=self.kind, detail="not persisted"), self.discovery)

    async def persist(self, before: Config, after: Config, change: Change, changed: bool) -> None:
        return None


class FileStore:
    """Writes every route, service and registered instance to the state file
    after each admin write.

    Instances are kept with their expiry in wall-clock time, so that the other
    workers of ``gw serve --workers N`` (which follow the file) and a restarted
    gateway serve them until their ttl runs out.

    Args:
        path: The state file (see :func:`gwtransports.admin.state.state_path`).
            The instances it already keeps are carried on.
        clock: Wall clock for instance expiry (``time.time``; tests pass their own).
    """

    kind = "file"
    #: The etcd watch of ``etcd(key, default)`` endpoints, reported by ``status``.
    discovery: Watched | None = None

    def __init__(self, path: Path, clock: Callable[[], float] = time.time) -> None:
        self.path = path
        self._clock = clock
        self._failing_since: float | None = None
        self._lock = anyio.Lock()
        self.instances: dict[str, dict[str, dict[str, Any]]] = {}
        try:
            stored = load_state(path)
        except ConfigError:
            stored = None  # the gateway refused to start on it already, or it is new
        if stored is not None:
            self.instances = {k: dict(v) for k, v in stored["instances"].items()}

    def status(self) -> StoreStatus:
        status = StoreStatus(
            kind=self.kind,
            ok=self._failing_since is None,
            stale_since=self._failing_since,
            detail=str(self.path),
        )
        return _with_discovery(status, self.discovery)

    async def persist(self, before: Config, after: Config, change: Change, changed: bool) -> None:
        # An instance change is written even when routing did not change: a
        # heartbeat or a repeated registration moves the expiry other workers see.
        if not changed and not isinstance(change, _INSTANCE_CHANGES):
            return
        # One writer at a time: two overlapping renames could otherwise leave the
        # older snapshot as the final file.
        async with self._lock:
            instances = self._instances_after(change)
            write = partial(save_state, durable=not isinstance(change, InstanceHeartbeat))
            try:
                await anyio.to_thread.run_sync(write, self.path, after, instances)
            except OSError as exc:
                if self._failing_since is None:
                    self._failing_since = time.time()
                raise StoreFailed(f"state file {self.path}: {exc.strerror or exc}") from exc
            self._failing_since = None
            self.instances = instances

    def _instances_after(self, change: Change) -> dict[str, dict[str, dict[str, Any]]]:
        """The instances to keep once ``change`` is made (expired ones dropped)."""
        now = self._clock()
        kept = {
            service: {k: v for k, v in table.items() if _alive(v, now)}
            for service, table in self.instances.items()
        }
        match change:
            case InstanceRegistered(service=service, instance=ident, url=url, weight=w, ttl=ttl):
                expires = None if ttl is None else now + ttl
                entry: dict[str, Any] = {"url": url, "weight": w, "ttl": ttl, "expires": expires}
                kept.setdefault(service, {})[ident] = entry
            case InstanceHeartbeat(service=service, instance=ident):
                found = kept.get(service, {}).get(ident)
                if found is not None and found.get("ttl") is not None:
                    kept[service][ident] = {**found, "expires": now + found["ttl"]}
            case InstanceDeregistered(service=service, instance=ident):
                kept.get(service, {}).pop(ident, None)
            case _:
                pass
        return {service: table for service, table in kept.items() if table}
