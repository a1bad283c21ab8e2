"""The seam between a transport adapter and the core: what an adapter needs
from :class:`gwcore.gateway.Gateway` (tests may pass anything shaped alike)."""

from __future__ import annotations

from typing import Protocol

from gwcore.config import Config
from gwcore.events import (
    Applied,
    Change,
    Forward,
    Outcome,
    ProbeFailed,
    ProbeSucceeded,
    Request,
    Respond,
    StartProbe,
)

__all__ = ["GatewayLike"]


class GatewayLike(Protocol):
    """What the server needs from :class:`gwcore.gateway.Gateway`."""

    @property
    def config(self) -> Config: ...
    def decide(self, request: Request, now: float) -> Forward | Respond: ...
    def outcome(self, forward: Forward, event: Outcome, now: float) -> Forward | None: ...
    def finish(self, forward: Forward, now: float) -> None: ...
    def apply(self, change: Change, now: float) -> Applied: ...
    def tick(self, now: float) -> tuple[StartProbe, ...]: ...
    def next_deadline(self) -> float | None: ...
    def probe_result(self, event: ProbeSucceeded | ProbeFailed, now: float) -> None: ...
