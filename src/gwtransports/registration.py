"""Self-registration: a service puts itself behind the gateway while it runs.

::

    with register("http://127.0.0.1:8081", service="hello", paths=["/hello"],
                  url="http://10.0.0.5:5000", weight=10, ttl=10):
        serve_forever()

    async with aregister(...):          # trio or asyncio (anyio underneath)
        await serve_forever()

On entry the route(s) for ``paths`` are upserted (named from host + prefix, so
every instance of a service upserts the same routes), the service is created
when it does not exist yet, and the instance is registered with its ``ttl``.
Entry raises :class:`RegistrationError` at once when any of it fails: a service
that cannot be reached should not start serving. While the block runs, a
background heartbeat (a thread for ``register``, a task for ``aregister``) renews
the instance every ``ttl / 3`` seconds; when the gateway answers 404 (it was
restarted and forgot the instance) the instance is registered again. On exit the
instance is deregistered; the routes stay, since other instances may serve them.
If the process dies instead, the gateway drops the instance when ``ttl`` passes.

In distributed mode a service can skip the admin API: :func:`register_etcd`
writes the routes, the service and the instance (on an etcd lease) straight into
etcd, where every gateway replica watches them.
"""

from __future__ import annotations

import logging
import ssl
import threading
from collections.abc import AsyncIterator, Iterator, Sequence
from contextlib import asynccontextmanager, contextmanager
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote

import anyio
import httpx

__all__ = [
    "Registration",
    "RegistrationError",
    "aregister",
    "register",
    "register_etcd",  # noqa: F822  (imported on first use, see __getattr__)
    "tls_context",
]

log = logging.getLogger("gw.registration")


class RegistrationError(Exception):
    """The gateway refused or could not be reached for a registration."""


@dataclass(slots=True, kw_only=True)
class Registration:
    """A live registration.

    Attributes:
        service: Service name.
        url: The instance's URL.
        instance_id: Id the gateway gave the instance.
        routes: Names of the routes upserted for ``paths``.
        heartbeats: Heartbeats sent so far (renewals and re-registrations).
    """

    service: str
    url: str
    instance_id: str = ""
    routes: list[str] = field(default_factory=list)
    heartbeats: int = 0


def _check(response: httpx.Response, what: str) -> dict[str, Any]:
    if response.status_code >= 400:
        try:
            data = response.json()
            errors = "; ".join(f"{e['path']}: {e['message']}" for e in data.get("errors", []))
            detail = f"{data.get('error')}: {data.get('detail')}" + (
                f" ({errors})" if errors else ""
            )
        except (ValueError, KeyError, TypeError, AttributeError):
            detail = response.text[:200]
        raise RegistrationError(f"{what}: {response.status_code} {detail}")
    result: dict[str, Any] = response.json()
    return result


def tls_context(
    verify: bool | str = True, cert: str | tuple[str, str] | None = None
) -> ssl.SSLContext | bool:
    """What httpx's ``verify`` should be for an admin API behind (mutual) TLS.

    Args:
        verify: ``True`` (system CAs), ``False`` (no check) or a CA file.
        cert: Client certificate file (key included), or ``(cert, key)``.

    Returns:
        An SSL context, or ``verify`` itself when no file is involved.
    """
    if cert is None and not isinstance(verify, str):
        return verify
    if isinstance(verify, str):
        context = ssl.create_default_context(cafile=verify)
    else:
        context = ssl.create_default_context()
        if not verify:
            context.check_hostname = False
            context.verify_mode = ssl.CERT_NONE
    if cert is not None:
        cert_file, key_file = cert if isinstance(cert, tuple) else (cert, None)
        context.load_cert_chain(cert_file, key_file)
    return context


def _client_options(
    admin_url: str,
    token: str | None,
    cert: str | tuple[str, str] | None,
    verify: bool | str,
    timeout: float,
) -> dict[str, Any]:
    headers = {"authorization": f"Bearer {token}"} if token else {}
    return {
        "base_url": admin_url.rstrip("/"),
        "headers": headers,
        "verify": tls_context(verify, cert),
        "timeout": timeout,
        "trust_env": False,
    }


@dataclass(frozen=True, slots=True, kw_only=True)
class _Plan:
    """The requests a registration makes, shared by the sync and async clients."""

    service: str
    url: str
    paths: tuple[str, ...]
    host: str | None
    weight: int
    ttl: float

    @property
    def service_path(self) -> str:
        return f"/services/{quote(self.service, safe='')}"

    def route_body(self, path: str) -> dict[str, Any]:
        body: dict[str, Any] = {"prefix": path, "service": self.service}
        if self.host:
            body["host"] = self.host
        return body

    def instance_body(self) -> dict[str, Any]:
        return {"url": self.url, "weight": self.weight, "ttl": self.ttl}

    def instance_path(self, ident: str) -> str:
        return f"{self.service_path}/instances/{quote(ident, safe='')}"


def _plan(
    *, service: str, url: str, paths: Sequence[str], host: str | None, weight: int, ttl: float
) -> _Plan:
    if ttl <= 0:
        raise ValueError("ttl must be > 0")
    if isinstance(paths, str):
        raise TypeError("paths must be a list of path prefixes, not one string")
    return _Plan(
        service=service, url=url, paths=tuple(paths), host=host, weight=weight, ttl=float(ttl)
    )


def _sync_register(client: httpx.Client, plan: _Plan, reg: Registration) -> None:
    try:
        found = client.get(plan.service_path)
        if found.status_code == 404:
            _check(client.put(plan.service_path, json={}), f"creating service {plan.service}")
        else:
            _check(found, f"reading service {plan.service}")
        reg.routes = [
            str(_check(client.post("/routes", json=plan.route_body(p)), f"route {p}")["name"])
            for p in plan.paths
        ]
        answer = client.post(f"{plan.service_path}/instances", json=plan.instance_body())
        reg.instance_id = str(_check(answer, f"registering {plan.url}")["id"])
    except httpx.HTTPError as exc:
        raise RegistrationError(f"cannot reach the gateway admin API: {exc}") from exc


def _sync_heartbeat(client: httpx.Client, plan: _Plan, reg: Registration) -> None:
    answer = client.put(plan.instance_path(reg.instance_id))
    if answer.status_code == 404:  # the gateway forgot us (restart): register again
        answer = client.post(f"{plan.service_path}/instances", json=plan.instance_body())
    _check(answer, "heartbeat")
    reg.heartbeats += 1


@contextmanager
def register(
    admin_url: str,
    *,
    service: str,
    url: str,
    paths: Sequence[str] = (),
    host: str | None = None,
    weight: int = 1,
    ttl: float = 10.0,
    token: str | None = None,
    cert: str | tuple[str, str] | None = None,
    verify: bool | str = True,
    timeout: float = 5.0,
) -> Iterator[Registration]:
    """Register an instance for the duration of a ``with`` block (blocking client).

    Args:
        admin_url: The gateway's admin API (``http://127.0.0.1:8081``).
        service: Service name; created (without static endpoints) when missing.
        url: This instance's base URL as the gateway should reach it.
        paths: Path prefixes to route to the service (upserted, never deleted).
        host: Host the routes match, or ``None`` for any.
        weight: The instance's share; 0 registers it draining.
        ttl: Seconds without heartbeat before the gateway drops the instance.
        token: Admin bearer token.
        cert: Client certificate file, or ``(cert, key)``, for mutual TLS.
        verify: ``True``, ``False`` or a CA file to check the admin certificate.
        timeout: Seconds per admin request.

    Yields:
        The live :class:`Registration`.

    Raises:
        RegistrationError: Registration failed (on entry, before the block runs).
    """
    plan = _plan(service=service, url=url, paths=paths, host=host, weight=weight, ttl=ttl)
    reg = Registration(service=service, url=url)
    stop = threading.Event()
    with httpx.Client(**_client_options(admin_url, token, cert, verify, timeout)) as client:
        _sync_register(client, plan, reg)

        def beat() -> None:
            while not stop.wait(plan.ttl / 3):
                try:
                    _sync_heartbeat(client, plan, reg)
                except (httpx.HTTPError, RegistrationError) as exc:
                    log.warning("gw registration heartbeat failed (will retry): %s", exc)

        thread = threading.Thread(target=beat, name=f"gw-heartbeat-{service}", daemon=True)
        thread.start()
        try:
            yield reg
        finally:
            stop.set()
            thread.join()
            try:
                client.delete(plan.instance_path(reg.instance_id))
            except httpx.HTTPError as exc:
                log.warning("gw deregistration failed; ttl will expire it: %s", exc)


async def _async_register(client: httpx.AsyncClient, plan: _Plan, reg: Registration) -> None:
    try:
        found = await client.get(plan.service_path)
        if found.status_code == 404:
            await _acheck(client.put(plan.service_path, json={}), f"service {plan.service}")
        else:
            _check(found, f"reading service {plan.service}")
        for path in plan.paths:
            data = await _acheck(
                client.post("/routes", json=plan.route_body(path)), f"route {path}"
            )
            reg.routes.append(str(data["name"]))
        answer = client.post(f"{plan.service_path}/instances", json=plan.instance_body())
        reg.instance_id = str((await _acheck(answer, f"registering {plan.url}"))["id"])
    except httpx.HTTPError as exc:
        raise RegistrationError(f"cannot reach the gateway admin API: {exc}") from exc


async def _acheck(pending: Any, what: str) -> dict[str, Any]:
    return _check(await pending, what)


async def _async_heartbeat(client: httpx.AsyncClient, plan: _Plan, reg: Registration) -> None:
    answer = await client.put(plan.instance_path(reg.instance_id))
    if answer.status_code == 404:
        answer = await client.post(f"{plan.service_path}/instances", json=plan.instance_body())
    _check(answer, "heartbeat")
    reg.heartbeats += 1


@asynccontextmanager
async def aregister(
    admin_url: str,
    *,
    service: str,
    url: str,
    paths: Sequence[str] = (),
    host: str | None = None,
    weight: int = 1,
    ttl: float = 10.0,
    token: str | None = None,
    cert: str | tuple[str, str] | None = None,
    verify: bool | str = True,
    timeout: float = 5.0,
) -> AsyncIterator[Registration]:
    """Like :func:`register`, for ``async with`` on trio or asyncio.

    The heartbeat runs as a task beside the block; leaving the block cancels it
    and deregisters the instance.
    """
    plan = _plan(service=service, url=url, paths=paths, host=host, weight=weight, ttl=ttl)
    reg = Registration(service=service, url=url)
    async with httpx.AsyncClient(
        **_client_options(admin_url, token, cert, verify, timeout)
    ) as client:
        await _async_register(client, plan, reg)

        async def beat() -> None:
            while True:
                await anyio.sleep(plan.ttl / 3)
                try:
                    await _async_heartbeat(client, plan, reg)
                except (httpx.HTTPError, RegistrationError) as exc:
                    log.warning("gw registration heartbeat failed (will retry): %s", exc)

        try:
            async with anyio.create_task_group() as tasks:
                tasks.start_soon(beat)
                try:
                    yield reg
                finally:
                    tasks.cancel_scope.cancel()
        finally:
            with anyio.CancelScope(shield=True):
                try:
                    await client.delete(plan.instance_path(reg.instance_id))
                except httpx.HTTPError as exc:
                    log.warning("gw deregistration failed; ttl will expire it: %s", exc)


# Distributed mode: registering straight into etcd (imports the etcd client only
# when used).
def __getattr__(name: str) -> Any:
    if name == "register_etcd":
        from gwtransports._registration_etcd import register_etcd  # noqa: PLC0415

        return register_etcd
    raise AttributeError(name)
