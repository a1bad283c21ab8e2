"""Test support for the gateway core: a fake clock, fixture builders and a harness
that feeds events to a :class:`~gwcore.gateway.Gateway` and collects its commands."""

from __future__ import annotations

import random
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from gwcore._frozen import FrozenDict
from gwcore.config import (
    Backend,
    Config,
    Endpoint,
    Health,
    Passive,
    Respond,
    Route,
    Service,
    Stage,
)
from gwcore.errors import GatewayError
from gwcore.events import Forward, Outcome, Request, StartProbe
from gwcore.gateway import Gateway


class FakeClock:
    """Monotonic time that only moves when told to."""

    def __init__(self, start: float = 1000.0) -> None:
        self.now = start

    def advance(self, seconds: float) -> float:
        """Move forward by ``seconds`` (never backwards); returns the new time."""
        if seconds < 0:
            raise ValueError("time only moves forward")
        self.now += seconds
        return self.now


def service(
    *urls: str,
    weights: Iterable[int] | None = None,
    passive: Passive | None = None,
    **kwargs: Any,
) -> Service:
    """A service over ``urls`` (weight 1 each unless ``weights``)."""
    weight_list = list(weights) if weights is not None else [1] * len(urls)
    endpoints = tuple(Endpoint(url=u, weight=w) for u, w in zip(urls, weight_list, strict=True))
    health = Health(passive=passive if passive is not None else Passive())
    return Service(endpoints=endpoints, health=health, **kwargs)


def route(name: str, prefix: str = "/", to: str | dict[str, int] = "svc", **kwargs: Any) -> Route:
    """A route to one service, or to weighted ``{service: weight}`` backends."""
    if isinstance(to, str):
        backends: tuple[Backend, ...] = (Backend(service=to),)
    else:
        backends = tuple(Backend(service=s, weight=w) for s, w in to.items())
    return Route(name=name, prefix=prefix, backends=backends, **kwargs)


def respond_route(name: str, prefix: str, status: int = 200, body: str = "ok") -> Route:
    """A ``respond:`` route."""
    return Route(name=name, prefix=prefix, respond=Respond(status=status, body=body))


def config(
    services: dict[str, Service],
    routes: Iterable[Route],
    *,
    stage: str | None = None,
    variables: dict[str, str] | None = None,
) -> Config:
    """A config of these services and routes (and one stage when ``variables``)."""
    stages: FrozenDict[str, Stage] = FrozenDict()
    if variables is not None:
        stages = FrozenDict({stage or "dev": Stage(variables=FrozenDict(variables))})
    return Config(
        services=FrozenDict(services),
        routes=FrozenDict({r.name: r for r in routes}),
        stage=(stage or "dev") if variables is not None else None,
        stages=stages,
    )


def three(**kwargs: Any) -> Config:
    """Three endpoints a, b, c (ports 9001-9003) behind route ``r`` at ``/``."""
    urls = ("http://10.0.0.1:9001", "http://10.0.0.2:9002", "http://10.0.0.3:9003")
    return config({"svc": service(*urls, **kwargs)}, [route("r")])


def request(
    target: str = "/",
    *,
    method: str = "GET",
    host: str | None = "api.test",
    headers: Iterable[tuple[str, str]] = (),
    client: str = "192.0.2.7",
    rid: str = "rid-1",
) -> Request:
    """A request head (with a Host header unless ``host`` is None)."""
    head = (("host", host),) if host is not None else ()
    return Request(
        method=method, target=target, headers=(*head, *headers), client=client, request_id=rid
    )


@dataclass
class Result:
    """One request through the harness: every attempt and how it ended."""

    attempts: list[Forward] = field(default_factory=list)
    error: GatewayError | None = None


class Harness:
    """Feeds a gateway with a fake clock; the outcome of each attempt is chosen by
    ``upstream(forward) -> Outcome``."""

    def __init__(self, cfg: Config, *, seed: int = 0, start: float = 1000.0) -> None:
        self.clock = FakeClock(start)
        self.gw = Gateway(cfg, rng=random.Random(seed))

    def run(self, req: Request, upstream: Callable[[Forward], Outcome]) -> Result:
        """Decide, report outcomes until done, finish; never raises GatewayError."""
        result = Result()
        now = self.clock.now
        try:
            decision = self.gw.decide(req, now)
            assert isinstance(decision, Forward)
            forward: Forward | None = decision
            while forward is not None:
                result.attempts.append(forward)
                nxt = self.gw.outcome(forward, upstream(forward), now)
                if nxt is None:
                    self.gw.finish(forward, now)
                forward = nxt
        except GatewayError as exc:
            result.error = exc
        return result

    def tick(self) -> tuple[StartProbe, ...]:
        """Run the gateway's timers at the current time."""
        return self.gw.tick(self.clock.now)
