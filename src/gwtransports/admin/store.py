"""Where admin writes go: the seam between the admin API and durable state.

An admin write is acknowledged only after :meth:`Store.persist` returned, so an
acknowledged write is never lost. The embedded default is :class:`FileStore`
(the state file); distributed mode uses :class:`EtcdStore` (keys under the etcd
prefix, which every replica watches). :class:`MemoryStore` keeps nothing, for
gateways started without a config file and for tests.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Protocol

import anyio.to_thread

from gwcore.config import Config
from gwcore.events import Change, InstanceDeregistered, InstanceHeartbeat, InstanceRegistered
from gwtransports.admin.handlers import StoreStatus
from gwtransports.admin.state import save_state

__all__ = ["FileStore", "MemoryStore", "Store", "StoreFailed"]

_INSTANCE_CHANGES = (InstanceRegistered, InstanceHeartbeat, InstanceDeregistered)


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


class MemoryStore:
    """Keeps nothing: admin writes last until the process exits."""

    kind = "memory"

    def status(self) -> StoreStatus:
        return StoreStatus(kind=self.kind, detail="not persisted")

    async def persist(self, before: Config, after: Config, change: Change, changed: bool) -> None:
        return None


class FileStore:
    """Writes every route and service to the state file after each admin write.

    Args:
        path: The state file (see :func:`gwtransports.admin.state.state_path`).
    """

    kind = "file"

    def __init__(self, path: Path) -> None:
        self.path = path
        self._failing_since: float | None = None
        self._lock = anyio.Lock()

    def status(self) -> StoreStatus:
        return StoreStatus(
            kind=self.kind,
            ok=self._failing_since is None,
            stale_since=self._failing_since,
            detail=str(self.path),
        )

    async def persist(self, before: Config, after: Config, change: Change, changed: bool) -> None:
        if not changed or isinstance(change, _INSTANCE_CHANGES):
            # Instances are not kept across restarts: their heartbeat gets 404
            # from a restarted gateway and they register again.
            return
        # One writer at a time: two overlapping renames could otherwise leave the
        # older snapshot as the final file.
        async with self._lock:
            try:
                await anyio.to_thread.run_sync(save_state, self.path, after)
            except OSError as exc:
                if self._failing_since is None:
                    self._failing_since = time.time()
                raise StoreFailed(f"state file {self.path}: {exc.strerror or exc}") from exc
            self._failing_since = None
