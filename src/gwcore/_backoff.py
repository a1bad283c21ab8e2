"""Capped exponential back-off with jitter (re-exported by :mod:`gwcore.store`)."""

from __future__ import annotations

import random
from dataclasses import dataclass
from typing import final

__all__ = ["Backoff"]


@final
@dataclass(frozen=True, slots=True, kw_only=True)
class Backoff:
    """Capped exponential back-off with jitter, for reconnecting to etcd.

    The n-th consecutive failure waits ``base = min(cap, initial * factor**n)``
    scaled by a random factor in ``[0.5, 1]`` ("equal jitter": never zero, so a
    dead etcd is not hammered; spread, so replicas restarted together do not
    reconnect in lock-step).

    Attributes:
        initial: Base delay after the first failure, seconds.
        cap: Largest base delay, seconds.
        factor: Growth per consecutive failure.
    """

    initial: float = 0.1
    cap: float = 10.0
    factor: float = 2.0

    def __post_init__(self) -> None:
        if not 0 < self.initial <= self.cap:
            raise ValueError("need 0 < initial <= cap")
        if self.factor < 1:
            raise ValueError("factor must be >= 1")

    def delay(self, attempt: int, rng: random.Random) -> float:
        """Return the wait before retry number ``attempt``.

        Args:
            attempt: Consecutive failures so far, minus one (0 for the first).
            rng: Source of the jitter.

        Returns:
            Seconds, in ``[base / 2, base]``.

        Raises:
            ValueError: When ``attempt`` is negative.
        """
        if attempt < 0:
            raise ValueError("attempt must be >= 0")
        try:
            grown = self.initial * self.factor**attempt
        except OverflowError:  # long past the cap anyway
            grown = self.cap
        base = min(self.cap, grown)
        return base / 2 + rng.uniform(0.0, base / 2)
