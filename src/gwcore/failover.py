"""Failover: which endpoints may take a request, and whether a failed attempt is
retried. This module reads health (:attr:`gwcore.health.HealthBook.down`) and
never changes it.

Theory of operation
-------------------
*Selection.* The candidates for an attempt are the service's members that are not
draining (weight 0), not out of service (ejected or unhealthy) and not yet tried
for this request. When members exist but none is healthy, the service is in
*panic*: with ``panic: true`` the request goes to any non-draining untried member
and the Forward says ``panic=True``; otherwise :class:`NoHealthyEndpoint` (503)
says why. Never a silent choice.

*Retries.* A retry is only safe when the upstream cannot have acted on the request,
or acting twice is harmless (RFC 9110 9.2.2):

=====================================  =========================================
outcome                                retried when
=====================================  =========================================
connect failure                        always (no request byte left the gateway)
reset or timeout before any byte sent  always
reset or timeout after bytes sent      idempotent method or ``Idempotency-Key``
502 / 503 / 504 response               idempotent method or ``Idempotency-Key``
reset after response bytes forwarded   never (the client already has a part)
any other response                     never: it is the answer
=====================================  =========================================

Idempotent methods are GET, HEAD, OPTIONS, PUT, DELETE and TRACE. Each retry also
needs: ``attempt < service.retries``, an untried candidate, and room in the retry
budget. The budget (Envoy's ``retry_budget``, Finagle's ``RetryBudget``) allows
retries in the last ``WINDOW`` seconds up to ``max(ratio x requests,
min_per_second x WINDOW)``, counted in one-second buckets so its memory is fixed.
When a retry is not possible the attempt's own error stands: 502 for connect
failures and resets, 504 for timeouts, and a 5xx response is passed through as
the upstream sent it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from enum import Enum
from typing import final

from gwcore.config import RetryBudget
from gwcore.errors import NoHealthyEndpoint, UpstreamError, UpstreamTimeout
from gwcore.events import ConnectFailed, Outcome, ResponseReceived, UpstreamReset, UpstreamTimedOut
from gwcore.resolve import Member

__all__ = [
    "IDEMPOTENT_METHODS",
    "RETRYABLE_STATUSES",
    "WINDOW",
    "Budget",
    "Retry",
    "Verdict",
    "candidates",
    "classify",
    "is_idempotent",
]

#: RFC 9110 9.2.2 idempotent methods.
IDEMPOTENT_METHODS = frozenset({"GET", "HEAD", "OPTIONS", "PUT", "DELETE", "TRACE"})
#: Responses that say "try another one" (bad gateway, unavailable, gateway timeout).
RETRYABLE_STATUSES = frozenset({502, 503, 504})
#: Seconds of history the retry budget looks at.
WINDOW = 10


def is_idempotent(method: str, headers: Sequence[tuple[str, str]]) -> bool:
    """Whether a request may be sent again after its bytes went out.

    Args:
        method: The request method.
        headers: Its headers (lower-case names).

    Returns:
        True for an idempotent method or when the request carries ``Idempotency-Key``
        (draft-ietf-httpapi-idempotency-key-header).
    """
    if method in IDEMPOTENT_METHODS:
        return True
    return any(name == "idempotency-key" for name, _ in headers)


class Retry(Enum):
    """When a failed attempt may be retried."""

    #: Never: the outcome is final.
    NEVER = "never"
    #: Only for idempotent requests.
    IF_IDEMPOTENT = "if_idempotent"
    #: Always: the upstream cannot have seen the request.
    ALWAYS = "always"


@final
@dataclass(frozen=True, slots=True)
class Verdict:
    """What one outcome means.

    Attributes:
        failed: Counts as a failure for passive health and ``upstream_bad``.
        retry: When it may be retried.
        error: What to raise when not retried; None passes the response through.
    """

    failed: bool
    retry: Retry
    error: UpstreamError | None


def classify(event: Outcome, endpoint: str, failure_statuses: frozenset[int]) -> Verdict:
    """Classify an attempt's outcome.

    Args:
        event: What the transport reported.
        endpoint: The endpoint's identity (for the error reason).
        failure_statuses: Statuses counted as failures (``health.passive``).

    Returns:
        The verdict.
    """
    match event:
        case ResponseReceived(status=status):
            retry = Retry.IF_IDEMPOTENT if status in RETRYABLE_STATUSES else Retry.NEVER
            return Verdict(status in failure_statuses, retry, None)
        case ConnectFailed(reason=reason):
            error = UpstreamError(f"connect to {endpoint} failed: {reason or 'no cause given'}")
            return Verdict(True, Retry.ALWAYS, error)
        case UpstreamTimedOut(request_sent=sent):
            timeout = UpstreamTimeout(f"{endpoint} did not answer in time")
            return Verdict(True, Retry.IF_IDEMPOTENT if sent else Retry.ALWAYS, timeout)
        case UpstreamReset(request_sent=sent, response_started=started, reason=reason):
            cause = f": {reason}" if reason else ""
            if started:
                error = UpstreamError(f"{endpoint} reset the connection mid-response{cause}")
                return Verdict(True, Retry.NEVER, error)
            error = UpstreamError(f"{endpoint} reset the connection{cause}")
            return Verdict(True, Retry.IF_IDEMPOTENT if sent else Retry.ALWAYS, error)
    raise TypeError(f"not an outcome: {event!r}")  # pragma: no cover - the union is closed


def candidates(
    service: str,
    members: Sequence[Member],
    down: set[str] | None,
    tried: frozenset[str],
    panic: bool,
) -> tuple[Sequence[Member], bool]:
    """The members an attempt may go to.

    Args:
        service: Service name (for the error reason).
        members: Its members.
        down: Identities that are ejected or unhealthy (None: all healthy).
        tried: Identities already tried for this request.
        panic: The service's ``panic`` setting.

    Returns:
        ``(candidates, panicking)``; the list is empty when every healthy member
        was tried already.

    Raises:
        NoHealthyEndpoint: When no member can serve (none, all draining, or all
            out of service without ``panic``), with the reason.
    """
    serving = [m for m in members if m.weight > 0]
    if not serving:
        what = "every endpoint is draining" if members else "it has no endpoints"
        raise NoHealthyEndpoint(f"service {service!r} cannot serve: {what}")
    healthy = serving if not down else [m for m in serving if m.identity not in down]
    panicking = not healthy
    if panicking:
        if not panic:
            raise NoHealthyEndpoint(
                f"service {service!r} cannot serve: all {len(serving)} endpoints are "
                "ejected or unhealthy"
            )
        healthy = serving
    if tried:
        healthy = [m for m in healthy if m.identity not in tried]
    return healthy, panicking


class Budget:
    """The retry budget of one service: a fixed ring of one-second buckets."""

    __slots__ = ("_requests", "_retries", "_stamps")

    def __init__(self) -> None:
        self._stamps = [-1] * WINDOW
        self._requests = [0] * WINDOW
        self._retries = [0] * WINDOW

    def _slot(self, now: float) -> int:
        second = int(now // 1)
        slot = second % WINDOW
        if self._stamps[slot] != second:
            self._stamps[slot] = second
            self._requests[slot] = 0
            self._retries[slot] = 0
        return slot

    def request(self, now: float) -> None:
        """Count a first attempt.

        Args:
            now: Current time.
        """
        second = int(now // 1)  # _slot(), written out: this runs on every request
        slot = second % WINDOW
        if self._stamps[slot] != second:
            self._stamps[slot] = second
            self._requests[slot] = self._retries[slot] = 0
        self._requests[slot] += 1

    def totals(self, now: float) -> tuple[int, int]:
        """Counts in the window ending at ``now``.

        Args:
            now: Current time.

        Returns:
            ``(requests, retries)``.
        """
        oldest = int(now // 1) - WINDOW
        requests = retries = 0
        for i, stamp in enumerate(self._stamps):
            if stamp > oldest:
                requests += self._requests[i]
                retries += self._retries[i]
        return requests, retries

    def allowance(self, now: float, policy: RetryBudget) -> float:
        """How many retries the window may hold at ``now``.

        Args:
            now: Current time.
            policy: The service's budget settings.

        Returns:
            ``max(ratio x requests, min_per_second x WINDOW)``.
        """
        requests, _ = self.totals(now)
        return max(policy.ratio * requests, policy.min_per_second * WINDOW)

    def try_spend(self, now: float, policy: RetryBudget) -> bool:
        """Take one retry from the budget if there is room.

        Args:
            now: Current time.
            policy: The service's budget settings.

        Returns:
            True when the retry may go ahead (and was counted).
        """
        _, retries = self.totals(now)
        if retries + 1 > self.allowance(now, policy):
            return False
        self._retries[self._slot(now)] += 1
        return True
