"""The active probe schedule: which endpoint is probed when.

Every member of a service with ``health.active`` set is probed every
``interval`` seconds. The schedule only says when a probe is due (as
:class:`~gwcore.events.StartProbe` commands); results go to
:meth:`gwcore.health.HealthBook.probe`, which alone changes health state. Due
times sit in a heap, so :meth:`ProbeSchedule.next_deadline` and
:meth:`ProbeSchedule.due` cost O(log n) per probe rather than a scan.
"""

from __future__ import annotations

import heapq
from collections.abc import Sequence

from gwcore.config import Active
from gwcore.events import StartProbe
from gwcore.resolve import Member

__all__ = ["ProbeSchedule"]


class ProbeSchedule:
    """When each endpoint is next probed."""

    def __init__(self) -> None:
        # service -> identity -> (member, settings, next due time)
        self._plans: dict[str, dict[str, tuple[Member, Active, float]]] = {}
        self._heap: list[tuple[float, str, str]] = []  # (due, service, identity)

    def schedule(
        self, service: str, members: Sequence[Member], active: Active | None, now: float
    ) -> None:
        """Set the probe plan of a service: every member, every ``interval``.

        A member already planned with the same settings keeps its next due time (a
        reload does not make every probe fire at once); a new one is probed right
        away.

        Args:
            service: Service name.
            members: Its members now.
            active: Its active settings; None stops probing it.
            now: Current time.
        """
        old_plan = self._plans.pop(service, {})
        if active is None:
            return
        plan: dict[str, tuple[Member, Active, float]] = {}
        for member in members:
            identity = member.identity
            old = old_plan.get(identity)
            if old is not None and old[1] == active:
                due = old[2]
            else:
                due = now
                heapq.heappush(self._heap, (due, service, identity))
            plan[identity] = (member, active, due)
        if plan:
            self._plans[service] = plan

    def settings(self, service: str, identity: str) -> Active | None:
        """The probe settings of an endpoint.

        Args:
            service: Service name.
            identity: Endpoint identity.

        Returns:
            Its settings, or None when it is not probed.
        """
        plan = self._plans.get(service, {}).get(identity)
        return plan[1] if plan is not None else None

    def _valid(self, item: tuple[float, str, str]) -> bool:
        when, service, identity = item
        plan = self._plans.get(service, {}).get(identity)
        return plan is not None and plan[2] == when

    def next_deadline(self) -> float | None:
        """When the next probe is due, or None."""
        while self._heap and not self._valid(self._heap[0]):
            heapq.heappop(self._heap)
        return self._heap[0][0] if self._heap else None

    def due(self, now: float) -> tuple[StartProbe, ...]:
        """The probes due at ``now``; each is next due ``interval`` later.

        The next due time is set whether or not the result ever arrives, so a
        lost probe cannot stop probing.

        Args:
            now: Current time.

        Returns:
            The probes to start.
        """
        probes: list[StartProbe] = []
        while self._heap and self._heap[0][0] <= now:
            item = heapq.heappop(self._heap)
            if not self._valid(item):
                continue
            _, service, identity = item
            member, active, _ = self._plans[service][identity]
            address = member.address
            probes.append(
                StartProbe(
                    service=service,
                    endpoint=identity,
                    scheme=address.scheme,
                    host=address.host,
                    port=address.port,
                    target=address.base + active.path,
                    timeout=active.timeout,
                )
            )
            due = now + active.interval
            self._plans[service][identity] = (member, active, due)
            heapq.heappush(self._heap, (due, service, identity))
        return tuple(probes)
