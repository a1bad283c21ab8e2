"""The admin listener: HTTP/1.1 (h11) on trio, optionally TLS with client certificates.

Theory of operation
-------------------
Each connection reads one request at a time, whole (bodies are capped at
:data:`~gwtransports.admin.handlers.MAX_BODY`, 413 beyond), and hands it to the
pure :func:`~gwtransports.admin.handlers.handle`. Writes are serialised by one
lock and go through three steps, in this order, before the client hears "ok":

1. ``target.apply(change)`` -- the gateway validates and applies it (the same
   path a SIGHUP reload takes); a :class:`~gwcore.errors.ConfigError` means 400
   and nothing changed;
2. ``store.persist(before, after, change, changed)`` -- the state file or etcd
   keeps it (an instance's etcd lease is granted or renewed); when that
   fails the gateway is put back on the previous config and the client gets 503;
3. the answer.

So an acknowledged write is durable, and a refused one left no trace.
"""

from __future__ import annotations

import ipaddress
import logging
import ssl
import time
from collections.abc import Callable
from typing import Protocol

import h11
import trio

from gwcore.config import Admin, Config
from gwcore.errors import ConfigError, FieldError
from gwcore.events import (
    Applied,
    Change,
    ConfigReplaced,
    InstanceDeregistered,
    InstanceHeartbeat,
    InstanceRegistered,
)
from gwtransports import __version__
from gwtransports.admin import handlers
from gwtransports.admin.handlers import AdminContext, AdminRequest, GatewayView, Response
from gwtransports.admin.store import Store, StoreFailed

__all__ = [
    "AdminTarget",
    "GatewayTarget",
    "check_admin_security",
    "handle_connection",
    "run_admin",
    "ssl_context",
]

log = logging.getLogger("gw.admin")

#: How long a client may take to send one whole request (head and body); the
#: admin API is for scripts on a near network, not for slow uploads.
REQUEST_TIMEOUT = 30.0


class AdminTarget(Protocol):
    """The running gateway as the admin API sees it.

    ``gateway`` is read for answers; ``apply`` is the one way to change it, shared
    with reloads so that both go through the same validation and bookkeeping.
    """

    @property
    def gateway(self) -> GatewayView: ...

    def apply(self, change: Change) -> Applied:
        """Apply a change now. Raises ConfigError and changes nothing when invalid."""
        ...

    def now(self) -> float:
        """Monotonic time for stats."""
        ...


class _Applies(GatewayView, Protocol):
    def apply(self, change: Change, now: float) -> Applied: ...


class GatewayTarget:
    """An :class:`AdminTarget` over one gateway object and a clock.

    Args:
        gateway: A :class:`gwcore.gateway.Gateway` (anything with its ``apply``,
            ``config``, ``generation``, ``stats`` and ``explain``).
        clock: Monotonic clock; ``trio.current_time`` inside ``gw serve``.
    """

    def __init__(self, gateway: _Applies, clock: Callable[[], float] = time.monotonic) -> None:
        self._gateway = gateway
        self._clock = clock

    @property
    def gateway(self) -> GatewayView:
        return self._gateway

    def apply(self, change: Change) -> Applied:
        return self._gateway.apply(change, self._clock())

    def now(self) -> float:
        return self._clock()


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def check_admin_security(config: Config) -> None:
    """Refuse an admin listener anyone on the network could use.

    Raises:
        ConfigError: ``admin.listen`` is not loopback and neither ``admin.token``
            nor ``admin.tls.client_ca`` is set; or it shares a proxy listener's port.
    """
    admin = config.admin
    errors: list[FieldError] = []
    has_ca = admin.tls is not None and admin.tls.client_ca is not None
    if not _is_loopback(admin.listen.host) and not admin.token and not has_ca:
        errors.append(
            FieldError(
                "admin.listen",
                f"{admin.listen.host} is not loopback: set admin.token or admin.tls.client_ca",
            )
        )
    for listener in config.listen:
        if admin.listen.port != 0 and listener.port == admin.listen.port:
            errors.append(FieldError("admin.listen", "must not be a proxy listener's port"))
            break
    if errors:
        raise ConfigError(errors)


def ssl_context(admin: Admin) -> ssl.SSLContext | None:
    """The server TLS context of the admin listener, requiring client certificates
    signed by ``admin.tls.client_ca`` when it is set."""
    if admin.tls is None:
        return None
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(admin.tls.cert, admin.tls.key)
    if admin.tls.client_ca is not None:
        context.verify_mode = ssl.CERT_REQUIRED
        context.load_verify_locations(admin.tls.client_ca)
    return context


def _send_bytes(conn: h11.Connection, response: Response, keep_alive: bool) -> bytes:
    headers = [
        ("content-type", response.content_type),
        ("content-length", str(len(response.body))),
        ("server", f"gw-admin/{__version__}"),
        *response.headers,
    ]
    if not keep_alive:
        headers.append(("connection", "close"))
    data = conn.send(h11.Response(status_code=response.status, headers=headers)) or b""
    data += conn.send(h11.Data(data=response.body)) or b""
    return data + (conn.send(h11.EndOfMessage()) or b"")


async def _read_request(
    stream: trio.abc.Stream, conn: h11.Connection
) -> AdminRequest | Response | None:
    """Read one whole request; a :class:`Response` when it must be refused; ``None``
    when the client closed the connection between requests."""
    head: h11.Request | None = None
    body = bytearray()
    while True:
        event = conn.next_event()
        if event is h11.NEED_DATA:
            data = await stream.receive_some(65536)
            conn.receive_data(bytes(data))
            if not data and head is None and conn.their_state is h11.IDLE:
                return None
            continue
        if isinstance(event, h11.ConnectionClosed):
            return None
        if isinstance(event, h11.Request):
            head = event
            length = dict(event.headers).get(b"content-length")
            if length is not None and length.isdigit() and int(length) > handlers.MAX_BODY:
                return handlers.error_response(413, "body_too_large", "admin bodies are 1 MiB max")
        elif isinstance(event, h11.Data):
            body += event.data
            if len(body) > handlers.MAX_BODY:
                return handlers.error_response(413, "body_too_large", "admin bodies are 1 MiB max")
        elif isinstance(event, h11.EndOfMessage):
            assert head is not None
            return AdminRequest(
                method=head.method.decode("ascii", "replace"),
                target=head.target.decode("ascii", "replace"),
                headers=tuple(
                    (k.decode("latin-1").lower(), v.decode("latin-1")) for k, v in head.headers
                ),
                body=bytes(body),
            )


async def _answer(
    request: AdminRequest, target: AdminTarget, store: Store, context: AdminContext, lock: trio.Lock
) -> Response:
    context = AdminContext(token=context.token, version=context.version, store=store.status())
    if request.method in ("GET", "HEAD"):
        result = handlers.handle(request, target.gateway, context, target.now())
        assert isinstance(result, Response)
        return result
    async with lock:
        # Validated under the lock, so the write is checked against the config it
        # will actually change.
        result = handlers.handle(request, target.gateway, context, target.now())
        if isinstance(result, Response):
            return result
        before = target.gateway.config
        try:
            applied = target.apply(result.change)
        except ConfigError as exc:
            return handlers.refused_response(result, exc)
        try:
            await store.persist(before, target.gateway.config, result.change, applied.changed)
        except StoreFailed as exc:
            log.error("admin write not persisted, rolled back: %s", exc)
            _roll_back(target, before, result.change, applied)
            return handlers.error_response(503, "store_unavailable", str(exc))
        return handlers.write_response(result, applied)


def _roll_back(target: AdminTarget, before: Config, change: Change, applied: Applied) -> None:
    """Undo an applied change that the store did not keep."""
    if not applied.changed:
        return
    if isinstance(change, InstanceRegistered):
        target.apply(InstanceDeregistered(service=change.service, instance=change.instance))
    elif not isinstance(change, InstanceHeartbeat | InstanceDeregistered):
        target.apply(ConfigReplaced(config=before))


async def handle_connection(
    stream: trio.abc.Stream,
    target: AdminTarget,
    store: Store,
    context: AdminContext,
    lock: trio.Lock,
) -> None:
    """Serve admin requests on one connection until it closes."""
    conn = h11.Connection(h11.SERVER)
    try:
        while True:
            with trio.move_on_after(REQUEST_TIMEOUT) as scope:
                try:
                    request = await _read_request(stream, conn)
                except h11.RemoteProtocolError as exc:
                    request = handlers.error_response(
                        exc.error_status_hint, "bad_request", str(exc)
                    )
            if scope.cancelled_caught or request is None:
                return
            if isinstance(request, Response):
                # Refused before it was read whole (413, malformed): answer, close.
                if conn.our_state in (h11.IDLE, h11.SEND_RESPONSE):
                    await stream.send_all(_send_bytes(conn, request, keep_alive=False))
                return
            response = await _answer(request, target, store, context, lock)
            if request.method == "HEAD":
                response = Response(status=response.status, body=b"", headers=response.headers)
            await stream.send_all(_send_bytes(conn, response, conn.our_state is h11.SEND_RESPONSE))
            if conn.our_state is h11.MUST_CLOSE or conn.their_state is h11.MUST_CLOSE:
                return
            conn.start_next_cycle()
    except (trio.BrokenResourceError, trio.ClosedResourceError, h11.LocalProtocolError):
        return
    finally:
        with trio.move_on_after(1) as cleanup:
            cleanup.shield = True
            await stream.aclose()


async def run_admin(
    config: Config,
    target: AdminTarget,
    store: Store,
    *,
    task_status: trio.TaskStatus[list[trio.SocketListener]] = trio.TASK_STATUS_IGNORED,
) -> None:
    """Serve the admin API on ``config.admin.listen`` until cancelled.

    Use as ``listeners = await nursery.start(run_admin, config, target, store)``;
    ``task_status.started`` receives the bound listeners (their port when
    ``admin.listen`` asks for port 0).

    Raises:
        ConfigError: The listener would be unprotected (see :func:`check_admin_security`).
        OSError: The address cannot be bound.
    """
    check_admin_security(config)
    admin = config.admin
    context = AdminContext(token=admin.token, version=__version__, store=store.status())
    lock = trio.Lock()
    listeners = await trio.open_tcp_listeners(admin.listen.port, host=admin.listen.host)
    tls = ssl_context(admin)

    async def serve_one(stream: trio.abc.Stream) -> None:
        if tls is not None:
            stream = trio.SSLStream(stream, tls, server_side=True)
            try:
                with trio.fail_after(REQUEST_TIMEOUT):
                    await stream.do_handshake()
            except (trio.BrokenResourceError, trio.TooSlowError):
                # No or untrusted client certificate: the handshake says why.
                await trio.aclose_forcefully(stream)
                return
        await handle_connection(stream, target, store, context, lock)

    log.info("admin API on %s:%s", admin.listen.host, listeners[0].socket.getsockname()[1])
    async with trio.open_nursery() as nursery:
        task_status.started(listeners)
        for listener in listeners:
            nursery.start_soon(trio.serve_listeners, serve_one, [listener])
