"""Registering a service instance straight into etcd (distributed mode).

Re-exported as :func:`gwtransports.registration.register_etcd`; kept apart so
that the admin-API client never imports the etcd client.
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Sequence
from contextlib import contextmanager

from gwcore.config import parse_route, parse_service
from gwcore.errors import ConfigError
from gwcore.store import service_key
from gwtransports.admin._types import instance_id, route_name_for
from gwtransports.etcd_client import EtcdClient, EtcdFailure, EtcdSettings
from gwtransports.etcd_writer import EtcdWriter
from gwtransports.registration import Registration, RegistrationError, _plan

__all__ = ["register_etcd"]


@contextmanager
def register_etcd(
    etcd: str | Sequence[str],
    *,
    service: str,
    url: str,
    paths: Sequence[str] = (),
    host: str | None = None,
    weight: int = 1,
    ttl: float = 10.0,
    prefix: str = "/gw/",
    user: str | None = None,
    password: str | None = None,
    ca: str | None = None,
    cert: str | None = None,
    key: str | None = None,
) -> Iterator[Registration]:
    """Register straight into etcd (distributed mode), without the admin API.

    The service entry is created when missing and the ``paths`` routes are
    upserted under ``prefix``; the instance key lives on an etcd lease of ``ttl``
    seconds that a background thread renews, so every gateway replica drops the
    instance when this process dies. On exit the lease is revoked.

    Args:
        etcd: etcd URL(s) (``http://127.0.0.1:2379`` or a list).
        service: Service name.
        url: This instance's URL.
        paths: Path prefixes routed to the service.
        host: Host the routes match, or ``None``.
        weight: The instance's share; 0 drains.
        ttl: Lease seconds (rounded up to whole seconds, as etcd counts them).
        prefix: The gateways' key prefix.
        user: etcd user (auth), with ``password``.
        password: etcd password.
        ca: CA file for TLS to etcd.
        cert: Client certificate file for TLS to etcd.
        key: Client key file.

    Yields:
        The live :class:`Registration`.

    Raises:
        RegistrationError: etcd refused or could not be reached (on entry).
    """
    plan = _plan(service=service, url=url, paths=paths, host=host, weight=weight, ttl=ttl)
    endpoints = (etcd,) if isinstance(etcd, str) else tuple(etcd)
    settings = EtcdSettings(
        endpoints=endpoints, user=user, password=password, ca=ca, cert=cert, key=key
    )
    reg = Registration(service=service, url=url, instance_id=instance_id(service, url))
    try:
        writer = EtcdWriter(settings, prefix=prefix)
    except EtcdFailure as exc:
        raise RegistrationError(f"etcd: {exc.reason}") from exc
    try:
        try:
            reader = EtcdClient(settings)
            try:
                found, _ = reader.read(None, frozenset({service_key(prefix, service)}))
            finally:
                reader.close()
            if not found:
                writer.put_service(service, parse_service(service, {}))
            for path in plan.paths:
                name = route_name_for(host, path)
                writer.put_route(parse_route(name, plan.route_body(path)))
                reg.routes.append(name)
            lease = writer.register(
                service, reg.instance_id, url=url, weight=weight, ttl=max(1, math.ceil(ttl))
            )
        except EtcdFailure as exc:
            raise RegistrationError(f"etcd: {exc.reason}") from exc
        except (ConfigError, ValueError) as exc:
            raise RegistrationError(f"refused: {exc}") from exc
        try:
            yield reg
        finally:
            lease.close()
    finally:
        writer.close()
