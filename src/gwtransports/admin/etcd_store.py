"""Admin writes in distributed mode: into etcd, where every replica watches them.

Routes and services are written with :class:`gwtransports.etcd_writer.EtcdWriter`
(values made by :mod:`gwcore.store`, so they read back exactly). A whole-config
replacement writes services before routes and deletes routes before services, so
a replica applying the keys one by one never sees a route whose service is
missing.

An instance registered through the admin API gets its own etcd lease of ``ttl``
seconds; each heartbeat the instance sends renews that lease, and a
deregistration revokes it. When the instance stops heart-beating its lease runs
out and etcd deletes the key on every replica at once: no replica needs to trust
another's clock.
"""

from __future__ import annotations

import math
import threading
import time
from typing import Protocol

import anyio.to_thread

from gwcore.config import Config
from gwcore.events import (
    Change,
    ConfigReplaced,
    InstanceDeregistered,
    InstanceHeartbeat,
    InstanceRegistered,
    RouteDeleted,
    RouteUpserted,
    ServiceDeleted,
    ServiceUpserted,
)
from gwcore.store import encode_instance
from gwtransports.admin._types import StoreStatus
from gwtransports.admin.store import StoreFailed
from gwtransports.etcd_client import EtcdClient, EtcdFailure
from gwtransports.etcd_writer import EtcdWriter

__all__ = ["EtcdStore"]


class _WatchStatus(Protocol):
    @property
    def reachable(self) -> bool: ...

    @property
    def stale_since(self) -> float | None: ...


class _Follower(Protocol):
    @property
    def status(self) -> _WatchStatus: ...


class EtcdStore:
    """A :class:`~gwtransports.admin.store.Store` writing to etcd.

    Args:
        writer: Writer for the gateway's prefix.
        follower: The gateway's etcd watch (anything with a ``status`` holding
            ``reachable`` and ``stale_since``), so ``/health`` says whether the
            state being served is stale, not only whether the last write worked.
    """

    kind = "etcd"

    def __init__(self, writer: EtcdWriter, follower: _Follower | None = None) -> None:
        self.writer = writer
        self.follower = follower
        self._leases: dict[tuple[str, str], int] = {}
        self._failing_since: float | None = None
        self._lock = threading.Lock()

    def status(self) -> StoreStatus:
        ok, stale_since = self._failing_since is None, self._failing_since
        if self.follower is not None:
            watched = self.follower.status
            ok = ok and bool(watched.reachable)
            stale_since = stale_since or watched.stale_since
        return StoreStatus(
            kind=self.kind,
            ok=ok,
            stale_since=stale_since,
            detail=",".join(self.writer.settings.endpoints),
        )

    async def persist(self, before: Config, after: Config, change: Change, changed: bool) -> None:
        try:
            await anyio.to_thread.run_sync(self._persist, before, after, change, changed)
        except EtcdFailure as exc:
            if self._failing_since is None:
                self._failing_since = time.time()
            raise StoreFailed(f"etcd: {exc.reason}") from exc
        self._failing_since = None

    def _persist(self, before: Config, after: Config, change: Change, changed: bool) -> None:
        with self._lock:
            match change:
                case InstanceRegistered() | InstanceHeartbeat() | InstanceDeregistered():
                    self._instance(change)
                case _ if not changed:
                    return
                case RouteUpserted():
                    self.writer.put_route(change.route)
                case RouteDeleted():
                    self.writer.delete_route(change.name)
                case ServiceUpserted():
                    self.writer.put_service(change.name, change.service)
                case ServiceDeleted():
                    self.writer.delete_service(change.name)
                case ConfigReplaced():
                    self._replace(before, after)
                case _:
                    return

    def _replace(self, before: Config, after: Config) -> None:
        for name, service in after.services.items():
            if before.services.get(name) != service:
                self.writer.put_service(name, service)
        for name, route in after.routes.items():
            if before.routes.get(name) != route:
                self.writer.put_route(route)
        for name in before.routes:
            if name not in after.routes:
                self.writer.delete_route(name)
        for name in before.services:
            if name not in after.services:
                self.writer.delete_service(name)

    def _client(self) -> EtcdClient:
        # A fresh client per instance call keeps this independent of the
        # writer's connection state (a failed node stays failed in etcd3).
        return EtcdClient(self.writer.settings)

    def _instance(
        self, change: InstanceRegistered | InstanceHeartbeat | InstanceDeregistered
    ) -> None:
        ident = (change.service, change.instance)
        client = self._client()
        try:
            if isinstance(change, InstanceRegistered):
                old = self._leases.pop(ident, None)
                if old is not None:
                    client.revoke(old)
                ttl = max(1, math.ceil(change.ttl)) if change.ttl is not None else 30
                key, value = encode_instance(
                    self.writer.prefix, change.service, change.instance,
                    url=change.url, weight=change.weight,
                )  # fmt: skip
                lease = client.grant(ttl)
                client.put(key, value, lease=lease)
                self._leases[ident] = lease
            elif isinstance(change, InstanceHeartbeat):
                lease_id = self._leases.get(ident)
                if lease_id is None or client.keep_alive(lease_id) <= 0:
                    raise EtcdFailure("the instance's lease is gone; register again")
            else:
                lease_id = self._leases.pop(ident, None)
                if lease_id is not None:
                    client.revoke(lease_id)
        finally:
            client.close()
