"""The Gateway: one object that decides everything about traffic.

CONTRACT (to be implemented; transports code against exactly these signatures).

    gw = Gateway(config, rng=random.Random(seed))
    gw.config -> Config                      the running config (read-only)
    gw.generation -> int                     bumped on every applied change
    gw.watched_keys -> frozenset[str]        etcd keys used by etcd(key, default) endpoints
    gw.decide(request: Request, now) -> Forward | Respond
        raises RequestError (400) / NoRouteError (404) / MethodNotAllowed (405) /
        NoHealthyEndpoint (503)
    gw.outcome(forward: Forward, event: Outcome, now) -> Forward | None
        None: go on (stream the response), then call finish();
        Forward: retry on that one (the old attempt is over);
        raises UpstreamError (502) / UpstreamTimeout (504) / NoHealthyEndpoint (503)
        when giving up (the attempt is over).
    gw.finish(forward: Forward, now) -> None     the attempt is over (response streamed
                                                 or abandoned); releases its in-flight slot
    gw.apply(change: Change, now) -> Applied     raises ConfigError and changes nothing
    gw.probe_result(event: ProbeSucceeded | ProbeFailed, now) -> None
    gw.tick(now) -> tuple[StartProbe, ...]   expires instances, ends ejections; due probes
    gw.next_deadline() -> float | None           when tick() next has something to do
    gw.stats(now) -> GatewayStats                per route / per service counters
    gw.explain(method, host, path, headers=()) -> routes.Explanation
"""

from __future__ import annotations
