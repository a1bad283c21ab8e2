"""The server part of the config model: listeners, TLS, admin, limits, timeouts, etcd.

Re-exported by :mod:`gwcore.config`, which is where to import these from; they
live apart so that each module stays a readable size. Plain frozen dataclasses,
built only by :func:`gwcore.config.from_dict` (which checks them) or ``replace``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import final

__all__ = ["DEFAULT_MAX_BODY", "Admin", "Etcd", "Limits", "Listener", "ServerTimeouts", "Tls"]

#: Default request body limit (100 MiB), as nginx's ``client_max_body_size`` is
#: a per-server setting with a default; ``None`` means unlimited.
DEFAULT_MAX_BODY = 100 * 1024 * 1024


@final
@dataclass(frozen=True, slots=True, kw_only=True)
class Tls:
    """Certificate and key files (PEM) for a TLS listener.

    Attributes:
        cert: Certificate chain file.
        key: Private key file.
        client_ca: When set, clients must present a certificate signed by one of
            these CAs (mutual TLS).
    """

    cert: str
    key: str
    client_ca: str | None = None


@final
@dataclass(frozen=True, slots=True, kw_only=True)
class Listener:
    """An address the proxy accepts clients on.

    Attributes:
        host: IP address or name to bind.
        port: TCP port (0 picks a free one).
        tls: Terminate TLS on this listener when set.
    """

    host: str
    port: int
    tls: Tls | None = None


@final
@dataclass(frozen=True, slots=True, kw_only=True)
class Admin:
    """The admin API listener (never the proxy port).

    Attributes:
        listen: Address; loopback by default.
        token: Bearer token required on every call but ``/health`` when set.
        tls: TLS for the admin listener; with ``client_ca`` set, client certificates
            authenticate callers.
    """

    listen: Listener = field(default_factory=lambda: Listener(host="127.0.0.1", port=8081))
    token: str | None = None
    tls: Tls | None = None


@final
@dataclass(frozen=True, slots=True, kw_only=True)
class Limits:
    """Request limits; each breach has its own status (414, 431, 413).

    Attributes:
        max_request_line: Request line bytes (method, target, version) -> 414.
        max_header_bytes: Whole header block bytes -> 431.
        max_body: Request body bytes -> 413; ``None`` is unlimited.
        max_connections: Concurrent client connections per worker; accept waits
            beyond it.
    """

    max_request_line: int = 8 * 1024
    max_header_bytes: int = 64 * 1024
    max_body: int | None = DEFAULT_MAX_BODY
    max_connections: int = 1024


@final
@dataclass(frozen=True, slots=True, kw_only=True)
class ServerTimeouts:
    """Client-side and default upstream timeouts, seconds.

    Attributes:
        header_read: From connection (or end of the previous response) until the
            whole request head arrived -> 408.
        idle: Keep-alive idle time before the gateway closes a client connection.
        connect: Default upstream connect timeout (a service may override).
        response: Default upstream response timeout (a service may override) -> 504.
        grace: How long SIGTERM waits for in-flight requests to finish.
    """

    header_read: float = 10.0
    idle: float = 60.0
    connect: float = 2.0
    response: float = 30.0
    grace: float = 30.0


@final
@dataclass(frozen=True, slots=True, kw_only=True)
class Etcd:
    """Connection to etcd, for ``etcd(key, default)`` endpoints and distributed mode.

    Attributes:
        endpoints: ``http(s)://host:port`` URLs of the etcd cluster.
        prefix: Key prefix of the gateway's own state in distributed mode.
        resync: Seconds between full re-reads of the watched keys (safety net).
        user: User name for etcd auth; the password comes from ``password`` or the
            ``GW_ETCD_PASSWORD`` environment variable (read by the transport).
        password: Password for etcd auth.
        ca: CA file for TLS to etcd.
        cert: Client certificate file for TLS to etcd.
        key: Client key file for TLS to etcd.
    """

    endpoints: tuple[str, ...] = ()
    prefix: str = "/gw/"
    resync: float = 30.0
    user: str | None = None
    password: str | None = None
    ca: str | None = None
    cert: str | None = None
    key: str | None = None
