"""What :meth:`gwcore.routes.RouteTable.explain` and ``shadowed`` return.

``gw explain`` and ``gw check`` print these; the admin API's ``/explain`` serves
them as JSON. Every reason is a sentence an operator can act on without reading
the precedence rules again.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from enum import Enum
from typing import final

from gwcore._index import Entry, rank
from gwcore.config import Route
from gwcore.errors import RequestError

__all__ = ["Candidate", "Explanation", "Outcome", "Shadowed", "describe_loss", "shadowed_in"]


class Outcome(Enum):
    """What happened to one candidate route of a request."""

    #: It won: the highest-ranked route accepting the request.
    WON = "won"
    #: It accepts the request, but the winner ranks higher.
    OUTRANKED = "outranked"
    #: Its header constraints hold, but it does not take the method.
    METHOD = "method"
    #: One of its header constraints does not hold.
    HEADERS = "headers"


@final
@dataclass(frozen=True, slots=True, kw_only=True)
class Candidate:
    """A route whose host and prefix match the request.

    Attributes:
        route: The route.
        outcome: Whether it won, and if not, which rule made it lose.
        reason: The same in words, naming the winner's advantage.
    """

    route: Route
    outcome: Outcome
    reason: str


@final
@dataclass(frozen=True, slots=True, kw_only=True)
class Explanation:
    """The routing decision for one request, with its reasons.

    Attributes:
        method: The request method.
        host: The host as matched (lower case, no port, no trailing dot), or
            ``None`` when the request had none.
        path: The normalised path.
        winner: The route :meth:`~gwcore.routes.RouteTable.match` returns, or
            ``None`` when it raises.
        error: What ``match`` raises (``NoRouteError``/``MethodNotAllowed``), or
            ``None`` when there is a winner.
        candidates: Every route matching host and path, best rank first.
        upstream_path: The winner's rewrite of ``path`` (without the query).
    """

    method: str
    host: str | None
    path: str
    winner: Route | None
    error: RequestError | None
    candidates: tuple[Candidate, ...]
    upstream_path: str | None

    def __post_init__(self) -> None:
        if (self.winner is None) == (self.error is None):
            raise ValueError("an Explanation has either a winner or an error")

    def describe(self) -> str:
        """The explanation as the lines ``gw explain`` prints."""
        lines = [f"{self.method} {self.host or '(any host)'} {self.path}"]
        if self.winner is not None:
            lines.append(f"  -> route {self.winner.name}, upstream path {self.upstream_path}")
        else:
            assert self.error is not None  # __post_init__
            lines.append(f"  -> {self.error.status_hint} {self.error.reason}")
        for candidate in self.candidates:
            route = candidate.route
            where = f"{route.host or '*'} {route.prefix}"
            lines.append(
                f"  {candidate.outcome.value:<9} {route.name} ({where}): {candidate.reason}"
            )
        return "\n".join(lines)


@final
@dataclass(frozen=True, slots=True, kw_only=True)
class Shadowed:
    """A route that can never win, with the routes that take all of its requests.

    Attributes:
        route: The shadowed route.
        by: Names of the higher-ranked routes covering it, sorted; empty when the
            route accepts no request at all (an empty ``methods`` list).
    """

    route: Route
    by: tuple[str, ...]


def describe_loss(winner: Route, loser: Route) -> str:
    """Name the first precedence rule by which ``winner`` beats ``loser``.

    Both must accept the same request, so their ranks differ (equal ranks are a
    tie, rejected at compile).
    """
    won, lost = rank(winner), rank(loser)
    if won[0] != lost[0]:
        kinds = ("any host", "a wildcard host", "an exact host")
        return f"{winner.name} has {kinds[won[0]]}, more specific than {kinds[lost[0]]}"
    if won[1] != lost[1]:
        return f"{winner.name}'s host {winner.host} is a longer wildcard than {loser.host}"
    if won[2] != lost[2]:
        return (
            f"{winner.name}'s prefix {winner.prefix} has {won[2]} segments,"
            f" more than {loser.prefix} ({lost[2]})"
        )
    if won[3] != lost[3]:
        return f"{winner.name} has a method/header constraint that accepts the request"
    return f"{winner.name} has a higher priority ({winner.priority} > {loser.priority})"


def shadowed_in(entry: Entry) -> Iterator[Shadowed]:
    """The routes of one entry that can never win; see ``RouteTable.shadowed``."""
    for position, route in enumerate(entry.routes):
        better = [other for other in entry.routes[:position] if rank(other) > rank(route)]
        takers: set[str] = set()
        for method in sorted(route.methods) if route.methods is not None else (None,):
            taker = next(
                (
                    other
                    for other in better
                    if set(other.headers) <= set(route.headers)
                    and (other.methods is None or (method is not None and method in other.methods))
                ),
                None,
            )
            if taker is None:
                break
            takers.add(taker.name)
        else:
            yield Shadowed(route=route, by=tuple(sorted(takers)))
