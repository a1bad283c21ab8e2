"""Endpoint resolution: from the URLs a config names to addresses to connect to.

Theory of operation
-------------------
A service's endpoints are written in three ways, all turned into :class:`Address`
values whose ``identity`` (the resolved base URL) is the key under which health,
balancer state and counters are kept:

* ``http(s)://host[:port][/base]`` -- a static URL, parsed once.
* ``etcd(key, default_url)`` -- the URL is the value of an etcd key (as in WSO2 API
  Microgateway). The default serves while the key is unknown, deleted, or etcd is
  unreachable; a value that is not a valid URL is ignored (with a warning) and the
  previous value keeps serving.
* Registered instances, added at run time with a weight and an optional ttl; they
  expire when not heart-beaten within the ttl.

Before parsing, ``${stageVariables.NAME}`` references are replaced from the active
stage (API Gateway's syntax); an undefined variable is a config error, found when
the config is applied, never at request time.

:class:`Resolver` holds the run-time inputs (etcd values, instances) and turns a
service into its member list; the gateway caches that list and recomputes it only
when a change arrives, so a request never parses a URL.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import final
from urllib.parse import urlsplit

from gwcore._instances import Instance, InstanceTable
from gwcore.config import Config, Service
from gwcore.errors import ConfigError, FieldError

__all__ = [
    "Address",
    "EtcdSpec",
    "Instance",
    "Member",
    "Resolver",
    "Specs",
    "parse_endpoint",
    "parse_endpoints",
    "parse_url",
    "stage_variables",
    "substitute",
]

_STAGE_VAR = re.compile(r"\$\{stageVariables\.([A-Za-z_][A-Za-z0-9_]*)\}")
_ETCD = re.compile(r"^\s*etcd\(\s*([^,()\s]+)\s*,\s*([^()\s]+)\s*\)\s*$")
# RFC 3986 reg-name/IPv4 characters; IPv6 literals come bracketed and are checked apart.
_HOST = re.compile(r"^[A-Za-z0-9._~!$&'()*+,;=%-]+$")
_DEFAULT_PORTS = {"http": 80, "https": 443}


@final
@dataclass(frozen=True, slots=True)
class Address:
    """A parsed upstream base URL.

    Attributes:
        identity: Canonical base URL (lower-case scheme and host, default port
            omitted, no trailing ``/``): the endpoint's identity everywhere.
        scheme: ``http`` or ``https``.
        host: Host name or IP (IPv6 without brackets).
        port: TCP port (the scheme's default when not written).
        base: Base path without trailing ``/`` (``""`` for none); upstream targets
            are ``base + rewritten path``.
        netloc: ``host[:port]`` as a ``Host`` header would carry it.
    """

    identity: str
    scheme: str
    host: str
    port: int
    base: str
    netloc: str


@final
@dataclass(frozen=True, slots=True)
class EtcdSpec:
    """An ``etcd(key, default_url)`` endpoint: the key and its parsed default."""

    key: str
    default: Address


@final
@dataclass(frozen=True, slots=True)
class Member:
    """One endpoint of a service as the balancer sees it.

    Attributes:
        address: Where it is.
        weight: Its share; 0 drains.
        identity: ``address.identity``, held flat because balancers read it on
            every request.
        alone: ``frozenset({identity})``: the ``tried`` set of a first attempt,
            built once rather than per request.
    """

    address: Address
    weight: int
    identity: str = field(init=False, compare=False, repr=False)
    alone: frozenset[str] = field(init=False, compare=False, repr=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "identity", self.address.identity)
        object.__setattr__(self, "alone", frozenset((self.address.identity,)))


def parse_url(url: str) -> Address:
    """Parse a static ``http(s)://host[:port][/base]`` URL.

    Args:
        url: The URL (after stage variable substitution).

    Returns:
        The address, with its canonical identity.

    Raises:
        ConfigError: When the URL is not an absolute http(s) URL with a host, or
            carries credentials, a query or a fragment.
    """
    try:
        parts = urlsplit(url.strip())
        port = parts.port
    except ValueError as exc:
        raise ConfigError(f"not a valid URL: {url!r} ({exc})") from None
    scheme = parts.scheme.lower()
    if scheme not in _DEFAULT_PORTS:
        raise ConfigError(f"not an http(s) URL: {url!r}")
    host = (parts.hostname or "").lower()
    bracketed = parts.netloc.rpartition("@")[2].startswith("[")
    if not host or not (bracketed or _HOST.match(host)):
        raise ConfigError(f"URL has no valid host: {url!r}")
    if parts.username is not None or parts.query or parts.fragment or "?" in url:
        raise ConfigError(f"URL must not carry credentials, query or fragment: {url!r}")
    if port is None or port == _DEFAULT_PORTS[scheme]:
        hostport = f"[{host}]" if bracketed else host
    else:
        hostport = f"[{host}]:{port}" if bracketed else f"{host}:{port}"
    base = parts.path.rstrip("/")
    if base and not base.startswith("/"):  # pragma: no cover - urlsplit always gives '/...'
        raise ConfigError(f"URL path must be absolute: {url!r}")
    return Address(
        identity=f"{scheme}://{hostport}{base}",
        scheme=scheme,
        host=host,
        port=port if port is not None else _DEFAULT_PORTS[scheme],
        base=base,
        netloc=hostport,
    )


def substitute(url: str, variables: Mapping[str, str]) -> str:
    """Replace every ``${stageVariables.NAME}`` in ``url`` from ``variables``.

    Args:
        url: An endpoint URL as written.
        variables: The active stage's variables (empty when no stage is active).

    Returns:
        The URL with every reference replaced.

    Raises:
        ConfigError: Naming the first undefined variable.
    """
    if "${" not in url:
        return url
    missing = [name for name in _STAGE_VAR.findall(url) if name not in variables]
    if missing:
        raise ConfigError(f"undefined stage variable {missing[0]!r}")
    return _STAGE_VAR.sub(lambda m: variables[m.group(1)], url)


def parse_endpoint(url: str, variables: Mapping[str, str]) -> Address | EtcdSpec:
    """Parse an endpoint URL as written in a config.

    Args:
        url: ``http(s)://...`` or ``etcd(key, default_url)``, possibly with stage
            variable references.
        variables: The active stage's variables.

    Returns:
        An :class:`Address` for a static URL, an :class:`EtcdSpec` for ``etcd(...)``.

    Raises:
        ConfigError: For an undefined stage variable or an invalid URL.
    """
    text = substitute(url, variables)
    match = _ETCD.match(text)
    if match:
        return EtcdSpec(key=match.group(1), default=parse_url(match.group(2)))
    if text.lstrip().startswith("etcd("):
        raise ConfigError(f"expected etcd(key, default_url), got {url!r}")
    return parse_url(text)


def stage_variables(config: Config) -> dict[str, str]:
    """The variables of the config's active stage.

    Args:
        config: A config.

    Returns:
        A fresh dict; empty when no stage is active or the stage is not defined.
    """
    stage = config.stages.get(config.stage) if config.stage is not None else None
    return dict(stage.variables) if stage is not None else {}


#: A service's parsed endpoints: ``(address or etcd spec, weight)`` in config order.
Specs = tuple[tuple[Address | EtcdSpec, int], ...]


def parse_endpoints(name: str, service: Service, variables: Mapping[str, str]) -> Specs:
    """Parse every configured endpoint of a service.

    Args:
        name: The service's name, for error paths.
        service: The service.
        variables: The active stage's variables.

    Returns:
        The parsed endpoints.

    Raises:
        ConfigError: Listing every endpoint that does not parse, with its path.
    """
    out: list[tuple[Address | EtcdSpec, int]] = []
    errors: list[FieldError] = []
    for i, endpoint in enumerate(service.endpoints):
        try:
            out.append((parse_endpoint(endpoint.url, variables), endpoint.weight))
        except ConfigError as exc:
            path = f"services.{name}.endpoints[{i}].url"
            errors.extend(FieldError(path, e.message) for e in exc.errors)
    if errors:
        raise ConfigError(errors)
    return tuple(out)


class Resolver(InstanceTable):
    """The run-time inputs of resolution: etcd values and registered instances.

    Parsing happens when a config is applied (:func:`parse_endpoints`); the
    resolver only chooses between parsed alternatives.
    """

    def __init__(self) -> None:
        #: Last valid value of each etcd key seen (absent: unknown or deleted).
        self.etcd_values: dict[str, Address] = {}
        #: False between ``EtcdUnreachable`` and ``EtcdReachable``.
        self.etcd_reachable = True
        super().__init__()

    def resolve(self, spec: Address | EtcdSpec) -> Address:
        """Resolve one endpoint to the address to use right now.

        Args:
            spec: A parsed endpoint.

        Returns:
            The static address, or the etcd key's value (its default while the key
            is unknown or etcd is unreachable).
        """
        if isinstance(spec, Address):
            return spec
        if not self.etcd_reachable:
            return spec.default
        return self.etcd_values.get(spec.key, spec.default)

    def members(self, name: str, specs: Specs) -> tuple[Member, ...]:
        """The member list of a service: configured endpoints, then instances.

        Endpoints that resolve to the same identity are merged and their weights
        added, so a key whose value equals a static URL does not create two
        balancer entries for one upstream.

        Args:
            name: The service's name (instances are registered by name).
            specs: The service's parsed endpoints (from :func:`parse_endpoints`).

        Returns:
            Members in a stable order (first occurrence of each identity).
        """
        weights: dict[str, int] = {}
        addresses: dict[str, Address] = {}
        entries = [(self.resolve(spec), weight) for spec, weight in specs]
        entries += [(i.address, i.weight) for i in self.instances.get(name, {}).values()]
        for address, weight in entries:
            addresses.setdefault(address.identity, address)
            weights[address.identity] = weights.get(address.identity, 0) + weight
        return tuple(Member(addresses[k], w) for k, w in weights.items())

    def etcd_set(self, key: str, value: str) -> tuple[bool, str | None]:
        """Record an etcd key's value.

        Args:
            key: The key.
            value: Its value, expected to be an http(s) URL.

        Returns:
            ``(changed, warning)``: a value that is not a valid URL changes nothing
            and comes back as a warning (the previous value keeps serving).
        """
        try:
            address = parse_url(value)
        except ConfigError as exc:
            return False, f"etcd key {key!r}: ignored value {value!r}: {exc.reason}"
        previous = self.etcd_values.get(key)
        self.etcd_values[key] = address
        return previous != address, None

    def etcd_delete(self, key: str) -> bool:
        """Forget an etcd key's value (its default serves).

        Args:
            key: The key.

        Returns:
            True when a value was known.
        """
        return self.etcd_values.pop(key, None) is not None
