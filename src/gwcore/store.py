"""What etcd keys and values mean to the gateway, and how to write them.

Theory of operation
-------------------
The etcd transport moves raw key/value pairs; this module decides what they are.
Two kinds of key exist:

* *Plain watched keys*, referenced by ``etcd(key, default_url)`` endpoints. The
  key is used literally (never under the prefix) and its value is a URL as plain
  text, as in WSO2 API Microgateway. They become :class:`EtcdKeySet` /
  :class:`EtcdKeyDeleted`; whether the value is a usable URL is the gateway's
  decision (it keeps the previous value and warns otherwise).
* *The gateway's own layout* under a prefix (``/gw/`` by default)::

      <prefix>routes/<name>               JSON of one ``routes`` entry
      <prefix>services/<name>             JSON of one ``services`` entry
      <prefix>instances/<service>/<id>    {"url": ..., "weight": n}, on an etcd lease

  They become route/service upserts and deletions, and instance registrations
  whose expiry is the lease's business (``ttl=None``).

A value that cannot be understood raises :class:`ConfigError` whose field paths
name the etcd key, so the transport logs it and the running state is untouched.

A (re-)list is turned into changes by :func:`diff` against what was known, in an
order the gateway can apply one by one: services before the routes that use them
on the way in, routes before their services on the way out.

The transport caches the last state on disk as a snapshot (:func:`snapshot_to_dict`
/ :func:`snapshot_from_dict`) to start from when etcd is down, and spaces its
reconnection attempts with :class:`Backoff` (capped exponential, jittered with an
injected ``random.Random`` so replicas do not reconnect in lock-step).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from urllib.parse import urlsplit

from gwcore import config as _config
from gwcore._backoff import Backoff
from gwcore.errors import ConfigError, FieldError
from gwcore.events import (
    Change,
    EtcdKeyDeleted,
    EtcdKeySet,
    InstanceDeregistered,
    InstanceRegistered,
    RouteDeleted,
    RouteUpserted,
    ServiceDeleted,
    ServiceUpserted,
)

__all__ = [
    "SNAPSHOT_FORMAT",
    "Backoff",
    "decode",
    "diff",
    "encode_instance",
    "encode_route",
    "encode_service",
    "instance_key",
    "key_of",
    "route_key",
    "service_key",
    "snapshot_from_dict",
    "snapshot_to_dict",
]

#: Version tag of the on-disk snapshot; a file with another tag is refused
#: rather than guessed at.
SNAPSHOT_FORMAT = "gw-etcd-snapshot/1"

_ROUTES = "routes/"
_SERVICES = "services/"
_INSTANCES = "instances/"
_INSTANCE_FIELDS = frozenset({"url", "weight"})

# Apply order of a batch (see the module docstring). Upserts: services first so a
# route never names a service that is not there yet; instances need their service.
# Deletions: the reverse.
_UPSERT_ORDER = {_SERVICES: 0, _INSTANCES: 1, _ROUTES: 2, "": 3}
_DELETE_ORDER = {_ROUTES: 0, _INSTANCES: 1, _SERVICES: 2, "": 3}


# --------------------------------------------------------------------------- keys


def _check_prefix(prefix: str) -> None:
    if not (prefix.startswith("/") and prefix.endswith("/")):
        raise ValueError(f"prefix must start and end with '/', got {prefix!r}")


def _check_segment(kind: str, name: str) -> None:
    if not name or "/" in name:
        raise ValueError(f"{kind} must be non-empty and without '/', got {name!r}")


def route_key(prefix: str, name: str) -> str:
    """Return the etcd key of a route (``<prefix>routes/<name>``).

    Raises:
        ValueError: When the prefix or the name is malformed.
    """
    _check_prefix(prefix)
    _check_segment("route name", name)
    return f"{prefix}{_ROUTES}{name}"


def service_key(prefix: str, name: str) -> str:
    """Return the etcd key of a service (``<prefix>services/<name>``).

    Raises:
        ValueError: When the prefix or the name is malformed.
    """
    _check_prefix(prefix)
    _check_segment("service name", name)
    return f"{prefix}{_SERVICES}{name}"


def instance_key(prefix: str, service: str, instance: str) -> str:
    """Return the etcd key of an instance (``<prefix>instances/<service>/<instance>``).

    Raises:
        ValueError: When the prefix, service or instance id is malformed.
    """
    _check_prefix(prefix)
    _check_segment("service name", service)
    _check_segment("instance id", instance)
    return f"{prefix}{_INSTANCES}{service}/{instance}"


def key_of(change: Change, prefix: str) -> str | None:
    """Return the etcd key a change came from, for log lines.

    Args:
        change: A change produced by :func:`decode`.
        prefix: The gateway's key prefix.

    Returns:
        The key, or ``None`` for changes that do not stem from one key.
    """
    match change:
        case EtcdKeySet() | EtcdKeyDeleted():
            return change.key
        case RouteUpserted():
            return route_key(prefix, change.route.name)
        case RouteDeleted():
            return route_key(prefix, change.name)
        case ServiceUpserted() | ServiceDeleted():
            return service_key(prefix, change.name)
        case InstanceRegistered() | InstanceDeregistered():
            return instance_key(prefix, change.service, change.instance)
        case _:
            return None


def _kind(key: str, prefix: str) -> str:
    """Layout subtree of ``key`` (``routes/``, ...) or ``""`` for any other key."""
    if key.startswith(prefix):
        rest = key[len(prefix) :]
        for kind in (_ROUTES, _SERVICES, _INSTANCES):
            if rest.startswith(kind):
                return kind
    return ""


# --------------------------------------------------------------------------- decoding


def _error(key: str, message: str) -> ConfigError:
    return ConfigError([FieldError(key, message)])


def _json_object(key: str, value: bytes) -> dict[str, object]:
    try:
        data: object = json.loads(value.decode("utf-8"))
    except (UnicodeDecodeError, ValueError) as exc:
        raise _error(key, f"not valid JSON: {exc}") from None
    if not isinstance(data, dict):
        raise _error(key, f"must hold a JSON object, got {type(data).__name__}")
    return {str(k): v for k, v in data.items()}


def _renamed(key: str, exc: ConfigError) -> ConfigError:
    # The schema validator names fields like ``routes.x.prefix``; an operator
    # reading the log needs the etcd key the bad value sits under as well.
    return ConfigError([FieldError(key, str(e)) for e in exc.errors])


def _decode_instance(key: str, service: str, instance: str, value: bytes) -> InstanceRegistered:
    data = _json_object(key, value)
    unknown = sorted(set(data) - _INSTANCE_FIELDS)
    if unknown:
        raise _error(key, f"unknown field(s) {', '.join(unknown)}; expected url and weight")
    url = data.get("url")
    if not isinstance(url, str):
        raise _error(key, "url: required, a string")
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise _error(key, f"url: must be http(s)://host[:port], got {url!r}")
    try:
        _ = parts.port
    except ValueError:
        raise _error(key, f"url: bad port in {url!r}") from None
    weight = data.get("weight", 1)
    if isinstance(weight, bool) or not isinstance(weight, int) or weight < 0:
        raise _error(key, f"weight: must be an integer >= 0, got {weight!r}")
    return InstanceRegistered(service=service, instance=instance, url=url, weight=weight)


def decode(key: str, value: bytes | None, *, prefix: str, watched: frozenset[str]) -> Change:
    """Say what one etcd key and its value mean.

    Args:
        key: The etcd key (UTF-8 decoded).
        value: Its value, or ``None`` when the key is deleted or absent.
        prefix: The gateway's key prefix (``/gw/``).
        watched: Plain keys referenced by ``etcd(key, default)`` endpoints; such a
            key means its literal value even when it sits under the prefix.

    Returns:
        The change to apply to the gateway.

    Raises:
        ConfigError: The value is garbage, or the key is neither watched nor part
            of the layout; the field path is the key.
    """
    if key in watched:
        if value is None:
            return EtcdKeyDeleted(key=key)
        try:
            text = value.decode("utf-8")
        except UnicodeDecodeError:
            raise _error(key, "value is not UTF-8 text") from None
        # ``echo URL | etcdctl put key`` leaves a newline; a URL never ends in one.
        return EtcdKeySet(key=key, value=text.strip())
    kind = _kind(key, prefix)
    rest = key[len(prefix) + len(kind) :]
    if kind == _INSTANCES:
        service, _, instance = rest.partition("/")
        if not service or not instance or "/" in instance:
            raise _error(key, "instance keys are <prefix>instances/<service>/<id>")
        if value is None:
            return InstanceDeregistered(service=service, instance=instance)
        return _decode_instance(key, service, instance, value)
    if kind in (_ROUTES, _SERVICES):
        if not rest or "/" in rest:
            what = "route" if kind == _ROUTES else "service"
            raise _error(key, f"{what} keys are <prefix>{kind}<name>")
        if kind == _ROUTES:
            if value is None:
                return RouteDeleted(name=rest)
            try:
                return RouteUpserted(route=_config.parse_route(rest, _json_object(key, value)))
            except ConfigError as exc:
                raise _renamed(key, exc) from None
        if value is None:
            return ServiceDeleted(name=rest)
        try:
            service_ = _config.parse_service(rest, _json_object(key, value))
        except ConfigError as exc:
            raise _renamed(key, exc) from None
        return ServiceUpserted(name=rest, service=service_)
    raise _error(key, f"not a watched key and not under {prefix}routes|services|instances/")


# --------------------------------------------------------------------------- encoding


def _dumps(data: object) -> bytes:
    return json.dumps(data, sort_keys=True, separators=(",", ":")).encode("utf-8")


def encode_route(prefix: str, route: _config.Route) -> tuple[str, bytes]:
    """Return the key and value that :func:`decode` reads back as ``route``.

    Raises:
        ValueError: When the prefix or the route's name is malformed.
    """
    return route_key(prefix, route.name), _dumps(_config.route_to_dict(route))


def encode_service(prefix: str, name: str, service: _config.Service) -> tuple[str, bytes]:
    """Return the key and value that :func:`decode` reads back as ``service``.

    Raises:
        ValueError: When the prefix or the name is malformed.
    """
    return service_key(prefix, name), _dumps(_config.service_to_dict(service))


def encode_instance(
    prefix: str, service: str, instance: str, *, url: str, weight: int = 1
) -> tuple[str, bytes]:
    """Return the key and value of a registered instance.

    Raises:
        ValueError: When a key part is malformed or the weight is negative.
    """
    if weight < 0:
        raise ValueError("weight must be >= 0")
    return instance_key(prefix, service, instance), _dumps({"url": url, "weight": weight})


# --------------------------------------------------------------------------- listing


def diff(
    old: Mapping[str, bytes], new: Mapping[str, bytes], *, prefix: str
) -> tuple[tuple[str, bytes | None], ...]:
    """Changes that turn the state ``old`` into ``new``, in a safe apply order.

    Args:
        old: Key/values known so far (the last list plus every watch event).
        new: Key/values of a fresh list.
        prefix: The gateway's key prefix, to order the layout's subtrees.

    Returns:
        ``(key, value)`` pairs, ``value`` ``None`` for a deletion: upserts
        (services, instances, routes, plain keys), then deletions (routes,
        instances, services, plain keys); keys sorted within a group. Unchanged
        keys are left out.
    """
    upserts = [k for k, v in new.items() if old.get(k) != v]
    deletes = [k for k in old if k not in new]
    upserts.sort(key=lambda k: (_UPSERT_ORDER[_kind(k, prefix)], k))
    deletes.sort(key=lambda k: (_DELETE_ORDER[_kind(k, prefix)], k))
    return tuple((k, new[k]) for k in upserts) + tuple((k, None) for k in deletes)


# --------------------------------------------------------------------------- snapshot


def _text(raw: bytes) -> str:
    # surrogateescape keeps non-UTF-8 bytes (garbage a user wrote) round-trippable
    # through JSON, which escapes the surrogates as \udcXX.
    return raw.decode("utf-8", "surrogateescape")


def snapshot_to_dict(kvs: Mapping[str, bytes], revision: int) -> dict[str, object]:
    """Plain, JSON-able form of the store's last known state.

    Args:
        kvs: Every known key and its raw value.
        revision: The etcd revision the state reflects.

    Returns:
        ``{"format": SNAPSHOT_FORMAT, "revision": n, "kvs": {key: value}}``.

    Raises:
        ValueError: When ``revision`` is negative.
    """
    if revision < 0:
        raise ValueError("revision must be >= 0")
    return {
        "format": SNAPSHOT_FORMAT,
        "revision": revision,
        "kvs": {k: _text(v) for k, v in sorted(kvs.items())},
    }


def snapshot_from_dict(data: object) -> tuple[dict[str, bytes], int]:
    """Read back what :func:`snapshot_to_dict` made.

    Args:
        data: The parsed JSON.

    Returns:
        ``(kvs, revision)``.

    Raises:
        ConfigError: When ``data`` is not such a snapshot.
    """
    if not isinstance(data, dict):
        raise ConfigError("snapshot: must be a JSON object")
    if data.get("format") != SNAPSHOT_FORMAT:
        raise ConfigError([FieldError("format", f"expected {SNAPSHOT_FORMAT!r}")])
    revision = data.get("revision")
    if isinstance(revision, bool) or not isinstance(revision, int) or revision < 0:
        raise ConfigError([FieldError("revision", "must be an integer >= 0")])
    kvs = data.get("kvs")
    if not isinstance(kvs, dict):
        raise ConfigError([FieldError("kvs", "must be an object of strings")])
    out: dict[str, bytes] = {}
    for key, value in kvs.items():
        if not isinstance(key, str) or not isinstance(value, str):
            raise ConfigError([FieldError(f"kvs.{key}", "must be a string")])
        out[key] = value.encode("utf-8", "surrogateescape")
    return out, revision
