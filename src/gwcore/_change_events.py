"""Change events: what may change a running gateway's config, and what a change did.

Re-exported by :mod:`gwcore.events`, which is where to import these from. A
transport hands one of :data:`Change` to :meth:`gwcore.gateway.Gateway.apply`
(a reload, an admin write, an etcd key, an instance registration) and gets an
:class:`Applied` back; they live apart from the request-path events so that
each module stays a readable size.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import final

from gwcore.config import Config, Route, Service
from gwcore.events import Command, Event

__all__ = [
    "Applied",
    "Change",
    "ConfigReplaced",
    "EtcdKeyDeleted",
    "EtcdKeySet",
    "EtcdReachable",
    "EtcdUnreachable",
    "InstanceDeregistered",
    "InstanceHeartbeat",
    "InstanceRegistered",
    "RouteDeleted",
    "RouteUpserted",
    "ServiceDeleted",
    "ServiceUpserted",
]


@final
@dataclass(frozen=True, slots=True, kw_only=True)
class ConfigReplaced(Event):
    """The whole config is replaced (reload, ``PUT /config``, ``gw load``)."""

    config: Config


@final
@dataclass(frozen=True, slots=True, kw_only=True)
class RouteUpserted(Event):
    """One route is created or replaced (``route.name`` is its key)."""

    route: Route


@final
@dataclass(frozen=True, slots=True, kw_only=True)
class RouteDeleted(Event):
    """One route is removed."""

    name: str


@final
@dataclass(frozen=True, slots=True, kw_only=True)
class ServiceUpserted(Event):
    """One service is created or replaced."""

    name: str
    service: Service


@final
@dataclass(frozen=True, slots=True, kw_only=True)
class ServiceDeleted(Event):
    """One service is removed (refused while a route still uses it)."""

    name: str


@final
@dataclass(frozen=True, slots=True, kw_only=True)
class EtcdKeySet(Event):
    """A watched etcd key has this value (from a list, a watch or a resync)."""

    key: str
    value: str


@final
@dataclass(frozen=True, slots=True, kw_only=True)
class EtcdKeyDeleted(Event):
    """A watched etcd key is absent (deleted, or missing at list time)."""

    key: str


@final
@dataclass(frozen=True, slots=True, kw_only=True)
class EtcdUnreachable(Event):
    """etcd stopped answering; ``etcd(...)`` endpoints fall back to their defaults.

    Attributes:
        reason: Short cause, for health output.
    """

    reason: str = ""


@final
@dataclass(frozen=True, slots=True, kw_only=True)
class EtcdReachable(Event):
    """etcd answers again (the transport re-lists right after)."""


@final
@dataclass(frozen=True, slots=True, kw_only=True)
class InstanceRegistered(Event):
    """A service instance registered itself (or was re-registered).

    Attributes:
        service: Service name.
        instance: Instance id (unique within the service).
        url: Its base URL (``http(s)://host:port``).
        weight: Its share; 0 drains.
        ttl: Seconds without heartbeat before it expires; ``None`` when something
            else (an etcd lease) expires it.
    """

    service: str
    instance: str
    url: str
    weight: int = 1
    ttl: float | None = None

    def __post_init__(self) -> None:
        if self.weight < 0:
            raise ValueError("weight must be >= 0")
        if self.ttl is not None and self.ttl <= 0:
            raise ValueError("ttl must be > 0")


@final
@dataclass(frozen=True, slots=True, kw_only=True)
class InstanceHeartbeat(Event):
    """A registered instance is alive; its ttl starts again."""

    service: str
    instance: str


@final
@dataclass(frozen=True, slots=True, kw_only=True)
class InstanceDeregistered(Event):
    """A registered instance left (or its etcd lease expired)."""

    service: str
    instance: str


#: Everything :meth:`gwcore.gateway.Gateway.apply` accepts.
Change = (
    ConfigReplaced
    | RouteUpserted
    | RouteDeleted
    | ServiceUpserted
    | ServiceDeleted
    | EtcdKeySet
    | EtcdKeyDeleted
    | EtcdUnreachable
    | EtcdReachable
    | InstanceRegistered
    | InstanceHeartbeat
    | InstanceDeregistered
)


@final
@dataclass(frozen=True, slots=True, kw_only=True)
class Applied(Command):
    """What a change did.

    Attributes:
        generation: Config generation after the change (bumped only when something
            changed).
        changed: Whether anything changed (a repeated upsert says ``False``).
        summary: Human-readable lines (``"route usermapping: updated"``).
        warnings: Things accepted but worth an operator's look (a garbage etcd
            value ignored, a shadowed route).
    """

    generation: int
    changed: bool
    summary: tuple[str, ...] = ()
    warnings: tuple[str, ...] = ()
