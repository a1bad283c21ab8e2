"""Registered instances and their leases (the run-time part of :mod:`gwcore.resolve`).

An instance registers with a URL, a weight and an optional ttl. With a ttl it
expires unless heart-beaten within that many seconds; without one, something
else (an etcd lease held by the instance) removes it by deregistering it. Leases
are checked against the ``now`` callers pass; nothing here reads a clock.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, final

from gwcore.errors import ConfigError

if TYPE_CHECKING:
    from gwcore.resolve import Address

__all__ = ["Instance", "InstanceTable"]


@final
@dataclass(frozen=True, slots=True)
class Instance:
    """A registered instance: its address, weight and lease deadline (or none)."""

    address: Address
    weight: int
    ttl: float | None
    deadline: float | None


class InstanceTable:
    """Registered instances by service, then instance id."""

    def __init__(self) -> None:
        self.instances: dict[str, dict[str, Instance]] = {}

    def register(
        self,
        service: str,
        instance: str,
        address: Address,
        *,
        weight: int,
        ttl: float | None,
        now: float,
    ) -> bool:
        """Add or replace a registered instance.

        Args:
            service: Service name.
            instance: Instance id within the service.
            address: Its parsed URL.
            weight: Its share (0 drains).
            ttl: Seconds without heartbeat before it expires, or None.
            now: Current time (the lease starts now).

        Returns:
            True when it is new or its address or weight changed.
        """
        deadline = None if ttl is None else now + ttl
        table = self.instances.setdefault(service, {})
        previous = table.get(instance)
        table[instance] = Instance(address, weight, ttl, deadline)
        return previous is None or (previous.address, previous.weight) != (address, weight)

    def heartbeat(self, service: str, instance: str, now: float) -> None:
        """Restart an instance's ttl.

        Args:
            service: Service name.
            instance: Instance id.
            now: Current time.

        Raises:
            ConfigError: When the instance is not registered (it must register again).
        """
        current = self.instances.get(service, {}).get(instance)
        if current is None:
            raise ConfigError(f"instance {instance!r} of service {service!r} is not registered")
        if current.ttl is not None:
            deadline = now + current.ttl
            self.instances[service][instance] = Instance(
                current.address, current.weight, current.ttl, deadline
            )

    def deregister(self, service: str, instance: str) -> bool:
        """Remove an instance.

        Args:
            service: Service name.
            instance: Instance id.

        Returns:
            True when it was registered.
        """
        table = self.instances.get(service, {})
        found = table.pop(instance, None) is not None
        if not table:
            self.instances.pop(service, None)
        return found

    def expire(self, now: float) -> tuple[str, ...]:
        """Remove every instance whose lease ended at or before ``now``.

        Args:
            now: Current time.

        Returns:
            The names of the services that lost an instance.
        """
        touched: list[str] = []
        for service, table in list(self.instances.items()):
            dead = [k for k, v in table.items() if v.deadline is not None and v.deadline <= now]
            for key in dead:
                del table[key]
            if dead:
                touched.append(service)
            if not table:
                del self.instances[service]
        return tuple(touched)

    def next_expiry(self) -> float | None:
        """The earliest instance lease deadline, or None."""
        deadlines = [
            i.deadline
            for table in self.instances.values()
            for i in table.values()
            if i.deadline is not None
        ]
        return min(deadlines, default=None)
