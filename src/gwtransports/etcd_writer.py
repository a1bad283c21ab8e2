"""Writing the gateway's state into etcd (distributed mode).

Used by the admin API when the gateway runs with ``--etcd`` (writes go to etcd and
come back to every replica through its watch) and by the registration library to
register an instance straight into etcd.

Values are made by :mod:`gwcore.store`, so whatever is written here reads back as
exactly the route, service or instance it was made from. An instance key is
attached to an etcd lease that a background thread keeps alive; when the process
dies the lease runs out and every replica drops the instance.

Every method blocks; call them from a worker thread in async code.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from typing import TypeVar

from gwcore.config import Route, Service
from gwcore.store import (
    encode_instance,
    encode_route,
    encode_service,
    instance_key,
    route_key,
    service_key,
)
from gwtransports.etcd_client import EtcdClient, EtcdFailure, EtcdSettings

__all__ = ["EtcdWriter", "Registration"]

log = logging.getLogger("gw.etcd")

T = TypeVar("T")


class EtcdWriter:
    """Puts and deletes routes, services and instances under a prefix.

    Args:
        settings: How to reach etcd.
        prefix: The gateway's key prefix.

    Raises:
        EtcdFailure: When the settings are unusable or authentication fails.
    """

    def __init__(self, settings: EtcdSettings, *, prefix: str = "/gw/") -> None:
        self.settings = settings
        self.prefix = prefix
        self._lock = threading.Lock()
        self._client: EtcdClient | None = EtcdClient(settings)

    def _call(self, fn: Callable[[EtcdClient], T]) -> T:
        """Run ``fn``; after a failure retry once on a fresh client.

        A fresh client, because the old one may have marked its node failed and
        would refuse it for minutes even once etcd is back.
        """
        with self._lock:
            client = self._client or EtcdClient(self.settings)
            self._client = client
        try:
            return fn(client)
        except EtcdFailure:
            with self._lock:
                client.close()
                self._client = None
                client = EtcdClient(self.settings)
                self._client = client
            return fn(client)

    def put_route(self, route: Route) -> int:
        """Create or replace a route; returns the etcd revision of the write.

        Raises:
            EtcdFailure: etcd did not take it.
        """
        key, value = encode_route(self.prefix, route)
        return self._call(lambda c: c.put(key, value))

    def delete_route(self, name: str) -> bool:
        """Delete a route; returns whether it existed.

        Raises:
            EtcdFailure: etcd did not take it.
        """
        key = route_key(self.prefix, name)
        return self._call(lambda c: c.delete(key))

    def put_service(self, name: str, service: Service) -> int:
        """Create or replace a service; returns the etcd revision of the write.

        Raises:
            EtcdFailure: etcd did not take it.
        """
        key, value = encode_service(self.prefix, name, service)
        return self._call(lambda c: c.put(key, value))

    def delete_service(self, name: str) -> bool:
        """Delete a service; returns whether it existed.

        Raises:
            EtcdFailure: etcd did not take it.
        """
        key = service_key(self.prefix, name)
        return self._call(lambda c: c.delete(key))

    def put_value(self, key: str, value: str) -> int:
        """Set a plain key (the URL an ``etcd(key, default)`` endpoint follows).

        Raises:
            EtcdFailure: etcd did not take it.
        """
        return self._call(lambda c: c.put(key, value.encode("utf-8")))

    def register(
        self, service: str, instance: str, *, url: str, weight: int = 1, ttl: int = 10
    ) -> Registration:
        """Register an instance on a lease of ``ttl`` seconds and keep it alive.

        Returns:
            The registration; :meth:`Registration.close` deregisters at once.

        Raises:
            EtcdFailure: etcd did not take it.
            ValueError: A malformed name or a ttl below 1.
        """
        if ttl < 1:
            raise ValueError("ttl must be >= 1 second")
        registration = Registration(self, service, instance, url=url, weight=weight, ttl=ttl)
        registration.start()
        return registration

    def close(self) -> None:
        """Close the connection; never raises."""
        with self._lock:
            if self._client is not None:
                self._client.close()
            self._client = None


class Registration:
    """One instance key kept alive on a lease by a daemon thread.

    The thread refreshes the lease every ``ttl / 3`` seconds. If the lease was
    lost (etcd was down longer than the ttl), it grants a new one and writes the
    key again, so the instance comes back as soon as etcd does.
    """

    def __init__(
        self, writer: EtcdWriter, service: str, instance: str, *, url: str, weight: int, ttl: int
    ) -> None:
        self.writer = writer
        self.key, self._value = encode_instance(
            writer.prefix, service, instance, url=url, weight=weight
        )
        instance_key(writer.prefix, service, instance)  # validates the names
        self.ttl = ttl
        self.lease: int | None = None
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._keep_alive, name=f"gw-lease {self.key}")
        self._thread.daemon = True

    def _grant_and_put(self) -> None:
        def do(client: EtcdClient) -> int:
            lease = client.grant(self.ttl)
            client.put(self.key, self._value, lease=lease)
            return lease

        self.lease = self.writer._call(do)

    def start(self) -> None:
        """Write the key on a new lease and start keeping it alive.

        Raises:
            EtcdFailure: etcd did not take it.
        """
        self._grant_and_put()
        self._thread.start()

    def _keep_alive(self) -> None:
        while not self._stop.wait(self.ttl / 3):
            try:
                alive = self.lease is not None and self.writer._call(self._refresh) > 0
                if not alive:
                    log.warning("lease of %s lost; registering again", self.key)
                    self._grant_and_put()
            except EtcdFailure as exc:
                log.warning("cannot refresh lease of %s: %s", self.key, exc.reason)

    def _refresh(self, client: EtcdClient) -> int:
        assert self.lease is not None
        return client.keep_alive(self.lease)

    def close(self) -> None:
        """Stop the heartbeat and revoke the lease (the key goes with it); never raises."""
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout=5)
        lease = self.lease
        if lease is not None:
            try:
                self.writer._call(lambda c: c.revoke(lease))
            except EtcdFailure as exc:
                log.warning("cannot revoke lease of %s (it will expire): %s", self.key, exc.reason)
        self.lease = None

    def __enter__(self) -> Registration:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()
