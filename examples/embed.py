"""Embedding gwcore in your own proxy: the core decides, your code does the I/O.

Run it: ``python examples/embed.py``. It drives one request through a retry
without any socket: the first endpoint refuses the connection, the core picks
the other one, which answers 200.
"""

from __future__ import annotations

import random

from gwcore import ConfigError, GatewayError
from gwcore.config import from_dict
from gwcore.events import ConnectFailed, Forward, Request, ResponseReceived
from gwcore.gateway import Gateway

config = from_dict(
    {
        "services": {
            "users": {
                "endpoints": [
                    {"url": "http://10.0.0.1:9001"},
                    {"url": "http://10.0.0.2:9001"},
                ]
            }
        },
        "routes": {"users": {"prefix": "/user/", "rewrite": "/", "service": "users"}},
    }
)
gateway = Gateway(config, rng=random.Random(1))  # seed it: decisions are reproducible

now = 100.0  # your clock (monotonic seconds); gwcore never reads one
request = Request(
    method="GET",
    target="/user/42?full=1",
    headers=(("host", "api.example.com"),),
    client="192.0.2.7",
    request_id="req-1",
)
decision = gateway.decide(request, now)
assert isinstance(decision, Forward)
print("try 1:", decision.endpoint, decision.target)

# Your transport tried to connect and failed: report it; the core answers with a retry.
retry = gateway.outcome(decision, ConnectFailed(reason="connection refused"), now + 0.002)
assert retry is not None
print("try 2:", retry.endpoint, retry.target, "attempt", retry.attempt)

# This one answered: report the response head, stream the body, then finish.
assert gateway.outcome(retry, ResponseReceived(status=200, latency=0.004), now + 0.006) is None
gateway.finish(retry, now + 0.010)

(service,) = gateway.stats(now + 0.010).services
print(service.name, "upstream_ok", service.upstream_ok, "upstream_bad", service.upstream_bad)

# Bad input never half-applies: a failing change raises and the old config keeps serving.
try:
    from_dict({"routes": {"broken": {"prefix": "user", "service": "nowhere"}}})
except ConfigError as exc:
    for error in exc.errors:
        print("config error:", error)

# Per-request failures are one error tree with an HTTP status hint.
try:
    gateway.decide(Request(method="GET", target="/nothing-here"), now)
except GatewayError as exc:
    print("no route:", exc.status_hint, exc.reason)
