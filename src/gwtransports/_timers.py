"""Connection deadlines enforced by a sweep (shared by every adapter).

See :class:`Timer` for the theory of operation.
"""

from __future__ import annotations

from collections.abc import Iterable
from enum import IntEnum
from typing import Protocol, TypeVar

__all__ = ["Timer", "Wait", "expired"]


class Wait(IntEnum):
    """What a connection is waiting for, i.e. which timeout guards it."""

    #: Nothing: no deadline (the gateway itself is busy with this connection).
    NONE = 0
    #: A keep-alive connection waits for its next request (``timeouts.idle``).
    IDLE = 1
    #: A request head is arriving (``timeouts.header_read`` -> 408).
    HEAD = 2
    #: Reading a request body or writing a response to the client (``timeouts.idle``).
    CLIENT = 3
    #: Waiting for the upstream's response (``response_timeout`` -> 504).
    UPSTREAM = 4


class Closable(Protocol):
    def close(self) -> None: ...


class Timer:
    """One connection's single pending deadline, enforced by a periodic sweep.

    A connection waits for one thing at a time, so it needs one deadline at a
    time. Instead of an event-loop cancel scope per wait (several per request,
    each entering and leaving the loop's deadline heap), the connection sets
    ``deadline`` and ``kind`` -- two attribute stores -- and the adapter's
    timer task calls :func:`expired` every few hundredths of a second and acts
    on what it returns: cancel the connection's task (``IDLE``, ``HEAD``,
    ``CLIENT``) or close the upstream connection it waits on (``UPSTREAM``),
    which makes the pending read fail at once. Timeouts hold to within one
    sweep period, as nginx's timer granularity does.

    Deadlines are on ``time.monotonic()`` (one C call), not the event loop's
    clock: they never meet the core's times.

    Attributes:
        deadline: Absolute ``time.monotonic()`` time of the pending deadline.
        kind: What is being waited for.
        fired: The kind of the last deadline that expired (``NONE`` if none).
        upstream: The upstream connection to close when ``UPSTREAM`` expires.
    """

    __slots__ = ("deadline", "fired", "kind", "upstream")

    def __init__(self) -> None:
        self.deadline = float("inf")
        self.kind = Wait.NONE
        self.fired = Wait.NONE
        self.upstream: Closable | None = None

    def arm(self, kind: Wait, deadline: float, upstream: Closable | None = None) -> None:
        self.fired = Wait.NONE
        self.kind = kind
        self.deadline = deadline
        self.upstream = upstream

    def disarm(self) -> None:
        self.kind = Wait.NONE
        self.deadline = float("inf")
        self.upstream = None


T = TypeVar("T", bound="Timer")


def expired(timers: Iterable[T], now: float) -> list[T]:
    """The timers whose deadline has passed; each is disarmed with ``fired`` set.

    Returns:
        The expired timers, for the adapter to act on (see :class:`Timer`).
    """
    out = []
    for t in timers:
        if t.deadline <= now:
            upstream = t.upstream
            t.fired = t.kind
            t.disarm()
            t.upstream = upstream  # kept for the adapter to close
            out.append(t)
    return out
