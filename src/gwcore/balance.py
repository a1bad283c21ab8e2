"""Balancing: which of a service's eligible endpoints gets the next request.

Theory of operation
-------------------
The gateway filters a service's members down to the *candidates* (healthy, not
draining, not yet tried for this request; see :mod:`gwcore.failover`) and asks the
service's policy to pick one. Every policy keeps its state keyed by endpoint
identity, so a config change that keeps an endpoint keeps its place in the
rotation; :meth:`Policy.update` drops only the state of endpoints that left.

* :class:`SmoothWeightedRoundRobin` -- nginx's algorithm
  (``ngx_http_upstream_get_peer``): every pick adds each candidate's weight to its
  running score, takes the highest score and subtracts the total from it. Over any
  cycle of ``sum(weights)`` picks each endpoint gets exactly its weight, spread out
  (weights 5,1,1 give ``a a b a c a a``, never ``a a a a a b c``).
* :class:`LeastRequest` -- power of two choices (Mitzenmacher 2001; Envoy's
  ``LEAST_REQUEST``): draw two distinct candidates by weight with the injected
  ``random.Random`` and send to the one with fewer in-flight requests per unit of
  weight, the first drawn on a tie (so idle endpoints share by weight). Two
  random choices avoid the herd a global minimum causes.
* :class:`ConsistentHash` -- a hash ring with virtual nodes (Karger et al. 1997;
  Envoy's ``RING_HASH``): a key goes to the first candidate clockwise from its
  hash, so adding or removing one of N endpoints moves about 1/N of the keys.
  The ring holds every member, not only the healthy ones, so an ejection moves
  only the ejected endpoint's keys. Requests without a key are round-robined.

Weights are positive here: weight 0 (draining) never reaches a policy.
"""

from __future__ import annotations

import bisect
import hashlib
import random
from collections.abc import Iterable, Mapping, Sequence
from typing import Protocol, assert_never

from gwcore.config import Balancer, BalancerKind
from gwcore.resolve import Member

__all__ = [
    "ConsistentHash",
    "LeastRequest",
    "Policy",
    "SmoothWeightedRoundRobin",
    "make_policy",
    "stable_hash",
]

#: Virtual nodes of the heaviest endpoint on the ring; lighter ones get fewer in
#: proportion. 160 is what ketama (libmemcached) uses per server: the share of each
#: of 10 endpoints then stays within a few percent of 1/10.
RING_POINTS = 160


def stable_hash(text: str) -> int:
    """A 64-bit hash that is the same in every process (``hash()`` is salted).

    Args:
        text: Anything.

    Returns:
        An integer in ``[0, 2**64)``.
    """
    return int.from_bytes(hashlib.blake2b(text.encode(), digest_size=8).digest(), "big")


class Policy(Protocol):
    """What every balancing policy offers."""

    def pick(
        self,
        candidates: Sequence[Member],
        key: str | None,
        in_flight: Mapping[str, int],
        *,
        commit: bool = True,
    ) -> Member:
        """Pick one of ``candidates`` (non-empty, positive weights).

        Args:
            candidates: Eligible members, in member order.
            key: The request's hash key (hash policies), or None.
            in_flight: In-flight attempts per identity (least-request).
            commit: False to only look (``explain``): no state changes, no draws.

        Returns:
            The chosen member.
        """
        ...  # pragma: no cover

    def update(self, members: Sequence[Member]) -> None:
        """The service's members changed; drop state of those that left.

        Args:
            members: Every member now (weight 0 included).
        """
        ...  # pragma: no cover


class SmoothWeightedRoundRobin:
    """nginx's smooth weighted round robin, state keyed by identity.

    The scores live in a dict keyed by identity, except those of the candidate
    list picked from last: a gateway picks from the same list (a service's
    eligible members) request after request, so those scores are held in a
    plain list in candidate order and only written back to the dict when
    another list comes (a retry, a health change) or the members change. A pick
    then reads two short lists instead of every member and a dict.
    """

    __slots__ = ("_hot", "_hot_scores", "_hot_total", "_hot_weights", "_score")

    def __init__(self) -> None:
        self._score: dict[str, int] = {}
        #: The candidate list whose scores are in ``_hot_scores`` (None: all in the dict).
        self._hot: Sequence[Member] | None = None
        self._hot_scores: list[int] = []
        self._hot_weights: list[int] = []
        self._hot_total = 0

    def scores(self) -> dict[str, int]:
        """Every running score, by identity (a copy).

        Returns:
            The scores.
        """
        self._park()
        return dict(self._score)

    def _park(self) -> None:
        """Write the list-held scores back to the dict."""
        hot = self._hot
        if hot is not None:
            self._hot = None
            score = self._score
            for member, value in zip(hot, self._hot_scores, strict=True):
                score[member.identity] = value

    def choose(self, keys: Sequence[str], weights: Sequence[int], *, commit: bool = True) -> int:
        """The index of the next pick among ``keys`` with ``weights``.

        Args:
            keys: Identities of the candidates (non-empty).
            weights: Their positive weights.
            commit: False to look without moving the rotation.

        Returns:
            An index into ``keys``.
        """
        self._park()
        score = self._score
        total = 0
        best = -1
        best_score = 0
        for i, key in enumerate(keys):
            weight = weights[i]
            now = score.get(key, 0) + weight
            if commit:
                score[key] = now
            total += weight
            if best < 0 or now > best_score:
                best, best_score = i, now
        if commit:
            score[keys[best]] = best_score - total
        return best

    def pick(
        self,
        candidates: Sequence[Member],
        key: str | None,
        in_flight: Mapping[str, int],
        *,
        commit: bool = True,
    ) -> Member:
        """See :meth:`Policy.pick`; ``key`` and ``in_flight`` are unused."""
        if len(candidates) == 1:
            return candidates[0]
        if not commit:
            keys = [m.identity for m in candidates]
            return candidates[self.choose(keys, [m.weight for m in candidates], commit=False)]
        if candidates is not self._hot:
            self._park()
            score = self._score
            self._hot_scores = [score.get(m.identity, 0) for m in candidates]
            self._hot_weights = weights = [m.weight for m in candidates]
            self._hot_total = sum(weights)
            self._hot = candidates
        # :meth:`choose` over the two lists: this runs on every request.
        scores, weights = self._hot_scores, self._hot_weights
        best = 0
        best_score = scores[0] = scores[0] + weights[0]
        for i in range(1, len(scores)):
            now = scores[i] = scores[i] + weights[i]
            if now > best_score:
                best, best_score = i, now
        scores[best] = best_score - self._hot_total
        return candidates[best]

    def update(self, members: Sequence[Member]) -> None:
        """Drop the scores of endpoints that left.

        Args:
            members: Every member now.
        """
        self.retain(m.identity for m in members)

    def retain(self, keys: Iterable[str]) -> None:
        """Keep only the scores of ``keys``.

        Args:
            keys: Identities (or service names) still present.
        """
        self._park()
        keep = set(keys)
        for key in [k for k in self._score if k not in keep]:
            del self._score[key]


def _load(member: Member, in_flight: Mapping[str, int]) -> float:
    # In-flight per unit of weight. Equal loads (idle endpoints above all) are a
    # tie that the first, weight-drawn candidate wins, so at low traffic the shares
    # follow the weights; a "+1" here would send every idle pick to the heaviest.
    return in_flight.get(member.identity, 0) / member.weight


class LeastRequest:
    """Weighted power of two choices on in-flight requests.

    Args:
        rng: The injected source of randomness.
    """

    __slots__ = ("_rng",)

    def __init__(self, rng: random.Random) -> None:
        self._rng = rng

    def _draw(self, candidates: Sequence[Member], skip: int) -> int:
        total = sum(m.weight for i, m in enumerate(candidates) if i != skip)
        point = self._rng.random() * total
        last = skip
        for i, member in enumerate(candidates):
            if i == skip:
                continue
            last = i
            point -= member.weight
            if point < 0:
                return i
        return last  # float rounding left a sliver past the end

    def pick(
        self,
        candidates: Sequence[Member],
        key: str | None,
        in_flight: Mapping[str, int],
        *,
        commit: bool = True,
    ) -> Member:
        """See :meth:`Policy.pick`; with ``commit=False`` the least loaded, no draw."""
        if len(candidates) == 1:
            return candidates[0]
        if not commit:
            return min(candidates, key=lambda m: _load(m, in_flight))
        first = self._draw(candidates, -1)
        second = self._draw(candidates, first)
        a, b = candidates[first], candidates[second]
        return b if _load(b, in_flight) < _load(a, in_flight) else a

    def update(self, members: Sequence[Member]) -> None:
        """Nothing to do: in-flight counts are kept by the gateway.

        Args:
            members: Every member now.
        """


class ConsistentHash:
    """A ring of virtual nodes; keyless requests fall back to round robin."""

    __slots__ = ("_fallback", "_members", "_owners", "_points")

    def __init__(self) -> None:
        self._points: list[int] = []
        self._owners: list[str] = []
        self._members: tuple[tuple[str, int], ...] = ()
        self._fallback = SmoothWeightedRoundRobin()

    def update(self, members: Sequence[Member]) -> None:
        """Rebuild the ring when the members or their weights changed.

        Args:
            members: Every member now; weight 0 ones are left off the ring.
        """
        self._fallback.update(members)
        signature = tuple((m.identity, m.weight) for m in members if m.weight > 0)
        if signature == self._members:
            return
        self._members = signature
        heaviest = max((w for _, w in signature), default=1)
        ring: list[tuple[int, str]] = []
        for identity, weight in signature:
            points = max(1, round(RING_POINTS * weight / heaviest))
            ring.extend((stable_hash(f"{identity}#{i}"), identity) for i in range(points))
        ring.sort()
        self._points = [p for p, _ in ring]
        self._owners = [o for _, o in ring]

    def pick(
        self,
        candidates: Sequence[Member],
        key: str | None,
        in_flight: Mapping[str, int],
        *,
        commit: bool = True,
    ) -> Member:
        """See :meth:`Policy.pick`: the first candidate clockwise from ``key``."""
        if key is None or not self._points:
            return self._fallback.pick(candidates, key, in_flight, commit=commit)
        by_identity = {m.identity: m for m in candidates}
        start = bisect.bisect_left(self._points, stable_hash(key))
        size = len(self._owners)
        for step in range(size):
            found = by_identity.get(self._owners[(start + step) % size])
            if found is not None:
                return found
        # The candidates are not on the ring (update() not called for them yet).
        return self._fallback.pick(candidates, key, in_flight, commit=commit)


def make_policy(balancer: Balancer, rng: random.Random) -> Policy:
    """Build the policy a service's ``balancer`` names.

    Args:
        balancer: The service's balancer setting.
        rng: Randomness for least-request.

    Returns:
        A fresh policy.
    """
    match balancer.kind:
        case BalancerKind.ROUND_ROBIN:
            return SmoothWeightedRoundRobin()
        case BalancerKind.LEAST_REQUEST:
            return LeastRequest(rng)
        case BalancerKind.HASH_HEADER | BalancerKind.HASH_COOKIE | BalancerKind.HASH_CLIENT_IP:
            return ConsistentHash()
        case _:
            assert_never(balancer.kind)
