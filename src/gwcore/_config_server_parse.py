"""Reading the server part of a config: listeners, admin, limits, timeouts, etcd.

The first pass of :mod:`gwcore._config_parse` calls these for the top-level
sections that configure the server rather than routing; like every reader there,
each records its problems with their field paths and returns a stand-in built
from defaults, so that reading always reaches the end of the config.
"""

from __future__ import annotations

from gwcore._config_fields import (
    Errors,
    Section,
    as_list,
    duration,
    index,
    integer,
    optional,
    size,
    string,
)
from gwcore._config_server import Admin, Etcd, Limits, Listener, ServerTimeouts, Tls
from gwcore._config_syntax import check_http_url, parse_address
from gwcore.errors import FieldError

__all__ = ["ETCD_KEYS", "read_admin", "read_etcd", "read_limits", "read_listeners", "read_timeouts"]

_TLS_KEYS = ("cert", "key", "client_ca")
#: The keys of the ``etcd:`` section.
ETCD_KEYS = ("endpoints", "prefix", "resync", "user", "password", "ca", "cert", "key")


def read_listeners(top: Section) -> tuple[Listener, ...]:
    raw = top.raw("listen")
    if isinstance(raw, str):
        return (_listener(raw, top.at("listen"), top.errors),)
    items: list[object] = top.get("listen", [], as_list)
    if raw == []:
        top.error("listen", "needs at least one address, like 127.0.0.1:8080")
    return tuple(
        _listener(item, index(top.at("listen"), i), top.errors) for i, item in enumerate(items)
    )


def _listener(value: object, path: str, errors: Errors) -> Listener:
    if isinstance(value, str):
        # The short form: the problem belongs to the list item itself.
        try:
            host, port = _address(value)
        except ValueError as exc:
            errors.append(FieldError(path, str(exc)))
            return Listener(host="127.0.0.1", port=8080)
        return Listener(host=host, port=port)
    section = Section(value, path, errors, ("address", "tls"), required=("address",))
    host, port = section.get("address", ("127.0.0.1", 8080), _address)
    return Listener(host=host, port=port, tls=_tls(section, "tls"))


def _address(value: object) -> tuple[str, int]:
    return parse_address(string()(value))


def _tls(parent: Section, key: str) -> Tls | None:
    if parent.raw(key) is None:
        return None
    section = Section(
        parent.raw(key), parent.at(key), parent.errors, _TLS_KEYS, required=("cert", "key")
    )
    return Tls(
        cert=section.get("cert", "", string()),
        key=section.get("key", "", string()),
        client_ca=section.get("client_ca", None, optional(string())),
    )


def read_admin(section: Section) -> Admin:
    default = Admin().listen
    host, port = section.get("listen", (default.host, default.port), _address)
    return Admin(
        listen=Listener(host=host, port=port),
        token=section.get("token", None, optional(string())),
        tls=_tls(section, "tls"),
    )


def read_limits(section: Section) -> Limits:
    default = Limits()
    return Limits(
        max_request_line=section.get("max_request_line", default.max_request_line, size(low=1)),
        max_header_bytes=section.get("max_header_bytes", default.max_header_bytes, size(low=1)),
        max_body=section.get("max_body", default.max_body, _optional_size),
        max_connections=section.get("max_connections", default.max_connections, integer(1, 10**6)),
    )


def _optional_size(value: object) -> int | None:
    return None if value in (None, "unlimited") else size()(value)


def read_timeouts(section: Section) -> ServerTimeouts:
    default = ServerTimeouts()
    positive = duration()
    return ServerTimeouts(
        header_read=section.get("header_read", default.header_read, positive),
        idle=section.get("idle", default.idle, positive),
        connect=section.get("connect", default.connect, positive),
        response=section.get("response", default.response, positive),
        grace=section.get("grace", default.grace, duration(zero=True)),
    )


def read_etcd(section: Section) -> Etcd:
    default = Etcd()
    if section.ok and not section.has("endpoints"):
        section.error("endpoints", "is required, like [http://127.0.0.1:2379]")
    etcd = Etcd(
        endpoints=_etcd_endpoints(section),
        prefix=section.get("prefix", default.prefix, _etcd_prefix),
        resync=section.get("resync", default.resync, duration()),
        user=section.get("user", None, optional(string())),
        password=section.get("password", None, optional(string())),
        ca=section.get("ca", None, optional(string())),
        cert=section.get("cert", None, optional(string())),
        key=section.get("key", None, optional(string())),
    )
    if (etcd.cert is None) != (etcd.key is None):
        section.error("cert" if etcd.cert is None else "key", "cert and key go together")
    if etcd.password is not None and etcd.user is None:
        section.error("user", "is required with a password")
    return etcd


def _etcd_endpoints(section: Section) -> tuple[str, ...]:
    raw = section.raw("endpoints")
    if isinstance(raw, str):
        # The comma-separated form of etcdctl's --endpoints.
        return section.get("endpoints", (), lambda _: tuple(map(_etcd_url, raw.split(","))))
    if raw == []:
        section.error("endpoints", "needs at least one URL, like http://127.0.0.1:2379")
    return tuple(section.each("endpoints", _etcd_url))


def _etcd_url(value: object) -> str:
    return check_http_url(string()(value).strip(), path=False)


def _etcd_prefix(value: object) -> str:
    prefix = string()(value)
    if not (prefix.startswith("/") and prefix.endswith("/")):
        raise ValueError("must start and end with '/', like /gw/")
    return prefix
